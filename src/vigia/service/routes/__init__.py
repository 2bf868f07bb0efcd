"""The service's routes, one module per resource, and the error responses they declare."""

from __future__ import annotations

from typing import Any

from vigia.service.schemas import Problem

__all__ = ["LOCATION", "declare"]

LOCATION: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "Created.",
        "headers": {
            "Location": {
                "description": "URL of the new object.",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    }
}
"""The ``responses`` entry of a route that creates an object and says where it is."""

_WHY = {
    400: "The request cannot be read.",
    401: "No valid bearer token (missing, malformed, unknown, expired or revoked).",
    403: "The principal may not take this action on this object.",
    404: "Not found, or not visible to the principal.",
    409: "The object's state does not allow this action.",
    413: "The request body is too large.",
    422: "The request is not valid.",
    503: "The store is not available.",
}


def declare(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the ``responses`` of a route: RFC 9457 problem documents for ``statuses``.

    Every route also declares 401 (bad token), 413 (body too large), 422 (invalid request)
    and 503 (store unavailable), which any protected request can meet.

    Parameters
    ----------
    *statuses : int
        The error statuses the route answers besides those.

    Returns
    -------
    dict
        For FastAPI's ``responses=``.
    """
    codes = sorted({400, 401, 413, 422, 503, *statuses})
    out: dict[int | str, dict[str, Any]] = {
        code: {"model": Problem, "description": _WHY[code]} for code in codes
    }
    out[401]["headers"] = {
        "WWW-Authenticate": {
            "description": "The bearer challenge (RFC 6750).",
            "required": True,
            "schema": {"type": "string"},
        }
    }
    return out
