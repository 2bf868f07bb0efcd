"""Exports of a planned mission, checked by the parsers ground stations and GIS tools use."""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastkml import KML, Placemark
from fastkml import LineString as KmlLineString
from fastkml import Polygon as KmlPolygon
from fastkml.utils import find_all
from fastkml.validator import validate
from geojson_pydantic import FeatureCollection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mavsdk import (
    ComponentType,
    Configuration,
    ConnectionResult,
    LogLevel,
    Mavsdk,
    log_subscribe,
    log_unsubscribe,
)
from mavsdk.plugins.mission_raw import MissionRaw, MissionRawError
from pymavlink import mavwp
from shapely.geometry import Polygon, box, shape
from shapely.ops import unary_union

from vigia.errors import ExportError
from vigia.plan import export
from vigia.plan.export import (
    areas_geojson,
    kml_text,
    lines_geojson,
    qgc_plan,
    route_geojson,
    wpl_text,
    write_exports,
)
from vigia.plan.mission import ImagingLine, Mission, RestrictedZone, Sortie, Waypoint

# MAVLink command numbers (common.xml), written out so the test does not trust the module.
TAKEOFF, WAYPOINT, LAND, LAND_START = 22, 16, 21, 189
IMAGE_START, IMAGE_STOP = 2000, 2001
FENCE_POLYGON_VERTEX_EXCLUSION = 5002

BASE = ("MMCL", -107.4747, 24.7645)  # Culiacán international airport
ALT = 1500.0


# ---------------------------------------------------------------------------------------
# A tiny hand-built mission near Culiacán, Sinaloa
# ---------------------------------------------------------------------------------------


def _line(line_id: str, sortie: int, start: tuple[float, float], end: tuple[float, float]):
    return ImagingLine(
        line_id=line_id,
        area="Valle Norte",
        sortie=sortie,
        start=start,
        end=end,
        heading_deg=0.0 if end[1] > start[1] else 180.0,
        length_m=11_000.0,
        swath_m=1_200.0,
        altitude_m=ALT,
    )


def _sortie(index: int, lines: list[ImagingLine]) -> Sortie:
    lon0, lat0 = BASE[1], BASE[2]
    wps = [
        Waypoint(lon0, lat0, 300.0, "takeoff"),
        Waypoint(-107.42, 24.82, ALT, "transit"),
    ]
    for ln in lines:
        wps.append(Waypoint(*ln.start, ALT, "line_start", ln.line_id))
        wps.append(Waypoint(*ln.end, ALT, "line_end", ln.line_id))
    wps.append(Waypoint(-107.45, 24.80, 400.0, "transit"))
    wps.append(Waypoint(lon0, lat0, 0.0, "land"))
    # A denser route than the waypoints, as the planner produces (turns sampled).
    pts = np.array([(w.lon, w.lat) for w in wps], dtype=np.float64)
    mids = (pts[:-1] + pts[1:]) / 2
    route = np.empty((len(pts) + len(mids), 2))
    route[0::2], route[1::2] = pts, mids
    return Sortie(
        index=index,
        route=route,
        length_m=95_000.0 + index,
        duration_s=1_900.0 + index,
        lines=tuple(lines),
        waypoints=tuple(wps),
        areas=("Valle Norte",),
    )


