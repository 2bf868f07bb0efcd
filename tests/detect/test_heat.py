"""Heat: hot sources are found where they are, fires are told from sun-warmed ground.

Truth (site positions, surface temperature) is read here, never by the detector.
"""

import dataclasses
import math
from datetime import UTC, datetime

import numpy as np
import pytest
import xarray as xr

from vigia.detect.heat import HeatParams, HeatResult, detect_heat, heat_anomalies, pixel_area_m2
from vigia.errors import InputError
from vigia.platform import load_platform
from vigia.sense.atmosphere import LwirAtmosphere
from vigia.sense.cube import make_cube
from vigia.sense.render import RenderedLine, render_line
from vigia.sense.thermal import planck_radiance
from vigia.world.scenario import load_scenario
from vigia.world.sites import Site
from vigia.world.world import World, build_world

NOON = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)  # local noon: sun-warmed clutter at its worst
PLATFORM = load_platform("mq9")
GSD_M = PLATFORM.sensor("hytes").gsd_m(6000.0)
SIGMA = 5.670374419e-8


def render_over(world: World, lon: float, lat: float, size: int = 40) -> RenderedLine:
    half = size * GSD_M / 2.0 / 111_195.0
    return render_line(
        world,
        (lon, lat - half),
        (lon, lat + half),
        line_id="T-HEAT",
        time=NOON,
        instrument="lwir",
        platform=PLATFORM,
        sensor_name="hytes",
        altitude_m=6000.0,
        max_frames=size,
        crosstrack_pixels=size,
        seed=7,
    )


def metres_from(cube: xr.Dataset, lon: float, lat: float) -> np.ndarray:
    dy = (cube["lat"].values - lat) * 111_195.0
    dx = (cube["lon"].values - lon) * 111_195.0 * math.cos(math.radians(lat))
    return np.hypot(dx, dy)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(load_scenario("sinaloa"), seed=0)


@pytest.fixture(scope="module", params=["rural_lab", "kiln", "charcoal_pit"])
def hot_site(request: pytest.FixtureRequest, world: World) -> tuple[Site, RenderedLine, HeatResult]:
    site = next(s for s in world.sites if s.kind == request.param)
    line = render_over(world, site.lon, site.lat)
    return site, line, detect_heat(line.cube)


def test_a_hot_site_is_a_fire_at_its_pixel_with_positive_delta_t_and_power(
    hot_site: tuple[Site, RenderedLine, HeatResult],
) -> None:
    site, line, result = hot_site
    d = metres_from(line.cube, site.lon, site.lat)
    near = [o for o in result.objects if d[o.rows, o.cols].min() <= 1.5 * GSD_M]
    assert near, f"no hot object within 1.5 pixels of the {site.kind}"
    fire = near[0]
    assert fire.label == "fire" and fire.score > 0.5
    assert fire.delta_t_k > 0.0 and fire.power_w > 0.0
    # The renderer gives the source's full share to the 1–4 pixels within 0.75 GSD of it, so
    # the power in the image is 1–4 times the source's own; the estimate sits in that range.
    assert site.heat_k is not None
    own = SIGMA * site.heat_area_m2 * (site.heat_k**4 - fire.background_temperature_k**4)
    assert 0.5 * own < fire.power_w < 5.0 * own
    assert fire.spectral_contrast_k > fire.spectral_threshold_k
    assert "Planck" in fire.reason


def test_sun_warmed_ground_in_the_same_scenes_is_hot_but_never_a_fire(
    hot_site: tuple[Site, RenderedLine, HeatResult],
) -> None:
    site, line, result = hot_site
    d = metres_from(line.cube, site.lon, site.lat)
    away = [o for o in result.objects if d[o.rows, o.cols].min() > 3 * GSD_M]
    assert all(o.label == "warm_surface" for o in away)
    assert all(o.score < 0.5 for o in away)
    # The scene does hold sun-warmed ground (truth: 5 K or more above its coolest, canopy)...
    t = line.truth["surface_temperature"].values
    warm = (t > np.percentile(t, 5) + 5.0) & (d > 3 * GSD_M)
    assert warm.sum() > 10
    # ... and no fire-labelled pixel lies on it.
    fire_px = np.zeros(t.shape, dtype=bool)
    for o in result.fires:
        fire_px[o.rows, o.cols] = True
    assert not (fire_px & warm).any()


@pytest.fixture(scope="module")
def heat_free(world: World) -> tuple[RenderedLine, HeatResult]:
    empty = dataclasses.replace(world, sites=())
    site = world.sites[0]
    line = render_over(empty, site.lon + 0.01, site.lat + 0.01, size=96)
    return line, detect_heat(line.cube)


def test_a_heat_free_scene_gives_no_fire_and_few_hot_objects(
    heat_free: tuple[RenderedLine, HeatResult],
) -> None:
    line, result = heat_free
    km2 = float(np.sum(pixel_area_m2(line.cube["lat"].values, line.cube["lon"].values))) / 1e6
    assert result.fires == []
    assert float(np.nanmax(result.score)) < 0.5
    assert result.objects, "sun-warmed patches are hot: the label, not the hot test, rules them out"
    # Sun-warmed patches are hot objects labelled warm_surface; at noon they stay under
    # ~60 per km² (measured 12–61 in bench/heat_camouflage.py), none of them a fire.
    assert len(result.objects) / km2 < 100.0


