"""Revisit sorties: small areas around the places fusion wants another look at.

Each revisit request is a point; the area flown is a square around it wide enough that the
site and its plume's first few hundred metres downwind fall in one imaging line, whatever the
wind. Squares that touch are merged, so neighbouring requests share lines. The areas then go
through the ordinary planner (coverage, restricted airspace, routing from the base).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from vigia.errors import InputError
from vigia.geo import LocalFrame

__all__ = ["REVISIT_HALF_WIDTH_M", "revisit_areas"]

#: Half-width of the square flown around a revisit point, m: the site, its clearing and the
#: first ~500 m of a plume in any direction.
REVISIT_HALF_WIDTH_M: Final = 600.0


def revisit_areas(
    points: Sequence[tuple[str, float, float]], half_width_m: float = REVISIT_HALF_WIDTH_M
) -> list[tuple[str, Polygon]]:
    """Areas of interest around revisit points, touching squares merged.

    Parameters
    ----------
    points : sequence of (str, float, float)
        ``(name, lon, lat)`` of each place to revisit, degrees.
    half_width_m : float
        Half-width of the square around each, m (> 0).

    Returns
    -------
    list of (str, Polygon)
        Named areas, lon/lat; a merged area is named after its first point ("X and 2 more").

    Raises
    ------
    InputError
        No point, a non-positive width, or a coordinate out of range.

    Examples
    --------
    >>> areas = revisit_areas([("a", -107.3, 25.0), ("b", -107.299, 25.0)])
    >>> [name for name, _ in areas]
    ['a and 1 more']
    """
    if not points:
        raise InputError("no revisit request: nothing to plan")
    if not half_width_m > 0:
        raise InputError(f"revisit half-width must be > 0 m, got {half_width_m}")
    for name, lon, lat in points:
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise InputError(f"revisit {name}: lon/lat ({lon}, {lat}) out of range")
    frame = LocalFrame.around(
        sum(p[1] for p in points) / len(points), sum(p[2] for p in points) / len(points)
    )
    squares = []
    for name, lon, lat in points:
        x, y = frame.to_xy(np.array([[lon, lat]]))[0]
        squares.append(
            (name, box(x - half_width_m, y - half_width_m, x + half_width_m, y + half_width_m))
        )
    merged = shapely.union_all([sq for _, sq in squares])
    parts = list(getattr(merged, "geoms", [merged]))
    out = []
    for part in parts:
        names = [n for n, sq in squares if sq.intersects(part)]
        label = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
        out.append((label, frame.geom_to_lonlat(part)))
    out.sort(key=lambda a: a[0])
    return [(name, poly) for name, poly in out if isinstance(poly, Polygon)]
