"""Benchmark: the demo's simulate and detect steps with and without :mod:`vigia.memory`.

    python bench/memory.py [--lines 1] [--repeat 3] [--json PATH]

Each run is a fresh process that flies ``--lines`` of the demo's lines over the built-in
``sinaloa`` world (:func:`vigia.sense.simulate.simulate_mission`, as ``vigia demo`` does) and
detects on them (:func:`vigia.detect.files.detect_files`, one process). The reference is the
same work with the C heap's and NumPy's defaults (glibc returns every freed block above 32 MB
to the kernel; NumPy asks for transparent huge pages); ``tuned`` is what the ``vigia`` command
runs with (:func:`vigia.memory.tune_for_arrays`). Both run in the same session, alternately,
with one BLAS thread; the best of ``--repeat`` runs by wall time is reported, with user and
system CPU time and minor page faults (``getrusage``), and the ratio reference / tuned.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_VARIABLES = ("NUMPY_MADVISE_HUGEPAGE", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")


def _usage() -> tuple[float, float, int]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime, me.ru_stime, me.ru_minflt


def _child(variant: str, lines: int, out_dir: Path) -> dict[str, Any]:
    # One run, in this (fresh) process; imports after the variant is set up.
    if variant == "tuned":
        from vigia.memory import tune_for_arrays

        tune_for_arrays()
    from threadpoolctl import threadpool_limits

    from vigia.demo import DEMO_HALF_LENGTH_M
    from vigia.detect.files import detect_files
    from vigia.plan.planner import flight_params, plan_scenario
    from vigia.platform import load_platform
    from vigia.sense.simulate import (
        daylight_departure,
        line_times,
        lines_over_sites,
        simulate_mission,
    )
    from vigia.world.scenario import load_scenario
    from vigia.world.world import build_world

    out: dict[str, Any] = {}
    with threadpool_limits(1):
        sc = load_scenario("sinaloa")
        platform = load_platform("mq9")
        mission = plan_scenario(sc, flight_params(platform))
        world = build_world(sc, seed=0)
        times = line_times(mission, daylight_departure(mission, sc.window_start, sc.window_end))
        flown = lines_over_sites(mission, world, lines, DEMO_HALF_LENGTH_M, times)
        for step in ("simulate", "detect"):
            u0, s0, f0 = _usage()
            t0 = time.perf_counter()
            if step == "simulate":
                result = simulate_mission(world, mission, platform, out_dir, lines=flown)
            else:
                cubes = [p for ln in result.lines for p in (ln.vswir, ln.lwir)]
                detect_files(cubes, out_dir / "detections", weather=result.weather, jobs=1)
            u1, s1, f1 = _usage()
            out[step] = {
                "wall_s": time.perf_counter() - t0,
                "user_s": u1 - u0,
                "sys_s": s1 - s0,
                "minor_faults": f1 - f0,
            }
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


def _run(variant: str, lines: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in _VARIABLES}
    with tempfile.TemporaryDirectory(prefix="vigia-bench-memory-") as tmp:
        done = subprocess.run(
            [sys.executable, __file__, "--child", variant, "--lines", str(lines), "--out", tmp],
            env=env,
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise SystemExit(f"bench/memory.py: the {variant} run failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Run both variants alternately and print the best of each and their ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", choices=("reference", "tuned"), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.lines, args.out)))
        return
    runs: dict[str, list[dict[str, Any]]] = {"reference": [], "tuned": []}
    for i in range(args.repeat):
        for variant in runs:
            r = _run(variant, args.lines)
            runs[variant].append(r)
            total = r["simulate"]["wall_s"] + r["detect"]["wall_s"]
            print(f"run {i + 1} {variant:9s} {total:6.1f} s", file=sys.stderr, flush=True)
    best = {
        v: min(rs, key=lambda r: r["simulate"]["wall_s"] + r["detect"]["wall_s"])
        for v, rs in runs.items()
    }
    print(
        f"Memory settings — demo's simulate + detect, {args.lines} line(s), best of "
        f"{args.repeat} (load average {os.getloadavg()[0]:.1f} at the end)"
    )
    print(f"{'step':9s} {'':9s} {'wall s':>7s} {'user s':>7s} {'sys s':>7s} {'faults':>10s}")
    for step in ("simulate", "detect"):
        for v in ("reference", "tuned"):
            m = best[v][step]
            print(
                f"{step:9s} {v:9s} {m['wall_s']:7.1f} {m['user_s']:7.1f} {m['sys_s']:7.1f} "
                f"{m['minor_faults']:10d}"
            )
        ratio = best["reference"][step]["wall_s"] / best["tuned"][step]["wall_s"]
        print(f"{step:9s} reference / tuned wall time: {ratio:.2f}x")
    for v in ("reference", "tuned"):
        print(f"peak RSS {v}: {best[v]['maxrss_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"lines": args.lines, "runs": runs, "best": best}))


if __name__ == "__main__":
    main()
