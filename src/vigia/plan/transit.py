"""Collision-free flyable transits between poses around restricted airspace.

A transit is a chain of Dubins paths (:mod:`vigia.plan.dubins`). The direct Dubins path is
tried first; when it comes too close to restricted airspace, a lazy A* search runs over a
roadmap of poses laid around the obstacles: points on the boundary of the restricted
airspace grown by a few turn radii, headed along that boundary both ways. Edges are Dubins
paths checked only when the search reaches them (lazy weighted A*, Cohen, Phillips &
Likhachev 2014), so most of the dense roadmap is never sampled.

All coordinates are planar metres in a local frame; headings are radians counter-clockwise
from east (+x). A heading of NaN means "any heading".
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry

from vigia.errors import InputError, UnreachableError
from vigia.plan.dubins import WORDS, dubins_lengths, dubins_path, dubins_segments, sample_word
from vigia.plan.mission import FlightPath

__all__ = ["TransitPlanner"]

_ANY_HEADINGS = np.linspace(0.0, 2.0 * np.pi, 16, endpoint=False)
# Roadmap rings: offsets from the restricted airspace, in turn radii (beyond the margin).
_RING_OFFSETS = (0.6, 1.3, 2.5)
# Spacing of roadmap poses along a ring, in turn radii.
_RING_SPACING = 1.0
# Edge checks before the search gives up on a pair of poses.
_MAX_CHECKS = 6000
# Weight of the heuristic (weighted A*): paths at most this factor longer than the best
# through the roadmap, found with far fewer expansions.
_GREED = 1.15
# Failed edges out of the start (into the goal) before it counts as boxed in; each leads to
# (comes from) another roadmap pose.
_MAX_END_MISSES = 300
# Direct paths tried (shortest first) when a heading is free.
_DIRECT_TRIES = 4
# Coordinates nearer zero than this (metres) are zero to GEOS: subnormal numbers (a heading of
# 1e-290 rad puts a path 1e-304 m off its axis) make its distance arithmetic divide by zero.
_TINY_M = 1e-9


def _snapped(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    # Coordinates as GEOS gets them (a nanometre moves no path off or onto the airspace).
    return np.where(np.abs(xy) < _TINY_M, 0.0, xy)


def _pose(q: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(q, dtype=np.float64).reshape(-1)
    if arr.shape != (3,) or not np.isfinite(arr[:2]).all() or np.isinf(arr[2]):
        raise InputError(f"{name} must be a pose (x m, y m, heading rad or NaN), got {arr!r}")
    return arr


def _poses(q: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(q, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != 3 or not np.isfinite(arr[:, :2]).all():
        raise InputError(f"{name} must be (N, 3) poses (x m, y m, heading rad or NaN)")
    return arr


def _headings(q: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the pose itself, or the pose at 16 headings when its heading is NaN."""
    if not np.isnan(q[2]):
        return q.reshape(1, 3)
    return np.column_stack([np.full(16, q[0]), np.full(16, q[1]), _ANY_HEADINGS])


def _where(q: NDArray[np.float64]) -> str:
    return f"({q[0]:.0f}, {q[1]:.0f})"


