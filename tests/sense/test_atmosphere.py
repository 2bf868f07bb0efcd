"""The atmosphere tables reproduce what physics and published sensors say (no RT code runs)."""

from __future__ import annotations

import numpy as np
import pytest

from vigia.errors import InputError
from vigia.sense.atmosphere import (
    LwirAtmosphere,
    VswirAtmosphere,
    lwir_atmosphere,
    lwir_radiance,
    solar_irradiance,
    table_metadata,
    vswir_atmosphere,
    vswir_radiance,
)
from vigia.sense.thermal import brightness_temperature, planck_radiance

# An EMIT-like VSWIR sampling and a HyTES-like LWIR one.
VSWIR_CENTERS = np.arange(381.0, 2493.0, 7.4)
LWIR_CENTERS = np.linspace(7500.0, 12000.0, 256)


@pytest.fixture(scope="module")
def vswir() -> VswirAtmosphere:
    return vswir_atmosphere(
        VSWIR_CENTERS,
        8.5,
        solar_zenith_deg=30.0,
        sensor_altitude_m=4000.0,
        ground_elevation_m=500.0,
        water_vapour_g_cm2=2.5,
    )


@pytest.fixture(scope="module")
def lwir() -> LwirAtmosphere:
    return lwir_atmosphere(LWIR_CENTERS, 25.0, sensor_altitude_m=3000.0, profile="tropical")


def _band(centers: np.ndarray, nm: float) -> int:
    return int(np.argmin(np.abs(centers - nm)))


# ---------------------------------------------------------------- VSWIR
def test_radiance_of_a_30_percent_surface_at_550nm_is_in_the_emit_range(
    vswir: VswirAtmosphere,
) -> None:
    # EMIT/AVIRIS-NG over a 30 % surface at 30° sun: ~10–15 µW cm⁻² sr⁻¹ nm⁻¹ near 550 nm.
    radiance = vswir_radiance(np.full(VSWIR_CENTERS.size, 0.3), vswir)
    assert radiance.dtype == np.float32
    assert 10.0 <= radiance[_band(VSWIR_CENTERS, 550.0)] <= 15.5


def test_deep_water_vapour_bands_are_dark_and_the_2300nm_window_transmits(
    vswir: VswirAtmosphere,
) -> None:
    radiance = vswir_radiance(np.full(VSWIR_CENTERS.size, 0.3), vswir)
    window_1650 = radiance[_band(VSWIR_CENTERS, 1650.0)]
    for deep in (1380.0, 1880.0):
        assert radiance[_band(VSWIR_CENTERS, deep)] < 0.05 * window_1650
    i2200 = _band(VSWIR_CENTERS, 2230.0)
    assert vswir.transmittance_down[i2200] * vswir.transmittance_up[i2200] > 0.7
    assert radiance[i2200] > 0.5  # µW cm⁻² sr⁻¹ nm⁻¹, as AVIRIS-NG sees vegetation or soil


def test_transmittances_and_albedo_are_physical(vswir: VswirAtmosphere) -> None:
    for t in (vswir.transmittance_down, vswir.transmittance_up):
        assert np.all(t > 0.0)
        assert np.all(t <= 1.0)
    assert np.all((vswir.spherical_albedo >= 0.0) & (vswir.spherical_albedo < 1.0))
    assert np.all(vswir.path_radiance >= 0.0)
    # Rayleigh path radiance falls steeply from blue to red.
    blue, red = _band(VSWIR_CENTERS, 450.0), _band(VSWIR_CENTERS, 670.0)
    assert vswir.path_radiance[blue] > 2.0 * vswir.path_radiance[red]


def test_radiance_follows_the_identity_and_rises_with_reflectance(
    vswir: VswirAtmosphere,
) -> None:
    rho = np.stack([np.full(VSWIR_CENTERS.size, r) for r in (0.0, 0.2, 0.5)])
    radiance = vswir_radiance(rho, vswir)
    assert radiance.shape == rho.shape
    np.testing.assert_allclose(radiance[0], vswir.path_radiance, rtol=1e-6)
    i = _band(VSWIR_CENTERS, 860.0)
    mu = np.cos(np.radians(30.0))
    expected = vswir.path_radiance[i] + (
        vswir.solar_irradiance[i]
        * mu
        * vswir.transmittance_down[i]
        * vswir.transmittance_up[i]
        * 0.5
        / (np.pi * (1.0 - vswir.spherical_albedo[i] * 0.5))
    )
    assert radiance[2, i] == pytest.approx(expected, rel=1e-5)
    assert np.all(radiance[2, [i]] > radiance[1, [i]])


def test_lower_sun_gives_less_radiance() -> None:
    kwargs = {"sensor_altitude_m": 4000.0}
    high = vswir_atmosphere([550.0], 8.5, solar_zenith_deg=20.0, **kwargs)
    low = vswir_atmosphere([550.0], 8.5, solar_zenith_deg=60.0, **kwargs)
    assert vswir_radiance([0.3], low)[0] < vswir_radiance([0.3], high)[0]


def test_solar_irradiance_is_the_tables_extraterrestrial_spectrum() -> None:
    # ~1.8–1.9 W m⁻² nm⁻¹ at 550 nm (ASTM E-490 / G173: 1.86); ~0.08 at 2200 nm.
    assert 180.0 < float(solar_irradiance(550.0)) < 200.0
    assert 5.0 < float(solar_irradiance(2200.0)) < 10.0
    assert "6S" in table_metadata("vswir")["code"]


