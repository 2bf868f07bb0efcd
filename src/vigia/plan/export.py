"""Export a planned mission in the formats ground stations and GIS tools read.

Pure builders return plain data (``dict`` for JSON formats, ``str`` for text formats) and
never touch the file system; :func:`write_exports` is the thin I/O edge that writes them.

Formats and the references they follow:

* GeoJSON, RFC 7946: lon/lat order, exterior rings counter-clockwise, holes clockwise,
  coordinates rounded to 7 decimals (about 1 cm).
* QGroundControl ``.plan`` (JSON), as described in the QGC developer guide, "Plan File
  Format": one mission per file, so a multi-sortie mission needs one file per sortie.
* ``QGC WPL 110`` text waypoints (tab separated, item 0 is the home position), as read by
  Mission Planner, QGroundControl and ``pymavlink.mavwp``.
* KML 2.2 (OGC 07-147r2), built with fastkml objects and valid against the KML schema.

Mission items use MAVLink ``MAV_CMD`` numbers from ``common.xml``. Altitudes of mission
items are metres above the takeoff point (``MAV_FRAME_GLOBAL_RELATIVE_ALT``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from fastkml import (
    KML,
    Coordinates,
    Data,
    Document,
    ExtendedData,
    Folder,
    InnerBoundaryIs,
    LinearRing,
    LineString,
    LineStyle,
    OuterBoundaryIs,
    Placemark,
    PolyStyle,
    Style,
    StyleUrl,
)
from fastkml import Polygon as KmlPolygon
from fastkml.enums import AltitudeMode
from shapely.geometry import LineString as ShapelyLineString
from shapely.geometry import Polygon
from shapely.geometry.polygon import orient
from shapely.ops import split

from vigia.errors import ExportError
from vigia.plan.mission import Mission, Sortie, Waypoint

__all__ = [
    "approval_text",
    "areas_geojson",
    "kml_text",
    "lines_geojson",
    "qgc_plan",
    "route_geojson",
    "stamp_approval",
    "wpl_text",
    "write_exports",
]

# MAVLink MAV_CMD values (common.xml).
MAV_CMD_NAV_WAYPOINT = 16
MAV_CMD_NAV_LAND = 21
MAV_CMD_NAV_TAKEOFF = 22
MAV_CMD_DO_LAND_START = 189
MAV_CMD_IMAGE_START_CAPTURE = 2000
MAV_CMD_IMAGE_STOP_CAPTURE = 2001

# MAVLink MAV_FRAME values.
MAV_FRAME_GLOBAL = 0
MAV_FRAME_MISSION = 2  # not a position: commands that act where the aircraft is
MAV_FRAME_GLOBAL_RELATIVE_ALT = 3

# MAV_AUTOPILOT and QGC vehicle type values written in the .plan.
MAV_AUTOPILOT_ARDUPILOTMEGA = 3
MAV_TYPE_FIXED_WING = 1

TAKEOFF_PITCH_DEG = 15.0
"""Minimum pitch during takeoff (``MAV_CMD_NAV_TAKEOFF`` param1), degrees."""

CAPTURE_INTERVAL_S = 1.0
"""Interval between frames requested by ``MAV_CMD_IMAGE_START_CAPTURE`` (param2), seconds."""

_DECIMALS = 7  # 1e-7 degree is about 1 cm: finer digits are noise.


class _Item(NamedTuple):
    """One MAVLink mission item (MISSION_ITEM_INT fields, lat/lon in degrees)."""

    command: int
    frame: int
    params: tuple[float, float, float, float]
    lat: float
    lon: float
    alt: float


# ---------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------


def _check_lonlat(lon: float, lat: float, where: str) -> None:
    """Raise ExportError for a position no format can carry."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ExportError(f"{where}: non-finite coordinate (lon={lon}, lat={lat})")
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ExportError(
            f"{where}: coordinate out of range (lon={lon}, lat={lat}); expected lon/lat degrees"
        )


