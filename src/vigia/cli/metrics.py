"""``vigia metrics``: the agency's figures of the loop, and confidence calibrated on outcomes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vigia.cli.audit import local_operator, store
from vigia.cli.options import DataDir, console
from vigia.report.calibration import reliability_figure
from vigia.share.metrics import agency_metrics, format_metrics
from vigia.store.db import read_session
from vigia.store.feedback import calibrate_on_outcomes, outcome_pairs
from vigia.store.releases import site_timelines

__all__ = ["metrics_command"]


def metrics_command(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    figure: Annotated[
        Path | None,
        typer.Option("--figure", help="Write the reliability diagram (PNG) here.", dir_okay=False),
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="Where the outcomes come from, named on the figure.")
    ] = "partner outcomes stored in the Vigía database",
) -> None:
    """Agency metrics and site confidence calibrated on partner outcomes.

    Time from detection to release, acknowledgement and action; hit and response rates; totals
    seized; the calibration scored on each next outcome.
    """
    with read_session(store(data_dir)) as s:
        metrics = agency_metrics(site_timelines(s, local_operator()))
        cal = calibrate_on_outcomes(outcome_pairs(s))
    if figure is not None and cal is not None:
        reliability_figure(cal.raw, cal.calibrated, figure, source=source)
    if as_json:
        out = {"metrics": metrics.to_dict(), "calibration": None if cal is None else cal.summary()}
        typer.echo(json.dumps(out, indent=1, default=str))
        return
    console.print(format_metrics(metrics), markup=False, highlight=False)
    if cal is None:
        console.print("Calibration: no labelled outcome yet (dismantled, seizure, nothing_found).")
        return
    ev = cal.evaluation
    line = f"Calibration ({ev.final.method}, {len(cal.pairs.site_ids)} labelled outcomes)"
    if ev.raw.n:
        line += (
            f": on the next {ev.raw.n} outcomes, Brier raw {ev.raw.brier:.3f} → calibrated "
            f"{ev.calibrated.brier:.3f}, log loss {ev.raw.log_loss:.3f} → "
            f"{ev.calibrated.log_loss:.3f}"
        )
    else:
        line += f": fewer than {ev.min_train + 1} outcomes, none scored yet"
    console.print(line)
