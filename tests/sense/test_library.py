"""The spectral library: every land-cover class loads offline, names its source, and behaves."""

from __future__ import annotations

import numpy as np
import pytest

from vigia.errors import InputError
from vigia.sense.library import (
    LWIR_GRID_NM,
    Spectrum,
    confuser_spectra,
    cut_branch_spectra,
    gaussian_resample,
    land_cover_emissivity,
    land_cover_spectra,
    tarp_emissivity,
    tarp_spectra,
)

CLASSES = {
    "tree_canopy",
    "shrub",
    "dry_grass",
    "bare_soil",
    "crops",
    "road",
    "concrete_roof",
    "metal_roof",
    "water",
}
KINDS = {"measured", "modelled", "parametric"}


def _all_reflectance() -> list[Spectrum]:
    spectra = [s for group in land_cover_spectra().values() for s in group]
    return spectra + tarp_spectra() + cut_branch_spectra()


def test_every_land_cover_class_loads_with_several_spectra() -> None:
    library = land_cover_spectra()
    assert set(library) == CLASSES
    for cls, spectra in library.items():
        assert len(spectra) >= 3 or (cls == "metal_roof" and len(spectra) >= 2), cls


def test_every_spectrum_names_its_source_and_kind() -> None:
    for s in _all_reflectance():
        assert s.source.strip(), s.name
        assert s.kind in KINDS, s.name
        assert s.quantity == "reflectance"


def test_reflectances_lie_in_zero_one_and_cover_the_vswir() -> None:
    for s in _all_reflectance():
        assert np.all(np.isfinite(s.values)), s.name
        assert s.values.min() >= 0.0 and s.values.max() <= 1.0, s.name
        assert s.wavelength_nm[0] <= 410.0 and s.wavelength_nm[-1] >= 2440.0, s.name


def test_canopy_is_modelled_by_prosail() -> None:
    canopy = land_cover_spectra()["tree_canopy"]
    assert all(s.kind == "modelled" for s in canopy)
    assert any("PROSAIL" in s.source for s in canopy)


def test_earthlib_gaps_are_filled_and_flagged() -> None:
    soil = land_cover_spectra()["bare_soil"][0]
    assert "earthlib" in soil.source
    assert soil.filled is not None
    gap = (soil.wavelength_nm > 1360) & (soil.wavelength_nm < 1450)
    assert soil.filled[gap].all()
    assert not soil.filled[(soil.wavelength_nm > 500) & (soil.wavelength_nm < 1300)].any()


@pytest.mark.parametrize("cls", ["tree_canopy", "crops"])
def test_green_vegetation_has_a_red_edge(cls: str) -> None:
    for s in land_cover_spectra()[cls]:
        red, nir = s.resample([670.0, 860.0], [10.0, 10.0])
        if "senescing" in s.name:
            assert nir > 2 * red, s.name
        else:
            assert nir > 4 * red, s.name


def test_water_is_dark_in_the_nir() -> None:
    for s in land_cover_spectra()["water"]:
        assert "splib07" in s.source
        assert s.resample([1600.0], [10.0])[0] < 0.05, s.name


def test_tarps_are_parametric_with_polyethylene_features() -> None:
    tarps = tarp_spectra()
    assert {t.name.split()[0] for t in tarps} == {"blue", "green", "black"}
    for t in tarps:
        assert t.kind == "parametric"
        assert "Garaba" in t.source and "assumed" in t.note
        shoulder_17, band_17, shoulder_18 = t.resample([1660.0, 1732.0, 1820.0], 10.0)
        shoulder_22, band_23 = t.resample([2200.0, 2310.0], 10.0)
        assert band_17 < min(shoulder_17, shoulder_18), t.name
        assert band_23 < shoulder_22, t.name
    blue = next(t for t in tarps if t.name.startswith("blue"))
    b, r = blue.resample([465.0, 650.0], 10.0)
    assert b > 2 * r


