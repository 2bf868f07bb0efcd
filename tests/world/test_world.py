import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from vigia.errors import InputError
from vigia.world.scenario import load_scenario
from vigia.world.world import Overpass, build_world, pasquill_class, solar_elevation, truth_geojson


def test_the_same_scenario_and_seed_give_the_same_world() -> None:
    sc = load_scenario("sinaloa")
    a, b = build_world(sc, seed=4), build_world(sc, seed=4)
    assert a.sites == b.sites
    t = sc.window_start + timedelta(hours=5)
    assert a.wind_at(t) == b.wind_at(t)


def test_wind_is_plausible_and_changes_smoothly() -> None:
    sc = load_scenario("sinaloa")
    w = build_world(sc, seed=1)
    times = [sc.window_start + timedelta(minutes=30 * k) for k in range(200)]
    winds = [w.wind_at(t) for t in times]
    assert all(0.5 <= x.speed_m_s <= 12.0 for x in winds)
    # Half an hour apart the wind turns by tens of degrees at most, not at random.
    turns = [abs((b.from_deg - a.from_deg + 180) % 360 - 180) for a, b in itertools.pairwise(winds)]
    assert max(turns) < 30.0
    assert {x.stability for x in winds} >= {"D"}


def test_stability_follows_pasquill() -> None:
    assert pasquill_class(1.0, 70.0) == "A"
    assert pasquill_class(6.0, 70.0) == "C"
    assert pasquill_class(6.0, 40.0) == "D"
    assert pasquill_class(1.5, -10.0) == "F"
    assert pasquill_class(2.5, -10.0) == "E"


def test_noon_sun_is_high_and_midnight_sun_below_the_horizon_in_sinaloa() -> None:
    # Culiacán is at 107.4° W: local noon is about 19:10 UTC.
    noon = datetime(2025, 3, 10, 19, 10, tzinfo=UTC)
    assert 55 < solar_elevation(-107.4, 24.8, noon) < 70
    assert solar_elevation(-107.4, 24.8, noon + timedelta(hours=12)) < -50


def test_intermittent_sites_emit_about_their_duty_cycle() -> None:
    sc = load_scenario("sinaloa")
    w = build_world(sc, seed=2)
    window = (sc.window_end - sc.window_start).total_seconds()
    for s in w.sites:
        if s.kind != "rural_lab":
            continue
        on = sum((b - a).total_seconds() for a, b in w.active_periods(s))
        assert on / window == pytest.approx(s.duty_cycle, abs=0.15)


def test_truth_lists_sites_with_their_state_and_wind_at_each_overpass() -> None:
    sc = load_scenario("central")
    w = build_world(sc, seed=0)
    ops = [
        Overpass("S01-L001", sc.window_start + timedelta(hours=3)),
        Overpass("S01-L002", sc.window_start + timedelta(hours=3, minutes=10)),
    ]
    truth = json.loads(json.dumps(truth_geojson(w, ops)))
    assert truth["type"] == "FeatureCollection" and len(truth["features"]) == len(w.sites)
    f = truth["features"][0]
    assert f["geometry"]["type"] == "Point"
    assert [o["line_id"] for o in f["properties"]["overpasses"]] == ["S01-L001", "S01-L002"]
    assert "modelling assumptions" in truth["properties"]["source"]


def test_naive_times_are_refused() -> None:
    w = build_world(load_scenario("sinaloa"), seed=0)
    with pytest.raises(InputError, match="UTC"):
        w.wind_at(datetime(2025, 3, 4, 12))
