"""Fusion against single passes: fly the same lines several times, detect, fuse, score.

    python bench/fusion.py [--scenario sinaloa] [--lines 4] [--passes 3] [--half-length 700]
                           [--seed N] [--jobs N] [--out DIR] [--json PATH]

The lines over sites of a scenario's plan (as the demo picks them, cut to ``--half-length``
either side of a site) are flown ``--passes`` times, one revisit interval apart, by
:func:`vigia.sense.simulate.simulate_mission`; every pass goes through ``vigia detect`` (the
simulated weather analysis gives the wind) and the detections of all passes through
:func:`vigia.evaluation.sites.evaluate_sites`, which fuses each pass alone and all passes
together and scores both against the simulated truth (site recall and precision, median
location error, class accuracy). Truth is joined only in the scoring. One BLAS thread.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from vigia.detect.detection import read_detections
from vigia.detect.files import detect_files
from vigia.evaluation.sites import evaluate_sites
from vigia.memory import tune_for_arrays
from vigia.plan.planner import flight_params, plan_areas
from vigia.platform import load_platform
from vigia.sense.simulate import (
    daylight_departure,
    line_times,
    lines_over_sites,
    simulate_mission,
)
from vigia.world.scenario import load_scenario
from vigia.world.world import build_world


def main() -> None:
    """Run the passes and print fused against single-pass scores."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="sinaloa")
    ap.add_argument("--lines", type=int, default=4)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--half-length", type=float, default=700.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="lines detected at once (processes)")
    ap.add_argument("--out", type=Path, default=Path("bench-fusion"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    sc = load_scenario(args.scenario)
    platform = load_platform("mq9")
    mission = plan_areas(
        sc.name,
        sc.partner,
        sc.areas,
        flight_params(platform),
        base_icao=sc.base_icao,
        exclusions=sc.exclusions,
    )
    world = build_world(sc, seed=args.seed)
    times = line_times(mission, daylight_departure(mission, sc.window_start, sc.window_end))
    lines = lines_over_sites(mission, world, args.lines, args.half_length, times)
    with threadpool_limits(1):
        sim = simulate_mission(
            world, mission, platform, args.out, lines=lines, passes=args.passes, seed=args.seed
        )
        cubes = [p for ln in sim.lines for p in (ln.vswir, ln.lwir)]
        run = detect_files(
            cubes, args.out / "detections", weather=sim.weather, chips=False, jobs=args.jobs
        )
    assert sim.truth_geojson is not None
    truth = json.loads(sim.truth_geojson.read_text())
    detections, searched = read_detections(run.detections_path)
    res = evaluate_sites(truth, detections, searched)
    res["scenario"] = args.scenario
    res["lines"] = [ln.line_id for ln in lines]
    res["seconds"] = round(time.perf_counter() - t0, 1)
    print(
        f"Fusion benchmark — {args.scenario}, {len(lines)} lines × {args.passes} passes "
        f"({res['seconds']:.0f} s); sites reported at confidence ≥ {res['report_at']}"
    )
    print("                     reported  matched/observable  recall  precision  median m  class")
    for name in ("single_pass", "fused"):
        r = res[name]

        def f(v: float | None, fmt: str) -> str:
            return "–" if v is None else format(v, fmt)

        print(
            f"  {'each pass alone' if name == 'single_pass' else 'all passes fused':18} "
            f"{r['reported']:8d}  {r['matched']:8d}/{r['observable']:<9d} "
            f"{f(r['recall'], '6.2f')}  {f(r['precision'], '9.2f')}  "
            f"{f(r['median_location_error_m'], '8.1f')}  {f(r['class_accuracy'], '5.2f')}"
        )
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    tune_for_arrays()  # as the CLI does (vigia.memory)
    main()
