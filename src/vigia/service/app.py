"""The FastAPI application: routes, error handlers, body limit and the OpenAPI document.

Four pure ASGI middlewares wrap the routes. Innermost, :class:`~vigia.service.reads.SiteReads`
answers the sites collection's reads of a token accepted before without routing them, and
:class:`~vigia.service.cache.ReadCache` answers repeated site reads from memory after checking
the store's change counter.
:class:`BodyLimit` refuses a body larger than the limit with 413 before anything parses it: at
once when ``Content-Length`` says so, and by counting the bytes as they arrive otherwise (a
chunked body). :class:`ServerErrorGuard` answers an unexpected exception with a bare 500
problem document (the traceback goes to the server's log, never to the client) and audits it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigia import __version__
from vigia.service.cache import ReadCache
from vigia.service.deps import ServiceConfig
from vigia.service.problems import (
    PROBLEM_MEDIA_TYPE,
    audit_refusal,
    identify,
    install_handlers,
    problem_response,
)
from vigia.service.reads import SiteReads
from vigia.service.routes import collections, health, metrics, outcomes, releases, sorties
from vigia.store.db import SessionFactory

__all__ = ["BodyLimit", "ServerErrorGuard", "create_app"]

log = logging.getLogger(__name__)

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _routed(app: FastAPI, scope: Scope) -> Scope:
    """Return ``scope`` with the route that would serve it (for the audit of a refusal)."""
    for route in app.state.vigia_routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return {**scope, **child, "route": route}
    return scope


class BodyLimit:
    """Refuse request bodies larger than ``max_bytes`` with 413, before they are parsed.

    Parameters
    ----------
    app : ASGIApp
        The application to protect.
    fastapi_app : FastAPI
        The FastAPI application (its routes and configuration, for the audit).
    max_bytes : int
        Largest body accepted, bytes.
    """

    def __init__(self, app: ASGIApp, *, fastapi_app: FastAPI, max_bytes: int) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        config: ServiceConfig = self.fastapi_app.state.vigia
        routed = _routed(self.fastapi_app, scope)
        await identify(config, routed)
        await audit_refusal(
            config,
            routed,
            status,
            detail={"error": "BodyLimit", "message": detail},
        )
        response = problem_response(status, detail, headers={"Connection": "close"})
        await response(scope, _no_receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, counting its body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await self._refuse(scope, send, 400, "Content-Length is not a byte count")
                return
            if declared > self.max_bytes:
                await self._refuse(
                    scope, send, 413, f"the body is larger than {self.max_bytes} bytes"
                )
                return
        if scope["method"] not in _BODY_METHODS and length is None:
            if "transfer-encoding" not in headers:
                await self.app(scope, receive, send)
                return
        # Read the whole body here, counting, so that nothing parses an oversized one.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(
                    scope, send, 413, f"the body is larger than {self.max_bytes} bytes"
                )
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class ServerErrorGuard:
    """Answer an unexpected exception with a 500 problem document and audit it.

    Parameters
    ----------
    app : ASGIApp
        The application to guard.
    fastapi_app : FastAPI
        The FastAPI application (its configuration, for the audit).
    """

    def __init__(self, app: ASGIApp, *, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request; turn an exception into a 500 if nothing was sent yet."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.exception("unexpected error serving %s %s", scope["method"], scope["path"])
            config: ServiceConfig = self.fastapi_app.state.vigia
            await audit_refusal(
                config, scope, 500, outcome="error", detail={"error": type(exc).__name__}
            )
            if not started:
                response = problem_response(500, "an unexpected error; it has been logged")
                await response(scope, receive, send)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        # Error responses are problem documents (RFC 9457), whatever the route's media type.
        for path in doc.get("paths", {}).values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    if status.isdigit() and int(status) >= 400 and "content" in response:
                        schemas = [c.get("schema") for c in response["content"].values()]
                        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": schemas[0]}}
        app.openapi_schema = doc
        return doc

    return build


def create_app(
    factory: SessionFactory,
    *,
    clock: Callable[[], datetime] | None = None,
    max_body_bytes: int = 1_000_000,
    plans_dir: Path | None = None,
    cache_bytes: int = 64 * 2**20,
) -> FastAPI:
    """Build the service on a store.

    Parameters
    ----------
    factory : SessionFactory
        The store (:func:`vigia.store.db.open_store`).
    clock : callable, optional
        Returns the time now, UTC-aware; the system clock when not given.
    max_body_bytes : int
        Largest request body accepted, bytes (larger answers 413).
    plans_dir : Path, optional
        The directory sortie plans are read from (``vigia serve``: the data directory); a
        plan path outside it answers 422, so a client cannot make the service read (hash)
        any file it likes. Without it, no sortie can be submitted through the service.
    cache_bytes : int
        Most bytes of site answers kept in memory by :class:`~vigia.service.cache.ReadCache`
        (checked against the store on every request); 0 turns the cache off.

    Returns
    -------
    FastAPI
        The application (serve it with uvicorn: ``vigia serve``).

    Examples
    --------
    >>> from vigia.store.db import open_store
    >>> app = create_app(open_store(url="sqlite://"))
    >>> app.title
    'Vigía'
    """
    app = FastAPI(
        title="Vigía",
        version=__version__,
        description=(
            "Confirmed sites released to partner authorities (OGC API – Features), releases "
            "with TLP 2.0 markings, partner acknowledgements and outcomes, sortie approvals. "
            "Every route but /health needs a bearer token; what a principal may not see "
            "answers 404."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.vigia = ServiceConfig(
        factory=factory,
        clock=clock or _utc_now,
        max_body_bytes=max_body_bytes,
        plans_dir=plans_dir,
    )
    install_handlers(app)
    modules = (health, collections, releases, outcomes, sorties, metrics)
    for module in modules:
        app.include_router(module.router)
    # The routes themselves, to name the route of a request refused before routing.
    app.state.vigia_routes = [r for module in modules for r in module.router.routes]
    app.add_middleware(SiteReads, fastapi_app=app)
    app.add_middleware(ReadCache, fastapi_app=app, max_bytes=cache_bytes)
    app.add_middleware(BodyLimit, fastapi_app=app, max_bytes=max_body_bytes)
    app.add_middleware(ServerErrorGuard, fastapi_app=app)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app
