"""The I/O edge of evaluation: read a truth file and a detection file, write scores and figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vigia.detect.detection import read_detections
from vigia.errors import ExportError, FileFormatError
from vigia.evaluation.scores import Evaluation, evaluate
from vigia.evaluation.sites import evaluate_sites
from vigia.report.evaluation import write_evaluation_figures

__all__ = ["evaluate_files"]


def evaluate_files(
    truth_path: Path, detections_path: Path, out_dir: Path
) -> tuple[Evaluation, dict[str, Any], list[Path]]:
    """Score a detection file against a truth file and write ``evaluation.json`` and figures.

    Parameters
    ----------
    truth_path : Path
        The simulator's ``truth.geojson``.
    detections_path : Path
        A ``detections.geojson`` written by ``vigia detect``.
    out_dir : Path
        Where ``evaluation.json``, ``pd_curve.png`` and ``scores_LINE_sensor.png`` go.

    Returns
    -------
    tuple
        The evaluation, its summary (as written to ``evaluation.json``) and the files written.

    Raises
    ------
    FileFormatError
        If either file cannot be read or does not hold what it should.
    """
    try:
        truth = json.loads(Path(truth_path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{truth_path}: cannot read as JSON: {exc}") from None
    if not isinstance(truth, dict):
        raise FileFormatError(f"{truth_path}: not a GeoJSON FeatureCollection")
    detections, lines = read_detections(detections_path)
    ev = evaluate(truth, detections, lines)
    summary = ev.summary()
    summary["sites"] = evaluate_sites(truth, detections, lines)
    summary["truth"] = str(truth_path)
    summary["detections"] = str(detections_path)
    summary["source"] = "Vigía evaluation against simulated truth (modelled world)"
    out_dir.mkdir(parents=True, exist_ok=True)
    base = Path(detections_path).parent
    score_maps = {
        f"{ln.line_id}_{ln.sensor}": base / ln.score_map
        for ln in lines
        if ln.score_map and (base / ln.score_map).exists()
    }
    dets = [(f"{d.line_id}_{d.sensor}", d.lon, d.lat, d.kind) for d in detections]
    files = write_evaluation_figures(ev, truth, score_maps, dets, out_dir)
    path = out_dir / "evaluation.json"
    try:
        path.write_text(json.dumps(summary, indent=1))
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return ev, summary, [path, *files]
