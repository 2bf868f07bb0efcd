"""``vigia evaluate``: score detections against a simulated world's truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vigia.cli.options import console
from vigia.evaluation.files import evaluate_files
from vigia.evaluation.scores import unscored_text

__all__ = ["evaluate_command"]


def evaluate_command(
    truth: Annotated[Path, typer.Option("--truth", help="truth.geojson from the simulator.")],
    detections: Annotated[
        Path, typer.Option("--detections", help="detections.geojson from vigia detect.")
    ],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write.")] = Path("eval"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """PD against emission rate, false detections per 100 km², location and rate errors."""
    _, summary, files = evaluate_files(truth, detections, out_dir)
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    table = Table(title="Detection against truth (simulated world)")
    for col in ("species", "opportunities", "detected", "50 % kg/h", "90 % kg/h"):
        table.add_column(col, justify="right")
    for species, f in summary["pd_by_species"].items():
        table.add_row(
            species,
            str(f["n"]),
            str(f["detected"]),
            "–" if f["limit50_kg_h"] is None else f"{f['limit50_kg_h']:.3g}",
            "–" if f["limit90_kg_h"] is None else f"{f['limit90_kg_h']:.3g}",
        )
    console.print(table)
    for kind, k in summary["by_kind"].items():
        console.print(f"{kind}: {k['detected']}/{k['expected']} detected (PD {k['pd']:.2f})")
    console.print(
        f"false detections: {summary['false_detections']} "
        f"({summary['false_per_100km2']} per 100 km² searched; by kind "
        f"{summary['false_per_100km2_by_kind']}); plumes downwind of a true source in its gas "
        f"(not false): {summary['downwind_pieces']}; median location error "
        f"{summary['median_location_error_m']} m ({summary['median_location_error_px']} px); "
        f"median |emission error| {summary['median_abs_emission_error_pct']} % (90th "
        f"percentile {summary['p90_abs_emission_error_pct']} %)"
    )
    unscored = unscored_text(summary)
    if unscored is not None:
        console.print(unscored)
    cov = summary["emission_sigma_coverage"]
    if cov["n"]:
        console.print(
            f"stated emission sigma covers the error within 1σ for {cov['within_1_sigma']:.0%} "
            f"and within 2σ for {cov['within_2_sigma']:.0%} of {cov['n']} rated plumes "
            "(68 % and 95 % if it is right)"
        )
    sites = summary.get("sites") or {}
    if sites.get("fused"):
        t = Table(
            title=f"Sites against truth ({sites['passes']} passes, confidence ≥ "
            f"{sites['report_at']})"
        )
        for col in (
            "",
            "reported",
            "matched",
            "recall",
            "precision",
            "median error m",
            "class right",
            "lab right",
        ):
            t.add_column(col, justify="right")
        for name in ("single_pass", "fused"):
            r = sites[name]
            t.add_row(
                "each pass alone" if name == "single_pass" else "all passes fused",
                str(r["reported"]),
                f"{r['matched']}/{r['observable']}",
                *(
                    "–"
                    if r[k] is None
                    else f"{r[k]:.2f}"
                    if k != "median_location_error_m"
                    else f"{r[k]:.0f}"
                    for k in (
                        "recall",
                        "precision",
                        "median_location_error_m",
                        "class_accuracy",
                        "lab_accuracy",
                    )
                ),
            )
        console.print(t)
        c = sites.get("comparison")
        if c:
            pt = c["fused_at_that_recall"]
            console.print(
                f"At the single passes' recall {c['single_recall']:.2f}: fused "
                + (
                    "never reaches it"
                    if pt is None
                    else f"precision {pt['precision']:.2f} at confidence ≥ {pt['confidence']:.2f}"
                )
                + f" (single passes {c['single_precision']}); average precision over all "
                f"thresholds: single {c['single_average_precision']}, fused "
                f"{c['fused_average_precision']}"
            )
    console.print(f"Wrote {len(files)} files to [bold]{out_dir}[/bold]")
