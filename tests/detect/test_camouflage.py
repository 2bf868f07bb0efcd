"""Camouflage: tarps found by their C–H features, cut branches and clearings inside canopy.

Truth (site positions, land cover) is read here, never by the detectors.
"""

import dataclasses
import math
from datetime import UTC, datetime

import numpy as np
import pytest
import xarray as xr

from vigia.detect.camouflage import (
    BranchParams,
    CamouflageResult,
    TarpParams,
    atmospheric_correction,
    branch_scores,
    detect_branches,
    detect_camouflage,
    detect_tarps,
    tarp_scores,
)
from vigia.errors import InputError
from vigia.platform import load_platform
from vigia.sense.atmosphere import vswir_atmosphere, vswir_radiance
from vigia.sense.cube import make_cube
from vigia.sense.library import land_cover_spectra, tarp_spectra
from vigia.sense.render import RenderedLine, sensor_bands
from vigia.world.landcover import LAND_COVER_CLASSES
from vigia.world.scenario import load_scenario
from vigia.world.sites import Site
from vigia.world.world import World, build_world

from .conftest import render_vswir_over

NOON = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)
TarpParamsDefault = TarpParams()
PLATFORM = load_platform("mq9")
GSD_M = PLATFORM.sensor("avirisng").gsd_m(6000.0)


def render_over(world: World, lon: float, lat: float, size: int = 64) -> RenderedLine:
    return render_vswir_over(world, lon, lat, size=size)


def metres_from(cube: xr.Dataset, lon: float, lat: float) -> np.ndarray:
    dy = (cube["lat"].values - lat) * 111_195.0
    dx = (cube["lon"].values - lon) * 111_195.0 * math.cos(math.radians(lat))
    return np.hypot(dx, dy)


def dominant_class(world: World, cube: xr.Dataset) -> np.ndarray:
    lon, lat = cube["lon"].values, cube["lat"].values
    xy = world.frame.to_xy(np.column_stack([lon.ravel(), lat.ravel()]))
    fr = world.land_cover.fractions(xy[:, 0], xy[:, 1])
    cls = np.asarray(LAND_COVER_CLASSES)[np.argmax(fr, axis=-1)]
    return np.where(fr.max(axis=-1) > 0.7, cls, "mixed").reshape(lat.shape)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(load_scenario("sinaloa"), seed=0)


@pytest.fixture(scope="module")
def tarp_scenes(world: World) -> list[tuple[Site, RenderedLine, CamouflageResult]]:
    sites = [s for s in world.sites if s.camouflage == "tarp"][:4]
    assert {s.kind for s in sites} >= {"farm_tarp"}
    out = []
    for s in sites:
        line = render_over(world, s.lon, s.lat)
        out.append((s, line, detect_camouflage(line.cube)))
    return out


def test_tarp_covered_sites_are_found_at_their_location_with_their_area(
    tarp_scenes: list[tuple[Site, RenderedLine, CamouflageResult]],
) -> None:
    found = 0
    for site, line, result in tarp_scenes:
        d = metres_from(line.cube, site.lon, site.lat)
        reach = math.sqrt(site.cover_area_m2) / 2.0 + GSD_M
        near = [o for o in result.tarps.objects if d[o.rows, o.cols].min() <= reach]
        if near:
            found += 1
            o = near[0]
            assert o.kind == "tarp" and 0.3 <= o.score <= 1.0
            assert "C–H" in o.reason and "polyethylene" in o.reason
            if o.score > 0.9:  # a blue or green tarp: its area is measured, not guessed
                assert o.area_m2 == pytest.approx(site.cover_area_m2, rel=0.25)
    # Black tarps hide most of their C–H features under carbon black and are found about
    # half the time (bench/heat_camouflage.py); blue and green ones always.
    assert found >= 3


