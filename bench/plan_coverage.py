"""Coverage-planning benchmark: Vigía against trajgenpy (measured) and Fields2Cover (quoted).

Run ``python bench/plan_coverage.py [--repeat N] [--json PATH] [--png PATH]``.

Two cases, in a planar UTM frame (EPSG:32613) whose origin is Culiacán (−107.39, 24.80):

1. a 20 × 15 km rectangle with a 4 × 3 km restricted hole in its middle, 2 km swath;
2. an L-shaped area 18 × 18 km (arms 8 km wide) with two restricted holes, 1.5 km swath.

Both with a 1.9 km minimum turn radius (MQ-9 class) and no sidelap. Each planner runs with its
best settings; each figure is the best of ``--repeat`` runs with BLAS pinned to one thread.

trajgenpy 0.3.1 (Boustrophedon cell decomposition, ethz-asl/polygon_coverage_planning) returns
one boustrophedon polyline per cell and leaves the cells unconnected; it knows nothing of turn
radii. Its path is measured as it returns it, cells taken in its order and joined here by
straight segments (which is said in the output). Fields2Cover does not build here (its build
downloads OR-tools): its figures are quoted from ``/work/shared/REFERENCES.md``.

The case builders and the measurement are importable (``tests/plan/test_metrics.py`` reuses the
case geometries); trajgenpy, Vigía's planner and matplotlib are imported only when used.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from vigia.geo import LocalFrame
from vigia.plan.metrics import (
    coverage_lower_bound,
    covered_fraction,
    length_inside,
    min_turn_radius,
)

ORIGIN_LONLAT = (-107.39, 24.80)  # Culiacán, Sinaloa
TURN_RADIUS_M = 1900.0
SPEED_M_S = 102.8
JOIN_GAP_M = 1.0  # pieces closer than this count as one continuous path

INSIDE_TOLERANCE_M = 1.0  # pieces never deeper than this inside a hole count as on its edge
Segment = tuple[tuple[float, float], tuple[float, float]]
T = TypeVar("T")

# Fields2Cover 2.1.0 does not build here; figures from REFERENCES.md "Figures measured here".
FIELDS2COVER_QUOTED: dict[str, dict[str, Any]] = {
    "rectangle": {
        "length_km": 197.3,
        "ratio_to_area_over_swath": 1.37,
        "covered_pct": 91.7,
        "inside_restricted_m": 10400.0,
        "note": "quoted from REFERENCES.md, not run here",
    },
    "l_shape": {
        "ratio_to_turn_aware_bound": "1.5-1.7 (flyable settings)",
        "inside_restricted_m": "15000-23000",
        "note": "quoted from REFERENCES.md for an L shape of the same size with two holes "
        "of its own; not run here",
    },
}


@dataclass(frozen=True)
class Case:
    """One benchmark case in planar metres (EPSG ``epsg``)."""

    name: str
    area: Polygon  # with the restricted holes cut out
    restricted: MultiPolygon
    swath: float
    radius: float
    epsg: int
    origin: tuple[float, float]  # planar coordinates of the frame's origin (Culiacán)

    @property
    def outer(self) -> Polygon:
        """The area without its holes."""
        return Polygon(self.area.exterior)


def frame_origin() -> tuple[LocalFrame, tuple[float, float]]:
    """Return the UTM frame around Culiacán and Culiacán's planar coordinates (whole metres)."""
    frame = LocalFrame.around(*ORIGIN_LONLAT)
    xy = frame.to_xy(np.array([ORIGIN_LONLAT], dtype=np.float64))[0]
    return frame, (float(round(xy[0])), float(round(xy[1])))


