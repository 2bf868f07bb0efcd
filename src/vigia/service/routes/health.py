"""``GET /health``: is the service up and its store reachable (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from vigia import __version__
from vigia.service.deps import Config
from vigia.service.schemas import Health, Problem
from vigia.store.db import read_session

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Problem, "description": "The store is not available."}},
    summary="Health",
)
def health(config: Config) -> Health:
    """Answer ``ok`` when the store answers a trivial query (503 otherwise)."""
    with read_session(config.factory) as session:
        session.execute(text("SELECT 1"))
    return Health(status="ok", version=__version__)
