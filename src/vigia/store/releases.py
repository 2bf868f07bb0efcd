"""Releases to partner authorities, what each principal may see, and the partners' feedback.

All visibility is decided here, in SQL (DESIGN.md, "Security model"):

- the agency's users see every site, every release and every outcome;
- a partner's users see a site only if some release *to their organisation* carries it, a
  release only if their organisation is among its recipients, and of a release's recipients
  only their own organisation. They never see evidence (raw detections, counts of passes
  per sensor) — only the site's place, class, confidence, reasons and markings.

What a principal may not see raises :class:`~vigia.errors.NotFoundError` with the same message
as what does not exist, so an API answers 404 for both and leaks nothing.
:class:`~vigia.errors.ForbiddenError` is for actions on objects the principal *can* see: the
wrong role, the two-person rule, releasing a site that is not confirmed.

Lifecycle: releasing moves ``confirmed`` sites to ``released`` (a site already released may be
released again, to other partners); a partner officer's acknowledgement moves ``released``
sites to ``acknowledged``; an outcome moves the site to ``actioned``. Each move goes through
:mod:`vigia.lifecycle` and is recorded as a review decision, in the caller's transaction. The
stored state is one for all partners (the furthest any recipient took the site); a partner is
shown the state its own steps reached, so that it cannot learn what another partner did.
Withdrawing a release does not move its sites back (the lifecycle has no way back); they stay
visible to the recipients, marked withdrawn, so that the partner knows to stand down.

An outcome for a site whose release the partner has not acknowledged yet acknowledges it
implicitly (reporting what was found there proves receipt); both moves are recorded.

Every function takes an open session and leaves the transaction to the caller, so a change and
its audit entry (:func:`vigia.store.audit.append_audit`) commit together or not at all.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Double,
    Engine,
    Integer,
    Select,
    String,
    Text,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from vigia.errors import ForbiddenError, InputError, LifecycleError, NotFoundError
from vigia.store.access import Principal
from vigia.store.changes import CHANGES
from vigia.store.db import (
    DriverStatement,
    OnConnection,
    Query,
    SessionFactory,
    Steps,
    run_steps,
    write_session,
)
from vigia.store.locks import serialise_sharing
from vigia.store.models import (
    MAX_SITE_SPAN_DEG,
    TLP_MARKINGS,
    DetectionRow,
    Organisation,
    Outcome,
    PartnerSite,
    Release,
    ReleaseRecipient,
    ReleaseSite,
    ReviewDecision,
    Site,
    SiteObservation,
    User,
)
from vigia.store.records import BBox, check_bbox, check_utc
from vigia.store.sites import _transition, sites_query

if TYPE_CHECKING:
    from vigia.share.metrics import SiteTimeline
    from vigia.share.report import SiteReport

__all__ = [
    "RELEASABLE_STATES",
    "FeaturePage",
    "OutcomeView",
    "ReleaseRef",
    "ReleaseView",
    "SiteView",
    "acknowledge_release",
    "amend_release",
    "feature_json_steps",
    "feature_text_steps",
    "get_release",
    "get_visible_feature",
    "get_visible_site",
    "list_outcomes",
    "list_releases",
    "list_visible_feature_json",
    "list_visible_features",
    "list_visible_sites",
    "read_visible_feature",
    "read_visible_feature_json",
    "read_visible_feature_text",
    "refresh_partner_features",
    "release_id_of",
    "release_sites",
    "report_outcome",
    "site_reports",
    "site_timelines",
    "store_partner_features",
    "withdraw_release",
]

RELEASABLE_STATES: Final[tuple[str, ...]] = ("confirmed", "released", "acknowledged", "actioned")
"""States a site may be released from: confirmed, or already released (to other partners)."""

MAX_PAGE: Final = 10_000
_LOCK_KEY: Final = 0x56494742  # PostgreSQL advisory lock that serialises new release ids
_MAX_TEXT: Final = 10_000


def release_id_of(number: int) -> str:
    """Return the release id for a release number (``REL-0042``)."""
    return f"REL-{number:04d}"


@dataclass(frozen=True)
class ReleaseRef:
    """A release as a site lists it."""

    id: str
    tlp: str
    caveats: tuple[str, ...]
    withdrawn: bool
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values (times ISO 8601 with ``Z``)."""
        return {
            "id": self.id,
            "tlp": self.tlp,
            "caveats": list(self.caveats),
            "withdrawn": self.withdrawn,
            "created_at": self._created_iso,
        }

    @cached_property
    def _created_iso(self) -> str | None:
        # A page's sites share a few releases (one ReleaseRef each): format the time once.
        return _iso(self.created_at)


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is not UTC:
        t = t.astimezone(UTC)
    if t.year < 1000:  # strftime does not pad the year; isoformat does
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{t.isoformat(timespec='seconds')[:19]}Z"  # as strftime, several times faster


@dataclass(frozen=True)
class SiteView:
    """A site as one principal may see it.

    ``evidence`` and ``observations`` are ``None`` for partners; ``releases`` lists only the
    releases the principal may see (for a partner, those to its organisation).
    """

    id: str
    lon: float
    lat: float
    state: str
    site_class: str
    confidence: float
    first_seen: datetime
    last_seen: datetime
    reasons: tuple[str, ...]
    releases: tuple[ReleaseRef, ...]
    evidence: dict[str, Any] | None = None
    observations: int | None = None

    @property
    def withdrawn(self) -> bool:
        """Every release of the site the principal sees was withdrawn."""
        return bool(self.releases) and all(r.withdrawn for r in self.releases)

    def to_feature(self) -> dict[str, Any]:
        """Return the site as a GeoJSON Feature (RFC 7946); partners get no raw evidence."""
        releases = self.releases
        live = [r for r in releases if not r.withdrawn]
        withdrawn = bool(releases) and not live  # as the property, without a second pass
        if not live:
            live = list(releases)
        if len(live) == 1:  # the common case, without the generators
            caveats = list(dict.fromkeys(live[0].caveats))
        else:
            caveats = list(dict.fromkeys(c for r in live for c in r.caveats))
        props: dict[str, Any] = {
            "state": self.state,
            "class": self.site_class,
            "confidence": round(self.confidence, 4),
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "reasons": list(self.reasons),
            "tlp": _most_restrictive([r.tlp for r in live]) if live else None,
            "caveats": caveats,
            "withdrawn": withdrawn,
            "releases": [r.to_dict() for r in releases],
        }
        if self.evidence is not None:
            props["evidence"] = self.evidence
            props["observations"] = self.observations
        return {
            "type": "Feature",
            "id": self.id,
            "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
            "properties": props,
        }


def _most_restrictive(tlps: Sequence[str]) -> str:
    return min(tlps, key=TLP_MARKINGS.index)


