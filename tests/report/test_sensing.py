"""The sensing figures: what each shows, and that the physics behind it points the right way."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from vigia.errors import ExportError, InputError
from vigia.platform import Platform, load_platform
from vigia.report.sensing import (
    draw_lwir_plume,
    draw_plume_column,
    draw_reflectance,
    draw_thermal,
    draw_vswir_plume,
    library_spectra,
    local_noon,
    lwir_plume_spectra,
    plume_column_map,
    thermal_image,
    vswir_plume_spectra,
    write_sensing_figures,
)
from vigia.sense.render import MOLAR_MASS_KG_MOL
from vigia.world.scenario import load_scenario
from vigia.world.sites import LAB_KINDS
from vigia.world.world import World, build_world, solar_elevation

FIGURES = (
    "reflectance.png",
    "radiance_plume_vswir.png",
    "radiance_plume_lwir.png",
    "plume_column.png",
    "thermal.png",
)


@pytest.fixture(scope="module")
def platform() -> Platform:
    return load_platform("mq9")


@pytest.fixture(scope="module")
def sinaloa() -> World:
    return build_world(load_scenario("sinaloa"), seed=0)


@pytest.fixture(scope="module")
def central() -> World:
    return build_world(load_scenario("central"), seed=0)


@pytest.fixture(scope="module")
def written(
    tmp_path_factory: pytest.TempPathFactory, sinaloa: World, platform: Platform
) -> list[Path]:
    return write_sensing_figures(sinaloa, platform, tmp_path_factory.mktemp("sensing"))


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    w, h = struct.unpack(">II", head[16:24])
    return int(w), int(h)


# ------------------------------------------------------------------------------ files


def test_every_figure_is_written_as_a_non_trivial_png(written: list[Path]) -> None:
    assert [p.name for p in written] == list(FIGURES)
    for p in written:
        w, h = _png_size(p)
        assert w >= 800 and h >= 400, f"{p.name} is {w}×{h}"
        assert p.stat().st_size > 30_000, f"{p.name} is suspiciously small"


def test_an_unwritable_directory_is_an_export_error_naming_it(
    tmp_path: Path, sinaloa: World, platform: Platform
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(ExportError, match="not-a-dir"):
        write_sensing_figures(sinaloa, platform, blocker)


def test_a_night_time_is_refused_before_anything_is_drawn(
    tmp_path: Path, sinaloa: World, platform: Platform
) -> None:
    night = datetime(2025, 3, 5, 8, 0, tzinfo=UTC)  # 01:00 local
    with pytest.raises(InputError, match="sun"):
        write_sensing_figures(sinaloa, platform, tmp_path / "out", time=night)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------- time


@pytest.mark.parametrize("name", ["sinaloa", "central"])
def test_the_default_time_is_a_local_noon_inside_the_window(name: str) -> None:
    world = build_world(load_scenario(name), seed=0)
    t = local_noon(world)
    sc = world.scenario
    assert sc.window_start <= t < sc.window_end
    c = sc.areas[0][1].centroid
    noon = solar_elevation(c.x, c.y, t)
    for hours in (-1.0, 1.0):  # the sun is highest then
        assert solar_elevation(c.x, c.y, t + timedelta(hours=hours)) < noon


def test_the_venting_noon_has_a_lab_venting(central: World) -> None:
    t = local_noon(central, venting=True)
    labs = [s for s in central.sites if s.kind in LAB_KINDS]
    assert any(central.is_active(s, t) for s in labs)
    assert t.hour == local_noon(central).hour


# ---------------------------------------------------------------------------- library


def test_the_reflectance_figure_draws_every_library_spectrum() -> None:
    lib = library_spectra()
    fig = draw_reflectance(lib)
    lc, cover, emis, _ = fig.axes
    assert len(lc.lines) == sum(len(v) for v in lib.land_cover.values())
    assert len(cover.lines) == len(lib.tarps) + len(lib.branches)
    assert len(emis.lines) == sum(len(v) for v in lib.land_cover_emissivity.values()) + len(
        lib.tarp_emissivity
    )
    for line in lc.lines:
        x = np.asarray(line.get_xdata(), dtype=float)
        assert x.min() >= 380.0 and x.max() <= 2500.0
    footnote = fig.get_supxlabel()
    assert "PROSAIL" in footnote and "parametric" in footnote


# ----------------------------------------------------------------------------- VSWIR


def test_a_methane_plume_darkens_the_2300_nm_band_and_only_methane_bands(
    platform: Platform,
) -> None:
    d = vswir_plume_spectra(platform, columns_ppm_m=(1000.0, 5000.0))
    wl = d.wavelength_nm
    clear, weak, strong = d.radiance_clear, d.radiance_plume[0], d.radiance_plume[1]
    band = int(np.argmax(d.unit_absorption))
    assert 2250.0 < wl[band] < 2400.0
    assert strong[band] < weak[band] < clear[band]
    assert strong[band] / clear[band] < 0.97  # 5,000 ppm·m: a few per cent at the strongest band
    window = (wl >= 2280.0) & (wl <= 2380.0)
    assert np.all(strong[window] < clear[window])
    # No methane data below the LUT (1,400 nm minus a band): the radiance is untouched there.
    below = wl < 1390.0
    np.testing.assert_allclose(strong[below], clear[below], rtol=1e-6)
    # Between 1.39 and 1.6 µm methane absorbs only weakly (well under 1 %).
    weak_region = (wl >= 1390.0) & (wl < 1600.0)
    assert np.all(strong[weak_region] >= 0.99 * clear[weak_region])


def test_vswir_radiance_is_in_emit_units_and_vegetation_shaped(platform: Platform) -> None:
    d = vswir_plume_spectra(platform, solar_zenith_deg=30.0)
    wl, clear = d.wavelength_nm, d.radiance_clear

    def at(nm: float) -> float:
        return float(clear[int(np.argmin(np.abs(wl - nm)))])

    assert 5.0 < at(860.0) < 20.0  # µW cm⁻² sr⁻¹ nm⁻¹ over a bright NIR canopy
    assert at(860.0) > 3.0 * at(670.0)  # red edge
    assert at(1380.0) < 0.05 * at(1250.0)  # water-vapour band
    fig = draw_vswir_plume(d)
    assert "modelled" in fig.get_suptitle()


def test_negative_methane_columns_are_refused(platform: Platform) -> None:
    with pytest.raises(InputError, match="ppm"):
        vswir_plume_spectra(platform, columns_ppm_m=(-10.0,))


# ------------------------------------------------------------------------------ LWIR


def test_a_cold_plume_absorbs_and_a_warm_plume_emits(platform: Platform) -> None:
    d = lwir_plume_spectra(
        platform,
        species=("ammonia", "acetone"),
        column_ppm_m=200.0,
        ground_temperature_k=303.0,
        plume_temperatures_k=(293.0, 313.0),
    )
    for sp in ("ammonia", "acetone"):
        k = d.absorbance[sp]
        peak = int(np.argmax(k))
        cold, warm = d.brightness_plume_k[sp]
        assert cold[peak] < d.brightness_clear_k[peak] - 0.1, sp
        assert warm[peak] > d.brightness_clear_k[peak] + 0.1, sp
        assert np.all(cold <= d.brightness_clear_k + 1e-9)
        assert np.all(warm >= d.brightness_clear_k - 1e-9)
        # Where the gas hardly absorbs, the plume hardly shows.
        faint = k < 0.02 * k.max()
        assert faint.sum() > 20, sp
        signal = d.brightness_clear_k[peak] - cold[peak]
        assert np.all(d.brightness_clear_k[faint] - cold[faint] < 0.05 * signal), sp
    assert d.quantitative == {"ammonia": False, "acetone": True}
    assert 10_200.0 < d.wavelength_nm[int(np.argmax(d.absorbance["ammonia"]))] < 10_500.0
    fig = draw_lwir_plume(d)
    assert "modelled" in fig.get_suptitle()


def test_a_plume_at_the_ground_temperature_over_a_blackbody_like_canopy_is_faint(
    platform: Platform,
) -> None:
    d = lwir_plume_spectra(platform, species=("ammonia",), plume_temperatures_k=(303.0,))
    delta = d.brightness_plume_k["ammonia"][0] - d.brightness_clear_k
    assert float(np.abs(delta).max()) < 0.1


# --------------------------------------------------------------------------- plume map


def test_the_plume_map_lies_downwind_of_the_source_on_the_vswir_grid(
    sinaloa: World, platform: Platform
) -> None:
    t = local_noon(sinaloa, venting=True)
    m = plume_column_map(sinaloa, platform, time=t, seed=3)
    assert m.site.kind in LAB_KINDS and m.active
    assert set(m.columns_ppm_m) == set(m.site.emissions_kg_h)
    rates = [m.site.emissions_kg_h[s] for s in m.columns_ppm_m]
    assert rates == sorted(rates, reverse=True)  # strongest first
    gsd = platform.sensor("avirisng").gsd_m(platform.default_altitude_m)
    assert np.allclose(np.diff(m.east_m), gsd) and np.allclose(np.diff(m.north_m), gsd)
    assert m.east_m[0] < 0.0 < m.east_m[-1] and m.north_m[0] < 0.0 < m.north_m[-1]
    to = math.radians(m.wind.from_deg + 180.0)
    downwind = np.array([math.sin(to), math.cos(to)])
    ee, nn = np.meshgrid(m.east_m, m.north_m)
    for sp, col in m.columns_ppm_m.items():
        assert col.shape == (m.north_m.size, m.east_m.size)
        assert np.all(col >= 0.0) and col.max() > 0.0, sp
        weight = col / col.sum()
        centroid = np.array([(ee * weight).sum(), (nn * weight).sum()])
        assert centroid @ downwind > 100.0, sp  # mass sits well downwind
        upwind = (ee * downwind[0] + nn * downwind[1]) < -50.0
        assert col[upwind].sum() < 1e-3 * col.sum(), sp
    fig = draw_plume_column(m)
    assert m.site.site_id in fig.get_suptitle()


def test_a_heavier_molecule_at_the_same_rate_gives_a_smaller_ppm_column(
    central: World, platform: Platform
) -> None:
    t = local_noon(central, venting=True)
    m = plume_column_map(central, platform, time=t, seed=0)
    # Same plume shape and seed for every species: ppm·m ∝ rate / molar mass.
    (a, ca), (b, cb) = list(m.columns_ppm_m.items())[:2]
    expect = (m.site.emissions_kg_h[a] / MOLAR_MASS_KG_MOL[a]) / (
        m.site.emissions_kg_h[b] / MOLAR_MASS_KG_MOL[b]
    )
    assert ca.max() / cb.max() == pytest.approx(expect, rel=1e-6)


# ----------------------------------------------------------------------------- thermal


def test_the_thermal_image_shows_the_lab_heat_source(sinaloa: World, platform: Platform) -> None:
    t = local_noon(sinaloa, venting=True)
    img = thermal_image(sinaloa, platform, time=t, max_frames=40, crosstrack_pixels=40)
    assert img.brightness_k.shape == img.surface_temperature_k.shape == (40, 40)
    r, c = img.site_pixel
    assert abs(r - 20) <= 2 and abs(c - 20) <= 2  # the line is centred on the site
    assert img.site.heat_k is not None and img.site.kind in LAB_KINDS
    assert 10_400.0 < img.wavelength_nm < 10_600.0
    bt, truth = img.brightness_k, img.surface_temperature_k
    hot = bt[r - 1 : r + 2, c - 1 : c + 2].max()
    assert hot > np.median(bt) + 5.0
    assert truth[r - 1 : r + 2, c - 1 : c + 2].max() > np.median(truth) + 3.0
    assert 250.0 < np.median(bt) < 330.0
    fig = draw_thermal(img)
    assert "modelled" in fig.get_suptitle()
    cbar_labels = {ax.get_ylabel() for ax in fig.axes}
    assert "Temperature (K)" in cbar_labels


def test_a_site_without_a_heat_source_is_refused(sinaloa: World, platform: Platform) -> None:
    cold = next(s for s in sinaloa.sites if s.heat_k is None)
    with pytest.raises(InputError, match=cold.site_id):
        thermal_image(sinaloa, platform, time=local_noon(sinaloa), site=cold)
