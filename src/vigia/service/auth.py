"""Bearer tokens: who is asking (RFC 6750).

:data:`CurrentPrincipal` is the dependency every protected route declares (the sites
collection's routes declare :data:`CurrentReader`, which authenticates the same way inside
the read the route makes, on one of the service's read threads). It reads the
``Authorization: Bearer <token>`` header and asks the store who the token belongs to
(:func:`vigia.store.access.authenticate`, which raises :class:`~vigia.errors.AuthError` for a
missing, malformed, unknown, expired or revoked token or a disabled user). The principal is
kept on ``request.state`` so that a refusal later in the request is audited under its name,
with what the token grants (``request.state.grant``, for :mod:`vigia.service.cache`).
The 401 itself is answered and audited by :mod:`vigia.service.problems`.

A :class:`Reader` keeps what each token it accepted grants, with the store's change count
it was accepted at (:attr:`~vigia.store.access.TokenGrant.changes`), and reads with a kept
grant in one statement that reads the change counter too: the answer stands only when that
statement saw the same count (so nothing that decides authentication changed: a revoked
token is refused on its very next request); anything else goes the full way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer
from sqlalchemy import Connection
from sqlalchemy.orm import Session
from starlette.datastructures import Headers

from vigia.errors import AuthError
from vigia.service.deps import Config, ServiceConfig
from vigia.store.access import Principal, TokenGrant, authenticate_grant, hash_token
from vigia.store.db import Steps, read_session, write_session
from vigia.store.loop import NotOnLoop

__all__ = [
    "CHECKED_GRANT",
    "CurrentPrincipal",
    "CurrentReader",
    "Reader",
    "bearer_scheme",
    "bearer_token",
    "current_principal",
    "current_reader",
    "keep_grant",
    "read_kept",
    "read_kept_on_loop",
]

T = TypeVar("T")

_MAX_GRANTS: Final = 10_000


def keep_grant(grants: dict[str, TokenGrant], grant: TokenGrant) -> None:
    """Keep what a token grants, by its hash, in a bounded map (emptied when full).

    Parameters
    ----------
    grants : dict
        Token hash → grant.
    grant : TokenGrant
        The grant to keep.
    """
    if len(grants) >= _MAX_GRANTS:
        grants.clear()
    grants[grant.token_hash] = grant


CHECKED_GRANT: Final = "vigia.checked_grant"
"""Key in the request's state of a :class:`~vigia.store.access.TokenGrant` that
:class:`~vigia.service.cache.ReadCache` checked for this request."""

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token from `vigia token issue USER`.",
)
"""The bearer scheme declared in the OpenAPI document (:func:`bearer_token` reads the token)."""


def bearer_token(headers: Headers) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header, ``None`` when there is none.

    Parameters
    ----------
    headers : Headers
        The request headers.

    Returns
    -------
    str or None
        The token as sent.

    Raises
    ------
    AuthError
        If an ``Authorization`` header is there but is not ``Bearer <token>`` (reason
        ``malformed``).
    """
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        raise AuthError("the Authorization header is not 'Bearer <token>'", "malformed")
    return token


def _authenticate(config: ServiceConfig, token: str | None, now: datetime) -> TokenGrant:
    with read_session(config.factory) as session:
        return _grant(config, session, token, now)


def _grant(config: ServiceConfig, session: Session, token: str | None, now: datetime) -> TokenGrant:
    """Authenticate in an open read session (recording the token's use in a write of its own)."""
    grant = authenticate_grant(session, token, now=now)
    if session.dirty:  # the token's last use is due to be recorded
        # At most once a minute per token: reads stay off the write lock.
        session.rollback()
        with write_session(config.factory) as writing:
            grant = authenticate_grant(writing, token, now=now)
    return grant


def _checked(request: Request, token: str | None, now: datetime) -> TokenGrant | None:
    """Return the grant :class:`~vigia.service.cache.ReadCache` checked for this request."""
    checked = (request.scope.get("state") or {}).get(CHECKED_GRANT)
    if (
        isinstance(checked, TokenGrant)
        and token is not None
        and checked.token_hash == hash_token(token)
        and checked.holds(now)
    ):
        return checked
    return None


async def current_principal(
    request: Request,
    config: Config,
    _declared: Annotated[object, Depends(bearer_scheme)] = None,
) -> Principal:
    """Authenticate the request's bearer token.

    The store is asked on a worker thread, unless :class:`~vigia.service.cache.ReadCache`
    checked this very token for this request (:data:`CHECKED_GRANT`: accepted at the store's
    change count read after the request came, and still holding).

    Parameters
    ----------
    request : Request
        The request.
    config : ServiceConfig
        The service configuration (store and clock).

    Returns
    -------
    Principal
        The user, organisation and role the token belongs to.

    Raises
    ------
    AuthError
        If the token is missing, malformed, unknown, expired or revoked.
    """
    token = bearer_token(request.headers)
    now = config.clock()
    grant = _checked(request, token, now)
    if grant is None:
        grant = await run_in_threadpool(_authenticate, config, token, now)
    request.state.principal = grant.principal
    request.state.grant = grant
    return grant.principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