def _make_case(
    name: str, outer: Polygon, holes: Sequence[Polygon], swath: float, origin: tuple[float, float]
) -> Case:
    frame, _ = frame_origin()
    ox, oy = origin
    outer_t = affinity.translate(outer, ox, oy)
    holes_t = [affinity.translate(h, ox, oy) for h in holes]
    area = Polygon(outer_t.exterior.coords, [h.exterior.coords for h in holes_t])
    if not area.is_valid:
        raise ValueError(f"case {name}: invalid geometry ({shapely.is_valid_reason(area)})")
    return Case(name, area, MultiPolygon(holes_t), swath, TURN_RADIUS_M, frame.epsg, origin)


def case_rectangle(origin: tuple[float, float] | None = None) -> Case:
    """Case 1: 20 × 15 km rectangle, 4 × 3 km restricted hole in its middle, 2 km swath.

    Parameters
    ----------
    origin : (x, y) or None
        Planar position of the south-west corner in metres; Culiacán's UTM position if None.
    """
    o = frame_origin()[1] if origin is None else origin
    outer = box(0.0, 0.0, 20000.0, 15000.0)
    hole = box(8000.0, 6000.0, 12000.0, 9000.0)
    return _make_case("rectangle", outer, [hole], 2000.0, o)


def case_l_shape(origin: tuple[float, float] | None = None) -> Case:
    """Case 2: L shape 18 × 18 km, arms 8 km wide, two restricted holes, 1.5 km swath.

    Hole A is a 3 × 2.5 km box in the east arm; hole B a 2.5 km square turned 30° in the
    north arm (so that neither hole is aligned with the other or with the outline).
    """
    o = frame_origin()[1] if origin is None else origin
    outer = Polygon([(0, 0), (18000, 0), (18000, 8000), (8000, 8000), (8000, 18000), (0, 18000)])
    hole_a = box(11000.0, 3000.0, 14000.0, 5500.0)
    hole_b = affinity.rotate(box(2750.0, 11750.0, 5250.0, 14250.0), 30.0, origin="centroid")
    return _make_case("l_shape", outer, [hole_a, hole_b], 1500.0, o)


def cases(origin: tuple[float, float] | None = None) -> list[Case]:
    """Both benchmark cases."""
    return [case_rectangle(origin), case_l_shape(origin)]


@dataclass
class Plan:
    """What a planner returned, reduced to what is measured."""

    planner: str
    pieces: list[NDArray[np.float64]]  # (M, 2) planar polylines in flight order
    lines: list[Segment]  # imaging lines (start, end)
    length_m: float  # of the pieces, as the planner reports it (exact for Vigía)
    notes: list[str] = field(default_factory=list)


def _gaps(pieces: Sequence[NDArray[np.float64]]) -> list[float]:
    return [float(np.hypot(*(b[0] - a[-1]))) for a, b in itertools.pairwise(pieces)]


def joined_path(pieces: Sequence[NDArray[np.float64]]) -> NDArray[np.float64]:
    """Concatenate polylines in order; gaps between them become straight segments."""
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in pieces], axis=0)


def measure(case: Case, plan: Plan) -> dict[str, Any]:
    """Measure a plan against a case (planar metres)."""
    gaps = _gaps(plan.pieces)
    path = joined_path(plan.pieces)
    join_m = float(sum(gaps))
    total = plan.length_m + join_m
    bound, _ = coverage_lower_bound(case.area, case.swath, case.radius)
    tol = INSIDE_TOLERANCE_M
    own_inside = sum(length_inside(p, case.restricted, tol) for p in plan.pieces)
    tight = min_turn_radius(path)
    return {
        "planner": plan.planner,
        "length_km": total / 1000.0,
        "joins_km": join_m / 1000.0,
        "ratio_to_bound": total / bound,
        "ratio_to_area_over_swath": total / (case.area.area / case.swath),
        "covered_pct": 100.0 * covered_fraction(plan.lines, case.swath, case.area),
        "inside_restricted_m": length_inside(path, case.restricted, tol),
        "inside_restricted_strict_m": length_inside(path, case.restricted),
        "inside_restricted_own_m": own_inside,
        "tightest_turn_m": tight if math.isfinite(tight) else None,
        "flyable_at_radius": bool(tight >= 0.99 * case.radius),
        "connected": not any(g >= JOIN_GAP_M for g in gaps),
        "pieces": len(plan.pieces),
        "n_lines": len(plan.lines),
        "notes": list(plan.notes),
    }


