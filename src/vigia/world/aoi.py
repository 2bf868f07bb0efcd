"""Reading areas of interest and no-fly zones from GeoJSON files given by users.

This is an I/O edge: it parses, checks what GeoJSON parsers let through (rings that do not
close, swapped axes, self-intersections) and names the file and feature in every error.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from shapely.geometry import Polygon

from vigia.errors import FileFormatError, GeometryError, InputError
from vigia.plan.mission import RestrictedZone

__all__ = ["parse_polygons", "read_areas", "read_zones"]


def _ring(coords: Any, where: str) -> list[tuple[float, float]]:
    if not isinstance(coords, list) or not coords:
        raise GeometryError(f"{where}: a ring must be a non-empty list of positions")
    pts: list[tuple[float, float]] = []
    for k, p in enumerate(coords):
        if (
            not isinstance(p, list | tuple)
            or len(p) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in p[:2])
        ):
            raise GeometryError(f"{where}, position {k}: expected [lon, lat] numbers, got {p!r}")
        lon, lat = float(p[0]), float(p[1])
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise GeometryError(f"{where}, position {k}: coordinates must be finite")
        if abs(lat) > 90 or abs(lon) > 180:
            hint = " (they look swapped: GeoJSON order is lon, lat)" if abs(lon) <= 90 else ""
            raise GeometryError(
                f"{where}, position {k}: ({lon}, {lat}) is not a lon/lat position{hint}"
            )
        pts.append((lon, lat))
    if len(pts) < 4:
        raise GeometryError(f"{where}: a ring needs at least 4 positions, got {len(pts)}")
    if pts[0] != pts[-1]:
        raise GeometryError(
            f"{where}: the ring does not close (first position {pts[0]} differs from last "
            f"{pts[-1]})"
        )
    return pts


def _polygon(coords: Any, where: str) -> Polygon:
    if not isinstance(coords, list) or not coords:
        raise GeometryError(f"{where}: a Polygon needs at least one ring")
    rings = [_ring(r, f"{where}, ring {i}") for i, r in enumerate(coords)]
    poly = Polygon(rings[0], rings[1:])
    if not poly.is_valid:
        from shapely.validation import explain_validity

        raise GeometryError(f"{where}: invalid polygon: {explain_validity(poly)}")
    if poly.area <= 0:
        raise GeometryError(f"{where}: the polygon has no area")
    return poly


def parse_polygons(obj: Any, source: str) -> list[tuple[str, Polygon]]:
    """Extract named polygons from a parsed GeoJSON object.

    Parameters
    ----------
    obj : Any
        A GeoJSON FeatureCollection, Feature, Polygon or MultiPolygon (parsed JSON).
    source : str
        Where it came from, used in error messages.

    Returns
    -------
    list of (str, Polygon)
        Polygons in lon/lat, named from ``properties.name`` or by position.

    Raises
    ------
    FileFormatError
        If the object is not GeoJSON of a supported kind.
    GeometryError
        If a ring does not close, a polygon self-intersects or coordinates are not lon/lat.
    """
    if not isinstance(obj, dict) or "type" not in obj:
        raise FileFormatError(f"{source}: not a GeoJSON object (no 'type' member)")
    kind = obj["type"]
    if kind == "FeatureCollection":
        feats = obj.get("features")
        if not isinstance(feats, list):
            raise FileFormatError(f"{source}: FeatureCollection without a 'features' list")
    elif kind == "Feature":
        feats = [obj]
    else:
        feats = [{"type": "Feature", "geometry": obj, "properties": {}}]
    out: list[tuple[str, Polygon]] = []
    for i, f in enumerate(feats):
        where = f"{source}, feature {i}"
        if not isinstance(f, dict) or not isinstance(f.get("geometry"), dict):
            raise FileFormatError(f"{where}: a Feature needs a 'geometry' object")
        props = f.get("properties") or {}
        name = str(props.get("name") or f"{Path(source).stem}-{i + 1}")
        g = f["geometry"]
        gtype, coords = g.get("type"), g.get("coordinates")
        if gtype == "Polygon":
            out.append((name, _polygon(coords, where)))
        elif gtype == "MultiPolygon":
            if not isinstance(coords, list):
                raise GeometryError(f"{where}: MultiPolygon coordinates must be a list")
            for j, c in enumerate(coords):
                out.append((f"{name}-{j + 1}", _polygon(c, f"{where}, polygon {j}")))
        else:
            raise FileFormatError(f"{where}: expected a Polygon or MultiPolygon, got {gtype!r}")
    if not out:
        raise FileFormatError(f"{source}: no polygon found")
    return out


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: cannot read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"{path}, line {exc.lineno} column {exc.colno}: malformed JSON: {exc.msg}"
        ) from None


def read_areas(path: Path) -> list[tuple[str, Polygon]]:
    """Read areas of interest from a GeoJSON file.

    Parameters
    ----------
    path : Path
        GeoJSON file of Polygon or MultiPolygon features (lon, lat).

    Returns
    -------
    list of (str, Polygon)
        Named areas.
    """
    return parse_polygons(_read_json(path), str(path))


def read_zones(path: Path, kind: str = "user") -> list[RestrictedZone]:
    """Read no-fly zones from a GeoJSON file.

    Parameters
    ----------
    path : Path
        GeoJSON file of Polygon or MultiPolygon features (lon, lat).
    kind : str
        Kind recorded on each zone.

    Returns
    -------
    list of RestrictedZone
        The zones.
    """
    return [RestrictedZone(n, kind, p) for n, p in parse_polygons(_read_json(path), str(path))]
