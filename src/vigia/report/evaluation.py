"""Figures of an evaluation: detection probability against emission rate, truth on score maps."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from scipy.spatial import cKDTree

from vigia.errors import ExportError
from vigia.evaluation.scores import Evaluation

__all__ = ["draw_pd_curves", "draw_score_map", "write_evaluation_figures"]

_SOURCE = "Scored against the Vigía simulator's truth (modelled world, not observations)"


def _save(fig: Figure, path: Path) -> Path:
    try:
        fig.savefig(path, dpi=90)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def draw_pd_curves(ev: Evaluation) -> Figure:
    """Probability of detection against emission rate, one panel per species.

    Parameters
    ----------
    ev : Evaluation
        Scores with their per-species logistic fits.

    Returns
    -------
    matplotlib.figure.Figure
        Binned detection rates (marker size ∝ count), the fitted curve and its 50 % / 90 %
        limits.
    """
    fits = [f for _, f in sorted(ev.pd_fits.items())]
    n = max(1, len(fits))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, f in zip(axes, fits, strict=False):
        if f.bins:
            mid = [math.sqrt(b["rate_lo_kg_h"] * b["rate_hi_kg_h"]) for b in f.bins]
            ax.scatter(
                mid,
                [b["pd"] for b in f.bins],
                s=[12 + 6 * b["n"] for b in f.bins],
                color="tab:blue",
                alpha=0.7,
                label="detected / opportunities (size ∝ n)",
            )
            lo = min(b["rate_lo_kg_h"] for b in f.bins)
            hi = max(b["rate_hi_kg_h"] for b in f.bins)
            if f.b > 0:
                r = np.logspace(math.log10(lo), math.log10(hi), 100)
                ax.plot(r, [f.pd(float(v)) for v in r], color="k", lw=1, label="logistic fit")
        for lim, style in ((f.limit50_kg_h, ":"), (f.limit90_kg_h, "--")):
            if lim is not None:
                ax.axvline(lim, color="tab:red", ls=style, lw=1)
        ax.set_xscale("log")
        ax.set_ylim(-0.05, 1.05)
        l50 = "–" if f.limit50_kg_h is None else f"{f.limit50_kg_h:.3g}"
        l90 = "–" if f.limit90_kg_h is None else f"{f.limit90_kg_h:.3g}"
        ax.set_title(f"{f.species}: {f.n_detected}/{f.n}; 50 % {l50}, 90 % {l90} kg/h", fontsize=9)
        ax.set_xlabel("emission rate, kg/h")
        ax.set_ylabel("probability of detection")
        ax.grid(alpha=0.3)
    for ax in axes[len(fits) :]:
        ax.set_axis_off()
    if not fits:
        axes[0].text(0.5, 0.5, "no plume opportunity in the searched lines", ha="center")
    fig.suptitle(f"Plume detection against emission rate\n{_SOURCE}", fontsize=10)
    return fig


def draw_score_map(
    scores: xr.Dataset,
    truth_points: list[tuple[float, float, str]],
    detections: list[tuple[float, float, str]],
    title: str,
) -> Figure:
    """Score maps of one line with truth sites and detections drawn on them.

    Parameters
    ----------
    scores : xarray.Dataset
        ``(downtrack, crosstrack)`` score variables with ``lat`` and ``lon``.
    truth_points : list of (lon, lat, label)
        Truth sites (source points) to outline; empty outside an evaluation.
    detections : list of (lon, lat, label)
        Detections to mark.
    title : str
        Figure title (the line id).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per score variable.
    """
    names = [str(v) for v in scores.data_vars if scores[v].dims == ("downtrack", "crosstrack")]
    names = [v for v in names if v not in ("lat", "lon")][:4] or []
    fig = Figure(figsize=(3.6 * max(1, len(names)) + 0.5, 5.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(names)), squeeze=False)).ravel()
    lat = scores["lat"].values
    lon = scores["lon"].values
    tree = cKDTree(np.column_stack([lon.ravel(), lat.ravel()]))

    def pixel(points: list[tuple[float, float, str]]) -> list[tuple[int, int, str]]:
        out = []
        for plon, plat, label in points:
            dist, idx = tree.query([plon, plat])
            # Only points within a few pixels of the line (degrees; ~1e-4 is ~10 m).
            if dist < 5e-4:
                r, c = np.unravel_index(int(idx), lat.shape)
                out.append((int(r), int(c), label))
        return out

    truth_px = pixel(truth_points)
    det_px = pixel(detections)
    for ax, name in zip(axes, names, strict=False):
        var = scores[name]
        im = ax.imshow(var.values, aspect="auto", cmap="magma", interpolation="nearest")
        fig.colorbar(im, ax=ax, shrink=0.8, label=str(var.attrs.get("units", "")))
        for r, c, label in truth_px:
            ax.scatter([c], [r], s=160, facecolors="none", edgecolors="cyan", linewidths=1.5)
            ax.annotate(
                label, (c, r), color="cyan", fontsize=7, xytext=(6, 6), textcoords="offset points"
            )
        for r, c, _ in det_px:
            ax.scatter([c], [r], s=40, marker="x", color="lime", linewidths=1.5)
        ax.set_title(str(var.attrs.get("long_name", name)), fontsize=8)
        ax.set_xlabel("crosstrack pixel")
    axes[0].set_ylabel("downtrack frame")
    if truth_points:
        legend = f"cyan circles truth sites, green crosses detections\n{_SOURCE}"
    else:
        legend = "green crosses detections\nsource: Vigía detectors on the line's own radiance"
    fig.suptitle(f"{title}: {legend}", fontsize=9)
    return fig


def write_evaluation_figures(
    ev: Evaluation,
    truth: dict[str, Any],
    score_maps: dict[str, Path],
    detections: Sequence[tuple[str, float, float, str]],
    out_dir: Path,
) -> list[Path]:
    """Write the PD curves and one truth-annotated score map per searched line.

    Parameters
    ----------
    ev : Evaluation
        The scores.
    truth : dict
        The truth FeatureCollection (site points and kinds).
    score_maps : dict of str to Path
        ``"LINE_sensor"`` → score-map NetCDF written by ``vigia detect``.
    detections : list of (key, lon, lat, label)
        Detections, keyed like ``score_maps``.
    out_dir : Path
        Where the PNGs go.

    Returns
    -------
    list of Path
        Files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [_save(draw_pd_curves(ev), out_dir / "pd_curve.png")]
    sites = [
        (
            float(f["geometry"]["coordinates"][0]),
            float(f["geometry"]["coordinates"][1]),
            f"{f['properties']['site_id']} {f['properties']['kind']}",
        )
        for f in truth.get("features", [])
    ]
    for key, path in sorted(score_maps.items()):
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            dets = [(lon, lat, lab) for k, lon, lat, lab in detections if k == key]
            fig = draw_score_map(ds.load(), sites, dets, key)
        files.append(_save(fig, out_dir / f"scores_{key}.png"))
    return files
