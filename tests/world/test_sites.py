import json
import math

import pytest
import shapely
from shapely.geometry import Point

from vigia.errors import InputError
from vigia.geo import LocalFrame
from vigia.world.scenario import load_scenario
from vigia.world.sites import (
    DECOY_KINDS,
    DENSITY_PER_100KM2,
    LAB_KINDS,
    SITE_KINDS,
    generate_sites,
    is_lab,
)


def test_one_vocabulary_of_kinds_and_decoys_never_say_lab() -> None:
    assert set(LAB_KINDS) == {"rural_lab", "industrial_lab"}
    assert set(DECOY_KINDS) >= {
        "farm_tarp",
        "kiln",
        "charcoal_pit",
        "factory_stack",
        "landfill",
        "paint_shop",
    }
    assert all("lab" not in k for k in DECOY_KINDS)
    assert set(LAB_KINDS) | set(DECOY_KINDS) == set(SITE_KINDS)
    assert is_lab("rural_lab") and not is_lab("kiln")
    with pytest.raises(InputError, match="unknown site kind"):
        is_lab("meth_house")


def test_the_same_seed_gives_the_same_world_and_another_seed_another() -> None:
    sc = load_scenario("sinaloa")
    a = generate_sites(list(sc.areas), setting="rural", seed=7)
    b = generate_sites(list(sc.areas), setting="rural", seed=7)
    c = generate_sites(list(sc.areas), setting="rural", seed=8)
    assert a == b
    assert a != c


def test_rural_worlds_hold_every_rural_kind_inside_the_areas_and_outside_holes() -> None:
    sc = load_scenario("sinaloa")
    sites = generate_sites(list(sc.areas), setting="rural", seed=1)
    assert {s.kind for s in sites} >= set(DENSITY_PER_100KM2["rural"])
    areas = dict(sc.areas)
    for s in sites:
        assert areas[s.area].contains(Point(s.lon, s.lat))
    labs = [s for s in sites if s.kind == "rural_lab"]
    assert all(s.camouflage in ("tarp", "branches") and s.heat_k for s in labs)
    assert all("NH3" in s.emissions_kg_h and 0 < s.duty_cycle < 1 for s in labs)


def test_sites_are_at_least_300_m_apart() -> None:
    sc = load_scenario("central")
    sites = generate_sites(list(sc.areas), setting="industrial", seed=3)
    frame = LocalFrame.around(-99.5, 20.0)
    pts = shapely.points(frame.to_xy([[s.lon, s.lat] for s in sites]))
    d = shapely.distance(pts[:, None], pts[None, :])
    d[range(len(sites)), range(len(sites))] = math.inf
    assert d.min() >= 299.0


def test_properties_are_plain_json() -> None:
    sc = load_scenario("central")
    [first, *_] = generate_sites(list(sc.areas), setting="industrial", seed=2)
    props = json.loads(json.dumps(first.to_properties()))
    assert props["kind"] in SITE_KINDS and props["site_id"].startswith("site-")
