"""Bearer tokens: who is asking (RFC 6750).

:data:`CurrentPrincipal` is the dependency every protected route declares. It reads the
``Authorization: Bearer <token>`` header and asks the store who the token belongs to
(:func:`vigia.store.access.authenticate`, which raises :class:`~vigia.errors.AuthError` for a
missing, malformed, unknown, expired or revoked token or a disabled user). The principal is
kept on ``request.state`` so that a refusal later in the request is audited under its name,
with what the token grants (``request.state.grant``, for :mod:`vigia.service.cache`).
The 401 itself is answered and audited by :mod:`vigia.service.problems`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer
from starlette.datastructures import Headers

from vigia.errors import AuthError
from vigia.service.deps import Config, ServiceConfig
from vigia.store.access import Principal, TokenGrant, authenticate_grant, hash_token
from vigia.store.db import read_session, write_session

__all__ = [
    "CHECKED_GRANT",
    "CurrentPrincipal",
    "bearer_scheme",
    "bearer_token",
    "current_principal",
]

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
        grant = authenticate_grant(session, token, now=now)
        stale = bool(session.dirty)  # the token's last use is due to be recorded
    if stale:  # at most once a minute per token: reads stay off the write lock
        with write_session(config.factory) as session:
            grant = authenticate_grant(session, token, now=now)
    return grant


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
    checked = (request.scope.get("state") or {}).get(CHECKED_GRANT)
    if (
        isinstance(checked, TokenGrant)
        and token is not None
        and checked.token_hash == hash_token(token)
        and checked.holds(now)
    ):
        grant = checked
    else:
        grant = await run_in_threadpool(_authenticate, config, token, now)
    request.state.principal = grant.principal
    request.state.grant = grant
    return grant.principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
