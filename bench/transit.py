"""Transit cost matrix: every line end to every line start, against planning each path.

    python bench/transit.py [--lines 400] [--pairs 60] [--repeat 5]

The router (:mod:`vigia.plan.route`) needs the transit length between every pair of imaging
lines. :meth:`vigia.plan.transit.TransitPlanner.cost_matrix` estimates all of them at once
(vectorised Dubins lengths, a way around restricted airspace where the chord is blocked);
the reference is what it replaces, :meth:`TransitPlanner.path` for each pair (an exact
flyable path, with its clearance search). Both run in the same process on the same scene:
``--lines`` start and goal poses spread over 80 × 80 km around four restricted zones (a
circle of 8 km, a 6 × 30 km box and two more, as the plan tests use), seeded. The reference
runs on ``--pairs`` × ``--pairs`` of them; times are per pair, best of ``--repeat``. BLAS is
pinned to one thread (threadpoolctl).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Point, box
from shapely.geometry.base import BaseGeometry
from threadpoolctl import threadpool_limits

from vigia.errors import UnreachableError
from vigia.plan.transit import TransitPlanner

R = 1900.0  # MQ-9 class turn radius, m


def poses(n: int, rng: np.random.Generator, avoid: BaseGeometry) -> NDArray[np.float64]:
    xy = rng.uniform(-40000, 40000, (4 * n, 2))
    xy = xy[~shapely.dwithin(avoid, shapely.points(xy), 100.0)][:n]
    return np.column_stack([xy, rng.uniform(-math.pi, math.pi, len(xy))])


def best(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=400)
    ap.add_argument("--pairs", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    zones = shapely.union_all(
        [
            Point(0, 0).buffer(8000),
            box(20000, -25000, 26000, 5000),
            Point(-30000, 15000).buffer(5000),
            box(-40000, -30000, -20000, -25000),
        ]
    )
    rng = np.random.default_rng(11)
    starts, goals = poses(args.lines, rng, zones), poses(args.lines, rng, zones)
    planner = TransitPlanner(zones, R)
    with threadpool_limits(1):
        t_matrix = best(lambda: planner.cost_matrix(starts, goals), args.repeat)
        cost = planner.cost_matrix(starts, goals)
        k = args.pairs
        exact = np.full((k, k), np.nan)

        def each() -> None:
            for i in range(k):
                for j in range(k):
                    try:
                        exact[i, j] = planner.path(starts[i], goals[j]).length
                    except UnreachableError:
                        exact[i, j] = np.inf

        t_each = best(each, max(1, args.repeat // 2))
    per_matrix = t_matrix / cost.size
    per_each = t_each / (k * k)
    ok = np.isfinite(exact) & np.isfinite(cost[:k, :k])
    ratio = cost[:k, :k][ok] / exact[ok]
    print(f"Transit cost matrix — {len(starts)} × {len(goals)} poses, 4 restricted zones")
    print(f"  cost_matrix (all pairs):   {t_matrix:8.3f} s  = {1e6 * per_matrix:8.2f} µs/pair")
    print(
        f"  path() per pair (reference, {k} × {k}): {t_each:6.2f} s = {1e6 * per_each:8.1f} µs/pair"
    )
    print(f"  speed-up per pair: {per_each / per_matrix:,.0f}×")
    print(
        f"  estimate / exact path length on the reference pairs: median {np.median(ratio):.3f}, "
        f"min {ratio.min():.3f}, max {ratio.max():.3f} (an estimate, never below the straight "
        "distance; the router plans the exact path of the transits it keeps)"
    )


if __name__ == "__main__":
    main()
