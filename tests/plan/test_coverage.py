import math

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from vigia.errors import CoverageError, InputError
from vigia.plan.coverage import (
    CoverageSettings,
    best_sweep_angle,
    cover_area,
    swath_footprint,
    sweep_segments,
)

SETTINGS = CoverageSettings(swath=2000.0, sidelap=0.0, radius=1900.0)


def rect_with_hole() -> tuple[Polygon, Polygon]:
    hole = box(8000, 6000, 12000, 9000)
    return Polygon(box(0, 0, 20000, 15000).exterior.coords, [hole.exterior.coords]), hole


def imaged(segs: np.ndarray, target: Polygon, swath: float = 2000.0) -> float:
    return swath_footprint(segs, swath).intersection(target).area / target.area


def test_a_rectangle_is_swept_along_its_long_side_by_the_fewest_lines() -> None:
    area = box(0, 0, 20000, 15000)
    segs = cover_area(area, Polygon(), SETTINGS)
    assert len(segs) == 8  # ceil(15 km / 2 km)
    assert np.allclose(segs[:, 0, 1], segs[:, 1, 1])  # east-west lines
    assert imaged(segs, area) == pytest.approx(1.0)


def test_sidelap_shrinks_the_spacing() -> None:
    s = CoverageSettings(swath=2000.0, sidelap=0.25, radius=1900.0)
    assert s.spacing == 1500.0
    segs = cover_area(box(0, 0, 20000, 15000), Polygon(), s)
    assert len(segs) == 10  # (15000 - 2000) / 1500 → 9 gaps → 10 lines


def test_the_sweep_direction_follows_the_area_not_north() -> None:
    long_diagonal = shapely.affinity.rotate(box(0, 0, 30000, 4000), 30, origin=(0, 0))
    angle = best_sweep_angle(long_diagonal, SETTINGS)
    assert math.degrees(angle) == pytest.approx(30.0, abs=0.5)


def test_lines_never_enter_a_restricted_hole_and_the_gaps_are_filled() -> None:
    area, hole = rect_with_hole()
    segs = cover_area(area, hole, SETTINGS)
    lines = shapely.linestrings(segs)
    assert not shapely.intersects(lines, hole.buffer(SETTINGS.margin * 0.99)).any()
    assert imaged(segs, area) >= 0.995


def test_every_line_end_leaves_room_to_turn() -> None:
    area, hole = rect_with_hole()
    segs = cover_area(area, hole, SETTINGS)
    r = SETTINGS.radius
    for a, b in segs:
        t = (b - a) / np.linalg.norm(b - a)
        n = np.array([-t[1], t[0]])
        for p in (a, b):
            circles = [shapely.Point(p + r * n), shapely.Point(p - r * n)]
            assert max(c.distance(hole) for c in circles) >= r - 1.0


def test_a_line_crossing_a_hole_is_split_around_it() -> None:
    area, hole = rect_with_hole()
    segs = sweep_segments(area.difference(hole), hole, 0.0, SETTINGS)
    crossing_row = segs[np.isclose(segs[:, 0, 1], 6500.0)]
    assert len(crossing_row) == 2
    assert crossing_row[:, :, 0].max(axis=1).min() < hole.bounds[0]


def test_nothing_to_image_is_a_coverage_error() -> None:
    with pytest.raises(CoverageError):
        cover_area(Polygon(), Polygon(), SETTINGS)


@pytest.mark.parametrize(
    ("field", "value"), [("swath", 0.0), ("swath", -5.0), ("sidelap", 1.0), ("radius", 0.0)]
)
def test_nonsense_settings_are_refused(field: str, value: float) -> None:
    kw = {"swath": 2000.0, "sidelap": 0.1, "radius": 1900.0, field: value}
    with pytest.raises(InputError, match=field if field != "radius" else "turn radius"):
        CoverageSettings(**kw)
