"""Figures of merit for a planned coverage path, in planar metres.

Pure functions over planar geometry (local UTM metres, see :mod:`vigia.geo`): what fraction of
an area the imaging lines cover, how far a path flies inside restricted airspace, the tightest
turn it asks of the aircraft, the cheapest U-turn a fixed-wing aircraft can fly between two
lines, and a turn-aware lower bound on the length of any coverage path. The benchmark
``bench/plan_coverage.py`` and the planner's tests use them to judge a plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import LineString, MultiLineString, Polygon
from shapely.geometry.base import BaseGeometry

from vigia.errors import InputError

__all__ = [
    "cheapest_uturn",
    "coverage_lower_bound",
    "covered_fraction",
    "length_inside",
    "min_turn_radius",
    "uturn_cost",
]

Point2 = tuple[float, float]


def covered_fraction(
    lines: Sequence[tuple[Point2, Point2]],
    swath: float,
    target: BaseGeometry,
) -> float:
    """Return the fraction of a target area imaged by straight imaging lines.

    Each line images the rectangle of width ``swath`` centred on it, with flat ends (the
    sensor images nothing beyond the end of the line). The imaged area is the union of these
    rectangles; overlaps count once.

    Parameters
    ----------
    lines : sequence of ((x0, y0), (x1, y1))
        Imaging lines, start and end in planar metres. Zero-length lines image nothing.
    swath : float
        Imaged swath width in metres (> 0).
    target : BaseGeometry
        The area that should be imaged (areas minus holes and restricted airspace), planar
        metres, with a non-zero area.

    Returns
    -------
    float
        Imaged area of ``target`` divided by the area of ``target``, in [0, 1].

    Raises
    ------
    InputError
        If ``swath`` is not positive or ``target`` has no area.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> covered_fraction([((0.0, 1000.0), (10000.0, 1000.0))], 2000.0, box(0, 0, 10000, 2000))
    1.0
    """
    if not swath > 0.0:
        raise InputError(f"swath must be positive, got {swath!r} m")
    if not target.area > 0.0:
        raise InputError("target has no area: nothing to cover")
    segs = [LineString([a, b]) for a, b in lines if a != b]
    if not segs:
        return 0.0
    strips = shapely.buffer(np.asarray(segs, dtype=object), swath / 2.0, cap_style="flat")
    imaged = shapely.union_all(strips)
    return float(min(1.0, imaged.intersection(target).area / target.area))


def length_inside(path_xy: ArrayLike, restricted: BaseGeometry, tolerance: float = 0.0) -> float:
    """Return the length of a polyline strictly inside restricted polygons.

    Flying along the boundary of a restricted polygon does not count: only the part of the
    path in the interior does (the intersection with the polygons minus the part lying on
    their boundaries). With ``tolerance > 0``, a piece of the path inside the polygons that
    never gets further than ``tolerance`` from their boundary also counts as flying along the
    boundary (coordinates rounded by a planner put such a piece a few centimetres in); any
    other piece counts in full, less what of it lies exactly on the boundary.

    Parameters
    ----------
    path_xy : (M, 2) float
        Polyline vertices in planar metres, in flight order.
    restricted : BaseGeometry
        Restricted polygons (Polygon, MultiPolygon or any areal geometry) in planar metres.
    tolerance : float
        Depth in metres (>= 0) a piece must exceed somewhere to count.

    Returns
    -------
    float
        Metres of the path inside ``restricted``; 0.0 for paths of fewer than two points or an
        empty ``restricted``.

    Raises
    ------
    InputError
        If ``tolerance`` is negative.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> length_inside([(-500.0, 500.0), (1500.0, 500.0)], box(0, 0, 1000, 1000))
    1000.0
    """
    if tolerance < 0.0:
        raise InputError(f"tolerance must be non-negative, got {tolerance!r} m")
    xy = np.asarray(path_xy, dtype=np.float64).reshape(-1, 2)
    if xy.shape[0] < 2 or restricted.is_empty:
        return 0.0
    path = LineString(xy)
    inside = path.intersection(restricted)
    if tolerance == 0.0:
        on_edge = path.intersection(restricted.boundary).length
        return float(max(0.0, inside.length - on_edge))
    edge = restricted.boundary
    total = 0.0
    segs = [g for g in shapely.get_parts(inside) if isinstance(g, LineString) and g.length > 0.0]
    if not segs:
        return 0.0
    # Merged, a piece that runs along the edge and then dives in is judged as one.
    for piece in shapely.get_parts(shapely.line_merge(MultiLineString(segs))):
        # Sampling every `tolerance` metres finds any excursion deeper than about 1.5 × it.
        dense = shapely.segmentize(piece, tolerance)
        depth = shapely.distance(shapely.points(shapely.get_coordinates(dense)), edge)
        if float(np.max(depth)) > tolerance:
            total += max(0.0, piece.length - piece.intersection(edge).length)
    return total


def min_turn_radius(path_xy: ArrayLike, window: float = 100.0) -> float:
    """Return the radius of the tightest turn of a sampled path.

    At every vertex the turn radius is estimated as the circumradius of three points of the
    path: the vertex itself and the points ``window`` metres of arc length before and after it
    (clipped at the path's ends). A window end that falls on a segment no longer than
    ``window`` moves out to that segment's far vertex (samples lie on the curve, chords do
    not); on a longer segment, taken as a straight leg, it is interpolated. The result is the
    minimum over all vertices.

    Assumptions: the path is *densely sampled* — every curved part is sampled at a spacing of
    at most ``window`` metres (a :class:`~vigia.plan.mission.FlightPath` is sampled every few
    tens of metres). A corner of the polyline with no arc is taken at face value: it is an
    unflyable corner and reports a radius of the order of the window (``window / sqrt(2)``
    for a right angle, ``window / (2 sin(φ/2))`` for a deflection φ), not the radius of the
    long legs meeting there. An arc sampled more sparsely than ``window`` is therefore reported
    tighter than it is (about ``window × r / spacing``). A reversal on the spot (a cusp)
    reports 0.

    Parameters
    ----------
    path_xy : (M, 2) float
        Path samples in planar metres, in flight order. Consecutive duplicate points are
        dropped.
    window : float
        Half-width in metres of the arc-length window used at each vertex (> 0).

    Returns
    -------
    float
        The smallest turn radius in metres; ``inf`` for a straight path or fewer than three
        distinct points.

    Raises
    ------
    InputError
        If ``window`` is not positive.

    Examples
    --------
    >>> round(min_turn_radius([(0.0, 0.0), (5000.0, 0.0), (5000.0, 5000.0)]), 1)  # a corner
    70.7
    """
    if not window > 0.0:
        raise InputError(f"window must be positive, got {window!r} m")
    xy = np.asarray(path_xy, dtype=np.float64).reshape(-1, 2)
    if xy.shape[0] >= 2:
        keep = np.concatenate([[True], np.any(np.diff(xy, axis=0) != 0.0, axis=1)])
        xy = xy[keep]
    if xy.shape[0] < 3:
        return math.inf
    seg = np.hypot(*np.diff(xy, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    mid = xy[1:-1]
    s_mid = s[1:-1]
    a = _window_end(xy, s, seg, np.maximum(s_mid - window, 0.0), window, before=True)
    b = _window_end(xy, s, seg, np.minimum(s_mid + window, s[-1]), window, before=False)
    u = mid - a
    v = b - mid
    lu = np.hypot(u[:, 0], u[:, 1])
    lv = np.hypot(v[:, 0], v[:, 1])
    lw = np.hypot(*(b - a).T)
    cross = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    dot = np.einsum("ij,ij->i", u, v)
    # Relative tolerance: float noise on a straight leg must not read as a turn.
    flat = np.abs(cross) <= 1e-12 * lu * lv
    cusp = flat & (dot < 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        radius = np.where(flat, np.inf, lu * lv * lw / (2.0 * np.abs(cross)))
    radius = np.where(cusp, 0.0, radius)
    return float(np.min(radius))


def _window_end(
    xy: NDArray[np.float64],
    s: NDArray[np.float64],
    seg: NDArray[np.float64],
    target: NDArray[np.float64],
    window: float,
    *,
    before: bool,
) -> NDArray[np.float64]:
    # The path point at arc length `target`. On a segment no longer than the window (a chord
    # of a sampled curve) take its vertex away from the centre: samples lie on the curve,
    # chords do not, and interpolating on chords biases the radius by ~spacing² / (4 window²).
    # On a longer segment (a straight leg, by the dense-sampling assumption) interpolate.
    if before:
        j = np.clip(np.searchsorted(s, target, side="right") - 1, 0, len(seg) - 1)
        snap = xy[j]
    else:
        j = np.clip(np.searchsorted(s, target, side="left") - 1, 0, len(seg) - 1)
        snap = xy[j + 1]
    interp = np.column_stack([np.interp(target, s, xy[:, 0]), np.interp(target, s, xy[:, 1])])
    short = (seg[j] <= window)[:, None]
    out: NDArray[np.float64] = np.where(short, snap, interp)
    return out


def _omega_turn(d: float, r: float) -> float:
    # Dubins RLR from (0, 0, 0) to (0, d, π), valid for 0 <= d < 4r: see uturn_cost.
    alpha = math.asin((d + 2.0 * r) / (4.0 * r))
    return r * (3.0 * math.pi - 4.0 * alpha)


def uturn_cost(spacing: float, radius: float) -> float:
    """Return the length of the shortest U-turn between two parallel lines.

    The Dubins distance (shortest path with curvature bounded by ``1 / radius``) from the end
    of one line, pose ``(0, 0, 0)``, to the start of the next, pose ``(0, d, π)``, for lines
    ``d = |spacing|`` apart with aligned ends.

    - ``d >= 2r``: turn a quarter circle, fly straight ``d - 2r``, turn a quarter circle
      (LSL): ``π r + d - 2r``.
    - ``d < 2r``: the "omega" (bulb) turn RLR: a right arc on the circle centred at
      ``(0, -r)``, a left arc on a circle of radius ``r`` tangent to it and to the goal's right
      circle centred at ``(0, d + r)``, and a right arc into the goal. The middle centre is
      ``2r`` from both, so it sits at height ``d / 2`` and the line from the first centre to
      it makes an angle ``α`` with the x axis where ``sin α = (d + 2r) / (4r)``. The three arcs
      turn ``π/2 - α``, ``2π - 2α`` and ``π/2 - α``: ``r (3π - 4α)``. It equals ``π r`` at
      ``d = 2r`` and ``7π r / 3`` at ``d = 0``. The other Dubins words (LSL, RSR, LRL; LSR and
      RSL are infeasible, their circles overlap) are longer: ``tests/plan/test_metrics.py``
      checks this against a brute-force search over all six words.

    Parameters
    ----------
    spacing : float
        Distance between the two lines in metres (the sign is ignored).
    radius : float
        Minimum turn radius in metres (>= 0; 0 gives ``d``, a turn on the spot).

    Returns
    -------
    float
        Length of the turn in metres.

    Raises
    ------
    InputError
        If ``radius`` is negative.

    Examples
    --------
    >>> round(uturn_cost(4000.0, 1900.0), 1)  # π·1900 + 200
    6169.0
    """
    if radius < 0.0:
        raise InputError(f"radius must be non-negative, got {radius!r} m")
    d = abs(spacing)
    r = radius
    if d >= 2.0 * r:
        return math.pi * r + d - 2.0 * r
    return _omega_turn(d, r)


def cheapest_uturn(spacing: float, radius: float) -> float:
    """Return the cheapest U-turn onto a parallel line ``k`` spacings away, over ``k >= 1``.

    When the turn diameter exceeds the spacing, skipping lines is cheaper than turning onto the
    neighbour.

    Parameters
    ----------
    spacing : float
        Distance between neighbouring lines, metres.
    radius : float
        Minimum turn radius, metres.

    Returns
    -------
    float
        Length of the turn, metres.

    Examples
    --------
    >>> round(cheapest_uturn(2000.0, 1900.0))
    6169
    """
    k_max = math.ceil(2.0 * radius / spacing) + 1  # beyond the first k with k·s >= 2r, costs grow
    return min(uturn_cost(k * spacing, radius) for k in range(1, k_max + 1))


def coverage_lower_bound(
    area: Polygon,
    swath: float,
    radius: float,
    n_directions: int = 180,
) -> tuple[float, float]:
    """Return a turn-aware lower bound on the length of a coverage path, and its direction.

    For a sweep direction θ (the heading of the imaging lines, radians CCW from east), let
    ``W(θ)`` be the width of ``area`` measured perpendicular to θ (the extent of its exterior
    projected on the normal ``(-sin θ, cos θ)``) and ``N(θ) = max(1, ceil(W(θ) / swath))`` the
    number of swath-spaced lines needed to span it. Every line change is at least the cheapest
    U-turn the aircraft can fly to a line ``k >= 1`` spacings away (skipping lines when the
    turn diameter exceeds the spacing)::

        c = min over k >= 1 of uturn_cost(k * swath, radius)
        B(θ) = A / swath + (N(θ) - 1) * c

    where ``A`` is the area of ``area`` (holes excluded): ``A / swath`` is the length of
    imaging lines that covers it without overlap. The bound is ``min B(θ)`` over
    ``n_directions`` directions ``θ_j = j π / n_directions``.

    It bounds boustrophedon plans whose lines end on the boundary facing each other; it ignores
    transits between cells, extra turns around holes and the way back to a base, so real plans
    exceed it. It is not a proof-grade bound for every conceivable path: a turn between lines
    whose ends are staggered along track can be shorter than the aligned U-turn.

    Parameters
    ----------
    area : Polygon
        Area to cover in planar metres (holes allowed).
    swath : float
        Spacing of the imaging lines in metres (swath × (1 − sidelap)), > 0.
    radius : float
        Minimum turn radius of the aircraft in metres (>= 0).
    n_directions : int
        Number of sweep directions tried over [0, π).

    Returns
    -------
    bound : float
        Lower bound in metres.
    direction : float
        Sweep direction θ in radians CCW from east, in [0, π), at which it is reached (the
        first one on ties).

    Raises
    ------
    InputError
        If ``swath`` is not positive, ``radius`` is negative, ``n_directions < 1`` or
        ``area`` is empty.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> bound, theta = coverage_lower_bound(box(0, 0, 20000, 15000), 2000.0, 1900.0)
    >>> round(bound), theta
    (193183, 0.0)
    """
    if not swath > 0.0:
        raise InputError(f"swath must be positive, got {swath!r} m")
    if radius < 0.0:
        raise InputError(f"radius must be non-negative, got {radius!r} m")
    if n_directions < 1:
        raise InputError(f"n_directions must be at least 1, got {n_directions!r}")
    if area.is_empty or not area.area > 0.0:
        raise InputError("area is empty: nothing to cover")
    turn = cheapest_uturn(swath, radius)
    theta = np.arange(n_directions, dtype=np.float64) * (math.pi / n_directions)
    normals = np.stack([-np.sin(theta), np.cos(theta)])
    pts = np.asarray(area.exterior.coords, dtype=np.float64)[:, :2]
    proj: NDArray[np.float64] = pts @ normals
    width = proj.max(axis=0) - proj.min(axis=0)
    # The tolerance keeps an exact multiple (20 km / 2 km) from rounding up on float noise.
    n_lines = np.maximum(1.0, np.ceil(width / swath - 1e-9))
    bound = area.area / swath + (n_lines - 1.0) * turn
    best = int(np.argmin(bound))
    return float(bound[best]), float(theta[best])
