"""Rendering lines over a simulated world: physics shows where the truth says it should."""

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vigia.errors import InputError
from vigia.platform import load_platform
from vigia.sense.gas import ch4_unit_absorption
from vigia.sense.io import CubeWriter, open_cube, write_cube
from vigia.sense.render import LineRenderer, render_line, sensor_bands
from vigia.sense.thermal import brightness_temperature
from vigia.world.scenario import load_scenario
from vigia.world.sites import Site
from vigia.world.world import World, build_world

NOON = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)  # ~local solar noon over Sinaloa
PLATFORM = load_platform()


def world_with(*sites: Site) -> World:
    w = build_world(load_scenario("sinaloa"), seed=0)
    return dataclasses.replace(w, sites=sites)


def site(kind: str, **kw: object) -> Site:
    lon, lat = -107.30, 25.02  # inside the Tepuche hills area
    return Site(f"t-{kind}", kind, "tepuche_hills", lon, lat, **kw)  # type: ignore[arg-type]


def render(
    world: World,
    instrument: str,
    *,
    frames: int = 120,
    cols: int = 80,
    time: datetime = NOON,
    chunk_rows: int = 128,
):
    name = "avirisng" if instrument == "vswir" else "hytes"
    # Flying north over the site, which sits 300 m into the line.
    return render_line(
        world,
        (-107.30, 25.0173),
        (-107.30, 25.05),
        line_id="T-L001",
        time=time,
        instrument=instrument,
        platform=PLATFORM,
        sensor_name=name,
        altitude_m=2000.0,  # type: ignore[arg-type]
        max_frames=frames,
        crosstrack_pixels=cols,
        seed=3,
        chunk_rows=chunk_rows,
    )


@pytest.fixture(scope="module")
def landfill() -> Site:
    return site("landfill", emissions_kg_h={"CH4": 800.0}, duty_cycle=1.0, source_height_m=1.0)


def test_a_methane_plume_deepens_the_2300_nm_band_as_beer_lambert_says(landfill: Site) -> None:
    with_plume = render(world_with(landfill), "vswir")
    without = render(world_with(dataclasses.replace(landfill, emissions_kg_h={})), "vswir")
    ch4 = with_plume.truth["ch4"].values
    assert ch4.max() > 500.0, "the truth holds a plume"
    assert without.truth["ch4"].values.max() == 0.0
    centers, fwhm = sensor_bands(PLATFORM.sensor("avirisng"))
    b = int(np.argmax(ch4_unit_absorption(centers, fwhm) * (centers > 2200) * (centers < 2400)))
    k = ch4_unit_absorption(centers, fwhm)[b]
    plume = ch4 > 300.0
    a = with_plume.cube["radiance"].values[..., b][plume].astype(np.float64)
    z = without.cube["radiance"].values[..., b][plume].astype(np.float64)
    # Same seed, same noise draws: the ratio is the transmittance, up to noise on the offset.
    predicted = np.exp(-k * ch4[plume])
    assert np.median(a / z) == pytest.approx(np.median(predicted), abs=0.02)


def test_passes_at_other_times_see_other_eddies_of_the_same_plume(landfill: Site) -> None:
    # Turbulence is not frozen between passes: a line flown a minute later (nearly the same
    # wind) sees the plume torn differently; the same line at the same time sees the same.
    world = world_with(landfill)
    later = NOON + timedelta(minutes=1)
    w0, w1 = world.wind_at(NOON), world.wind_at(later)
    assert w1.speed_m_s == pytest.approx(w0.speed_m_s, abs=0.05)
    assert w1.from_deg == pytest.approx(w0.from_deg, abs=1.0)
    a, b, c = (render(world, "vswir", time=t).truth["ch4"].values for t in (NOON, NOON, later))
    assert np.array_equal(a, b)
    plume = (a > 50.0) | (c > 50.0)
    assert np.corrcoef(a[plume], c[plume])[0, 1] < 0.9
    assert a.max() > 500.0 and c.max() > 500.0  # both see the plume


