"""Detections as data: the typed properties of one detection and the file that holds them.

A detection file is a GeoJSON FeatureCollection (RFC 7946): one Point Feature per detection at
its estimated source (a plume's upwind end, a hot pixel, a tarp's centre), with the properties
of :class:`Detection`. Two foreign members travel with it: ``lines`` (what was searched: each
line's id, sensor, time and footprint, so that false detections can be counted per area flown
and a missed site can be told from a site never seen) and ``source`` (what made the file).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vigia.errors import ExportError, FileFormatError

__all__ = [
    "DETECTION_KINDS",
    "Detection",
    "DetectionKind",
    "SearchedLine",
    "SpeciesFinding",
    "read_detections",
    "write_detections",
]

DetectionKind = Literal["plume", "thermal", "tarp", "clearing"]
DETECTION_KINDS: tuple[str, ...] = ("plume", "thermal", "tarp", "clearing")


class SpeciesFinding(BaseModel):
    """One gas identified in a plume."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Species in the site vocabulary: CH4, NH3, acetone, …")
    confidence: float = Field(ge=0.0, le=1.0)
    column_ppm_m: float | None = Field(
        default=None, description="Column enhancement, ppm·m, where the data are quantitative."
    )
    contrast_ppm_m_k: float | None = Field(
        default=None, description="Column × thermal contrast, ppm·m·K (LWIR)."
    )
    reason: str = Field(default="", description="Why no column is given, or how it was found.")
    emission_kg_h: float | None = Field(
        default=None, description="Emission rate of this species (IME), kg/h, where defined."
    )
    emission_kg_h_sigma: float | None = None


class Detection(BaseModel):
    """The properties of one detection (the Feature's geometry is its source point).

    ``score`` is 0–1, higher is surer. Quantities that a kind does not define are ``None``.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: DetectionKind
    line_id: str
    sensor: Literal["vswir", "lwir"]
    time: datetime = Field(description="UTC time the source pixel was imaged.")
    lon: float = Field(ge=-180.0, le=180.0)
    lat: float = Field(ge=-90.0, le=90.0)
    score: float = Field(ge=0.0, le=1.0)
    species: list[str] = Field(default_factory=list)
    species_detail: list[SpeciesFinding] = Field(default_factory=list)
    enhancement_ppm_m: float | None = Field(
        default=None, description="Peak column enhancement of the plume, ppm·m."
    )
    emission_kg_h: float | None = None
    emission_kg_h_sigma: float | None = None
    emission_kg_h_measured: float | None = Field(
        default=None,
        description=(
            "The emission rate as measured, kg/h, before the plume's mass is held to zero or "
            "more (emission_kg_h): below zero for a faint plume over clutter that reads so; "
            "unbiased, for averaging many passes."
        ),
    )
    emission_kg_h_measured_sigma: float | None = None
    emission_kg_h_mass_sigma: float | None = Field(
        default=None,
        description=(
            "The part of emission_kg_h_measured_sigma from the noise of the plume's mass, kg/h: "
            "the same whatever the rate and independent from pass to pass (the rest, from the "
            "wind and the calibration, is relative to the rate)."
        ),
    )
    ime_kg: float | None = Field(default=None, description="Integrated mass enhancement, kg.")
    delta_t_k: float | None = Field(default=None, description="Heat: excess over background, K.")
    radiative_power_w: float | None = None
    area_m2: float = Field(ge=0.0)
    length_m: float | None = None
    source_in_view: bool = Field(
        default=True,
        description=(
            "False for a plume whose upwind end is not its source: it enters the line at "
            "the edge, or is already wider there than a point source's plume (a piece of a "
            "plume from further upwind). The point is only where the plume came into view."
        ),
    )
    pixel_row: int = Field(ge=0, description="Downtrack index of the source pixel.")
    pixel_col: int = Field(ge=0, description="Crosstrack index of the source pixel.")
    n_pixels: int = Field(ge=1)
    footprint: dict[str, Any] = Field(description="GeoJSON Polygon of the detected pixels.")
    wind_speed_m_s: float | None = None
    wind_from_deg: float | None = None
    wind_source: Literal["given", "none"] = "none"
    reasons: list[str] = Field(default_factory=list)
    land_use: dict[str, float] | None = Field(
        default=None,
        description=(
            "Shares of vegetation, open ground, built surfaces and water within 50 m of the "
            "point, from the line's VSWIR cube (library match, vigia.detect.landuse), and "
            "'matched', the share of pixels that matched; absent without a VSWIR cube."
        ),
    )
    linked: list[str] = Field(
        default_factory=list,
        description="Ids of detections of the same place by the line's other instrument.",
    )
    chips: dict[str, str] = Field(
        default_factory=dict, description="Image chips, paths relative to the file."
    )

    def to_feature(self) -> dict[str, Any]:
        """Return the detection as a GeoJSON Feature (RFC 7946)."""
        props = self.model_dump(mode="json", exclude={"lon", "lat"})
        props["time"] = self.time.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "type": "Feature",
            "id": self.id,
            "geometry": {"type": "Point", "coordinates": [round(self.lon, 7), round(self.lat, 7)]},
            "properties": props,
        }

    @classmethod
    def from_feature(cls, feature: dict[str, Any]) -> Detection:
        """Read a detection back from its Feature."""
        lon, lat = feature["geometry"]["coordinates"][:2]
        return cls.model_validate({**feature["properties"], "lon": lon, "lat": lat})


class SearchedLine(BaseModel):
    """A line the detectors searched (a foreign member of the detection file)."""

    model_config = ConfigDict(extra="forbid")

    line_id: str
    sensor: Literal["vswir", "lwir"]
    time_start: str
    time_end: str
    footprint: dict[str, Any]
    area_km2: float = Field(ge=0.0)
    pixel_size_m: float = Field(gt=0.0)
    shape: tuple[int, int]
    score_map: str | None = Field(
        default=None, description="NetCDF of the line's score maps, path relative to the file."
    )


def write_detections(
    path: Path,
    detections: list[Detection],
    lines: list[SearchedLine],
    source: str,
) -> Path:
    """Write a detection file atomically.

    Parameters
    ----------
    path : Path
        Destination (``detections.geojson``).
    detections : list of Detection
        What was found.
    lines : list of SearchedLine
        What was searched.
    source : str
        What made the file (program and version, settings).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ExportError
        If the file cannot be written.
    """
    doc = {
        "type": "FeatureCollection",
        "features": [d.to_feature() for d in detections],
        "lines": [ln.model_dump(mode="json") for ln in lines],
        "source": source,
    }
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump(doc, handle, indent=1)
        os.replace(tmp, path)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def read_detections(path: Path) -> tuple[list[Detection], list[SearchedLine]]:
    """Read a detection file.

    Raises
    ------
    FileFormatError
        If it is not JSON, not a FeatureCollection, or a feature does not validate (the message
        names the feature).
    """
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path}: cannot read as JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise FileFormatError(f"{path}: not a GeoJSON FeatureCollection")
    detections = []
    for k, feature in enumerate(doc.get("features", [])):
        try:
            detections.append(Detection.from_feature(feature))
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{path}: feature {k}: {exc}") from None
    try:
        lines = [SearchedLine.model_validate(ln) for ln in doc.get("lines", [])]
    except ValueError as exc:
        raise FileFormatError(f"{path}: lines: {exc}") from None
    return detections, lines
