"""Sortie routing: flyable, clear of restricted airspace, covering, split by endurance."""

import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from vigia.errors import CoverageError, UnreachableError
from vigia.plan.metrics import covered_fraction, length_inside, min_turn_radius
from vigia.plan.route import plan_sorties

SPEED = 102.8


def rect_with_hole() -> tuple[Polygon, Polygon]:
    hole = box(8000, 6000, 12000, 9000)
    return Polygon(box(0, 0, 20000, 15000).exterior.coords, [hole.exterior.coords]), hole


def lines_of(sorties):
    return [(ln.start, ln.end) for s in sorties for ln in s.lines]


def assert_flyable(sorties, restricted: Polygon, radius: float) -> None:
    for s in sorties:
        xy = s.path.xy
        assert length_inside(xy, restricted) == 0.0
        assert min_turn_radius(xy) >= radius * 0.999
        # Continuous: no jump between consecutive samples larger than the sampling step.
        assert np.hypot(*np.diff(xy, axis=0).T).max() <= 501.0


def assert_lines_on_route(sorties) -> None:
    for s in sorties:
        route = shapely.LineString(s.path.xy)
        for ln in s.lines:
            assert route.distance(shapely.Point(ln.start)) < 1e-6
            assert route.distance(shapely.Point(ln.end)) < 1e-6


def test_a_rectangle_with_a_hole_is_covered_by_one_flyable_route() -> None:
    area, hole = rect_with_hole()
    sorties = plan_sorties([("a", area)], hole, swath=2000, sidelap=0.0, radius=1900, speed=SPEED)
    assert len(sorties) == 1
    assert_flyable(sorties, hole, 1900)
    assert_lines_on_route(sorties)
    assert covered_fraction(lines_of(sorties), 2000, area) >= 0.995


def test_the_route_leaves_from_the_base_and_comes_back() -> None:
    area, hole = rect_with_hole()
    base = (-30000.0, -10000.0)
    [s] = plan_sorties(
        [("a", area)], hole, swath=2000, sidelap=0.1, radius=1900, speed=SPEED, base=base
    )
    assert np.allclose(s.path.xy[0], base) and np.allclose(s.path.xy[-1], base)


def test_transit_goes_around_restricted_airspace_between_base_and_area() -> None:
    area = box(0, 0, 10000, 10000)
    wall = box(-16000, -20000, -12000, 20000)  # between the base and the area
    [s] = plan_sorties(
        [("a", area)],
        wall,
        swath=2000,
        sidelap=0.1,
        radius=1900,
        speed=SPEED,
        base=(-30000.0, 0.0),
    )
    assert_flyable([s], wall, 1900)
    assert s.path.length > 2 * 30000


def test_several_areas_fly_in_one_sortie_in_a_sensible_order() -> None:
    areas = [(f"a{i}", box(30000 * i, 0, 30000 * i + 8000, 8000)) for i in range(3)]
    [s] = plan_sorties(
        areas, Polygon(), swath=2000, sidelap=0.1, radius=1900, speed=SPEED, base=(-20000.0, 4000.0)
    )
    # With the base at one end, the aircraft images on the way out and on the way back:
    # each area is visited at most twice (once each way), the nearest first.
    assert s.areas[0] == "a0"
    runs = [ln.area for ln in s.lines]
    visits = [x for i, x in enumerate(runs) if i == 0 or runs[i - 1] != x]
    assert all(visits.count(a) <= 2 for a in ("a0", "a1", "a2"))
    assert visits.count("a2") == 1


def test_endurance_splits_the_work_into_sorties() -> None:
    areas = [("a", box(0, 0, 20000, 20000))]
    one = plan_sorties(
        areas, Polygon(), swath=2000, sidelap=0.1, radius=1900, speed=SPEED, base=(-20000.0, 0.0)
    )
    budget_s = one[0].path.length / SPEED * 0.6
    split = plan_sorties(
        areas,
        Polygon(),
        swath=2000,
        sidelap=0.1,
        radius=1900,
        speed=SPEED,
        base=(-20000.0, 0.0),
        max_flight_s=budget_s,
    )
    assert len(split) >= 2
    assert all(s.path.length / SPEED <= budget_s for s in split)
    assert sorted(map(str, lines_of(split))) == sorted(map(str, lines_of(one))) or (
        covered_fraction(lines_of(split), 2000, areas[0][1]) >= 0.995
    )