def _expand_any(poses: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Poses with each NaN heading replaced by 16 headings, and where each group starts."""
    free = np.isnan(poses[:, 2])
    counts = np.where(free, 16, 1)
    out = np.repeat(poses, counts, axis=0)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
    for i in np.flatnonzero(free):
        out[starts[i] : starts[i] + 16, 2] = _ANY_HEADINGS
    return out, starts


def _min_plus(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """``out[i, j] = min_k a[i, k] + b[k, j]``, in blocks to bound memory."""
    n, k = a.shape
    m = b.shape[1]
    out = np.full((n, m), np.inf)
    if k == 0:
        return out
    # float32 halves the time; a few millimetres over tens of kilometres is plenty here.
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    rows = max(1, 4_000_000 // (k * m))
    for i in range(0, n, rows):
        out[i : i + rows] = np.min(a32[i : i + rows, :, None] + b32[None, :, :], axis=1)
    return out


@dataclass
class _Expansion:
    """Dubins edges out of one expanded pose, sorted by A* priority."""

    node: int
    targets: NDArray[np.intp]  # (n,) target node indices
    f: NDArray[np.float64]  # (n,) priority with the shortest word
    seg: NDArray[np.float64]  # (n, 6, 3) piece lengths, metres
    order: NDArray[np.intp]  # (n, 6) words by length
    total: NDArray[np.float64]  # (n, 6) word lengths in that order (inf if none)


class TransitPlanner:
    """Plan flyable transits around restricted airspace.

    Parameters
    ----------
    restricted : BaseGeometry
        Planar restricted airspace in metres: a (Multi)Polygon, possibly empty, non-convex,
        of several parts, with holes.
    radius : float
        Minimum turn radius in metres.
    margin : float, optional
        Closest the path may come to ``restricted``, metres (default 1).
    step : float, optional
        Largest distance between path samples, metres; defaults to ``min(25, radius / 10)``.

    Attributes
    ----------
    restricted : BaseGeometry
        A private, prepared (and, if it was invalid, repaired) copy of ``restricted``.
    radius, margin, step : float
        As given, metres.

    Raises
    ------
    InputError
        If the radius or step is not positive or the margin is negative.

    Notes
    -----
    The planner caches its roadmap, visibility graph and every roadmap edge it has checked,
    so one planner should serve all the transits of a plan.

    Examples
    --------
    >>> import numpy as np
    >>> from shapely.geometry import box
    >>> planner = TransitPlanner(box(-2000, -2000, 2000, 2000), 1900.0)
    >>> path = planner.path(np.array([-20000.0, 0, 0]), np.array([20000.0, 0, 0]))
    >>> planner.is_clear(path), path.length > 40000.0
    (True, True)
    """

    def __init__(
        self,
        restricted: BaseGeometry,
        radius: float,
        *,
        margin: float = 1.0,
        step: float | None = None,
    ) -> None:
        if not (math.isfinite(radius) and radius > 0.0):
            raise InputError(f"turn radius must be a positive number of metres, got {radius!r}")
        if not (math.isfinite(margin) and margin >= 0.0):
            raise InputError(f"margin must be a non-negative number of metres, got {margin!r}")
        if step is not None and not (math.isfinite(step) and step > 0.0):
            raise InputError(f"sampling step must be a positive number of metres, got {step!r}")
        self.radius = float(radius)
        self.margin = float(margin)
        self.step = min(25.0, self.radius / 10.0) if step is None else float(step)
        # A private copy: preparing (and repairing) must not touch the caller's geometry.
        zone = shapely.from_wkb(shapely.to_wkb(restricted))
        if not zone.is_valid:
            zone = shapely.make_valid(zone)
        self.restricted: BaseGeometry = zone
        self._empty = bool(zone.is_empty)
        shapely.prepare(zone)
        self._nodes: NDArray[np.float64] | None = None
        self._node_part: NDArray[np.intp] | None = None
        self._free: list[BaseGeometry] | None = None
        self._frame: tuple[float, float, float, float] | None = None
        self._outer = -1
        self._grown: BaseGeometry | None = None
        self._grown_parts: NDArray[np.float64] | None = None
        self._vis: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
        self._edge_ok: dict[tuple[int, int, int], bool] = {}
        self._sight_rows: dict[int, NDArray[np.bool_]] = {}
        self._road_via_cache: NDArray[np.float64] | None = None

    # --- collision checks -------------------------------------------------------------

    def is_clear(self, path: FlightPath) -> bool:
        """Tell whether a sampled path keeps clear of the restricted airspace.

        Parameters
        ----------
        path : FlightPath
            The path; its polyline through the samples is tested.

        Returns
        -------
        bool
            ``True`` if no part of the polyline comes within ``margin`` metres of the
            restricted airspace.
        """
        return self._clear_xy(path.xy)

    def _clear_xy(self, xy: NDArray[np.float64]) -> bool:
        if self._empty:
            return True
        xy = _snapped(np.asarray(xy, dtype=np.float64))
        geom = shapely.linestrings(xy) if len(xy) > 1 else shapely.points(xy[0])
        return not bool(shapely.dwithin(self.restricted, geom, self.margin))

    def _point_clear(self, q: NDArray[np.float64]) -> bool:
        if self._empty:
            return True
        point = shapely.points(_snapped(np.asarray(q[:2], dtype=np.float64)))
        return not bool(shapely.dwithin(self.restricted, point, self.margin))

    # --- direct paths -------------------------------------------------------------------

    def _direct(self, starts: NDArray[np.float64], goals: NDArray[np.float64]) -> FlightPath | None:
        lengths = dubins_lengths(starts[:, None, :], goals[None, :, :], self.radius)
        order = np.argsort(lengths, axis=None)[:_DIRECT_TRIES]
        for flat in order:
            i, j = np.unravel_index(flat, lengths.shape)
            path = dubins_path(starts[i], goals[j], self.radius, self.step)
            if self._clear_xy(path.xy):
                return path
        return None

    # --- public planning ----------------------------------------------------------------

    def path(self, q0: ArrayLike, q1: ArrayLike) -> FlightPath:
        """Plan a flyable path between two poses that keeps clear of restricted airspace.

        Parameters
        ----------
        q0, q1 : (3,) array_like of float
            Start and goal poses ``(x m, y m, heading rad CCW from east)``. A NaN heading
            means any heading (takeoff from or landing at a base): the best of 16 is used.

        Returns
        -------
        FlightPath
            Samples at most ``step`` apart on arcs of radius ``radius`` and straights, from
            ``q0`` to ``q1`` (NaN headings replaced by the ones chosen), never within
            ``margin`` of the restricted airspace; ``length`` in metres. Headings are those
            of the Dubins pieces and may differ from one piece to the next by multiples of
            2π.

        Raises
        ------
        InputError
            If a pose is malformed.
        UnreachableError
            If the start or goal lies in restricted airspace, they are separated by it, the
            start cannot turn away from it (or the goal be approached) at its heading, or no
            flyable path around it is found. The message names both points (metres).
        """
        a, b = _pose(q0, "q0"), _pose(q1, "q1")
        starts, goals = _headings(a), _headings(b)
        where = f"no flyable path from {_where(a)} to {_where(b)}"
        if not self._point_clear(a):
            raise UnreachableError(f"{where}: start lies inside restricted airspace")
        if not self._point_clear(b):
            raise UnreachableError(f"{where}: goal lies inside restricted airspace")
        direct = self._direct(starts, goals)
        if direct is not None:
            return direct
        part_a, part_b = self._part_of(a[:2]), self._part_of(b[:2])
        if part_a != part_b:
            if part_b != self._outer:
                why = "goal is enclosed by restricted airspace"
            elif part_a != self._outer:
                why = "start is enclosed by restricted airspace"
            else:
                why = "start and goal are separated by restricted airspace"
            raise UnreachableError(f"{where}: {why}")
        found = self._search(starts, goals, part_a)
        if isinstance(found, str):
            raise UnreachableError(f"{where}: {found}")
        if not self.is_clear(found):  # pieces were checked one by one; this is a guard
            raise UnreachableError(f"{where}: planned path is not clear of restricted airspace")
        return found

    def cost_matrix(self, starts: ArrayLike, goals: ArrayLike) -> NDArray[np.float64]:
        """Estimate transit lengths from every start pose to every goal pose.

        Parameters
        ----------
        starts : (N, 3) array_like of float
            Start poses ``(x m, y m, heading rad)``; a NaN heading means any heading.
        goals : (M, 3) array_like of float
            Goal poses, likewise.

        Returns
        -------
        (N, M) ndarray of float64
            Metres: the Dubins length where the straight chord keeps clear of restricted
            airspace, otherwise the larger of the Dubins length and the shortest way around
            the restricted airspace grown by half a turn radius. Never less than the
            straight-line distance; ``inf`` where no way around is found (e.g. a pose inside
            restricted airspace or enclosed by it).

        Examples
        --------
        >>> import numpy as np
        >>> from shapely.geometry import Polygon
        >>> planner = TransitPlanner(Polygon(), 1900.0)
        >>> goals = np.array([[5000.0, 0, 0], [0, 3800, np.pi]])
        >>> cost = planner.cost_matrix(np.zeros((1, 3)), goals)
        >>> np.round(cost, 3).tolist()  # straight ahead; a U-turn onto the line 2r away
        [[5000.0, 5969.026]]
        """
        s, g = _poses(starts, "starts"), _poses(goals, "goals")
        s_all, s_grp = _expand_any(s)
        g_all, g_grp = _expand_any(g)
        cost = dubins_lengths(s_all[:, None, :], g_all[None, :, :], self.radius)
        if len(s_all) != len(s):
            cost = np.minimum.reduceat(cost, s_grp, axis=0)
        if len(g_all) != len(g):
            cost = np.minimum.reduceat(cost, g_grp, axis=1)
        if self._empty or cost.size == 0:
            return cost
        si, gj = np.meshgrid(np.arange(len(s)), np.arange(len(g)), indexing="ij")
        blocked = ~self._chords_clear(s[si.ravel(), :2], g[gj.ravel(), :2]).reshape(cost.shape)
        if blocked.any():
            rows = np.flatnonzero(blocked.any(axis=1))
            cols = np.flatnonzero(blocked.any(axis=0))
            around = self._around(s[rows, :2], g[cols, :2])
            sub = cost[np.ix_(rows, cols)]
            cost[np.ix_(rows, cols)] = np.where(
                blocked[np.ix_(rows, cols)], np.maximum(sub, around), sub
            )
        return cost

    # --- free space -----------------------------------------------------------------------

    def _free_space(self) -> list[BaseGeometry]:
        if self._free is None:
            x0, y0, x1, y1 = self.restricted.bounds
            pad = 20.0 * self.radius + max(x1 - x0, y1 - y0)
            self._frame = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
            frame = shapely.box(*self._frame)
            free = frame.difference(self.restricted.buffer(self.margin))
            parts = list(shapely.get_parts(free))
            corner = shapely.points(self._frame[0] + 1.0, self._frame[1] + 1.0)
            for k, part in enumerate(parts):
                shapely.prepare(part)
                if part.contains(corner):
                    self._outer = k
            self._free = parts
        return self._free

    def _part_of(self, xy: NDArray[np.float64]) -> int:
        """Index of the connected piece of free space holding a point (-1 if none)."""
        return int(self._parts_of(xy.reshape(1, 2))[0])

    def _parts_of(self, xy: NDArray[np.float64]) -> NDArray[np.intp]:
        parts = self._free_space()
        assert self._frame is not None
        fx0, fy0, fx1, fy1 = self._frame
        out = np.full(len(xy), -1, dtype=np.intp)
        outside = (xy[:, 0] <= fx0) | (xy[:, 0] >= fx1) | (xy[:, 1] <= fy0) | (xy[:, 1] >= fy1)
        out[outside] = self._outer
        for k, part in enumerate(parts):
            todo = out < 0
            if not todo.any():
                break
            inside = shapely.contains_xy(part, xy[todo, 0], xy[todo, 1])
            out[np.flatnonzero(todo)[inside]] = k
        return out

    # --- roadmap ------------------------------------------------------------------------

    def _roadmap(self) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
        """Poses around the obstacles and the piece of free space each lies in."""
        if self._nodes is None or self._node_part is None:
            r = self.radius
            found = []
            for k, off in enumerate(_RING_OFFSETS):
                grown = self.restricted.buffer(self.margin + off * r, quad_segs=8)
                grown = grown.simplify(0.05 * r)
                for poly in shapely.get_parts(grown):
                    for ring in [poly.exterior, *poly.interiors]:
                        found.append(self._ring_points(ring, stagger=0.5 * (k % 2)))
            points = np.concatenate(found) if found else np.empty((0, 3))
            if len(points):
                near = shapely.dwithin(
                    self.restricted, shapely.points(points[:, :2]), self.margin + 0.1 * r
                )
                points = points[~near]
            # Each point twice, headed both ways round: the search picks the direction.
            # Pose i and pose i + n share point i.
            back = points + np.array([0.0, 0.0, np.pi])
            self._nodes = np.concatenate([points, back])
            self._node_part = np.tile(self._parts_of(points[:, :2]), 2)
        return self._nodes, self._node_part

    def _ring_points(self, ring: BaseGeometry, stagger: float) -> NDArray[np.float64]:
        """Evenly spaced points of a ring with the heading along it, ``(n, 3)``."""
        length = float(ring.length)
        n = max(6, math.ceil(length / (_RING_SPACING * self.radius)))
        d = (np.arange(n) + stagger) * (length / n)
        eps = min(0.1 * self.radius, 0.25 * length / n)
        xy = shapely.get_coordinates(shapely.line_interpolate_point(ring, d))
        ahead = shapely.get_coordinates(shapely.line_interpolate_point(ring, (d + eps) % length))
        back = shapely.get_coordinates(shapely.line_interpolate_point(ring, (d - eps) % length))
        h = np.arctan2(ahead[:, 1] - back[:, 1], ahead[:, 0] - back[:, 0])
        return np.column_stack([xy, h])

    # --- search ---------------------------------------------------------------------------

    def _sight(self, node: int) -> NDArray[np.bool_]:
        """Which roadmap poses the roadmap pose ``node`` sees in a straight line (cached)."""
        nodes = self._roadmap()[0]
        half = len(nodes) // 2
        point = node % half
        row = self._sight_rows.get(point)
        if row is None:
            xy = nodes[:half, :2]
            row = self._chords_clear(np.broadcast_to(xy[point], xy.shape), xy)
            self._sight_rows[point] = row
        return np.concatenate([row, row])

    def _edge_clear(self, a: NDArray[np.float64], word: int, seg: NDArray[np.float64]) -> bool:
        return self._clear_xy(sample_word(a, WORDS[word], seg, self.radius, self.step)[:, :2])

    def _search(
        self, starts: NDArray[np.float64], goals: NDArray[np.float64], part: int
    ) -> FlightPath | str:
        """Lazy weighted A* from any of ``starts`` to any of ``goals``; a reason if none."""
        roadmap, node_part = self._roadmap()
        road_ids = np.flatnonzero(node_part == part)
        nodes = np.concatenate([starts, goals, roadmap[road_ids]])
        n_start, n_goal = len(starts), len(goals)
        first_road = n_start + n_goal
        goal_xy = goals[0, :2]
        h = np.zeros(len(nodes))
        h[:n_start] = self._to_goal(starts[:, :2], self._via(starts[:1, :2]), goal_xy)
        h[first_road:] = self._to_goal(nodes[first_road:, :2], self._road_via()[road_ids], goal_xy)
        h *= _GREED
        g = np.full(len(nodes), np.inf)
        closed = np.zeros(len(nodes), dtype=bool)
        parent: dict[int, tuple[int, int, NDArray[np.float64]]] = {}
        expansions: list[_Expansion] = []
        heap: list[tuple[float, int, int, int, int, bool]] = []
        counter = 0

        def expand(u: int) -> None:
            nonlocal counter
            targets = np.flatnonzero(~closed)
            # Only towards poses in plain sight: a Dubins edge whose chord crosses restricted
            # airspace almost never clears it, and checking is what costs.
            if u >= first_road:
                row = self._sight(int(road_ids[u - first_road]))
                seen = np.ones(len(nodes), dtype=bool)
                seen[first_road:] = row[road_ids]
                seen[n_start:first_road] = self._chords_clear(nodes[u, None, :2], goal_xy[None])[0]
                targets = targets[seen[targets]]
            else:
                here = np.broadcast_to(nodes[u, :2], (len(targets), 2))
                targets = targets[self._chords_clear(here, nodes[targets, :2])]
            if len(targets) == 0:
                return
            seg = dubins_segments(nodes[u], nodes[targets], self.radius)
            lengths = seg.sum(axis=-1)
            lengths = np.where(np.isnan(lengths), np.inf, lengths)
            order = np.argsort(lengths, axis=1)
            total = np.take_along_axis(lengths, order, axis=1)
            f = g[u] + total[:, 0] + h[targets]
            by_f = np.argsort(f)
            e = _Expansion(u, targets[by_f], f[by_f], seg[by_f], order[by_f], total[by_f])
            expansions.append(e)
            heapq.heappush(heap, (float(e.f[0]), counter, len(expansions) - 1, 0, 0, True))
            counter += 1

        for s in range(n_start):
            g[s] = 0.0
            closed[s] = True
        for s in range(n_start):
            expand(s)

        checks = goal_misses = start_misses = 0
        left_start = False
        while heap and checks < _MAX_CHECKS:
            if goal_misses > _MAX_END_MISSES:
                return "the goal cannot be approached at its heading clear of restricted airspace"
            if start_misses > _MAX_END_MISSES and not left_start:
                break
            _, _, ei, i, rank, cursor = heapq.heappop(heap)
            e = expansions[ei]
            if cursor and i + 1 < len(e.targets):
                heapq.heappush(heap, (float(e.f[i + 1]), counter, ei, i + 1, 0, True))
                counter += 1
            u, v = e.node, int(e.targets[i])
            if closed[v]:
                continue
            word = int(e.order[i, rank])
            # Edges between roadmap poses are the same for every query: remember them.
            key = None
            if u >= first_road and v >= first_road:
                key = (int(road_ids[u - first_road]), int(road_ids[v - first_road]), word)
            known = None if key is None else self._edge_ok.get(key)
            if known is None:
                checks += 1
                ok = self._edge_clear(nodes[u], word, e.seg[i, word])
                if key is not None:
                    self._edge_ok[key] = ok
            else:
                ok = known
            if not ok:
                goal_misses += n_start <= v < first_road
                start_misses += u < n_start
                # Out of the start or into the goal the headings are fixed, so a longer word
                # (turning the other way first) is worth trying; elsewhere another node is.
                nxt = rank + 1
                if (u < n_start or v < first_road) and nxt < 6 and np.isfinite(e.total[i, nxt]):
                    fn = float(g[u] + e.total[i, nxt] + h[v])
                    heapq.heappush(heap, (fn, counter, ei, i, nxt, False))
                    counter += 1
                continue
            closed[v] = True
            left_start = True
            g[v] = g[u] + e.total[i, rank]
            parent[v] = (u, word, e.seg[i, word])
            if n_start <= v < first_road:
                return self._assemble(nodes, parent, v, n_start)
            expand(v)
        if not left_start:
            return "no clear way out of the start at its heading"
        return "no flyable path around restricted airspace"

    def _assemble(
        self,
        nodes: NDArray[np.float64],
        parent: dict[int, tuple[int, int, NDArray[np.float64]]],
        goal: int,
        n_start: int,
    ) -> FlightPath:
        """Sample the chain of edges into ``goal``, cutting corners where that is clear."""
        legs: list[tuple[int, int, str, NDArray[np.float64]]] = []
        v = goal
        while v >= n_start:
            u, word, seg = parent[v]
            legs.append((u, v, WORDS[word], seg))
            v = u
        legs.reverse()
        # Roadmap poses sit on fixed rings, so the chain zigzags between them; replacing a
        # run of legs by one Dubins path when that is clear and shorter straightens it.
        i = 0
        while i < len(legs) - 1:
            for j in range(len(legs) - 1, i, -1):
                a, b = nodes[legs[i][0]], nodes[legs[j][1]]
                seg3 = dubins_segments(a, b, self.radius)
                totals = seg3.sum(axis=-1)
                k = int(np.nanargmin(totals))
                if totals[k] < sum(float(leg[3].sum()) for leg in legs[i : j + 1]) - 1e-6:
                    if self._edge_clear(a, k, seg3[k]):
                        legs[i : j + 1] = [(legs[i][0], legs[j][1], WORDS[k], seg3[k])]
                        break
            i += 1
        pieces: list[NDArray[np.float64]] = []
        total = 0.0
        for u, v, word_name, seg in legs:
            poses = sample_word(nodes[u], word_name, seg, self.radius, self.step)
            poses[-1] = nodes[v]
            pieces.append(poses if not pieces else poses[1:])
            total += float(seg.sum())
        return FlightPath(poses=np.concatenate(pieces), length=total)

    # --- cost estimates ---------------------------------------------------------------------

    def _grown_zone(self) -> tuple[BaseGeometry, NDArray[np.float64]]:
        """Restricted airspace grown by the margin, prepared, and a summary of its parts.

        The summary has one row per part: bounding box ``x0, y0, x1, y1``, enclosing circle
        ``cx, cy, r`` and inscribed circle ``cx, cy, r`` (metres).
        """
        if self._grown is None or self._grown_parts is None:
            grown = self.restricted.buffer(self.margin)
            parts = shapely.get_parts(grown)
            rows = []
            for part in parts:
                centre = shapely.minimum_bounding_circle(part).centroid
                ox, oy = shapely.get_coordinates(centre)[0]
                orad = float(shapely.hausdorff_distance(centre, part))
                inner = shapely.get_coordinates(
                    shapely.maximum_inscribed_circle(part, 0.01 * self.radius)
                )
                # The inscribed circle comes as a line from its centre to the nearest edge.
                irad = float(np.hypot(*(inner[1] - inner[0]))) * (1.0 - 1e-9)
                rows.append([*part.bounds, ox, oy, orad * (1.0 + 1e-9), *inner[0], irad])
            shapely.prepare(grown)
            self._grown = grown
            self._grown_parts = np.array(rows, dtype=np.float64).reshape(-1, 10)
        return self._grown, self._grown_parts

    def _chords_clear(self, a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Whether each straight segment ``a[i] → b[i]`` keeps clear of the grown zone."""
        grown, parts = self._grown_zone()
        clear = np.ones(len(a), dtype=bool)
        # Blocks of chords × parts, to bound memory with many parts.
        rows = max(1, 4_000_000 // max(1, len(parts)))
        for i in range(0, len(a), rows):
            clear[i : i + rows] = self._chords_clear_block(
                grown, parts, a[i : i + rows], b[i : i + rows]
            )
        return clear

    @staticmethod
    def _chords_clear_block(
        grown: BaseGeometry,
        parts: NDArray[np.float64],
        a: NDArray[np.float64],
        b: NDArray[np.float64],
    ) -> NDArray[np.bool_]:
        # Cheap exact tests settle most chord/part pairs without GEOS: missing the part's
        # bounding box or enclosing circle means clear, touching its inscribed circle blocked.
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        near = (
            (lo[:, None, 0] <= parts[None, :, 2])
            & (hi[:, None, 0] >= parts[None, :, 0])
            & (lo[:, None, 1] <= parts[None, :, 3])
            & (hi[:, None, 1] >= parts[None, :, 1])
        )
        chord, part = np.nonzero(near)
        d = b - a
        dd = np.maximum(np.einsum("ij,ij->i", d, d), 1e-300)

        def gap(c: NDArray[np.intp], centre: NDArray[np.float64]) -> NDArray[np.float64]:
            """Distance from each centre to its chord."""
            ac, dc = a[c], d[c]
            t = np.einsum("ij,ij->i", centre - ac, dc) / dd[c]
            foot = ac + np.clip(t, 0.0, 1.0)[:, None] * dc
            return np.asarray(np.hypot(*(foot - centre).T))

        hit = gap(chord, parts[part, 4:6]) <= parts[part, 6]
        chord, part = chord[hit], part[hit]
        inside = gap(chord, parts[part, 7:9]) < parts[part, 9]
        blocked = np.zeros(len(a), dtype=bool)
        blocked[chord[inside]] = True
        maybe = np.zeros(len(a), dtype=bool)
        maybe[chord[~inside]] = True
        maybe &= ~blocked
        clear = ~(blocked | maybe)
        idx = np.flatnonzero(maybe)
        if len(idx):
            lines = shapely.linestrings(_snapped(np.stack([a[idx], b[idx]], axis=1)))
            clear[idx] = ~shapely.intersects(grown, lines)
        return clear

    def _visibility(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Corners of the grown airspace and the shortest distances between them."""
        if self._vis is None:
            r = self.radius
            grown = self.restricted.buffer(self.margin + 0.5 * r, quad_segs=4)
            grown = shapely.orient_polygons(grown.simplify(0.2 * r))
            corners = []
            for poly in shapely.get_parts(grown):
                for ring in [poly.exterior, *poly.interiors]:
                    xy = np.asarray(ring.coords)[:-1]
                    prev, nxt = np.roll(xy, 1, axis=0), np.roll(xy, -1, axis=0)
                    e1, e2 = xy - prev, nxt - xy
                    # With the airspace on the left of every ring, a left turn is a corner
                    # shortest paths can bend around; right turns are never on them.
                    corners.append(xy[e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] > 0.0])
            v = np.concatenate(corners) if corners else np.empty((0, 2))
            n = len(v)
            ii, jj = np.triu_indices(n, k=1)
            dist = np.full((n, n), np.inf)
            np.fill_diagonal(dist, 0.0)
            ok = self._chords_clear(v[ii], v[jj])
            w = np.hypot(*(v[jj[ok]] - v[ii[ok]]).T)
            dist[ii[ok], jj[ok]] = w
            dist[jj[ok], ii[ok]] = w
            for k in range(n):  # Floyd–Warshall; n is a few dozen corners
                np.minimum(dist, dist[:, k, None] + dist[None, k, :], out=dist)
            self._vis = (v, dist)
        return self._vis

    def _reach(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        """Straight-line distance from each point to each corner it sees, else inf."""
        v = self._visibility()[0]
        n = len(v)
        pi, vi = np.meshgrid(np.arange(len(p)), np.arange(n), indexing="ij")
        ok = self._chords_clear(p[pi.ravel()], v[vi.ravel()]).reshape(len(p), n)
        d = np.hypot(p[:, None, 0] - v[None, :, 0], p[:, None, 1] - v[None, :, 1])
        return np.where(ok, d, np.inf)

    def _via(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        """Shortest distance from each point to each corner, around the grown zone."""
        return _min_plus(self._reach(p), self._visibility()[1])

    def _around(self, a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
        """Shortest distances from each ``a`` to each ``b`` via corners of the grown zone."""
        if len(self._visibility()[0]) == 0:
            return np.full((len(a), len(b)), np.inf)
        return _min_plus(self._via(a), self._reach(b).T)

    def _road_via(self) -> NDArray[np.float64]:
        """:meth:`_via` for every roadmap pose (cached)."""
        if self._road_via_cache is None:
            nodes = self._roadmap()[0]
            # Pose i and pose i + n share a point.
            self._road_via_cache = np.tile(self._via(nodes[: len(nodes) // 2, :2]), (2, 1))
        return self._road_via_cache

    def _to_goal(
        self, xy: NDArray[np.float64], via: NDArray[np.float64], goal: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Estimate the way to ``goal`` around the grown zone, straight when in sight (A* h).

        ``via`` is :meth:`_via` of ``xy``. Not strictly admissible (the zone is grown by half a
        turn radius) but far closer than the straight line, which makes A* walk round an
        obstacle instead of flooding the whole roadmap in front of it.
        """
        direct: NDArray[np.float64] = np.hypot(xy[:, 0] - goal[0], xy[:, 1] - goal[1])
        if via.shape[1] == 0:
            return direct
        seen = self._chords_clear(xy, np.broadcast_to(goal, xy.shape))
        around = np.min(via + self._reach(goal[None, :])[0][None, :], axis=1)
        # inf when the corners give no way round: fall back to the straight line.
        around = np.where(np.isfinite(around), np.maximum(around, direct), direct)
        return np.asarray(np.where(seen, direct, around), dtype=np.float64)
