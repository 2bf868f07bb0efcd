"""Plain data that goes into the store and comes out of it: no sessions, no lazy loading.

Fusion hands the store :class:`SiteRecord` objects (each with its :class:`ObservationRecord`
list); every query gives back frozen ``Stored*`` objects that stay valid after the session that
read them has closed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vigia.detect.detection import Detection
from vigia.errors import InputError
from vigia.store.models import MAX_SITE_SPAN_DEG, SITE_CLASSES

__all__ = [
    "BBox",
    "ObservationRecord",
    "SiteDetail",
    "SiteRecord",
    "StoredDecision",
    "StoredDetection",
    "StoredObservation",
    "StoredRevisit",
    "StoredSite",
    "check_bbox",
    "check_utc",
]

BBox = tuple[float, float, float, float]
"""``(min_lon, min_lat, max_lon, max_lat)`` in degrees, WGS84."""


def check_utc(value: datetime, what: str) -> datetime:
    """Return ``value`` if it is timezone-aware, else raise :class:`InputError` naming ``what``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"{what}: {value.isoformat()} has no time zone; give UTC-aware times")
    return value


def check_bbox(bbox: BBox, what: str) -> BBox:
    """Return ``bbox`` as floats if it is a valid lon/lat box, else raise :class:`InputError`.

    Parameters
    ----------
    bbox : tuple of float
        ``(min_lon, min_lat, max_lon, max_lat)``, degrees.
    what : str
        What the box belongs to (named in the error).

    Returns
    -------
    tuple of float
        The box.
    """
    if len(bbox) != 4:
        raise InputError(f"{what}: bbox needs 4 numbers (min_lon, min_lat, max_lon, max_lat)")
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (min_lon, min_lat, max_lon, max_lat)):
        raise InputError(f"{what}: bbox {bbox} is not finite")
    if not (-180.0 <= min_lon <= max_lon <= 180.0 and -90.0 <= min_lat <= max_lat <= 90.0):
        raise InputError(
            f"{what}: bbox {bbox} is not (min_lon, min_lat, max_lon, max_lat) within "
            "lon -180…180 and lat -90…90"
        )
    return min_lon, min_lat, max_lon, max_lat


@dataclass(frozen=True)
class ObservationRecord:
    """A stored detection that fusion ties to a site.

    Attributes
    ----------
    detection : int
        The detection's store key (:attr:`StoredDetection.pk`).
    distance_m : float
        Distance from the detection's source point to the site, m.
    """

    detection: int
    distance_m: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.distance_m) and self.distance_m >= 0.0):
            raise InputError(
                f"observation of detection {self.detection}: distance_m {self.distance_m} "
                "must be a finite number ≥ 0"
            )


