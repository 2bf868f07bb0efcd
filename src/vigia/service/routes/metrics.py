"""``GET /metrics``: the agency's sharing metrics (agency principals only)."""

from __future__ import annotations

from fastapi import APIRouter

from vigia.service.auth import CurrentPrincipal
from vigia.service.deps import Config
from vigia.service.routes import declare
from vigia.service.schemas import MetricsPublic
from vigia.share.metrics import agency_metrics
from vigia.store.db import read_session
from vigia.store.releases import site_timelines

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_model=MetricsPublic, responses=declare(403), summary="Metrics")
def metrics(config: Config, p: CurrentPrincipal) -> MetricsPublic:
    """Time to release, acknowledgement and action; hit and response rates; totals seized."""
    with read_session(config.factory) as session:
        timelines = site_timelines(session, p)  # a partner is refused (403)
    return MetricsPublic.model_validate(agency_metrics(timelines).to_dict())