def test_green_canopy_roofs_and_roads_are_mostly_not_flagged_as_tarps(
    world: World, tarp_scenes: list[tuple[Site, RenderedLine, CamouflageResult]]
) -> None:
    central = build_world(load_scenario("central"), seed=0)
    anchor = central.sites[0]
    town = render_over(dataclasses.replace(central, sites=()), anchor.lon + 0.01, anchor.lat)
    town_result = detect_tarps(town.cube)
    assert town_result.objects == []
    flagged: dict[str, list[bool]] = {c: [] for c in ("tree_canopy", "roof", "road")}
    scenes = [(world, s, line, r.tarps) for s, line, r in tarp_scenes]
    scenes.append((central, None, town, town_result))
    for w, site, line, tarps in scenes:
        cls = dominant_class(w, line.cube)
        away = np.ones(cls.shape, dtype=bool)
        if site is not None:
            away = metres_from(line.cube, site.lon, site.lat) > math.sqrt(site.cover_area_m2)
        hit = np.nan_to_num(tarps.score) >= 0.3
        for c in flagged:
            flagged[c].extend(hit[away & (cls == c)].tolist())
    for c, v in flagged.items():
        assert len(v) >= 50, f"too few {c} pixels to measure ({len(v)})"
        # Measured here: 0 of ~9,000 canopy, ~300 roof and ~100 road pixels.
        assert np.mean(v) < 0.01, f"{c}: {np.mean(v):.1%} of pixels flagged"


def test_the_tarp_score_map_is_the_cube_shape_in_zero_one(
    tarp_scenes: list[tuple[Site, RenderedLine, CamouflageResult]],
) -> None:
    _, line, result = tarp_scenes[0]
    s = result.tarps.score
    assert s.shape == line.cube["radiance"].shape[:2] and s.dtype == np.float32
    v = s[np.isfinite(s)]
    assert v.size == s.size and (v >= 0).all() and (v <= 1).all()
    assert len(result.tarps.targets) == len(tarp_spectra())


@pytest.fixture(scope="module")
def branch_lab(world: World) -> tuple[Site, RenderedLine]:
    # A branch-covered lab inside green vegetation (truth: its 30–60 m ring is mostly green).
    green = {"tree_canopy", "shrub", "crops"}
    for s in world.sites:
        if s.kind != "rural_lab" or s.camouflage != "branches":
            continue
        sxy = world.frame.to_xy(np.array([[s.lon, s.lat]]))[0]
        ang = np.linspace(0.0, 2 * np.pi, 24, endpoint=False)
        ring = [sxy + r * np.array([np.cos(ang), np.sin(ang)]).T for r in (35.0, 50.0)]
        pts = np.concatenate(ring)
        fr = world.land_cover.fractions(pts[:, 0], pts[:, 1]).mean(axis=0)
        if sum(f for c, f in zip(LAND_COVER_CLASSES, fr, strict=True) if c in green) > 0.7:
            return s, render_over(world, s.lon, s.lat)
    raise AssertionError("the scenario has no branch-covered lab inside vegetation")


def test_a_branch_covered_lab_in_canopy_gives_a_branches_detection(
    branch_lab: tuple[Site, RenderedLine],
) -> None:
    site, line = branch_lab
    result = detect_branches(line.cube)
    d = metres_from(line.cube, site.lon, site.lat)
    reach = max(site.clearing_radius_m, math.sqrt(site.cover_area_m2) / 2.0) + GSD_M
    near = [o for o in result.objects if d[o.rows, o.cols].min() <= reach]
    assert near, "the lab's clearing was missed"
    best = max(near, key=lambda o: o.score)
    assert best.kind == "branches" and best.score >= 0.7
    assert "CAI" in best.reason and "enclosed" in best.reason
    # Its area is the cleared patch's, within a pixel ring of the truth.
    cleared = math.pi * site.clearing_radius_m**2
    assert 0.4 * cleared <= best.area_m2 <= 1.6 * cleared + 2 * GSD_M**2
    # The score map agrees with the object where it was found.
    s = result.score[best.rows, best.cols]
    assert np.nanmax(s) >= best.score - 1e-6


@pytest.fixture(scope="module")
def tarp_lab(world: World) -> tuple[Site, RenderedLine]:
    # A tarp-covered lab whose cleared patch is much larger than its tarp.
    for s in world.sites:
        if s.kind == "rural_lab" and s.camouflage == "tarp":
            if math.pi * s.clearing_radius_m**2 >= 4.0 * s.cover_area_m2:
                return s, render_over(world, s.lon, s.lat)
    raise AssertionError("the scenario has no tarp-covered lab in a wide clearing")


