from datetime import UTC, datetime

import pytest
from shapely.geometry import box

from vigia.errors import CoverageError, GeometryError, InputError
from vigia.plan.mission import RestrictedZone
from vigia.plan.planner import check_areas, flight_params, plan_areas, revisit_schedule
from vigia.platform import load_platform

T0 = datetime(2025, 3, 3, 13, tzinfo=UTC)


def test_sorties_fly_one_after_another_and_repeat_every_interval() -> None:
    deps, revisits = revisit_schedule(
        [3600.0, 7200.0], T0, datetime(2025, 3, 6, 13, tzinfo=UTC), 24.0
    )
    assert deps == [T0, datetime(2025, 3, 3, 17, tzinfo=UTC)]  # 1 h flight + 3 h turnaround
    assert [(r.sortie, r.due.day) for r in revisits] == [(1, 4), (2, 4), (1, 5), (2, 5)]


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InputError, match="ends"):
        revisit_schedule([1.0], T0, datetime(2025, 3, 1, tzinfo=UTC), 24.0)


def test_the_swath_is_the_narrowest_of_the_sensors_flown() -> None:
    mq9 = load_platform("mq9")
    both = flight_params(mq9, ["avirisng", "hytes"], 6000.0)
    lwir = flight_params(mq9, ["hytes"], 6000.0)
    assert both.swath_m == pytest.approx(mq9.sensor("avirisng").swath_m(6000.0))
    assert lwir.swath_m > both.swath_m
    assert both.turn_radius_m == pytest.approx(1866, rel=0.01)
    assert both.max_flight_s == pytest.approx(14 * 3600 * 0.85)


def test_an_altitude_above_the_ceiling_is_refused() -> None:
    with pytest.raises(InputError, match="service ceiling"):
        flight_params(load_platform("mq9"), None, 20000.0)


def test_an_area_in_another_country_is_refused() -> None:
    with pytest.raises(GeometryError, match="outside"):
        check_areas([("texas", box(-99.0, 31.0, -98.9, 31.1))], [], "MX")


def test_an_area_under_an_exclusion_is_refused() -> None:
    a = box(-107.3, 24.9, -107.2, 25.0)
    zone = RestrictedZone("all of it", "user", a.buffer(0.01))
    with pytest.raises(CoverageError, match="all of it"):
        check_areas([("a", a)], [zone], "MX")


def test_a_small_plan_in_lon_lat_has_lines_waypoints_and_a_closed_route() -> None:
    params = flight_params(load_platform("mq9"), None, 3000.0)
    m = plan_areas(
        "t", "MX", [("a", box(-107.30, 24.95, -107.20, 25.03))], params, base_icao="MMCL"
    )
    [s] = m.sorties
    assert s.waypoints[0].kind == "takeoff" and s.waypoints[-1].kind == "land"
    kinds = [w.kind for w in s.waypoints]
    assert kinds.count("line_start") == kinds.count("line_end") == len(s.lines)
    assert tuple(s.route[0]) == pytest.approx(tuple(s.route[-1]))
    assert m.epsg == 32613


def test_a_revisit_sortie_names_its_lines_apart_from_the_survey_over_the_same_place() -> None:
    from vigia.plan.planner import plan_revisit_sortie

    params = flight_params(load_platform("mq9"))
    site = ("SITE-000001", -107.30, 25.00)
    survey = plan_areas("t", "MX", [("a", box(-107.31, 24.99, -107.29, 25.01))], params)
    revisit = plan_revisit_sortie([site, site], params, partner="MX")
    survey_ids = {ln.line_id for ln in survey.lines}
    revisit_ids = [ln.line_id for ln in revisit.lines]
    assert revisit_ids == ["RV-S01-L001"]  # the site asked for twice is one line
    assert not survey_ids & set(revisit_ids)
    # The waypoints that start and end the line carry its id too.
    marked = {w.line_id for s in revisit.sorties for w in s.waypoints if w.line_id}
    assert marked == set(revisit_ids)