def test_maps_have_the_cube_shape_and_the_score_lies_in_zero_one(
    heat_free: tuple[RenderedLine, HeatResult],
) -> None:
    line, result = heat_free
    shape = line.cube["radiance"].shape[:2]
    for m in (result.score, result.delta_t_k, result.spectral_contrast_k):
        assert m.shape == shape and m.dtype == np.float32
    s = result.score[np.isfinite(result.score)]
    assert s.size > 0.9 * result.score.size and (s >= 0).all() and (s <= 1).all()
    assert 5000.0 < result.sensor_altitude_m < 7000.0  # estimated from the pixel spacing


# ----------------------------------------------------------------- physics on plain arrays

WL = np.arange(7600.0, 12000.0, 40.0)
CLEAR = LwirAtmosphere(
    WL,
    np.full(WL.size, 40.0),
    0.0,
    0.0,
    "tropical",
    np.ones(WL.size),
    np.zeros(WL.size),
    np.zeros(WL.size),
)


def scene(t: float = 300.0, n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(0)
    temps = t + rng.normal(0.0, 0.3, (n, n))
    return planck_radiance(WL, temps)


def test_a_small_very_hot_source_is_a_fire_and_its_temperature_and_power_are_recovered() -> None:
    L = scene()
    f, t_hot = 0.01, 800.0
    L[20, 20] = (1 - f) * L[20, 20] + f * planck_radiance(WL, t_hot)
    r = heat_anomalies(L, WL, pixel_area=100.0, atmosphere=CLEAR)
    assert [o.peak for o in r.fires] == [(20, 20)]
    o = r.fires[0]
    assert o.hot_temperature_k == pytest.approx(t_hot, rel=0.1)
    expected = SIGMA * f * 100.0 * (t_hot**4 - 300.0**4)
    assert o.power_w == pytest.approx(expected, rel=0.2)


def test_a_whole_warm_patch_is_hot_but_spectrally_flat_so_not_a_fire() -> None:
    L = scene()
    L[18:21, 18:21] = planck_radiance(WL, np.full((3, 3), 312.0))  # sun-warmed rock, +12 K
    r = heat_anomalies(L, WL, pixel_area=100.0, atmosphere=CLEAR)
    assert len(r.objects) == 1 and r.fires == []
    o = r.objects[0]
    assert o.label == "warm_surface" and o.delta_t_k == pytest.approx(12.0, abs=0.5)
    assert abs(o.spectral_contrast_k) < o.spectral_threshold_k
    assert "spectrally flat" in o.reason


def test_a_quartz_emissivity_dip_makes_warm_sand_less_fire_like_not_more() -> None:
    L = scene()
    eps = np.where((WL > 8000) & (WL < 9500), 0.88, 0.97)
    L[18:21, 18:21] = eps * planck_radiance(WL, np.full((3, 3), 315.0))
    r = heat_anomalies(L, WL, pixel_area=100.0, atmosphere=CLEAR)
    assert r.fires == []
    assert float(np.nanmin(r.spectral_contrast_k[18:21, 18:21])) < 0.0


# ----------------------------------------------------------------------------- bad input


def lwir_cube(radiance: np.ndarray, wl: np.ndarray, sensor: str = "lwir") -> xr.Dataset:
    rows, cols = radiance.shape[:2]
    lat, lon = np.meshgrid(
        25.0 + np.arange(rows) * 1e-4, -107.3 + np.arange(cols) * 1e-4, indexing="ij"
    )
    return make_cube(
        radiance,
        wl,
        units="W m-2 sr-1 um-1" if sensor == "lwir" else "uW cm-2 sr-1 nm-1",
        sensor=sensor,
        flight_line_id="BAD-1",
        fwhm=np.full(wl.size, 40.0),
        lat=lat,
        lon=lon,
        time_coverage_start=NOON,
    )


def test_a_vswir_cube_is_refused_with_a_clear_error() -> None:
    wl = np.linspace(400.0, 2500.0, 50)
    cube = lwir_cube(np.ones((5, 5, wl.size)), wl, sensor="vswir")
    with pytest.raises(InputError, match=r"line BAD-1: heat detection needs an LWIR .* 'vswir'"):
        detect_heat(cube)


def test_a_cube_without_bands_in_a_needed_window_is_refused_naming_the_window() -> None:
    wl = WL[WL < 10_000.0]  # no window band at 10.8–11.2 µm, no long band
    cube = lwir_cube(planck_radiance(wl, np.full((5, 5), 300.0)), wl)
    with pytest.raises(InputError, match=r"window range 10800–11200 nm"):
        detect_heat(cube)


def test_an_all_nan_cube_is_refused() -> None:
    cube = lwir_cube(np.full((6, 6, WL.size), np.nan), WL)
    with pytest.raises(InputError, match=r"line BAD-1: .*all NaN"):
        detect_heat(cube)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(InputError, match="odd"):
        HeatParams(sizes_px=(8, 12))
    with pytest.raises(InputError, match="window_nm"):
        HeatParams(window_nm=(11_000.0, 10_000.0))
