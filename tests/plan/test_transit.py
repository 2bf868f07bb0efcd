"""Transits: flyable paths between poses that keep clear of restricted airspace."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from vigia.errors import InputError, UnreachableError
from vigia.plan.dubins import dubins_lengths, dubins_path
from vigia.plan.mission import FlightPath
from vigia.plan.transit import TransitPlanner

R = 1900.0  # MQ-9 class minimum turn radius, metres
EAST, WEST, NORTH = 0.0, math.pi, math.pi / 2


def pose(x: float, y: float, heading: float) -> NDArray[np.float64]:
    return np.array([x, y, heading])


def circumradii(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Radius of the circle through each three consecutive points (inf when collinear)."""
    a, b, c = xy[:-2], xy[1:-1], xy[2:]
    ab = np.linalg.norm(b - a, axis=1)
    bc = np.linalg.norm(c - b, axis=1)
    ca = np.linalg.norm(a - c, axis=1)
    cross = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(cross > 0.0, ab * bc * ca / (2.0 * cross), np.inf)


def same_heading(a: float, b: float) -> bool:
    return abs((a - b + math.pi) % (2.0 * math.pi) - math.pi) < 1e-9


def assert_flyable(
    path: FlightPath,
    q0: NDArray[np.float64],
    q1: NDArray[np.float64],
    restricted: BaseGeometry,
    radius: float = R,
    margin: float = 1.0,
) -> None:
    """Endpoints and headings match, turns are never tighter than the radius, and no part
    of the polyline comes within the margin of the restricted airspace."""
    np.testing.assert_allclose(path.poses[0, :2], q0[:2], atol=1e-9)
    np.testing.assert_allclose(path.poses[-1, :2], q1[:2], atol=1e-9)
    for q, end in ((q0, path.poses[0]), (q1, path.poses[-1])):
        if not math.isnan(q[2]):
            assert same_heading(end[2], q[2])
    step = np.linalg.norm(np.diff(path.xy, axis=0), axis=1)
    assert step.max(initial=0.0) <= min(25.0, radius / 10.0) + 1e-6
    assert circumradii(path.xy).min(initial=np.inf) >= radius * (1.0 - 1e-6)
    assert path.length >= step.sum() - 1e-6
    if not restricted.is_empty:
        assert restricted.distance(shapely.linestrings(path.xy)) >= margin


# --- direct paths -------------------------------------------------------------------------


def test_nothing_in_the_way_gives_the_dubins_path() -> None:
    planner = TransitPlanner(box(-3000, 20000, 3000, 26000), R)
    q0, q1 = pose(-20000, 0, EAST), pose(20000, 3000, NORTH)
    path = planner.path(q0, q1)
    assert path.length == pytest.approx(dubins_path(q0, q1, R).length)
    assert_flyable(path, q0, q1, planner.restricted)


def test_empty_airspace_is_always_clear() -> None:
    planner = TransitPlanner(Polygon(), R)
    q0, q1 = pose(0, 0, EAST), pose(0, 500, WEST)
    path = planner.path(q0, q1)
    assert path.length == pytest.approx(float(dubins_lengths(q0, q1, R)))
    assert planner.is_clear(path)
    assert planner.cost_matrix(q0[None], q1[None])[0, 0] == pytest.approx(path.length)


def test_is_clear_respects_the_margin() -> None:
    square = box(-1000, -1000, 1000, 1000)
    planner = TransitPlanner(square, R, margin=200.0)
    passing = FlightPath(np.array([[-5000.0, 1150.0, 0.0], [5000.0, 1150.0, 0.0]]), 10000.0)
    wide = FlightPath(np.array([[-5000.0, 1250.0, 0.0], [5000.0, 1250.0, 0.0]]), 10000.0)
    through = FlightPath(np.array([[-5000.0, 0.0, 0.0], [5000.0, 0.0, 0.0]]), 10000.0)
    assert not planner.is_clear(passing)
    assert planner.is_clear(wide)
    assert not planner.is_clear(through)


# --- around obstacles ---------------------------------------------------------------------


def test_straight_transit_goes_around_a_square_in_the_middle() -> None:
    square = box(-3000, -3000, 3000, 3000)
    planner = TransitPlanner(square, R)
    q0, q1 = pose(-20000, 0, EAST), pose(20000, 0, EAST)
    path = planner.path(q0, q1)
    assert_flyable(path, q0, q1, square)
    assert planner.is_clear(path)
    assert path.length > 40000.0
    # Around one side of the square, not the long way round.
    assert path.length < 40000.0 + 4 * R
    assert np.abs(path.xy[:, 1]).max() > 3000.0