def test_an_area_out_of_reach_is_refused_with_the_hours_it_needs() -> None:
    with pytest.raises(UnreachableError, match=r"unreachable within endurance: .* h of flight"):
        plan_sorties(
            [("far", box(1e6, 0, 1.01e6, 1e4))],
            Polygon(),
            swath=2000,
            sidelap=0.1,
            radius=1900,
            speed=SPEED,
            base=(0.0, 0.0),
            max_flight_s=3600.0,
        )


def test_a_no_fly_zone_that_swallows_the_area_is_refused() -> None:
    with pytest.raises(CoverageError, match="area 'a'"):
        plan_sorties(
            [("a", box(0, 0, 5000, 5000))],
            box(-1000, -1000, 6000, 6000),
            swath=2000,
            sidelap=0.1,
            radius=1900,
            speed=SPEED,
        )


def test_a_base_inside_restricted_airspace_is_refused() -> None:
    with pytest.raises(UnreachableError, match="base"):
        plan_sorties(
            [("a", box(0, 0, 5000, 5000))],
            box(-20000, -1000, -15000, 1000),
            swath=2000,
            sidelap=0.1,
            radius=1900,
            speed=SPEED,
            base=(-17000.0, 0.0),
        )


def test_the_same_input_gives_the_same_plan() -> None:
    area, hole = rect_with_hole()
    a = plan_sorties([("a", area)], hole, swath=2000, sidelap=0.0, radius=1900, speed=SPEED)
    b = plan_sorties([("a", area)], hole, swath=2000, sidelap=0.0, radius=1900, speed=SPEED)
    assert a[0].path.length == b[0].path.length


@st.composite
def area_with_holes(draw: st.DrawFn) -> tuple[Polygon, list[Polygon]]:
    """A star-shaped area 16–36 km across with up to two rotated rectangular holes inside."""
    n = draw(st.integers(5, 9))
    radius = draw(st.floats(8000, 18000))
    angles = np.sort(
        np.array(draw(st.lists(st.floats(0, 2 * math.pi), min_size=n, max_size=n, unique=True)))
    )
    if np.min(np.diff(np.r_[angles, angles[0] + 2 * math.pi])) < 0.2:
        angles = np.linspace(0, 2 * math.pi, n, endpoint=False)
    radii = np.array(draw(st.lists(st.floats(0.6, 1.0), min_size=n, max_size=n))) * radius
    outer = Polygon(np.column_stack([radii * np.cos(angles), radii * np.sin(angles)]))
    holes: list[Polygon] = []
    for _ in range(draw(st.integers(0, 2))):
        w, h = draw(st.floats(800, 3500)), draw(st.floats(800, 3000))
        rot = draw(st.floats(0, 180))
        room = outer.buffer(-(max(w, h) + 1500))
        if room.is_empty:
            break
        fx, fy = draw(st.floats(0, 1)), draw(st.floats(0, 1))
        minx, miny, maxx, maxy = room.bounds
        c = shapely.Point(minx + fx * (maxx - minx), miny + fy * (maxy - miny))
        if not room.contains(c):
            continue
        hole = shapely.affinity.rotate(box(c.x - w / 2, c.y - h / 2, c.x + w / 2, c.y + h / 2), rot)
        if any(hole.distance(o) < 1500 for o in holes):
            continue
        holes.append(hole)
    return Polygon(outer.exterior.coords, [hh.exterior.coords for hh in holes]), holes


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(area_with_holes(), st.floats(1500, 3000), st.floats(1000, 2000))
def test_random_areas_with_holes_are_covered_without_entering_them(
    case: tuple[Polygon, list[Polygon]], swath: float, radius: float
) -> None:
    area, holes = case
    restricted = shapely.union_all(holes) if holes else Polygon()
    sorties = plan_sorties(
        [("a", area)],
        restricted,
        swath=swath,
        sidelap=0.1,
        radius=radius,
        speed=SPEED,
        base=(-40000.0, -40000.0),
    )
    if holes:
        assert_flyable(sorties, restricted, radius)
    assert min(min_turn_radius(s.path.xy) for s in sorties) >= radius * 0.999
    assert_lines_on_route(sorties)
    assert covered_fraction(lines_of(sorties), swath, area) >= 0.995
