"""Sites, observations, review decisions and revisit requests: what fusion and review call.

Every function takes the session factory (:func:`vigia.store.open_store`) and gives back plain
``Stored*`` records (:mod:`vigia.store.records`). Every write is one transaction: on any error
the database is as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, selectinload

from vigia.errors import InputError, NotFoundError
from vigia.lifecycle import next_state
from vigia.store.db import SessionFactory, read_session, write_session
from vigia.store.locks import serialise_sharing
from vigia.store.models import (
    MAX_SITE_SPAN_DEG,
    REVISIT_STATUSES,
    DetectionRow,
    FlightLine,
    ReviewDecision,
    RevisitRequest,
    Site,
    SiteObservation,
)
from vigia.store.records import (
    BBox,
    SiteDetail,
    SiteRecord,
    StoredDecision,
    StoredDetection,
    StoredObservation,
    StoredRevisit,
    StoredSite,
    check_bbox,
    check_utc,
)

__all__ = [
    "FUSION_ACTOR",
    "add_revisit_request",
    "apply_transition",
    "get_detections",
    "get_site",
    "list_open_revisits",
    "list_sites",
    "set_revisit_status",
    "site_id_of",
    "sites_query",
    "unassociated_detections",
    "upsert_sites",
]

FUSION_ACTOR = "fusion"
"""Actor recorded for the transitions the pipeline makes itself (role ``system``)."""

_CHUNK = 900  # ids per IN (…) list: well under SQLite's bound-parameter limit
_SPAN = MAX_SITE_SPAN_DEG * (1 + 1e-9)  # the check constraint's bound, with float slack


def site_id_of(number: int) -> str:
    """Return the site id for a site number (``SITE-000042``)."""
    return f"SITE-{number:06d}"


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else check_utc(now, "now").astimezone(UTC)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _stored_site(s: Site) -> StoredSite:
    return StoredSite(
        id=s.id,
        lon=s.lon,
        lat=s.lat,
        bbox=(s.min_lon, s.min_lat, s.max_lon, s.max_lat),
        state=s.state,
        site_class=s.site_class,
        confidence=s.confidence,
        first_seen=s.first_seen,
        last_seen=s.last_seen,
        reasons=tuple(s.reasons),
        evidence=dict(s.evidence),
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


def _stored_detection(d: DetectionRow, line_id: str) -> StoredDetection:
    return StoredDetection(
        pk=d.id,
        detection_id=d.detection_id,
        ingest_id=d.ingest_id,
        line_id=line_id,
        sensor=d.sensor,
        kind=d.kind,
        time=d.time,
        lon=d.lon,
        lat=d.lat,
        bbox=(d.min_lon, d.min_lat, d.max_lon, d.max_lat),
        score=d.score,
        properties=dict(d.properties),
        footprint=json.loads(d.footprint),
    )


def _stored_decision(r: ReviewDecision) -> StoredDecision:
    return StoredDecision(
        id=r.id,
        site_id=r.site_id,
        actor=r.actor,
        role=r.role,
        action=r.action,
        from_state=r.from_state,
        to_state=r.to_state,
        reason=r.reason,
        detail=dict(r.detail),
        time=r.time,
    )


def _stored_revisit(r: RevisitRequest) -> StoredRevisit:
    return StoredRevisit(
        id=r.id,
        site_id=r.site_id,
        lon=r.lon,
        lat=r.lat,
        reason=r.reason,
        priority=r.priority,
        status=r.status,
        requested_at=r.requested_at,
    )


def _lock_site(session: Session, site_id: str) -> Site:
    # A site's change may change its partners' rows: the sharing lock comes first.
    serialise_sharing(session)
    site = session.scalar(select(Site).where(Site.id == site_id).with_for_update())
    if site is None:
        raise NotFoundError(f"site {site_id} does not exist")
    return site


def _next_number(session: Session) -> int:
    last = session.scalar(
        select(Site.id).order_by(func.length(Site.id).desc(), Site.id.desc()).limit(1)
    )
    return 1 if last is None else int(last.removeprefix("SITE-")) + 1


def upsert_sites(
    factory: SessionFactory, records: Sequence[SiteRecord], *, now: datetime | None = None
) -> list[str]:
    """Insert new sites and merge updates into stored ones, with their observations.

    A record without ``site_id`` becomes a new ``candidate`` site with the next free id. A
    record with one updates that site's location, box, class, confidence, times, reasons and
    evidence, and keeps its id and state; its observations are added to the stored ones
    (an observation already stored is left as it is). A site waiting for a revisit
    (``revisit_requested``) that gains observations goes back to ``candidate`` (action
    ``new_evidence`` by actor ``fusion``, role ``system``, recorded as a review decision), and
    its open or planned revisit requests are marked ``done``.

    Parameters
    ----------
    factory : SessionFactory
        The store.
    records : sequence of SiteRecord
        Sites from fusion.
    now : datetime, optional
        Time of the write, UTC-aware; the clock when not given.

    Returns
    -------
    list of str
        The site id of each record, in order.

    Raises
    ------
    NotFoundError
        If a record names a site, or an observation a detection, that the store does not
        hold. Nothing is written.
    InputError
        If two records name the same site.
    """
    when = _now(now)
    given = [r.site_id for r in records if r.site_id is not None]
    if len(set(given)) != len(given):
        dup = sorted({s for s in given if given.count(s) > 1})
        raise InputError(f"upsert_sites: sites named by more than one record: {', '.join(dup)}")
    with write_session(factory) as session:
        # Released sites' partner rows change with them: in the sharing writes' queue first.
        serialise_sharing(session)
        if session.get_bind().dialect.name == "postgresql":
            # New ids are max + 1: one upsert at a time (SQLite's BEGIN IMMEDIATE does this).
            # EXCLUSIVE (not SHARE ROW EXCLUSIVE) also waits for transitions holding row locks,
            # so the two cannot deadlock; plain reads go on.
            session.execute(text("LOCK TABLE sites IN EXCLUSIVE MODE"))
        stored: dict[str, Site] = {}
        for chunk in _chunks(given):
            for s in session.scalars(select(Site).where(Site.id.in_(chunk)).with_for_update()):
                stored[s.id] = s
        missing = [s for s in given if s not in stored]
        if missing:
            raise NotFoundError(f"upsert_sites: no such site: {', '.join(missing)}")
        wanted = sorted({o.detection for r in records for o in r.observations})
        found: set[int] = set()
        for chunk in _chunks(wanted):
            found.update(session.scalars(select(DetectionRow.id).where(DetectionRow.id.in_(chunk))))
        if len(found) != len(wanted):
            absent = [str(p) for p in wanted if p not in found][:20]
            raise NotFoundError(f"upsert_sites: no such detection (store key): {', '.join(absent)}")
        known: set[tuple[str, int]] = set()
        for chunk in _chunks(list(stored)):
            q = select(SiteObservation.site_id, SiteObservation.detection_id)
            known.update(
                (a, b) for a, b in session.execute(q.where(SiteObservation.site_id.in_(chunk)))
            )

        number = _next_number(session)
        ids: list[str] = []
        new_sites: list[dict[str, Any]] = []
        observations: list[dict[str, Any]] = []
        for r in records:
            fields = {
                "lon": r.lon,
                "lat": r.lat,
                "min_lon": r.bbox[0],
                "min_lat": r.bbox[1],
                "max_lon": r.bbox[2],
                "max_lat": r.bbox[3],
                "site_class": r.site_class,
                "confidence": r.confidence,
                "first_seen": r.first_seen.astimezone(UTC),
                "last_seen": r.last_seen.astimezone(UTC),
                "reasons": list(r.reasons),
                "evidence": dict(r.evidence),
                "updated_at": when,
            }
            if r.site_id is None:
                site_id = site_id_of(number)
                number += 1
                new_sites.append(fields | {"id": site_id, "state": "candidate", "created_at": when})
            else:
                site_id = r.site_id
                site = stored[site_id]
                for k, v in fields.items():
                    setattr(site, k, v)
            ids.append(site_id)
            added = 0
            for o in r.observations:
                if (site_id, o.detection) not in known:
                    known.add((site_id, o.detection))
                    observations.append(
                        {
                            "site_id": site_id,
                            "detection_id": o.detection,
                            "distance_m": o.distance_m,
                        }
                    )
                    added += 1
            if r.site_id is not None and added and stored[site_id].state == "revisit_requested":
                _transition(
                    session,
                    stored[site_id],
                    "new_evidence",
                    actor=FUSION_ACTOR,
                    role="system",
                    reason=f"{added} new observation(s) from fusion",
                    detail={},
                    when=when,
                )
                session.execute(
                    update(RevisitRequest)
                    .where(
                        RevisitRequest.site_id == site_id,
                        RevisitRequest.status.in_(("open", "planned")),
                    )
                    .values(status="done")
                )
        if new_sites:
            session.execute(insert(cast(Table, Site.__table__)), new_sites)
        if observations:
            session.execute(insert(cast(Table, SiteObservation.__table__)), observations)
    return ids


def sites_query(
    *,
    states: Iterable[str] | None = None,
    bbox: BBox | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Select[Site]:
    """Build the query for sites whose box meets ``bbox`` and that were seen in a time range.

    The box test is a two-sided range on ``min_lon`` (sites span at most
    :data:`~vigia.store.models.MAX_SITE_SPAN_DEG`), so both back ends answer it from
    ``ix_sites_bbox_time``.

    Parameters
    ----------
    states : iterable of str, optional
        Keep sites in these states.
    bbox : tuple of float, optional
        ``(min_lon, min_lat, max_lon, max_lat)``, degrees.
    start, end : datetime, optional
        Keep sites seen at some time within ``[start, end]`` (UTC-aware).

    Returns
    -------
    Select
        The query, ordered by site id.
    """
    conditions: list[ColumnElement[bool]] = []
    if bbox is not None:
        x0, y0, x1, y1 = check_bbox(bbox, "site query")
        conditions += [
            Site.min_lon >= x0 - _SPAN,
            Site.min_lon <= x1,
            Site.min_lat >= y0 - _SPAN,
            Site.min_lat <= y1,
            Site.max_lon >= x0,
            Site.max_lat >= y0,
        ]
    if start is not None:
        conditions.append(Site.last_seen >= check_utc(start, "site query: start"))
    if end is not None:
        conditions.append(Site.first_seen <= check_utc(end, "site query: end"))
    if states is not None:
        conditions.append(Site.state.in_(list(states)))
    return select(Site).where(and_(True, *conditions)).order_by(Site.id)


def list_sites(
    factory: SessionFactory,
    *,
    states: Iterable[str] | None = None,
    bbox: BBox | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[StoredSite]:
    """List sites, filtered by state, box and time, ordered by id.

    Parameters
    ----------
    factory : SessionFactory
        The store.
    states : iterable of str, optional
        Keep sites in these states (see :data:`vigia.lifecycle.STATES`).
    bbox : tuple of float, optional
        ``(min_lon, min_lat, max_lon, max_lat)``: keep sites whose box meets it, degrees.
    start, end : datetime, optional
        Keep sites seen within ``[start, end]``: ``last_seen >= start`` and
        ``first_seen <= end`` (UTC-aware).
    limit : int, optional
        At most this many.

    Returns
    -------
    list of StoredSite
        The sites.
    """
    q = sites_query(states=states, bbox=bbox, start=start, end=end)
    if limit is not None:
        q = q.limit(limit)
    with read_session(factory) as session:
        return [_stored_site(s) for s in session.scalars(q)]


def get_site(factory: SessionFactory, site_id: str) -> SiteDetail:
    """Return a site with its observations, review decisions and revisit requests.

    Raises
    ------
    NotFoundError
        If the store has no such site.
    """
    with read_session(factory) as session:
        site = session.scalar(
            select(Site)
            .where(Site.id == site_id)
            .options(
                selectinload(Site.observations)
                .selectinload(SiteObservation.detection)
                .selectinload(DetectionRow.line),
                selectinload(Site.decisions),
                selectinload(Site.revisits),
            )
        )
        if site is None:
            raise NotFoundError(f"site {site_id} does not exist")
        return SiteDetail(
            site=_stored_site(site),
            observations=tuple(
                StoredObservation(
                    site.id, _stored_detection(o.detection, o.detection.line.line_id), o.distance_m
                )
                for o in site.observations
            ),
            decisions=tuple(_stored_decision(d) for d in site.decisions),
            revisits=tuple(_stored_revisit(r) for r in site.revisits),
        )


def _transition(
    session: Session,
    site: Site,
    action: str,
    *,
    actor: str,
    role: str,
    reason: str,
    detail: dict[str, Any],
    when: datetime,
) -> ReviewDecision:
    target = next_state(site.id, site.state, action, role)
    decision = ReviewDecision(
        site_id=site.id,
        actor=actor,
        role=role,
        action=action,
        from_state=site.state,
        to_state=target,
        reason=reason,
        detail=detail,
        time=when,
    )
    site.state = target
    site.updated_at = when
    session.add(decision)
    session.flush()
    return decision


def apply_transition(
    factory: SessionFactory,
    site_id: str,
    action: str,
    *,
    actor: str,
    role: str,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    revisit_priority: int = 1,
    now: datetime | None = None,
) -> StoredDecision:
    """Move a site through its lifecycle and record the decision, in one transaction.

    ``request_revisit`` also files an open revisit request at the site (same transaction).

    Parameters
    ----------
    factory : SessionFactory
        The store.
    site_id : str
        The site.
    action : str
        A lifecycle action (see :data:`vigia.lifecycle.ACTIONS`).
    actor : str
        Who acts (user name).
    role : str
        The role they act in.
    reason : str
        Why (kept with the decision).
    detail : dict, optional
        JSON-serialisable particulars: a release's recipients and marking, an outcome and
        its quantities.
    revisit_priority : int
        Priority of the revisit request ``request_revisit`` files (1 is most urgent).
    now : datetime, optional
        Time of the decision, UTC-aware; the clock when not given.

    Returns
    -------
    StoredDecision
        The recorded decision.

    Raises
    ------
    NotFoundError
        If the site does not exist (nothing changes).
    LifecycleError
        If the lifecycle does not allow the action from the site's state for the role
        (nothing changes).
    """
    when = _now(now)
    if not actor:
        raise InputError(f"site {site_id}: {action!r} needs an actor")
    with write_session(factory) as session:
        site = _lock_site(session, site_id)
        decision = _transition(
            session,
            site,
            action,
            actor=actor,
            role=role,
            reason=reason,
            detail=dict(detail or {}),
            when=when,
        )
        if action == "request_revisit":
            session.add(
                RevisitRequest(
                    site_id=site.id,
                    lon=site.lon,
                    lat=site.lat,
                    reason=reason,
                    priority=revisit_priority,
                    status="open",
                    requested_at=when,
                )
            )
        return _stored_decision(decision)


def add_revisit_request(
    factory: SessionFactory,
    site_id: str,
    reason: str,
    *,
    priority: int = 1,
    now: datetime | None = None,
) -> StoredRevisit:
    """File an open request to image a site again (its state does not change).

    Parameters
    ----------
    factory : SessionFactory
        The store.
    site_id : str
        The site.
    reason : str
        Why (for the planner).
    priority : int
        1 is most urgent.
    now : datetime, optional
        Request time, UTC-aware; the clock when not given.

    Returns
    -------
    StoredRevisit
        The request.

    Raises
    ------
    NotFoundError
        If the site does not exist.
    """
    when = _now(now)
    with write_session(factory) as session:
        site = _lock_site(session, site_id)
        request = RevisitRequest(
            site_id=site.id,
            lon=site.lon,
            lat=site.lat,
            reason=reason,
            priority=priority,
            status="open",
            requested_at=when,
        )
        session.add(request)
        session.flush()
        return _stored_revisit(request)


def set_revisit_status(factory: SessionFactory, request_id: int, status: str) -> StoredRevisit:
    """Mark a revisit request ``open``, ``planned`` or ``done``.

    Raises
    ------
    NotFoundError
        If there is no such request.
    InputError
        If the status is not one of the three.
    """
    if status not in REVISIT_STATUSES:
        raise InputError(
            f"revisit request {request_id}: status {status!r} is not one of "
            f"{', '.join(REVISIT_STATUSES)}"
        )
    with write_session(factory) as session:
        request = session.get(RevisitRequest, request_id, with_for_update=True)
        if request is None:
            raise NotFoundError(f"revisit request {request_id} does not exist")
        request.status = status
        return _stored_revisit(request)


def list_open_revisits(factory: SessionFactory) -> list[StoredRevisit]:
    """List open revisit requests, most urgent first, then oldest first.

    Requests for sites an analyst has rejected are left out: the decision settled them.
    """
    q = (
        select(RevisitRequest)
        .join(Site, Site.id == RevisitRequest.site_id)
        .where(RevisitRequest.status == "open", Site.state != "rejected")
        .order_by(RevisitRequest.priority, RevisitRequest.requested_at, RevisitRequest.id)
    )
    with read_session(factory) as session:
        return [_stored_revisit(r) for r in session.scalars(q)]


def _detection_query() -> Select[DetectionRow, str]:
    return select(DetectionRow, FlightLine.line_id).join(
        FlightLine, DetectionRow.line_id == FlightLine.id
    )


def unassociated_detections(
    factory: SessionFactory,
    *,
    bbox: BBox | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[StoredDetection]:
    """List stored detections that no site observes yet, oldest first.

    Parameters
    ----------
    factory : SessionFactory
        The store.
    bbox : tuple of float, optional
        Keep detections whose source point lies in ``(min_lon, min_lat, max_lon, max_lat)``.
    start, end : datetime, optional
        Keep detections imaged within ``[start, end]`` (UTC-aware).
    limit : int, optional
        At most this many.

    Returns
    -------
    list of StoredDetection
        The detections, by time then store key.
    """
    q = _detection_query().where(~exists().where(SiteObservation.detection_id == DetectionRow.id))
    if bbox is not None:
        x0, y0, x1, y1 = check_bbox(bbox, "detection query")
        q = q.where(DetectionRow.lon.between(x0, x1), DetectionRow.lat.between(y0, y1))
    if start is not None:
        q = q.where(DetectionRow.time >= check_utc(start, "detection query: start"))
    if end is not None:
        q = q.where(DetectionRow.time <= check_utc(end, "detection query: end"))
    q = q.order_by(DetectionRow.time, DetectionRow.id)
    if limit is not None:
        q = q.limit(limit)
    with read_session(factory) as session:
        return [_stored_detection(d, line) for d, line in session.execute(q)]


def get_detections(factory: SessionFactory, pks: Sequence[int]) -> list[StoredDetection]:
    """Return stored detections by store key, in the order asked.

    Raises
    ------
    NotFoundError
        If a key is not stored.
    """
    found: dict[int, StoredDetection] = {}
    with read_session(factory) as session:
        for chunk in _chunks(sorted(set(pks))):
            for d, line in session.execute(_detection_query().where(DetectionRow.id.in_(chunk))):
                found[d.id] = _stored_detection(d, line)
    missing = [str(p) for p in pks if p not in found]
    if missing:
        raise NotFoundError(f"no such detection (store key): {', '.join(missing[:20])}")
    return [found[p] for p in pks]
