"""The ``vigia plan`` command contract, run as users run it (the installed entry point)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape

from vigia.geo import LocalFrame
from vigia.plan.metrics import length_inside, min_turn_radius

# A 20 × 15 km area in the hills east of Culiacán with a restricted hole, and a no-fly zone.
AOI = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "hills"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [-107.30, 24.95],
                        [-107.10, 24.95],
                        [-107.10, 25.09],
                        [-107.30, 25.09],
                        [-107.30, 24.95],
                    ],
                    [
                        [-107.22, 25.00],
                        [-107.18, 25.00],
                        [-107.18, 25.03],
                        [-107.22, 25.03],
                        [-107.22, 25.00],
                    ],
                ],
            },
        }
    ],
}
ZONES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "dam"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [-107.12, 24.93],
                        [-107.05, 24.93],
                        [-107.05, 24.98],
                        [-107.12, 24.98],
                        [-107.12, 24.93],
                    ]
                ],
            },
        }
    ],
}


def vigia(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigia.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("plan")
    (d / "aoi.geojson").write_text(json.dumps(AOI))
    (d / "zones.geojson").write_text(json.dumps(ZONES))
    r = vigia(
        "plan",
        str(d / "aoi.geojson"),
        "--no-fly",
        str(d / "zones.geojson"),
        "--swath-m",
        "2000",
        "--turn-radius-m",
        "1900",
        "--base",
        "MMCL",
        "--out-dir",
        str(d / "out"),
    )
    assert r.returncode == 0, r.stderr
    return d / "out"


def test_plan_writes_every_file_of_the_contract(planned: Path) -> None:
    for name in (
        "route.geojson",
        "lines.geojson",
        "mission.plan",
        "mission.waypoints",
        "mission.kml",
        "plan.png",
        "plan.json",
        "areas.geojson",
    ):
        assert (planned / name).stat().st_size > 0, name


def test_the_route_is_continuous_flyable_and_clear_of_restricted_airspace(planned: Path) -> None:
    route = json.loads((planned / "route.geojson").read_text())
    summary = json.loads((planned / "plan.json").read_text())
    frame = LocalFrame(32613)
    aoi_hole = shapely.Polygon(AOI["features"][0]["geometry"]["coordinates"][1])
    dam = shape(ZONES["features"][0]["geometry"])
    blocked = frame.geom_to_xy(shapely.union_all([aoi_hole, dam]))
    for f in route["features"]:
        assert f["geometry"]["type"] == "LineString"
        assert {"length_m", "duration_s", "sortie"} <= set(f["properties"])
        xy = frame.to_xy(shapely.get_coordinates(shape(f["geometry"])))
        assert length_inside(xy, blocked) == 0.0
        assert min_turn_radius(xy) >= 1900 * 0.99  # the projection round trip costs < 1 %
        # From the base (MMCL, Culiacán) and back to it.
        assert f["geometry"]["coordinates"][0] == pytest.approx([-107.4747, 24.7645], abs=0.01)
        assert f["geometry"]["coordinates"][-1] == f["geometry"]["coordinates"][0]
    assert all(a["covered"] >= 0.995 for a in summary["areas"])


def test_every_imaging_line_lies_on_the_route(planned: Path) -> None:
    route = json.loads((planned / "route.geojson").read_text())
    lines = json.loads((planned / "lines.geojson").read_text())
    frame = LocalFrame(32613)
    paths = {
        f["properties"]["sortie"]: frame.geom_to_xy(shape(f["geometry"])) for f in route["features"]
    }
    for f in lines["features"]:
        line = frame.geom_to_xy(shape(f["geometry"]))
        assert paths[f["properties"]["sortie"]].buffer(0.5).contains(line)


def test_the_ground_station_files_say_fixed_wing_and_fence_the_restricted_areas(
    planned: Path,
) -> None:
    plan = json.loads((planned / "mission.plan").read_text())
    assert plan["fileType"] == "Plan" and plan["mission"]["version"] == 2
    assert plan["mission"]["vehicleType"] == 1
    fences = plan["geoFence"]["polygons"]
    assert fences and all(p["inclusion"] is False for p in fences)
    assert (planned / "mission.waypoints").read_text().startswith("QGC WPL 110")


@pytest.mark.parametrize(
    ("aoi", "message"),
    [
        (
            {
                "type": "Polygon",
                "coordinates": [[[24.9, -107.3], [24.9, -107.2], [25.0, -107.2], [24.9, -107.3]]],
            },
            "swapped",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[-107.3, 24.9], [-107.2, 24.9], [-107.2, 25.0], [-107.25, 25.0]]],
            },
            "does not close",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [
                    [[-107.3, 24.9], [-107.2, 25.0], [-107.2, 24.9], [-107.3, 25.0], [-107.3, 24.9]]
                ],
            },
            "Self-intersection",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[-100.0, 40.0], [-99.9, 40.0], [-99.9, 40.1], [-100.0, 40.0]]],
            },
            "outside",
        ),
    ],
)
def test_bad_areas_give_one_line_and_exit_code_2(tmp_path: Path, aoi: dict, message: str) -> None:
    p = tmp_path / "aoi.geojson"
    p.write_text(json.dumps(aoi))
    r = vigia("plan", str(p), "--out-dir", str(tmp_path / "out"))
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_a_nonpositive_swath_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "aoi.geojson"
    p.write_text(json.dumps(AOI))
    r = vigia("plan", str(p), "--swath-m", "0", "--out-dir", str(tmp_path / "out"))
    assert r.returncode == 2 and "swath" in r.stderr


def test_a_no_fly_zone_that_swallows_the_area_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "aoi.geojson"
    p.write_text(json.dumps(AOI))
    z = tmp_path / "zones.geojson"
    z.write_text(
        json.dumps(
            {
                "type": "Polygon",
                "coordinates": [
                    [[-107.4, 24.9], [-107.0, 24.9], [-107.0, 25.2], [-107.4, 25.2], [-107.4, 24.9]]
                ],
            }
        )
    )
    r = vigia("plan", str(p), "--no-fly", str(z), "--out-dir", str(tmp_path / "out"))
    assert r.returncode == 2 and "entirely in restricted airspace" in r.stderr


def test_an_area_out_of_reach_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "aoi.geojson"
    p.write_text(json.dumps(AOI))
    r = vigia(
        "plan", str(p), "--base", "MMUN", "--endurance-h", "1", "--out-dir", str(tmp_path / "out")
    )
    assert r.returncode == 2 and "unreachable within endurance" in r.stderr


def test_the_scenario_plan_flies_from_its_base(tmp_path: Path) -> None:
    r = vigia("plan", "--scenario", "sinaloa", "--out-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "plan.json").read_text())
    assert summary["base"] == "MMCL"
    assert summary["revisits"], "the scenario's window gives a revisit schedule"


def test_airport_radii_are_configurable_and_checked(tmp_path: Path) -> None:
    p = tmp_path / "aoi.geojson"
    p.write_text(json.dumps(AOI))
    bad = vigia("plan", str(p), "--airport-radii", "major=lots", "--out-dir", str(tmp_path / "o"))
    assert bad.returncode == 2 and "SIZE=METRES" in bad.stderr
    # A 40 km radius round Culiacán airport swallows the whole area.
    r = vigia("plan", str(p), "--airport-radii", "medium=60000", "--out-dir", str(tmp_path / "o"))
    assert r.returncode == 2 and "MMCL" in r.stderr
