from __future__ import annotations

from datetime import UTC

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon

from vigia.errors import ConfigError, GeometryError, UnknownNameError
from vigia.world.country import partner_boundary
from vigia.world.scenario import (
    Scenario,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
    validate_area,
)

SQUARE = [[-107.40, 24.95], [-107.30, 24.95], [-107.30, 25.05], [-107.40, 25.05], [-107.40, 24.95]]


def test_both_packaged_scenarios_are_listed() -> None:
    assert {"sinaloa", "central"} <= set(list_scenarios())


@pytest.mark.parametrize("name", ["sinaloa", "central"])
def test_scenario_loads_and_every_area_is_inside_mexico(name: str) -> None:
    s = load_scenario(name)
    assert isinstance(s, Scenario)
    assert s.partner == "MX"
    assert 3 <= len(s.areas) <= 4
    assert s.exclusions and all(z.kind == "partner_exclusion" for z in s.exclusions)
    assert all("illustrative" in z.name for z in s.exclusions)
    mexico = partner_boundary("MX")
    for area_name, poly in s.areas:
        assert poly.is_valid and poly.area > 0, area_name
        assert mexico.contains(poly), area_name
    assert any(len(p.interiors) > 0 for _, p in s.areas)
    assert s.window_start.tzinfo is not None and s.window_start.utcoffset() == UTC.utcoffset(None)
    assert s.window_end > s.window_start
    assert s.revisit_hours > 0


def test_sinaloa_areas_are_10_to_25_km_across() -> None:
    from vigia.geo import LocalFrame

    s = load_scenario("sinaloa")
    assert s.base_icao == "MMCL"
    for name, poly in s.areas:
        frame = LocalFrame.around(poly.centroid.x, poly.centroid.y)
        x0, y0, x1, y1 = frame.geom_to_xy(poly).bounds
        assert 10_000 <= max(x1 - x0, y1 - y0) <= 25_000, name


def test_unknown_scenario_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="sinaloa") as info:
        load_scenario("atlantis")
    assert "central" in str(info.value)


@pytest.mark.parametrize("name", ["sinaloa", "central"])
def test_to_dict_round_trips(name: str) -> None:
    s = load_scenario(name)
    d = s.to_dict()
    assert d["window"]["start"].endswith("Z")
    assert scenario_from_dict(d, "roundtrip") == s


def test_area_lookup() -> None:
    s = load_scenario("sinaloa")
    assert s.area("tepuche_hills").area > 0
    with pytest.raises(UnknownNameError, match="tepuche_hills"):
        s.area("nowhere")


def test_valid_square_passes() -> None:
    poly = validate_area([SQUARE], "square", "MX")
    assert isinstance(poly, Polygon)
    assert validate_area(poly, "square", "mx").equals(poly)


def test_swapped_coordinates_are_reported() -> None:
    swapped = [[lat, lon] for lon, lat in SQUARE]
    with pytest.raises(GeometryError, match="swapped: GeoJSON order is lon, lat") as info:
        validate_area([swapped], "tepuche", "MX")
    assert "tepuche" in str(info.value)
    with pytest.raises(GeometryError, match="swapped"):
        validate_area(Polygon(swapped), "tepuche", "MX")


def test_swapped_coordinates_within_range_get_a_hint() -> None:
    # Lat/lon swapped for a place whose both values are under 90 in magnitude.
    ring = [[24.9, -10.0], [25.0, -10.0], [25.0, -9.9], [24.9, -9.9], [24.9, -10.0]]
    with pytest.raises(GeometryError, match="outside Mexico"):
        validate_area([ring], "x", "MX")


def test_self_intersection_is_reported() -> None:
    bowtie = [[-107.4, 24.95], [-107.3, 25.05], [-107.3, 24.95], [-107.4, 25.05], [-107.4, 24.95]]
    with pytest.raises(GeometryError, match=r"'bowtie' is not a valid polygon: Self-intersection"):
        validate_area([bowtie], "bowtie", "MX")


