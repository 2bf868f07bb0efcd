"""Fusion against single passes: fly the same lines several times, detect, fuse, score.

    python bench/fusion.py [--scenario sinaloa] [--lines 4] [--passes 3] [--half-length 700]
                           [--seed N] [--jobs N] [--out DIR] [--json PATH] [--figure PNG]
    python bench/fusion.py --rescore --out DIR [--scenario S --seed N] [--json PATH]
    python bench/fusion.py --pool RUN.json... [--figure PNG]

The lines over sites of a scenario's plan (as the demo picks them, cut to ``--half-length``
either side of a site) are flown ``--passes`` times, one revisit interval apart, by
:func:`vigia.sense.simulate.simulate_mission`; every pass goes through ``vigia detect`` (the
simulated weather analysis gives the wind) and the detections of all passes through
:func:`vigia.evaluation.sites.evaluate_sites`, which fuses each pass alone and all passes
together and scores both against the simulated truth (site recall and precision, median
location error, class accuracy). Truth is joined only in the scoring. One BLAS thread.

Besides the figures at the reporting confidence, it compares the two where pooling passes does
not favour either (:func:`vigia.evaluation.sites.compare_rankings`): fused precision at the
single passes' recall, and the average precision over every confidence threshold; ``--figure``
draws both precision–recall curves. ``--rescore`` scores a run's saved ``--out`` directory
(its ``truth.geojson`` and ``detections/``) again without flying or detecting. ``--pool``
pools the ``--json`` files of several runs (their rankings concatenated, observable sites
summed) without flying anything again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from vigia.detect.detection import read_detections
from vigia.detect.files import detect_files
from vigia.evaluation.sites import (
    compare_rankings,
    evaluate_sites,
    median_emission_error,
    operating_points,
)
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


def _fmt(v: float | None, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def _pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool several runs' scores: counts summed, rankings concatenated."""
    out: dict[str, Any] = {"report_at": runs[0]["report_at"], "passes": runs[0]["passes"]}
    for name in ("single_pass", "fused"):
        rs = [r[name] for r in runs if r.get(name)]
        rep = sum(r["reported"] for r in rs)
        hit = sum(r["matched"] for r in rs)
        obs = sum(r["observable"] for r in rs)
        errs = [e for r in rs for e in r.get("location_errors_m", [])]
        rates = [x for r in rs for x in r.get("emission_rates", [])]
        out[name] = {
            "reported": rep,
            "matched": hit,
            "observable": obs,
            "false_sites": rep - hit,
            "recall": round(hit / obs, 3) if obs else None,
            "precision": round(hit / rep, 3) if rep else None,
            "median_location_error_m": round(float(np.median(errs)), 2) if errs else None,
            "class_accuracy": round(
                sum((r["class_accuracy"] or 0.0) * r["matched"] for r in rs) / hit, 3
            )
            if hit
            else None,
            "lab_accuracy": round(
                sum((r["lab_accuracy"] or 0.0) * r["matched"] for r in rs) / hit, 3
            )
            if hit
            else None,
            "ranking": [x for r in rs for x in r["ranking"]],
            "emission_rates": rates,
            "median_emission_error": median_emission_error(rates),
            # Truth site ids repeat across worlds: keep them apart by run.
            "classes": [
                [f"{i}/{t}", ok]
                for i, run in enumerate(runs)
                if run.get(name)
                for t, ok in run[name].get("classes", [])
            ],
        }
    out["comparison"] = compare_rankings(out["single_pass"], out["fused"], out["report_at"])
    return out


