"""Detections to sites: association, confidence, class and revisit requests in one call.

:func:`fuse` is a pure function of every detection and every searched line so far (and the
time the answer is for); run again with more passes it gives the same sites grown by the new
evidence, which the store merges with the sites it already holds (keeping their ids and review
states, ``vigia.store``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from shapely.geometry import shape

from vigia.detect.detection import Detection, SearchedLine
from vigia.fuse.association import cluster_detections, distance_m
from vigia.fuse.classify import SiteClass, classify_site, site_land_use
from vigia.fuse.confidence import SiteEvidence, looks_at, site_evidence
from vigia.fuse.emission import SiteEmission, site_emissions

__all__ = [
    "REVISIT_BAND",
    "STALE_AFTER",
    "FusedSite",
    "RevisitRequest",
    "fuse",
    "revisit_requests",
]

#: Confidence between these bounds is uncertain: another pass would settle it.
REVISIT_BAND: Final = (0.3, 0.9)
#: A site not seen for this long is stale: is it still there?
STALE_AFTER: Final = timedelta(days=7)


@dataclass(frozen=True)
class FusedSite:
    """One place where detections agree.

    Attributes
    ----------
    key : str
        A stable key of the place (hash of its first detection's id), for merging runs.
    lon, lat : float
        Position, degrees (inverse-variance mean of its detections).
    sigma_m : float
        One-sigma uncertainty of the position, m.
    detections : tuple of Detection
        Its detections.
    distances_m : tuple of float
        Distance of each detection from the position, m.
    evidence : SiteEvidence
        Passes, confidence and reasons.
    classification : SiteClass
        Class and reasons.
    emissions : tuple of SiteEmission
        Emission rate of each species its plumes measured, combined over passes
        (:func:`vigia.fuse.emission.site_emissions`).
    """

    key: str
    lon: float
    lat: float
    sigma_m: float
    detections: tuple[Detection, ...]
    distances_m: tuple[float, ...]
    evidence: SiteEvidence
    classification: SiteClass
    emissions: tuple[SiteEmission, ...] = ()

    @property
    def confidence(self) -> float:
        """Confidence that the site is real, 0–1."""
        return self.evidence.confidence

    @property
    def reasons(self) -> tuple[str, ...]:
        """Evidence and class reasons, in words."""
        return self.evidence.reasons + self.classification.reasons


@dataclass(frozen=True)
class RevisitRequest:
    """A place another pass should look at.

    Attributes
    ----------
    key : str
        The site's key.
    lon, lat : float
        Where, degrees.
    priority : float
        0–1, higher first.
    reason : str
        Why.
    """

    key: str
    lon: float
    lat: float
    priority: float
    reason: str


def fuse(
    detections: Sequence[Detection], lines: Sequence[SearchedLine], now: datetime
) -> list[FusedSite]:
    """Fuse detections of many passes into sites.

    Parameters
    ----------
    detections : sequence of Detection
        Every detection so far.
    lines : sequence of SearchedLine
        Every line searched so far (what was looked at, including where nothing was found).
    now : datetime
        The time the confidences are for (UTC).

    Returns
    -------
    list of FusedSite
        Most confident first.

    Examples
    --------
    >>> from datetime import UTC
    >>> fuse([], [], datetime(2025, 3, 4, tzinfo=UTC))
    []
    """
    pixel: dict[tuple[str, str], float] = {
        (ln.line_id, str(ln.sensor)): ln.pixel_size_m for ln in lines
    }
    shapes = [shape(ln.footprint) for ln in lines]
    out = []
    for c in cluster_detections(detections, pixel):
        looks = looks_at(c.lon, c.lat, c.members, lines, shapes)
        first = min(c.members, key=lambda d: (d.time, d.id))
        out.append(
            FusedSite(
                key=hashlib.sha256(f"{first.line_id}/{first.id}".encode()).hexdigest()[:16],
                lon=c.lon,
                lat=c.lat,
                sigma_m=c.sigma_m,
                detections=tuple(c.members),
                distances_m=tuple(distance_m(d.lon, d.lat, c.lon, c.lat) for d in c.members),
                evidence=site_evidence(looks, now),
                classification=classify_site(looks, site_land_use(c.members)),
                emissions=site_emissions(c.members),
            )
        )
    out.sort(key=lambda s: (-s.confidence, s.key))
    return out


def revisit_requests(
    sites: Sequence[FusedSite], now: datetime, *, band: tuple[float, float] = REVISIT_BAND
) -> list[RevisitRequest]:
    """Ask for another look at uncertain or stale sites.

    Parameters
    ----------
    sites : sequence of FusedSite
        Fused sites.
    now : datetime
        Current time (UTC).
    band : (float, float)
        Confidence range that counts as uncertain.

    Returns
    -------
    list of RevisitRequest
        Highest priority first: uncertain sites by closeness to 0.5 (one more pass moves them
        most), stale likely sites by age.
    """
    out = []
    for s in sites:
        conf = s.confidence
        age = now - s.evidence.last_seen
        if band[0] <= conf < band[1]:
            out.append(
                RevisitRequest(
                    s.key,
                    s.lon,
                    s.lat,
                    round(1.0 - 2.0 * abs(conf - 0.5), 3),
                    f"uncertain: confidence {conf:.2f} ({'; '.join(s.evidence.reasons)})",
                )
            )
        elif conf >= band[1] and age > STALE_AFTER:
            out.append(
                RevisitRequest(
                    s.key,
                    s.lon,
                    s.lat,
                    round(min(1.0, age / (4 * STALE_AFTER)), 3),
                    f"stale: last seen {age.days} days ago; is it still there?",
                )
            )
    out.sort(key=lambda r: (-r.priority, r.key))
    return out
