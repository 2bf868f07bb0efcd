"""The analyst's evidence sheet: every observation's image chip of one site on one page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.image import imread

from vigia.errors import ExportError

__all__ = ["evidence_sheet"]


def evidence_sheet(
    title: str,
    panels: Sequence[tuple[str, Path | None]],
    path: Path,
    *,
    footer: str = "",
) -> Path:
    """Write one PNG holding the chip of every observation of a site, each with its caption.

    Parameters
    ----------
    title : str
        Site id, class, confidence, state.
    panels : sequence of (str, Path or None)
        Caption and chip file (true colour, score map and thermal image around the detection,
        as ``vigia detect`` writes them) of each observation; ``None`` or a missing file shows
        the caption alone.
    path : Path
        PNG to write.
    footer : str
        A line under the sheet (sources, policy labels).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ExportError
        If the file cannot be written.
    """
    n = max(1, len(panels))
    fig = Figure(figsize=(11.0, 2.9 * n + 0.9))
    axes = np.atleast_1d(fig.subplots(n, 1, squeeze=False)).ravel()
    for ax, (caption, chip) in zip(axes, panels, strict=False):
        ax.set_axis_off()
        if chip is not None and chip.exists():
            ax.imshow(imread(chip))
        else:
            ax.text(0.5, 0.5, "chip not available", ha="center", va="center", fontsize=9)
        ax.set_title(caption, fontsize=8, loc="left")
    if not panels:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no observation", ha="center", va="center")
    fig.suptitle(title, fontsize=10)
    if footer:
        fig.text(0.01, 0.005, footer, fontsize=7, va="bottom")
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.5 / fig.get_figheight(), hspace=0.25)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=90)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path