def _check_finite(value: float, where: str) -> float:
    """Return ``value`` as a float, raising ExportError if it is NaN or infinite."""
    value = float(value)
    if not math.isfinite(value):
        raise ExportError(f"{where}: non-finite value {value}")
    return value


def _lonlat(lon: float, lat: float, where: str) -> list[float]:
    """Return a rounded ``[lon, lat]`` GeoJSON position after checking it."""
    lon, lat = float(lon), float(lat)
    _check_lonlat(lon, lat, where)
    return [round(lon, _DECIMALS), round(lat, _DECIMALS)]


def _ring_lonlat(coords: Iterable[Sequence[float]], where: str) -> list[list[float]]:
    """Return a rounded GeoJSON ring (closing vertex kept) from shapely ring coordinates."""
    return [_lonlat(c[0], c[1], where) for c in coords]


def _polygon_coordinates(polygon: Polygon, where: str) -> list[list[list[float]]]:
    """Return RFC 7946 polygon coordinates: exterior CCW, holes CW."""
    if polygon.is_empty:
        raise ExportError(f"{where}: empty polygon")
    oriented = orient(polygon, sign=1.0)
    rings = [_ring_lonlat(oriented.exterior.coords, where)]
    rings.extend(_ring_lonlat(hole.coords, where) for hole in oriented.interiors)
    return rings


def _feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _get_sortie(mission: Mission, sortie: int) -> Sortie:
    """Return the sortie with 1-based index ``sortie``."""
    for candidate in mission.sorties:
        if candidate.index == sortie:
            return candidate
    have = ", ".join(str(s.index) for s in mission.sorties) or "none"
    raise ExportError(f"mission {mission.name!r} has no sortie {sortie} (sorties: {have})")


def _route_lonlat(sortie: Sortie) -> list[list[float]]:
    """Return the sortie route as rounded ``[lon, lat]`` positions."""
    route = sortie.route
    where = f"sortie {sortie.index} route"
    if route.ndim != 2 or route.shape[0] < 2 or route.shape[1] < 2:
        raise ExportError(f"{where}: need an (M >= 2, 2) lon/lat array, got shape {route.shape}")
    return [_lonlat(float(lon), float(lat), where) for lon, lat in route[:, :2]]


# ---------------------------------------------------------------------------------------
# GeoJSON
# ---------------------------------------------------------------------------------------


def route_geojson(mission: Mission) -> dict[str, Any]:
    """Build a GeoJSON FeatureCollection with the flown route of every sortie.

    Parameters
    ----------
    mission : Mission
        The planned mission (lon/lat degrees).

    Returns
    -------
    dict
        RFC 7946 FeatureCollection: one LineString Feature per sortie (the full
        ``sortie.route``, ``[lon, lat]`` rounded to 7 decimals) with properties ``sortie``,
        ``length_m`` (metres), ``duration_s`` (seconds), ``areas``, ``approval``,
        ``platform`` and ``altitude_m`` (metres above ground).

    Raises
    ------
    ExportError
        If a route has fewer than two points or a coordinate is not lon/lat degrees.

    Examples
    --------
    >>> fc = route_geojson(mission)  # doctest: +SKIP
    >>> fc["features"][0]["properties"]["sortie"]  # doctest: +SKIP
    1
    """
    features = [
        {
            "type": "Feature",
            "id": f"sortie-{s.index:02d}",
            "geometry": {"type": "LineString", "coordinates": _route_lonlat(s)},
            "properties": {
                "sortie": s.index,
                "length_m": float(s.length_m),
                "duration_s": float(s.duration_s),
                "areas": list(s.areas),
                "approval": mission.approval,
                "platform": mission.platform,
                "altitude_m": float(mission.altitude_m),
            },
        }
        for s in mission.sorties
    ]
    return _feature_collection(features)