@dataclass(frozen=True)
class ReleaseView:
    """A release as one principal may see it.

    ``recipients`` and ``acknowledgements`` name only the principal's own organisation for
    a partner; ``officer`` is ``None`` for partners. ``acknowledged`` is whether the
    principal's organisation acknowledged it (for the agency: whether every recipient did).
    """

    id: str
    tlp: str
    caveats: tuple[str, ...]
    site_ids: tuple[str, ...]
    recipients: tuple[str, ...]
    officer: str | None
    created_at: datetime
    amended_at: datetime | None
    withdrawn_at: datetime | None
    withdraw_reason: str | None
    acknowledged: bool
    version: int = 1
    acknowledgements: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def withdrawn(self) -> bool:
        """Whether the release was withdrawn."""
        return self.withdrawn_at is not None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values (times ISO 8601 with ``Z``)."""
        return {
            "id": self.id,
            "tlp": self.tlp,
            "caveats": list(self.caveats),
            "site_ids": list(self.site_ids),
            "recipients": list(self.recipients),
            "officer": self.officer,
            "created_at": _iso(self.created_at),
            "amended_at": _iso(self.amended_at),
            "withdrawn_at": _iso(self.withdrawn_at),
            "withdraw_reason": self.withdraw_reason,
            "withdrawn": self.withdrawn,
            "acknowledged": self.acknowledged,
            "acknowledgements": {k: _iso(v) for k, v in self.acknowledgements.items()},
            "version": self.version,
        }


@dataclass(frozen=True)
class OutcomeView:
    """A reported outcome (quantities normalised: kg, L, count)."""

    id: int
    release_id: str
    site_id: str
    org: str
    reporter: str
    outcome: str
    quantities: tuple[dict[str, Any], ...]
    observed_at: datetime
    reported_at: datetime
    text: str


# ---------------------------------------------------------------- helpers


def _when(now: datetime) -> datetime:
    return check_utc(now, "now").astimezone(UTC)


def _not_found_site(site_id: str) -> NotFoundError:
    return NotFoundError(f"site {site_id} not found")


def _not_found_release(release_id: str) -> NotFoundError:
    return NotFoundError(f"release {release_id} not found")


def _visible_site_ids(p: Principal) -> Select[str]:
    return (
        select(ReleaseSite.site_id)
        .join(ReleaseRecipient, ReleaseRecipient.release_id == ReleaseSite.release_id)
        .where(ReleaseRecipient.org_id == p.org_id)
    )


def _site_visible(p: Principal) -> ColumnElement[bool]:
    return Site.id.in_(_visible_site_ids(p))


def _is_officer(p: Principal) -> bool:
    return p.is_agency and p.role == "release_officer"


def _officer_refusal(p: Principal, what: str) -> ForbiddenError:
    return ForbiddenError(
        f"{p.user} ({p.role}, {p.org}) may not {what}: only a release officer of the agency may"
    )


def _require_officer(p: Principal, what: str) -> None:
    if not _is_officer(p):
        raise _officer_refusal(p, what)


def _clean_caveats(caveats: Sequence[str], tlp: str) -> tuple[str, ...]:
    from vigia.share.report import Marking

    if isinstance(caveats, str):
        raise InputError("caveats must be a list of strings, not one string")
    items = tuple(caveats)
    for c in items:
        if isinstance(c, str) and len(c) > 1000:
            raise InputError(f"caveat {c[:40]!r}…: longer than 1000 characters")
    m = Marking(tlp, items)  # checks the TLP label and every caveat
    return tuple(dict.fromkeys(m.caveats))


def _unique(values: Sequence[str], what: str) -> list[str]:
    if isinstance(values, str):
        raise InputError(f"{what}: give a list, not one string")
    out = list(dict.fromkeys(values))
    if not out:
        raise InputError(f"{what}: none given")
    for v in out:
        if not isinstance(v, str) or not v:
            raise InputError(f"{what}: {v!r} is not a name")
    return out


def _partner_orgs(session: Session, names: Sequence[str]) -> list[Organisation]:
    wanted = _unique(names, "recipients")
    found = {
        o.name: o
        for o in session.scalars(select(Organisation).where(Organisation.name.in_(wanted)))
    }
    missing = [n for n in wanted if n not in found]
    if missing:
        raise NotFoundError(f"organisation {', '.join(map(repr, missing))} does not exist")
    agency = [n for n in wanted if found[n].kind != "partner"]
    if agency:
        raise InputError(
            f"releases go to partner organisations; {', '.join(agency)} is the agency itself"
        )
    return [found[n] for n in wanted]


def _lock_sites_for_release(session: Session, p: Principal, site_ids: Sequence[str]) -> list[Site]:
    wanted = _unique(site_ids, "sites")
    sites = {
        s.id: s
        for s in session.scalars(
            select(Site).where(Site.id.in_(wanted)).order_by(Site.id).with_for_update()
        )
    }
    missing = [s for s in wanted if s not in sites]
    if missing:
        raise NotFoundError(f"site {', '.join(missing)} not found")
    bad = [f"{s} is {sites[s].state}" for s in wanted if sites[s].state not in RELEASABLE_STATES]
    if bad:
        raise ForbiddenError(
            f"only confirmed sites may be released: {'; '.join(bad)} (an analyst confirms first)"
        )
    confirmers = session.execute(
        select(ReviewDecision.site_id, ReviewDecision.actor).where(
            ReviewDecision.site_id.in_(wanted), ReviewDecision.action == "confirm"
        )
    ).all()
    own = sorted({site for site, actor in confirmers if actor == p.user})
    if own:
        raise ForbiddenError(
            f"two-person rule: {p.user} confirmed {', '.join(own)} and may not also release "
            "it; another release officer must"
        )
    return [sites[s] for s in wanted]


def _move(
    session: Session,
    p: Principal,
    site: Site,
    action: str,
    reason: str,
    detail: dict[str, Any],
    when: datetime,
) -> None:
    _transition(
        session, site, action, actor=p.user, role=p.role, reason=reason, detail=detail, when=when
    )


def _next_release_id(session: Session) -> str:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.scalar(
        select(Release.id).order_by(func.length(Release.id).desc(), Release.id.desc()).limit(1)
    )
    return release_id_of(1 if last is None else int(last.removeprefix("REL-")) + 1)


def _release_order() -> tuple[Any, ...]:
    return (func.length(Release.id), Release.id)


def _load_release(
    session: Session, p: Principal, release_id: str, *, lock: bool = False
) -> Release:
    q = select(Release).where(Release.id == release_id)
    if not p.is_agency:
        q = q.where(
            Release.id.in_(
                select(ReleaseRecipient.release_id).where(ReleaseRecipient.org_id == p.org_id)
            )
        )
    if lock:
        q = q.with_for_update()
    rel = session.scalar(q)
    if rel is None:
        raise _not_found_release(release_id)
    return rel


def _release_to_change(
    session: Session, p: Principal, release_id: str, *, allowed: bool, refusal: ForbiddenError
) -> Release:
    # The release `p` is about to change, locked. The role decides first, before any lock:
    # a caller whose role may not make the change is refused with 404 for a release it may
    # not see (a partner learns nothing of releases sent to others), else with `refusal`.
    if not allowed:
        _load_release(session, p, release_id)
        raise refusal
    return _load_release(session, p, release_id, lock=True)


def _release_views(session: Session, p: Principal, rels: Sequence[Release]) -> list[ReleaseView]:
    if not rels:
        return []
    ids = [r.id for r in rels]
    sites: dict[str, list[str]] = defaultdict(list)
    for rid, sid in session.execute(
        select(ReleaseSite.release_id, ReleaseSite.site_id)
        .where(ReleaseSite.release_id.in_(ids))
        .order_by(ReleaseSite.site_id)
    ):
        sites[rid].append(sid)
    acks: dict[str, dict[str, datetime | None]] = defaultdict(dict)
    q = (
        select(ReleaseRecipient.release_id, Organisation.name, ReleaseRecipient.acknowledged_at)
        .join(Organisation, Organisation.id == ReleaseRecipient.org_id)
        .where(ReleaseRecipient.release_id.in_(ids))
        .order_by(Organisation.name)
    )
    if not p.is_agency:
        q = q.where(ReleaseRecipient.org_id == p.org_id)
    for rid, org, at in session.execute(q):
        acks[rid][org] = at
    officers: dict[int, str] = {}
    if p.is_agency:
        officer_ids = {r.officer_id for r in rels}
        officers = dict(
            session.execute(select(User.id, User.name).where(User.id.in_(officer_ids))).all()
        )
    return [
        ReleaseView(
            id=r.id,
            tlp=r.tlp,
            caveats=tuple(r.caveats),
            site_ids=tuple(sites[r.id]),
            recipients=tuple(acks[r.id]),
            officer=officers.get(r.officer_id) if p.is_agency else None,
            created_at=r.created_at,
            amended_at=r.amended_at,
            withdrawn_at=r.withdrawn_at,
            withdraw_reason=r.withdraw_reason,
            acknowledged=bool(acks[r.id]) and all(v is not None for v in acks[r.id].values()),
            version=r.version,
            acknowledgements=dict(acks[r.id]),
        )
        for r in rels
    ]


# ---------------------------------------------------------------- sites


def list_visible_sites(
    session: Session,
    p: Principal,
    *,
    bbox: BBox | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[SiteView], int]:
    """List the sites a principal may see, filtered by box and time, ordered by id.

    Parameters
    ----------
    session : Session
        An open session.
    p : Principal
        Who asks.
    bbox : tuple of float, optional
        ``(min_lon, min_lat, max_lon, max_lat)``, degrees: sites whose box meets it.
    start, end : datetime, optional
        Sites seen within ``[start, end]`` (UTC-aware).
    limit : int
        Page size, 1 to 10 000.
    offset : int
        Sites to skip (0 or more).

    Returns
    -------
    (list of SiteView, int)
        The page and how many sites match in all.

    Raises
    ------
    InputError
        A bad box, naive times, or a limit or offset out of range.

    Notes
    -----
    The service reads :func:`list_visible_feature_json` (the same features, as JSON). This
    reads plain rows of the columns a view needs on the
    session's connection (no ORM objects, no ORM result machinery), tests a partner's
    visibility per site with an ``EXISTS`` on ``release_sites(site_id)`` (a page is found
    without listing every visible site), counts a box or time filter's matches in the
    query of the page (a window count over the matches it sorts anyway), and counts
    otherwise only when the page itself does not tell the total.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit {limit!r}: must be a whole number from 1 to {MAX_PAGE}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InputError(f"offset {offset!r}: must be a whole number, 0 or more")
    filtered = bbox is not None or start is not None or end is not None
    # Far into the list, one pass over the visible ids beats a probe per site skipped.
    far = not filtered and offset >= _FAR_OFFSET
    params = {"org_id": p.org_id, "limit": limit, "offset": offset}
    # Core execution: these are column reads, and the ORM's result machinery cost more than
    # the queries themselves.
    conn = session.connection()
    if filtered:
        q = sites_query(bbox=bbox, start=start, end=end).with_only_columns(*_view_columns(p))
        if not p.is_agency:
            q = q.where(_VISIBLE_EXISTS)
        # Every match is found and sorted by id before the page is cut from them: the same
        # pass counts them (the total is each row's last column).
        page = q.add_columns(func.count().over()).limit(_LIMIT).offset(_OFFSET)
    else:
        page = _PAGES[p.is_agency, far]
    rows = conn.execute(page, params).all()
    if filtered and rows:
        total = int(rows[0][-1])
    elif len(rows) < limit and (rows or offset == 0):
        total = offset + len(rows)  # the last page: it tells the total itself
    elif filtered:  # past the last match: count them alone
        total = int(conn.scalar(q.with_only_columns(func.count()).order_by(None), params) or 0)
    elif p.is_agency:
        total = int(conn.scalar(_COUNT_ALL) or 0)
    else:
        total = _partner_total(conn, p)
    return _site_views(conn, p, rows), total


_FAR_OFFSET: Final = 2000
_LIMIT: Final[BindParameter[int]] = bindparam("limit", type_=Integer)
_OFFSET: Final[BindParameter[int]] = bindparam("offset", type_=Integer)
_VIEW_COLUMNS: Final = (
    Site.id,
    Site.lon,
    Site.lat,
    Site.state,
    Site.site_class,
    Site.confidence,
    Site.first_seen,
    Site.last_seen,
    Site.reasons,
)


def _view_columns(p: Principal) -> tuple[Any, ...]:
    """Return the site columns a view needs: the evidence only for the agency."""
    return (*_VIEW_COLUMNS, Site.evidence) if p.is_agency else _VIEW_COLUMNS


# The statements of the read path, built once (parameters: org_id, ids, rids, site_id, limit,
# offset). A partner's visibility is tested per site from release_sites(site_id).
_VISIBLE_EXISTS: Final = (
    select(ReleaseSite.site_id)
    .join(ReleaseRecipient, ReleaseRecipient.release_id == ReleaseSite.release_id)
    .where(ReleaseSite.site_id == Site.id, ReleaseRecipient.org_id == bindparam("org_id"))
    .exists()
)
_VISIBLE_IN: Final = Site.id.in_(
    select(ReleaseSite.site_id)
    .join(ReleaseRecipient, ReleaseRecipient.release_id == ReleaseSite.release_id)
    .where(ReleaseRecipient.org_id == bindparam("org_id"))
)
_PAGES: Final = {
    (agency, far): select(*(_VIEW_COLUMNS if not agency else (*_VIEW_COLUMNS, Site.evidence)))
    .where(*(() if agency else (_VISIBLE_IN if far else _VISIBLE_EXISTS,)))
    .order_by(Site.id)
    .limit(_LIMIT)
    .offset(_OFFSET)
    for agency in (False, True)
    for far in (False, True)
}
_ONE: Final = {
    True: select(*_VIEW_COLUMNS, Site.evidence).where(Site.id == bindparam("site_id")),
    False: select(*_VIEW_COLUMNS).where(Site.id == bindparam("site_id"), _VISIBLE_EXISTS),
}
_COUNT_ALL: Final = select(func.count()).select_from(Site)
_COUNT_ALL_AT: Final = _COUNT_ALL.add_columns(CHANGES)
_PAIRS_AGENCY: Final = select(ReleaseSite.site_id, ReleaseSite.release_id).where(
    ReleaseSite.site_id.in_(bindparam("ids", expanding=True))
)
_PAIRS_PARTNER: Final = (
    select(ReleaseSite.site_id, ReleaseSite.release_id, ReleaseRecipient.acknowledged_at)
    .join(ReleaseRecipient, ReleaseRecipient.release_id == ReleaseSite.release_id)
    .where(
        ReleaseSite.site_id.in_(bindparam("ids", expanding=True)),
        ReleaseRecipient.org_id == bindparam("org_id"),
    )
)
_RELEASE_REFS: Final = select(
    Release.id, Release.tlp, Release.caveats, Release.withdrawn_at, Release.created_at
).where(Release.id.in_(bindparam("rids", expanding=True)))
_OBSERVATIONS: Final = (
    select(SiteObservation.site_id, func.count())
    .where(SiteObservation.site_id.in_(bindparam("ids", expanding=True)))
    .group_by(SiteObservation.site_id)
)
_ACTIONED: Final = select(Outcome.site_id).where(
    Outcome.site_id.in_(bindparam("ids", expanding=True)), Outcome.org_id == bindparam("org_id")
)
_CHANGES: Final = DriverStatement(select(CHANGES))
_CHANGES_AND_TOTAL: Final = DriverStatement(
    select(
        CHANGES,
        select(func.count())  # a partner's rows: one per site it may see (migration 0006)
        .select_from(PartnerSite)
        .where(PartnerSite.org_id == bindparam("org_id"))
        .scalar_subquery(),
    )
)