def test_vswir_requests_outside_the_table_raise_input_error() -> None:
    with pytest.raises(InputError, match="solar_zenith_deg"):
        vswir_atmosphere([550.0], 8.5, solar_zenith_deg=75.0, sensor_altitude_m=4000.0)
    with pytest.raises(InputError, match="sensor_altitude_m"):
        vswir_atmosphere([550.0], 8.5, solar_zenith_deg=30.0, sensor_altitude_m=12_000.0)
    with pytest.raises(InputError, match="ground_elevation_m"):
        vswir_atmosphere(
            [550.0], 8.5, solar_zenith_deg=30.0, sensor_altitude_m=4000.0, ground_elevation_m=3e3
        )
    with pytest.raises(InputError, match="band centre"):
        vswir_atmosphere([300.0], 8.5, solar_zenith_deg=30.0, sensor_altitude_m=4000.0)
    with pytest.raises(InputError):
        solar_irradiance(3000.0)


def test_vswir_radiance_rejects_bad_reflectance_and_mismatched_sun(
    vswir: VswirAtmosphere,
) -> None:
    with pytest.raises(InputError, match="bands"):
        vswir_radiance(np.full(3, 0.3), vswir)
    with pytest.raises(InputError, match="within"):
        vswir_radiance(np.full(VSWIR_CENTERS.size, 1.5), vswir)
    with pytest.raises(InputError, match="computed for"):
        vswir_radiance(np.full(VSWIR_CENTERS.size, 0.3), vswir, solar_zenith_deg=45.0)


# ---------------------------------------------------------------- LWIR
def _brightness(lwir: LwirAtmosphere, lo: float, hi: float, temperature: float = 300.0) -> float:
    radiance = lwir_radiance(np.ones(LWIR_CENTERS.size), temperature, lwir)
    bt = brightness_temperature(LWIR_CENTERS, radiance.astype(np.float64))
    return float(np.mean(bt[(LWIR_CENTERS >= lo) & (LWIR_CENTERS <= hi)]))


def test_a_300k_blackbody_reads_within_a_few_kelvin_in_the_10_11um_window(
    lwir: LwirAtmosphere,
) -> None:
    assert 295.0 <= _brightness(lwir, 10_000.0, 11_000.0) <= 300.0


def test_water_vapour_edge_reads_much_colder_than_the_window(lwir: LwirAtmosphere) -> None:
    # Below ~8 µm water vapour hides the ground: the sensor sees cooler air above it.
    window = _brightness(lwir, 10_000.0, 11_000.0)
    assert _brightness(lwir, 7_500.0, 7_800.0) < window - 8.0


def test_ozone_band_is_weak_below_the_stratosphere() -> None:
    # Ozone is mostly stratospheric: from 8 km the 9.6 µm band cools a 300 K surface by only a
    # few kelvin more than the window, far less than a satellite sees (~20–30 K).
    atm = lwir_atmosphere(LWIR_CENTERS, 25.0, sensor_altitude_m=8000.0, profile="tropical")
    window = _brightness(atm, 10_000.0, 11_000.0)
    ozone = _brightness(atm, 9_500.0, 9_700.0)
    assert 0.5 < window - ozone < 8.0


def test_a_warm_surface_under_a_cooler_atmosphere_reads_colder(lwir: LwirAtmosphere) -> None:
    hot = _brightness(lwir, 10_000.0, 11_000.0, temperature=330.0)
    assert 315.0 < hot < 330.0


def test_a_fully_reflective_surface_sees_only_reflected_sky_plus_path(
    lwir: LwirAtmosphere,
) -> None:
    radiance = lwir_radiance(np.zeros(LWIR_CENTERS.size), 300.0, lwir)
    expected = lwir.transmittance * lwir.downwelling_radiance + lwir.path_radiance
    np.testing.assert_allclose(radiance, expected, rtol=1e-6)
    # ...and it does not depend on the surface's temperature.
    np.testing.assert_allclose(radiance, lwir_radiance(np.zeros(LWIR_CENTERS.size), 250.0, lwir))


def test_lwir_quantities_are_physical(lwir: LwirAtmosphere) -> None:
    assert np.all((lwir.transmittance > 0.0) & (lwir.transmittance <= 1.0))
    # Sky and path radiance cannot exceed a blackbody at the surface air temperature (~300 K).
    ceiling = planck_radiance(LWIR_CENTERS, 305.0)
    assert np.all(lwir.downwelling_radiance < ceiling)
    assert np.all(lwir.path_radiance < ceiling)


def test_lwir_radiance_broadcasts_over_a_cube(lwir: LwirAtmosphere) -> None:
    temperature = np.array([[290.0, 300.0], [310.0, 320.0]])
    emissivity = np.full((2, 2, LWIR_CENTERS.size), 0.97)
    radiance = lwir_radiance(emissivity, temperature, lwir)
    assert radiance.shape == (2, 2, LWIR_CENTERS.size)
    assert radiance.dtype == np.float32
    i = _band(LWIR_CENTERS, 10_500.0)
    assert radiance[0, 0, i] < radiance[0, 1, i] < radiance[1, 0, i] < radiance[1, 1, i]


def test_lwir_requests_outside_the_table_raise_input_error() -> None:
    with pytest.raises(InputError, match="sensor_altitude_m"):
        lwir_atmosphere([10_500.0], 25.0, sensor_altitude_m=500.0)
    with pytest.raises(InputError, match="band centre"):
        lwir_atmosphere([14_000.0], 25.0, sensor_altitude_m=3000.0)
    with pytest.raises(InputError, match="profile"):
        lwir_atmosphere([10_500.0], 25.0, sensor_altitude_m=3000.0, profile="arctic")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="fwhm"):
        lwir_atmosphere([10_500.0], 0.0, sensor_altitude_m=3000.0)
