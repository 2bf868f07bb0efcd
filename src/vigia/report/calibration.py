"""The reliability diagram: site confidence against what partner outcomes found."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vigia.errors import ExportError, InputError
from vigia.share.calibration import Reliability

__all__ = ["draw_reliability", "reliability_figure"]

_DPI = 100
_RAW = "tab:red"
_CAL = "tab:blue"


def draw_reliability(
    raw: Reliability,
    calibrated: Reliability,
    *,
    source: str,
    title: str = "Reliability of site confidence",
) -> Figure:
    """Draw a reliability diagram of raw and calibrated confidence, with counts below.

    Parameters
    ----------
    raw, calibrated : Reliability
        Bins of the raw and of the calibrated confidences over the same outcomes (same edges).
    source : str
        Where the outcomes come from, printed on the figure (e.g. "partner outcomes (simulated
        from the demo world's truth)").
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Top: observed frequency against mean confidence per bin, the diagonal of perfect
        calibration (marker area ∝ count); bottom: outcomes per bin.

    Raises
    ------
    InputError
        If the two have different bin edges.
    """
    if raw.edges.shape != calibrated.edges.shape or not np.allclose(raw.edges, calibrated.edges):
        raise InputError("raw and calibrated reliability must share their bin edges")
    fig = Figure(figsize=(5.6, 6.4), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    top.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1, label="perfectly calibrated")
    n = int(raw.counts.sum())
    for rel, colour, label in ((raw, _RAW, "raw"), (calibrated, _CAL, "calibrated")):
        full = rel.counts > 0
        top.plot(rel.mean_predicted[full], rel.observed[full], color=colour, lw=1.2, label=label)
        top.scatter(
            rel.mean_predicted[full],
            rel.observed[full],
            s=12 + 120 * rel.counts[full] / max(1, n),
            color=colour,
            alpha=0.75,
            zorder=3,
        )
    top.set_xlim(0, 1)
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel("observed frequency of findings")
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8)
    if n == 0:
        top.text(0.5, 0.5, "no outcome yet", ha="center", va="center")
    width = np.diff(raw.edges)
    left = raw.edges[:-1]
    bottom.bar(left, raw.counts, width=width * 0.45, align="edge", color=_RAW, label="raw")
    bottom.bar(
        left + width * 0.5,
        calibrated.counts,
        width=width * 0.45,
        align="edge",
        color=_CAL,
        label="calibrated",
    )
    bottom.set_xlabel("site confidence")
    bottom.set_ylabel("outcomes")
    bottom.grid(alpha=0.3, axis="y")
    fig.suptitle(f"{title} (n = {n})", fontsize=11)
    fig.supxlabel(
        textwrap.fill(f"Source: {source}", 90), x=0.01, ha="left", fontsize=7.5, color="#444444"
    )
    return fig


def reliability_figure(
    raw: Reliability, calibrated: Reliability, path: Path, *, source: str
) -> Path:
    """Write the reliability diagram as a PNG, atomically (a temporary file renamed into place).

    Parameters
    ----------
    raw, calibrated : Reliability
        Bins of the raw and calibrated confidences (:func:`vigia.share.calibration.reliability`).
    path : Path
        PNG to write (its directory is created).
    source : str
        Where the outcomes come from, printed on the figure.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ExportError
        If the file cannot be written.
    """
    fig = draw_reliability(raw, calibrated, source=source)
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, dpi=_DPI, format="png")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a figure is meant to be read
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path