@dataclass(frozen=True)
class Reader:
    """A request's bearer token, to be authenticated together with the read it asks for.

    A route that only reads (the sites collection) takes a :data:`CurrentReader` instead of
    a :data:`CurrentPrincipal`: :meth:`read` authenticates the token exactly as
    :func:`current_principal` does and then runs the read, in one session on one worker
    thread (one trip off the event loop per request instead of two).

    A token accepted before, at the change count the store still reads, needs no lookup:
    the read runs with its kept grant on a connection outside any transaction
    (:class:`vigia.store.db.StatementConnections`), and its answer is taken only when the
    read reports that it saw that very count (in the same statement as what it read). When
    it saw another, reports none (an empty page, a site not found) or fails, the full way
    runs instead: the token is looked up again and the read made again, so every refusal
    is answered and audited as without the kept grant.
    """

    request: Request
    config: ServiceConfig

    async def read(self, fn: Callable[[Connection, Principal], tuple[T, int | None]]) -> T:
        """Authenticate the request, then return what ``fn(connection, principal)`` read.

        Parameters
        ----------
        fn : callable
            The read, given an open connection and the principal; it runs only when the
            token is accepted (or, with a kept grant, is taken only when the count it
            returns shows that the token still was). It returns what it read and the
            store's change count it read it at (``None`` when not known).

        Returns
        -------
        object
            What ``fn`` read.

        Raises
        ------
        AuthError
            If the token is missing, malformed, unknown, expired or revoked (``fn`` does not
            run).
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.config.readers, self._read, fn)

    def _read(self, fn: Callable[[Connection, Principal], tuple[T, int | None]]) -> T:
        request, config = self.request, self.config
        token = bearer_token(request.headers)
        now = config.clock()
        checked = _checked(request, token, now)
        if checked is None and token is not None:
            answer = read_kept(config, token, now, fn)
            if answer is not None:
                request.state.principal = answer[1].principal
                request.state.grant = answer[1]
                return answer[0]
        with read_session(config.factory) as session:
            grant = checked or _grant(config, session, token, now)
            request.state.principal = grant.principal
            request.state.grant = grant
            if grant.changes is not None:
                keep_grant(config.grants, grant)
            return fn(session.connection(), grant.principal)[0]


def read_kept(
    config: ServiceConfig,
    token: str,
    now: datetime,
    fn: Callable[[Connection, Principal], tuple[T, int | None]],
) -> tuple[T, TokenGrant] | None:
    """Read with the grant kept for a token, if it holds and the store did not change since.

    The read runs only with a grant :class:`Reader` kept for this very token (accepted at a
    change count, not expired, its last use recorded less than a minute ago), and its answer
    is taken only when the read saw that same count in its own statement: nothing that
    decides authentication changed. Anything else (no such grant, another count, no count,
    an exception: a missing site, a bad parameter, the store down) answers ``None``, and the
    caller goes the full way, which refuses and audits as without the kept grant.

    Parameters
    ----------
    config : ServiceConfig
        The service's configuration (its kept grants and store).
    token : str
        The bearer token as sent.
    now : datetime
        The time of the request, UTC-aware.
    fn : callable
        The read, as :meth:`Reader.read` takes it.

    Returns
    -------
    tuple or None
        What ``fn`` read and the grant it was read with, or ``None``.
    """
    kept = _kept(config, token, now)
    if kept is None:
        return None
    answer = _read_as(config, kept, fn)
    return None if answer is None else (answer[0], kept)


async def read_kept_on_loop(
    config: ServiceConfig,
    token: str,
    now: datetime,
    steps: Callable[[Principal], Steps[tuple[T, int | None]]],
) -> tuple[T, TokenGrant] | None:
    """Read as :func:`read_kept` does, on the event loop (:attr:`ServiceConfig.loop`).

    Parameters
    ----------
    config : ServiceConfig
        The service's configuration (its kept grants and loop connections).
    token : str
        The bearer token as sent.
    now : datetime
        The time of the request, UTC-aware.
    steps : callable
        The read as steps (:data:`vigia.store.db.Steps`), given the principal.

    Returns
    -------
    tuple or None
        What the read returned and the grant it was read with, or ``None`` (as
        :func:`read_kept`).

    Raises
    ------
    NotOnLoop
        If the store has no loop connections or the read needs SQLAlchemy: call
        :func:`read_kept` on a thread instead.
    """
    kept = _kept(config, token, now)
    if kept is None:
        return None
    if config.loop is None:
        raise NotOnLoop("the store has no connections on the event loop")
    try:
        value, changes = await config.loop.run(steps(kept.principal))
    except NotOnLoop:
        raise
    except Exception:  # a refusal, a missing site, the store down: the full way says which
        return None
    return (value, kept) if changes == kept.changes else None


def _kept(config: ServiceConfig, token: str, now: datetime) -> TokenGrant | None:
    """Return the grant kept for a token, if there is one that holds at ``now`` with a count."""
    kept = config.grants.get(hash_token(token))
    if kept is None or kept.changes is None or not kept.holds(now):
        return None
    return kept


def _read_as(
    config: ServiceConfig,
    grant: TokenGrant,
    fn: Callable[[Connection, Principal], tuple[T, int | None]],
) -> tuple[T] | None:
    """Read with a kept grant; return what was read only if it was read at the grant's count."""
    try:
        with config.statements.connect() as conn:
            value, changes = fn(conn, grant.principal)
    except Exception:  # a refusal, a missing site, the store down: the full way says which
        return None
    return (value,) if changes == grant.changes else None


async def current_reader(
    request: Request,
    _declared: Annotated[object, Depends(bearer_scheme)] = None,
) -> Reader:
    """Return the request's :class:`Reader` (the token is authenticated by its read).

    The configuration is taken from the app here, not from a dependency of its own: each
    dependency FastAPI solves costs its share of every request.

    Parameters
    ----------
    request : Request
        The request.

    Returns
    -------
    Reader
        What authenticates the request along with its read, with the service's
        configuration (:attr:`Reader.config`).
    """
    config: ServiceConfig = request.app.state.vigia
    return Reader(request, config)


CurrentReader = Annotated[Reader, Depends(current_reader)]
