"""Gas absorption: methane in the VSWIR from mag1c's LUT, solvents and NH₃ in the LWIR."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import trapezoid

from vigia.errors import UnknownNameError
from vigia.sense.gas import (
    ch4_radiance_table,
    ch4_unit_absorption,
    lwir_absorbance,
    lwir_grid,
    lwir_species,
    species_info,
)
from vigia.sense.library import gaussian_resample

# An EMIT-like band set: 285 bands, 380-2500 nm, ~8.5 nm FWHM.
EMIT_CENTERS = np.linspace(381.0, 2493.0, 285)
EMIT_FWHM = np.full(285, 8.5)
# A HyTES-like band set: 256 bands over 7.5-12 µm.
HYTES_CENTERS = np.linspace(7500.0, 12000.0, 256)
HYTES_FWHM = np.full(256, 2 * 17.6)

# Strongest band of each species in the 8-12 µm window (CH4 at 7.66 µm), from REFERENCES.md.
LITERATURE_PEAK_UM = {
    "ammonia": 10.35,
    "methanol": 9.67,
    "acetone": 8.21,
    "isopropanol": 10.45,
    "ethyl_acetate": 8.06,
    "chloroform": 8.19,
}
QUANTITATIVE = {"acetone", "dichloromethane", "chloroform", "isopropanol", "ethyl_acetate"}
SHAPE_ONLY = {"methanol", "ammonia", "toluene"}


def test_methane_absorption_peaks_in_the_2_3_and_1_65_micron_bands() -> None:
    k = ch4_unit_absorption(EMIT_CENTERS, EMIT_FWHM)
    assert k.shape == EMIT_CENTERS.shape
    assert np.all(k >= 0.0)
    assert 2250.0 <= EMIT_CENTERS[np.argmax(k)] <= 2400.0
    h = (EMIT_CENTERS > 1550) & (EMIT_CENTERS < 1800)
    assert 1630.0 <= EMIT_CENTERS[h][np.argmax(k[h])] <= 1690.0
    window = (EMIT_CENTERS > 2100) & (EMIT_CENTERS < 2150)
    assert k.max() > 10 * k[window].max()
    assert np.all(k[EMIT_CENTERS < 1350] == 0.0)


def test_methane_unit_absorption_has_the_published_magnitude() -> None:
    # AVIRIS-NG-class unit absorption near 2.3 µm is of order 1e-5 per ppm·m (Foote et al. 2020).
    k = ch4_unit_absorption([2300.0, 2350.0], [8.5, 8.5])
    assert np.all((k > 3e-6) & (k < 5e-5))


def test_a_1000_ppm_m_column_deepens_the_2_3_micron_band_as_predicted() -> None:
    wl, enhancement, radiance = ch4_radiance_table()
    centers = np.array([2300.0, 2330.0, 2350.0, 2370.0])
    fwhm = np.full(centers.shape, 8.5)
    i0 = int(np.flatnonzero(enhancement == 0.0)[0])
    i1 = int(np.flatnonzero(enhancement == 1000.0)[0])
    clear = gaussian_resample(wl, radiance[i0], centers, fwhm)
    plume = gaussian_resample(wl, radiance[i1], centers, fwhm)
    k = ch4_unit_absorption(centers, fwhm)
    predicted = np.exp(-k * 1000.0)
    assert np.all(plume / clear < 0.995)  # a visible deepening
    # The LUT is fitted over 0-16,000 ppm·m, so Beer-Lambert with one k is good to ~1 %.
    np.testing.assert_allclose(plume / clear, predicted, rtol=0.01)


def test_lwir_species_include_the_lab_solvents_and_ammonia() -> None:
    assert QUANTITATIVE | SHAPE_ONLY | {"methane"} <= set(lwir_species())
    grid = lwir_grid()
    assert grid[0] == 7000.0 and grid[-1] == 14000.0


@pytest.mark.parametrize(("species", "peak_um"), sorted(LITERATURE_PEAK_UM.items()))
def test_each_species_peaks_where_the_literature_says(species: str, peak_um: float) -> None:
    # Literature peaks are high-resolution band centres: look at 4 nm resolution. (At HyTES's
    # ~18 nm, isopropanol's broader 8.69 µm band outweighs its sharp 10.45 µm Q branch.)
    centers = np.arange(8000.0, 12000.1, 2.0)
    k = lwir_absorbance(species, centers, 4.0)
    assert np.all(k >= 0.0)
    assert centers[np.argmax(k)] / 1000.0 == pytest.approx(peak_um, abs=0.1)


@pytest.mark.parametrize(("species", "peak_um"), [("methane", 7.66), ("toluene", 13.68)])
def test_bands_outside_the_window_peak_where_the_literature_says(
    species: str, peak_um: float
) -> None:
    centers = np.arange(7100.0, 13990.0, 10.0)
    k = lwir_absorbance(species, centers, 20.0)
    assert centers[np.argmax(k)] / 1000.0 == pytest.approx(peak_um, abs=0.1)


@pytest.mark.parametrize("species", sorted(QUANTITATIVE))
def test_quantitative_species_carry_units_per_ppm_m(species: str) -> None:
    info = species_info(species)
    assert info["quantitative"] is True
    assert info["scale_assumption"] is None
    assert "ppm*m" in info["units"] and "natural log" in info["units"]
    assert "Quant-IR" in info["source"] and "NIST" in info["source"]
    # Quant-IR peaks of these solvents in the window are 1e-4 to 1e-2 per ppm·m.
    k = lwir_absorbance(species, HYTES_CENTERS, HYTES_FWHM)
    assert 1e-5 < k.max() < 1e-1


@pytest.mark.parametrize("species", sorted(SHAPE_ONLY))
def test_shape_only_species_are_flagged_with_their_assumption(species: str) -> None:
    info = species_info(species)
    assert info["quantitative"] is False
    assert info["scale_assumption"] is not None
    assert info["scale_assumption"].startswith("shape only: scale assumed")
    assert "Coblentz" in info["source"]


def test_unknown_species_is_a_clear_error() -> None:
    with pytest.raises(UnknownNameError, match="fentanyl"):
        lwir_absorbance("fentanyl", [10000.0], [20.0])
    with pytest.raises(KeyError):
        species_info("fentanyl")


def test_band_convolution_preserves_the_integrated_absorption() -> None:
    grid = lwir_grid()
    native = np.interp(grid, lwir_grid(), lwir_absorbance("acetone", grid, 2.0))
    centers = np.arange(7600.0, 13400.0, 5.0)
    banded = lwir_absorbance("acetone", centers, 30.0)
    inside = (grid >= 7600.0) & (grid < 13400.0)
    area_native = trapezoid(native[inside], grid[inside])
    assert trapezoid(banded, centers) == pytest.approx(area_native, rel=0.02)