def lines_geojson(mission: Mission) -> dict[str, Any]:
    """Build a GeoJSON FeatureCollection with every imaging line.

    Parameters
    ----------
    mission : Mission
        The planned mission (lon/lat degrees).

    Returns
    -------
    dict
        RFC 7946 FeatureCollection: one two-point LineString Feature per imaging line, in
        flight order, with properties ``line_id``, ``area``, ``sortie``, ``heading_deg``
        (compass bearing, degrees), ``length_m``, ``swath_m`` and ``altitude_m`` (metres).

    Raises
    ------
    ExportError
        If a coordinate is not lon/lat degrees.

    Examples
    --------
    >>> [f["id"] for f in lines_geojson(mission)["features"]]  # doctest: +SKIP
    ['S01-L001', 'S01-L002']
    """
    features = []
    for line in mission.lines:
        where = f"imaging line {line.line_id}"
        features.append(
            {
                "type": "Feature",
                "id": line.line_id,
                "geometry": {
                    "type": "LineString",
                    "coordinates": [
                        _lonlat(line.start[0], line.start[1], where),
                        _lonlat(line.end[0], line.end[1], where),
                    ],
                },
                "properties": {
                    "line_id": line.line_id,
                    "area": line.area,
                    "sortie": line.sortie,
                    "heading_deg": float(line.heading_deg),
                    "length_m": float(line.length_m),
                    "swath_m": float(line.swath_m),
                    "altitude_m": float(line.altitude_m),
                },
            }
        )
    return _feature_collection(features)


def areas_geojson(mission: Mission) -> dict[str, Any]:
    """Build a GeoJSON FeatureCollection with the areas of interest and restricted zones.

    Parameters
    ----------
    mission : Mission
        The planned mission (lon/lat degrees).

    Returns
    -------
    dict
        RFC 7946 FeatureCollection of Polygon Features (holes kept), exterior rings
        counter-clockwise and holes clockwise. Areas have properties ``name`` and
        ``layer`` = ``"area"``; restricted zones ``name``, ``layer`` = ``"restricted"``
        and ``kind``.

    Raises
    ------
    ExportError
        If a polygon is empty or a coordinate is not lon/lat degrees.

    Examples
    --------
    >>> [f["properties"]["layer"] for f in areas_geojson(mission)["features"]]  # doctest: +SKIP
    ['area', 'restricted']
    """
    features: list[dict[str, Any]] = []
    for i, (name, polygon) in enumerate(mission.areas, start=1):
        features.append(
            {
                "type": "Feature",
                "id": f"area-{i}",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": _polygon_coordinates(polygon, f"area {name!r}"),
                },
                "properties": {"name": name, "layer": "area"},
            }
        )
    for i, zone in enumerate(mission.restricted, start=1):
        features.append(
            {
                "type": "Feature",
                "id": f"restricted-{i}",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": _polygon_coordinates(
                        zone.polygon, f"restricted zone {zone.name!r}"
                    ),
                },
                "properties": {"name": zone.name, "layer": "restricted", "kind": zone.kind},
            }
        )
    return _feature_collection(features)


# ---------------------------------------------------------------------------------------
# MAVLink mission items (.plan and .waypoints)
# ---------------------------------------------------------------------------------------


def _nav_item(command: int, params: tuple[float, float, float, float], wp: Waypoint) -> _Item:
    return _Item(command, MAV_FRAME_GLOBAL_RELATIVE_ALT, params, wp.lat, wp.lon, wp.altitude_m)


def _command_item(command: int, params: tuple[float, float, float, float]) -> _Item:
    # Camera commands carry no position: MAV_FRAME_MISSION and zeros, as QGC writes them.
    return _Item(command, MAV_FRAME_MISSION, params, 0.0, 0.0, 0.0)


