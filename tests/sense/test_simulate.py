"""``vigia simulate``: the planned lines flown over the world, written as files."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vigia.sense.io import open_cube


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigia.cli.main",
            "simulate",
            "--scenario",
            "sinaloa",
            "--out-dir",
            str(out),
            "--max-lines",
            "1",
            "--max-frames",
            "40",
            "--crosstrack",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    return out


def test_each_line_has_both_instruments_truth_and_a_quicklook(simulated: Path) -> None:
    names = {p.name for p in (simulated / "lines").iterdir()}
    assert names == {"S01-L001_vswir.nc", "S01-L001_lwir.nc", "S01-L001.png"}
    assert (simulated / "truth" / "S01-L001.nc").exists()
    assert (simulated / "truth" / "S01-L001_lwir.nc").exists()


def test_cubes_open_in_the_emit_layout_with_their_units(simulated: Path) -> None:
    v = open_cube(simulated / "lines" / "S01-L001_vswir.nc")
    lw = open_cube(simulated / "lines" / "S01-L001_lwir.nc")
    assert v["radiance"].dims == ("downtrack", "crosstrack", "bands")
    assert v.attrs["sensor"] == "vswir" and lw.attrs["sensor"] == "lwir"
    assert v["radiance"].shape[:2] == (40, 60)
    assert float(v["wavelengths"].min()) < 400 and float(lw["wavelengths"].max()) > 11_000
    assert np.isfinite(v["lat"].values).all()


def test_truth_holds_ch4_on_the_line_grid_and_the_sites_file(simulated: Path) -> None:
    truth = xr.open_dataset(simulated / "truth" / "S01-L001.nc", engine="h5netcdf")
    assert "ch4" in truth and truth["ch4"].shape == (40, 60)
    assert truth["ch4"].attrs["units"] == "ppm m"
    sites = json.loads((simulated / "truth.geojson").read_text())
    assert sites["features"] and all(
        f["properties"]["overpasses"][0]["line_id"] == "S01-L001" for f in sites["features"]
    )


def test_the_figures_of_the_scenario_are_written_beside_the_lines(simulated: Path) -> None:
    names = {p.name for p in (simulated / "figures").iterdir()}
    assert {"reflectance.png", "radiance_plume_vswir.png", "plume_column.png"} <= names
    assert {"radiance_plume_lwir.png", "thermal.png"} <= names


def test_demo_lines_are_cut_around_sites_that_emit_when_the_line_is_flown() -> None:
    from vigia.plan.planner import flight_params, plan_areas
    from vigia.platform import load_platform
    from vigia.sense.simulate import daylight_departure, line_times, lines_over_sites
    from vigia.world.scenario import load_scenario
    from vigia.world.world import build_world

    sc = load_scenario("sinaloa")
    mission = plan_areas(
        sc.name,
        sc.partner,
        sc.areas,
        flight_params(load_platform("mq9")),
        base_icao=sc.base_icao,
        exclusions=sc.exclusions,
    )
    world = build_world(sc, seed=0)
    times = line_times(mission, daylight_departure(mission, sc.window_start, sc.window_end))
    lines = lines_over_sites(mission, world, 3, 500.0, times)
    assert 1 <= len(lines) <= 3
    frame = world.frame
    emitting = [s for s in world.sites if s.emissions_kg_h]
    for ln in lines:
        a, b = frame.to_xy(np.array([ln.start, ln.end]))
        assert abs(float(np.hypot(*(b - a))) - ln.length_m) < 1.0
    # The first pick shows a site that emits at its time, within the cut stretch.
    hits = 0
    for ln in lines:
        a, b = frame.to_xy(np.array([ln.start, ln.end]))
        u = (b - a) / np.hypot(*(b - a))
        for s in emitting:
            p = frame.to_xy(np.array([[s.lon, s.lat]]))[0] - a
            along, across = float(p @ u), abs(float(p @ np.array([-u[1], u[0]])))
            if 0 <= along <= ln.length_m and across <= 0.45 * ln.swath_m:
                hits += world.is_active(s, times[ln.line_id])
    assert hits >= 1


def test_a_sortie_flies_when_it_is_told_to_and_only_inside_the_scenarios_window(
    tmp_path: Path,
) -> None:
    from datetime import timedelta

    from vigia.errors import InputError
    from vigia.plan.planner import flight_params, plan_revisit_sortie
    from vigia.platform import load_platform
    from vigia.sense.simulate import simulate_mission
    from vigia.world.scenario import load_scenario
    from vigia.world.world import build_world

    sc = load_scenario("sinaloa")
    world = build_world(sc, seed=0)
    site = world.sites[0]
    platform = load_platform("mq9")
    revisit = plan_revisit_sortie(
        [("SITE-000001", site.lon, site.lat)], flight_params(platform), partner=sc.partner
    )
    later = (sc.window_start + timedelta(days=3)).replace(hour=17, minute=0)
    r = simulate_mission(
        world, revisit, platform, tmp_path, departure=later, max_frames=8, crosstrack_pixels=8
    )
    [line] = r.lines
    assert line.line_id == "RV-S01-L001"
    assert later <= line.time < later + timedelta(hours=2)
    weather = json.loads((tmp_path / "weather.json").read_text())
    assert "RV-S01-L001" in json.dumps(weather)
    with pytest.raises(InputError, match="outside the scenario window"):
        simulate_mission(
            world, revisit, platform, tmp_path / "late", departure=sc.window_end + timedelta(1)
        )
    with pytest.raises(InputError, match="jobs must be ≥ 1, got 0"):
        simulate_mission(world, revisit, platform, tmp_path / "none", departure=later, jobs=0)
    assert not (tmp_path / "none").exists()


def test_lines_rendered_in_two_processes_are_the_files_one_process_writes(
    tmp_path: Path,
) -> None:
    from vigia.plan.planner import flight_params, plan_scenario
    from vigia.platform import load_platform
    from vigia.sense.simulate import simulate_mission
    from vigia.world.scenario import load_scenario
    from vigia.world.world import build_world

    sc = load_scenario("sinaloa")
    world = build_world(sc, seed=0)
    platform = load_platform("mq9")
    mission = plan_scenario(sc, flight_params(platform))
    one, two = (
        simulate_mission(
            world,
            mission,
            platform,
            tmp_path / name,
            max_lines=2,
            max_frames=24,
            crosstrack_pixels=16,
            seed=3,
            jobs=jobs,
        )
        for name, jobs in (("one", 1), ("two", 2))
    )
    assert [ln.line_id for ln in two.lines] == [ln.line_id for ln in one.lines]
    assert len(one.lines) == 2
    for a, b in zip(one.lines, two.lines, strict=True):
        assert a.time == b.time
        assert b.quicklook.stat().st_size > 0
        for pa, pb in ((a.vswir, b.vswir), (a.lwir, b.lwir)):
            with open_cube(pa) as ca, open_cube(pb) as cb:
                np.testing.assert_array_equal(ca["radiance"].values, cb["radiance"].values)
                np.testing.assert_array_equal(ca["lat"].values, cb["lat"].values)
        for name in (a.truth.name, a.truth.name.replace(".nc", "_lwir.nc")):
            with (
                xr.open_dataset(tmp_path / "one" / "truth" / name) as ta,
                xr.open_dataset(tmp_path / "two" / "truth" / name) as tb,
            ):
                xr.testing.assert_identical(ta.load(), tb.load())
    assert (tmp_path / "one" / "truth.geojson").read_text() == (
        tmp_path / "two" / "truth.geojson"
    ).read_text()