def make_mission(n_sorties: int = 2) -> Mission:
    # Clockwise exterior and counter-clockwise hole on purpose: exports must fix winding.
    area = Polygon(
        [(-107.40, 24.85), (-107.40, 24.95), (-107.30, 24.95), (-107.30, 24.85)],
        [[(-107.36, 24.89), (-107.34, 24.89), (-107.34, 24.91), (-107.36, 24.91)]],
    )
    airport = RestrictedZone(
        "MMCL Culiacán airport",
        "airport",
        Polygon([(-107.50, 24.74), (-107.50, 24.79), (-107.45, 24.79), (-107.45, 24.74)]),
    )
    # A ring-shaped exclusion: the hole is airspace that may be flown.
    presa = RestrictedZone(
        "partner exclusion: Presa Sanalona",
        "partner_exclusion",
        Polygon(
            [(-107.20, 24.75), (-107.10, 24.75), (-107.10, 24.85), (-107.20, 24.85)],
            [[(-107.17, 24.78), (-107.17, 24.82), (-107.13, 24.82), (-107.13, 24.78)]],
        ),
    )
    sorties = [
        _sortie(
            1,
            [
                _line("S01-L001", 1, (-107.39, 24.86), (-107.39, 24.94)),
                _line("S01-L002", 1, (-107.38, 24.94), (-107.38, 24.86)),
            ],
        ),
        _sortie(2, [_line("S02-L001", 2, (-107.31, 24.86), (-107.31, 24.94))]),
    ][:n_sorties]
    return Mission(
        name="culiacan-demo",
        partner="MX",
        base=BASE,
        platform="MQ-9",
        sensors=("HySpex",),
        altitude_m=ALT,
        speed_m_s=80.0,
        turn_radius_m=1_500.0,
        swath_m=1_200.0,
        sidelap=0.2,
        areas=[("Valle Norte", area)],
        restricted=[airport, presa],
        sorties=sorties,
    )


def expected_items(sortie: Sortie) -> list[tuple[int, float, float, float]]:
    """(command, lat, lon, alt) of every mission item, from the spec of the format."""
    out: list[tuple[int, float, float, float]] = []
    for w in sortie.waypoints:
        pos = (w.lat, w.lon, w.altitude_m)
        if w.kind == "takeoff":
            out.append((TAKEOFF, *pos))
        elif w.kind == "transit":
            out.append((WAYPOINT, *pos))
        elif w.kind == "line_start":
            out += [(WAYPOINT, *pos), (IMAGE_START, 0.0, 0.0, 0.0)]
        elif w.kind == "line_end":
            out += [(WAYPOINT, *pos), (IMAGE_STOP, 0.0, 0.0, 0.0)]
        else:
            out += [(LAND_START, *pos), (LAND, *pos)]
    return out


@pytest.fixture
def mission() -> Mission:
    return make_mission()


# ---------------------------------------------------------------------------------------
# GeoJSON
# ---------------------------------------------------------------------------------------


def _assert_lonlat_near_culiacan(coords: list[list[float]]) -> None:
    for lon, lat in coords:
        assert -107.6 < lon < -107.0  # lon first (RFC 7946), not swapped
        assert 24.6 < lat < 25.1


def test_route_geojson_is_strict_geojson_with_one_line_per_sortie(mission: Mission) -> None:
    obj = route_geojson(mission)
    fc = FeatureCollection.model_validate(obj, strict=True)
    assert len(fc.features) == 2
    for feature, sortie in zip(obj["features"], mission.sorties, strict=True):
        coords = feature["geometry"]["coordinates"]
        assert feature["geometry"]["type"] == "LineString"
        assert len(coords) == len(sortie.route)
        np.testing.assert_allclose(coords, sortie.route, atol=1e-7)
        _assert_lonlat_near_culiacan(coords)
        assert feature["properties"] == {
            "sortie": sortie.index,
            "length_m": sortie.length_m,
            "duration_s": sortie.duration_s,
            "areas": ["Valle Norte"],
            "approval": "draft",
            "platform": "MQ-9",
            "altitude_m": ALT,
        }
    json.dumps(obj, allow_nan=False)  # plain JSON types only


def test_lines_geojson_has_every_imaging_line_with_its_properties(mission: Mission) -> None:
    obj = lines_geojson(mission)
    FeatureCollection.model_validate(obj, strict=True)
    assert [f["properties"]["line_id"] for f in obj["features"]] == [
        "S01-L001",
        "S01-L002",
        "S02-L001",
    ]
    first = obj["features"][0]
    assert first["geometry"]["coordinates"] == [[-107.39, 24.86], [-107.39, 24.94]]
    assert first["properties"] == {
        "line_id": "S01-L001",
        "area": "Valle Norte",
        "sortie": 1,
        "heading_deg": 0.0,
        "length_m": 11_000.0,
        "swath_m": 1_200.0,
        "altitude_m": ALT,
    }


