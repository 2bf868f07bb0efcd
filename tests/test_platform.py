from __future__ import annotations

import math

import pytest

from vigia.errors import ConfigError, UnknownNameError
from vigia.platform import Platform, list_platforms, load_platform, turn_radius


def test_mq9_profile() -> None:
    assert "mq9" in list_platforms()
    p = load_platform()
    assert isinstance(p, Platform) and p.name == "mq9"
    assert p.cruise_speed_m_s * 3.6 == pytest.approx(370.0, rel=0.01)
    assert p.endurance_clean_h == 27.0
    assert p.endurance_loaded_h < p.endurance_clean_h
    assert p.service_ceiling_m == pytest.approx(15_240.0)
    assert p.default_altitude_m < p.service_ceiling_m
    assert 0.0 <= p.reserve_fraction < 1.0
    assert p.usable_endurance_s == pytest.approx(
        p.endurance_loaded_h * 3600 * (1 - p.reserve_fraction)
    )
    assert {s.kind for s in p.sensors} == {"vswir", "lwir", "eo"}


def test_turn_radius_is_about_1_9_km() -> None:
    p = load_platform("mq9")
    assert p.bank_angle_deg == 30.0
    assert p.turn_radius_m == pytest.approx(1900.0, rel=0.03)
    # Hand check: 103² / (9.80665 · tan 30°) = 10609 / 5.6619 = 1873.8 m.
    assert turn_radius(103.0, 30.0) == pytest.approx(1873.8, abs=0.5)
    with pytest.raises(ConfigError):
        turn_radius(100.0, 90.0)


def test_swath_and_gsd_by_hand() -> None:
    s = load_platform().sensor("avirisng")
    # 600 px · 1 mrad = 0.6 rad; 2 · 6000 · tan(0.3) = 12000 · 0.309336 = 3712.0 m.
    assert s.swath_m(6000.0) == pytest.approx(3712.0, abs=0.5)
    assert s.gsd_m(6000.0) == pytest.approx(6.0)
    h = load_platform().sensor("hytes")
    # 512 · 1.7 mrad = 0.8704 rad; 2 · 1000 · tan(0.4352) = 2000 · 0.464930 = 929.9 m.
    assert h.swath_m(1000.0) == pytest.approx(929.9, abs=0.5)
    assert h.gsd_m(1000.0) == pytest.approx(1.7)
    assert h.nedt_k == pytest.approx(0.2)
    assert h.bands == 256 and h.spectral_range_nm == (7500.0, 12000.0)
    assert math.degrees(h.fov_rad) == pytest.approx(49.9, abs=0.2)


def test_wavelengths() -> None:
    s = load_platform().sensor("avirisng")
    w = s.wavelengths_nm()
    assert w.shape == (s.bands,) and w[0] == 380.0 and w[-1] == 2510.0
    assert float(w[1] - w[0]) == pytest.approx(s.spectral_sampling_nm, rel=0.01)


def test_narrowest_swath() -> None:
    p = load_platform()
    w, name = p.narrowest_swath(["avirisng", "hytes"], 6000.0)
    assert name == "avirisng" and w == pytest.approx(p.sensor("avirisng").swath_m(6000.0))
    w_all, _ = p.narrowest_swath(None, 6000.0)
    assert w_all == min(s.swath_m(6000.0) for s in p.sensors)
    assert p.narrowest_swath(["hytes"], 6000.0)[1] == "hytes"


def test_unknown_names() -> None:
    with pytest.raises(UnknownNameError, match="mq9"):
        load_platform("global_hawk")
    with pytest.raises(UnknownNameError, match="avirisng"):
        load_platform().sensor("lidar")
    with pytest.raises(UnknownNameError):
        load_platform().narrowest_swath(["lidar"], 6000.0)


def test_revisits_fly_lower_than_the_survey_for_finer_pixels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import copy

    import vigia.platform as platform_module

    p = load_platform("mq9")
    assert p.revisit_altitude_m == 3000.0 < p.default_altitude_m
    # 3 m pixels over the revisit, one 1.9 km swath: a 1.2 km revisit square in one line.
    assert p.sensor("avirisng").gsd_m(p.revisit_altitude_m) == pytest.approx(3.0)
    assert p.narrowest_swath(None, p.revisit_altitude_m)[0] > 1200.0 / 0.9
    data = copy.deepcopy(platform_module._load_yaml())
    del data["platforms"]["mq9"]["revisit_altitude_m"]
    monkeypatch.setattr(platform_module, "_load_yaml", lambda: data)
    uncached = load_platform.__wrapped__  # load_platform caches the packaged profiles
    assert uncached("mq9").revisit_altitude_m == p.default_altitude_m
    data["platforms"]["mq9"]["revisit_altitude_m"] = 20_000.0
    with pytest.raises(ConfigError, match="revisit_altitude_m 20000 is above the service"):
        uncached("mq9")