def test_a_wider_margin_keeps_the_path_farther_away() -> None:
    square = box(-3000, -3000, 3000, 3000)
    planner = TransitPlanner(square, R, margin=800.0)
    q0, q1 = pose(-20000, 0, EAST), pose(20000, 0, EAST)
    path = planner.path(q0, q1)
    assert_flyable(path, q0, q1, square, margin=800.0)


def test_several_obstacles() -> None:
    zones = shapely.union_all(
        [
            box(-3000, -3000, 3000, 3000),
            Point(12000, 4000).buffer(4000),
            box(-15000, -8000, -9000, 8000),
            Point(2000, -12000).buffer(3000),
        ]
    )
    planner = TransitPlanner(zones, R)
    for q0, q1 in [
        (pose(-30000, 0, EAST), pose(30000, 0, EAST)),
        (pose(25000, 5000, WEST), pose(-25000, -3000, NORTH)),
        (pose(0, 20000, -NORTH), pose(0, -25000, -NORTH)),
    ]:
        path = planner.path(q0, q1)
        assert_flyable(path, q0, q1, zones)


def test_a_u_shaped_obstacle_open_towards_the_start_is_flown_around() -> None:
    # Flying west into the mouth of a U leads into a pocket closed at the far end.
    u_shape = box(-10000, -10000, 10000, 10000).difference(box(-6000, -6000, 10001, 6000))
    planner = TransitPlanner(u_shape, R)
    q0, q1 = pose(20000, 0, WEST), pose(-20000, 0, WEST)
    path = planner.path(q0, q1)
    assert_flyable(path, q0, q1, u_shape)
    assert np.abs(path.xy[:, 1]).max() > 10000.0


def test_a_start_inside_the_u_turns_round_and_leaves_by_the_mouth() -> None:
    u_shape = box(-10000, -10000, 10000, 10000).difference(box(-6000, -6000, 10001, 6000))
    planner = TransitPlanner(u_shape, R)
    q0, q1 = pose(-2000, 0, WEST), pose(-20000, 0, WEST)
    path = planner.path(q0, q1)
    assert_flyable(path, q0, q1, u_shape)


def test_polygon_with_a_hole_can_be_reached_inside_the_hole_only_from_inside() -> None:
    ring = Point(0, 0).buffer(30000).difference(Point(0, 0).buffer(20000))
    planner = TransitPlanner(ring, R)
    q0, q1 = pose(-8000, 0, NORTH), pose(8000, 0, -NORTH)
    path = planner.path(q0, q1)
    assert_flyable(path, q0, q1, ring)


def test_any_heading_at_a_base_picks_one() -> None:
    square = box(-3000, -3000, 3000, 3000)
    planner = TransitPlanner(square, R)
    base = pose(-20000, 0, math.nan)
    q1 = pose(20000, 0, EAST)
    path = planner.path(base, q1)
    assert np.isfinite(path.poses).all()
    assert_flyable(path, base, q1, square)
    back = planner.path(q1, base)
    assert np.isfinite(back.poses).all()
    assert_flyable(back, q1, base, square)


# --- unreachable --------------------------------------------------------------------------


def test_a_start_inside_restricted_airspace_is_unreachable() -> None:
    planner = TransitPlanner(box(-3000, -3000, 3000, 3000), R)
    with pytest.raises(UnreachableError, match=r"from \(100, -50\) to \(20000, 0\).*start lies"):
        planner.path(pose(100.4, -49.6, EAST), pose(20000, 0, EAST))


def test_a_goal_within_the_margin_is_unreachable() -> None:
    planner = TransitPlanner(box(-3000, -3000, 3000, 3000), R, margin=500.0)
    with pytest.raises(UnreachableError, match="goal lies inside restricted airspace"):
        planner.path(pose(-20000, 0, EAST), pose(3200, 0, EAST))


def test_a_goal_enclosed_by_a_ring_is_unreachable() -> None:
    ring = Point(0, 0).buffer(15000).difference(Point(0, 0).buffer(10000))
    planner = TransitPlanner(ring, R)
    with pytest.raises(UnreachableError, match="goal is enclosed by restricted airspace"):
        planner.path(pose(-30000, 0, EAST), pose(0, 0, EAST))
    with pytest.raises(UnreachableError, match="start is enclosed by restricted airspace"):
        planner.path(pose(0, 0, EAST), pose(-30000, 0, EAST))