def test_the_clearing_around_a_tarp_is_found_with_the_tarp_left_out_of_it(
    tarp_lab: tuple[Site, RenderedLine],
) -> None:
    site, line = tarp_lab
    result = detect_camouflage(line.cube)
    d = metres_from(line.cube, site.lon, site.lat)
    near = [o for o in result.branches.objects if d[o.rows, o.cols].min() <= 40.0]
    assert [o.kind for o in near] == ["clearing"]
    assert near[0].details["tarp_m2"] > 0 and "tarp" in near[0].reason
    assert near[0].score >= 0.5


def test_lab_free_canopy_and_scrub_give_no_clearing(world: World) -> None:
    # A site-free line (0.6 km²) over the rural world; the measured rate is a few false
    # objects per 100 km² (bench/camouflage.py), so none is expected here.
    empty = dataclasses.replace(world, sites=())
    rng = np.random.default_rng(11)
    anchor = world.sites[0]
    lon = anchor.lon + float(rng.uniform(-0.02, 0.02))
    lat = anchor.lat + float(rng.uniform(-0.02, 0.02))
    result = detect_branches(render_over(empty, lon, lat, size=128).cube)
    assert result.objects == [], [o.reason for o in result.objects]
    assert np.nanmax(result.score) < 0.5


# ---------------------------------------------------------------------- plain arrays


def test_atmospheric_correction_inverts_the_radiance_equation() -> None:
    centers, fwhm = sensor_bands(PLATFORM.sensor("avirisng"))
    atm = vswir_atmosphere(centers, fwhm, solar_zenith_deg=25.0, sensor_altitude_m=4000.0)
    rho = np.stack([np.full(centers.size, 0.05), np.linspace(0.1, 0.6, centers.size)])
    cube = vswir_cube(vswir_radiance(rho[None], atm, 25.0), centers, fwhm)
    corr = atmospheric_correction(cube, solar_zenith_deg=25.0, sensor_altitude_m=4000.0)
    back = corr.apply(cube["radiance"].values)
    ok = np.isfinite(back)
    assert ok.mean() > 0.9  # only opaque water bands are NaN
    assert np.allclose(back[ok], np.broadcast_to(rho[None], back.shape)[ok], atol=2e-3)


def test_a_half_pixel_tarp_among_vegetation_and_soil_is_found_with_half_a_pixel_area() -> None:
    centers, fwhm = sensor_bands(PLATFORM.sensor("avirisng"))
    lib = land_cover_spectra()
    bg = np.stack(
        [
            s.resample(centers, fwhm)
            for k in ("tree_canopy", "bare_soil", "dry_grass")
            for s in lib[k]
        ]
    )
    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.full(len(bg), 0.3), size=(40, 40))
    rho = w @ bg + rng.normal(0.0, 0.002, (40, 40, centers.size))
    tarp = tarp_spectra()[3].resample(centers, fwhm)  # green polyethylene
    rho[12, 30] = 0.5 * rho[12, 30] + 0.5 * tarp
    result = tarp_scores(rho, centers, fwhm, pixel_area=36.0)
    assert len(result.objects) == 1
    o = result.objects[0]
    assert (12, 30) in set(zip(o.rows.tolist(), o.cols.tolist(), strict=True))
    assert o.area_m2 == pytest.approx(18.0, rel=0.3)
    assert o.details["target"] == tarp_spectra()[3].name


def test_an_asphalt_road_is_not_a_tarp_but_a_tarp_beside_it_still_is() -> None:
    # The road is drawn from the land-cover library's asphalt, which the detector's measured
    # confusers (other earthlib asphalt, roads, parking lots, shingle) leave out.
    centers, fwhm = sensor_bands(PLATFORM.sensor("avirisng"))
    lib = land_cover_spectra()
    bg = np.stack(
        [
            s.resample(centers, fwhm)
            for k in ("tree_canopy", "bare_soil", "dry_grass", "crops")
            for s in lib[k]
        ]
    )
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.full(len(bg), 0.3), size=(60, 60))
    rho = w @ bg + rng.normal(0.0, 0.002, (60, 60, centers.size))
    asphalt = [s.resample(centers, fwhm) for s in lib["road"][:4]]
    for i, a in enumerate(asphalt):  # four 3-pixel road stretches, one per asphalt sample
        rho[8 + 12 * i, 10:13] = 0.3 * rho[8 + 12 * i, 10:13] + 0.7 * a
    tarp = tarp_spectra()[0].resample(centers, fwhm)  # blue polyethylene
    rho[30, 45] = 0.3 * rho[30, 45] + 0.7 * tarp
    result = tarp_scores(rho, centers, fwhm, pixel_area=36.0)
    found = [set(zip(o.rows.tolist(), o.cols.tolist(), strict=True)) for o in result.objects]
    assert len(found) == 1 and (30, 45) in found[0]
    on_road = [o for o in result.rejected if "asphalt, road or shingle" in o.reason]
    scored = np.nan_to_num(result.score[[8, 20, 32, 44], 11]) >= TarpParamsDefault.score_threshold
    # Asphalt does look like polyethylene to the tarp score alone (else this proves nothing);
    # every road stretch it flags is rejected, with its reason.
    assert scored.sum() >= 2
    assert len(on_road) == int(scored.sum())
    for o in on_road:
        assert o.details["confuser_score"] > o.score


