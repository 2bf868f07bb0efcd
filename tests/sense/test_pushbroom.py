import math

import numpy as np
import pytest

from vigia.errors import InputError
from vigia.sense.pushbroom import line_geometry


def test_swath_and_sampling_follow_altitude_and_ifov() -> None:
    # AVIRIS-NG-like: 1 mrad, 600 columns, 6 km above ground: 6 m pixels, ~3.7 km swath.
    g = line_geometry(
        (0.0, 0.0),
        (3000.0, 0.0),
        altitude_m=6000.0,
        ifov_rad=1e-3,
        crosstrack_pixels=600,
        speed_m_s=102.8,
    )
    assert g.gsd_cross_m == pytest.approx(6.0)
    assert g.gsd_along_m == pytest.approx(6.0)  # frame rate chosen for square pixels
    swath = g.y[0, 0] - g.y[0, -1]
    assert swath == pytest.approx(2 * 6000 * math.tan(299.5e-3), rel=1e-6)
    assert g.shape == (500, 600)


def test_column_zero_is_left_of_the_flight_direction() -> None:
    north = line_geometry(
        (0.0, 0.0),
        (0.0, 1000.0),
        altitude_m=1000.0,
        ifov_rad=1e-3,
        crosstrack_pixels=11,
        speed_m_s=100.0,
    )
    assert north.x[0, 0] < 0 < north.x[0, -1]  # flying north, left is west
    assert np.all(np.diff(north.y[:, 5]) > 0)


def test_an_explicit_frame_rate_sets_along_track_spacing() -> None:
    g = line_geometry(
        (0.0, 0.0),
        (1000.0, 0.0),
        altitude_m=1000.0,
        ifov_rad=1e-3,
        crosstrack_pixels=3,
        speed_m_s=100.0,
        frame_rate_hz=50.0,
    )
    assert g.gsd_along_m == pytest.approx(2.0)
    assert g.times_s[1] == pytest.approx(0.02)


def test_jitter_moves_footprints_by_about_altitude_times_angle() -> None:
    kw = dict(altitude_m=5000.0, ifov_rad=1e-3, crosstrack_pixels=50, speed_m_s=100.0)
    calm = line_geometry((0.0, 0.0), (5000.0, 0.0), **kw)
    shaky = line_geometry((0.0, 0.0), (5000.0, 0.0), jitter_rad=1e-3, seed=1, **kw)
    dy = shaky.y - calm.y
    assert 2.0 < dy.std() < 10.0  # 5 km × 1 mrad = 5 m
    again = line_geometry((0.0, 0.0), (5000.0, 0.0), jitter_rad=1e-3, seed=1, **kw)
    assert np.array_equal(again.x, shaky.x)


def test_max_frames_cuts_a_long_line() -> None:
    g = line_geometry(
        (0.0, 0.0),
        (50000.0, 0.0),
        altitude_m=1000.0,
        ifov_rad=1e-3,
        crosstrack_pixels=4,
        speed_m_s=100.0,
        max_frames=100,
    )
    assert g.shape == (100, 4)


@pytest.mark.parametrize("kw", [{"altitude_m": 0.0}, {"ifov_rad": -1.0}, {"speed_m_s": math.nan}])
def test_nonsense_geometry_is_refused(kw: dict) -> None:
    args = dict(altitude_m=1000.0, ifov_rad=1e-3, crosstrack_pixels=4, speed_m_s=100.0) | kw
    with pytest.raises(InputError):
        line_geometry((0.0, 0.0), (100.0, 0.0), **args)