def test_areas_geojson_follows_rfc7946_winding_and_keeps_holes(mission: Mission) -> None:
    obj = areas_geojson(mission)
    FeatureCollection.model_validate(obj, strict=True)
    props = [f["properties"] for f in obj["features"]]
    assert props == [
        {"name": "Valle Norte", "layer": "area"},
        {"name": "MMCL Culiacán airport", "layer": "restricted", "kind": "airport"},
        {
            "name": "partner exclusion: Presa Sanalona",
            "layer": "restricted",
            "kind": "partner_exclusion",
        },
    ]
    originals = [mission.areas[0][1], *(z.polygon for z in mission.restricted)]
    for feature, original in zip(obj["features"], originals, strict=True):
        exterior, *holes = feature["geometry"]["coordinates"]
        assert shapely.is_ccw(shapely.LinearRing(exterior))
        assert len(holes) == len(original.interiors)
        for hole in holes:
            assert not shapely.is_ccw(shapely.LinearRing(hole))
        _assert_lonlat_near_culiacan(exterior)
        assert shape(feature["geometry"]).equals(original)


def test_geojson_rejects_coordinates_that_are_not_lonlat(mission: Mission) -> None:
    mission.areas = [("swapped", Polygon([(24.9, -107.3), (24.9, -117.3), (25.0, -107.3)]))]
    with pytest.raises(ExportError, match="swapped"):
        areas_geojson(mission)


# ---------------------------------------------------------------------------------------
# QGC WPL 110, read back by pymavlink
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [1, 2])
def test_wpl_round_trips_through_pymavlink(mission: Mission, tmp_path: Path, index: int) -> None:
    path = tmp_path / "m.waypoints"
    path.write_text(wpl_text(mission, sortie=index), encoding="utf-8")
    loader = mavwp.MAVWPLoader()
    sortie = mission.sorties[index - 1]
    expected = expected_items(sortie)
    assert loader.load(str(path)) == len(expected) + 1

    home = loader.wp(0)
    assert (home.seq, home.current, home.frame) == (0, 1, 0)
    assert home.x == pytest.approx(BASE[2], abs=1e-6)
    assert home.y == pytest.approx(BASE[1], abs=1e-6)

    for seq, (command, lat, lon, alt) in enumerate(expected, start=1):
        item = loader.wp(seq)
        assert (item.seq, item.command, item.current, item.autocontinue) == (seq, command, 0, 1)
        assert item.x == pytest.approx(lat, abs=1e-6)
        assert item.y == pytest.approx(lon, abs=1e-6)
        assert item.z == pytest.approx(alt, abs=1e-6)
        assert item.frame == (2 if command in (IMAGE_START, IMAGE_STOP) else 3)
    assert loader.wp(1).param1 == 15.0  # takeoff pitch


