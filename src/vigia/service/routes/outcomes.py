"""``POST /sites/{site_id}/outcomes``: a partner officer reports what was found at a site."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from vigia.service.auth import CurrentPrincipal
from vigia.service.deps import Config, audit_ok
from vigia.service.routes import declare
from vigia.service.schemas import OutcomeCreate, OutcomePublic
from vigia.store.db import write_session
from vigia.store.releases import report_outcome

__all__ = ["router"]

router = APIRouter(tags=["outcomes"])

SiteId = Annotated[str, Path(max_length=64, description="Site id (SITE-000001).")]


@router.post(
    "/sites/{site_id}/outcomes",
    status_code=201,
    response_model=OutcomePublic,
    responses=declare(403, 404, 409),
    summary="Report an outcome",
)
def create_outcome(
    site_id: SiteId,
    body: OutcomeCreate,
    request: Request,
    config: Config,
    p: CurrentPrincipal,
) -> OutcomePublic:
    """Report the outcome at a site released to the principal's organisation.

    Quantities are validated and normalised to kg, L or counts by the store (lb → kg).
    """
    now = config.clock()
    with write_session(config.factory) as session:
        oid = report_outcome(
            session,
            p,
            site_id,
            outcome=body.outcome,
            quantities=[q.model_dump() for q in body.quantities],
            text=body.text,
            observed_at=body.observed_at,
            now=now,
        )
        audit_ok(
            session,
            request,
            p,
            site_id,
            now=now,
            detail={"outcome_id": oid, "outcome": body.outcome},
        )
    return OutcomePublic(
        id=oid, site_id=site_id, outcome=body.outcome, observed_at=body.observed_at
    )