def _mission_items(sortie: Sortie) -> list[_Item]:
    """Translate the sortie's waypoints into MAVLink mission items, in order."""
    if not sortie.waypoints:
        raise ExportError(f"sortie {sortie.index} has no waypoints to export")
    items: list[_Item] = []
    for n, wp in enumerate(sortie.waypoints, start=1):
        where = f"sortie {sortie.index} waypoint {n} ({wp.kind})"
        _check_lonlat(float(wp.lon), float(wp.lat), where)
        _check_finite(wp.altitude_m, f"{where} altitude_m")
        if wp.kind == "takeoff":
            items.append(_nav_item(MAV_CMD_NAV_TAKEOFF, (TAKEOFF_PITCH_DEG, 0.0, 0.0, 0.0), wp))
        elif wp.kind == "transit":
            items.append(_nav_item(MAV_CMD_NAV_WAYPOINT, (0.0, 0.0, 0.0, 0.0), wp))
        elif wp.kind == "line_start":
            items.append(_nav_item(MAV_CMD_NAV_WAYPOINT, (0.0, 0.0, 0.0, 0.0), wp))
            # param1 camera id 0 = all, param3 0 = until IMAGE_STOP_CAPTURE.
            items.append(
                _command_item(MAV_CMD_IMAGE_START_CAPTURE, (0.0, CAPTURE_INTERVAL_S, 0.0, 0.0))
            )
        elif wp.kind == "line_end":
            items.append(_nav_item(MAV_CMD_NAV_WAYPOINT, (0.0, 0.0, 0.0, 0.0), wp))
            items.append(_command_item(MAV_CMD_IMAGE_STOP_CAPTURE, (0.0, 0.0, 0.0, 0.0)))
        elif wp.kind == "land":
            # DO_LAND_START's position is optional; giving it lets ArduPilot pick the
            # nearest landing sequence on an RTL with autoland.
            items.append(_nav_item(MAV_CMD_DO_LAND_START, (0.0, 0.0, 0.0, 0.0), wp))
            items.append(_nav_item(MAV_CMD_NAV_LAND, (0.0, 0.0, 0.0, 0.0), wp))
        else:
            raise ExportError(f"{where}: unknown waypoint kind {wp.kind!r}")
    return items


def _home(mission: Mission, sortie: Sortie) -> tuple[float, float]:
    """Return the ``(lat, lon)`` home of a sortie: the base, else its first waypoint."""
    if mission.base is not None:
        _, lon, lat = mission.base
        _check_lonlat(float(lon), float(lat), f"base {mission.base[0]!r}")
        return float(lat), float(lon)
    first = sortie.waypoints[0]
    return float(first.lat), float(first.lon)


def _hole_free_parts(polygon: Polygon) -> list[Polygon]:
    """Split a polygon with holes into hole-free polygons covering exactly the same area.

    Fences have no holes, and an inclusion fence around a hole would confine the whole
    flight to it; cutting the zone along a meridian through each hole is exact instead.
    """
    todo = [polygon]
    parts: list[Polygon] = []
    while todo:
        part = todo.pop()
        if not part.interiors:
            parts.append(part)
            continue
        x = Polygon(part.interiors[0]).representative_point().x
        _, miny, _, maxy = part.bounds
        cutter = ShapelyLineString([(x, miny - 1.0), (x, maxy + 1.0)])
        pieces = [g for g in split(part, cutter).geoms if isinstance(g, Polygon) and g.area > 0]
        if len(pieces) < 2:
            raise ExportError("cannot split a restricted zone with holes into fence polygons")
        todo.extend(pieces)
    return parts


def _fence_polygons(mission: Mission) -> list[dict[str, Any]]:
    """Return QGC exclusion fence polygons for every restricted zone."""
    fences: list[dict[str, Any]] = []
    for zone in mission.restricted:
        where = f"restricted zone {zone.name!r}"
        if zone.polygon.is_empty:
            raise ExportError(f"{where}: empty polygon")
        for part in _hole_free_parts(zone.polygon):
            vertices = list(part.exterior.coords)[:-1]  # QGC repeats no closing vertex
            polygon = []
            for lon, lat, *_ in vertices:
                lon_r, lat_r = _lonlat(lon, lat, where)
                polygon.append([lat_r, lon_r])
            fences.append({"inclusion": False, "polygon": polygon, "version": 1})
    return fences