def test_wpl_is_tab_separated_with_twelve_fields(mission: Mission) -> None:
    header, *rows = wpl_text(mission).splitlines()
    assert header == "QGC WPL 110"
    for row in rows:
        fields = row.split("\t")
        assert len(fields) == 12
        assert all("e" not in f.lower() and f not in ("nan", "inf") for f in fields)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=st.lists(
        st.tuples(
            st.floats(-180, 180, allow_subnormal=False),
            st.floats(-90, 90, allow_subnormal=False),
            st.floats(0, 10_000, allow_subnormal=False),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_wpl_round_trip_of_any_positions(points: list[tuple[float, float, float]]) -> None:
    mission = make_mission(1)
    wps = tuple(Waypoint(lon, lat, alt, "transit") for lon, lat, alt in points)
    route = np.array([(lon, lat) for lon, lat, _ in points] * 2)
    mission.sorties = [Sortie(1, route, 1.0, 1.0, (), wps, ())]
    loader = mavwp.MAVWPLoader()
    with _temporary_file(wpl_text(mission)) as path:
        assert loader.load(str(path)) == len(points) + 1
    for seq, (lon, lat, alt) in enumerate(points, start=1):
        item = loader.wp(seq)
        assert (item.command, item.x, item.y) == (
            WAYPOINT,
            pytest.approx(lat, abs=1e-6),
            pytest.approx(lon, abs=1e-6),
        )
        assert item.z == pytest.approx(alt, abs=1e-6)


@contextlib.contextmanager
def _temporary_file(text: str) -> Iterator[Path]:
    import tempfile  # hypothesis forbids function-scoped fixtures such as tmp_path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.waypoints"
        path.write_text(text, encoding="utf-8")
        yield path


# ---------------------------------------------------------------------------------------
# QGroundControl .plan, imported by MAVSDK
# ---------------------------------------------------------------------------------------


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mission_raw() -> Iterator[MissionRaw]:
    """MAVSDK's MissionRaw plugin, talking to a fake autopilot in the same process.

    MAVSDK imports a .plan only through a System, and it only hands out a System once an
    autopilot's heartbeat arrives: a second Mavsdk configured as AUTOPILOT listens on a
    free loopback UDP port, the ground-station Mavsdk sends to it. Discovery takes about
    one heartbeat period (1 s).
    """
    log: list[str] = []

    def keep_log(level: LogLevel, message: str, file: str | None, line: int) -> bool:
        log.append(f"{level.name} {message}")
        return True  # keep MAVSDK's C++ logging off stdout

    log_subscribe(keep_log)
    autopilot_cfg = Configuration.create_with_component_type(ComponentType.AUTOPILOT)
    gcs_cfg = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
    try:
        with Mavsdk(autopilot_cfg) as autopilot, Mavsdk(gcs_cfg) as gcs:
            for _ in range(3):  # the free port may be taken between probe and bind
                port = _free_udp_port()
                url = f"udpin://127.0.0.1:{port}"
                if autopilot.add_any_connection(url) == ConnectionResult.SUCCESS:
                    break
            else:
                pytest.fail(f"no loopback UDP port for the fake autopilot: {log}")
            url = f"udpout://127.0.0.1:{port}"
            assert gcs.add_any_connection(url) == ConnectionResult.SUCCESS, log
            system = gcs.first_autopilot(5.0)
            assert system is not None, f"fake autopilot not discovered within 5 s: {log}"
            plugin = MissionRaw(system)
            yield plugin
            plugin.destroy()
    finally:
        autopilot_cfg.destroy()
        gcs_cfg.destroy()
        log_unsubscribe()


@pytest.mark.parametrize("index", [1, 2])
def test_plan_is_imported_by_mavsdk(
    mission: Mission, mission_raw: MissionRaw, tmp_path: Path, index: int
) -> None:
    plan = qgc_plan(mission, sortie=index)
    path = tmp_path / "m.plan"
    path.write_text(json.dumps(plan, allow_nan=False), encoding="utf-8")
    imported = mission_raw.import_qgroundcontrol_mission(str(path))

    expected = expected_items(mission.sorties[index - 1])
    items = imported.mission_items
    assert len(items) == len(expected)
    for seq, (item, (command, lat, lon, alt)) in enumerate(zip(items, expected, strict=True)):
        assert (item.seq, item.command, item.autocontinue) == (seq, command, 1)
        assert item.x / 1e7 == pytest.approx(lat, abs=1e-6)  # MISSION_ITEM_INT: deg * 1e7
        assert item.y / 1e7 == pytest.approx(lon, abs=1e-6)
        assert item.z == pytest.approx(alt, abs=1e-3)
    assert items[0].param1 == 15.0

    # Every restricted zone becomes exclusion polygons; the ring-shaped one is cut in two.
    fence = imported.geofence_items
    assert {f.command for f in fence} == {FENCE_POLYGON_VERTEX_EXCLUSION}
    assert len(plan["geoFence"]["polygons"]) == 3
    assert len(fence) == sum(len(p["polygon"]) for p in plan["geoFence"]["polygons"])
    for f in fence:
        assert -107.6 < f.y / 1e7 < -107.0 and 24.6 < f.x / 1e7 < 25.1
    assert imported.rally_items == []


def test_plan_document_shape(mission: Mission) -> None:
    plan = qgc_plan(mission)
    assert (plan["fileType"], plan["version"], plan["groundStation"]) == (
        "Plan",
        1,
        "QGroundControl",
    )
    m = plan["mission"]
    assert (m["version"], m["firmwareType"], m["vehicleType"]) == (2, 3, 1)
    assert m["plannedHomePosition"] == [BASE[2], BASE[1], 0.0]
    assert [it["doJumpId"] for it in m["items"]] == list(range(1, len(m["items"]) + 1))
    assert all(it["type"] == "SimpleItem" and len(it["params"]) == 7 for it in m["items"])
    for polygon in plan["geoFence"]["polygons"]:
        assert polygon["inclusion"] is False
        assert polygon["polygon"][0] != polygon["polygon"][-1]  # no repeated closing vertex
    assert plan["rallyPoints"] == {"version": 2, "points": []}


def test_mavsdk_rejects_a_plan_of_another_version(mission: Mission, mission_raw: MissionRaw):
    # Shows the import test above is a real check, not a parser that accepts anything.
    plan = qgc_plan(mission)
    plan["version"] = 2
    with pytest.raises(MissionRawError):
        mission_raw.import_qgroundcontrol_mission_from_string(json.dumps(plan))


def test_plan_of_a_missing_sortie_is_an_export_error(mission: Mission) -> None:
    with pytest.raises(ExportError, match="no sortie 3"):
        qgc_plan(mission, sortie=3)
    with pytest.raises(ExportError, match="no sortie 3"):
        wpl_text(mission, sortie=3)


def test_non_finite_waypoint_is_an_export_error(mission: Mission) -> None:
    s = mission.sorties[0]
    bad = Waypoint(math.nan, 24.9, ALT, "transit")
    mission.sorties[0] = Sortie(s.index, s.route, 1.0, 1.0, s.lines, (bad,), s.areas)
    with pytest.raises(ExportError, match="non-finite"):
        qgc_plan(mission)


@settings(max_examples=30, deadline=None)
@given(
    holes=st.sets(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=6),
    skew=st.floats(0.0, 0.004),
)
def test_fence_polygons_cover_exactly_a_zone_with_holes(
    holes: set[tuple[int, int]], skew: float
) -> None:
    # A 4 x 4 grid of cells, some of which hold a (skewed) hole that may be flown.
    x0, y0, cell = -107.3, 24.8, 0.01
    hole_rings = [
        [
            (x0 + (i + 0.2) * cell, y0 + (j + 0.2) * cell),
            (x0 + (i + 0.8) * cell, y0 + (j + 0.2) * cell + skew),
            (x0 + (i + 0.8) * cell, y0 + (j + 0.8) * cell),
            (x0 + (i + 0.2) * cell, y0 + (j + 0.8) * cell),
        ]
        for i, j in sorted(holes)
    ]
    zone = Polygon(box(x0, y0, x0 + 4 * cell, y0 + 4 * cell).exterior.coords, hole_rings)
    mission = make_mission(1)
    mission.restricted = [RestrictedZone("ring", "user", zone)]
    fences = qgc_plan(mission)["geoFence"]["polygons"]
    parts = [Polygon([(lon, lat) for lat, lon in f["polygon"]]) for f in fences]
    assert all(p.is_valid and not p.interiors for p in parts)
    # Vertices are rounded to 1e-7 degree, so areas agree to about perimeter x 1e-7.
    tolerance = zone.length * 1e-7
    assert unary_union(parts).symmetric_difference(zone).area < tolerance
    assert sum(p.area for p in parts) == pytest.approx(zone.area, abs=tolerance)  # no overlap


# ---------------------------------------------------------------------------------------
# KML, validated against the OGC schema and read back by fastkml
# ---------------------------------------------------------------------------------------


def test_kml_is_schema_valid_and_round_trips(mission: Mission, tmp_path: Path) -> None:
    path = tmp_path / "mission.kml"
    path.write_text(kml_text(mission), encoding="utf-8")
    # validate() returns None (instead of raising) when lxml is missing: insist on True.
    assert validate(file_to_validate=path) is True
    kml = KML.parse(path)  # validates again (strict) and builds objects

    marks = list(find_all(kml, of_type=Placemark))
    n_lines = len(mission.lines)
    assert len(marks) == 1 + 2 + n_lines + 2
    by_id = {m.id: m for m in marks}

    area = by_id["area-1"].kml_geometry
    assert isinstance(area, KmlPolygon)
    assert len(area.inner_boundaries) == 1
    assert shapely.Polygon(area.geometry.exterior.coords).equals(
        shapely.Polygon(mission.areas[0][1].exterior.coords)
    )

    for i, line in enumerate(mission.lines, start=1):
        geom = by_id[f"line-{i}"].kml_geometry
        assert isinstance(geom, KmlLineString)
        assert by_id[f"line-{i}"].name == line.line_id
        np.testing.assert_allclose(
            [c[:2] for c in geom.geometry.coords], [line.start, line.end], atol=1e-7
        )

    for sortie in mission.sorties:
        geom = by_id[f"route-{sortie.index}"].kml_geometry
        assert isinstance(geom, KmlLineString)
        assert geom.altitude_mode.value == "relativeToGround"
        coords = np.array(geom.geometry.coords)
        np.testing.assert_allclose(coords[:, :2], sortie.route, atol=1e-7)
        np.testing.assert_allclose(coords[:, 2], ALT)

    document = kml.features[0]
    assert "draft" in document.description
    assert [f.name for f in document.features] == [
        "Areas of interest",
        "Restricted airspace",
        "Imaging lines",
        "Routes",
    ]


def test_kml_validator_rejects_numeric_ids(mission: Mission, tmp_path: Path) -> None:
    # Shows the schema check is real: simplekml-style numeric ids fail it.
    path = tmp_path / "bad.kml"
    path.write_text(kml_text(mission).replace('id="area-1"', 'id="1"'), encoding="utf-8")
    with pytest.raises(AssertionError):
        validate(file_to_validate=path)


def test_kml_ids_are_valid_xml_ids(mission: Mission) -> None:
    text = kml_text(mission)
    ids = [seg.split('"')[0] for seg in text.split(' id="')[1:]]
    assert ids and len(ids) == len(set(ids))
    assert all(i[0].isalpha() and all(c.isalnum() or c in "-_." for c in i) for i in ids)


# ---------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------


def test_write_exports_writes_exactly_the_expected_files(mission: Mission, tmp_path: Path):
    out = tmp_path / "out"
    written = write_exports(mission, out)
    names = [
        "route.geojson",
        "lines.geojson",
        "areas.geojson",
        "mission.plan",
        "mission.waypoints",
        "sortie-01.plan",
        "sortie-01.waypoints",
        "sortie-02.plan",
        "sortie-02.waypoints",
        "mission.kml",
    ]
    assert written == [out / n for n in names]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temporary files
    assert (out / "mission.plan").read_text() == (out / "sortie-01.plan").read_text()
    assert json.loads((out / "sortie-02.plan").read_text()) == qgc_plan(mission, 2)
    assert (out / "mission.kml").read_text(encoding="utf-8") == kml_text(mission)
    assert validate(file_to_validate=out / "mission.kml") is True


def test_write_exports_of_one_sortie_has_no_per_sortie_files(tmp_path: Path) -> None:
    written = write_exports(make_mission(1), tmp_path)
    assert [p.name for p in written] == [
        "route.geojson",
        "lines.geojson",
        "areas.geojson",
        "mission.plan",
        "mission.waypoints",
        "mission.kml",
    ]


def test_unwritable_directory_is_an_export_error_naming_it(mission: Mission, tmp_path: Path):
    # A directory under a regular file cannot be created, even by root (chmod would not do).
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="not-a-dir"):
        write_exports(mission, blocker / "out")


def test_failed_write_leaves_no_partial_file(
    mission: Mission, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def failing_replace(src: Any, dst: Any) -> None:
        if str(dst).endswith("mission.plan"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(export.os, "replace", failing_replace)
    with pytest.raises(ExportError, match=r"mission\.plan.*No space left"):
        write_exports(mission, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "areas.geojson",
        "lines.geojson",
        "route.geojson",
    ]


def test_mission_without_sorties_is_an_export_error(tmp_path: Path) -> None:
    mission = make_mission()
    mission.sorties = []
    with pytest.raises(ExportError, match="no sorties"):
        write_exports(mission, tmp_path)
    assert list(tmp_path.iterdir()) == []