def test_too_close_to_turn_away_is_unreachable() -> None:
    # 500 m short of a long wall, heading straight at it, with a 1.9 km turn radius.
    planner = TransitPlanner(box(-3000, -30000, 3000, 30000), R)
    with pytest.raises(UnreachableError, match="no clear way out of the start"):
        planner.path(pose(-3500, 0, EAST), pose(-20000, 0, EAST))


def test_a_goal_that_can_only_be_approached_through_a_wall_is_unreachable() -> None:
    # Arriving 500 m in front of the wall while facing away from it means having come
    # through it.
    planner = TransitPlanner(box(-3000, -30000, 3000, 30000), R)
    with pytest.raises(UnreachableError, match="goal cannot be approached"):
        planner.path(pose(-20000, 0, EAST), pose(-3500, 0, WEST))


def test_bad_parameters_are_input_errors() -> None:
    with pytest.raises(InputError):
        TransitPlanner(Polygon(), 0.0)
    with pytest.raises(InputError):
        TransitPlanner(Polygon(), R, margin=-1.0)
    with pytest.raises(InputError):
        TransitPlanner(Polygon(), R).path(np.zeros(2), np.zeros(3))


# --- cost matrix --------------------------------------------------------------------------


def lines(n: int, rng: np.random.Generator, avoid: BaseGeometry) -> NDArray[np.float64]:
    xy = rng.uniform(-40000, 40000, (4 * n, 2))
    xy = xy[~shapely.dwithin(avoid, shapely.points(xy), 100.0)][:n]
    return np.column_stack([xy, rng.uniform(-math.pi, math.pi, len(xy))])


def test_cost_is_the_dubins_length_where_the_chord_is_clear_and_at_least_the_distance() -> None:
    zones = shapely.union_all([Point(0, 0).buffer(8000), box(15000, -20000, 21000, 4000)])
    planner = TransitPlanner(zones, R)
    rng = np.random.default_rng(5)
    starts, goals = lines(60, rng, zones), lines(50, rng, zones)
    cost = planner.cost_matrix(starts, goals)
    assert cost.shape == (60, 50)
    dist = np.hypot(*(starts[:, None, :2] - goals[None, :, :2]).transpose(2, 0, 1))
    assert (cost >= dist - 1e-6).all()
    dubins = dubins_lengths(starts[:, None], goals[None], R)
    assert (cost >= dubins - 1e-6).all()
    chords = shapely.linestrings(
        np.stack(np.broadcast_arrays(starts[:, None, :2], goals[None, :, :2]), axis=2)
    )
    clear = ~shapely.intersects(zones.buffer(1.0), chords)
    np.testing.assert_allclose(cost[clear], dubins[clear])
    assert (cost[~clear] > dist[~clear]).all()


def test_cost_approximates_the_planned_path() -> None:
    zones = shapely.union_all([Point(0, 0).buffer(8000), box(15000, -20000, 21000, 4000)])
    planner = TransitPlanner(zones, R)
    q0, q1 = pose(-30000, 1000, EAST), pose(30000, -1000, EAST)
    path = planner.path(q0, q1)
    cost = planner.cost_matrix(q0[None], q1[None])[0, 0]
    assert 60000.0 < cost <= path.length * 1.001
    assert cost > 0.95 * path.length
    # Clear of everything: the estimate is the path.
    q2 = pose(-30000, 25000, EAST)
    assert planner.cost_matrix(q0[None], q2[None])[0, 0] == pytest.approx(
        planner.path(q0, q2).length
    )


def test_cost_with_any_heading_is_the_best_of_sixteen() -> None:
    planner = TransitPlanner(Polygon(), R)
    base = pose(0, 0, math.nan)
    goal = pose(5000, 2000, NORTH)
    cost = planner.cost_matrix(np.array([base, goal]), np.array([goal, base]))
    headings = np.linspace(0, 2 * math.pi, 16, endpoint=False)
    fixed = np.column_stack([np.zeros(16), np.zeros(16), headings])
    assert cost[0, 0] == pytest.approx(dubins_lengths(fixed, goal, R).min())
    assert cost[1, 1] == pytest.approx(dubins_lengths(goal, fixed, R).min())
    assert cost[0, 1] == 0.0