def qgc_plan(mission: Mission, sortie: int = 1) -> dict[str, Any]:
    """Build the QGroundControl ``.plan`` document of one sortie.

    Parameters
    ----------
    mission : Mission
        The planned mission.
    sortie : int, default 1
        1-based index of the sortie: a ``.plan`` holds one mission only.

    Returns
    -------
    dict
        The plan as JSON-ready data: ``mission`` (ArduPilot, fixed wing) with one
        ``SimpleItem`` per MAVLink mission item, ``geoFence`` with an exclusion polygon
        per restricted zone (zones with holes are cut into hole-free pieces), and empty
        ``rallyPoints``. Positions are ``[lat, lon]``; altitudes are metres above takeoff.

    Raises
    ------
    ExportError
        If the sortie does not exist, has no waypoints, or holds a bad coordinate.

    Notes
    -----
    Waypoint kinds become: ``takeoff`` NAV_TAKEOFF (22); ``transit`` NAV_WAYPOINT (16);
    ``line_start`` NAV_WAYPOINT then IMAGE_START_CAPTURE (2000); ``line_end`` NAV_WAYPOINT
    then IMAGE_STOP_CAPTURE (2001); ``land`` DO_LAND_START (189) then NAV_LAND (21).

    Examples
    --------
    >>> plan = qgc_plan(mission, sortie=1)  # doctest: +SKIP
    >>> plan["mission"]["items"][0]["command"]  # doctest: +SKIP
    22
    """
    chosen = _get_sortie(mission, sortie)
    items = _mission_items(chosen)
    home_lat, home_lon = _home(mission, chosen)
    speed = _check_finite(mission.speed_m_s, "mission speed_m_s")
    simple_items = [
        {
            "type": "SimpleItem",
            "autoContinue": True,
            "command": item.command,
            "doJumpId": jump_id,
            "frame": item.frame,
            "params": [
                *item.params,
                round(item.lat, _DECIMALS),
                round(item.lon, _DECIMALS),
                float(item.alt),
            ],
        }
        for jump_id, item in enumerate(items, start=1)
    ]
    return {
        "fileType": "Plan",
        "version": 1,
        "groundStation": "QGroundControl",
        "mission": {
            "version": 2,
            "firmwareType": MAV_AUTOPILOT_ARDUPILOTMEGA,
            "vehicleType": MAV_TYPE_FIXED_WING,
            "cruiseSpeed": speed,
            # A fixed wing cannot hover; QGC only uses this for multirotor legs.
            "hoverSpeed": speed,
            # Home altitude is AMSL in QGC; ground elevation is not known here.
            "plannedHomePosition": [round(home_lat, _DECIMALS), round(home_lon, _DECIMALS), 0.0],
            "items": simple_items,
        },
        "geoFence": {"version": 2, "polygons": _fence_polygons(mission), "circles": []},
        "rallyPoints": {"version": 2, "points": []},
    }


def _wpl_number(value: float) -> str:
    """Format a number for a WPL file: plain decimal, no exponent, no trailing zeros."""
    text = f"{value:.8f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def wpl_text(mission: Mission, sortie: int = 1) -> str:
    """Build the ``QGC WPL 110`` waypoint file of one sortie.

    Parameters
    ----------
    mission : Mission
        The planned mission.
    sortie : int, default 1
        1-based index of the sortie.

    Returns
    -------
    str
        ``QGC WPL 110`` header, then one tab-separated line per item: seq, current, frame,
        command, param1..param4, lat, lon, alt, autocontinue. Item 0 is the home position
        (frame 0, altitude 0 m AMSL); the items that follow are those of :func:`qgc_plan`.

    Raises
    ------
    ExportError
        If the sortie does not exist, has no waypoints, or holds a bad coordinate.

    Examples
    --------
    >>> wpl_text(mission).splitlines()[0]  # doctest: +SKIP
    'QGC WPL 110'
    """
    chosen = _get_sortie(mission, sortie)
    items = _mission_items(chosen)
    home_lat, home_lon = _home(mission, chosen)
    home = _Item(
        MAV_CMD_NAV_WAYPOINT, MAV_FRAME_GLOBAL, (0.0, 0.0, 0.0, 0.0), home_lat, home_lon, 0.0
    )
    lines = ["QGC WPL 110"]
    for seq, item in enumerate([home, *items]):
        fields = [
            str(seq),
            "1" if seq == 0 else "0",
            str(item.frame),
            str(item.command),
            *(_wpl_number(p) for p in item.params),
            _wpl_number(round(item.lat, _DECIMALS)),
            _wpl_number(round(item.lon, _DECIMALS)),
            _wpl_number(item.alt),
            "1",
        ]
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# KML
# ---------------------------------------------------------------------------------------

