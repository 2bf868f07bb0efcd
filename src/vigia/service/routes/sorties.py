"""Sorties: a planned flight over a partner's territory, flyable once that partner approves.

The agency submits a sortie to the partner organisation whose territory it flies over; one of
that partner's officers approves it or refuses it with a reason. Partners see only the sorties
submitted to them (:mod:`vigia.store.sorties` decides). Every step is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from vigia.service.auth import CurrentPrincipal
from vigia.service.deps import Config, audit_ok
from vigia.service.routes import LOCATION, declare
from vigia.service.schemas import SortieCreate, SortieDecision, SortiePublic, SortieRefusal
from vigia.store.db import read_session, write_session
from vigia.store.sorties import SortieView, decide_sortie, get_sortie, list_sorties, submit_sortie

__all__ = ["router"]

router = APIRouter(prefix="/sorties", tags=["sorties"])

SortieId = Annotated[str, Path(max_length=64, description="Sortie id (SRT-0001).")]


def _public(view: SortieView) -> SortiePublic:
    return SortiePublic.model_validate(view)


@router.post(
    "",
    status_code=201,
    response_model=SortiePublic,
    responses={**declare(403, 404, 409), **LOCATION},
    summary="Submit a sortie for approval",
)
def create_sortie(
    body: SortieCreate,
    request: Request,
    response: Response,
    config: Config,
    p: CurrentPrincipal,
) -> SortiePublic:
    """Submit a planned sortie to the partner whose territory it flies over (agency)."""
    now = config.clock()
    with write_session(config.factory) as session:
        sid = submit_sortie(
            session,
            p,
            name=body.name,
            partner_org=body.partner_org,
            plan_path=config.plan_path(body.plan_path),
            area=body.area,
            now=now,
        )
        audit_ok(
            session, request, p, sid, now=now, detail={"name": body.name, "to": body.partner_org}
        )
        view = get_sortie(session, p, sid)
    response.headers["Location"] = str(request.url_for("read_sortie", sortie_id=sid))
    return _public(view)


@router.get("", response_model=list[SortiePublic], responses=declare(), summary="Sorties")
def read_sorties(config: Config, p: CurrentPrincipal) -> list[SortiePublic]:
    """List the sorties the principal may see (a partner: those submitted to it)."""
    with read_session(config.factory) as session:
        return [_public(v) for v in list_sorties(session, p)]


@router.get(
    "/{sortie_id}", response_model=SortiePublic, responses=declare(404), summary="One sortie"
)
def read_sortie(sortie_id: SortieId, config: Config, p: CurrentPrincipal) -> SortiePublic:
    """Return one sortie the principal may see (404 otherwise)."""
    with read_session(config.factory) as session:
        return _public(get_sortie(session, p, sortie_id))


def _decide(
    request: Request,
    config: Config,
    p: CurrentPrincipal,
    sortie_id: str,
    *,
    approve: bool,
    reason: str,
) -> SortiePublic:
    now = config.clock()
    with write_session(config.factory) as session:
        decide_sortie(session, p, sortie_id, approve=approve, reason=reason, now=now)
        audit_ok(
            session,
            request,
            p,
            sortie_id,
            now=now,
            detail={"decision": "approved" if approve else "refused", "reason": reason},
        )
        view = get_sortie(session, p, sortie_id)
    return _public(view)


@router.post(
    "/{sortie_id}/approve",
    response_model=SortiePublic,
    responses=declare(403, 404, 409),
    summary="Approve a sortie",
)
def approve(
    sortie_id: SortieId,
    request: Request,
    config: Config,
    p: CurrentPrincipal,
    body: SortieDecision | None = None,
) -> SortiePublic:
    """Approve a sortie submitted to the principal's organisation (partner officer)."""
    reason = body.reason if body is not None else ""
    return _decide(request, config, p, sortie_id, approve=True, reason=reason)


@router.post(
    "/{sortie_id}/refuse",
    response_model=SortiePublic,
    responses=declare(403, 404, 409),
    summary="Refuse a sortie",
)
def refuse(
    sortie_id: SortieId,
    body: SortieRefusal,
    request: Request,
    config: Config,
    p: CurrentPrincipal,
) -> SortiePublic:
    """Refuse a sortie submitted to the principal's organisation, with a reason."""
    return _decide(request, config, p, sortie_id, approve=False, reason=body.reason)