@dataclass(frozen=True)
class SiteRecord:
    """A site as fusion sees it, to be inserted or merged into the store.

    Attributes
    ----------
    lon, lat : float
        The site's location, degrees.
    bbox : tuple of float
        ``(min_lon, min_lat, max_lon, max_lat)``, degrees; contains ``lon, lat`` and spans at
        most :data:`~vigia.store.models.MAX_SITE_SPAN_DEG` in each axis.
    site_class : str
        A site kind of the world vocabulary (``rural_lab``, …) or ``unknown``.
    confidence : float
        0–1.
    first_seen, last_seen : datetime
        UTC-aware times of the first and last detection.
    reasons : tuple of str
        Why fusion thinks this is a site (short sentences for the analyst).
    evidence : mapping
        A JSON-serialisable summary of the evidence (counts by kind, species, rates).
    observations : tuple of ObservationRecord
        Detections that belong to the site (added to what is stored, never removed).
    site_id : str or None
        The stored site this record updates, or ``None`` for a new site.
    """

    lon: float
    lat: float
    bbox: BBox
    site_class: str
    confidence: float
    first_seen: datetime
    last_seen: datetime
    reasons: tuple[str, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)
    observations: tuple[ObservationRecord, ...] = ()
    site_id: str | None = None

    def __post_init__(self) -> None:
        what = f"site {self.site_id or '(new)'} at ({self.lon}, {self.lat})"
        min_lon, min_lat, max_lon, max_lat = check_bbox(self.bbox, what)
        if not (min_lon <= self.lon <= max_lon and min_lat <= self.lat <= max_lat):
            raise InputError(f"{what}: location lies outside its bbox {self.bbox}")
        if max_lon - min_lon > MAX_SITE_SPAN_DEG or max_lat - min_lat > MAX_SITE_SPAN_DEG:
            raise InputError(
                f"{what}: bbox {self.bbox} spans more than {MAX_SITE_SPAN_DEG}° "
                "(a site is a place, not a region)"
            )
        if self.site_class not in SITE_CLASSES:
            raise InputError(
                f"{what}: unknown site_class {self.site_class!r}; classes: "
                f"{', '.join(SITE_CLASSES)}"
            )
        if not 0.0 <= self.confidence <= 1.0:
            raise InputError(f"{what}: confidence {self.confidence} is not within 0–1")
        check_utc(self.first_seen, f"{what}: first_seen")
        check_utc(self.last_seen, f"{what}: last_seen")
        if self.first_seen > self.last_seen:
            raise InputError(f"{what}: first_seen is after last_seen")


@dataclass(frozen=True)
class StoredDetection:
    """A detection as stored.

    Attributes
    ----------
    pk : int
        Store key (what :class:`ObservationRecord` refers to).
    detection_id : str
        The id in the detection file (unique within one ingest only).
    ingest_id : int
        The ingest it came with.
    line_id, sensor : str
        The flight line and instrument.
    kind : str
        ``plume``, ``thermal``, ``tarp`` or ``clearing``.
    time : datetime
        UTC time the source pixel was imaged.
    lon, lat : float
        Source point, degrees.
    bbox : tuple of float
        The footprint's box, degrees.
    score : float
        0–1.
    properties : dict
        The Feature's properties (without the footprint).
    footprint : dict
        GeoJSON Polygon of the detected pixels.
    """

    pk: int
    detection_id: str
    ingest_id: int
    line_id: str
    sensor: str
    kind: str
    time: datetime
    lon: float
    lat: float
    bbox: BBox
    score: float
    properties: dict[str, Any]
    footprint: dict[str, Any]

    def to_detection(self) -> Detection:
        """Rebuild the :class:`~vigia.detect.detection.Detection` that was ingested."""
        return Detection.model_validate(
            {**self.properties, "footprint": self.footprint, "lon": self.lon, "lat": self.lat}
        )


@dataclass(frozen=True)
class StoredSite:
    """A site as stored (see :class:`SiteRecord` for the fields fusion sets)."""

    id: str
    lon: float
    lat: float
    bbox: BBox
    state: str
    site_class: str
    confidence: float
    first_seen: datetime
    last_seen: datetime
    reasons: tuple[str, ...]
    evidence: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoredObservation:
    """A detection associated with a site, and its distance from the site, m."""

    site_id: str
    detection: StoredDetection
    distance_m: float


@dataclass(frozen=True)
class StoredDecision:
    """One recorded lifecycle transition."""

    id: int
    site_id: str
    actor: str
    role: str
    action: str
    from_state: str
    to_state: str
    reason: str
    detail: dict[str, Any]
    time: datetime


@dataclass(frozen=True)
class StoredRevisit:
    """A request to image a site again (``status`` is ``open``, ``planned`` or ``done``)."""

    id: int
    site_id: str
    lon: float
    lat: float
    reason: str
    priority: int
    status: str
    requested_at: datetime


@dataclass(frozen=True)
class SiteDetail:
    """A site with everything recorded about it, each list in the order it was recorded."""

    site: StoredSite
    observations: tuple[StoredObservation, ...]
    decisions: tuple[StoredDecision, ...]
    revisits: tuple[StoredRevisit, ...]