# KML colours are aabbggrr.
_STYLES = {
    "style-area": ("ff00d7ff", "4000d7ff", 2.0),
    "style-restricted": ("ff0000ff", "600000ff", 2.0),
    "style-line": ("ff00ff00", None, 3.0),
    "style-route": ("ffff7f00", None, 2.0),
}


def _kml_styles() -> list[Style]:
    styles = []
    for style_id, (line_color, fill_color, width) in _STYLES.items():
        parts: list[LineStyle | PolyStyle] = [LineStyle(color=line_color, width=width)]
        if fill_color is not None:
            parts.append(PolyStyle(color=fill_color, fill=True, outline=True))
        styles.append(Style(id=style_id, styles=parts))
    return styles


def _kml_ring(coords: Iterable[Sequence[float]], where: str) -> LinearRing:
    points = [(lon, lat) for lon, lat in _ring_lonlat(coords, where)]
    return LinearRing(kml_coordinates=Coordinates(coords=points))


def _kml_polygon(polygon: Polygon, where: str) -> KmlPolygon:
    if polygon.is_empty:
        raise ExportError(f"{where}: empty polygon")
    oriented = orient(polygon, sign=1.0)  # KML wants counter-clockwise outer rings too
    return KmlPolygon(
        tessellate=True,
        outer_boundary=OuterBoundaryIs(kml_geometry=_kml_ring(oriented.exterior.coords, where)),
        inner_boundaries=[
            InnerBoundaryIs(kml_geometry=_kml_ring(hole.coords, where))
            for hole in oriented.interiors
        ],
    )


def _kml_line(points: list[list[float]], altitude_m: float) -> LineString:
    coords = [(lon, lat, altitude_m) for lon, lat in points]
    return LineString(
        altitude_mode=AltitudeMode.relative_to_ground,
        kml_coordinates=Coordinates(coords=coords),
    )


def _kml_data(values: dict[str, object]) -> ExtendedData:
    return ExtendedData(elements=[Data(name=k, value=str(v)) for k, v in values.items()])


def _approval_text(mission: Mission) -> str:
    return approval_text(mission.approval, mission.partner, mission.approval_ref)


def approval_text(approval: str, partner: str, ref: str = "") -> str:
    """Return the sentence every export carries about the plan's approval by the partner."""
    if approval == "approved":
        return f"Approval status: approved by partner {partner}{f' ({ref})' if ref else ''}."
    return f"Approval status: {approval}. Not approved by partner {partner}: do not fly."