_TOTALS: WeakKeyDictionary[Engine, dict[int, tuple[int, int]]] = WeakKeyDictionary()
"""Per store and partner organisation: (the store's change count, its visible sites)."""


def _partner_total(conn: Connection, p: Principal) -> int:
    """Return how many sites a partner may see (:func:`_partner_count`)."""
    return run_steps(conn, _partner_count(conn.engine, p, None))[0]


def _partner_count(
    engine: Engine, p: Principal, changes: int | None
) -> Steps[tuple[int, int | None]]:
    """Read how many sites a partner may see, counted again only when the store changed.

    The store's change counter (:mod:`vigia.store.changes`; one row, read by its key) moves
    in the transaction of every change to ``release_sites`` and ``release_recipients``,
    whoever makes it, so a total counted at the same count still holds. The count and the
    total are read in one statement (one snapshot on every back end and isolation level).
    Counting the sharing tables' rows instead took a scan of each on PostgreSQL per page.
    ``changes`` is the counter as the page was read, in the page's own statement (then
    the total needs no statement of its own while it is the count kept); ``None``, it is
    read here. Returns the total and the count it holds at (``None``: not known).
    """
    totals = _TOTALS.setdefault(engine, {})
    known = totals.get(p.org_id)
    if known is not None:
        if changes is None:
            changes = (yield Query(_CHANGES, {}))[0][0]
        if changes == known[0]:
            return known[1], known[0]
    seen, total = (yield Query(_CHANGES_AND_TOTAL, {"org_id": p.org_id}))[0]
    if seen is not None:
        totals[p.org_id] = (int(seen), int(total))
    return int(total), None if seen is None else int(seen)


def get_visible_site(session: Session, p: Principal, site_id: str) -> SiteView:
    """Return one site as the principal may see it.

    Raises
    ------
    NotFoundError
        If the site does not exist or the principal may not see it (same message).
    """
    conn = session.connection()
    row = conn.execute(_ONE[p.is_agency], {"site_id": site_id, "org_id": p.org_id}).first()
    if row is None:
        raise _not_found_site(site_id)
    return _site_views(conn, p, [row])[0]


def _ref_order(ref: ReleaseRef) -> tuple[datetime, int, str]:
    return ref.created_at, len(ref.id), ref.id


def _site_views(conn: Connection, p: Principal, rows: Sequence[Sequence[Any]]) -> list[SiteView]:
    """Build the views of a page of site rows (columns of :func:`_view_columns`)."""
    if not rows:
        return []
    ids = [r[0] for r in rows]
    # The releases carrying each site, starting from the page's ids (release_sites.site_id
    # index); for a partner only its organisation's, with its acknowledgement.
    pairs: list[tuple[str, str]] = []
    acked: set[str] = set()
    if p.is_agency:
        pairs = [(sid, rid) for sid, rid in conn.execute(_PAIRS_AGENCY, {"ids": ids})]
    else:
        for sid, rid, at in conn.execute(_PAIRS_PARTNER, {"ids": ids, "org_id": p.org_id}):
            pairs.append((sid, rid))
            if at is not None:
                acked.add(sid)
    by_release: dict[str, ReleaseRef] = {}
    if pairs:
        rids = sorted({rid for _, rid in pairs})
        for rid, tlp, caveats, withdrawn_at, created_at in conn.execute(
            _RELEASE_REFS, {"rids": rids}
        ):
            by_release[rid] = ReleaseRef(
                rid, tlp, tuple(caveats), withdrawn_at is not None, created_at
            )
    refs: dict[str, list[ReleaseRef]] = defaultdict(list)
    for sid, rid in pairs:
        refs[sid].append(by_release[rid])
    for found in refs.values():
        found.sort(key=_ref_order)
    if p.is_agency:
        counts: dict[str, int] = dict(conn.execute(_OBSERVATIONS, {"ids": ids}).all())
        return [
            SiteView(
                id=r[0],
                lon=r[1],
                lat=r[2],
                state=r[3],
                site_class=r[4],
                confidence=r[5],
                first_seen=r[6],
                last_seen=r[7],
                reasons=tuple(r[8]),
                releases=tuple(refs.get(r[0], ())),
                evidence=dict(r[9]),
                observations=counts.get(r[0], 0),
            )
            for r in rows
        ]
    actioned = set(conn.scalars(_ACTIONED, {"ids": ids, "org_id": p.org_id}))
    return [
        SiteView(
            id=r[0],
            lon=r[1],
            lat=r[2],
            state=_partner_state(r[0], r[3], acked, actioned),
            site_class=r[4],
            confidence=r[5],
            first_seen=r[6],
            last_seen=r[7],
            reasons=tuple(r[8]),
            releases=tuple(refs.get(r[0], ())),
        )
        for r in rows
    ]


def _partner_state(site_id: str, stored: str, acked: set[str], actioned: set[str]) -> str:
    """Return a site's state as the partner's own steps have it (:func:`_partner_states`)."""
    if stored == "closed":
        return "closed"
    if site_id in actioned:
        return "actioned"
    if site_id in acked:
        return "acknowledged"
    return "released"


def _partner_states(session: Session, p: Principal, sites: Sequence[Site]) -> dict[str, str]:
    """Each site's state as the partner's own steps have it.

    The stored state is the furthest any recipient took the site; showing it to every partner
    would tell one partner what another did. A partner sees ``released``, ``acknowledged``
    once it acknowledged a release carrying the site, ``actioned`` once it reported an
    outcome, and ``closed`` when the agency closed the site.
    """
    ids = [s.id for s in sites]
    acked = set(
        session.scalars(
            select(ReleaseSite.site_id)
            .join(ReleaseRecipient, ReleaseRecipient.release_id == ReleaseSite.release_id)
            .where(
                ReleaseSite.site_id.in_(ids),
                ReleaseRecipient.org_id == p.org_id,
                ReleaseRecipient.acknowledged_at.is_not(None),
            )
        )
    )
    actioned = set(
        session.scalars(
            select(Outcome.site_id).where(Outcome.site_id.in_(ids), Outcome.org_id == p.org_id)
        )
    )
    return {s.id: _partner_state(s.id, s.state, acked, actioned) for s in sites}


# ---------------------------------------------------------------- releases


def release_sites(
    session: Session,
    p: Principal,
    site_ids: Sequence[str],
    to_orgs: Sequence[str],
    *,
    tlp: str,
    caveats: Sequence[str],
    now: datetime,
) -> str:
    """Release confirmed sites to partner organisations under a TLP marking.

    Parameters
    ----------
    session : Session
        An open write session.
    p : Principal
        The release officer (agency).
    site_ids : sequence of str
        Sites, each ``confirmed`` (or already released, to release it to more partners).
    to_orgs : sequence of str
        Partner organisations it goes to.
    tlp : str
        TLP 2.0 label (``TLP:AMBER``...).
    caveats : sequence of str
        Handling caveats (may be empty).
    now : datetime
        Release time, UTC-aware.

    Returns
    -------
    str
        The release id (``REL-0001``).

    Raises
    ------
    ForbiddenError
        Not a release officer of the agency; a site not confirmed; the officer confirmed one
        of the sites (two-person rule).
    NotFoundError
        An unknown site or organisation.
    InputError
        No sites or recipients, a recipient that is not a partner, a bad TLP or caveat.
    """
    serialise_sharing(session)
    when = _when(now)
    _require_officer(p, "release sites")
    marks = _clean_caveats(caveats, tlp)
    orgs = _partner_orgs(session, to_orgs)
    sites = _lock_sites_for_release(session, p, site_ids)
    rid = _next_release_id(session)
    session.add(
        Release(
            id=rid,
            officer_id=p.user_id,
            tlp=tlp,
            caveats=list(marks),
            created_at=when,
            amended_at=None,
            withdrawn_at=None,
            withdraw_reason=None,
            version=1,
        )
    )
    session.flush()
    session.add_all(ReleaseSite(release_id=rid, site_id=s.id) for s in sites)
    session.add_all(ReleaseRecipient(release_id=rid, org_id=o.id) for o in orgs)
    detail = {"release": rid, "tlp": tlp, "caveats": list(marks), "to": [o.name for o in orgs]}
    for s in sites:
        if s.state == "confirmed":
            _move(
                session,
                p,
                s,
                "release",
                f"released in {rid} to {', '.join(detail['to'])}",
                detail,
                when,
            )
    session.flush()
    store_partner_features(session, [s.id for s in sites])
    return rid


