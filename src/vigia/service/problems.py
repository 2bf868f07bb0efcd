"""Errors become RFC 9457 problem documents, and every refusal goes to the audit log.

The store raises Vigía's errors; this module is the one place that turns them into HTTP
statuses (STYLE.md rule 4). Each refusal is appended to the audit log in its own
transaction, after the refused request's transaction rolled back, under the principal when
the request was authenticated and as ``anonymous`` otherwise.

A 404 never says more than "not found": an object that does not exist and an object the
principal may not see answer the same, word for word.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from vigia.errors import (
    AuthError,
    ForbiddenError,
    InputError,
    LifecycleError,
    NotFoundError,
    StoreError,
    UnknownNameError,
)
from vigia.service.auth import bearer_token
from vigia.service.deps import ServiceConfig, action_of, client_of, object_of
from vigia.service.schemas import Problem
from vigia.store.access import Principal, authenticate
from vigia.store.audit import append_audit
from vigia.store.db import read_session, write_session

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PUBLIC_PATHS",
    "audit_refusal",
    "identify",
    "install_handlers",
    "problem_response",
]

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PUBLIC_PATHS: frozenset[str] = frozenset({"/health", "/openapi.json"})
"""Paths served without a token."""

_NOT_FOUND = "not found, or not visible to you"


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    """Return an RFC 9457 ``application/problem+json`` response.

    Parameters
    ----------
    status : int
        HTTP status.
    detail : str, optional
        Human-readable explanation (never a traceback).
    headers : dict, optional
        Extra response headers.
    errors : list of dict, optional
        Field errors of a failed validation.

    Returns
    -------
    JSONResponse
        The response.
    """
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = Problem(title=title, status=status, detail=detail, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _write_refusal(
    config: ServiceConfig,
    scope: Scope,
    principal: Principal | None,
    outcome: str,
    detail: dict[str, Any],
) -> None:
    try:
        with write_session(config.factory) as session:
            append_audit(
                session,
                actor=principal.user if principal else "anonymous",
                org=principal.org if principal else "-",
                role=principal.role if principal else "-",
                action=action_of(scope),
                obj=object_of(scope),
                outcome=outcome,
                client=client_of(scope),
                detail=detail,
                now=config.clock(),
            )
    except Exception:  # the refusal stands even if its audit entry cannot be written
        log.exception("could not audit a refused request (%s)", action_of(scope))


async def audit_refusal(
    config: ServiceConfig,
    scope: Scope,
    status: int,
    *,
    outcome: str = "refused",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append the audit entry of a refused (or failed) request, in its own transaction.

    Parameters
    ----------
    config : ServiceConfig
        The service configuration (store and clock).
    scope : Scope
        The request's ASGI scope (route template, path parameters, client, principal).
    status : int
        The HTTP status answered.
    outcome : str
        ``"refused"`` (4xx) or ``"error"`` (5xx).
    detail : dict, optional
        More to record (the error's class and reason).
    """
    state = scope.get("state") or {}
    principal = state.get("principal")
    entry = {"status": status, **(detail or {})}
    await run_in_threadpool(_write_refusal, config, scope, principal, outcome, entry)


def _identify(config: ServiceConfig, scope: Scope) -> None:
    """Put the principal of a request's token, if valid, on its scope (for the audit only)."""
    try:
        with read_session(config.factory) as session:
            principal = authenticate(
                session, bearer_token(Headers(scope=scope)), now=config.clock()
            )
    except Exception:  # a refusal's audit entry is then anonymous
        return
    scope.setdefault("state", {})["principal"] = principal


async def identify(config: ServiceConfig, scope: Scope) -> None:
    """Find who sent a request refused before routing (a body too large), for its audit entry.

    Parameters
    ----------
    config : ServiceConfig
        The service configuration (store and clock).
    scope : Scope
        The request's ASGI scope; ``scope["state"]["principal"]`` is set when the bearer
        token is valid. The answer does not depend on it.
    """
    await run_in_threadpool(_identify, config, scope)


def _config(request: Request) -> ServiceConfig:
    config: ServiceConfig = request.app.state.vigia
    return config


async def _refuse(
    request: Request,
    status: int,
    detail: str | None,
    *,
    audit: dict[str, Any],
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    await audit_refusal(_config(request), request.scope, status, detail=audit)
    return problem_response(status, detail, headers=headers, errors=errors)


def _www_authenticate(reason: str) -> dict[str, str]:
    if reason == "missing":
        return {"WWW-Authenticate": 'Bearer realm="vigia"'}
    return {"WWW-Authenticate": 'Bearer realm="vigia", error="invalid_token"'}


async def _auth_error(request: Request, exc: Exception) -> JSONResponse:
    reason = getattr(exc, "reason", "unknown")
    return await _refuse(
        request,
        401,
        "a valid bearer token is required",
        audit={"error": "AuthError", "reason": reason},
        headers=_www_authenticate(reason),
    )


async def _forbidden(request: Request, exc: Exception) -> JSONResponse:
    return await _refuse(
        request, 403, str(exc), audit={"error": type(exc).__name__, "message": str(exc)}
    )


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    # The store's message may say why; the answer must not (existence would leak).
    return await _refuse(
        request, 404, _NOT_FOUND, audit={"error": type(exc).__name__, "message": str(exc)}
    )


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return await _refuse(
        request, 409, str(exc), audit={"error": type(exc).__name__, "message": str(exc)}
    )


async def _unprocessable(request: Request, exc: Exception) -> JSONResponse:
    return await _refuse(
        request, 422, str(exc), audit={"error": type(exc).__name__, "message": str(exc)}
    )


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("store error on %s: %s", action_of(request.scope), exc)
    config = _config(request)
    await audit_refusal(config, request.scope, 503, outcome="error", detail={"error": "StoreError"})
    return problem_response(503, "the store is not available; try again later")


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(part) for part in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()[:50]
    ]


def _anonymous_refusal(request: Request) -> AuthError | None:
    """Authenticate a request whose body failed before its token was looked at.

    FastAPI parses a JSON body before it resolves dependencies; a request without valid
    credentials must still answer 401, not say what is wrong with its body.
    """
    route = request.scope.get("route")
    template = getattr(route, "path_format", None)
    if template is None or template in PUBLIC_PATHS:
        return None
    if request.scope.get("state", {}).get("principal") is not None:
        return None
    config = _config(request)
    try:
        with read_session(config.factory) as session:
            principal = authenticate(session, bearer_token(request.headers), now=config.clock())
    except AuthError as exc:
        return exc
    request.state.principal = principal
    return None


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    auth = await run_in_threadpool(_anonymous_refusal, request)
    if auth is not None:
        return await _auth_error(request, auth)
    errors = _field_errors(exc)
    return await _refuse(
        request,
        422,
        "the request is not valid: see errors",
        audit={"error": "RequestValidationError", "errors": errors[:10]},
        errors=errors,
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        detail: str | None = _NOT_FOUND
    else:
        detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    return await _refuse(
        request, status, detail, audit={"error": "HTTPException"}, headers=headers or None
    )


def install_handlers(app: FastAPI) -> None:
    """Register the handlers that turn Vigía's errors into problem documents.

    Parameters
    ----------
    app : FastAPI
        The application.
    """
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(ForbiddenError, _forbidden)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(LifecycleError, _conflict)
    app.add_exception_handler(InputError, _unprocessable)
    app.add_exception_handler(UnknownNameError, _unprocessable)
    app.add_exception_handler(StoreError, _unavailable)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