def stamp_approval(name: str, text: str, *, partner: str, ref: str) -> str:
    """Return a draft export's text as the approved plan's export says it.

    ``vigia sortie exports`` uses it on the files of a plan the partner approved, so that the
    exports say so without planning again (the approval holds for exactly those files).

    Parameters
    ----------
    name : str
        The export's file name (``route.geojson``, ``plan.json``, ``mission.kml``, ...).
    text : str
        Its content as :func:`write_exports` or the plan summary wrote it (a draft).
    partner : str
        The partner country or organisation named by the plan.
    ref : str
        The approval: request id, who approved and when.

    Returns
    -------
    str
        The text with ``approval`` fields set to ``approved`` (and ``approval_ref``) and the
        KML's approval sentences replaced; files that carry no approval come back unchanged.

    Raises
    ------
    ExportError
        A JSON export that cannot be parsed, or a KML export without the draft sentence.
    """
    if name.endswith((".geojson", ".json")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ExportError(f"{name}: not JSON ({exc.msg} at line {exc.lineno})") from None
        if isinstance(doc, dict) and "approval" in doc:
            doc["approval"], doc["approval_ref"] = "approved", ref
        for feature in doc.get("features", []) if isinstance(doc, dict) else []:
            props = feature.get("properties") or {}
            if "approval" in props:
                props["approval"], props["approval_ref"] = "approved", ref
        return _json_text(doc, name)
    if name.endswith(".kml"):
        draft = re.compile(
            r"Approval status: ([\w-]+)\. Not approved by partner ([^:<]+): do not fly\."
        )
        if not draft.search(text):
            raise ExportError(f"{name}: no approval sentence to stamp (not a Vigía plan export?)")
        text = draft.sub(lambda m: approval_text("approved", m.group(2), ref), text)
        return re.sub(
            r'(<Data name="approval">\s*<value>)[^<]*(</value>)', r"\g<1>approved\g<2>", text
        )
    return text


def kml_text(mission: Mission) -> str:
    """Build a KML 2.2 document of the mission, valid against the OGC KML schema.

    Parameters
    ----------
    mission : Mission
        The planned mission (lon/lat degrees).

    Returns
    -------
    str
        UTF-8 KML with a Document (its description states the approval status), four
        shared Styles and the Folders "Areas of interest" and "Restricted airspace"
        (Polygons with holes, clamped to ground), "Imaging lines" and "Routes" (one
        LineString Placemark per line or sortie, ``relativeToGround`` at the flight
        altitude in metres). Every id is a valid XML id.

    Raises
    ------
    ExportError
        If a geometry is empty or a coordinate is not lon/lat degrees.

    Examples
    --------
    >>> kml_text(mission).startswith("<?xml")  # doctest: +SKIP
    True
    """
    approval = _approval_text(mission)
    area_marks = [
        Placemark(
            id=f"area-{i}",
            name=name,
            style_url=StyleUrl(url="#style-area"),
            kml_geometry=_kml_polygon(polygon, f"area {name!r}"),
        )
        for i, (name, polygon) in enumerate(mission.areas, start=1)
    ]
    zone_marks = [
        Placemark(
            id=f"restricted-{i}",
            name=zone.name,
            description=f"Restricted airspace ({zone.kind}).",
            style_url=StyleUrl(url="#style-restricted"),
            extended_data=_kml_data({"kind": zone.kind}),
            kml_geometry=_kml_polygon(zone.polygon, f"restricted zone {zone.name!r}"),
        )
        for i, zone in enumerate(mission.restricted, start=1)
    ]
    line_marks = []
    for i, line in enumerate(mission.lines, start=1):
        where = f"imaging line {line.line_id}"
        points = [
            _lonlat(line.start[0], line.start[1], where),
            _lonlat(line.end[0], line.end[1], where),
        ]
        line_marks.append(
            Placemark(
                id=f"line-{i}",  # line ids are free text; XML ids are not
                name=line.line_id,
                style_url=StyleUrl(url="#style-line"),
                extended_data=_kml_data(
                    {
                        "line_id": line.line_id,
                        "area": line.area,
                        "sortie": line.sortie,
                        "heading_deg": line.heading_deg,
                        "length_m": line.length_m,
                        "swath_m": line.swath_m,
                        "altitude_m": line.altitude_m,
                    }
                ),
                kml_geometry=_kml_line(points, float(line.altitude_m)),
            )
        )
    route_marks = [
        Placemark(
            id=f"route-{s.index}",
            name=f"Sortie {s.index}",
            description=(
                f"{s.length_m / 1000:.1f} km, {s.duration_s / 3600:.2f} h, "
                f"areas: {', '.join(s.areas) or 'none'}. {approval}"
            ),
            style_url=StyleUrl(url="#style-route"),
            extended_data=_kml_data(
                {
                    "sortie": s.index,
                    "length_m": s.length_m,
                    "duration_s": s.duration_s,
                    "platform": mission.platform,
                    "approval": mission.approval,
                }
            ),
            kml_geometry=_kml_line(_route_lonlat(s), float(mission.altitude_m)),
        )
        for s in mission.sorties
    ]
    document = Document(
        id="vigia-mission",
        name=mission.name,
        description=f"Vigía surveillance plan, platform {mission.platform}. {approval}",
        styles=_kml_styles(),
        features=[
            Folder(id="areas", name="Areas of interest", features=area_marks),
            Folder(id="restricted", name="Restricted airspace", features=zone_marks),
            Folder(id="lines", name="Imaging lines", features=line_marks),
            Folder(id="routes", name="Routes", features=route_marks),
        ],
    )
    body = KML(features=[document]).to_string(prettyprint=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body


# ---------------------------------------------------------------------------------------
# Writers (the only I/O in this module)
# ---------------------------------------------------------------------------------------

_ID_SAFE = re.compile(r"[^\w.-]")


def _json_text(data: dict[str, Any], what: str) -> str:
    try:
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as exc:  # NaN or infinity slipped through
        raise ExportError(f"{what}: cannot encode as JSON: {exc}") from exc


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{_ID_SAFE.sub('_', path.name)}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; exports are meant to be shared
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_exports(mission: Mission, out_dir: Path) -> list[Path]:
    """Write every export of the mission into a directory.

    Parameters
    ----------
    mission : Mission
        The planned mission; it needs at least one sortie.
    out_dir : Path
        Directory to write into; created if missing. Existing files of the same names
        are replaced.

    Returns
    -------
    list of Path
        The files written, in this order: ``route.geojson``, ``lines.geojson``,
        ``areas.geojson``, ``mission.plan`` and ``mission.waypoints`` (first sortie), then
        ``sortie-01.plan``, ``sortie-01.waypoints``, ... for every sortie when there is
        more than one, and ``mission.kml``.

    Raises
    ------
    ExportError
        If the mission has no sorties, an export cannot be built, or a file cannot be
        written (the message names the path). Every file is written to a temporary file
        first and renamed into place, so none is left half-written; all exports are
        built before the first file is written.

    Examples
    --------
    >>> [p.name for p in write_exports(mission, Path("out"))]  # doctest: +SKIP
    ['route.geojson', 'lines.geojson', 'areas.geojson', 'mission.plan', ...]
    """
    if not mission.sorties:
        raise ExportError(f"mission {mission.name!r} has no sorties to export")
    first = mission.sorties[0].index
    contents: list[tuple[str, str]] = [
        ("route.geojson", _json_text(route_geojson(mission), "route.geojson")),
        ("lines.geojson", _json_text(lines_geojson(mission), "lines.geojson")),
        ("areas.geojson", _json_text(areas_geojson(mission), "areas.geojson")),
        ("mission.plan", _json_text(qgc_plan(mission, first), "mission.plan")),
        ("mission.waypoints", wpl_text(mission, first)),
    ]
    if len(mission.sorties) > 1:
        for s in mission.sorties:
            stem = f"sortie-{s.index:02d}"
            contents.append((f"{stem}.plan", _json_text(qgc_plan(mission, s.index), stem)))
            contents.append((f"{stem}.waypoints", wpl_text(mission, s.index)))
    contents.append(("mission.kml", kml_text(mission)))

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create directory {out_dir}: {exc.strerror or exc}") from exc
    written = []
    for name, text in contents:
        path = out_dir / name
        _atomic_write(path, text)
        written.append(path)
    return written