def amend_release(
    session: Session,
    p: Principal,
    release_id: str,
    *,
    tlp: str | None = None,
    caveats: Sequence[str] | None = None,
    add_sites: Sequence[str] = (),
    add_orgs: Sequence[str] = (),
    now: datetime,
) -> None:
    """Change a release's marking or caveats, or add sites or recipients to it.

    Parameters
    ----------
    session : Session
        An open write session.
    p : Principal
        A release officer of the agency.
    release_id : str
        The release (not withdrawn).
    tlp : str, optional
        New TLP label.
    caveats : sequence of str, optional
        New caveats (replace the old ones).
    add_sites : sequence of str
        Sites to add (the rules of :func:`release_sites` apply).
    add_orgs : sequence of str
        Partner organisations to add as recipients.
    now : datetime
        Time of the amendment, UTC-aware.

    Raises
    ------
    NotFoundError
        No such release, or one the principal may not see (a partner: not sent to its
        organisation), whatever its role; a site or organisation to add that does not exist.
    ForbiddenError
        A release the principal sees, but it is not a release officer of the agency; sites
        to add that :func:`release_sites` would refuse.
    InputError
        As :func:`release_sites`.
    LifecycleError
        If the release was withdrawn, or nothing would change.
    """
    serialise_sharing(session)
    when = _when(now)
    rel = _release_to_change(
        session,
        p,
        release_id,
        allowed=_is_officer(p),
        refusal=_officer_refusal(p, "amend releases"),
    )
    if rel.withdrawn_at is not None:
        raise LifecycleError(f"release {release_id} was withdrawn and cannot be amended")
    new_tlp = rel.tlp if tlp is None else tlp
    new_caveats = _clean_caveats(list(rel.caveats) if caveats is None else caveats, new_tlp)
    have_sites = set(
        session.scalars(select(ReleaseSite.site_id).where(ReleaseSite.release_id == rel.id))
    )
    have_orgs = set(
        session.scalars(
            select(ReleaseRecipient.org_id).where(ReleaseRecipient.release_id == rel.id)
        )
    )
    orgs = (
        [o for o in _partner_orgs(session, add_orgs) if o.id not in have_orgs] if add_orgs else []
    )
    sites = (
        [s for s in _lock_sites_for_release(session, p, add_sites) if s.id not in have_sites]
        if add_sites
        else []
    )
    if new_tlp == rel.tlp and list(new_caveats) == list(rel.caveats) and not sites and not orgs:
        raise LifecycleError(f"release {release_id}: the amendment changes nothing")
    rel.tlp = new_tlp
    rel.caveats = list(new_caveats)
    rel.amended_at = when
    rel.version += 1
    session.add_all(ReleaseSite(release_id=rel.id, site_id=s.id) for s in sites)
    session.add_all(ReleaseRecipient(release_id=rel.id, org_id=o.id) for o in orgs)
    names = list(
        session.scalars(
            select(Organisation.name)
            .join(ReleaseRecipient, ReleaseRecipient.org_id == Organisation.id)
            .where(ReleaseRecipient.release_id == rel.id)
        )
    ) + [o.name for o in orgs]
    detail = {
        "release": rel.id,
        "tlp": new_tlp,
        "caveats": list(new_caveats),
        "to": sorted(set(names)),
    }
    for s in sites:
        if s.state == "confirmed":
            _move(
                session,
                p,
                s,
                "release",
                f"added to {rel.id} (amendment {rel.version})",
                detail,
                when,
            )
    session.flush()
    store_partner_features(session, sorted(have_sites | {s.id for s in sites}))


def withdraw_release(
    session: Session, p: Principal, release_id: str, *, reason: str, now: datetime
) -> None:
    """Withdraw a release; its recipients keep seeing it, marked withdrawn, with the reason.

    Raises
    ------
    NotFoundError
        No such release, or one the principal may not see (a partner: not sent to its
        organisation), whatever its role.
    ForbiddenError
        A release the principal sees, but it is not a release officer of the agency.
    InputError
        An empty reason.
    LifecycleError
        Already withdrawn.
    """
    serialise_sharing(session)
    when = _when(now)
    rel = _release_to_change(
        session,
        p,
        release_id,
        allowed=_is_officer(p),
        refusal=_officer_refusal(p, "withdraw releases"),
    )
    if not isinstance(reason, str) or not reason.strip():
        raise InputError(f"release {release_id}: a withdrawal needs a reason")
    if len(reason) > _MAX_TEXT:
        raise InputError(f"release {release_id}: the reason is longer than {_MAX_TEXT} characters")
    if rel.withdrawn_at is not None:
        raise LifecycleError(
            f"release {release_id} was already withdrawn at {_iso(rel.withdrawn_at)}"
        )
    rel.withdrawn_at = when
    rel.withdraw_reason = reason.strip()
    rel.version += 1
    session.flush()
    store_partner_features(session, _release_site_ids(session, rel.id))


def list_releases(session: Session, p: Principal) -> list[ReleaseView]:
    """List the releases a principal may see (a partner: those to its organisation), by id."""
    q = select(Release).order_by(*_release_order())
    if not p.is_agency:
        q = q.where(
            Release.id.in_(
                select(ReleaseRecipient.release_id).where(ReleaseRecipient.org_id == p.org_id)
            )
        )
    return _release_views(session, p, list(session.scalars(q)))


def get_release(session: Session, p: Principal, release_id: str) -> ReleaseView:
    """Return one release as the principal may see it.

    Raises
    ------
    NotFoundError
        If it does not exist or was not released to the principal's organisation.
    """
    return _release_views(session, p, [_load_release(session, p, release_id)])[0]


def _is_partner_officer(p: Principal) -> bool:
    return not p.is_agency and p.role == "partner_officer"


def _partner_officer_refusal(p: Principal, what: str) -> ForbiddenError:
    return ForbiddenError(
        f"{p.user} ({p.role}, {p.org}) may not {what}: only a partner officer of a "
        "recipient organisation may"
    )


def _require_partner_officer(p: Principal, what: str) -> None:
    if not _is_partner_officer(p):
        raise _partner_officer_refusal(p, what)


def acknowledge_release(session: Session, p: Principal, release_id: str, *, now: datetime) -> None:
    """Acknowledge receipt of a release for the principal's organisation.

    Its ``released`` sites move to ``acknowledged``. Acknowledging again changes nothing.

    Raises
    ------
    NotFoundError
        No such release, or not one to the principal's organisation (a partner's).
    ForbiddenError
        A release the principal sees, but it is not a partner officer.
    LifecycleError
        The release was withdrawn.
    """
    serialise_sharing(session)
    when = _when(now)
    rel = _release_to_change(
        session,
        p,
        release_id,
        allowed=_is_partner_officer(p),
        refusal=_partner_officer_refusal(p, "acknowledge releases"),
    )
    if rel.withdrawn_at is not None:
        raise LifecycleError(f"release {release_id} was withdrawn: there is nothing to act on")
    _acknowledge(session, p, rel, when)


def _acknowledge(session: Session, p: Principal, rel: Release, when: datetime) -> None:
    rec = session.scalar(
        select(ReleaseRecipient)
        .where(ReleaseRecipient.release_id == rel.id, ReleaseRecipient.org_id == p.org_id)
        .with_for_update()
    )
    assert rec is not None  # _load_release checked that p's org is a recipient
    if rec.acknowledged_at is not None:
        return
    rec.acknowledged_at = when
    rec.acknowledged_by = p.user_id
    sites = list(
        session.scalars(
            select(Site)
            .where(Site.id.in_(select(ReleaseSite.site_id).where(ReleaseSite.release_id == rel.id)))
            .order_by(Site.id)
            .with_for_update()
        )
    )
    for s in sites:
        if s.state == "released":
            _move(
                session,
                p,
                s,
                "acknowledge",
                f"{rel.id} acknowledged by {p.org}",
                {"release": rel.id, "org": p.org},
                when,
            )
    session.flush()
    store_partner_features(session, [s.id for s in sites])


