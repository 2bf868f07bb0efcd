"""Releases: confirmed sites to partner organisations, with a TLP 2.0 marking and caveats.

A release officer of the agency creates, amends and withdraws releases; a partner officer of a
recipient acknowledges one; everyone reads the releases they may see and exports them in the
exchange formats. Who may do what is decided by :mod:`vigia.store.releases`; each change
commits with its audit entry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from vigia.service.auth import CurrentPrincipal
from vigia.service.deps import Config, audit_ok
from vigia.service.routes import LOCATION, declare
from vigia.service.schemas import ReleaseAmend, ReleaseCreate, ReleasePublic, ReleaseWithdraw
from vigia.share.exports import export
from vigia.store.db import read_session, write_session
from vigia.store.releases import (
    ReleaseView,
    acknowledge_release,
    amend_release,
    get_release,
    list_releases,
    release_sites,
    site_reports,
    withdraw_release,
)

__all__ = ["EXPORT_MEDIA_TYPES", "router"]

router = APIRouter(prefix="/releases", tags=["releases"])

EXPORT_MEDIA_TYPES: dict[str, str] = {
    "geojson": "application/geo+json",
    "kml": "application/vnd.google-earth.kml+xml",
    "cot": "application/xml",  # Cursor-on-Target events are plain XML (no registered type)
    "stix": "application/stix+json;version=2.1",
    "csv": "text/csv",
}
"""Media type of each export format."""
_EXTENSIONS = {"geojson": "geojson", "kml": "kml", "cot": "cot.xml", "stix": "json", "csv": "csv"}

ReleaseId = Annotated[str, Path(max_length=64, description="Release id (REL-0001).")]
ExportFormat = Literal["geojson", "kml", "cot", "stix", "csv"]


def _public(view: ReleaseView) -> ReleasePublic:
    return ReleasePublic.model_validate(view)


def _change(
    request: Request,
    config: Config,
    p: CurrentPrincipal,
    release_id: str,
    change: Callable[[Session, datetime], object],
    *,
    detail: dict[str, Any] | None = None,
) -> ReleasePublic:
    # One change to a release: run it, audit it in the same transaction, return the release.
    # The store refuses what the principal may not see with 404 before it looks at the role.
    now = config.clock()
    with write_session(config.factory) as session:
        change(session, now)
        audit_ok(session, request, p, release_id, now=now, detail=detail)
        view = get_release(session, p, release_id)
    return _public(view)


@router.post(
    "",
    status_code=201,
    response_model=ReleasePublic,
    responses={**declare(403, 404, 409), **LOCATION},
    summary="Release confirmed sites",
)
def create_release(
    body: ReleaseCreate,
    request: Request,
    response: Response,
    config: Config,
    p: CurrentPrincipal,
) -> ReleasePublic:
    """Release confirmed sites to partner organisations (release officer of the agency)."""
    now = config.clock()
    with write_session(config.factory) as session:
        rid = release_sites(
            session, p, body.site_ids, body.to_orgs, tlp=body.tlp, caveats=body.caveats, now=now
        )
        audit_ok(
            session,
            request,
            p,
            rid,
            now=now,
            detail={"sites": body.site_ids, "to": body.to_orgs, "tlp": body.tlp},
        )
        view = get_release(session, p, rid)
    response.headers["Location"] = str(request.url_for("read_release", release_id=rid))
    return _public(view)


@router.get(
    "", response_model=list[ReleasePublic], responses=declare(), summary="Releases you may see"
)
def read_releases(config: Config, p: CurrentPrincipal) -> list[ReleasePublic]:
    """List the releases the principal may see (a partner: those to its organisation)."""
    with read_session(config.factory) as session:
        return [_public(v) for v in list_releases(session, p)]


@router.get(
    "/{release_id}", response_model=ReleasePublic, responses=declare(404), summary="One release"
)
def read_release(release_id: ReleaseId, config: Config, p: CurrentPrincipal) -> ReleasePublic:
    """Return one release the principal may see (404 otherwise)."""
    with read_session(config.factory) as session:
        return _public(get_release(session, p, release_id))


@router.patch(
    "/{release_id}",
    response_model=ReleasePublic,
    responses=declare(403, 404, 409),
    summary="Amend a release",
)
def amend(
    release_id: ReleaseId,
    body: ReleaseAmend,
    request: Request,
    config: Config,
    p: CurrentPrincipal,
) -> ReleasePublic:
    """Change a release's marking or caveats, or add sites (release officer of the agency)."""
    return _change(
        request,
        config,
        p,
        release_id,
        lambda session, now: amend_release(
            session,
            p,
            release_id,
            tlp=body.tlp,
            caveats=body.caveats,
            add_sites=body.add_sites,
            add_orgs=body.add_orgs,
            now=now,
        ),
        detail=body.model_dump(exclude_none=True, exclude_defaults=True),
    )


@router.post(
    "/{release_id}/withdraw",
    response_model=ReleasePublic,
    responses=declare(403, 404, 409),
    summary="Withdraw a release",
)
def withdraw(
    release_id: ReleaseId,
    body: ReleaseWithdraw,
    request: Request,
    config: Config,
    p: CurrentPrincipal,
) -> ReleasePublic:
    """Withdraw a release; its recipients see it marked withdrawn (release officer)."""
    return _change(
        request,
        config,
        p,
        release_id,
        lambda session, now: withdraw_release(session, p, release_id, reason=body.reason, now=now),
        detail={"reason": body.reason},
    )


@router.post(
    "/{release_id}/acknowledge",
    response_model=ReleasePublic,
    responses=declare(403, 404, 409),
    summary="Acknowledge a release",
)
def acknowledge(
    release_id: ReleaseId, request: Request, config: Config, p: CurrentPrincipal
) -> ReleasePublic:
    """Acknowledge receipt of a release (partner officer of a recipient organisation)."""
    return _change(
        request,
        config,
        p,
        release_id,
        lambda session, now: acknowledge_release(session, p, release_id, now=now),
    )


_EXPORT_CONTENT = {
    media: {"schema": {"type": "object"} if "json" in media else {"type": "string"}}
    for media in dict.fromkeys(EXPORT_MEDIA_TYPES.values())
}


@router.get(
    "/{release_id}/export",
    response_class=Response,
    responses={
        **declare(404),
        200: {"description": "The release in the format asked for.", "content": _EXPORT_CONTENT},
    },
    summary="Export a release",
)
def export_release(
    release_id: ReleaseId,
    request: Request,
    config: Config,
    p: CurrentPrincipal,
    format: Annotated[ExportFormat, Query(description="Exchange format.")] = "geojson",
) -> Response:
    """Export a release with its marking and caveats (GeoJSON, KML, CoT, STIX 2.1 or CSV).

    Every export is audited: it is information leaving the service.
    """
    now = config.clock()
    with write_session(config.factory) as session:
        reports = site_reports(session, p, release_id)
        text = export(format, reports, now)
        audit_ok(session, request, p, release_id, now=now, detail={"format": format})
    name = f"{release_id}.{_EXTENSIONS[format]}"
    return Response(
        content=text,
        media_type=EXPORT_MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