def _report(res: dict[str, Any], title: str) -> None:
    print(f"{title}; sites reported at confidence ≥ {res['report_at']}")
    print("                     reported  matched/observable  recall  precision  median m  class")
    for name in ("single_pass", "fused"):
        r = res[name]
        print(
            f"  {'each pass alone' if name == 'single_pass' else 'all passes fused':18} "
            f"{r['reported']:8d}  {r['matched']:8d}/{r['observable']:<9d} "
            f"{_fmt(r['recall'], '6.2f')}  {_fmt(r['precision'], '9.2f')}  "
            f"{_fmt(r['median_location_error_m'], '8.1f')}  {_fmt(r['class_accuracy'], '5.2f')}"
        )
    for name in ("single_pass", "fused"):
        rates = res[name].get("emission_rates") or []
        which = "each pass alone" if name == "single_pass" else "all passes fused"
        print(
            f"Emission rate of reported matches ({which}): median |error| "
            f"{_fmt(median_emission_error(rates), '.1%')} over {len(rates)} rates"
        )
    multi = [r for r in res["fused"].get("emission_rates") or [] if r[5] > 1]
    if multi:
        n = sum(len(r[6]) for r in multi)
        print(
            f"  the {len(multi)} fused rates from ≥ 2 passes: median |error| "
            f"{_fmt(median_emission_error(multi), '.1%')}; their {n} passes' own rates "
            f"{_fmt(median_emission_error(multi, passes=True), '.1%')}"
        )
    c = res.get("comparison")
    if c is None:
        return
    pt = c["fused_at_that_recall"]
    at = (
        "never reaches it"
        if pt is None
        else f"precision {pt['precision']:.2f} ({pt['matched']}/{pt['reported']}, recall "
        f"{pt['recall']:.2f}) at confidence ≥ {pt['confidence']:.2f}"
    )
    print(
        f"At the single passes' recall {c['single_recall']:.2f} (their precision "
        f"{_fmt(c['single_precision'], '.2f')}): fused {at}"
    )
    if c.get("sites_found_by_both"):
        print(
            f"Class right on the {c['sites_found_by_both']} truth sites both found: each pass "
            f"alone {_fmt(c['single_class_accuracy_on_them'], '.2f')} of its sightings, all "
            f"passes fused {_fmt(c['fused_class_accuracy_on_them'], '.2f')}"
        )
    print(
        f"Average precision over all thresholds: each pass alone "
        f"{_fmt(c['single_average_precision'], '.3f')}, all passes fused "
        f"{_fmt(c['fused_average_precision'], '.3f')}"
    )


def _figure(res: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, label, style in (
        ("single_pass", "each pass alone", "o--"),
        ("fused", "all passes fused", "s-"),
    ):
        r = res[name]
        pts = operating_points([(float(c), bool(m)) for c, m in r["ranking"]], r["observable"])
        if not pts:
            continue
        ax.plot(
            [0.0] + [p["recall"] for p in pts],
            [pts[0]["precision"]] + [p["precision"] for p in pts],
            style,
            drawstyle="steps-post",
            ms=3,
            label=f"{label} (n = {r['observable']} observable)",
        )
    ax.set_xlabel("recall (truth sites found / observable)")
    ax.set_ylabel("precision (reported sites that are true)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.text(
        0.01,
        0.01,
        "Source: bench/fusion.py on Vigía's simulated worlds (modelled data)",
        fontsize=6,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> None:
    """Run the passes (or pool saved runs) and print fused against single-pass scores."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="sinaloa")
    ap.add_argument("--lines", type=int, default=4)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--half-length", type=float, default=700.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="lines detected at once (processes)")
    ap.add_argument("--out", type=Path, default=Path("bench-fusion"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--figure", type=Path, help="precision–recall curves (PNG)")
    ap.add_argument("--pool", type=Path, nargs="+", help="pool the --json files of runs")
    ap.add_argument(
        "--rescore", action="store_true", help="score the saved run in --out again, no flying"
    )
    args = ap.parse_args()
    if args.pool:
        runs = [json.loads(p.read_text()) for p in args.pool]
        res = _pooled(runs)
        title = "Fusion benchmark — " + ", ".join(
            f"{r.get('scenario', '?')} seed {r.get('seed', '?')}" for r in runs
        )
        _report(res, f"{title} (pooled)")
        if args.figure:
            _figure(res, args.figure, f"{len(runs)} runs pooled ({res['passes']} line passes each)")
        return
    t0 = time.perf_counter()
    if args.rescore:
        truth = json.loads((args.out / "truth.geojson").read_text())
        detections, searched = read_detections(args.out / "detections" / "detections.geojson")
        res = evaluate_sites(truth, detections, searched)
        res.update(scenario=args.scenario, seed=args.seed, rescored=str(args.out))
        _report(res, f"Fusion benchmark — {args.scenario} seed {args.seed}, rescored {args.out}")
        if args.figure:
            _figure(res, args.figure, f"{args.scenario} seed {args.seed}")
        if args.json:
            args.json.write_text(json.dumps(res, indent=1))
        return
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
    res["seed"] = args.seed
    res["lines"] = [ln.line_id for ln in lines]
    res["seconds"] = round(time.perf_counter() - t0, 1)
    title = (
        f"Fusion benchmark — {args.scenario} seed {args.seed}, {len(lines)} lines × "
        f"{args.passes} passes ({res['seconds']:.0f} s)"
    )
    _report(res, title)
    if args.figure:
        _figure(res, args.figure, title)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    tune_for_arrays()  # as the CLI does (vigia.memory)
    main()