# --- trajgenpy ---------------------------------------------------------------------------


@dataclass
class TrajgenpyRoute:
    """What trajgenpy returns for a case, and the variant taken for each cell."""

    cells: list[Polygon]
    pieces: list[NDArray[np.float64]]
    choices: list[tuple[int, bool, bool]]  # (cell index, clockwise, reversed)
    notes: list[str]


def trajgenpy_route(case: Case) -> TrajgenpyRoute:
    """Plan a case with trajgenpy 0.3.1 at its best settings (the part that is timed).

    Boustrophedon cell decomposition of the outline with the holes as obstacles (trajgenpy
    picks the sweep direction of each cell), one connected sweep per cell
    (``connect_sweeps=True``: sweeps plus the transitions it routes along the cell boundary),
    line offset = swath. Of its two start sides (``clockwise``) and two traversal senses, each
    cell takes the variant that starts nearest the previous cell's end; cells stay in the
    order trajgenpy returns them. Nothing bends its corners.
    """
    from trajgenpy import Geometries as tg

    cells = tg.decompose_polygon(case.outer, case.restricted)
    pieces: list[NDArray[np.float64]] = []
    choices: list[tuple[int, bool, bool]] = []
    notes: list[str] = []
    end: NDArray[np.float64] | None = None
    for i, cell in enumerate(cells):
        variants: list[tuple[NDArray[np.float64], tuple[int, bool, bool]]] = []
        for cw in (True, False):
            try:
                sweep = tg.generate_sweep_pattern(
                    cell, case.swath, clockwise=cw, connect_sweeps=True
                )
            except ValueError as exc:
                notes.append(f"cell {i}: {exc}")
                continue
            xy = np.asarray(sweep[0].coords, dtype=np.float64)
            if xy.shape[0] >= 2:
                variants += [(xy, (i, cw, False)), (xy[::-1], (i, cw, True))]
        if not variants:
            continue
        if end is None:
            best = variants[0]
        else:
            here = end
            best = min(variants, key=lambda v: float(np.hypot(*(v[0][0] - here))))
        pieces.append(best[0])
        choices.append(best[1])
        end = best[0][-1]
    notes.append(
        f"{len(cells)} cells returned unconnected; joined here by straight segments "
        "in trajgenpy's cell order"
    )
    return TrajgenpyRoute(cells, pieces, choices, notes)


def trajgenpy_plan(case: Case, route: TrajgenpyRoute) -> Plan:
    """Turn a trajgenpy route into a :class:`Plan`; its imaging lines are its sweeps.

    The sweeps are asked for again with ``connect_sweeps=False`` (the connected polyline
    mixes sweeps and boundary-following transitions).
    """
    from trajgenpy import Geometries as tg

    lines: list[Segment] = []
    for i, cw, _ in route.choices:
        for seg in tg.generate_sweep_pattern(route.cells[i], case.swath, clockwise=cw):
            (x0, y0), (x1, y1) = seg.coords
            lines.append(((float(x0), float(y0)), (float(x1), float(y1))))
    length = float(sum(LineString(p).length for p in route.pieces))
    return Plan("trajgenpy", route.pieces, lines, length, list(route.notes))


def plan_trajgenpy(case: Case) -> Plan:
    """Plan a case with trajgenpy (see :func:`trajgenpy_route`)."""
    return trajgenpy_plan(case, trajgenpy_route(case))


# --- Vigía -------------------------------------------------------------------------------