def test_a_plume_rendered_in_runs_of_rows_is_the_plume_rendered_at_once(landfill: Site) -> None:
    # The renderer asks for the plume one run of rows at a time; each run reaches its own
    # distance downwind, and the turbulent structure must not depend on it (it once did: a
    # plume changed its eddies at every 128th row).
    world = world_with(landfill)
    whole = render(world, "vswir", frames=120, cols=40, chunk_rows=120).truth["ch4"].values
    runs = render(world, "vswir", frames=120, cols=40, chunk_rows=16).truth["ch4"].values
    assert np.count_nonzero(whole > 50.0) > 200, "the truth holds a plume across many runs"
    np.testing.assert_array_equal(runs, whole)


def test_a_kiln_is_a_hot_spot_in_the_thermal_infrared() -> None:
    kiln = site("kiln", heat_k=1100.0, heat_area_m2=12.0)
    r = render(world_with(kiln), "lwir")
    wl = r.cube["wavelengths"].values
    b = int(np.argmin(abs(wl - 10500.0)))
    bt = brightness_temperature(wl[b], np.maximum(r.cube["radiance"].values[..., b], 1e-6))
    assert bt.max() - np.median(bt) > 5.0


def test_truth_lies_on_the_cube_grid(landfill: Site) -> None:
    r = render(world_with(landfill), "lwir", frames=40, cols=30)
    assert r.truth["surface_temperature"].shape == r.cube["radiance"].shape[:2]
    assert np.allclose(r.truth["lat"].values, r.cube["lat"].values)
    assert r.cube.attrs["sensor"] == "lwir" and r.cube.attrs["flight_line_id"] == "T-L001"


def test_rendered_cubes_round_trip_through_files(tmp_path: Path, landfill: Site) -> None:
    r = render(world_with(landfill), "vswir", frames=30, cols=20)
    back = open_cube(write_cube(r.cube, tmp_path / "line.nc"))
    assert np.allclose(back["radiance"].values, r.cube["radiance"].values, equal_nan=True)


def test_vswir_radiance_over_vegetation_is_in_the_range_airborne_sensors_measure() -> None:
    r = render(world_with(), "vswir", frames=40, cols=40)
    wl = r.cube["wavelengths"].values
    green = r.cube["radiance"].values[..., int(np.argmin(abs(wl - 550.0)))]
    assert 0.5 < float(np.median(green)) < 20.0  # µW cm⁻² sr⁻¹ nm⁻¹, noon, dry forest


def test_a_line_streamed_chunk_by_chunk_into_its_file_equals_the_line_rendered_in_memory(
    tmp_path: Path, landfill: Site
) -> None:
    world = world_with(landfill)
    kw = dict(
        line_id="T-L001",
        time=NOON,
        instrument="vswir",
        platform=PLATFORM,
        sensor_name="avirisng",
        altitude_m=2000.0,
        max_frames=70,
        crosstrack_pixels=40,
        seed=3,
        chunk_rows=16,
    )
    start, end = (-107.30, 25.0173), (-107.30, 25.05)
    in_memory = render_line(world, start, end, **kw)  # type: ignore[arg-type]
    renderer = LineRenderer(world, start, end, **kw)  # type: ignore[arg-type]
    sizes = []
    with CubeWriter(tmp_path / "l.nc", shape=renderer.shape, **renderer.cube_metadata()) as w:
        for rows, radiance in renderer.chunks():
            sizes.append(radiance.shape[0])
            w.write(rows, radiance)
    assert sizes == [16, 16, 16, 16, 6]  # never more than one chunk of rows at a time
    xr.testing.assert_identical(open_cube(tmp_path / "l.nc").load(), in_memory.cube)
    xr.testing.assert_identical(renderer.truth(), in_memory.truth)


def test_truth_is_refused_before_the_line_is_rendered(landfill: Site) -> None:
    renderer = LineRenderer(
        world_with(landfill),
        (-107.30, 25.0173),
        (-107.30, 25.05),
        line_id="T-L001",
        time=NOON,
        instrument="lwir",
        platform=PLATFORM,
        sensor_name="hytes",
        altitude_m=2000.0,
        max_frames=10,
        crosstrack_pixels=8,
    )
    with pytest.raises(InputError, match="before every row"):
        renderer.truth()