def test_open_ring_is_reported() -> None:
    with pytest.raises(GeometryError, match=r"'open'.*not closed"):
        validate_area([SQUARE[:-1]], "open", "MX")


def test_outside_mexico_is_reported() -> None:
    el_paso = [[-106.5, 31.8], [-106.4, 31.8], [-106.4, 31.9], [-106.5, 31.9], [-106.5, 31.8]]
    with pytest.raises(GeometryError, match=r"'el_paso'.*lies outside Mexico \(MX\)"):
        validate_area([el_paso], "el_paso", "MX")


def test_empty_and_zero_area_are_reported() -> None:
    flat = [[-107.4, 24.95], [-107.3, 24.95], [-107.2, 24.95], [-107.4, 24.95]]
    with pytest.raises(GeometryError, match="'flat' is empty or has zero area"):
        validate_area([flat], "flat", "MX")
    with pytest.raises(GeometryError, match="empty"):
        validate_area(Polygon(), "void", "MX")


def test_longitude_out_of_range() -> None:
    ring = [[-200.0, 24.0], [-199.0, 24.0], [-199.0, 25.0], [-200.0, 24.0]]
    with pytest.raises(GeometryError, match="longitude -200 is outside"):
        validate_area([ring], "far", "MX")


def test_unknown_partner() -> None:
    with pytest.raises(UnknownNameError, match="MX"):
        validate_area([SQUARE], "sq", "ZZ")


def _base_dict() -> dict:
    return load_scenario("sinaloa").to_dict()


def test_scenario_from_dict_rejects_bad_input() -> None:
    d = _base_dict()
    d.pop("base")
    with pytest.raises(ConfigError, match="missing key"):
        scenario_from_dict(d, "x.yaml")
    d = _base_dict() | {"colour": "red"}
    with pytest.raises(ConfigError, match="unknown key"):
        scenario_from_dict(d, "x.yaml")
    d = _base_dict() | {"base": "ZZZZ"}
    with pytest.raises(ConfigError, match="ZZZZ"):
        scenario_from_dict(d, "x.yaml")
    d = _base_dict() | {"window": {"start": "2025-03-03T13:00:00", "end": "2025-03-04T13:00:00Z"}}
    with pytest.raises(ConfigError, match="time zone"):
        scenario_from_dict(d, "x.yaml")
    d = _base_dict() | {"window": {"start": "2025-03-05T13:00:00Z", "end": "2025-03-04T13:00:00Z"}}
    with pytest.raises(ConfigError, match="before it starts"):
        scenario_from_dict(d, "x.yaml")
    d = _base_dict() | {"revisit_hours": 0}
    with pytest.raises(ConfigError, match="positive"):
        scenario_from_dict(d, "x.yaml")


def test_scenario_from_dict_names_file_and_area_in_geometry_errors() -> None:
    d = _base_dict()
    d["areas"][1]["rings"][0].pop()
    with pytest.raises(GeometryError, match=r"x\.yaml: areas\[1\]: area 'jesus_maria_valley'"):
        scenario_from_dict(d, "x.yaml")


@settings(max_examples=40, deadline=None)
@given(
    lon=st.floats(-103.5, -99.0),
    lat=st.floats(19.5, 23.5),
    w=st.floats(0.01, 0.2),
    h=st.floats(0.01, 0.2),
)
def test_inland_rectangles_validate_and_their_swaps_do_not(
    lon: float, lat: float, w: float, h: float
) -> None:
    ring = [[lon, lat], [lon + w, lat], [lon + w, lat + h], [lon, lat + h], [lon, lat]]
    assert validate_area([ring], "r", "MX").area == pytest.approx(w * h)
    with pytest.raises(GeometryError, match="swapped"):
        validate_area([[[y, x] for x, y in ring]], "r", "MX")