def report_outcome(
    session: Session,
    p: Principal,
    site_id: str,
    *,
    outcome: str,
    quantities: Sequence[Mapping[str, Any]],
    text: str,
    observed_at: datetime,
    now: datetime,
) -> int:
    """Record what a partner found at a site released to it.

    Parameters
    ----------
    session : Session
        An open write session.
    p : Principal
        A partner officer of an organisation the site was released to.
    site_id : str
        The site.
    outcome : {"dismantled", "nothing_found", "inactive", "seizure"}
        What was found.
    quantities : sequence of mapping
        ``{"item", "amount", "unit"}`` of each seized item; only (and always) for a
        ``seizure``. Stored normalised (:func:`vigia.share.units.normalise_outcome`: lb → kg).
    text : str
        Free text (may be empty).
    observed_at : datetime
        When the partner was at the site, UTC-aware: not before the release, not after
        ``now``.
    now : datetime
        Report time, UTC-aware.

    Returns
    -------
    int
        The outcome's id.

    Raises
    ------
    NotFoundError
        The site does not exist or was not released to the principal's organisation.
    ForbiddenError
        Not a partner officer.
    InputError
        Unknown outcome, bad quantities or units, a time out of range, text too long.
    LifecycleError
        Every release of the site to the organisation was withdrawn, or the site is closed.
    """
    serialise_sharing(session)
    from vigia.share.units import normalise_outcome

    when = _when(now)
    seen = check_utc(observed_at, "outcome: observed_at").astimezone(UTC)
    if p.is_agency:  # the agency sees every site but reports no outcomes
        if session.get(Site, site_id) is None:
            raise _not_found_site(site_id)
        _require_partner_officer(p, "report outcomes")
    site = session.scalar(select(Site).where(Site.id == site_id, _site_visible(p)))
    if site is None:
        raise _not_found_site(site_id)
    _require_partner_officer(p, "report outcomes")
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        raise InputError(
            f"site {site_id}: the outcome text must be a string of at most {_MAX_TEXT} characters"
        )
    normalised = normalise_outcome(outcome, list(quantities))
    rels = list(
        session.scalars(
            select(Release)
            .join(ReleaseSite, ReleaseSite.release_id == Release.id)
            .join(ReleaseRecipient, ReleaseRecipient.release_id == Release.id)
            .where(
                ReleaseSite.site_id == site_id,
                ReleaseRecipient.org_id == p.org_id,
                Release.withdrawn_at.is_(None),
            )
            .order_by(Release.created_at.desc(), func.length(Release.id).desc(), Release.id.desc())
        )
    )
    if not rels:
        raise LifecycleError(
            f"site {site_id}: every release of it to {p.org} was withdrawn; "
            "there is nothing to report on"
        )
    rel = rels[0]
    # Lock as acknowledge_release does (the release, then its sites by id), so the two cannot
    # deadlock; populate_existing reloads the states under the lock.
    session.scalar(select(Release).where(Release.id == rel.id).with_for_update())
    locked = list(
        session.scalars(
            select(Site)
            .where(Site.id.in_(select(ReleaseSite.site_id).where(ReleaseSite.release_id == rel.id)))
            .order_by(Site.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    site = next(x for x in locked if x.id == site_id)
    if seen < rel.created_at:
        raise InputError(
            f"site {site_id}: observed_at {_iso(seen)} is before its release {rel.id} "
            f"({_iso(rel.created_at)})"
        )
    if seen > when:
        raise InputError(
            f"site {site_id}: observed_at {_iso(seen)} is in the future (now {_iso(when)})"
        )
    _acknowledge(session, p, rel, when)
    detail = {
        "release": rel.id,
        "outcome": outcome,
        "quantities": [q.to_dict() for q in normalised],
    }
    if site.state == "released":  # added to a release this organisation had acknowledged
        _move(
            session,
            p,
            site,
            "acknowledge",
            f"{rel.id} acknowledged by {p.org}",
            {"release": rel.id, "org": p.org},
            when,
        )
    if site.state != "actioned":
        _move(session, p, site, "report_outcome", f"{outcome} reported by {p.org}", detail, when)
    row = Outcome(
        release_id=rel.id,
        site_id=site_id,
        org_id=p.org_id,
        reporter_id=p.user_id,
        outcome=outcome,
        quantities=[q.to_dict() for q in normalised],
        observed_at=seen,
        reported_at=when,
        text=text.strip(),
    )
    session.add(row)
    session.flush()
    store_partner_features(session, [site_id])
    return row.id


def list_outcomes(
    session: Session, p: Principal, *, site_id: str | None = None
) -> list[OutcomeView]:
    """List outcomes the principal may see (a partner: its own organisation's), oldest first."""
    q = (
        select(Outcome, Organisation.name, User.name)
        .join(Organisation, Organisation.id == Outcome.org_id)
        .join(User, User.id == Outcome.reporter_id)
        .order_by(Outcome.reported_at, Outcome.id)
    )
    if not p.is_agency:
        q = q.where(Outcome.org_id == p.org_id)
    if site_id is not None:
        q = q.where(Outcome.site_id == site_id)
    return [
        OutcomeView(
            id=o.id,
            release_id=o.release_id,
            site_id=o.site_id,
            org=org,
            reporter=user,
            outcome=o.outcome,
            quantities=tuple(o.quantities),
            observed_at=o.observed_at,
            reported_at=o.reported_at,
            text=o.text,
        )
        for o, org, user in session.execute(q)
    ]


# ---------------------------------------------------------------- exports and metrics


def _evidence_words(evidence: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    for kind, counts in sorted(dict(evidence.get("passes", {})).items()):
        if isinstance(counts, Mapping):
            out.append(
                f"{kind}: seen on {counts.get('seen', 0)} of {counts.get('looked', 0)} passes"
            )
    return tuple(out)


def site_reports(session: Session, p: Principal, release_id: str) -> list[SiteReport]:
    """Build the reports of a release's sites, as the principal may receive them (for exports).

    Partners get the evidence in words only (counts of passes, species), no raw detections,
    and of the recipients only their own organisation.

    Raises
    ------
    NotFoundError
        If the release does not exist or was not released to the principal's organisation.
    """
    from vigia.share.report import Marking, SiteReport

    view = get_release(session, p, release_id)
    agency = (
        session.scalar(select(Organisation.name).where(Organisation.kind == "agency")) or "agency"
    )
    sites = {s.id: s for s in session.scalars(select(Site).where(Site.id.in_(view.site_ids)))}
    states = (
        {s.id: s.state for s in sites.values()}
        if p.is_agency
        else _partner_states(session, p, list(sites.values()))
    )
    marking = Marking(view.tlp, view.caveats)
    changed = [t for t in (view.amended_at, view.withdrawn_at) if t is not None]
    out = []
    for sid in view.site_ids:
        s = sites[sid]
        ev = dict(s.evidence)
        passes = [
            int(c.get("seen", 0))
            for c in dict(ev.get("passes", {})).values()
            if isinstance(c, Mapping)
        ]
        out.append(
            SiteReport(
                site_id=s.id,
                lon=s.lon,
                lat=s.lat,
                site_class=s.site_class,
                confidence=s.confidence,
                state=states[s.id],
                first_seen=s.first_seen,
                last_seen=s.last_seen,
                reasons=tuple(r for r in s.reasons if r.strip()),
                evidence=_evidence_words(ev),
                species=tuple(str(x) for x in ev.get("species", []) if str(x).strip()),
                location_error_m=float(ev.get("position_sigma_m", 0.0) or 0.0),
                passes=max([1, *passes]),
                release_id=view.id,
                released_at=view.created_at,
                released_to=view.recipients,
                marking=marking,
                originator=agency,
                withdrawn=view.withdrawn,
                amended_at=max(changed) if changed else None,
            )
        )
    return out


def site_timelines(session: Session, p: Principal) -> list[SiteTimeline]:
    """Return, for every released site and partner it went to, the times of each step.

    One timeline per (site, partner) pair of live (not withdrawn) releases: first detection
    (of the site's observations; its ``first_seen`` when it has none), the analyst's
    confirmation, the first release to that partner, the partner's first acknowledgement,
    and its first outcome (``observed_at`` is the action time). For the agency's metrics only.

    Parameters
    ----------
    session : Session
        An open session.
    p : Principal
        Who asks: the agency (any role); the console reading the store directly (``vigia
        metrics``, the demo) as :meth:`Principal.local_operator`.

    Returns
    -------
    list of SiteTimeline
        By site and partner.

    Raises
    ------
    ForbiddenError
        For a partner: every partner's steps are in them.
    """
    from vigia.share.metrics import SiteTimeline
    from vigia.share.units import Quantity

    if not p.is_agency:
        raise ForbiddenError(
            f"{p.user} ({p.role}, {p.org}) may not read the metrics: they are the agency's"
        )

    pairs = session.execute(
        select(
            ReleaseSite.site_id,
            Organisation.name,
            func.min(Release.created_at),
            func.min(ReleaseRecipient.acknowledged_at),
        )
        .join(Release, Release.id == ReleaseSite.release_id)
        .join(ReleaseRecipient, ReleaseRecipient.release_id == Release.id)
        .join(Organisation, Organisation.id == ReleaseRecipient.org_id)
        .where(Release.withdrawn_at.is_(None))
        .group_by(ReleaseSite.site_id, Organisation.name)
        .order_by(ReleaseSite.site_id, Organisation.name)
    ).all()
    if not pairs:
        return []
    site_ids = sorted({p[0] for p in pairs})
    sites = {s.id: s for s in session.scalars(select(Site).where(Site.id.in_(site_ids)))}
    detected = dict(
        session.execute(
            select(SiteObservation.site_id, func.min(DetectionRow.time))
            .join(DetectionRow, DetectionRow.id == SiteObservation.detection_id)
            .where(SiteObservation.site_id.in_(site_ids))
            .group_by(SiteObservation.site_id)
        ).all()
    )
    confirmed = dict(
        session.execute(
            select(ReviewDecision.site_id, func.max(ReviewDecision.time))
            .where(ReviewDecision.site_id.in_(site_ids), ReviewDecision.action == "confirm")
            .group_by(ReviewDecision.site_id)
        ).all()
    )
    first_outcome: dict[tuple[str, str], Outcome] = {}
    for o, org in session.execute(
        select(Outcome, Organisation.name)
        .join(Organisation, Organisation.id == Outcome.org_id)
        .where(Outcome.site_id.in_(site_ids))
        .order_by(Outcome.observed_at, Outcome.id)
    ):
        first_outcome.setdefault((o.site_id, org), o)
    out = []
    for sid, org, released_at, acked_at in pairs:
        s = sites[sid]
        first = detected.get(sid) or s.first_seen
        first = _aware(first)
        released_at = _aware(released_at)
        first_o = first_outcome.get((sid, org))
        out.append(
            SiteTimeline(
                site_id=sid,
                first_detected=min(first, released_at),
                confirmed_at=_aware(confirmed.get(sid) or released_at),
                released_at=released_at,
                acknowledged_at=None if acked_at is None else _aware(acked_at),
                actioned_at=None if first_o is None else first_o.observed_at,
                outcome=None if first_o is None else first_o.outcome,
                quantities=()
                if first_o is None
                else tuple(Quantity.from_dict(q) for q in first_o.quantities),
                partner=org,
            )
        )
    return out


def _aware(t: datetime) -> datetime:
    # Aggregates (min/max) bypass the column type on SQLite and come back naive or as text.
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


# ---------------------------------------------------------------- features: the read path


def list_visible_features(
    session: Session,
    p: Principal,
    *,
    bbox: BBox | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """List the sites a principal may see as GeoJSON Features, as :func:`list_visible_sites`.

    The same sites, order, total and features as ``[s.to_feature() for s in page]`` of
    :func:`list_visible_sites`, read in one statement (the page, each site's releases the
    principal may see and, for a partner, whether its organisation acknowledged or acted on
    the site) and built straight from the raw column values.

    Parameters
    ----------
    session : Session
        An open session.
    p : Principal
        Who asks.
    bbox : tuple of float, optional
        ``(min_lon, min_lat, max_lon, max_lat)``, degrees: sites whose box meets it.
    start, end : datetime, optional
        Sites seen within ``[start, end]`` (UTC-aware).
    limit : int
        Page size, 1 to 10 000.
    offset : int
        Sites to skip (0 or more).

    Returns
    -------
    (list of dict, int)
        The page's features and how many sites match in all.

    Raises
    ------
    InputError
        A bad box, naive times, or a limit or offset out of range.
    """
    window = _Window.of(p, bbox, start, end, limit, offset)
    features, total, _ = _feature_page(session.connection(), p, window)
    return features, total


def _feature_page(
    conn: Connection, p: Principal, window: _Window
) -> tuple[list[dict[str, Any]], int, int | None]:
    """Read a page of features, its total and the change count they were read at."""
    if window.shape is not None:
        stmt = _FILTERED_PAGES[window.shape]
    else:
        stmt = _FEATURE_PAGES[p.is_agency, window.far]
    rows = conn.execute(stmt, window.params).all()
    features = _features(p.is_agency, rows)
    total = window.total(conn.engine, p, rows[0] if rows else None, len(features))
    return features, *run_steps(conn, total)


@dataclass(frozen=True)
class FeaturePage:
    """A page of features as JSON texts, how many match in all, and when it was read.

    Attributes
    ----------
    features : list of str
        The page's features, each as the JSON :func:`orjson.dumps` writes for it.
    matched : int
        How many sites match in all.
    changes : int or None
        The store's change counter (:mod:`vigia.store.changes`) that every statement of
        the read saw, in the same snapshot as what it read; ``None`` when that is not known
        (an empty page, or statements that saw different counts).
    """

    features: list[str]
    matched: int
    changes: int | None


def _connection(source: Session | Connection) -> Connection:
    return source if isinstance(source, Connection) else source.connection()


def list_visible_feature_json(
    session: Session,
    p: Principal,
    *,
    bbox: BBox | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[str], int]:
    """List the sites a principal may see as GeoJSON Features, each as its JSON text.

    The JSON of the features of :func:`list_visible_features` (as :func:`orjson.dumps`
    writes them), with the same total. A partner's are its stored features
    (:class:`~vigia.store.models.PartnerSite`, written in the transaction of every change
    that makes them stale), read with the page in one statement of that one table; a row
    whose feature is not stored (a site changed since) is rendered from the sharing tables.

    Parameters
    ----------
    session : Session
        An open session.
    p : Principal
        Who asks.
    bbox : tuple of float, optional
        ``(min_lon, min_lat, max_lon, max_lat)``, degrees: sites whose box meets it.
    start, end : datetime, optional
        Sites seen within ``[start, end]`` (UTC-aware).
    limit : int
        Page size, 1 to 10 000.
    offset : int
        Sites to skip (0 or more).

    Returns
    -------
    (list of str, int)
        The page's features as JSON and how many sites match in all.

    Raises
    ------
    InputError
        A bad box, naive times, or a limit or offset out of range.
    """
    page = read_visible_feature_json(
        session, p, bbox=bbox, start=start, end=end, limit=limit, offset=offset
    )
    return page.features, page.matched


def read_visible_feature_json(
    source: Session | Connection,
    p: Principal,
    *,
    bbox: BBox | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> FeaturePage:
    """Read what :func:`list_visible_feature_json` lists, with the change count it was read at.

    A page with rows is read in one statement that also reads the store's change counter
    (:data:`vigia.store.changes.CHANGES`), so on a connection outside any transaction
    (:func:`vigia.store.db.statement_connection`) too, what was read is what the store held
    while the counter read :attr:`FeaturePage.changes`.

    Parameters
    ----------
    source : Session or Connection
        An open session, or a connection.
    p : Principal
        Who asks.
    bbox : tuple of float, optional
        ``(min_lon, min_lat, max_lon, max_lat)``, degrees: sites whose box meets it.
    start, end : datetime, optional
        Sites seen within ``[start, end]`` (UTC-aware).
    limit : int
        Page size, 1 to 10 000.
    offset : int
        Sites to skip (0 or more).

    Returns
    -------
    FeaturePage
        The page's features as JSON, how many sites match in all, and the change count.

    Raises
    ------
    InputError
        A bad box, naive times, or a limit or offset out of range.
    """
    conn = _connection(source)
    steps = feature_json_steps(
        conn.engine, p, bbox=bbox, start=start, end=end, limit=limit, offset=offset
    )
    return run_steps(conn, steps)


def feature_json_steps(
    engine: Engine,
    p: Principal,
    *,
    bbox: BBox | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Steps[FeaturePage]:
    """Return the steps of :func:`read_visible_feature_json` (:data:`vigia.store.db.Steps`).

    A partner's page is read in :class:`~vigia.store.db.Query` steps alone (unless a feature
    is not stored), so it runs on the event loop too
    (:class:`vigia.store.loop.LoopConnections`).

    Parameters
    ----------
    engine : Engine
        The store's engine (its back end picks the statements).
    p : Principal
        Who asks.
    bbox, start, end, limit, offset
        As :func:`read_visible_feature_json` takes them.

    Returns
    -------
    Steps
        The read; it returns the :class:`FeaturePage`.
    """
    window = _Window.of(p, bbox, start, end, limit, offset)
    if p.is_agency:
        features, total, changes = yield OnConnection(lambda c: _feature_page(c, p, window))
        return FeaturePage([orjson.dumps(f).decode() for f in features], total, changes)
    if engine.dialect.name == "sqlite":
        joined = yield from _partner_joined(window)
        if joined is not None:
            texts, first = joined
            total, changes = yield from window.total(engine, p, first, len(texts))
            return FeaturePage(texts, total, changes)
    if window.shape is not None:
        stmt = _DRIVER_FILTERED[window.shape]
    elif engine.dialect.name == "postgresql" and not window.far:
        stmt = _PARTNER_SCAN
    else:
        stmt = _DRIVER_PAGE
    rows = yield Query(stmt, window.params)
    texts, same = yield from _partner_texts(p, rows)
    total, changes = yield from window.total(engine, p, rows[0] if rows else None, len(texts))
    return FeaturePage(texts, total, changes if same else None)


@dataclass(frozen=True)
class _Window:
    """A page's bound values, which statement shape it takes, and how to tell its total."""

    params: dict[str, Any]
    shape: tuple[bool, bool, bool, bool] | None  # (agency, box, start, end) when filtered
    far: bool
    limit: int
    offset: int

    @classmethod
    def of(
        cls,
        p: Principal,
        bbox: BBox | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int,
    ) -> _Window:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit {limit!r}: must be a whole number from 1 to {MAX_PAGE}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InputError(f"offset {offset!r}: must be a whole number, 0 or more")
        params: dict[str, Any] = {"org_id": p.org_id, "limit": limit, "offset": offset}
        if bbox is None and start is None and end is None:
            # Far into the list, one pass over the visible ids beats a probe per site skipped.
            return cls(params, None, offset >= _FAR_OFFSET, limit, offset)
        # As vigia.store.sites.sites_query (the same conditions), with the values bound.
        if bbox is not None:
            x0, y0, x1, y1 = check_bbox(bbox, "site query")
            params.update(x0=x0, y0=y0, x1=x1, y1=y1, x0_span=x0 - _SPAN, y0_span=y0 - _SPAN)
        if start is not None:
            params["start"] = check_utc(start, "site query: start")
        if end is not None:
            params["end"] = check_utc(end, "site query: end")
        shape = (p.is_agency, bbox is not None, start is not None, end is not None)
        return cls(params, shape, False, limit, offset)

    def total(
        self, engine: Engine, p: Principal, first: Sequence[Any] | None, n: int
    ) -> Steps[tuple[int, int | None]]:
        """Read how many sites match in all, for a page of ``n`` sites, first row ``first``.

        With the change count the page's rows and the total were read at (the row's last
        column; ``None`` when there are no rows or a count read later saw another count).
        """
        changes = None if not first or first[-1] is None else int(first[-1])
        if self.shape is not None and first:
            return int(first[-2]), changes  # a filtered page counts its matches itself
        if n < self.limit and (n or self.offset == 0):
            return self.offset + n, changes  # the last page: it tells the total itself
        if not p.is_agency and self.shape is None:
            total, seen = yield from _partner_count(engine, p, changes)
            return total, changes if seen == changes else None
        if self.shape is not None:  # past the last match: count them alone
            count = _FILTERED_COUNTS[self.shape]
            counted, seen = yield OnConnection(lambda c: c.execute(count, self.params).one())
        else:
            counted, seen = yield OnConnection(lambda c: c.execute(_COUNT_ALL_AT).one())
        return int(counted or 0), changes if seen == changes else None


def get_visible_feature(session: Session, p: Principal, site_id: str) -> dict[str, Any]:
    """Return one site as a GeoJSON Feature as the principal may see it.

    The same feature as ``get_visible_site(session, p, site_id).to_feature()``, read in one
    statement.

    Raises
    ------
    NotFoundError
        If the site does not exist or the principal may not see it (same message).
    """
    return read_visible_feature(session, p, site_id)[0]


def read_visible_feature_text(
    source: Session | Connection, p: Principal, site_id: str
) -> tuple[str, int | None]:
    """Read one site's feature as its JSON text, with the change count it was read at.

    The text :func:`orjson.dumps` writes for the feature of :func:`read_visible_feature`; a
    partner's is its stored feature (:class:`~vigia.store.models.PartnerSite`), read in one
    statement with the change counter, or rendered when none is stored.

    Parameters
    ----------
    source : Session or Connection
        An open session, or a connection.
    p : Principal
        Who asks.
    site_id : str
        The site.

    Returns
    -------
    (str, int or None)
        The feature's JSON, and the change counter as it was read (``None``: not known).

    Raises
    ------
    NotFoundError
        If the site does not exist or the principal may not see it (same message).
    """
    return run_steps(_connection(source), feature_text_steps(p, site_id))


def feature_text_steps(p: Principal, site_id: str) -> Steps[tuple[str, int | None]]:
    """Return the steps of :func:`read_visible_feature_text` (:data:`vigia.store.db.Steps`).

    A partner's stored feature is one :class:`~vigia.store.db.Query` step, so it is read on
    the event loop too (:class:`vigia.store.loop.LoopConnections`).

    Parameters
    ----------
    p : Principal
        Who asks.
    site_id : str
        The site.

    Returns
    -------
    Steps
        The read; it returns what :func:`read_visible_feature_text` returns, and raises what
        it raises.
    """
    if not p.is_agency:
        rows = yield Query(_PARTNER_ONE, {"site_id": site_id, "org_id": p.org_id})
        if not rows:
            raise _not_found_site(site_id)
        row = rows[0]
        if row[0] is not None:
            return row[0], None if row[1] is None else int(row[1])
    feature, changes = yield OnConnection(lambda c: read_visible_feature(c, p, site_id))
    return orjson.dumps(feature).decode(), changes


def read_visible_feature(
    source: Session | Connection, p: Principal, site_id: str
) -> tuple[dict[str, Any], int | None]:
    """Read what :func:`get_visible_feature` gives, with the change count it was read at.

    One statement, which also reads the store's change counter (as
    :func:`read_visible_feature_json`).

    Parameters
    ----------
    source : Session or Connection
        An open session, or a connection.
    p : Principal
        Who asks.
    site_id : str
        The site.

    Returns
    -------
    (dict, int or None)
        The feature, and the change counter as it was read (``None``: not known).

    Raises
    ------
    NotFoundError
        If the site does not exist or the principal may not see it (same message).
    """
    rows = (
        _connection(source)
        .execute(_FEATURE_ONE[p.is_agency], {"site_id": site_id, "org_id": p.org_id})
        .all()
    )
    features = _features(p.is_agency, rows)
    if not features:
        raise _not_found_site(site_id)
    changes = rows[0][-1]
    return features[0], None if changes is None else int(changes)


# The page's columns without their result processing (no ORM types: JSON and times are
# turned into what a feature holds in one step, in _features).
_RAW_PAGE: Final = (
    type_coerce(Site.id, String).label("id"),
    type_coerce(Site.lon, Double).label("lon"),
    type_coerce(Site.lat, Double).label("lat"),
    type_coerce(Site.state, String).label("state"),
    type_coerce(Site.site_class, String).label("site_class"),
    type_coerce(Site.confidence, Double).label("confidence"),
    type_coerce(Site.first_seen, NullType).label("first_seen"),
    type_coerce(Site.last_seen, NullType).label("last_seen"),
    type_coerce(cast(Site.reasons, Text), NullType).label("reasons"),
)
_N_PAGE_COLUMNS: Final = len(_RAW_PAGE) + 1  # and the evidence: the agency's, or NULL


def _raw_page(p: Principal) -> tuple[Any, ...]:
    evidence = type_coerce(cast(Site.evidence, Text), NullType) if p.is_agency else null()
    return (*_RAW_PAGE, evidence.label("evidence"))


def _with_releases(
    page: Select[Any],
    agency: bool,
    *,
    counted: bool = False,
    n_cols: int = _N_PAGE_COLUMNS,
) -> Select[Any]:
    """Join a page of sites (``n_cols`` columns, the id first) to the releases each one shows.

    Row: the page's columns; the release's id, marking, caveats, withdrawal and creation
    time; for a partner its organisation's acknowledgement of that release and whether it
    reported an outcome at the site, for the agency ``NULL`` and the site's number of
    observations; when ``counted``, the page query's own last column (its count); last, the
    store's change counter (:data:`vigia.store.changes.CHANGES`, in the page's snapshot).
    The agency gets one row with the release columns ``NULL`` for a site no release carries;
    a partner sees only sites some release to its organisation carries. Ordered by site id.
    """
    pg = page.subquery("page")
    site_cols: list[Any] = list(pg.c)[:n_cols]
    count = [list(pg.c)[n_cols]] if counted else []
    source: Any = pg
    rel = (
        type_coerce(Release.id, String),
        type_coerce(Release.tlp, String),
        type_coerce(cast(Release.caveats, Text), NullType),  # JSON text, decoded by orjson
        type_coerce(Release.withdrawn_at, NullType),
        type_coerce(Release.created_at, NullType),
    )
    if agency:
        observations = (
            select(func.count())
            .where(SiteObservation.site_id == pg.c.id)
            .correlate(pg)
            .scalar_subquery()
        )
        joined = pg.outerjoin(ReleaseSite, ReleaseSite.site_id == pg.c.id).outerjoin(
            Release, Release.id == ReleaseSite.release_id
        )
        extra: tuple[Any, ...] = (null(), observations)
    else:
        acted = (
            select(Outcome.id)
            .where(Outcome.site_id == pg.c.id, Outcome.org_id == bindparam("org_id"))
            .correlate(pg)
            .exists()
        )
        joined = (
            source.join(ReleaseSite, ReleaseSite.site_id == pg.c.id)
            .join(
                ReleaseRecipient,
                (ReleaseRecipient.release_id == ReleaseSite.release_id)
                & (ReleaseRecipient.org_id == bindparam("org_id")),
            )
            .join(Release, Release.id == ReleaseRecipient.release_id)
        )
        extra = (type_coerce(ReleaseRecipient.acknowledged_at, NullType), acted)
    return select(*site_cols, *rel, *extra, *count, CHANGES).select_from(joined).order_by(pg.c.id)


def _page_of_sites(agency: bool, far: bool) -> Select[Any]:
    q = select(*_raw_page(_AGENCY if agency else _PARTNER))
    if not agency:
        q = q.where(_VISIBLE_IN if far else _VISIBLE_EXISTS)
    return q.order_by(Site.id).limit(_LIMIT).offset(_OFFSET)


_AGENCY: Final = Principal(0, "-", 0, "-", "agency", "analyst")  # which statement, by kind
_PARTNER: Final = Principal(0, "-", 0, "-", "partner", "partner_viewer")
_FEATURE_PAGES: Final = {
    (agency, far): _with_releases(_page_of_sites(agency, far), agency)
    for agency in (False, True)
    for far in (False, True)
}
_FEATURE_ONE: Final = {
    agency: _with_releases(
        select(*_raw_page(_AGENCY if agency else _PARTNER)).where(
            Site.id == bindparam("site_id"), *(() if agency else (_VISIBLE_EXISTS,))
        ),
        agency,
    )
    for agency in (False, True)
}


_SPAN: Final = MAX_SITE_SPAN_DEG * (1 + 1e-9)  # as vigia.store.sites (the check's bound)


def _filters(
    box: bool, start: bool, end: bool, table: type[Site] | type[PartnerSite] = Site
) -> list[ColumnElement[bool]]:
    """Return the conditions of :func:`vigia.store.sites.sites_query`, on bound values.

    ``table`` is ``sites`` or ``partner_sites``, whose box and time columns are copies.
    """
    out: list[ColumnElement[bool]] = []
    if box:  # a two-sided range on min_lon: the box index answers it
        out += [
            table.min_lon >= bindparam("x0_span"),
            table.min_lon <= bindparam("x1"),
            table.min_lat >= bindparam("y0_span"),
            table.min_lat <= bindparam("y1"),
            table.max_lon >= bindparam("x0"),
            table.max_lat >= bindparam("y0"),
        ]
    if start:
        out.append(table.last_seen >= bindparam("start"))
    if end:
        out.append(table.first_seen <= bindparam("end"))
    return out


def _filtered(agency: bool, box: bool, start: bool, end: bool) -> Select[Any]:
    q = select(*_raw_page(_AGENCY if agency else _PARTNER)).where(*_filters(box, start, end))
    if not agency:
        q = q.where(_VISIBLE_EXISTS)
    # Every match is found and sorted by id before the page is cut: the same pass counts them.
    page = q.add_columns(func.count().over()).order_by(Site.id).limit(_LIMIT).offset(_OFFSET)
    return _with_releases(page, agency, counted=True)


def _filtered_count(agency: bool, box: bool, start: bool, end: bool) -> Select[Any]:
    q = select(func.count()).select_from(Site).where(*_filters(box, start, end))
    return q if agency else q.where(_VISIBLE_EXISTS)


_SHAPES: Final = [
    (a, b, s, e)
    for a in (False, True)
    for b in (False, True)
    for s in (False, True)
    for e in (False, True)
    if b or s or e
]
_FILTERED_PAGES: Final = {shape: _filtered(*shape) for shape in _SHAPES}
_FILTERED_COUNTS: Final = {shape: _filtered_count(*shape).add_columns(CHANGES) for shape in _SHAPES}


# A partner's reads: its rows of partner_sites alone (the page's ids, cut in the primary key
# or the box index, then their stored features). Row: id, feature, [count,] changes.
def _partner_filters(box: bool, start: bool, end: bool) -> list[ColumnElement[bool]]:
    """Return :func:`_filters` on a partner's rows (the sites' box and times, copied)."""
    return [PartnerSite.org_id == bindparam("org_id"), *_filters(box, start, end, PartnerSite)]


def _partner_page(box: bool, start: bool, end: bool, *, counted: bool) -> Select[Any]:
    ids = select(PartnerSite.site_id.label("id")).where(*_partner_filters(box, start, end))
    if counted:
        ids = ids.add_columns(func.count().over().label("matched"))
    page = ids.order_by(PartnerSite.site_id).limit(_LIMIT).offset(_OFFSET).subquery("page")
    stored = PartnerSite.__table__.alias("stored")
    count = [page.c.matched] if counted else []
    return (
        select(page.c.id, stored.c.feature, *count, CHANGES)
        .select_from(
            page.join(
                stored,
                (stored.c.org_id == bindparam("org_id")) & (stored.c.site_id == page.c.id),
            )
        )
        .order_by(page.c.id)
    )


_PARTNER_PAGE: Final = _partner_page(False, False, False, counted=False)
_PARTNER_FILTERED: Final = {
    shape: _partner_page(*shape[1:], counted=True) for shape in _SHAPES if not shape[0]
}


def _joined_page(page: Select[Any]) -> Select[Any]:
    """Return a partner page's statement as one row (SQLite): ids and features joined, counts.

    Row: ids, features (each joined by :data:`_SEP`, in the order the rows come: before
    3.44 SQLite's ``group_concat`` takes no ``ORDER BY``), rows, stored features,
    [matched,] changes.
    """
    rows = page.subquery("rows")
    sep = literal(_SEP, Text())
    return select(
        func.group_concat(rows.c.id, sep),
        func.group_concat(rows.c.feature, sep),
        func.count(),
        func.count(rows.c.feature),
        *([func.max(rows.c.matched)] if "matched" in rows.c else []),
        func.max(rows.c.changes),
    )


_SEP: Final = "\x1e"
"""What a joined page's features are joined by: ASCII's record separator, which JSON text
never holds (RFC 8259 escapes every control character in a string; none is white space)."""
_PARTNER_JOINED: Final = {
    shape: DriverStatement(_joined_page(stmt))
    for shape, stmt in [(None, _PARTNER_PAGE), *_PARTNER_FILTERED.items()]
}
_PARTNER_SCAN: Final = DriverStatement(
    select(PartnerSite.site_id.label("id"), PartnerSite.feature, CHANGES)
    .where(PartnerSite.org_id == bindparam("org_id"))
    .order_by(PartnerSite.site_id)
    .limit(_LIMIT)
    .offset(_OFFSET)
)
"""A partner's first pages on PostgreSQL: one scan of its rows in the primary key, features
and all. Its plan took a fifth of the time of the page's ids cut first, then their features
joined (planned and run: 0.09 against 0.45 ms); deep pages, which a scan would read whole up
to their offset, are cut first (:attr:`_Window.far`)."""
_DRIVER_PAGE: Final = DriverStatement(_PARTNER_PAGE)
_DRIVER_FILTERED: Final = {
    shape: DriverStatement(stmt) for shape, stmt in _PARTNER_FILTERED.items()
}


def _partner_joined(window: _Window) -> Steps[tuple[list[str], tuple[Any, ...] | None] | None]:
    """Read a partner's page as one row (SQLite), or ``None`` when a feature is not stored.

    SQLite's module lets go of the GIL around each row it steps to, and takes it back: a page
    of 100 rows passed the GIL 100 times, and while other threads wanted it (the event loop,
    other reads), each handing cost more than reading the row. Joined in the statement, the
    page is one step. ``group_concat`` joins in the order the rows come, which the page's
    ``ORDER BY`` sets; the ids, joined alike, are checked to be in that order (SQLite's
    binary collation is Python's order of ``str``), and the features put in it if not.

    Returns
    -------
    (list of str, tuple or None) or None
        The features and the page's first row as :meth:`_Window.total` takes it
        (``(..., [matched,] changes)``; ``None`` for an empty page).
    """
    rows = yield Query(_PARTNER_JOINED[window.shape], window.params)
    ids, features, n, stored, *counts = rows[0]
    if n == 0:
        return [], None
    if stored != n:
        return None  # a feature not stored: read its rows and render it
    keys = ids.split(_SEP)
    texts = features.split(_SEP)
    if len(keys) != n or len(texts) != n:  # an id holding the separator: read the rows
        return None
    if keys != sorted(keys):
        texts = [t for _, t in sorted(zip(keys, texts, strict=True))]
    return texts, tuple(counts)


_PARTNER_ONE: Final = DriverStatement(
    select(PartnerSite.feature, CHANGES).where(
        PartnerSite.org_id == bindparam("org_id"), PartnerSite.site_id == bindparam("site_id")
    )
)


def _partner_texts(p: Principal, rows: Sequence[Sequence[Any]]) -> Steps[tuple[list[str], bool]]:
    """Return a partner page's features from its rows (id, feature, ..., changes).

    With whether every feature came from ``rows`` or from a read at the same change count as
    ``rows``: a row without a stored feature is rendered (:func:`_render_partner`).
    """
    missing = [r[0] for r in rows if r[1] is None]
    if not missing:
        return [r[1] for r in rows], True
    rendered, seen = yield OnConnection(lambda c: _render_partner(c, p.org_id, missing))
    out = [r[1] if r[1] is not None else rendered.get(r[0]) for r in rows]
    texts = [t for t in out if t is not None]
    return texts, len(texts) == len(out) and seen == rows[0][-1]


def _json_value(raw: Any) -> Any:
    """Decode a JSON column's value (text on SQLite, already decoded on PostgreSQL)."""
    if not isinstance(raw, str | bytes):
        return raw
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # NaN, or an integer beyond 64 bits: as the JSON type
        return json.loads(raw)


def _raw_iso(raw: Any) -> str | None:
    """Write a time column's value as :func:`_iso` does (SQLite: naive UTC text)."""
    if isinstance(raw, str):
        # SQLAlchemy writes "YYYY-MM-DD HH:MM:SS[.ffffff]"; years before 1000 go the long way.
        if len(raw) >= 19 and raw[0] != "0" and raw[4] == "-" and raw[10] in " T":
            return f"{raw[:10]}T{raw[11:19]}Z"
        return _iso(datetime.fromisoformat(raw).replace(tzinfo=UTC))
    if isinstance(raw, datetime) and raw.tzinfo is None:
        raw = raw.replace(tzinfo=UTC)
    return _iso(raw)


def _raw_time(raw: Any) -> datetime:
    if isinstance(raw, str):
        raw = datetime.fromisoformat(raw)
    assert isinstance(raw, datetime)
    return raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)


def _features(agency: bool, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Build the features of the rows of :func:`_with_releases` (as ``SiteView.to_feature``)."""
    n = _N_PAGE_COLUMNS
    # Per release: (sort key, marking, caveats, withdrawn, its JSON-ready dict).
    refs: dict[str, tuple[tuple[datetime, int, str], str, tuple[str, ...], bool, dict[str, Any]]]
    refs = {}
    groups: list[list[Any]] = []  # [row, release ids, acknowledged, actioned, observations]
    for r in rows:
        rid = r[n]
        if not groups or groups[-1][0][0] != r[0]:
            if agency:
                groups.append([r, [], False, False, int(r[n + 6])])
            else:
                groups.append([r, [], r[n + 5] is not None, bool(r[n + 6]), 0])
        elif not agency and r[n + 5] is not None:
            groups[-1][2] = True
        if rid is None:
            continue
        if rid not in refs:
            refs[rid] = _release_ref(rid, r[n + 1], r[n + 2], r[n + 3], r[n + 4])
        groups[-1][1].append(rid)
    marks: dict[tuple[str, ...], tuple[str | None, list[str], bool, list[dict[str, Any]]]] = {}
    out = []
    for r, rids, acked, actioned, observations in groups:
        key = tuple(rids)
        mark = marks.get(key)
        if mark is None:
            mark = marks[key] = _marking(refs, rids)
        state = r[3]
        if not agency and state != "closed":
            state = "actioned" if actioned else "acknowledged" if acked else "released"
        props: dict[str, Any] = {
            "state": state,
            "class": r[4],
            "confidence": round(r[5], 4),
            "first_seen": _raw_iso(r[6]),
            "last_seen": _raw_iso(r[7]),
            "reasons": list(_json_value(r[8])),
            "tlp": mark[0],
            "caveats": list(mark[1]),
            "withdrawn": mark[2],
            "releases": mark[3],
        }
        if agency:
            props["evidence"] = dict(_json_value(r[9]))
            props["observations"] = observations
        out.append(
            {
                "type": "Feature",
                "id": r[0],
                "geometry": {"type": "Point", "coordinates": [r[1], r[2]]},
                "properties": props,
            }
        )
    return out


def _first(item: tuple[Any, ...]) -> Any:
    return item[0]


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def refresh_partner_features(factory: SessionFactory) -> int:
    """Write again the partner features that a change left stale, in one transaction.

    A released site that fusion updates (a new pass, a new confidence) has its partners'
    features marked stale by the triggers of migration 0006, and partner pages then render it
    from the sharing tables: correct, but slower. Called after fusion writes sites (and
    usable as a backfill after the upgrade to 0006), this writes them again, the sites locked
    in id order as a release locks them.

    Parameters
    ----------
    factory : SessionFactory
        The store.

    Returns
    -------
    int
        How many sites' partner features were written.
    """
    with write_session(factory) as session:
        serialise_sharing(session)
        stale = select(PartnerSite.site_id).where(PartnerSite.feature.is_(None))
        ids = list(
            session.scalars(
                select(Site.id).where(Site.id.in_(stale)).order_by(Site.id).with_for_update()
            )
        )
        if not ids:
            return 0
        store_partner_features(session, ids)
        return len(ids)


def _release_site_ids(session: Session, release_id: str) -> list[str]:
    q = select(ReleaseSite.site_id).where(ReleaseSite.release_id == release_id)
    return sorted(session.scalars(q))


_STALE_PARTNER_ROWS: Final = (
    select(PartnerSite.org_id, PartnerSite.site_id)
    .where(PartnerSite.site_id.in_(bindparam("ids", expanding=True)), PartnerSite.feature.is_(None))
    .order_by(PartnerSite.org_id, PartnerSite.site_id)
    .with_for_update()
)
_PARTNER_LIVE: Final = _with_releases(
    select(*_raw_page(_PARTNER)).where(
        Site.id.in_(bindparam("ids", expanding=True)), _VISIBLE_EXISTS
    ),
    False,
)
_WRITE_PARTNER_FEATURE: Final = (
    update(PartnerSite)
    .where(PartnerSite.org_id == bindparam("o"), PartnerSite.site_id == bindparam("s"))
    .values(feature=bindparam("f"))
)
_IDS_AT_ONCE: Final = 500


def _render_partner(
    conn: Connection, org_id: int, site_ids: Sequence[str]
) -> tuple[dict[str, str], int | None]:
    """Render a partner organisation's features of sites from the sharing tables.

    Returns each visible site's feature as its JSON text (as :func:`orjson.dumps` writes the
    feature of :func:`list_visible_features`), and the change count the statement read
    (``None``: no rows).
    """
    rows = conn.execute(_PARTNER_LIVE, {"ids": list(site_ids), "org_id": org_id}).all()
    texts = {f["id"]: orjson.dumps(f).decode() for f in _features(False, rows)}
    return texts, None if not rows or rows[0][-1] is None else int(rows[0][-1])


def store_partner_features(session: Session, site_ids: Sequence[str]) -> int:
    """Write the partner features of sites that a change in this transaction made stale.

    The triggers of migration 0006 add a :class:`~vigia.store.models.PartnerSite` row for
    each site a release makes visible to a partner, and set ``feature`` to ``NULL`` on every
    row whose feature a change made stale, in the change's transaction. This renders those
    rows' features again, in that same transaction, after it has made its changes. The rows
    are locked first (PostgreSQL) and rendered by a statement begun after: a concurrent
    change to what they show either committed before (and is rendered) or waits for this
    transaction's commit and sets the feature to ``NULL`` again.

    Parameters
    ----------
    session : Session
        An open write session, after the changes.
    site_ids : sequence of str
        The sites whose partners' rows may be stale.

    Returns
    -------
    int
        How many rows' features were written.
    """
    session.flush()
    conn = session.connection()
    ids = sorted(set(site_ids))
    stale: dict[int, list[str]] = defaultdict(list)
    for k in range(0, len(ids), _IDS_AT_ONCE):
        for org_id, site_id in conn.execute(
            _STALE_PARTNER_ROWS, {"ids": ids[k : k + _IDS_AT_ONCE]}
        ):
            stale[org_id].append(site_id)
    rows = []
    for org_id, sites in stale.items():
        for k in range(0, len(sites), _IDS_AT_ONCE):
            texts, _ = _render_partner(conn, org_id, sites[k : k + _IDS_AT_ONCE])
            rows += [{"o": org_id, "s": sid, "f": t} for sid, t in texts.items()]
    if rows:
        conn.execute(_WRITE_PARTNER_FEATURE, rows)
    return len(rows)


def _release_ref(
    rid: str, tlp: str, caveats: Any, withdrawn_at: Any, created_at: Any
) -> tuple[tuple[datetime, int, str], str, tuple[str, ...], bool, dict[str, Any]]:
    """Return a release as a site shows it: (sort key, marking, caveats, withdrawn, JSON)."""
    marks = tuple(_json_value(caveats))
    withdrawn = withdrawn_at is not None
    return (
        (_raw_time(created_at), len(rid), rid),
        tlp,
        marks,
        withdrawn,
        {
            "id": rid,
            "tlp": tlp,
            "caveats": list(marks),
            "withdrawn": withdrawn,
            "created_at": _raw_iso(created_at),
        },
    )


def _marking(
    refs: Mapping[str, tuple[Any, str, tuple[str, ...], bool, dict[str, Any]]],
    rids: Sequence[str],
) -> tuple[str | None, list[str], bool, list[dict[str, Any]]]:
    """Return a site's marking, caveats, withdrawal and releases (as SiteView.to_feature)."""
    if len(rids) == 1:  # the common case
        ref = refs[rids[0]]
        return ref[1], list(dict.fromkeys(ref[2])), ref[3], [ref[4]]
    found = sorted((refs[rid] for rid in rids), key=_first)
    live = [x for x in found if not x[3]] or found
    return (
        _most_restrictive([x[1] for x in live]) if live else None,
        list(dict.fromkeys(c for x in live for c in x[2])),
        bool(found) and all(x[3] for x in found),
        [x[4] for x in found],
    )