def test_cut_branches_are_measured_dry_vegetation() -> None:
    branches = cut_branch_spectra()
    assert len(branches) >= 5
    assert all(s.kind == "measured" for s in branches)
    assert {"earthlib" in s.source for s in branches} == {True, False}
    for s in branches:
        red, nir = s.resample([670.0, 860.0], 10.0)
        assert nir < 4 * red, s.name  # no chlorophyll red edge


def test_resampling_preserves_a_flat_spectrum() -> None:
    wl = np.arange(400.0, 2501.0, 10.0)
    flat = Spectrum(wl, np.full(wl.shape, 0.37), name="flat", source="test", kind="parametric")
    centers = np.linspace(380.0, 2500.0, 285)
    out = flat.resample(centers, np.full(centers.shape, 7.5))
    np.testing.assert_allclose(out, 0.37, rtol=1e-12)


def test_resampling_a_line_finer_than_the_band_gives_its_area() -> None:
    wl = np.arange(1000.0, 1100.0, 0.01)
    line = np.where(np.abs(wl - 1050.0) < 0.5, 1.0, 0.0)  # 1 nm wide box, area 1 nm
    fwhm = 10.0
    peak = gaussian_resample(wl, line, [1050.0], [fwhm])[0]
    sigma = fwhm / 2.3548
    assert peak == pytest.approx(1.0 / (sigma * np.sqrt(2 * np.pi)), rel=0.01)


def test_resampling_rejects_bad_input() -> None:
    with pytest.raises(InputError):
        gaussian_resample([1.0, 2.0], [1.0, 2.0], [1.5], [0.0])
    with pytest.raises(InputError):
        gaussian_resample([2.0, 1.0], [1.0, 2.0], [1.5], [1.0])


def test_lwir_emissivity_per_class() -> None:
    emis = land_cover_emissivity()
    assert set(emis) == CLASSES
    for cls, spectra in emis.items():
        for s in spectra:
            assert s.quantity == "emissivity"
            assert s.source and s.kind in KINDS
            assert s.wavelength_nm[0] <= LWIR_GRID_NM[0] and s.wavelength_nm[-1] >= 13990.0
            assert 0.0 <= s.values.min() and s.values.max() <= 1.0
            expected = "measured" if cls == "concrete_roof" else "parametric"
            assert s.kind == expected, (cls, s.name)


def test_lwir_emissivity_values_follow_the_literature() -> None:
    emis = land_cover_emissivity()
    window = (LWIR_GRID_NM >= 10500) & (LWIR_GRID_NM <= 11500)
    for s in emis["tree_canopy"]:
        assert 0.97 <= s.values[window].mean() <= 0.99
    for s in emis["metal_roof"]:
        assert 0.05 <= s.values.mean() <= 0.35
    sandy = emis["bare_soil"][0]
    dip, window_value = sandy.resample([8600.0, 11000.0], 100.0)
    assert dip < window_value - 0.05  # quartz reststrahlen
    concrete = emis["concrete_roof"][0]
    assert "ECOSTRESS" in concrete.source
    assert 0.85 <= concrete.resample([11000.0], 200.0)[0] <= 0.98
    for t in tarp_emissivity():
        assert t.kind == "parametric" and 0.88 <= t.values.min() <= 0.95


def test_the_tarp_confusers_are_measured_asphalt_and_shingle_never_used_by_the_scenes() -> None:
    confusers = confuser_spectra()
    assert len(confusers) >= 10
    assert {s.kind for s in confusers} == {"measured"}
    assert all("earthlib" in s.source for s in confusers)
    kinds = {s.name.split(" ")[1] for s in confusers}
    assert kinds == {"asphalt", "road", "parking_lot", "comp_shingle"}
    scene = {s.name for spectra in land_cover_spectra().values() for s in spectra}
    assert scene.isdisjoint(s.name for s in confusers)
    # Asphalt's own hydrocarbons: a dip at 2.31 µm below the continuum either side.
    for s in confusers:
        v = dict(zip(s.wavelength_nm.round().astype(int).tolist(), s.values, strict=True))
        assert v[2310] < 0.5 * (v[2250] + v[2380]) + 0.01
