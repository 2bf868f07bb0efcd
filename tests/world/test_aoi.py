import json
from pathlib import Path

import pytest

from vigia.errors import FileFormatError, GeometryError, InputError
from vigia.world.aoi import read_areas, read_zones

SQUARE = [[-107.3, 24.9], [-107.2, 24.9], [-107.2, 25.0], [-107.3, 25.0], [-107.3, 24.9]]


def write(tmp_path: Path, obj: object, name: str = "aoi.geojson") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return p


def feature(rings: list, name: str | None = None) -> dict:
    props = {"name": name} if name else {}
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": rings},
    }


def test_a_feature_collection_gives_named_polygons_with_holes(tmp_path: Path) -> None:
    hole = [
        [-107.26, 24.94],
        [-107.24, 24.94],
        [-107.24, 24.96],
        [-107.26, 24.96],
        [-107.26, 24.94],
    ]
    p = write(
        tmp_path, {"type": "FeatureCollection", "features": [feature([SQUARE, hole], "hills")]}
    )
    [(name, poly)] = read_areas(p)
    assert name == "hills"
    assert len(poly.interiors) == 1


def test_a_multipolygon_gives_one_area_per_part(tmp_path: Path) -> None:
    other = [[x + 0.2, y] for x, y in SQUARE]
    p = write(tmp_path, {"type": "MultiPolygon", "coordinates": [[SQUARE], [other]]})
    assert [n for n, _ in read_areas(p)] == ["aoi-1-1", "aoi-1-2"]


def test_a_ring_that_does_not_close_is_named(tmp_path: Path) -> None:
    p = write(tmp_path, feature([[*SQUARE[:-1], [-107.31, 24.9]]]))
    with pytest.raises(GeometryError, match=r"feature 0, ring 0: the ring does not close"):
        read_areas(p)


def test_a_self_intersecting_polygon_is_refused(tmp_path: Path) -> None:
    bow = [[-107.3, 24.9], [-107.2, 25.0], [-107.2, 24.9], [-107.3, 25.0], [-107.3, 24.9]]
    with pytest.raises(GeometryError, match="Self-intersection"):
        read_areas(write(tmp_path, feature([bow])))


def test_swapped_coordinates_are_recognised(tmp_path: Path) -> None:
    swapped = [[lat, lon] for lon, lat in SQUARE]
    with pytest.raises(GeometryError, match="look swapped"):
        read_areas(write(tmp_path, feature([swapped])))


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    p = tmp_path / "bad.geojson"
    p.write_text('{"type": "FeatureCollection",\n "features": [}')
    with pytest.raises(FileFormatError, match=r"bad.geojson, line 2 column"):
        read_areas(p)


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_areas(tmp_path / "nope.geojson")


def test_points_are_not_areas(tmp_path: Path) -> None:
    p = write(tmp_path, {"type": "Point", "coordinates": [-107.3, 24.9]})
    with pytest.raises(FileFormatError, match="expected a Polygon or MultiPolygon"):
        read_areas(p)


def test_zones_carry_their_kind(tmp_path: Path) -> None:
    [zone] = read_zones(write(tmp_path, feature([SQUARE], "dam")), kind="partner_exclusion")
    assert (zone.name, zone.kind) == ("dam", "partner_exclusion")
