"""Coverage of areas with holes by straight imaging lines (planar metres).

A pushbroom imaging spectrometer images only on straight, level lines, so coverage here counts
the swath of straight segments only, never of turns. The plan for one area is:

1. parallel sweep lines spaced by ``swath × (1 − sidelap)`` in the direction that minimises the
   estimated flight cost (line length plus the U-turns between lines), each line cut to the
   extent of the area it must image (a line that crosses a hole or restricted airspace is split:
   this is the boustrophedon decomposition of a non-convex area, done line by line);
2. every end of a line is pulled back until the aircraft can turn there without entering
   restricted airspace (one of its two turning circles is clear);
3. what that leaves unimaged, next to holes and restricted airspace, is filled by extra lines laid
   along the long axis of each gap (parallel to the obstacle's face, where the aircraft may fly).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import shapely.errors
from numpy.typing import NDArray
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.ops import split

from vigia.errors import CoverageError, InputError
from vigia.plan.metrics import cheapest_uturn

__all__ = [
    "CoverageSettings",
    "as_polygonal",
    "best_sweep_angle",
    "cover_area",
    "swath_footprint",
    "sweep_segments",
]

Segments = NDArray[np.float64]  # (K, 2, 2): segment k goes from [k, 0] to [k, 1], x/y metres


@dataclass(frozen=True)
class CoverageSettings:
    """Parameters of coverage planning.

    Attributes
    ----------
    swath : float
        Imaged swath width on the ground, metres.
    sidelap : float
        Fraction of the swath shared by neighbouring lines, in [0, 1).
    radius : float
        Minimum turn radius of the aircraft, metres.
    margin : float
        Clearance kept from restricted airspace, metres.
    """

    swath: float
    sidelap: float
    radius: float
    margin: float = 1.0

    def __post_init__(self) -> None:
        if not (self.swath > 0 and math.isfinite(self.swath)):
            raise InputError(f"swath must be a positive number of metres, got {self.swath!r}")
        if not 0 <= self.sidelap < 1:
            raise InputError(f"sidelap must be in [0, 1), got {self.sidelap!r}")
        if not (self.radius > 0 and math.isfinite(self.radius)):
            raise InputError(
                f"turn radius must be a positive number of metres, got {self.radius!r}"
            )
        if self.margin < 0:
            raise InputError(f"margin must be ≥ 0 m, got {self.margin!r}")

    @property
    def spacing(self) -> float:
        """Distance between neighbouring lines, metres."""
        return self.swath * (1.0 - self.sidelap)


# Overlays are snapped to this grid (metres): exact-arithmetic overlays of nearly parallel
# edges raise GEOS "non-noded intersection" errors; a millimetre grid costs nothing here.
GRID_M = 1e-3


def _overlay(op: Callable[..., Any], a: Any, b: Any) -> Any:
    # GEOS overlays occasionally fail on nearly degenerate input; snapping to a grid, then exact
    # arithmetic, then repaired input are tried in turn.
    try:
        return op(a, b, grid_size=GRID_M)
    except shapely.errors.GEOSException:
        pass
    try:
        return op(a, b)
    except shapely.errors.GEOSException:
        return op(shapely.make_valid(a), shapely.make_valid(b))


def swath_footprint(segments: Segments, swath: float) -> BaseGeometry:
    """Return the ground imaged by straight lines: the union of their swath rectangles.

    Parameters
    ----------
    segments : (K, 2, 2) float64
        Line start and end points, metres.
    swath : float
        Swath width, metres.

    Returns
    -------
    shapely geometry
        Union of flat-ended rectangles ``swath`` wide centred on each line.

    Examples
    --------
    >>> import numpy as np
    >>> round(swath_footprint(np.array([[[0.0, 0.0], [10.0, 0.0]]]), 2.0).area, 6)
    20.0
    """
    if len(segments) == 0:
        return Polygon()
    lines = shapely.linestrings(segments)
    rects = shapely.buffer(lines, swath / 2.0, cap_style="flat")
    try:
        return shapely.union_all(rects, grid_size=GRID_M)
    except shapely.errors.GEOSException:
        return shapely.union_all(rects)


def _line_count(height: float, swath: float, spacing: float) -> tuple[int, float]:
    # Fewest lines whose swaths span `height`, and the slack they leave (metres).
    n = 1 if height <= swath else math.ceil((height - swath) / spacing - 1e-9) + 1
    return n, (n - 1) * spacing + swath - height


def _sweep_offsets(
    lo: float, hi: float, swath: float, spacing: float, phase: float = 0.0
) -> NDArray[np.float64]:
    # Offsets of the fewest lines spanning [lo, hi]; `phase` places the slack (see
    # sweep_segments).
    n, extra = _line_count(hi - lo, swath, spacing)
    return np.asarray(
        lo + swath / 2.0 - extra / 2.0 * (1.0 + phase) + spacing * np.arange(n), dtype=np.float64
    )


def _intervals(geoms: BaseGeometry) -> list[tuple[float, float]]:
    # x-extents of the parts of a geometry, merged where they overlap.
    parts = shapely.get_parts(geoms)
    spans = sorted((float(b[0]), float(b[2])) for b in shapely.bounds(parts) if np.isfinite(b[0]))
    merged: list[tuple[float, float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1] + 1e-6:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _subtract(
    spans: list[tuple[float, float]], cuts: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    out = spans
    for c0, c1 in cuts:
        nxt: list[tuple[float, float]] = []
        for a, b in out:
            if c1 <= a or c0 >= b:
                nxt.append((a, b))
                continue
            if c0 > a:
                nxt.append((a, c0))
            if c1 < b:
                nxt.append((c1, b))
        out = nxt
    return out


def _raw_spans(
    target_rot: BaseGeometry, y: NDArray[np.float64], swath: float
) -> list[list[tuple[float, float]]]:
    minx, _, maxx, _ = target_rot.bounds
    strips = shapely.box(minx - 1.0, y - swath / 2.0, maxx + 1.0, y + swath / 2.0)
    cut = _overlay(shapely.intersection, strips, target_rot)
    return [_intervals(g) for g in cut]


def _frame(target: BaseGeometry, angle: float) -> tuple[float, float, float]:
    # Rotate about the area's own centre: rotating UTM coordinates (~1e6 m) about the origin
    # loses enough precision to break GEOS overlays.
    minx, miny, maxx, maxy = target.bounds
    return (minx + maxx) / 2.0, (miny + maxy) / 2.0, angle


def _to_sweep(geom: BaseGeometry, frame: tuple[float, float, float]) -> BaseGeometry:
    cx, cy, angle = frame
    moved = affinity.translate(geom, -cx, -cy)
    rotated = affinity.rotate(moved, -angle, origin=(0.0, 0.0), use_radians=True)
    # Rotation perturbs vertices by ~1e-10 m; snapping keeps the geometry valid for overlays.
    try:
        return shapely.set_precision(rotated, GRID_M)
    except shapely.errors.GEOSException:
        return shapely.make_valid(rotated)


def sweep_segments(
    target: BaseGeometry,
    restricted: BaseGeometry,
    angle: float,
    settings: CoverageSettings,
    *,
    phase: float = 0.0,
) -> Segments:
    """Lay parallel imaging lines over ``target`` in direction ``angle``.

    Parameters
    ----------
    target : Polygon or MultiPolygon
        Ground to image (holes and restricted airspace already removed), metres.
    restricted : shapely geometry
        Airspace the aircraft must not enter, metres (may be empty).
    angle : float
        Sweep direction, radians counter-clockwise from east.
    settings : CoverageSettings
        Swath, sidelap, turn radius and margin.
    phase : float
        Where the pattern's slack goes, in [-1, 1]: -1 aligns the first swath with one edge of
        the area, 0 centres the pattern, 1 aligns the last swath with the other edge.

    Returns
    -------
    (K, 2, 2) float64
        Segments pointing along ``angle``; none enters ``restricted`` (plus margin), and at both
        ends of each one of the two turning circles tangent to it is clear of ``restricted``.
    """
    if target.is_empty:
        return np.empty((0, 2, 2))
    frame = _frame(target, angle)
    rot_t = _to_sweep(target, frame)
    blocked = restricted.buffer(settings.margin) if not restricted.is_empty else restricted
    rot_r = _to_sweep(blocked, frame)
    shapely.prepare(rot_r)
    minx, miny, maxx, maxy = rot_t.bounds
    ys = _sweep_offsets(miny, maxy, settings.swath, settings.spacing, phase)
    spans_per_line = _raw_spans(rot_t, ys, settings.swath)
    reach = 4.0 * settings.radius + settings.swath
    out: list[tuple[float, float, float]] = []
    for y, spans in zip(ys, spans_per_line, strict=True):
        if not spans:
            continue
        if not rot_r.is_empty:
            centre = LineString([(minx - reach, y), (maxx + reach, y)])
            cuts = _intervals(_overlay(shapely.intersection, centre, rot_r))
            spans = _subtract(spans, cuts)
            spans = _pull_back_ends(spans, float(y), rot_r, settings.radius)
        out.extend((a, b, float(y)) for a, b in spans if b - a > 1e-6)
    if not out:
        return np.empty((0, 2, 2))
    arr = np.array(out)
    pts = np.stack(
        [np.column_stack([arr[:, 0], arr[:, 2]]), np.column_stack([arr[:, 1], arr[:, 2]])], axis=1
    )
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[c, -s], [s, c]])
    return np.asarray(pts @ rotation.T + np.array(frame[:2]), dtype=np.float64)


def _pull_back_ends(
    spans: list[tuple[float, float]], y: float, blocked: BaseGeometry, radius: float
) -> list[tuple[float, float]]:
    # A line may end only where the aircraft can turn off it: one of the two circles of radius
    # `radius` tangent to the line at its end must be clear of restricted airspace.
    out: list[tuple[float, float]] = []
    for a, b in spans:
        n = max(2, math.ceil((b - a) / (radius / 20.0)) + 1)
        xs = np.linspace(a, b, n)
        up = shapely.points(np.column_stack([xs, np.full(n, y + radius)]))
        down = shapely.points(np.column_stack([xs, np.full(n, y - radius)]))
        ok = (shapely.distance(up, blocked) >= radius) | (shapely.distance(down, blocked) >= radius)
        if not ok.any():
            continue
        first = int(np.argmax(ok))
        last = n - 1 - int(np.argmax(ok[::-1]))
        if xs[last] - xs[first] > 1e-6:
            out.append((float(xs[first]), float(xs[last])))
    return out


def _angle_cost(
    target: BaseGeometry, angle: float, settings: CoverageSettings, uturn: float
) -> float:
    rot_t = _to_sweep(target, _frame(target, angle))
    _, miny, _, maxy = rot_t.bounds
    ys = _sweep_offsets(miny, maxy, settings.swath, settings.spacing)
    spans = [s for line in _raw_spans(rot_t, ys, settings.swath) for s in line]
    return sum(b - a for a, b in spans) + max(0, len(spans) - 1) * uturn


def best_sweep_angle(target: BaseGeometry, settings: CoverageSettings) -> float:
    """Choose the sweep direction that minimises line length plus U-turns.

    Candidates are every 5° and the directions of the edges of the area's convex hull.

    Parameters
    ----------
    target : Polygon or MultiPolygon
        Ground to image, metres.
    settings : CoverageSettings
        Swath, sidelap and turn radius.

    Returns
    -------
    float
        Sweep direction, radians counter-clockwise from east, in [0, π).
    """
    return _ranked_angles(target, settings, _cheapest_uturn(settings))[0]


def _ranked_angles(target: BaseGeometry, settings: CoverageSettings, uturn: float) -> list[float]:
    # Every 5° and the hull's edge directions, cheapest first by line length plus U-turns;
    # costs within a metre keep candidate order (ties are not settled by rounding noise).
    hull = np.asarray(target.convex_hull.exterior.coords) if target.area > 0 else np.empty((0, 2))
    d = np.diff(hull, axis=0)
    edge_angles = np.arctan2(d[:, 1], d[:, 0]) % math.pi if len(d) else np.empty(0)
    grid = np.radians(np.arange(0, 180, 5))
    candidates = np.unique(np.round(np.concatenate([grid, edge_angles]), 9))
    costs = np.array([_angle_cost(target, float(a), settings, uturn) for a in candidates])
    return [float(candidates[i]) for i in np.argsort(np.round(costs), kind="stable")]


def _long_axis(geom: BaseGeometry) -> float:
    rect = geom.minimum_rotated_rectangle
    if not isinstance(rect, Polygon):
        return 0.0
    c = np.asarray(rect.exterior.coords)
    e = np.diff(c[:3], axis=0)
    i = int(np.argmax(np.hypot(e[:, 0], e[:, 1])))
    return float(math.atan2(e[i, 1], e[i, 0]) % math.pi)


def _cheapest_uturn(settings: CoverageSettings) -> float:
    return cheapest_uturn(settings.spacing, settings.radius)


def _fill_gap(
    gap: BaseGeometry,
    restricted: BaseGeometry,
    settings: CoverageSettings,
    main_angle: float,
    uturn: float,
) -> Segments:
    # Lines over one unimaged gap, in whichever of a few directions images most per metre flown:
    # gaps beside an obstacle's face want lines parallel to that face.
    axis = _long_axis(gap)
    best: tuple[float, Segments] = (0.0, np.empty((0, 2, 2)))
    angles: list[float] = []
    for a in (
        main_angle,
        main_angle + math.pi / 2,
        axis,
        axis + math.pi / 2,
        *_edge_directions(gap, 3),
    ):
        if all(abs(math.remainder(a - b, math.pi)) > math.radians(1.0) for b in angles):
            angles.append(a % math.pi)
    for a in angles:
        for phase in _phases(gap, a, settings):
            segs = sweep_segments(gap, restricted, a, settings, phase=phase)
            if len(segs) == 0:
                continue
            gain = _overlay(shapely.intersection, swath_footprint(segs, settings.swath), gap).area
            cost = float(np.hypot(*(segs[:, 1] - segs[:, 0]).T).sum()) + len(segs) * uturn
            # A line that images next to nothing of the gap is not progress.
            # Ratios equal to 1e-9 are a tie, kept by candidate order, not by rounding noise.
            ratio = round(gain / cost, 9)
            if gain > 0.05 * gap.area and ratio > best[0]:
                best = (ratio, segs)
    return best[1]


def _cover(
    target: BaseGeometry,
    restricted: BaseGeometry,
    settings: CoverageSettings,
    angle: float,
    phase: float,
    min_coverage: float,
    max_fill_rounds: int,
    uturn: float,
) -> Segments:
    segs = sweep_segments(target, restricted, angle, settings, phase=phase)
    total = target.area
    # Slivers thinner than ~1 % of the swath are numerical, not gaps worth a line.
    min_gap = (0.01 * settings.swath) ** 2 * 100
    for _ in range(max_fill_rounds):
        gaps = (
            _overlay(shapely.difference, target, swath_footprint(segs, settings.swath))
            if len(segs)
            else target
        )
        if 1.0 - gaps.area / total >= min_coverage:
            break
        # Open the gaps: slivers a few percent of a swath wide (left between a line and an
        # obstacle) image nothing worth a line but would skew the shape of the gap they touch.
        eps = 0.05 * settings.swath
        opened = shapely.buffer(
            shapely.buffer(gaps, -eps, join_style="mitre"), eps, join_style="mitre"
        )
        parts = [g for g in shapely.get_parts(opened) if g.area > min_gap]
        extra = [_fill_gap(g, restricted, settings, angle, uturn) for g in parts]
        new = [e for e in extra if len(e)]
        if not new:
            break
        segs = np.concatenate([segs, *new]) if len(segs) else np.concatenate(new)
    return segs


def _candidate_angles(
    target: BaseGeometry, settings: CoverageSettings, uturn: float
) -> list[float]:
    # The cheapest few directions by the quick estimate, plus the area's own axes: the quick
    # estimate cannot see what holes cost, so the full plan decides among these.
    best = _ranked_angles(target, settings, uturn)[:2]
    axis = _long_axis(target)
    extra = [axis, (axis + math.pi / 2) % math.pi, *_edge_directions(target, 2)]
    for a in extra:
        if all(abs(math.remainder(a - b, math.pi)) > math.radians(1.0) for b in best):
            best.append(a)
    return best


def _edge_directions(target: BaseGeometry, n: int) -> list[float]:
    # Directions of the longest edges of the area and of its holes: lines parallel to a hole's
    # face can fly right beside it, lines that meet it head-on must stop a turn short of it.
    rings = [r for p in shapely.get_parts(target) for r in (p.exterior, *p.interiors)]
    edges = np.concatenate([np.diff(np.asarray(r.coords), axis=0) for r in rings])
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    order = np.argsort(lengths)[::-1][:n]
    return [float(math.atan2(edges[i, 1], edges[i, 0]) % math.pi) for i in order]


def _phases(target: BaseGeometry, angle: float, settings: CoverageSettings) -> tuple[float, ...]:
    # Placements of the line pattern worth trying: only when the lines have slack to move.
    _, miny, _, maxy = _to_sweep(target, _frame(target, angle)).bounds
    _, slack = _line_count(maxy - miny, settings.swath, settings.spacing)
    return (0.0, -1.0, 1.0) if slack > 0.01 * settings.spacing else (0.0,)


def cover_area(
    target: BaseGeometry,
    restricted: BaseGeometry,
    settings: CoverageSettings,
    *,
    angle: float | None = None,
    min_coverage: float = 0.999,
    max_fill_rounds: int = 4,
    scorer: Callable[[Segments], float] | None = None,
) -> Segments:
    """Plan the imaging lines that cover one area.

    Several sweep directions and placements of the pattern are planned in full (sweep lines
    plus the lines that fill gaps along obstacles); the one imaging the most, then costing the
    least (line length plus one cheapest U-turn per line), wins.

    Parameters
    ----------
    target : Polygon or MultiPolygon
        Ground to image, metres: the area of interest minus its holes and restricted airspace.
    restricted : shapely geometry
        Airspace the aircraft must not enter, metres (may be empty).
    settings : CoverageSettings
        Swath, sidelap, turn radius and margin.
    angle : float, optional
        Sweep direction in radians CCW from east; chosen among candidates if omitted.
    min_coverage : float
        Stop filling gaps once this fraction of ``target`` is imaged.
    max_fill_rounds : int
        Rounds of gap filling along obstacles.
    scorer : callable, optional
        Flight cost of a set of segments in metres (e.g. a quick tour through them with true
        transit costs); by default line length plus one cheapest U-turn per line.

    Returns
    -------
    (K, 2, 2) float64
        Imaging segments (unordered; direction arbitrary).

    Raises
    ------
    CoverageError
        If nothing of ``target`` can be imaged.
    """
    if target.is_empty or target.area <= 0:
        raise CoverageError("nothing left to image: restricted airspace covers the whole area")
    uturn = _cheapest_uturn(settings)

    def key(segs: Segments, ground: BaseGeometry) -> tuple[float, float]:
        foot = swath_footprint(segs, settings.swath)
        imaged = _overlay(shapely.intersection, foot, ground).area / ground.area
        if scorer is not None:
            cost = scorer(segs)
        else:
            cost = float(np.hypot(*(segs[:, 1] - segs[:, 0]).T).sum()) + len(segs) * uturn
        # Enough coverage first, then cost.
        # Costs within a metre are a tie, kept by candidate order, not by rounding noise.
        return (-min(round(imaged, 4), min_coverage), round(cost))

    def best_for(cell: BaseGeometry) -> Segments | None:
        angles = [angle] if angle is not None else _candidate_angles(cell, settings, uturn)
        best: tuple[tuple[float, float], Segments] | None = None
        for a in angles:
            for phase in _phases(cell, a, settings):
                segs = _cover(
                    cell, restricted, settings, a, phase, min_coverage, max_fill_rounds, uturn
                )
                if len(segs):
                    k = key(segs, cell)
                    if best is None or k < best[0]:
                        best = (k, segs)
        return None if best is None else best[1]

    # The whole area in one pattern, or cut into cells at a reflex corner, each cell with its
    # own direction (boustrophedon cells of a non-convex area); the quickest to fly wins.
    options: list[list[BaseGeometry]] = [[target]]
    if angle is None:
        cuts = _decompositions(target)
        if cuts:
            # Only the most promising cut (by the quick line-length-and-turns estimate) is
            # planned in full: each full plan costs far more than the estimate.
            quick = [
                sum(
                    min(_angle_cost(c, a, settings, uturn) for a in _quick_angles(c)) for c in cells
                )
                for cells in cuts
            ]
            options.append(cuts[int(np.argmin(quick))])
    chosen: tuple[tuple[float, float], Segments] | None = None
    for cells in options:
        parts = [best_for(c) for c in cells]
        if any(p is None for p in parts):
            continue
        segs = np.concatenate([p for p in parts if p is not None])
        k = key(segs, target)
        if chosen is None or k < chosen[0]:
            chosen = (k, segs)
    if chosen is None:
        raise CoverageError(
            "no imaging line fits: restricted airspace leaves no room to fly over the area"
        )
    return chosen[1]


def _quick_angles(cell: BaseGeometry) -> list[float]:
    axis = _long_axis(cell)
    return [axis, (axis + math.pi / 2) % math.pi, *_edge_directions(cell, 2)]


def _decompositions(target: BaseGeometry, max_cuts: int = 4) -> list[list[BaseGeometry]]:
    """Ways to cut a non-convex area into two or more cells through one reflex corner.

    Each cut is a line through a reflex vertex of the outer boundary, along the area's long
    axis or across it. Cuts that leave a sliver (< 5 % of the area) are skipped.
    """
    out: list[list[BaseGeometry]] = []
    axis = _long_axis(target)
    minx, miny, maxx, maxy = target.bounds
    reach = 2.0 * math.hypot(maxx - minx, maxy - miny)
    for part in shapely.get_parts(target):
        ring = np.asarray(orient(part).exterior.coords)[:-1]
        prev = ring - np.roll(ring, 1, axis=0)
        nxt = np.roll(ring, -1, axis=0) - ring
        cross = prev[:, 0] * nxt[:, 1] - prev[:, 1] * nxt[:, 0]
        turn = np.abs(np.arctan2(cross, (prev * nxt).sum(axis=1)))
        # Reflex corners of a counter-clockwise ring turn clockwise; sharp ones matter most.
        reflex = [i for i in np.argsort(-turn) if cross[i] < 0 and turn[i] > math.radians(20)]
        for i in reflex[:max_cuts]:
            for a in (axis, axis + math.pi / 2):
                d = np.array([math.cos(a), math.sin(a)]) * reach
                cut = LineString([ring[i] - d, ring[i] + d])
                try:
                    pieces = list(shapely.get_parts(split(target, cut)))
                except (ValueError, shapely.errors.GEOSException):
                    continue
                cells = [as_polygonal(p) for p in pieces if p.area > 0]
                if len(cells) >= 2 and min(c.area for c in cells) >= 0.05 * target.area:
                    out.append(cells)
    return out


def as_polygonal(geom: BaseGeometry) -> Polygon | MultiPolygon:
    """Keep only the polygonal parts of a geometry (intersections can yield lines and points)."""
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and g.area > 0]
    if len(polys) == 1:
        return polys[0]
    return MultiPolygon(polys)
