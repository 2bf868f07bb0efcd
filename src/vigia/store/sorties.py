"""Sortie approval: a plan over a partner's territory flies only once that partner approves it.

The agency submits a planned sortie (a plan directory from ``vigia plan``, or one plan file)
to the partner organisation whose territory it overflies; one of that partner's officers
approves it or refuses it with a reason. The plan's SHA-256 is kept with the request, so that
an approval holds for exactly the plan that was approved: a plan changed afterwards no longer
matches (:func:`approval_of_plan`).

A partner sees only the sorties submitted to it (others raise
:class:`~vigia.errors.NotFoundError`). Every function takes an open session and leaves the
transaction, and the audit entry, to the caller.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import shapely.geometry
from shapely.errors import GEOSException
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from vigia.errors import (
    ForbiddenError,
    GeometryError,
    InputError,
    LifecycleError,
    NotFoundError,
)
from vigia.store.access import Principal
from vigia.store.models import Organisation, SortieRequest, User
from vigia.store.records import check_utc

__all__ = [
    "SortieView",
    "approval_of_plan",
    "decide_sortie",
    "get_sortie",
    "list_sorties",
    "plan_digest",
    "sortie_id_of",
    "submit_sortie",
]

_LOCK_KEY: Final = 0x56494743  # PostgreSQL advisory lock that serialises new sortie ids
_MAX_TEXT: Final = 10_000
_AREA_TYPES: Final = ("Polygon", "MultiPolygon")


def sortie_id_of(number: int) -> str:
    """Return the sortie request id for a number (``SRT-0007``)."""
    return f"SRT-{number:04d}"


@dataclass(frozen=True)
class SortieView:
    """A sortie request as a principal may see it."""

    id: str
    name: str
    org: str
    plan_sha256: str
    plan_path: str
    area: dict[str, Any]
    submitted_by: str
    submitted_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None

    @property
    def flyable(self) -> bool:
        """Whether the partner approved it."""
        return self.status == "approved"

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values (times ISO 8601 with ``Z``)."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        return {
            "id": self.id,
            "name": self.name,
            "org": self.org,
            "plan_sha256": self.plan_sha256,
            "plan_path": self.plan_path,
            "area": self.area,
            "submitted_by": self.submitted_by,
            "submitted_at": iso(self.submitted_at),
            "status": self.status,
            "flyable": self.flyable,
            "decided_by": self.decided_by,
            "decided_at": iso(self.decided_at),
            "reason": self.reason,
        }


def plan_digest(plan_path: Path) -> str:
    """Return the SHA-256 of a plan file, or of a plan directory's files (names and contents).

    For a directory the digest covers every regular file below it, in sorted order of its
    relative path, as ``path NUL sha256 LF`` lines.

    Raises
    ------
    InputError
        If the path does not exist, cannot be read, or is an empty directory.
    """
    try:
        if plan_path.is_file():
            return hashlib.sha256(plan_path.read_bytes()).hexdigest()
        if not plan_path.is_dir():
            raise InputError(f"plan {plan_path}: no such file or directory")
        files = sorted(p for p in plan_path.rglob("*") if p.is_file())
        if not files:
            raise InputError(f"plan {plan_path}: the directory holds no files")
        h = hashlib.sha256()
        for f in files:
            rel = f.relative_to(plan_path).as_posix()
            h.update(f"{rel}\0{hashlib.sha256(f.read_bytes()).hexdigest()}\n".encode())
        return h.hexdigest()
    except OSError as exc:
        raise InputError(f"plan {plan_path}: cannot read: {exc.strerror or exc}") from None


def _check_area(area: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(area, dict) or area.get("type") not in _AREA_TYPES:
        raise GeometryError(
            f"{where}: the area must be a GeoJSON Polygon or MultiPolygon geometry, "
            f"got {str(area)[:80]}"
        )
    try:
        geom = shapely.geometry.shape(area)
    except (GEOSException, ValueError, TypeError, KeyError, IndexError) as exc:
        raise GeometryError(f"{where}: the area is not valid GeoJSON: {exc}") from None
    if geom.is_empty or not geom.is_valid:
        raise GeometryError(f"{where}: the area is empty or not a valid polygon")
    x0, y0, x1, y1 = geom.bounds
    if (
        not all(map(math.isfinite, (x0, y0, x1, y1)))
        or x0 < -180
        or x1 > 180
        or y0 < -90
        or y1 > 90
    ):
        raise GeometryError(
            f"{where}: the area's bounds ({x0}, {y0}, {x1}, {y1}) are not lon/lat degrees "
            "(GeoJSON order is lon, lat)"
        )
    return dict(shapely.geometry.mapping(geom))


def _next_id(session: Session) -> str:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.scalar(
        select(SortieRequest.id)
        .order_by(func.length(SortieRequest.id).desc(), SortieRequest.id.desc())
        .limit(1)
    )
    return sortie_id_of(1 if last is None else int(last.removeprefix("SRT-")) + 1)


def submit_sortie(
    session: Session,
    p: Principal,
    *,
    name: str,
    partner_org: str,
    plan_path: Path,
    area: dict[str, Any],
    now: datetime,
) -> str:
    """Submit a planned sortie to the partner whose territory it overflies.

    Parameters
    ----------
    session : Session
        An open write session.
    p : Principal
        A user of the agency.
    name : str
        The plan's or sortie's name.
    partner_org : str
        The partner organisation asked to approve.
    plan_path : Path
        The plan file or directory (its digest is kept).
    area : dict
        GeoJSON Polygon or MultiPolygon (lon/lat) the sortie images.
    now : datetime
        Submission time, UTC-aware.

    Returns
    -------
    str
        The request id (``SRT-0001``).

    Raises
    ------
    ForbiddenError
        If the principal is not of the agency.
    NotFoundError
        If the organisation does not exist.
    InputError
        A name missing, a recipient that is not a partner, a plan that cannot be read.
    GeometryError
        An area that is not a valid lon/lat polygon.
    """
    when = check_utc(now, "now").astimezone(UTC)
    if not p.is_agency:
        raise ForbiddenError(f"{p.user} ({p.role}, {p.org}): only the agency submits sorties")
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise InputError(f"sortie name {name!r}: give 1-256 characters")
    org = session.scalar(select(Organisation).where(Organisation.name == partner_org))
    if org is None:
        raise NotFoundError(f"organisation {partner_org!r} does not exist")
    if org.kind != "partner":
        raise InputError(f"sortie {name!r}: {partner_org} is not a partner organisation")
    shape = _check_area(area, f"sortie {name!r}")
    digest = plan_digest(Path(plan_path))
    sid = _next_id(session)
    session.add(
        SortieRequest(
            id=sid,
            name=name.strip(),
            org_id=org.id,
            plan_sha256=digest,
            plan_path=str(Path(plan_path).resolve()),
            area=shape,
            submitted_by=p.user_id,
            submitted_at=when,
            status="submitted",
            decided_by=None,
            decided_at=None,
            reason=None,
        )
    )
    session.flush()
    return sid


def _query(p: Principal) -> Any:
    submitter = User.__table__.alias("submitter")
    decider = User.__table__.alias("decider")
    q = (
        select(SortieRequest, Organisation.name, submitter.c.name, decider.c.name)
        .join(Organisation, Organisation.id == SortieRequest.org_id)
        .join(submitter, submitter.c.id == SortieRequest.submitted_by)
        .outerjoin(decider, decider.c.id == SortieRequest.decided_by)
        .order_by(func.length(SortieRequest.id), SortieRequest.id)
    )
    if not p.is_agency:
        q = q.where(SortieRequest.org_id == p.org_id)
    return q


def _view(s: SortieRequest, org: str, submitter: str, decider: str | None) -> SortieView:
    return SortieView(
        id=s.id,
        name=s.name,
        org=org,
        plan_sha256=s.plan_sha256,
        plan_path=s.plan_path,
        area=dict(s.area),
        submitted_by=submitter,
        submitted_at=s.submitted_at,
        status=s.status,
        decided_by=decider,
        decided_at=s.decided_at,
        reason=s.reason,
    )


def list_sorties(session: Session, p: Principal) -> list[SortieView]:
    """List the sortie requests a principal may see (a partner: those submitted to it)."""
    return [_view(*row) for row in session.execute(_query(p))]


def get_sortie(session: Session, p: Principal, sortie_id: str) -> SortieView:
    """Return one sortie request.

    Raises
    ------
    NotFoundError
        If it does not exist or was submitted to another partner.
    """
    row = session.execute(_query(p).where(SortieRequest.id == sortie_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"sortie {sortie_id} not found")
    return _view(*row)


def decide_sortie(
    session: Session, p: Principal, sortie_id: str, *, approve: bool, reason: str, now: datetime
) -> None:
    """Approve or refuse a sortie submitted to the principal's organisation.

    Parameters
    ----------
    session : Session
        An open write session.
    p : Principal
        A partner officer of the organisation the sortie was submitted to.
    sortie_id : str
        The request.
    approve : bool
        Approve (the sortie becomes flyable) or refuse.
    reason : str
        Why; required to refuse.
    now : datetime
        Decision time, UTC-aware.

    Raises
    ------
    NotFoundError
        No such request, or one submitted to another partner.
    ForbiddenError
        Not a partner officer of that organisation.
    InputError
        A refusal without a reason.
    LifecycleError
        The request was already decided.
    """
    when = check_utc(now, "now").astimezone(UTC)
    q = select(SortieRequest).where(SortieRequest.id == sortie_id)
    if not p.is_agency:
        q = q.where(SortieRequest.org_id == p.org_id)
    s = session.scalar(q.with_for_update())
    if s is None:
        raise NotFoundError(f"sortie {sortie_id} not found")
    if p.is_agency or p.role != "partner_officer":
        raise ForbiddenError(
            f"{p.user} ({p.role}, {p.org}) may not decide sortie {sortie_id}: only a partner "
            "officer of the organisation it was submitted to may"
        )
    if not isinstance(reason, str) or len(reason) > _MAX_TEXT:
        raise InputError(
            f"sortie {sortie_id}: the reason must be text of at most {_MAX_TEXT} characters"
        )
    if not approve and not reason.strip():
        raise InputError(f"sortie {sortie_id}: a refusal needs a reason")
    if s.status != "submitted":
        raise LifecycleError(
            f"sortie {sortie_id} was already {s.status} at {s.decided_at:%Y-%m-%dT%H:%M:%SZ}"
            if s.decided_at
            else f"sortie {sortie_id} is {s.status}"
        )
    s.status = "approved" if approve else "refused"
    s.decided_by = p.user_id
    s.decided_at = when
    s.reason = reason.strip()
    session.flush()


def approval_of_plan(session: Session, plan_path: Path) -> list[SortieView]:
    """Return the agency's view of the requests whose plan digest matches the plan as it is now.

    An empty list means the plan (as it is now) was never submitted, or changed since.
    """
    digest = plan_digest(Path(plan_path))
    agency = Principal.local_operator()
    return [
        _view(*row)
        for row in session.execute(_query(agency).where(SortieRequest.plan_sha256 == digest))
    ]