def plan_vigia(case: Case) -> Plan:
    """Plan a case with Vigía's planner (``vigia.plan.route.plan_sorties``), one sortie, no base."""
    from vigia.plan.route import plan_sorties

    sorties = plan_sorties(
        areas=[(case.name, case.area)],
        restricted=case.restricted,
        swath=case.swath,
        sidelap=0.0,
        radius=case.radius,
        speed=SPEED_M_S,
        base=None,
        max_flight_s=None,
    )
    pieces = [np.asarray(s.path.xy, dtype=np.float64) for s in sorties]
    lines: list[Segment] = [
        (
            (float(ln.start[0]), float(ln.start[1])),
            (float(ln.end[0]), float(ln.end[1])),
        )
        for s in sorties
        for ln in s.lines
    ]
    length = float(sum(s.path.length for s in sorties))
    notes = [f"{len(sorties)} sortie(s)"] if len(sorties) != 1 else []
    return Plan("vigia", pieces, lines, length, notes)


# --- running -----------------------------------------------------------------------------


def best_time(fn: Callable[[], T], repeat: int) -> tuple[T, float]:
    """Run ``fn`` ``repeat`` times; return its last result and the best wall time in seconds."""
    best = math.inf
    result: list[T] = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = [fn()]
        best = min(best, time.perf_counter() - t0)
    return result[0], best


def _trajgenpy_here(case: Case, repeat: int) -> tuple[Plan, float]:
    route, secs = best_time(lambda: trajgenpy_route(case), repeat)
    return trajgenpy_plan(case, route), secs


def timed_trajgenpy(case: Case, repeat: int) -> tuple[Plan, float]:
    """Plan with trajgenpy in a separate process; only :func:`trajgenpy_route` is timed.

    Once trajgenpy's compiled extension has run in a process, shapely's overlays in that process
    fail with GEOS "Ring edge missing" errors (seen here with trajgenpy 0.3.1 and shapely 2.2),
    so it runs in a spawned process of its own and cannot disturb the other planners.
    """
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_trajgenpy_here, (case, repeat))


def timed_vigia(case: Case, repeat: int) -> tuple[Plan, float]:
    """Plan with Vigía; the whole call to ``plan_sorties`` is timed."""
    return best_time(lambda: plan_vigia(case), repeat)


def _vigia_available() -> str | None:
    try:
        from vigia.plan.route import plan_sorties  # noqa: F401
    except ImportError as exc:
        return f"Vigía's planner is not importable ({exc}); measuring the references only"
    return None


def _fmt_row(name: str, m: dict[str, Any]) -> str:
    tight = m["tightest_turn_m"]
    tight_s = "none" if tight is None else ("cusp" if tight == 0.0 else f"{tight:,.0f}")
    return (
        f"  {name:<22} {m['length_km']:>9.1f} {m['ratio_to_bound']:>7.2f} "
        f"{m['covered_pct']:>7.1f} {m['inside_restricted_m']:>10,.0f} {tight_s:>8} "
        f"{m['time_s']:>9.4f} {'yes' if m['connected'] else 'no':>9}"
    )


