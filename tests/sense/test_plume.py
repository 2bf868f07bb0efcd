"""Gaussian plume dispersion, turbulent structure, venting and columns in ppm·m."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from vigia.errors import InputError
from vigia.sense.plume import (
    Stability,
    Turbulence,
    column_mass,
    column_ppm_m,
    concentration,
    dispersion_sigmas,
    emission_time,
    ime_mass,
    mass_to_ppm_m,
    plume_frame,
    ppm_m_to_mass,
    turbulent_column_mass,
    venting_at,
    venting_intervals,
)

CH4 = 0.01604  # kg/mol
NH3 = 0.01703
CLASSES: tuple[Stability, ...] = ("A", "B", "C", "D", "E", "F")
WEST = 270.0  # wind from the west: the plume travels east, along +x


def test_sigmas_at_1_km_class_d_match_briggs_rural() -> None:
    # Briggs (1973) open country, class D (Hanna et al. 1982, Table 4.7):
    # σy = 0.08 x (1 + 1e-4 x)^-½ = 80 / √1.1 = 76.28 m
    # σz = 0.06 x (1 + 1.5e-3 x)^-½ = 60 / √2.5 = 37.95 m
    sy, sz = dispersion_sigmas(1000.0, "D")
    assert float(sy) == pytest.approx(76.28, rel=0.05)
    assert float(sz) == pytest.approx(37.95, rel=0.05)


def test_unstable_air_spreads_a_plume_more_than_stable_air() -> None:
    sy, sz = zip(*(dispersion_sigmas(1000.0, c) for c in CLASSES), strict=True)
    assert all(float(a) > float(b) for a, b in itertools.pairwise(sy))
    assert all(float(a) > float(b) for a, b in itertools.pairwise(sz))
    kw: dict[str, Any] = {"emission_rate_kg_s": 1.0, "wind_speed_m_s": 3.0, "wind_from_deg": WEST}
    assert float(column_mass(1000.0, 0.0, stability="A", **kw)) < float(
        column_mass(1000.0, 0.0, stability="F", **kw)
    )


def test_unknown_stability_class_is_refused() -> None:
    with pytest.raises(InputError, match="stability"):
        dispersion_sigmas(100.0, "G")  # type: ignore[arg-type]


def test_plume_goes_where_the_wind_blows_to() -> None:
    # wind from the north: a point 100 m south is 100 m downwind, on the centreline
    s, n = plume_frame(0.0, -100.0, wind_from_deg=0.0)
    assert (float(s), float(n)) == pytest.approx((100.0, 0.0))
    kw: dict[str, Any] = {"emission_rate_kg_s": 1.0, "wind_speed_m_s": 3.0, "stability": "D"}
    assert float(column_mass(0.0, -100.0, wind_from_deg=0.0, **kw)) > 0
    assert float(column_mass(0.0, 100.0, wind_from_deg=0.0, **kw)) == 0


def test_centreline_column_for_a_known_source() -> None:
    # Q = 1 kg/s, u = 5 m/s, class D, 1 km downwind on the centreline:
    # Ω = Q / (√(2π) u σy) = 1 / (2.5066 · 5 · 76.28) = 1.046e-3 kg m⁻²
    # ppm·m = 1e6 Ω R T / (M p) = 1e6 · 1.046e-3 · 8.3145 · 273.15 / (0.01604 · 101325) = 1462
    kw: dict[str, Any] = {"emission_rate_kg_s": 1.0, "wind_speed_m_s": 5.0, "wind_from_deg": WEST}
    assert float(column_mass(1000.0, 0.0, stability="D", **kw)) == pytest.approx(1.046e-3, rel=1e-3)
    ppm_m = column_ppm_m(1000.0, 0.0, stability="D", molar_mass_kg_mol=CH4, **kw)
    assert float(ppm_m) == pytest.approx(1462.0, rel=1e-3)


def test_column_is_the_vertical_integral_of_the_concentration() -> None:
    kw: dict[str, Any] = {
        "emission_rate_kg_s": 0.5,
        "wind_speed_m_s": 4.0,
        "wind_from_deg": WEST,
        "stability": "C",
    }
    z = np.linspace(0.0, 2000.0, 40_001)
    c = concentration(800.0, 30.0, z, source_height_m=40.0, **kw)
    integral = float(np.sum((c[1:] + c[:-1]) / 2 * np.diff(z)))
    assert integral == pytest.approx(float(column_mass(800.0, 30.0, **kw)), rel=1e-4)


def test_ppm_m_conversion_follows_the_ideal_gas() -> None:
    # 1 ppm·m of CH₄ at 273.15 K, 1 atm: 1e-6 · M p / (R T) = 1e-6 · 0.01604 · 101325 /
    # (8.3145 · 273.15) = 7.156e-7 kg m⁻²; at 300 K the same mass is 300/273.15 more ppm·m.
    assert float(ppm_m_to_mass(1.0, CH4)) == pytest.approx(7.156e-7, rel=1e-3)
    assert float(mass_to_ppm_m(7.156e-7, CH4, temperature_k=300.0)) == pytest.approx(
        300.0 / 273.15, rel=1e-3
    )


def test_one_kg_per_hour_of_methane_in_a_30_m_pixel_is_a_few_ppm_m() -> None:
    # The first 30 m pixel downwind holds the gas of the last W/u seconds: Ω̄ = Q / (u W)
    # (Jacob et al. 2016, ACP 16:14371; Varon et al. 2018, AMT 11:5673).
    # Q = 1 kg/h = 2.78e-4 kg/s, u = 3 m/s, W = 30 m: Ω̄ = 3.09e-6 kg m⁻² = 4.31 ppm·m.
    # Airborne figures agree in order: AVIRIS-NG at 3 m sees 2–5 kg/h (tens of ppm·m at 3 m,
    # Frankenberg et al. 2016, PNAS), and at 30–60 m only sources of ~1 t/h stand out of EMIT's
    # retrieval noise (Ayasse et al. 2024, ES&T).
    x = np.arange(0.0625, 30.0, 0.125)  # fine sub-pixel samples of the pixel [0, 30] × [−15, 15]
    y = np.arange(-15.0 + 0.005, 15.0, 0.01)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    ppm_m = column_ppm_m(
        xx,
        yy,
        emission_rate_kg_s=1.0 / 3600,
        wind_speed_m_s=3.0,
        wind_from_deg=WEST,
        stability="D",
        molar_mass_kg_mol=CH4,
    )
    assert float(ppm_m.mean()) == pytest.approx(4.31, rel=0.02)
    assert 1.0 < float(ppm_m.mean()) < 20.0


def test_mean_plume_carries_q_over_u_through_every_cross_section() -> None:
    y = np.arange(-4000.0, 4000.0, 1.0)  # ±9 σy at 3 km (σy = 421 m for class B)
    for x in (50.0, 500.0, 3000.0):
        om = column_mass(
            x, y, emission_rate_kg_s=2.0, wind_speed_m_s=4.0, wind_from_deg=WEST, stability="B"
        )
        assert float(om.sum() * 1.0) == pytest.approx(2.0 / 4.0, rel=1e-6)


def test_points_standing_for_squares_carry_the_flux_of_a_plume_narrower_than_them() -> None:
    # 5 m downwind a class-D plume is ~0.4 m wide: points 3 m apart sample it badly, and
    # their sum × 3 m is not Q/u; averaged over the square each point stands for, it is.
    y = np.arange(-30.0, 30.0, 3.0) + 0.7
    kw: dict[str, Any] = dict(
        emission_rate_kg_s=1.0, wind_speed_m_s=4.0, wind_from_deg=WEST, stability="D"
    )
    sampled = column_mass(5.0, y, **kw).sum() * 3.0
    averaged = column_mass(5.0, y, footprint_m=3.0, **kw).sum() * 3.0
    assert abs(sampled / 0.25 - 1.0) > 0.3
    assert averaged == pytest.approx(0.25, rel=0.05)
    assert column_mass(5.0, y, footprint_m=3.0, **kw).max() < 0.25 / 3.0 * 1.2
    with pytest.raises(InputError, match="footprint"):
        column_mass(5.0, y, footprint_m=-1.0, **kw)


# --- turbulent structure -----------------------------------------------------------------------

_XS = np.array([200.0, 500.0, 1000.0])
_YS = np.arange(-1500.0, 1500.0, 2.0)
_XX, _YY = np.meshgrid(_XS, _YS, indexing="ij")


def _turbulent(seed: int, turbulence: Turbulence | None = None) -> np.ndarray:
    return turbulent_column_mass(
        _XX,
        _YY,
        emission_rate_kg_s=1.0,
        wind_speed_m_s=5.0,
        wind_from_deg=WEST,
        stability="D",
        seed=seed,
        turbulence=turbulence or Turbulence(),
    )


def test_turbulent_plume_is_reproducible_from_its_seed() -> None:
    np.testing.assert_array_equal(_turbulent(7), _turbulent(7))
    assert not np.allclose(_turbulent(7), _turbulent(8))


def test_turbulent_plume_is_patchy_not_a_smooth_ellipse() -> None:
    mean = column_mass(
        _XX, _YY, emission_rate_kg_s=1.0, wind_speed_m_s=5.0, wind_from_deg=WEST, stability="D"
    )
    one = _turbulent(3)
    assert float(np.max(one / mean.max())) > 1.3  # patches denser than the mean plume's peak
    assert np.all(one >= 0)


def test_turbulent_plume_conserves_mass_flux_on_average() -> None:
    # Each cross-section of one realisation carries Q/u × (1 ± ~0.6) (patches and meander);
    # over 600 seeds the mean is within 10 % of Q/u = 0.2 kg/m (≈ 4 standard errors: means
    # of 200 seeds were seen 12 % off).
    fluxes = np.array([_turbulent(seed).sum(axis=1) * 2.0 for seed in range(600)])
    np.testing.assert_allclose(fluxes.mean(axis=0), 1.0 / 5.0, rtol=0.10)


def test_turbulent_plume_without_patches_or_meander_is_the_mean_plume() -> None:
    calm = Turbulence(log_sigma=0.0, meander_fraction=0.0)
    mean = column_mass(
        _XX, _YY, emission_rate_kg_s=1.0, wind_speed_m_s=5.0, wind_from_deg=WEST, stability="D"
    )
    np.testing.assert_allclose(_turbulent(1, calm), mean, rtol=1e-12, atol=1e-15)


def test_turbulent_column_in_ppm_m_needs_a_seed() -> None:
    with pytest.raises(InputError, match="seed"):
        column_ppm_m(
            100.0,
            0.0,
            emission_rate_kg_s=1.0,
            wind_speed_m_s=3.0,
            wind_from_deg=WEST,
            stability="D",
            molar_mass_kg_mol=NH3,
            turbulence=Turbulence(),
        )


# --- intermittent venting ----------------------------------------------------------------------


def test_venting_runs_for_its_duty_cycle_and_is_seeded() -> None:
    # 30 % duty, 10-minute vents, over 1000 h: ~1800 cycles, fraction on within ±3 %.
    iv = venting_intervals(3.6e6, duty_cycle=0.3, mean_on_s=600.0, seed=4)
    assert float(np.sum(iv[:, 1] - iv[:, 0])) / 3.6e6 == pytest.approx(0.3, abs=0.03)
    np.testing.assert_array_equal(
        iv, venting_intervals(3.6e6, duty_cycle=0.3, mean_on_s=600.0, seed=4)
    )
    assert np.all(iv[1:, 0] > iv[:-1, 1])  # disjoint, sorted


def test_venting_at_follows_the_schedule_and_the_extremes() -> None:
    assert venting_at([5.0, 10.0, 25.0, -1.0], [[0.0, 10.0], [20.0, 30.0]]).tolist() == [
        True,
        False,
        True,
        False,
    ]
    never = venting_intervals(100.0, duty_cycle=0.0, mean_on_s=10.0, seed=0)
    assert not venting_at([0.0, 50.0], never).any()


def test_an_overpass_sees_gas_that_left_the_source_s_over_u_earlier() -> None:
    # u = 2 m/s, seen at t = 1000 s: gas 600 m downwind left at 700 s
    assert float(emission_time(600.0, 2.0, 1000.0)) == 700.0


# --- integrated mass enhancement ---------------------------------------------------------------


def test_ime_of_a_uniform_patch() -> None:
    # 10 pixels of 30 m × 30 m at 100 ppm·m CH₄: 10 · 900 · 100 · 7.156e-7 = 0.6441 kg
    assert ime_mass(np.full(10, 100.0), 900.0, CH4) == pytest.approx(0.6441, rel=1e-3)


def test_ime_of_a_mean_plume_is_q_times_residence_time() -> None:
    # Mass in the first 1 km of plume = Q · (1000 m / u) = 0.1 kg/s · 200 s = 20 kg
    px = 5.0
    x = np.arange(px / 2, 1000.0, px)
    y = np.arange(-600.0 + px / 2, 600.0, px)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    ppm_m = column_ppm_m(
        xx,
        yy,
        emission_rate_kg_s=0.1,
        wind_speed_m_s=5.0,
        wind_from_deg=WEST,
        stability="D",
        molar_mass_kg_mol=CH4,
    )
    assert ime_mass(ppm_m, px * px, CH4) == pytest.approx(20.0, rel=0.02)


def test_bad_inputs_are_refused() -> None:
    kw: dict[str, Any] = {"wind_from_deg": WEST, "stability": "D"}
    with pytest.raises(InputError, match="wind_speed"):
        column_mass(1.0, 0.0, emission_rate_kg_s=1.0, wind_speed_m_s=0.0, **kw)
    with pytest.raises(InputError, match="emission_rate"):
        column_mass(1.0, 0.0, emission_rate_kg_s=-1.0, wind_speed_m_s=2.0, **kw)
    with pytest.raises(InputError, match="duty_cycle"):
        venting_intervals(10.0, duty_cycle=1.5, mean_on_s=1.0, seed=0)
    assert math.isfinite(float(ppm_m_to_mass(1.0, NH3)))