def test_cost_is_infinite_from_inside_restricted_airspace() -> None:
    planner = TransitPlanner(box(-3000, -3000, 3000, 3000), R)
    cost = planner.cost_matrix(pose(0, 0, EAST)[None], pose(20000, 0, EAST)[None])
    assert np.isinf(cost).all()


def test_cost_matrix_of_four_hundred_lines_is_finite_everywhere_clear() -> None:
    # Its speed is measured in bench/transit.py, against planning each path.
    zones = shapely.union_all(
        [
            Point(0, 0).buffer(8000),
            box(20000, -25000, 26000, 5000),
            Point(-30000, 15000).buffer(5000),
            box(-40000, -30000, -20000, -25000),
        ]
    )
    rng = np.random.default_rng(11)
    starts, goals = lines(400, rng, zones), lines(400, rng, zones)
    planner = TransitPlanner(zones, R)
    cost = planner.cost_matrix(starts, goals)
    assert cost.shape == (400, 400) and np.isfinite(cost).all()


# --- invariants ---------------------------------------------------------------------------


@st.composite
def convex_obstacles(draw: st.DrawFn) -> BaseGeometry:
    n = draw(st.integers(1, 3))
    parts = []
    for _ in range(n):
        cx = draw(st.floats(-15000, 15000))
        cy = draw(st.floats(-15000, 15000))
        size = draw(st.floats(500, 7000))
        seed = draw(st.integers(0, 2**32 - 1))
        pts = np.random.default_rng(seed).normal(size=(8, 2)) * size + [cx, cy]
        parts.append(shapely.convex_hull(shapely.multipoints(pts)))
    return shapely.union_all(parts)


def poses(x0: float, x1: float) -> st.SearchStrategy[NDArray[np.float64]]:
    return st.tuples(st.floats(x0, x1), st.floats(-25000, 25000), st.floats(-math.pi, math.pi)).map(
        lambda t: np.array(t)
    )


# Starts west and goals east of the obstacles, so most transits have to get round them.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(zones=convex_obstacles(), q0=poses(-30000, -10000), q1=poses(10000, 30000))
def test_random_transits_are_clear_and_flyable_or_unreachable(
    zones: BaseGeometry, q0: NDArray[np.float64], q1: NDArray[np.float64]
) -> None:
    assume(zones.distance(Point(q0[:2])) > 50.0 and zones.distance(Point(q1[:2])) > 50.0)
    planner = TransitPlanner(zones, R)
    try:
        path = planner.path(q0, q1)
    except UnreachableError as exc:
        assert "no flyable path from" in str(exc)
        return
    assert planner.is_clear(path)
    assert_flyable(path, q0, q1, zones)
    assert path.length >= math.dist(q0[:2], q1[:2]) - 1e-6
    cost = planner.cost_matrix(q0[None], q1[None])[0, 0]
    assert cost >= math.dist(q0[:2], q1[:2]) - 1e-6


def test_a_heading_of_a_subnormal_number_of_radians_is_planned_like_zero() -> None:
    # Hypothesis drew a heading of 2.4e-290 rad: the path then lies 1e-304 m off its axis,
    # and GEOS's distance arithmetic divided by zero on such coordinates (a RuntimeWarning,
    # an error under this suite's warning filter).
    pts = np.random.default_rng(0).normal(size=(8, 2)) * 7000.0 + [-15000.0, 0.0]
    zones = shapely.convex_hull(shapely.multipoints(pts))
    planner = TransitPlanner(zones, R)
    q0, q1 = np.array([-30000.0, 0.0, 2.4e-290]), np.array([10000.0, 0.0, 0.0])
    path = planner.path(q0, q1)
    assert planner.is_clear(path)
    assert_flyable(path, q0, q1, zones)
    assert path.length == pytest.approx(planner.path(pose(-30000.0, 0.0, 0.0), q1).length)


def test_multipolygon_with_separate_parts_is_accepted() -> None:
    zones = MultiPolygon([box(-3000, -3000, 3000, 3000), box(10000, -3000, 16000, 3000)])
    planner = TransitPlanner(zones, R)
    q0, q1 = pose(-20000, 0, EAST), pose(30000, 0, EAST)
    assert_flyable(planner.path(q0, q1), q0, q1, zones)
