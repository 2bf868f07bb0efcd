"""Sortie routing: order imaging lines into flyable sorties from a base and back (planar metres).

Ordering is a generalised travelling-salesman problem: each imaging line is flown once, in
either direction, and the cost between lines is the length of the flyable transit (Dubins
path around restricted airspace). When endurance is limited it becomes a vehicle-routing
problem whose "vehicles" are sorties, each with a flight-distance budget. Both are solved with
Google OR-Tools' routing solver (guided local search), not a hand-written heuristic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from vigia.errors import CoverageError, InputError, UnreachableError
from vigia.plan.coverage import CoverageSettings, as_polygonal, cover_area
from vigia.plan.mission import FlightPath
from vigia.plan.transit import TransitPlanner

__all__ = ["PlanarLine", "PlanarSortie", "plan_sorties", "straight_path"]

_N_BASE_HEADINGS = 16
# Rounds of re-solving with the true lengths of the transits chosen.
_MAX_ROUNDS = 20
# Stop re-solving after this many rounds without a shorter flyable plan.
_PATIENCE = 6


@dataclass(frozen=True)
class PlanarLine:
    """An imaging line in flight order, planar metres.

    Attributes
    ----------
    area : str
        Name of the area it images.
    start, end : tuple of float
        ``(x, y)`` in metres.
    """

    area: str
    start: tuple[float, float]
    end: tuple[float, float]

    @property
    def length(self) -> float:
        """Length in metres."""
        return math.dist(self.start, self.end)


@dataclass(frozen=True)
class PlanarSortie:
    """One sortie: its continuous flyable path and the imaging lines on it, in flight order.

    Attributes
    ----------
    path : FlightPath
        From the base and back to it when a base is given; otherwise from the first line's start
        to the last line's end.
    lines : tuple of PlanarLine
        Imaging lines in flight order; each lies on ``path``.
    """

    path: FlightPath
    lines: tuple[PlanarLine, ...]

    @property
    def areas(self) -> tuple[str, ...]:
        """Areas visited, in order of first visit."""
        return tuple(dict.fromkeys(ln.area for ln in self.lines))


def straight_path(p0: Sequence[float], p1: Sequence[float], step: float = 500.0) -> FlightPath:
    """Sample a straight leg from ``p0`` to ``p1``.

    Parameters
    ----------
    p0, p1 : sequence of float
        ``(x, y)`` in metres.
    step : float
        Largest distance between samples, metres.

    Returns
    -------
    FlightPath
        Poses along the leg with constant heading.
    """
    a = np.asarray(p0[:2], dtype=np.float64)
    b = np.asarray(p1[:2], dtype=np.float64)
    length = float(np.hypot(*(b - a)))
    n = max(2, math.ceil(length / step) + 1)
    t = np.linspace(0.0, 1.0, n)[:, None]
    xy = a + t * (b - a)
    heading = math.atan2(b[1] - a[1], b[0] - a[0])
    return FlightPath(np.column_stack([xy, np.full(n, heading)]), length)


def _concat(paths: Sequence[FlightPath]) -> FlightPath:
    pieces = [paths[0].poses] + [p.poses[1:] for p in paths[1:]]
    return FlightPath(np.concatenate(pieces), float(sum(p.length for p in paths)))


def _segment_poses(segs: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # Node 2k flies segment k forwards, node 2k+1 backwards.
    d = segs[:, 1] - segs[:, 0]
    h = np.arctan2(d[:, 1], d[:, 0])
    fwd_s = np.column_stack([segs[:, 0], h])
    fwd_e = np.column_stack([segs[:, 1], h])
    rev_s = np.column_stack([segs[:, 1], h + math.pi])
    rev_e = np.column_stack([segs[:, 0], h + math.pi])
    starts = np.empty((2 * len(segs), 3))
    ends = np.empty((2 * len(segs), 3))
    starts[0::2], starts[1::2] = fwd_s, rev_s
    ends[0::2], ends[1::2] = fwd_e, rev_e
    return starts, ends


def _tour_estimate(segs: NDArray[np.float64], planner: TransitPlanner) -> float:
    """Length of a greedy open tour through segments (each in its best direction), metres.

    A quick proxy used to compare coverage patterns: it sees what isolated gap lines and
    detours around restricted airspace cost, which line length alone does not.
    """
    starts, ends = _segment_poses(segs)
    between = planner.cost_matrix(ends, starts)
    lengths = np.hypot(*(segs[:, 1] - segs[:, 0]).T)
    n = len(segs)
    best = math.inf
    for first in range(0, 2 * n, max(1, (2 * n) // 6)):
        done = np.zeros(n, dtype=bool)
        node, total = first, 0.0
        done[first // 2] = True
        for _ in range(n - 1):
            row = between[node].copy()
            row[np.repeat(done, 2)] = math.inf
            node = int(np.argmin(row))
            total += float(row[node])
            done[node // 2] = True
        best = min(best, total)
    return float(lengths.sum()) + best


def _base_poses(base: Sequence[float]) -> NDArray[np.float64]:
    h = np.linspace(0.0, 2.0 * math.pi, _N_BASE_HEADINGS, endpoint=False)
    return np.column_stack([np.full(len(h), base[0]), np.full(len(h), base[1]), h])


@dataclass(frozen=True)
class _Problem:
    lengths: NDArray[np.float64]  # (2K,) segment length per node
    between: NDArray[np.float64]  # (2K, 2K) transit from node end to node start
    out: NDArray[np.float64]  # (2K,) base -> node start
    back: NDArray[np.float64]  # (2K,) node end -> base


def _solve(prob: _Problem, budget: float | None, time_limit_s: float) -> list[list[int]]:
    n_nodes = len(prob.lengths)
    n_segs = n_nodes // 2
    # Integer costs in metres; node 0 of the solver is the base (or a free depot).
    cost = np.zeros((n_nodes + 1, n_nodes + 1), dtype=np.int64)
    # Unreachable pairs (inf) get a cost no tour would pay; if one is still chosen, building
    # its path raises UnreachableError with the reason.
    unreachable = 1e9
    cost[1:, 1:] = np.rint(np.minimum(prob.lengths[:, None] + prob.between, unreachable))
    cost[0, 1:] = np.rint(np.minimum(prob.out, unreachable))
    cost[1:, 0] = np.rint(np.minimum(prob.lengths + prob.back, unreachable))
    if budget is None:
        n_vehicles = 1
    else:
        lower = float(prob.lengths.reshape(-1, 2).min(axis=1).sum())
        n_vehicles = min(n_segs, max(1, math.ceil(2.0 * lower / budget) + 2))
    manager = pywrapcp.RoutingIndexManager(n_nodes + 1, n_vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    # A matrix registered natively: a Python callback would be called millions of times.
    cb = routing.RegisterTransitMatrix(cost.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cb)
    # An extra sortie costs a whole day of aircraft: prefer fewer sorties.
    fixed = 0 if budget is None else int(budget)
    # Leaving a line out must cost more than any tour that flies it, extra sortie included.
    big = fixed + int(cost.max()) * (n_nodes + 1) + 1
    if budget is not None:
        routing.AddDimension(cb, 0, int(budget), True, "distance")
        routing.SetFixedCostOfAllVehicles(fixed)
    for k in range(n_segs):
        routing.AddDisjunction(
            [manager.NodeToIndex(1 + 2 * k), manager.NodeToIndex(2 + 2 * k)], big, 1
        )
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(max(50, int(time_limit_s * 1000)))
    # A solution count, not the clock, ends the search: the same input gives the same plan.
    params.solution_limit = 20 + n_nodes // 2
    solution = routing.SolveWithParameters(params)
    if solution is None:
        raise UnreachableError("no sortie plan fits the endurance: the routing solver found none")
    routes: list[list[int]] = []
    for v in range(n_vehicles):
        idx = routing.Start(v)
        nodes: list[int] = []
        idx = solution.Value(routing.NextVar(idx))
        while not routing.IsEnd(idx):
            nodes.append(manager.IndexToNode(idx) - 1)
            idx = solution.Value(routing.NextVar(idx))
        if nodes:
            routes.append(nodes)
    flown = {n // 2 for r in routes for n in r}
    if len(flown) != n_segs:
        raise UnreachableError(
            f"{n_segs - len(flown)} imaging line(s) cannot be flown within the endurance budget"
        )
    return routes


def plan_sorties(
    areas: Sequence[tuple[str, Polygon]],
    restricted: BaseGeometry,
    *,
    swath: float,
    sidelap: float,
    radius: float,
    speed: float,
    base: tuple[float, float] | None = None,
    max_flight_s: float | None = None,
    margin: float = 1.0,
    holes_restricted: bool = True,
    time_limit_s: float | None = None,
) -> list[PlanarSortie]:
    """Plan sorties that image every area, in planar metres.

    Parameters
    ----------
    areas : sequence of (str, Polygon)
        Named areas of interest in metres; holes are not imaged.
    restricted : shapely geometry
        Airspace the aircraft must not enter, metres (may be empty).
    swath : float
        Imaged swath width, metres.
    sidelap : float
        Fraction of the swath shared by neighbouring lines.
    radius : float
        Minimum turn radius, metres.
    speed : float
        Cruise ground speed, m/s.
    base : tuple of float, optional
        ``(x, y)`` of the base in metres; sorties start and end there. Without it the route
        is open, from the first line to the last.
    max_flight_s : float, optional
        Flight time allowed per sortie (endurance less reserve), seconds.
    margin : float
        Clearance kept from restricted airspace, metres.
    holes_restricted : bool
        Treat the areas' holes as restricted airspace too (the safe default).
    time_limit_s : float, optional
        Time given to the routing solver; by default it grows with the number of lines.

    Returns
    -------
    list of PlanarSortie
        Sorties in order.

    Raises
    ------
    InputError
        For non-positive speed or endurance.
    CoverageError
        If restricted airspace leaves nothing of an area to image.
    UnreachableError
        If a line cannot be reached within endurance or around restricted airspace.
    """
    settings = CoverageSettings(swath=swath, sidelap=sidelap, radius=radius, margin=margin)
    if not speed > 0:
        raise InputError(f"speed must be positive, got {speed!r} m/s")
    if max_flight_s is not None and not max_flight_s > 0:
        raise InputError(f"flight time per sortie must be positive, got {max_flight_s!r} s")
    blocked = restricted
    if holes_restricted:
        holes = [Polygon(r) for _, a in areas for r in a.interiors]
        blocked = shapely.union_all([restricted, *holes])
    planner = TransitPlanner(blocked, radius, margin=margin)
    if base is not None and blocked.distance(shapely.Point(base)) <= margin:
        raise UnreachableError(
            f"the base at ({base[0]:.0f}, {base[1]:.0f}) m lies in restricted airspace"
        )

    segs_l: list[NDArray[np.float64]] = []
    labels: list[str] = []
    for name, area in areas:
        target = as_polygonal(area.difference(blocked))
        try:
            segs = cover_area(
                target, blocked, settings, scorer=lambda x: _tour_estimate(x, planner)
            )
        except CoverageError as exc:
            raise CoverageError(f"area {name!r}: {exc}") from None
        segs_l.append(segs)
        labels.extend([name] * len(segs))
    segs = np.concatenate(segs_l)
    starts, ends = _segment_poses(segs)
    lengths = np.repeat(np.hypot(*(segs[:, 1] - segs[:, 0]).T), 2)
    between = planner.cost_matrix(ends, starts)
    if base is None:
        out = np.zeros(len(starts))
        back = np.zeros(len(starts))
    else:
        bp = _base_poses(base)
        out = planner.cost_matrix(bp, starts).min(axis=0)
        back = planner.cost_matrix(ends, bp).min(axis=1)
    prob = _Problem(lengths, between, out, back)

    budget = None if max_flight_s is None else max_flight_s * speed
    if budget is not None:
        need = (out + lengths + back).reshape(-1, 2).min(axis=1)
        worst = int(np.argmax(need))
        if need[worst] > budget:
            raise UnreachableError(
                f"area {labels[worst]!r} is unreachable within endurance: one of its lines needs "
                f"{need[worst] / speed / 3600:.1f} h of flight from the base, "
                f"{budget / speed / 3600:.1f} h are available per sortie"
            )
    limit = time_limit_s if time_limit_s is not None else 2.0 + 0.01 * len(starts)
    best: list[PlanarSortie] | None = None
    best_total = math.inf
    cache: dict[tuple[int, int], FlightPath] = {}
    stale = 0
    for _ in range(_MAX_ROUNDS):
        routes = _solve(prob, budget, limit)
        built = [_build(r, segs, labels, starts, ends, planner, base, cache) for r in routes]
        sorties = [b[0] for b in built]
        total = sum(s.path.length for s in sorties)
        fits = budget is None or all(s.path.length <= budget for s in sorties)
        if fits and total < best_total - 1.0:
            best, best_total, stale = sorties, total, 0
        else:
            stale += 1
            if stale >= _PATIENCE:
                break
        # The solver ordered lines on estimated transit costs; put the true lengths of the
        # transits it chose back into the costs and solve again until nothing changes.
        changed = False
        for r, (_, transits) in zip(routes, built, strict=True):
            stops = [-1, *r, -1]
            for (i, j), true in zip(itertools.pairwise(stops), transits, strict=True):
                table, key = (
                    (prob.out, j) if i < 0 else (prob.back, i) if j < 0 else (prob.between, (i, j))
                )
                if true > table[key] * 1.001 + 1.0:
                    table[key] = true
                    changed = True
        if not changed:
            break
        if budget is not None and not fits:
            budget *= 0.95
    if best is None:
        raise UnreachableError("could not fit the flyable routes within the endurance budget")
    return best


def _build(
    nodes: list[int],
    segs: NDArray[np.float64],
    labels: list[str],
    starts: NDArray[np.float64],
    ends: NDArray[np.float64],
    planner: TransitPlanner,
    base: tuple[float, float] | None,
    cache: dict[tuple[int, int], FlightPath],
) -> tuple[PlanarSortie, list[float]]:
    # Also returns the length of each transit: base → first line, between lines, last → base.
    pieces: list[FlightPath] = []
    transits: list[float] = [0.0] if base is None else []
    lines: list[PlanarLine] = []
    nan_base = None if base is None else np.array([base[0], base[1], math.nan])
    prev: NDArray[np.float64] | None = nan_base
    prev_node = -1  # the base
    for n in nodes:
        s, e = starts[n], ends[n]
        if prev is not None:
            if (prev_node, n) not in cache:
                cache[prev_node, n] = planner.path(prev, s)
            pieces.append(cache[prev_node, n])
            transits.append(pieces[-1].length)
        pieces.append(straight_path(s[:2], e[:2]))
        lines.append(
            PlanarLine(labels[n // 2], (float(s[0]), float(s[1])), (float(e[0]), float(e[1])))
        )
        prev, prev_node = e, n
    if nan_base is not None and prev is not None:
        if (prev_node, -1) not in cache:
            cache[prev_node, -1] = planner.path(prev, nan_base)
        pieces.append(cache[prev_node, -1])
        transits.append(pieces[-1].length)
    else:
        transits.append(0.0)
    return PlanarSortie(_concat(pieces), tuple(lines)), transits
