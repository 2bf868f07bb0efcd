"""Planck, the LWIR plume layer model, VSWIR at-sensor radiance and heat sources."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigia.errors import InputError
from vigia.sense.thermal import (
    brightness_temperature,
    mixed_pixel_brightness_temperature,
    planck_radiance,
    plume_layer_radiance,
    plume_signal_linear,
    plume_transmittance,
    radiance_vswir,
    radiative_power,
    transmittance,
)

LWIR_NM = np.linspace(7_500.0, 12_000.0, 128)


# --- Planck ------------------------------------------------------------------------------------


def test_planck_at_10_um_and_300_k_matches_a_hand_computation() -> None:
    # c1 = 2hc² = 1.191043e-16 W m² sr⁻¹ ; c1/λ⁵ = 1.191043e9 W m⁻³ sr⁻¹ at λ = 1e-5 m
    # c2 = hc/k = 1.438777e-2 m K ; c2/(λT) = 4.795923 ; exp(...) − 1 = 120.0208
    # B = 1.191043e9 / 120.0208 = 9.9237e6 W m⁻² sr⁻¹ m⁻¹ = 9.924 W m⁻² sr⁻¹ µm⁻¹
    assert float(planck_radiance(10_000.0, 300.0)) == pytest.approx(9.924, rel=1e-3)


def test_planck_peaks_where_wien_says() -> None:
    # Wien: λ_max = 2897.77 µm K / 300 K = 9.659 µm
    wl = np.arange(5_000.0, 15_000.0, 1.0)
    assert wl[np.argmax(planck_radiance(wl, 300.0))] == pytest.approx(9_659.0, abs=2.0)


def test_planck_returns_temperature_shape_then_bands() -> None:
    temps = np.full((4, 3), 290.0)
    assert planck_radiance(LWIR_NM, temps).shape == (4, 3, 128)


def test_brightness_temperature_of_a_300_k_blackbody_round_trips_across_the_lwir() -> None:
    bt = brightness_temperature(LWIR_NM, planck_radiance(LWIR_NM, 300.0))
    np.testing.assert_allclose(bt, 300.0, atol=1e-6)


def test_brightness_temperature_round_trips_a_cube() -> None:
    temps = np.linspace(250.0, 350.0, 12).reshape(3, 4)
    bt = brightness_temperature(LWIR_NM, planck_radiance(LWIR_NM, temps))
    np.testing.assert_allclose(bt, np.broadcast_to(temps[..., None], bt.shape), atol=1e-6)


def test_planck_rejects_non_positive_temperatures() -> None:
    with pytest.raises(InputError, match="temperature"):
        planck_radiance(10_000.0, [300.0, 0.0])


# --- Beer–Lambert ------------------------------------------------------------------------------


def test_transmittance_is_exp_minus_k_c() -> None:
    # k = 1e-3 per ppm·m, C = 1000 ppm·m: τ = e⁻¹ = 0.367879
    assert float(transmittance(1e-3, 1000.0)) == pytest.approx(math.exp(-1.0))
    assert float(transmittance(1e-3, 0.0)) == 1.0


def test_plume_transmittance_sums_optical_depths_over_species() -> None:
    k = np.array([[1e-3, 0.0, 5e-4], [0.0, 2e-3, 5e-4]])  # (species=2, band=3)
    columns = np.array([[500.0, 250.0], [0.0, 0.0]])  # (pixel=2, species=2)
    tau = plume_transmittance(k, columns)
    # band 0: 1e-3·500 = 0.5; band 1: 2e-3·250 = 0.5; band 2: 5e-4·750 = 0.375
    np.testing.assert_allclose(tau[0], np.exp([-0.5, -0.5, -0.375]))
    np.testing.assert_allclose(tau[1], 1.0)


# --- three-layer plume model -------------------------------------------------------------------


def _layer(t_p: float, tau_p: float, *, t_g: float = 300.0, eps: float = 1.0) -> np.ndarray:
    return plume_layer_radiance(
        LWIR_NM,
        ground_temperature_k=t_g,
        emissivity=eps,
        plume_temperature_k=t_p,
        plume_transmittance=tau_p,
        downwelling=2.0,
        atmosphere_transmittance=0.8,
        path_radiance=1.5,
    )


def test_a_transparent_plume_gives_the_background() -> None:
    # τ_p = 1: L = τ_a (ε B(T_g) + (1 − ε) L_d) + L_a
    expected = 0.8 * (0.95 * planck_radiance(LWIR_NM, 300.0) + 0.05 * 2.0) + 1.5
    np.testing.assert_allclose(_layer(330.0, 1.0, eps=0.95), expected)


def test_a_plume_at_ground_temperature_over_a_blackbody_is_invisible() -> None:
    np.testing.assert_allclose(_layer(300.0, 0.3), _layer(300.0, 1.0))


def test_warm_plume_emits_and_cool_plume_absorbs() -> None:
    background = _layer(300.0, 1.0)
    assert np.all(_layer(310.0, 0.9) > background)  # emission
    assert np.all(_layer(290.0, 0.9) < background)  # absorption


def test_linear_form_matches_the_full_model_for_a_weak_plume_and_keeps_its_sign() -> None:
    delta = 0.005
    for t_p in (290.0, 310.0):
        exact = _layer(t_p, math.exp(-delta)) - _layer(t_p, 1.0)
        linear = plume_signal_linear(
            LWIR_NM,
            ground_temperature_k=300.0,
            emissivity=1.0,
            plume_temperature_k=t_p,
            optical_depth=delta,
            downwelling=2.0,
            atmosphere_transmittance=0.8,
        )
        np.testing.assert_allclose(linear, exact, rtol=0.01)  # error ~ δ/2 = 0.25 %
        assert np.all(np.sign(linear) == np.sign(t_p - 300.0))


# --- VSWIR -------------------------------------------------------------------------------------


def test_vswir_radiance_over_a_bright_surface_is_in_the_emit_range() -> None:
    pvlib = pytest.importorskip("pvlib")
    g173 = pvlib.spectrum.get_reference_spectra()  # ASTM G173-03, W m⁻² nm⁻¹, packaged
    e_sun = float(g173.loc[550.0, "extraterrestrial"])  # 1.863 W m⁻² nm⁻¹
    # 1.863 · cos 30° · 0.85 · 0.9 · 0.3 / π = 0.1179 W m⁻² sr⁻¹ nm⁻¹ = 11.79 µW cm⁻² sr⁻¹ nm⁻¹
    radiance = float(radiance_vswir(0.3, e_sun, math.radians(30.0), 0.85, 0.9, 0.0))
    assert radiance == pytest.approx(11.79, abs=0.02)
    assert 10.0 <= radiance <= 15.0


def test_vswir_adds_path_radiance_in_output_units() -> None:
    base = radiance_vswir(0.0, 1.8, 0.0, 1.0, 1.0, 0.0)
    assert float(base) == 0.0
    assert float(radiance_vswir(0.0, 1.8, 0.0, 1.0, 1.0, 2.5)) == 2.5


def test_vswir_rejects_a_zenith_in_degrees() -> None:
    with pytest.raises(InputError, match="radians"):
        radiance_vswir(0.3, 1.8, 30.0, 0.85, 0.9, 0.0)


# --- heat sources ------------------------------------------------------------------------------


def test_stefan_boltzmann_power_of_one_square_metre_at_1000_k() -> None:
    # σ T⁴ A = 5.670374e-8 · 1e12 · 1 = 56 704 W
    assert float(radiative_power(1000.0, 1.0)) == pytest.approx(56_704.0, rel=1e-4)
    # net of 300 K surroundings: 5.670374e-8 · (1e12 − 8.1e9) = 56 245 W
    assert float(radiative_power(1000.0, 1.0, ambient_k=300.0)) == pytest.approx(56_245, rel=1e-4)


def test_mixed_pixel_brightness_temperature_of_a_small_hot_source() -> None:
    # 1 % of the pixel at 900 K in a 300 K background, at 10 µm:
    # B(900 K) = 1.191043e9 / (e^1.59864 − 1) = 3.018e8 W m⁻³ sr⁻¹ = 301.8 per µm
    # mix = 0.01 · 301.8 + 0.99 · 9.924 = 12.843 ; T = 1438.777 / ln(1 + 1191.043/12.843) = 316.9 K
    bt = mixed_pixel_brightness_temperature([10_000.0], 0.01, 900.0, 300.0)
    assert float(bt[0]) == pytest.approx(316.9, abs=0.2)
    # convexity of Planck: hotter than the area-weighted 306 K
    assert float(bt[0]) > 306.0


def test_mixed_pixel_limits_are_the_pure_temperatures() -> None:
    bt = mixed_pixel_brightness_temperature(LWIR_NM, np.array([0.0, 1.0]), 900.0, 300.0)
    np.testing.assert_allclose(bt[0], 300.0, atol=1e-6)
    np.testing.assert_allclose(bt[1], 900.0, atol=1e-5)
