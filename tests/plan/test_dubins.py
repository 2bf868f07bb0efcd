"""Dubins paths: the shortest forward-only paths with a minimum turn radius."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from vigia.errors import InputError
from vigia.plan.dubins import WORDS, dubins_lengths, dubins_path, dubins_segments, sample_word

R = 1900.0  # MQ-9 class minimum turn radius, metres


def circumradii(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Radius of the circle through each three consecutive points (inf when collinear)."""
    a, b, c = xy[:-2], xy[1:-1], xy[2:]
    ab = np.linalg.norm(b - a, axis=1)
    bc = np.linalg.norm(c - b, axis=1)
    ca = np.linalg.norm(a - c, axis=1)
    cross = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(cross > 0.0, ab * bc * ca / (2.0 * cross), np.inf)


def wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


# --- hand-checked cases -------------------------------------------------------------------


def test_straight_ahead_is_the_distance() -> None:
    q0 = np.array([100.0, -50.0, math.atan2(3.0, 4.0)])
    q1 = np.array([100.0 + 4000.0, -50.0 + 3000.0, q0[2]])
    assert dubins_lengths(q0, q1, R) == pytest.approx(5000.0, rel=1e-12)
    assert dubins_path(q0, q1, R).length == pytest.approx(5000.0, rel=1e-12)


def test_identical_poses_are_zero_length() -> None:
    q = np.array([10.0, 20.0, 1.0])
    assert dubins_lengths(q, q, R) == 0.0
    path = dubins_path(q, q, R)
    assert path.length == 0.0
    np.testing.assert_array_equal(path.poses[0], q)
    np.testing.assert_array_equal(path.poses[-1], q)


def test_u_turn_onto_a_parallel_line_two_radii_away_is_a_half_circle() -> None:
    # North at the origin, south at (2r, 0): one right half-turn about (r, 0).
    q0 = np.array([0.0, 0.0, math.pi / 2])
    q1 = np.array([2.0 * R, 0.0, -math.pi / 2])
    assert dubins_lengths(q0, q1, R) == pytest.approx(math.pi * R, rel=1e-12)


@pytest.mark.parametrize("d", [2.5 * R, 4.0 * R, 10.0 * R])
def test_u_turn_onto_a_farther_parallel_line_adds_the_straight(d: float) -> None:
    # Quarter turn, straight across the extra d - 2r, quarter turn.
    q0 = np.array([0.0, 0.0, math.pi / 2])
    q1 = np.array([d, 0.0, -math.pi / 2])
    assert dubins_lengths(q0, q1, R) == pytest.approx(math.pi * R + d - 2.0 * R, rel=1e-12)


def test_u_turn_onto_a_line_closer_than_two_radii_is_a_light_bulb_lrl() -> None:
    # North at the origin, south at (r, 0). The left circles are centred at A = (-r, 0) and
    # B = (2r, 0), 3r apart, so a right circle of radius r touches both with its centre M at
    # 2r from each: M = (r/2, √7 r/2), and the angle of A→M above the x axis is
    # φ = acos(1.5r / 2r) = acos(3/4). Left around A from angle 0 to φ (φ), right around M
    # from π+φ down to -φ (π + 2φ), left around B from π-φ to π (φ): (π + 4 acos(3/4)) r,
    # about 6.0325 r. The CSC words are far longer: RSR 3π r + r, LSL 3π r + 3r, and LSR
    # and RSL do not exist (their circles overlap).
    q0 = np.array([0.0, 0.0, math.pi / 2])
    q1 = np.array([R, 0.0, -math.pi / 2])
    expected = (math.pi + 4.0 * math.acos(0.75)) * R
    assert dubins_lengths(q0, q1, R) == pytest.approx(expected, rel=1e-12)
    totals = dubins_segments(q0, q1, R).sum(axis=-1)
    assert WORDS[int(np.nanargmin(totals))] == "LRL"
    assert totals[WORDS.index("RSR")] == pytest.approx((3.0 * math.pi + 1.0) * R)
    assert totals[WORDS.index("LSL")] == pytest.approx((3.0 * math.pi + 3.0) * R)
    assert np.isnan(totals[WORDS.index("LSR")]) and np.isnan(totals[WORDS.index("RSL")])
    assert dubins_path(q0, q1, R).length == pytest.approx(expected, rel=1e-12)


