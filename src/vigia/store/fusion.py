"""Refreshing the store's sites: every stored detection fused again, merged into stored sites.

:func:`refresh_sites` reads every detection and every searched line, runs
:func:`vigia.fuse.sites.fuse` (pure), and writes the result back: a fused site holding a
detection some stored site already observes updates that site (id and review state kept),
any other becomes a new ``candidate``. Uncertain and stale sites get a revisit request unless
one is already open. The write is one transaction (:func:`vigia.store.upsert_sites`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from vigia.detect.detection import Detection, SearchedLine
from vigia.fuse.association import SITE_EXTENT_M
from vigia.fuse.sites import FusedSite, fuse, revisit_requests
from vigia.store.db import SessionFactory, read_session
from vigia.store.models import MAX_SITE_SPAN_DEG, DetectionRow, FlightLine, SiteObservation
from vigia.store.records import ObservationRecord, SiteRecord
from vigia.store.releases import refresh_partner_features
from vigia.store.sites import (
    _detection_query,
    _stored_detection,
    add_revisit_request,
    list_open_revisits,
    list_sites,
    upsert_sites,
)

__all__ = ["RefreshResult", "load_evidence", "refresh_sites"]

_M_PER_DEG = 111_195.0
#: States in which fusion may still ask for another look.
_OPEN_STATES = ("candidate", "in_review")


@dataclass
class RefreshResult:
    """What a refresh did.

    Attributes
    ----------
    site_ids : list of str
        Every site fusion produced (new and updated), most confident first.
    new : list of str
        Sites created by this refresh.
    revisits : list of str
        Sites given a revisit request by this refresh.
    fused : list of FusedSite
        The fusion result, in the order of ``site_ids``.
    """

    site_ids: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    revisits: list[str] = field(default_factory=list)
    fused: list[FusedSite] = field(default_factory=list)


def _iso(t: datetime | None) -> str:
    return "" if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_evidence(
    factory: SessionFactory,
) -> tuple[list[Detection], list[SearchedLine], dict[int, str]]:
    """Read every stored detection (its id replaced by its store key) and searched line.

    Returns
    -------
    detections : list of Detection
        Ids are store keys as strings (detection ids repeat across ingests).
    lines : list of SearchedLine
        Every stored flight line.
    site_of : dict of int to str
        Store key of each observed detection → its site id (the oldest site if several).
    """
    with read_session(factory) as session:
        rows = session.execute(_detection_query().order_by(DetectionRow.id))
        detections = [
            _stored_detection(d, line).to_detection().model_copy(update={"id": str(d.id)})
            for d, line in rows
        ]
        lines = [
            SearchedLine(
                line_id=ln.line_id,
                sensor=ln.sensor,  # type: ignore[arg-type]
                time_start=_iso(ln.time_start),
                time_end=_iso(ln.time_end),
                footprint=json.loads(ln.footprint),
                area_km2=ln.area_km2,
                pixel_size_m=ln.pixel_size_m,
                shape=(ln.rows, ln.cols),
            )
            for ln in session.scalars(select(FlightLine).order_by(FlightLine.id))
        ]
        site_of: dict[int, str] = {}
        for o in session.scalars(select(SiteObservation).order_by(SiteObservation.site_id)):
            site_of.setdefault(o.detection_id, o.site_id)
    return detections, lines, site_of


def _bbox(s: FusedSite) -> tuple[float, float, float, float]:
    # The site's box: its position ± its uncertainty and extent (never wider than the store's
    # limit on a site's span).
    half_m = min(3.0 * s.sigma_m + SITE_EXTENT_M, 0.45 * MAX_SITE_SPAN_DEG * _M_PER_DEG)
    dlat = half_m / _M_PER_DEG
    dlon = dlat / max(math.cos(math.radians(s.lat)), 1e-6)
    return (s.lon - dlon, s.lat - dlat, s.lon + dlon, s.lat + dlat)


def _record(s: FusedSite, site_id: str | None) -> SiteRecord:
    ev = s.evidence
    return SiteRecord(
        lon=s.lon,
        lat=s.lat,
        bbox=_bbox(s),
        site_class=s.classification.site_class,
        confidence=round(s.confidence, 4),
        first_seen=ev.first_seen,
        last_seen=ev.last_seen,
        reasons=s.reasons,
        evidence={
            "passes": {k: {"seen": n, "looked": m} for k, (n, m) in ev.counts.items()},
            "species": sorted({sp for d in s.detections for sp in d.species}),
            "class_posterior": {k: round(v, 4) for k, v in s.classification.posterior.items()},
            "log_odds": round(ev.log_odds, 3),
            "position_sigma_m": round(s.sigma_m, 1),
            "emission": {e.species: e.to_dict() for e in s.emissions},
            "source": "Vigía fusion (vigia.fuse)",
        },
        observations=tuple(
            ObservationRecord(int(d.id), round(dist, 2))
            for d, dist in zip(s.detections, s.distances_m, strict=True)
        ),
        site_id=site_id,
    )


def refresh_sites(factory: SessionFactory, now: datetime | None = None) -> RefreshResult:
    """Fuse every stored detection again and merge the sites into the store.

    Parameters
    ----------
    factory : SessionFactory
        The store.
    now : datetime, optional
        The time confidences are for (UTC-aware); default: the last detection's time, so
        that replaying old data gives the confidences it had then.

    Returns
    -------
    RefreshResult
    """
    detections, lines, site_of = load_evidence(factory)
    if not detections:
        return RefreshResult()
    at = now or max(d.time for d in detections)
    fused = fuse(detections, lines, at)
    records = []
    for s in fused:
        known = sorted({site_of[int(d.id)] for d in s.detections if int(d.id) in site_of})
        records.append(_record(s, known[0] if known else None))
    before = {st.id for st in list_sites(factory)}
    ids = upsert_sites(factory, records, now=at)
    # Released sites the update touched have stale partner features: write them again.
    refresh_partner_features(factory)
    out = RefreshResult(site_ids=ids, new=[i for i in ids if i not in before], fused=fused)
    states = {st.id: st.state for st in list_sites(factory)}
    pending = {r.site_id for r in list_open_revisits(factory)}
    key_to_id = {s.key: i for s, i in zip(fused, ids, strict=True)}
    for r in revisit_requests(fused, at):
        site_id = key_to_id[r.key]
        if states.get(site_id) in _OPEN_STATES and site_id not in pending:
            # Priority 1 is most urgent: the most uncertain sites first.
            add_revisit_request(
                factory, site_id, r.reason, priority=1 + round(4 * (1 - r.priority)), now=at
            )
            out.revisits.append(site_id)
    return out