def canopy(seed: int, shape: tuple[int, int] = (80, 80)) -> tuple[np.ndarray, np.ndarray]:
    """NDVI and CAI of a textured green canopy (NDVI 0.82 ± 0.03, CAI −0.3 ± 0.3 %)."""
    rng = np.random.default_rng(seed)
    return 0.82 + rng.normal(0.0, 0.03, shape), -0.3 + rng.normal(0.0, 0.3, shape)


def paint_disc(
    ndvi: np.ndarray, cai: np.ndarray, centre: tuple[float, float], radius_px: float, v: tuple
) -> np.ndarray:
    yy, xx = np.mgrid[: ndvi.shape[0], : ndvi.shape[1]]
    inside = np.hypot(yy - centre[0], xx - centre[1]) <= radius_px
    ndvi[inside], cai[inside] = v
    return inside


BARE = (0.12, -3.0)  # NDVI, CAI % of cleared soil


def test_an_enclosed_clearing_is_found_but_not_a_road_or_a_bay_of_open_ground() -> None:
    ndvi, cai = canopy(0)
    ndvi[:, 60:62], cai[:, 60:62] = 0.12, -2.0  # a 12 m dirt road, 180 m from the clearing
    paint_disc(ndvi, cai, (20, 30), 2.5, BARE)  # a clearing of 15 m radius
    paint_disc(ndvi, cai, (60, 20), 2.5, BARE)  # the same patch...
    ndvi[60:, :18], cai[60:, :18] = BARE  # ...opening on a field to the west
    result = branch_scores(ndvi, cai, pixel_area=36.0)
    assert [o.kind for o in result.objects] == ["clearing"]
    o = result.objects[0]
    assert abs(o.rows.mean() - 20) < 1 and abs(o.cols.mean() - 30) < 1
    assert o.area_m2 == pytest.approx(math.pi * 15.0**2, rel=0.35)
    assert o.score > 0.99 and "bare ground" in o.reason


def test_a_road_nearby_does_not_hide_a_clearing() -> None:
    # The road's contrast is left out of the clearing's background (as Giglio et al. leave
    # candidate fires out of theirs): with it in, the clearing's z falls by half or more.
    ndvi, cai = canopy(5)
    paint_disc(ndvi, cai, (40, 30), 2.0, BARE)
    alone = branch_scores(ndvi, cai, pixel_area=36.0).objects
    ndvi[:, 42:44], cai[:, 42:44] = 0.12, -2.0  # a track 72 m away
    with_road = branch_scores(ndvi, cai, pixel_area=36.0).objects
    assert len(alone) == len(with_road) == 1
    assert with_road[0].details["z"] > 0.7 * alone[0].details["z"]


ROAD = (0.12, -2.0)  # NDVI, CAI % of a dirt or gravel road


def stepped_road(ndvi: np.ndarray, cai: np.ndarray) -> None:
    """A diagonal road one pixel wide, drawn as pixels see it: runs of 6 that step a row."""
    for c in range(ndvi.shape[1]):
        r = 20 + c // 6
        ndvi[r, c], cai[r, c] = ROAD
        if c % 6 == 0 and c:
            ndvi[r - 1, c], cai[r - 1, c] = ROAD  # the step: a 2 × 2 block of road