def test_quarter_turn_is_a_quarter_circle() -> None:
    q1 = np.array([R, R, math.pi / 2])
    assert dubins_lengths(np.zeros(3), q1, R) == pytest.approx(math.pi * R / 2, rel=1e-12)


# --- sampling -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q1",
    [
        (R, 0.0, -math.pi / 2),  # LRL
        (2.0 * R, 0.0, -math.pi / 2),  # single arc
        (9000.0, -4000.0, 2.0),  # CSC
        (-300.0, 800.0, -2.5),  # behind and close
        (50.0, 0.0, math.pi / 2),  # nearly a loop
    ],
)
def test_sampled_path_starts_and_ends_on_the_poses_and_never_turns_tighter(
    q1: tuple[float, float, float],
) -> None:
    q0 = np.array([0.0, 0.0, math.pi / 2])
    path = dubins_path(q0, np.array(q1), R)
    np.testing.assert_array_equal(path.poses[0], q0)
    np.testing.assert_array_equal(path.poses[-1], q1)
    steps = np.linalg.norm(np.diff(path.xy, axis=0), axis=1)
    assert steps.max() <= min(25.0, R / 10.0) + 1e-9
    assert circumradii(path.xy).min() >= R * (1.0 - 1e-6)
    # Headings follow the direction of travel (exactly on arcs and straights; a chord across
    # a junction of the two is off by less than step / r).
    chord = np.arctan2(np.diff(path.xy[:, 1]), np.diff(path.xy[:, 0]))
    mean_heading = (path.poses[:-2, 2] + path.poses[1:-1, 2]) / 2.0
    off = [abs(wrap(a - b)) for a, b in zip(chord[:-1], mean_heading, strict=True)]
    assert max(off) < 25.0 / R


def test_samples_lie_on_the_arcs_and_the_length_is_the_curve_not_the_polyline() -> None:
    # A half circle about (r, 0): every sample is exactly r from the centre.
    path = dubins_path(np.array([0.0, 0.0, math.pi / 2]), np.array([2 * R, 0.0, -math.pi / 2]), R)
    assert np.abs(np.hypot(path.xy[:, 0] - R, path.xy[:, 1]) - R).max() < 1e-8
    polyline = np.linalg.norm(np.diff(path.xy, axis=0), axis=1).sum()
    assert polyline < path.length == pytest.approx(math.pi * R)


def test_custom_step_is_respected() -> None:
    path = dubins_path(np.zeros(3), np.array([5000.0, 3000.0, 1.0]), R, step=7.5)
    assert np.linalg.norm(np.diff(path.xy, axis=0), axis=1).max() <= 7.5 + 1e-9


def test_sample_word_follows_the_named_word() -> None:
    seg = np.array([math.pi / 2 * 100.0, 200.0, math.pi / 2 * 100.0])
    # Quarter left about (0, 100) to (100, 100) facing north, 200 m north, quarter right
    # about (200, 300) to (200, 400) facing east.
    poses = sample_word([0.0, 0.0, 0.0], "LSR", seg, 100.0, 10.0)
    np.testing.assert_allclose(poses[-1], [200.0, 400.0, 0.0], atol=1e-9)


def test_bad_inputs_raise_input_error() -> None:
    with pytest.raises(InputError, match="radius"):
        dubins_lengths(np.zeros(3), np.ones(3), 0.0)
    with pytest.raises(InputError, match="shape"):
        dubins_lengths(np.zeros(2), np.ones(3), R)
    with pytest.raises(InputError, match="finite"):
        dubins_path(np.zeros(3), np.array([1.0, 1.0, np.nan]), R)
    with pytest.raises(InputError, match="word"):
        sample_word(np.zeros(3), "SSS", np.ones(3), R, 10.0)


def test_broadcasting_shapes() -> None:
    q0 = np.zeros((4, 1, 3))
    q1 = np.ones((1, 5, 3))
    assert dubins_lengths(q0, q1, R).shape == (4, 5)
    assert dubins_lengths(np.zeros(3), np.ones((7, 3)), R).shape == (7,)
    assert dubins_lengths(np.zeros(3), np.ones(3), R).shape == ()
    assert dubins_segments(np.zeros((2, 3)), np.ones(3), R).shape == (2, 6, 3)