def run(repeat: int = 5) -> dict[str, Any]:
    """Run the benchmark; return everything measured as a JSON-able dict (and the paths)."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    vigia_missing = _vigia_available()
    frame, origin = frame_origin()
    out: dict[str, Any] = {
        "origin_lonlat": list(ORIGIN_LONLAT),
        "epsg": frame.epsg,
        "origin_xy": list(origin),
        "repeat": repeat,
        "blas_threads": 1,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "versions": _versions(),
        "cases": [],
    }
    if vigia_missing:
        out["vigia_missing"] = vigia_missing
    paths: dict[str, dict[str, NDArray[np.float64]]] = {}
    with threadpool_limits(1):
        for case in cases():
            bound, theta = coverage_lower_bound(case.area, case.swath, case.radius)
            entry: dict[str, Any] = {
                "name": case.name,
                "area_km2": case.area.area / 1e6,
                "restricted_km2": case.restricted.area / 1e6,
                "swath_m": case.swath,
                "radius_m": case.radius,
                "area_over_swath_km": case.area.area / case.swath / 1000.0,
                "lower_bound_km": bound / 1000.0,
                "lower_bound_direction_deg": math.degrees(theta),
                "planners": {},
                "fields2cover_quoted": FIELDS2COVER_QUOTED[case.name],
            }
            runners: list[tuple[str, Callable[[Case, int], tuple[Plan, float]]]] = [
                ("trajgenpy", timed_trajgenpy)
            ]
            if not vigia_missing:
                runners.insert(0, ("vigia", timed_vigia))
            paths[case.name] = {}
            for name, fn in runners:
                try:
                    plan, secs = fn(case, repeat)
                except Exception as exc:  # a failing planner is a result, not a crash
                    entry["failures"] = {**entry.get("failures", {}), name: repr(exc)}
                    continue
                m = measure(case, plan)
                m["time_s"] = secs
                entry["planners"][name] = m
                paths[case.name][name] = joined_path(plan.pieces)
            p = entry["planners"]
            if "vigia" in p and "trajgenpy" in p:
                entry["vigia_vs"] = {
                    "trajgenpy_length_ratio": p["vigia"]["length_km"] / p["trajgenpy"]["length_km"],
                    "trajgenpy_time_ratio": p["vigia"]["time_s"] / p["trajgenpy"]["time_s"],
                }
                q = FIELDS2COVER_QUOTED[case.name]
                if "length_km" in q:
                    entry["vigia_vs"]["fields2cover_quoted_length_ratio"] = (
                        p["vigia"]["length_km"] / q["length_km"]
                    )
            out["cases"].append(entry)
    out["_paths"] = paths
    return out


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    v: dict[str, str] = {}
    for pkg in ("vigia", "trajgenpy", "shapely", "numpy"):
        try:
            v[pkg] = version(pkg)
        except PackageNotFoundError:
            v[pkg] = "not installed"
    return v


def report(out: dict[str, Any]) -> str:
    """Format the results as text."""
    lines = [
        f"Coverage planning benchmark — frame EPSG:{out['epsg']} around Culiacán "
        f"{tuple(out['origin_lonlat'])}, BLAS threads 1, best of {out['repeat']} runs",
        f"versions: {out['versions']}",
    ]
    if "vigia_missing" in out:
        lines.append(f"NOTE: {out['vigia_missing']}")
    head = (
        f"  {'planner':<22} {'len km':>9} {'/bound':>7} {'cover%':>7} {'in rstr m':>10} "
        f"{'turn m':>8} {'time s':>9} {'connected':>9}"
    )
    for c in out["cases"]:
        lines += [
            "",
            f"Case {c['name']}: {c['area_km2']:.0f} km² to cover "
            f"({c['restricted_km2']:.1f} km² restricted), swath {c['swath_m']:.0f} m, "
            f"turn radius {c['radius_m']:.0f} m",
            f"  area/swath {c['area_over_swath_km']:.1f} km; turn-aware lower bound "
            f"{c['lower_bound_km']:.1f} km (lines at {c['lower_bound_direction_deg']:.0f}° "
            "CCW from east)",
            head,
        ]
        for name, err in c.get("failures", {}).items():
            lines.append(f"  {name:<22} FAILED: {err}")
        for name, m in c["planners"].items():
            lines.append(_fmt_row(name, m))
            if name == "trajgenpy":
                lines.append(
                    f"  {'':<22} straight joins added here {m['joins_km']:.1f} km; "
                    f"inside restricted: {m['inside_restricted_own_m']:,.0f} m on its own "
                    f"cells, {m['inside_restricted_strict_m']:,.0f} m counting centimetre "
                    "grazes of hole edges"
                )
            if not m["flyable_at_radius"]:
                lines.append(f"  {'':<22} NOT flyable at a {c['radius_m']:.0f} m turn radius")
            for note in m["notes"]:
                lines.append(f"  {'':<22} {note}")
        q = c["fields2cover_quoted"]
        if "length_km" in q:
            lines.append(
                f"  {'fields2cover (quoted)':<22} {q['length_km']:>9.1f} "
                f"(= {q['ratio_to_area_over_swath']:.2f} × area/swath; "
                f"{q['length_km'] / c['lower_bound_km']:.2f} × this bound) "
                f"cover {q['covered_pct']:.1f} %, {q['inside_restricted_m']:,.0f} m inside"
                " — quoted, not run"
            )
        else:
            lines.append(
                f"  {'fields2cover (quoted)':<22} {q['ratio_to_turn_aware_bound']} × bound, "
                f"{q['inside_restricted_m']} m inside — quoted, not run, its own holes"
            )
        if "vigia_vs" in c:
            vs = c["vigia_vs"]
            extra = ""
            if "fields2cover_quoted_length_ratio" in vs:
                extra = (
                    f"; length vs Fields2Cover (quoted) "
                    f"{vs['fields2cover_quoted_length_ratio']:.2f}×"
                )
            lines.append(
                f"  Vigía vs trajgenpy (same run): length {vs['trajgenpy_length_ratio']:.2f}×, "
                f"time {vs['trajgenpy_time_ratio']:.3g}×{extra}"
            )
    return "\n".join(lines)


def figure(out: dict[str, Any], path: Path) -> None:
    """Draw both planners' paths for both cases into a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    case_by_name = {c.name: c for c in cases()}
    names = [c["name"] for c in out["cases"]]
    planners = sorted({p for c in out["cases"] for p in c["planners"]}, reverse=True)
    fig = Figure(figsize=(5.5 * len(planners), 5.0 * len(names)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(names), len(planners), squeeze=False)
    for i, cname in enumerate(names):
        case = case_by_name[cname]
        ox, oy = case.origin
        for j, pname in enumerate(planners):
            ax = axes[i][j]
            x, y = case.area.exterior.xy
            ax.fill(np.asarray(x) - ox, np.asarray(y) - oy, color="0.9", zorder=0)
            for hole in case.restricted.geoms:
                hx, hy = hole.exterior.xy
                ax.fill(np.asarray(hx) - ox, np.asarray(hy) - oy, color="tab:red", alpha=0.35)
            xy = out["_paths"][cname].get(pname)
            if xy is not None:
                ax.plot(xy[:, 0] - ox, xy[:, 1] - oy, lw=0.8, color="k")
                ax.plot(xy[0, 0] - ox, xy[0, 1] - oy, "o", color="tab:green", ms=4)
            m = next(c for c in out["cases"] if c["name"] == cname)["planners"].get(pname)
            title = f"{pname} — {cname}"
            if m is not None:
                title += f"\n{m['length_km']:.0f} km, {m['ratio_to_bound']:.2f}× bound"
            ax.set_title(title, fontsize=9)
            ax.set_aspect("equal")
            ax.set_xlabel("x − x₀ (m)", fontsize=8)
            ax.set_ylabel("y − y₀ (m)", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(str(path), dpi=120)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--repeat", type=int, default=5, help="runs per planner (best is kept)")
    ap.add_argument("--json", type=Path, help="write the results as JSON here")
    ap.add_argument("--png", type=Path, help="draw the paths into this PNG")
    args = ap.parse_args(argv)
    try:
        import trajgenpy  # noqa: F401
    except ImportError as exc:
        print(f"trajgenpy is needed: pip install 'vigia[bench]' ({exc})", file=sys.stderr)
        return 1
    out = run(repeat=max(3, args.repeat))
    print(report(out))
    failed = any(c.get("failures") for c in out["cases"])
    if args.json:
        data = {k: v for k, v in out.items() if k != "_paths"}
        args.json.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")
    if args.png:
        figure(out, args.png)
    return 1 if failed else 0


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


if __name__ == "__main__":
    sys.exit(main())
