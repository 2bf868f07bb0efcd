"""Land use around a place, read from the line's own VSWIR cube by library spectral angle."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest
import xarray as xr

from vigia.detect.georef import LineGrid
from vigia.detect.landuse import (
    LAND_USES,
    LandUseParams,
    classify_reflectance,
    land_use_around,
    library_bins,
)
from vigia.detect.line import check_cube, detect_line
from vigia.platform import load_platform
from vigia.sense.library import land_cover_spectra
from vigia.sense.render import sensor_bands
from vigia.world.scenario import load_scenario
from vigia.world.sites import Site
from vigia.world.world import World, build_world

from .conftest import render_vswir_over

NOON = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)
PLATFORM = load_platform("mq9")
GROUP = {
    "tree_canopy": "vegetation",
    "shrub": "vegetation",
    "crops": "vegetation",
    "dry_grass": "open",
    "bare_soil": "open",
    "road": "built",
    "concrete_roof": "built",
    "metal_roof": "built",
    "water": "water",
}


def render_vswir(
    world: World, lon: float, lat: float, size: int = 72
) -> tuple[xr.Dataset, LineGrid]:
    cube = render_vswir_over(world, lon, lat, size=size, seed=7, line_id="T-LU").cube.load()
    return cube, check_cube(cube, "T-LU")


def test_noisy_library_spectra_fall_in_their_own_land_use_group() -> None:
    centers, fwhm = sensor_bands(PLATFORM.sensor("avirisng"))
    p = LandUseParams()
    bins = library_bins(centers, fwhm, np.ones(centers.size, dtype=bool), p)
    rng = np.random.default_rng(0)
    right = total = 0
    for cls, specs in land_cover_spectra().items():
        for s in specs:
            rho = s.resample(centers, fwhm)[bins.bands]
            noisy = rho * (1 + rng.normal(0.0, 0.02, (20, rho.size)))
            got = classify_reflectance(noisy, bins, p.max_angle_deg)
            right += int(np.sum(got == LAND_USES.index(GROUP[cls])))
            total += got.size
    assert right / total > 0.95


def test_a_spectrum_like_no_land_cover_is_left_unmatched() -> None:
    centers, fwhm = sensor_bands(PLATFORM.sensor("avirisng"))
    p = LandUseParams()
    bins = library_bins(centers, fwhm, np.ones(centers.size, dtype=bool), p)
    wl = centers[bins.bands]
    odd = np.where(wl < 1000, 0.6, 0.05)[None]  # a bright visible step no surface has
    nan = np.full((1, wl.size), np.nan)
    assert classify_reflectance(np.vstack([odd, nan]), bins, p.max_angle_deg).tolist() == [-1, -1]


@pytest.fixture(scope="module")
def stack_and_rural_lab() -> list[dict[str, float] | None]:
    out = []
    for scenario, kind in (("central", "factory_stack"), ("sinaloa", "rural_lab")):
        world = build_world(load_scenario(scenario), seed=0)
        site = next(s for s in world.sites if s.kind == kind)
        cube, grid = render_vswir(world, site.lon, site.lat)
        out.append(land_use_around(cube, grid, [(site.lon, site.lat)])[0])
    return out


def test_a_stack_stands_among_buildings_and_a_rural_lab_does_not(stack_and_rural_lab) -> None:
    at_stack, at_lab = stack_and_rural_lab
    assert at_stack is not None and at_lab is not None
    for shares in (at_stack, at_lab):
        assert shares["matched"] > 0.8
        assert sum(shares[g] for g in LAND_USES) == pytest.approx(1.0, abs=0.01)
    assert at_stack["built"] >= 0.2
    assert at_lab["built"] < 0.1 and at_lab["vegetation"] > 0.3


def test_a_place_off_the_line_has_no_land_use() -> None:
    world = build_world(load_scenario("sinaloa"), seed=0)
    site = world.sites[0]
    cube, grid = render_vswir(world, site.lon, site.lat, size=24)
    assert land_use_around(cube, grid, [(site.lon + 0.05, site.lat)]) == [None]
    assert land_use_around(cube, grid, []) == []


def test_detections_of_a_line_carry_the_land_use_around_them() -> None:
    world = build_world(load_scenario("sinaloa"), seed=0)
    anchor = world.scenario.areas[0][1].centroid
    tarp = Site(
        "t-tarp",
        "farm_tarp",
        "a",
        float(anchor.x),
        float(anchor.y),
        camouflage="tarp",
        cover_area_m2=400.0,
    )
    w = dataclasses.replace(world, sites=(tarp,))
    cube, _ = render_vswir(w, tarp.lon, tarp.lat)
    res = detect_line(cube, None)
    assert res.detections
    for d in res.detections:
        assert d.land_use is not None and set(LAND_USES) <= set(d.land_use)
