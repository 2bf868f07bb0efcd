"""Repeated reads of the sites collection, answered from memory after one check of the store.

:class:`ReadCache` keeps the bytes of the ``200`` answers of ``GET /collections/sites/items``
and ``GET /collections/sites/items/{fid}``, keyed by who may see them (organisation, its kind
and the role) and by the request's URL, and what each token it saw grants
(:class:`~vigia.store.access.TokenGrant`, keyed by the token's SHA-256). Everything it keeps
was read after the store's change counter read ``n`` (:mod:`vigia.store.changes`), and is
used only while the counter, read again on every request, still reads ``n``: any change to
sites, releases, recipients, outcomes, tokens, users or organisations, committed by any
process, empties it before the next request is answered. So a revoked token is refused, and
a release shows, on the very next request, as without the cache.

A request is answered from memory only when all of this holds: the counter has not moved;
the token was accepted at this count; it has not expired since; its last use was recorded
less than a minute ago (else the full path runs, and records it); and the same principal's
kind of reader got a ``200`` for the same URL at this count. Anything else (a missing,
unknown, revoked or expired token, an invisible site, a bad parameter, the store down) goes
the full way, so every refusal is answered and audited as before. When all but the last
hold (a URL this reader has not asked for since the last change), the full path takes the
token's grant from the cache instead of asking the store again who the token belongs to
(:data:`vigia.service.auth.CHECKED_GRANT`): it holds for the same reason a kept answer does.
Reads that succeed are not audited, with or without the cache.

A page's ``timeStamp`` is the time of the answer, not of the cached page: it is written in
afresh each time.

The counter is read on a thread of its own, so that a slow or unreachable database never
stalls the event loop; requests that arrive while a read is under way share the next read,
which starts after they arrived (so each request still sees every change committed before
it came).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigia.errors import AuthError
from vigia.service.auth import CHECKED_GRANT, bearer_token, keep_grant
from vigia.service.deps import ServiceConfig, on_shutdown
from vigia.service.routes.collections import TIMESTAMP_FORMAT
from vigia.store.access import TokenGrant, hash_token
from vigia.store.changes import ChangeWatch

__all__ = ["ReadCache"]

log = logging.getLogger(__name__)

_ITEMS: Final = "/collections/sites/items"
_STAMP_KEY: Final = b'"timeStamp":"'
_STAMP_LEN: Final = 20  # 2026-12-05T18:00:00Z


class _Reads:
    """Read the change counter for many requests at once, each with a read begun after it."""

    def __init__(self, read: Callable[[], int | None]) -> None:
        self._read = read
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigia-changes")
        self._running: asyncio.Future[int | None] | None = None
        self._next: asyncio.Future[int | None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def read(self) -> int | None:
        loop = asyncio.get_running_loop()
        if self._running is None:
            self._running = loop.create_future()
            self._task = loop.create_task(self._run(self._running))
            wanted = self._running
        else:  # a read under way may have begun before this request came: wait for the next
            if self._next is None:
                self._next = loop.create_future()
            wanted = self._next
        return await asyncio.shield(wanted)

    async def _run(self, fut: asyncio.Future[int | None]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                value = await loop.run_in_executor(self._executor, self._read)
            except Exception:  # _read logs and answers None itself: never here
                value = None
            fut.set_result(value)
            if self._next is None:
                self._running = None
                return
            fut, self._next = self._next, None
            self._running = fut


@dataclass(frozen=True)
class _Answer:
    """A cached answer: the body around its time stamp, and the headers."""

    head: bytes
    tail: bytes | None  # None: no time stamp, ``head`` is the whole body
    headers: tuple[tuple[bytes, bytes], ...]  # without content-length
    size: int  # what it and its key take, roughly (bytes)


def _cacheable(path: str) -> bool:
    if path == _ITEMS:
        return True
    head, sep, fid = path.rpartition("/")
    return bool(sep) and head == _ITEMS and bool(fid)


def _split_stamp(body: bytes) -> tuple[bytes, bytes] | None:
    """Split a page at its top-level ``timeStamp`` value (the last one: links follow it)."""
    at = body.rfind(_STAMP_KEY)
    if at < 0:
        return None
    start = at + len(_STAMP_KEY)
    end = start + _STAMP_LEN
    if body[end : end + 1] != b'"':
        return None
    return body[:start], body[end:]


class ReadCache:
    """Serve repeated site reads from memory, checked against the store on every request.

    Parameters
    ----------
    app : ASGIApp
        The application (the full path).
    fastapi_app : FastAPI
        The FastAPI application (its :class:`~vigia.service.deps.ServiceConfig`).
    max_bytes : int
        Most bytes of answers kept (the least recently used go first).
    """

    def __init__(self, app: ASGIApp, *, fastapi_app: FastAPI, max_bytes: int) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.max_bytes = max_bytes
        self._watch: ChangeWatch | None = None
        self._reads = _Reads(self._read_changes)
        self._changes = -1  # the count what is kept was read at
        self._grants: dict[str, TokenGrant] = {}
        self._answers: OrderedDict[tuple[Any, ...], _Answer] = OrderedDict()
        self._bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request from memory when it may be, else through the application."""
        if scope["type"] == "lifespan":
            await self.app(scope, on_shutdown(receive, self.close), send)
            return
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or self.max_bytes <= 0
            or not _cacheable(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            token = bearer_token(headers)
        except AuthError:
            token = None
        config: ServiceConfig = self.fastapi_app.state.vigia
        changes = await self._reads.read() if token else None
        if token is None or changes is None:
            await self.app(scope, receive, send)
            return
        # Reads come back in the order they were made (one at a time), so any other count,
        # lower too (a counter reset by a restore or a migration), means a change.
        if changes != self._changes:  # something changed: nothing kept holds
            self._changes = changes
            self._grants.clear()
            self._answers.clear()
            self._bytes = 0
        token_hash = hash_token(token)
        url = (
            scope.get("scheme"),
            headers.get("host"),
            tuple(scope.get("server") or ()),
            scope.get("root_path", ""),
            scope["path"],
            scope.get("query_string", b""),
        )
        grant = self._grants.get(token_hash)
        if grant is not None and grant.holds(config.clock()):
            answer = self._answers.get((_reader(grant), *url))
            if answer is not None:
                self._answers.move_to_end((_reader(grant), *url))
                await _send(answer, config, send)
                return
            # Not this answer, but this token, checked as a kept answer is: the full path
            # need not ask the store again who it is (vigia.service.auth.current_principal).
            scope.setdefault("state", {})[CHECKED_GRANT] = grant
        status, start, body = await _through(self.app, scope, receive, send)
        grant = (scope.get("state") or {}).get("grant")
        if (
            status == 200
            and changes == self._changes
            and isinstance(grant, TokenGrant)
            and grant.token_hash == token_hash
            and body is not None
        ):
            self._keep(grant, url, start, body)

    def _read_changes(self) -> int | None:
        if self._watch is None:
            config: ServiceConfig = self.fastapi_app.state.vigia
            engine = config.factory.kw.get("bind")
            if engine is None or not ChangeWatch.supports(engine):
                self.max_bytes = 0  # an in-memory store: no second connection sees it
                return None
            self._watch = ChangeWatch(engine)
        try:
            return self._watch.changes()
        except Exception as exc:  # the full path answers for the store
            log.warning("cannot read the change counter (%s): answering without the cache", exc)
            return None

    def _keep(self, grant: TokenGrant, url: tuple[Any, ...], start: Message, body: bytes) -> None:
        keep_grant(self._grants, grant)
        headers = tuple(
            (bytes(k), bytes(v))
            for k, v in start.get("headers", ())
            if bytes(k).lower() != b"content-length"
        )
        if url[4] == _ITEMS:
            parts = _split_stamp(body)
            if parts is None:
                return
            head, tail = parts
        else:
            head, tail = body, None
        key_bytes = sum(len(part) for part in url[1:] if isinstance(part, str | bytes))
        answer = _Answer(head, tail, headers, len(body) + key_bytes + 300)
        if answer.size > self.max_bytes // 4:
            return
        key = (_reader(grant), *url)
        old = self._answers.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        self._answers[key] = answer
        self._bytes += answer.size
        while self._bytes > self.max_bytes:
            _, dropped = self._answers.popitem(last=False)
            self._bytes -= dropped.size

    def close(self) -> None:
        """Close the connection the change counter is read on (reopened when needed)."""
        if self._watch is not None:
            self._watch.close()


def _reader(grant: TokenGrant) -> tuple[int, str, str]:
    p = grant.principal
    return p.org_id, p.org_kind, p.role


async def _send(answer: _Answer, config: ServiceConfig, send: Send) -> None:
    if answer.tail is None:
        body = answer.head
    else:
        stamp = config.clock().strftime(TIMESTAMP_FORMAT).encode()
        body = answer.head + stamp + answer.tail
    headers = [(b"content-length", str(len(body)).encode()), *answer.headers]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _through(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> tuple[int | None, Message, bytes | None]:
    """Run the full path, passing its answer on; return its status, start and whole body."""
    status: int | None = None
    start: Message = {}
    chunks: list[bytes] = []
    whole = True

    async def record(message: Message) -> None:
        nonlocal status, start, whole
        if message["type"] == "http.response.start":
            status = int(message["status"])
            start = message
        elif message["type"] == "http.response.body" and whole:
            chunks.append(bytes(message.get("body", b"")))
        else:
            whole = False
        await send(message)

    await app(scope, receive, record)
    return status, start, b"".join(chunks) if whole else None
