"""Specification of the planning metrics (vigia.plan.metrics)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from vigia.errors import InputError
from vigia.plan.metrics import (
    coverage_lower_bound,
    covered_fraction,
    length_inside,
    min_turn_radius,
    uturn_cost,
)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "plan_coverage.py"


def _bench() -> ModuleType:
    # bench/ is not a package: load the benchmark module to reuse its case geometries.
    name = "_vigia_bench_plan_coverage"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# --- covered_fraction ---------------------------------------------------------------------


def test_one_line_covers_a_strip_of_its_swath_exactly():
    rect = box(0, 0, 10000, 2000)
    assert covered_fraction([((0.0, 1000.0), (10000.0, 1000.0))], 2000.0, rect) == pytest.approx(
        1.0
    )


def test_half_width_swath_covers_half():
    rect = box(0, 0, 10000, 2000)
    line = [((0.0, 1000.0), (10000.0, 1000.0))]
    assert covered_fraction(line, 1000.0, rect) == pytest.approx(0.5)
    on_edge = [((0.0, 0.0), (10000.0, 0.0))]  # half its swath falls outside
    assert covered_fraction(on_edge, 2000.0, rect) == pytest.approx(0.5)


def test_swath_ends_are_flat_and_overlaps_count_once():
    rect = box(0, 0, 10000, 2000)
    half = [((0.0, 1000.0), (5000.0, 1000.0))]
    assert covered_fraction(half, 2000.0, rect) == pytest.approx(0.5)
    twice = [((0.0, 1000.0), (10000.0, 1000.0)), ((10000.0, 1000.0), (0.0, 1000.0))]
    assert covered_fraction(twice, 2000.0, rect) == pytest.approx(1.0)


def test_holes_are_not_part_of_the_target():
    case = _bench().case_rectangle(origin=(0.0, 0.0))
    lines = [((0.0, y), (20000.0, y)) for y in range(1000, 16000, 2000)]
    assert covered_fraction(lines, 2000.0, case.area) == pytest.approx(1.0)
    assert covered_fraction([], 2000.0, case.area) == 0.0


def test_covered_fraction_rejects_bad_input():
    with pytest.raises(InputError):
        covered_fraction([], 0.0, box(0, 0, 1, 1))
    with pytest.raises(InputError):
        covered_fraction([], 1.0, box(0, 0, 0, 1))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.tuples(st.floats(-5e3, 15e3), st.floats(-5e3, 5e3)),
            st.tuples(st.floats(-5e3, 15e3), st.floats(-5e3, 5e3)),
        ),
        max_size=6,
    ),
    st.floats(10.0, 5000.0),
)
def test_covered_fraction_is_a_fraction(lines, swath):
    assert 0.0 <= covered_fraction(lines, swath, box(0, 0, 10000, 2000)) <= 1.0


# --- length_inside ------------------------------------------------------------------------


def test_path_crossing_a_1_km_square_is_1000_m_inside():
    zone = box(0, 0, 1000, 1000)
    assert length_inside([(-500.0, 500.0), (1500.0, 500.0)], zone) == pytest.approx(1000.0)
    diagonal = [(-100.0, -100.0), (1100.0, 1100.0)]
    assert length_inside(diagonal, zone) == pytest.approx(1000.0 * math.sqrt(2.0))


def test_flying_along_a_boundary_is_not_inside():
    zone = box(0, 0, 1000, 1000)
    assert length_inside([(-500.0, 0.0), (1500.0, 0.0)], zone) == pytest.approx(0.0)
    assert length_inside([(-500.0, 2000.0), (1500.0, 2000.0)], zone) == 0.0
    assert length_inside([(0.0, 0.0)], zone) == 0.0


def test_tolerance_forgives_centimetre_grazes_but_not_crossings():
    zone = box(0, 0, 1000, 1000)
    graze = [(-500.0, 0.03), (1500.0, 0.03)]  # 3 cm inside along the whole edge
    assert length_inside(graze, zone) == pytest.approx(1000.0)
    assert length_inside(graze, zone, tolerance=1.0) == 0.0
    crossing = [(-500.0, 500.0), (1500.0, 500.0)]
    assert length_inside(crossing, zone, tolerance=1.0) == pytest.approx(1000.0)
    dive = [(-500.0, 0.0), (500.0, 0.0), (500.0, 500.0)]  # along the edge, then in
    assert length_inside(dive, zone, tolerance=1.0) == pytest.approx(500.0)
    with pytest.raises(InputError):
        length_inside(crossing, zone, tolerance=-1.0)


# --- min_turn_radius ----------------------------------------------------------------------


@pytest.mark.parametrize("step_deg", [1.0, 5.0])  # samples 8.7 m and 43.6 m apart
def test_sampled_circle_has_its_radius(step_deg):
    t = np.radians(np.arange(0.0, 360.0 + step_deg, step_deg))
    xy = np.column_stack([500.0 * np.cos(t), 500.0 * np.sin(t)])
    assert min_turn_radius(xy) == pytest.approx(500.0, rel=2e-3)


def test_dubins_like_path_reports_its_arc_radius():
    # 5 km straight, a half circle of 1900 m sampled every ~30 m, 5 km straight back.
    t = np.linspace(-math.pi / 2, math.pi / 2, 200)
    arc = np.column_stack([5000.0 + 1900.0 * np.cos(t), 1900.0 + 1900.0 * np.sin(t)])
    leg1 = np.column_stack([np.linspace(0.0, 5000.0, 100), np.zeros(100)])
    leg2 = leg1[::-1] + np.array([0.0, 3800.0])
    xy = np.concatenate([leg1, arc, leg2])
    assert min_turn_radius(xy) == pytest.approx(1900.0, rel=1e-3)


def test_right_angle_corner_is_tiny():
    corner = [(0.0, 0.0), (10000.0, 0.0), (10000.0, 10000.0)]
    assert min_turn_radius(corner) < 100.0
    dense = np.column_stack(
        [np.r_[np.linspace(0, 10000, 401), np.full(400, 10000.0)],
         np.r_[np.zeros(401), np.linspace(25, 10000, 400)]]
    )  # fmt: skip
    assert min_turn_radius(dense) < 100.0


def test_straight_duplicate_and_cusp_paths():
    assert min_turn_radius([(0.0, 0.0), (1.0, 0.0), (1.0, 0.0), (5.0, 0.0)]) == math.inf
    assert min_turn_radius([(0.0, 0.0), (1.0, 1.0)]) == math.inf
    assert min_turn_radius([(0.0, 0.0), (1000.0, 0.0), (0.0, 0.0)]) == 0.0
    with pytest.raises(InputError):
        min_turn_radius([(0.0, 0.0)], window=0.0)


# --- uturn_cost ---------------------------------------------------------------------------


def test_uturn_known_values():
    r = 1900.0
    assert uturn_cost(2 * r, r) == pytest.approx(math.pi * r)
    assert uturn_cost(4000.0, r) == pytest.approx(math.pi * r + 200.0)
    assert uturn_cost(0.0, r) == pytest.approx(7.0 * math.pi * r / 3.0)
    assert uturn_cost(-4000.0, r) == uturn_cost(4000.0, r)
    assert uturn_cost(2000.0, 0.0) == 2000.0
    with pytest.raises(InputError):
        uturn_cost(1.0, -1.0)


def _arc(p, h, turn, t, r):
    # Follow a circle of radius r for angle t >= 0, turning left (turn=+1) or right (-1).
    c = p + turn * r * np.array([-math.sin(h), math.cos(h)])
    h2 = h + turn * t
    return c - turn * r * np.array([-math.sin(h2), math.cos(h2)]), h2


def _roots(f, n=20000):
    # Every sign change of f over [0, 2π), refined by bisection.
    grid = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    vals = np.array([f(t) for t in grid])
    out = []
    for i in range(n):
        a, b = grid[i], grid[(i + 1) % n] + (2.0 * math.pi if i == n - 1 else 0.0)
        fa, fb = vals[i], vals[(i + 1) % n]
        if fa == 0.0:
            out.append(a)
        elif fa * fb < 0.0:
            for _ in range(60):
                m = 0.5 * (a + b)
                if f(a) * f(m) <= 0.0:
                    b = m
                else:
                    a = m
            out.append(0.5 * (a + b))
    return out


def _dubins_brute_force(d, r):
    """Shortest of all six Dubins words from (0, 0, 0) to (0, d, π), found by root scanning."""
    start = np.zeros(2)
    goal, hg = np.array([0.0, d]), math.pi
    best = math.inf
    two_pi = 2.0 * math.pi
    for d1 in (1, -1):
        for d3 in (1, -1):
            c3 = goal + d3 * r * np.array([-math.sin(hg), math.cos(hg)])

            # CSC: after the first arc, the straight must be tangent to the goal circle.
            def tangent_point(t1, d1=d1, d3=d3, c3=c3):
                p1, h1 = _arc(start, 0.0, d1, t1, r)
                q = c3 - d3 * r * np.array([-math.sin(h1), math.cos(h1)])
                return p1, h1, q

            def csc_residual(t1, tp=tangent_point):
                p1, h1, q = tp(t1)
                return math.cos(h1) * (q - p1)[1] - math.sin(h1) * (q - p1)[0]

            for t1 in _roots(csc_residual):
                p1, h1, q = tangent_point(t1)
                s = float(np.dot(q - p1, [math.cos(h1), math.sin(h1)]))
                if s < -1e-6:
                    continue
                t3 = (d3 * (hg - h1)) % two_pi
                end, _ = _arc(q, h1, d3, t3, r)
                assert np.allclose(end, goal, atol=1e-3)
                best = min(best, r * (t1 + t3) + max(s, 0.0))
        # CCC: the middle circle (opposite turn) must touch the goal circle.
        d3 = d1
        c3 = goal + d3 * r * np.array([-math.sin(hg), math.cos(hg)])

        def middle(t1, d1=d1):
            p1, h1 = _arc(start, 0.0, d1, t1, r)
            return p1, h1, p1 - d1 * r * np.array([-math.sin(h1), math.cos(h1)])

        def ccc_residual(t1, mid=middle, c3=c3):
            return float(np.hypot(*(mid(t1)[2] - c3))) - 2.0 * r

        for t1 in _roots(ccc_residual):
            p1, h1, m = middle(t1)
            touch = 0.5 * (m + c3)
            w = (m - touch) / (-d1 * r)  # = (-sin h2, cos h2)
            h2 = math.atan2(-w[0], w[1])
            t2 = (-d1 * (h2 - h1)) % two_pi
            t3 = (d1 * (hg - h2)) % two_pi
            end, _ = _arc(touch, h2, d1, t3, r)
            assert np.allclose(end, goal, atol=1e-3)
            best = min(best, r * (t1 + t2 + t3))
    return best


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.8, 1.0526, 1.5, 1.99, 2.0, 2.01, 2.5, 4.0])
def test_uturn_cost_matches_brute_force_dubins(ratio):
    r = 1900.0
    d = ratio * r
    assert uturn_cost(d, r) == pytest.approx(_dubins_brute_force(d, r), rel=1e-6)


@given(st.floats(0.0, 20000.0), st.floats(1.0, 5000.0))
def test_uturn_is_at_least_a_half_circle_and_the_spacing(d, r):
    cost = uturn_cost(d, r)
    assert cost >= math.pi * r - 1e-6
    assert cost >= d - 1e-6


# --- coverage_lower_bound -----------------------------------------------------------------


def test_rectangle_with_hole_bound():
    case = _bench().case_rectangle()
    assert case.area.area / case.swath == pytest.approx(144000.0)
    bound, theta = coverage_lower_bound(case.area, case.swath, case.radius)
    # Lines along x: 15 km / 2 km -> 8 lines, 7 turns; the cheapest skips one line (4 km).
    turn = min(uturn_cost(2000.0, 1900.0), uturn_cost(4000.0, 1900.0))
    assert turn == pytest.approx(math.pi * 1900.0 + 200.0)
    assert bound == pytest.approx(144000.0 + 7 * turn)
    assert theta == pytest.approx(0.0)


def test_l_shape_bound():
    case = _bench().case_l_shape()
    bound, theta = coverage_lower_bound(case.area, case.swath, case.radius)
    turn = uturn_cost(4500.0, 1900.0)  # skip two lines: 3 × 1.5 km >= 2 × 1.9 km
    assert bound == pytest.approx(case.area.area / 1500.0 + 11 * turn)
    assert theta in (pytest.approx(0.0), pytest.approx(math.pi / 2))


def test_bound_turns_with_the_area():
    rect = box(0, 0, 20000, 6000)
    b0, t0 = coverage_lower_bound(rect, 2000.0, 1900.0)
    rot = box(0, 0, 6000, 20000)
    b1, t1 = coverage_lower_bound(rot, 2000.0, 1900.0)
    assert b0 == pytest.approx(b1)
    assert t0 == pytest.approx(0.0)
    assert t1 == pytest.approx(math.pi / 2)


def test_bound_without_turns_is_area_over_swath():
    rect = box(0, 0, 20000, 2000)
    assert coverage_lower_bound(rect, 2000.0, 1900.0) == (pytest.approx(20000.0), 0.0)
    with pytest.raises(InputError):
        coverage_lower_bound(rect, 0.0, 1900.0)
    with pytest.raises(InputError):
        coverage_lower_bound(rect, 2000.0, 1900.0, n_directions=0)