def test_two_hundred_thousand_pairs_in_well_under_a_second() -> None:
    rng = np.random.default_rng(7)
    q0 = np.column_stack([rng.uniform(-3e4, 3e4, (200_000, 2)), rng.uniform(-4, 4, 200_000)])
    q1 = np.column_stack([rng.uniform(-3e4, 3e4, (200_000, 2)), rng.uniform(-4, 4, 200_000)])
    t0 = time.perf_counter()
    lengths = dubins_lengths(q0, q1, R)
    assert time.perf_counter() - t0 < 0.5
    assert np.isfinite(lengths).all()


# --- invariants ---------------------------------------------------------------------------

coord = st.floats(-20_000.0, 20_000.0, allow_nan=False)
heading = st.floats(-2.0 * math.pi, 2.0 * math.pi, allow_nan=False)
pose = st.tuples(coord, coord, heading).map(lambda t: np.array(t))
radius = st.floats(50.0, 3000.0)


@settings(max_examples=200, deadline=None)
@given(q0=pose, q1=pose, r=radius)
def test_length_is_at_least_the_distance(
    q0: NDArray[np.float64], q1: NDArray[np.float64], r: float
) -> None:
    # A turn within 1e-9 rad of a full circle counts as none, so each of the path's two turns
    # may shorten it by up to r·1e-9; beyond that, to a micrometre.
    length = float(dubins_lengths(q0, q1, r))
    assert length >= math.dist(q0[:2], q1[:2]) - 2e-9 * r - 1e-6


@settings(max_examples=100, deadline=None)
@given(q0=pose, q1=pose, r=radius)
# A full loop back to (almost) the start: its end misses q1 by µm, which once kinked the last turn.
@example(q0=np.zeros(3), q1=np.array([0.0, -6.103515625e-05, 0.0]), r=2897.0)
# Poses 1 µm apart are one point (length 0): the end is then exactly the tolerance away.
@example(q0=np.zeros(3), q1=np.array([1e-6, 0.0, 0.0]), r=2897.0)
def test_sampled_path_matches_the_vectorised_length_and_reaches_the_goal(
    q0: NDArray[np.float64], q1: NDArray[np.float64], r: float
) -> None:
    path = dubins_path(q0, q1, r)
    assert float(dubins_lengths(q0, q1, r)) == pytest.approx(path.length, rel=1e-12, abs=1e-9)
    # The shortest word, flown as computed (before its end is set to q1), ends on q1.
    seg = dubins_segments(q0, q1, r)
    k = int(np.nanargmin(seg.sum(axis=-1)))
    end = sample_word(q0, WORDS[k], seg[k], r, min(25.0, r / 10.0))[-1]
    assert math.dist(end[:2], q1[:2]) <= 1e-6 * max(1.0, path.length)
    assert abs(wrap(end[2] - q1[2])) < 1e-9
    polyline = np.linalg.norm(np.diff(path.xy, axis=0), axis=1).sum()
    assert polyline <= path.length * (1.0 + 1e-12) + 1e-6
    assert circumradii(path.xy).min(initial=np.inf) >= r * (1.0 - 1e-6)


@settings(max_examples=50, deadline=None)
@given(q0=st.lists(pose, min_size=1, max_size=20), q1=pose, r=radius)
def test_vectorised_lengths_equal_the_scalar_path_lengths(
    q0: list[NDArray[np.float64]], q1: NDArray[np.float64], r: float
) -> None:
    many = dubins_lengths(np.array(q0), q1, r)
    one_by_one = [dubins_path(q, q1, r).length for q in q0]
    np.testing.assert_allclose(many, one_by_one, rtol=1e-12, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(q0=pose, q1=pose, r=radius)
def test_flying_it_backwards_is_as_long(
    q0: NDArray[np.float64], q1: NDArray[np.float64], r: float
) -> None:
    back0 = q1 + np.array([0.0, 0.0, math.pi])
    back1 = q0 + np.array([0.0, 0.0, math.pi])
    forward = float(dubins_lengths(q0, q1, r))
    assert float(dubins_lengths(back0, back1, r)) == pytest.approx(forward, rel=1e-9, abs=1e-6)
