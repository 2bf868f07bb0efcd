"""Site reads with a kept grant, answered before FastAPI routes them.

:class:`SiteReads` serves ``GET /collections/sites/items`` and ``GET
/collections/sites/items/{fid}`` for a token that :class:`vigia.service.auth.Reader` accepted
before, with the very read the route makes (:func:`vigia.service.routes.collections.sites_page`
and :func:`~vigia.service.routes.collections.site_feature`) and the very check its kept grant
gets (:func:`vigia.service.auth.read_kept`: the grant holds, and the read saw the change count
it was accepted at, in its own statement). What it spares is FastAPI's routing and solving of
the route's dependencies and parameters, which cost more than a partner's page once its
features are stored (:class:`vigia.store.models.PartnerSite`). On PostgreSQL the read runs
on the event loop (:func:`vigia.service.auth.read_kept_on_loop`, the same steps on
:class:`vigia.store.loop.LoopConnections`), else, or when it needs SQLAlchemy, on a reader
thread (:func:`vigia.service.auth.read_kept`).

It answers only what it is sure the route would answer the same: a request with anything
else (another method or path, a query parameter the route does not take, given twice, or
not exactly as the route would validate it, no kept grant, a grant that does not hold, a
site not found, a count that moved, any exception) goes the full way, untouched, and is
answered, refused and audited there as it was before.
"""

from __future__ import annotations

import asyncio
import re
from typing import Final
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from vigia.errors import AuthError
from vigia.service.auth import bearer_token, read_kept, read_kept_on_loop
from vigia.service.deps import ServiceConfig, on_shutdown
from vigia.service.routes.collections import Read, site_feature, sites_page
from vigia.store.loop import NotOnLoop

__all__ = ["SiteReads"]

_ITEMS: Final = "/collections/sites/items"
_ITEM_PREFIX: Final = _ITEMS + "/"
_NUMBER: Final = re.compile(r"[0-9]{1,8}")
# The route's parameters: (name in the query, most characters) for the texts, (least, most)
# for the numbers (vigia.service.routes.collections: BBoxParam, DatetimeParam, Limit, Offset).
_TEXTS: Final = {"bbox": 200, "datetime": 100}
_NUMBERS: Final = {"limit": (1, 1000), "offset": (0, 10_000_000)}
_MAX_FID: Final = 64


def _page_params(query: bytes) -> tuple[str | None, str | None, int, int] | None:
    """Return a page's (bbox, datetime, limit, offset) when the route would take them as given.

    ``None`` for anything else: an unknown, repeated or invalid parameter goes the full way.
    """
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)  # as Starlette
    except ValueError:
        return None
    texts: dict[str, str] = {}
    numbers = {"limit": 100, "offset": 0}
    seen: set[str] = set()
    for key, value in pairs:
        if key in seen:
            return None
        seen.add(key)
        if key in _TEXTS:
            if len(value) > _TEXTS[key]:
                return None
            texts[key] = value
        elif key in _NUMBERS:
            low, high = _NUMBERS[key]
            if _NUMBER.fullmatch(value) is None or not low <= int(value) <= high:
                return None
            numbers[key] = int(value)
        else:
            return None
    return texts.get("bbox"), texts.get("datetime"), numbers["limit"], numbers["offset"]


class SiteReads:
    """Answer the sites collection's reads with a kept grant, before routing.

    Parameters
    ----------
    app : ASGIApp
        The application (the full path).
    fastapi_app : FastAPI
        The FastAPI application (its :class:`~vigia.service.deps.ServiceConfig`).
    """

    def __init__(self, app: ASGIApp, *, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request with a kept grant when it may be, else through the application."""
        config: ServiceConfig = self.fastapi_app.state.vigia
        if scope["type"] == "lifespan":  # the reads' kept connections close with the service
            closers = [config.statements.close, *([config.loop.close] if config.loop else [])]
            await self.app(scope, on_shutdown(receive, *closers), send)
            return
        read = self._read_of(scope) if scope["type"] == "http" else None
        if read is None:
            await self.app(scope, receive, send)
            return
        try:
            token = bearer_token(Headers(scope=scope))
        except AuthError:
            token = None
        if token is None or not config.grants:
            await self.app(scope, receive, send)
            return
        now = config.clock()
        answer = None
        on_thread = config.loop is None  # SQLite: straight to a reader thread
        if not on_thread:
            try:
                answer = await read_kept_on_loop(config, token, now, read.steps)
            except NotOnLoop:  # a step only SQLAlchemy runs: on a reader thread
                on_thread = True
        if on_thread:
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(config.readers, read_kept, config, token, now, read)
        if answer is None:
            await self.app(scope, receive, send)
            return
        response, grant = answer
        state = scope.setdefault("state", {})
        state["principal"] = grant.principal
        state["grant"] = grant
        await response(scope, receive, send)

    def _read_of(self, scope: Scope) -> Read | None:
        if scope["method"] != "GET":
            return None
        path: str = scope["path"]
        if path == _ITEMS:
            params = _page_params(scope.get("query_string", b""))
            if params is None:
                return None
            request = Request(scope)
            config: ServiceConfig = self.fastapi_app.state.vigia
            return sites_page(request, config, *params)
        if path.startswith(_ITEM_PREFIX) and not scope.get("query_string"):
            fid = path[len(_ITEM_PREFIX) :]
            if not fid or "/" in fid or len(fid) > _MAX_FID:
                return None
            return site_feature(Request(scope), fid)
        return None
