"""Calibration of site confidence on a season of released sites with (SIMULATED) outcomes.

    python bench/calibration.py [--from DIR ...] [--scenarios sinaloa central] [--passes 3]
                                [--lines 4] [--half-length 700] [--seed 1 ...] [--runs DIR]
                                [--release-at 0.3] [--min-train 20] [--method auto]
                                [--out DIR] [--json PATH]

Sites and their raw fused confidence come from the real pipeline: a scenario's lines are flown
``--passes`` times, detected and fused, exactly as ``bench/fusion.py`` does it (it is run for
each scenario and seed into ``--runs``, or an output directory it already wrote is read with
``--from``: ``detections/detections.geojson`` and ``truth.geojson``).

**The season.** Each pass is a *release round* in time, released a demo-clock review and
release delay (:data:`vigia.demo_sharing.REVIEW_AFTER` + ``RELEASE_AFTER``) after the pass's
last line. Round ``k`` releases the sites of pass ``k`` fused alone (what a single flight would
have given) and of passes ``1..k`` fused together (what the store holds after ``k`` passes;
for ``k = 1`` the two are the same fusion, counted once). Every site whose confidence reaches
``--release-at`` is released, whatever its class: the confidence says "the site is real", the
outcome says "a lab was found", and it is the calibrator's job to learn the difference. The
default 0.3 is the lower edge of the revisit band (:data:`vigia.fuse.sites.REVISIT_BAND`):
below it not even another look is asked for, so no partner would be sent; ``--release-at 0``
releases everything (a wider spread of confidence, less realistic).

**Outcomes** are drawn by :func:`vigia.share.outcomes_sim.simulate_site_outcomes` from what the
simulated truth holds at each released site (matched by location) — SIMULATED partner
behaviour, not reported outcomes. Labels: dismantled/seizure 1, nothing_found 0, inactive and
no action excluded (:func:`vigia.share.calibration.outcome_labels`). Outcomes are ordered by the
time the partner acted and :func:`vigia.share.calibration.prospective_evaluation` scores raw
against calibrated confidence on each *next* outcome (calibrator refitted on the earlier ones
only); a paired bootstrap gives an interval on the Brier difference. Two references: the
running base rate (the mean of the earlier labels, ignoring confidence: what calibration must
beat to show the confidence carries information) and the AUC of the raw confidence (ranking,
which a monotone calibrator cannot change). The table also breaks the outcomes down by the fused
site class. A second evaluation keeps only the first release of each place (a truth site, or a
false site within the gate), because the rounds release the same places again and those
outcomes are not independent.

The reliability diagram (raw against calibrated; the calibrator fitted on all outcomes, so
in-sample) goes to ``--out``/calibration.png, the held-out one (prospective predictions) to
``--out``/calibration_prospective.png; both name their source. One BLAS thread.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

from vigia.demo_sharing import RELEASE_AFTER, REVIEW_AFTER
from vigia.detect.detection import Detection, SearchedLine, read_detections
from vigia.evaluation.sites import GATE_M
from vigia.fuse.association import distance_m
from vigia.fuse.sites import FusedSite, fuse
from vigia.report.calibration import draw_reliability, reliability_figure
from vigia.share.calibration import (
    AUTO_ISOTONIC_FROM,
    EPS,
    Calibrator,
    ProspectiveEvaluation,
    outcome_labels,
    prospective_evaluation,
    reliability,
    scores,
)
from vigia.share.outcomes_sim import SOURCE as OUTCOME_SOURCE
from vigia.share.outcomes_sim import simulate_site_outcomes

BENCH = Path(__file__).resolve().parent
_PASS = re.compile(r"-P(\d+)$")


@dataclass
class Release:
    """One released site and its SIMULATED partner outcome."""

    source: str
    scenario: str
    round: int
    fusion: str
    key: str
    lon: float
    lat: float
    confidence: float
    site_class: str
    released_at: datetime
    truth_site: str | None
    truth_kind: str | None
    truth_distance_m: float | None
    outcome: str | None
    actioned_at: datetime | None
    note: str


def _pass_of(line_id: str) -> int:
    m = _PASS.search(line_id)
    return int(m.group(1)) if m else 1


def _time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def run_fusion_bench(scenario: str, seed: int, args: argparse.Namespace) -> Path:
    """Fly, detect (``bench/fusion.py``) into ``--runs``; reuse a finished run."""
    out = Path(args.runs) / f"{scenario}-s{seed}"
    if (out / "detections" / "detections.geojson").exists() and (out / "truth.geojson").exists():
        print(f"  reusing {out}", flush=True)
        return out
    cmd = [
        sys.executable,
        str(BENCH / "fusion.py"),
        "--scenario",
        scenario,
        "--seed",
        str(seed),
        "--passes",
        str(args.passes),
        "--lines",
        str(args.lines),
        "--half-length",
        str(args.half_length),
        "--out",
        str(out),
        "--json",
        str(out.with_suffix(".json")),
    ]
    print(f"  running {' '.join(cmd[1:])}", flush=True)
    subprocess.run(cmd, check=True)
    return out


def load_run(run: Path) -> tuple[str, list[Detection], list[SearchedLine], dict[str, Any]]:
    """Detections, searched lines and truth of a ``bench/fusion.py`` output directory."""
    det_path = run / "detections" / "detections.geojson"
    truth_path = run / "truth.geojson"
    for p in (det_path, truth_path):
        if not p.exists():
            raise SystemExit(f"{run}: no {p.relative_to(run)} (not a finished bench/fusion.py run)")
    detections, lines = read_detections(det_path)
    truth = json.loads(truth_path.read_text())
    ids = [
        str(f["properties"]["site_id"])
        for f in truth.get("features", [])
        if "site_id" in f.get("properties", {})
    ]
    scenario = ids[0].rsplit("-", 1)[0] if ids else run.name
    return scenario, detections, lines, truth


def season_of_run(
    run: Path, release_at: float, outcome_seed: int
) -> tuple[list[Release], dict[str, Any]]:
    """Release rounds of one run, each released site with its simulated outcome."""
    scenario, detections, lines, truth = load_run(run)
    passes = sorted({_pass_of(ln.line_id) for ln in lines})
    releases: list[Release] = []
    fused_counts: dict[str, int] = {}
    for k in passes:
        now = max(_time(ln.time_end) for ln in lines if _pass_of(ln.line_id) == k)
        released_at = now + REVIEW_AFTER + RELEASE_AFTER
        # (label, passes fused): pass k alone, and passes 1..k (the same as pass 1 for k = 1)
        fusions = [(f"pass {k} alone", {k})]
        if k != passes[0]:
            fusions.append((f"passes {passes[0]}–{k}", {q for q in passes if q <= k}))
        for label, keep in fusions:
            d = [x for x in detections if _pass_of(x.line_id) in keep]
            ln = [x for x in lines if _pass_of(x.line_id) in keep]
            sites: list[FusedSite] = fuse(d, ln, now)  # most confident first
            fused_counts[label] = len(sites)
            chosen = [s for s in sites if s.confidence >= release_at]
            sims = simulate_site_outcomes(
                [(f"{run.name}/{label}/{s.key}", s.lon, s.lat, released_at) for s in chosen],
                truth,
                seed=outcome_seed,
            )
            for s, (m, o) in zip(chosen, sims, strict=True):
                releases.append(
                    Release(
                        source=run.name,
                        scenario=scenario,
                        round=k,
                        fusion=label,
                        key=s.key,
                        lon=s.lon,
                        lat=s.lat,
                        confidence=float(s.confidence),
                        site_class=s.classification.site_class,
                        released_at=released_at,
                        truth_site=None if m is None else m.site_id,
                        truth_kind=None if m is None else m.kind,
                        truth_distance_m=None if m is None else round(m.distance_m, 1),
                        outcome=o.outcome,
                        actioned_at=o.actioned_at,
                        note=o.note,
                    )
                )
    info = {
        "run": str(run),
        "scenario": scenario,
        "passes": passes,
        "detections": len(detections),
        "sites_fused": fused_counts,
        "released": len(releases),
    }
    return releases, info


def first_release_of_each_place(releases: list[Release]) -> list[Release]:
    """Keep the first release of each place: truth site, or false site within the gate."""
    order = sorted(releases, key=lambda r: (r.released_at, -r.confidence, r.key))
    seen_truth: set[tuple[str, str]] = set()
    seen_false: list[Release] = []
    out = []
    for r in order:
        if r.truth_site is not None:
            tag = (r.source, r.truth_site)
            if tag in seen_truth:
                continue
            seen_truth.add(tag)
        else:
            if any(
                q.source == r.source and distance_m(q.lon, q.lat, r.lon, r.lat) <= GATE_M
                for q in seen_false
            ):
                continue
            seen_false.append(r)
        out.append(r)
    return out


def auc(p: np.ndarray, y: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half): how well ``p`` ranks labs above the rest."""
    pos, neg = int(y.sum()), int(y.size - y.sum())
    if not pos or not neg:
        return None
    r = rankdata(p)
    return float((r[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def bootstrap_brier_gain(
    ev: ProspectiveEvaluation, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """95 % paired bootstrap interval of raw − calibrated Brier on the scored outcomes."""
    n = ev.y.size
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    d = (ev.p_raw - ev.y) ** 2 - (ev.p_calibrated - ev.y) ** 2
    gains = d[idx].mean(axis=1)
    lo, hi = np.percentile(gains, [2.5, 97.5])
    return float(lo), float(hi)


def evaluate(
    releases: list[Release], min_train: int, method: str
) -> tuple[dict[str, Any], ProspectiveEvaluation | None, np.ndarray, np.ndarray]:
    """Label the outcomes, order them in time, score raw against calibrated."""
    actioned = [r for r in releases if r.outcome is not None]
    used, y = outcome_labels([r.outcome for r in actioned])  # type: ignore[misc]
    kept = [r for r, u in zip(actioned, used, strict=True) if u]
    p = np.array([r.confidence for r in kept], dtype=float)
    times = [r.actioned_at for r in kept if r.actioned_at is not None]
    assert len(times) == len(kept)  # an outcome always has its action time
    res: dict[str, Any] = {
        "released": len(releases),
        "outcomes": len(actioned),
        "no_action": len(releases) - len(actioned),
        "outcome_counts": dict(Counter(r.outcome for r in actioned)),
        "labelled": len(kept),
        "positives": int(y.sum()),
        "min_train": min_train,
    }
    if not kept:
        return res, None, p, y
    ev = prospective_evaluation(times, p, y, min_train=min_train, method=method)  # type: ignore[arg-type]
    res.update(ev.to_dict())
    # Reference: the running base rate (mean of the earlier labels), ignoring the confidence.
    order = sorted(range(len(kept)), key=lambda i: times[i])  # prospective_evaluation's order
    ys = y[order].astype(float)
    base = np.array([ys[:k].mean() for k in range(min_train, ys.size)], dtype=float)
    res["base_rate"] = scores(np.clip(base, EPS, 1.0 - EPS), ys[min_train:]).to_dict()
    res["auc_raw"] = auc(p, y)
    res["scored"] = ev.raw.n
    res["scored_positives"] = int(ev.y.sum())
    ci = bootstrap_brier_gain(ev)
    res["brier_gain_95ci"] = None if ci is None else [round(v, 4) for v in ci]
    return res, ev, p, y


def by_class(releases: list[Release], cal: Calibrator) -> dict[str, dict[str, Any]]:
    """Labelled outcomes by the fused site class: how often a lab was found, raw and calibrated."""
    actioned = [r for r in releases if r.outcome is not None]
    used, y = outcome_labels([r.outcome for r in actioned])  # type: ignore[misc]
    kept = [r for r, u in zip(actioned, used, strict=True) if u]
    out: dict[str, dict[str, Any]] = {}
    for cls in sorted({r.site_class for r in kept}):
        idx = [i for i, r in enumerate(kept) if r.site_class == cls]
        p = np.array([kept[i].confidence for i in idx])
        out[cls] = {
            "n": len(idx),
            "labs_found": int(y[idx].sum()),
            "mean_raw": round(float(p.mean()), 3),
            "mean_calibrated": round(float(cal(p).mean()), 3),
        }
    return out


def _f(v: float | None, fmt: str = "7.3f") -> str:
    return "–".rjust(len(format(0.0, fmt))) if v is None or np.isnan(v) else format(v, fmt)


def _calibrator_words(c: Calibrator) -> str:
    if c.method == "platt":
        return (
            f"Platt: q = expit({c.slope:.3f}·logit(p) + {c.intercept:+.3f}) "
            f"(fit on {c.n}, {c.n_positive} positive)"
        )
    if c.method == "isotonic":
        knots = ", ".join(f"{a:.2f}→{b:.2f}" for a, b in zip(c.knots_p, c.knots_q, strict=True))
        return f"isotonic on {c.n} ({c.n_positive} positive), knots p→q: {knots}"
    return f"{c.method} (no outcome to fit on)"


def print_evaluation(title: str, res: dict[str, Any], ev: ProspectiveEvaluation | None) -> None:
    """Print one evaluation's table."""
    print(f"\n{title}")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(res["outcome_counts"].items()))
    print(
        f"  released {res['released']}, outcomes {res['outcomes']} ({counts}; "
        f"{res['no_action']} never actioned), labelled {res['labelled']} "
        f"(labs found: {res['positives']}), scored {0 if ev is None else ev.raw.n} "
        f"(labs found: {0 if ev is None else int(ev.y.sum())}; each after the first "
        f"{res['min_train']})"
    )
    if ev is None:
        return
    print("                          Brier   log loss     ECE")
    rows = [
        ("raw confidence", ev.raw.brier, ev.raw.log_loss, ev.raw.ece),
        (
            "calibrated (prospective)",
            ev.calibrated.brier,
            ev.calibrated.log_loss,
            ev.calibrated.ece,
        ),
    ]
    b = res.get("base_rate")
    if b is not None and ev.raw.n:
        rows.append(("base rate only (ref.)", b["brier"], b["log_loss"], b["ece"]))
    for name, brier, ll, ece in rows:
        print(f"  {name:24}{_f(brier)}  {_f(ll, '8.3f')}  {_f(ece)}")
    ci = res.get("brier_gain_95ci")
    if ci is not None and ev.raw.n:
        gain = ev.raw.brier - ev.calibrated.brier
        print(
            f"  Brier gain raw − calibrated {gain:+.3f}, paired bootstrap 95 % "
            f"[{ci[0]:+.3f}, {ci[1]:+.3f}] (treats outcomes as independent)"
        )
    a = res.get("auc_raw")
    print(
        f"  ranking of labs by raw confidence, all labelled (AUC; a monotone calibrator keeps "
        f"it): {_f(a, '.2f')}"
    )
    print(f"  calibrator on all: {_calibrator_words(ev.final)}")


def main() -> None:
    """Build the season, calibrate, score, draw."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--from",
        dest="runs_from",
        type=Path,
        action="append",
        default=[],
        help="a bench/fusion.py output directory (repeatable); skips running the pipeline",
    )
    ap.add_argument("--scenarios", nargs="+", default=["sinaloa", "central"])
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--lines", type=int, default=4)
    ap.add_argument("--half-length", type=float, default=700.0)
    ap.add_argument("--seed", type=int, nargs="+", default=[1], help="world/pipeline seeds")
    ap.add_argument("--runs", type=Path, default=Path("bench-calibration-runs"))
    ap.add_argument("--release-at", type=float, default=0.3)
    ap.add_argument("--min-train", type=int, default=20)
    ap.add_argument("--method", choices=["auto", "platt", "isotonic"], default="auto")
    ap.add_argument("--outcome-seed", type=int, default=0, help="seed of the simulated partner")
    ap.add_argument("--out", type=Path, default=Path("bench-calibration"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    runs = list(args.runs_from)
    if not runs:
        print("Running the pipeline (bench/fusion.py), one scenario-seed at a time:")
        runs = [run_fusion_bench(sc, s, args) for s in args.seed for sc in args.scenarios]
    releases: list[Release] = []
    infos = []
    with threadpool_limits(1):
        for run in runs:
            rel, info = season_of_run(run, args.release_at, args.outcome_seed)
            releases.extend(rel)
            infos.append(info)
        season, ev, p, y = evaluate(releases, args.min_train, args.method)
        once = first_release_of_each_place(releases)
        season_once, ev_once, _, _ = evaluate(once, args.min_train, args.method)

    sources = ", ".join(f"{i['scenario']} ({Path(i['run']).name})" for i in infos)
    print(
        f"\nCalibration benchmark — SIMULATED partner outcomes on sites of the real pipeline "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    print(f"  source: {OUTCOME_SOURCE}")
    print(f"  runs: {sources}")
    for i in infos:
        fused = ", ".join(f"{k}: {v}" for k, v in i["sites_fused"].items())
        print(
            f"    {Path(i['run']).name}: {i['detections']} detections, sites fused ({fused}); "
            f"released {i['released']}"
        )
    kinds = Counter(
        "false site" if r.truth_kind is None else r.truth_kind for r in releases
    ).most_common()
    print(
        f"  released at confidence ≥ {args.release_at} (any class), rounds = passes; "
        f"what they stand on: {', '.join(f'{k} {v}' for k, v in kinds)}"
    )
    print(
        f"  method {args.method} (Platt below {AUTO_ISOTONIC_FROM} outcomes, isotonic from there)"
    )
    print_evaluation("Season (every release round, each release its own outcome):", season, ev)
    if ev is not None:
        season["by_class"] = by_class(releases, ev.final)
        print("  by fused class (labelled outcomes):  n  labs found  mean raw  mean calibrated")
        for cls, row in season["by_class"].items():
            print(
                f"    {cls:30}{row['n']:4d}  {row['labs_found']:10d}  {row['mean_raw']:8.2f}  "
                f"{row['mean_calibrated']:15.3f}"
            )
    print_evaluation(
        "Each place once (first release of each truth site / false site only):",
        season_once,
        ev_once,
    )

    figures: list[str] = []
    if ev is not None:
        note = (
            f"{OUTCOME_SOURCE}; sites fused by the pipeline from {sources}; "
            f"released at confidence ≥ {args.release_at}; n = {y.size} labelled outcomes"
        )
        raw = reliability(p, y)
        cal = reliability(ev.final(p), y)
        figures.append(
            str(
                reliability_figure(
                    raw,
                    cal,
                    args.out / "calibration.png",
                    source=f"{note}; calibrated = {ev.final.method} fitted on all (in-sample)",
                )
            )
        )
        if ev.y.size:
            fig = draw_reliability(
                reliability(ev.p_raw, ev.y),
                reliability(ev.p_calibrated, ev.y),
                source=f"{note}; the {ev.y.size} outcomes after the first {args.min_train}, "
                f"each predicted by a calibrator fitted on earlier outcomes only",
                title="Reliability on the next outcomes (prospective)",
            )
            path = args.out / "calibration_prospective.png"
            fig.savefig(path, dpi=100, format="png")
            figures.append(str(path))
        print(f"\nFigures: {', '.join(figures)}")
    if args.json:
        doc = {
            "source": OUTCOME_SOURCE,
            "runs": infos,
            "release_at": args.release_at,
            "method": args.method,
            "outcome_seed": args.outcome_seed,
            "season": season,
            "each_place_once": season_once,
            "figures": figures,
            "releases": [asdict(r) for r in releases],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1, default=str))


if __name__ == "__main__":
    main()