def dashed_road(ndvi: np.ndarray, cai: np.ndarray) -> None:
    """A road one pixel wide under crowns that hide it every other 24 m."""
    for r in range(ndvi.shape[0]):
        if (r // 4) % 2 == 0:
            ndvi[r, 40], cai[r, 40] = ROAD


def bent_road(ndvi: np.ndarray, cai: np.ndarray) -> None:
    """A road one pixel wide that turns a right angle."""
    ndvi[40, :41], cai[40, :41] = ROAD
    ndvi[:41, 40], cai[:41, 40] = ROAD


def t_junction(ndvi: np.ndarray, cai: np.ndarray) -> None:
    """A road one pixel wide with a side road ending on it."""
    ndvi[40, :], cai[40, :] = ROAD
    ndvi[:41, 40], cai[:41, 40] = ROAD


def dead_end(ndvi: np.ndarray, cai: np.ndarray) -> None:
    """A road one pixel wide that ends in the canopy."""
    ndvi[40, :41], cai[40, :41] = ROAD


def widened_road(ndvi: np.ndarray, cai: np.ndarray) -> None:
    """A road two pixels (12 m) wide with a turnout 18 m wide and 36 m long."""
    ndvi[:, 40:42], cai[:, 40:42] = ROAD
    ndvi[36:42, 39:42], cai[36:42, 39:42] = ROAD


@pytest.mark.parametrize(
    "road", [stepped_road, dashed_road, bent_road, t_junction, dead_end, widened_road]
)
@pytest.mark.parametrize("seed", [10, 11, 12])
def test_a_road_through_canopy_is_not_a_clearing_anywhere_along_it(road, seed: int) -> None:
    # Each of these passes the enclosed-contrast test somewhere (a road narrower than a ring
    # sector fills only part of it): the patch is a strip narrower than any clearing, or a
    # stretch of a feature that goes on through it on two sides and is not twice as wide.
    ndvi, cai = canopy(seed)
    road(ndvi, cai)
    result = branch_scores(ndvi, cai, pixel_area=36.0)
    assert result.objects == []
    assert result.rejected, "the road passed the contrast test, the shape test refused it"
    for o in result.rejected:
        assert "rejected: a strip" in o.reason or "rejected: a stretch of a linear" in o.reason


def test_a_strip_is_measured_by_its_narrowest_chord_and_a_clearing_by_its_diameter() -> None:
    ndvi, cai = canopy(13)
    dashed_road(ndvi, cai)
    strips = branch_scores(ndvi, cai, pixel_area=36.0).rejected
    assert all(o.details["width_m"] < 9.0 for o in strips if "a strip" in o.reason)
    ndvi, cai = canopy(13)
    paint_disc(ndvi, cai, (40, 40), 2.5, BARE)  # 30 m across
    (o,) = branch_scores(ndvi, cai, pixel_area=36.0).objects
    assert o.details["width_m"] == pytest.approx(30.0, abs=6.0)


def track_in(ndvi: np.ndarray, cai: np.ndarray) -> None:
    ndvi[40, 40:], cai[40, 40:] = ROAD  # a track from the clearing to the east edge


def road_through(ndvi: np.ndarray, cai: np.ndarray) -> None:
    ndvi[40, :], cai[40, :] = ROAD  # a road across the whole scene, through the clearing


def track_at_edge(ndvi: np.ndarray, cai: np.ndarray) -> None:
    ndvi[43, :], cai[43, :] = ROAD  # a road passing along the clearing's south edge


def paint_mixed_disc(
    ndvi: np.ndarray, cai: np.ndarray, centre: tuple[float, float], radius_px: float, v: tuple
) -> None:
    """A disc as a sensor sees it: edge pixels mix it with what is there by their share."""
    k = 8  # subsamples per pixel side
    yy, xx = (np.mgrid[: ndvi.shape[0] * k, : ndvi.shape[1] * k] + 0.5) / k - 0.5
    share = np.hypot(yy - centre[0], xx - centre[1]) <= radius_px
    f = share.reshape(ndvi.shape[0], k, ndvi.shape[1], k).mean(axis=(1, 3))
    ndvi[:] = (1.0 - f) * ndvi + f * v[0]
    cai[:] = (1.0 - f) * cai + f * v[1]


@pytest.mark.parametrize("access", [track_in, road_through, track_at_edge])
@pytest.mark.parametrize("radius_m", [8.0, 15.0])
@pytest.mark.parametrize("centre", [(40.0, 40.0), (40.5, 40.5)])  # on a pixel, on a corner
def test_a_clearing_reached_by_a_track_or_on_a_road_is_still_found(
    access, radius_m: float, centre: tuple[float, float]
) -> None:
    # Labs are reached by tracks: the track leaves the clearing on one side, a road may run
    # through it or past it. The smallest lab clearings (8 m in radius) are still at least
    # twice as wide as a 6 m track. (A 12 m clearing on a 6 m road is not: it looks like a
    # road's own widening, and is rejected.)
    ndvi, cai = canopy(14)
    paint_mixed_disc(ndvi, cai, centre, radius_m / 6.0, BARE)
    access(ndvi, cai)
    result = branch_scores(ndvi, cai, pixel_area=36.0)
    near = [o for o in result.objects if math.hypot(o.rows.mean() - 40, o.cols.mean() - 40) < 3]
    assert len(near) == 1 and near[0].kind == "clearing"
    assert all(math.hypot(o.rows.mean() - 40, o.cols.mean() - 40) > 3 for o in result.rejected)


def test_cut_branches_heaped_on_a_clearing_are_branches() -> None:
    ndvi, cai = canopy(1)
    paint_disc(ndvi, cai, (40, 40), 2.5, BARE)
    ndvi[39:41, 39:41], cai[39:41, 39:41] = 0.3, 4.0  # 144 m² of drying foliage
    (o,) = branch_scores(ndvi, cai, pixel_area=36.0).objects
    assert o.kind == "branches" and o.details["dry_m2"] == pytest.approx(144.0)
    assert "dry plant matter" in o.reason and "CAI" in o.reason


def test_a_clearing_in_dry_grass_is_found_by_the_cover_index_not_by_ndvi() -> None:
    rng = np.random.default_rng(2)
    ndvi = 0.25 + rng.normal(0.0, 0.06, (80, 80))  # senescent grass: dry, not green
    cai = 3.0 + rng.normal(0.0, 0.5, (80, 80))
    paint_disc(ndvi, cai, (40, 40), 2.5, (0.12, -4.0))
    (o,) = branch_scores(ndvi, cai, pixel_area=36.0).objects
    assert o.kind == "clearing" and o.details["index"].startswith("cover index")
    ndvi_only = branch_scores(ndvi, cai, pixel_area=36.0, params=BranchParams(cai_weight=0.0))
    assert ndvi_only.objects == []


def test_a_tarp_in_a_clearing_is_left_out_of_the_statistics_and_counted_in_the_area() -> None:
    ndvi, cai = canopy(3)
    paint_disc(ndvi, cai, (40, 40), 3.0, BARE)
    tarp = paint_disc(ndvi, cai, (40, 40), 1.0, (0.78, -0.5))  # blue PE: NIR-bright like leaves
    (o,) = branch_scores(ndvi, cai, pixel_area=36.0, covered=tarp).objects
    assert o.details["tarp_m2"] == pytest.approx(36.0 * tarp.sum())
    assert set(zip(*np.nonzero(tarp), strict=True)) <= set(zip(o.rows, o.cols, strict=True))
    # The test is defined at the tarp's centre too: discs larger than the tarp see the ground.
    assert np.isfinite(branch_scores(ndvi, cai, pixel_area=36.0, covered=tarp).score[40, 40])


def test_open_water_is_not_a_clearing() -> None:
    ndvi, cai = canopy(4)
    paint_disc(ndvi, cai, (40, 40), 2.5, (-0.3, -1.0))  # a cattle pond
    assert branch_scores(ndvi, cai, pixel_area=36.0).objects == []


def test_a_patchy_mosaic_raises_the_bar_that_a_clearing_must_pass() -> None:
    ndvi, cai = canopy(6)
    yy, xx = np.mgrid[:80, :80]
    mosaic = ndvi + 0.25 * np.sign(np.sin(yy / 3.0) * np.sin(xx / 4.0))  # shrub and tree patches
    cai_m = cai.copy()
    paint_disc(ndvi, cai, (40, 40), 2.5, (0.3, -3.0))
    paint_disc(mosaic, cai_m, (40, 40), 2.5, (0.3, -3.0))
    uniform = branch_scores(ndvi, cai, pixel_area=36.0)
    patchy = branch_scores(mosaic, cai_m, pixel_area=36.0)
    assert len(uniform.objects) == 1 and patchy.objects == []
    assert np.nanmax(patchy.z[35:46, 35:46]) < 0.2 * np.nanmax(uniform.z[35:46, 35:46])


def test_the_score_is_one_half_at_the_threshold_and_rises_with_the_contrast() -> None:
    p = BranchParams()
    at_centre, found = [], []
    for depth in (0.06, 0.10, 0.15):  # NDVI below the canopy's 0.82 (texture ± 0.03)
        ndvi, cai = canopy(7)
        paint_disc(ndvi, cai, (40, 40), 2.5, (0.82 - depth, -1.0))
        r = branch_scores(ndvi, cai, pixel_area=36.0, params=p)
        # Logistic in z, 0.5 at the threshold, on the map as for the objects.
        ok = np.isfinite(r.z)
        expect = 1.0 / (1.0 + np.exp(-(r.z[ok] - p.z_threshold) / p.z_scale))
        assert np.allclose(r.score[ok], expect, atol=1e-6)
        at_centre.append(float(np.nanmax(r.score[38:43, 38:43])))
        found.append([round(o.score, 6) for o in r.objects])
    assert at_centre[0] < 0.5 < at_centre[1] < at_centre[2]
    assert found[0] == [] and found[1] == [round(at_centre[1], 6)]
    assert found[2] == [round(at_centre[2], 6)]


def test_maps_of_different_shapes_are_refused() -> None:
    with pytest.raises(InputError, match=r"NDVI \(4, 4\) and CAI \(4, 5\)"):
        branch_scores(np.zeros((4, 4)), np.zeros((4, 5)), pixel_area=36.0)
    with pytest.raises(InputError, match="covered mask"):
        branch_scores(np.zeros((4, 4)), np.zeros((4, 4)), pixel_area=36.0, covered=np.ones(3))


# --------------------------------------------------------------------------- bad input


def vswir_cube(
    radiance: np.ndarray, wl: np.ndarray, fwhm: np.ndarray, *, sensor: str = "vswir", **kw: object
) -> xr.Dataset:
    rows, cols = radiance.shape[:2]
    lat, lon = np.meshgrid(
        25.0 + np.arange(rows) * 5e-5, -107.3 + np.arange(cols) * 5e-5, indexing="ij"
    )
    args: dict[str, object] = {"time_coverage_start": NOON, "lat": lat, "lon": lon, **kw}
    return make_cube(
        radiance,
        wl,
        units="uW cm-2 sr-1 nm-1" if sensor == "vswir" else "W m-2 sr-1 um-1",
        sensor=sensor,
        flight_line_id="BAD-2",
        fwhm=fwhm,
        **args,  # type: ignore[arg-type]
    )


def test_an_lwir_cube_is_refused() -> None:
    wl = np.linspace(7600.0, 12000.0, 40)
    cube = vswir_cube(np.ones((4, 4, wl.size)), wl, np.full(wl.size, 50.0), sensor="lwir")
    with pytest.raises(InputError, match=r"line BAD-2: .*needs a VSWIR .* 'lwir'"):
        detect_camouflage(cube)


def test_a_cube_without_time_cannot_place_the_sun() -> None:
    centers, fwhm = sensor_bands(PLATFORM.sensor("avirisng"))
    cube = vswir_cube(np.ones((4, 4, centers.size)), centers, fwhm, time_coverage_start=None)
    with pytest.raises(InputError, match=r"BAD-2: .*sun's position is unknown"):
        detect_tarps(cube)


def test_a_cube_without_the_ch_bands_is_refused_naming_the_window() -> None:
    centers, fwhm = sensor_bands(PLATFORM.sensor("avirisng"))
    keep = centers < 1600.0
    cube = vswir_cube(np.ones((6, 6, int(keep.sum()))), centers[keep], fwhm[keep])
    with pytest.raises(InputError, match=r"BAD-2: .*C–H window 1650–1780 nm"):
        detect_tarps(cube)


def test_an_all_nan_cube_is_refused() -> None:
    centers, fwhm = sensor_bands(PLATFORM.sensor("avirisng"))
    cube = vswir_cube(np.full((6, 6, centers.size), np.nan), centers, fwhm)
    with pytest.raises(InputError, match=r"BAD-2: .*all NaN"):
        detect_tarps(cube)
    with pytest.raises(InputError, match=r"BAD-2: .*all NaN"):
        detect_branches(cube)
