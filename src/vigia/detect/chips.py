"""Image chips of a detection: true colour, its score map and the thermal image around it.

The VSWIR and LWIR instruments sample the ground on different grids; a chip is cut from each
around the same ground point (the nearest pixel of each grid), so the panels show the same place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from vigia.detect.georef import LineGrid
from vigia.errors import ExportError

__all__ = ["LineImages", "true_colour", "write_chip"]


def true_colour(
    radiance: NDArray[np.floating], wavelengths_nm: NDArray[np.floating]
) -> NDArray[np.float32]:
    """Return a display RGB (640, 550, 470 nm) stretched between the 2nd and 98th percentiles.

    Parameters
    ----------
    radiance : ndarray, shape (downtrack, crosstrack, bands)
        VSWIR radiance (any unit).
    wavelengths_nm : ndarray, shape (bands,)
        Band centres, nm.

    Returns
    -------
    ndarray, shape (downtrack, crosstrack, 3), float32 in [0, 1]
    """
    bands = [int(np.argmin(np.abs(wavelengths_nm - w))) for w in (640.0, 550.0, 470.0)]
    rgb = np.asarray(radiance[:, :, bands], dtype=np.float32)
    finite = rgb[np.isfinite(rgb)]
    if finite.size == 0:
        return np.zeros(rgb.shape, dtype=np.float32)
    lo, hi = np.percentile(finite, [2, 98])
    out = np.clip((rgb - lo) / max(float(hi - lo), 1e-9), 0.0, 1.0)
    return np.asarray(np.nan_to_num(out), dtype=np.float32)


@dataclass
class LineImages:
    """What the chips of one line are cut from (either instrument may be missing)."""

    line_id: str
    rgb: NDArray[np.float32] | None = None
    vswir_grid: LineGrid | None = None
    brightness_k: NDArray[np.float32] | None = None
    lwir_grid: LineGrid | None = None
    scores: dict[str, tuple[str, NDArray[np.float32]]] = field(default_factory=dict)
    """Score layer per sensor: ``sensor → (label, (downtrack, crosstrack) array)``."""

    @cached_property
    def _trees(self) -> dict[str, cKDTree]:
        trees = {}
        for name, grid in (("vswir", self.vswir_grid), ("lwir", self.lwir_grid)):
            if grid is not None:
                trees[name] = cKDTree(np.column_stack([grid.x.ravel(), grid.y.ravel()]))
        return trees

    def pixel(self, sensor: str, lon: float, lat: float) -> tuple[int, int] | None:
        """Nearest pixel of a sensor's grid to a ground point (None if off the line)."""
        grid = self.vswir_grid if sensor == "vswir" else self.lwir_grid
        if grid is None:
            return None
        p = grid.frame.to_xy(np.array([[lon, lat]]))[0]
        dist, idx = self._trees[sensor].query(p)
        if dist > 3.0 * grid.pixel_size_m:
            return None
        r, c = np.unravel_index(int(idx), grid.shape)
        return int(r), int(c)


def _cut(
    image: NDArray[np.float32], r: int, c: int, half: int
) -> tuple[NDArray[np.float32], int, int]:
    r0, c0 = max(0, r - half), max(0, c - half)
    return image[r0 : r + half + 1, c0 : c + half + 1], r - r0, c - c0


def write_chip(
    images: LineImages,
    lon: float,
    lat: float,
    path: Path,
    *,
    title: str,
    half_m: float = 150.0,
) -> Path:
    """Write one PNG with every available panel around a ground point.

    Parameters
    ----------
    images : LineImages
        The line's images and grids.
    lon, lat : float
        Centre of the chip (the detection's source), degrees.
    path : Path
        PNG to write.
    title : str
        Figure title (detection id, kind, score).
    half_m : float
        Half-width of the chip on the ground, metres.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ExportError
        If the file cannot be written.
    """
    panels: list[tuple[str, NDArray[np.float32], int, int, str | None]] = []
    for sensor, grid in (("vswir", images.vswir_grid), ("lwir", images.lwir_grid)):
        at = images.pixel(sensor, lon, lat)
        if at is None or grid is None:
            continue
        half = max(4, round(half_m / grid.pixel_size_m))
        if sensor == "vswir" and images.rgb is not None:
            chip, r, c = _cut(images.rgb, *at, half)
            panels.append(("VSWIR true colour", chip, r, c, None))
        if sensor == "lwir" and images.brightness_k is not None:
            chip, r, c = _cut(images.brightness_k, *at, half)
            panels.append(("LWIR brightness temperature, K", chip, r, c, "inferno"))
        if sensor in images.scores:
            label, layer = images.scores[sensor]
            chip, r, c = _cut(layer, *at, half)
            panels.append((label, chip, r, c, "magma"))
    fig = Figure(figsize=(3.2 * max(1, len(panels)), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(panels)), squeeze=False)).ravel()
    for ax, (label, chip, r, c, cmap) in zip(axes, panels, strict=False):
        if cmap is not None and np.isfinite(chip).any():
            # The range in the title instead of a colour bar: a chip is a glance, and colour
            # bars cost two thirds of the drawing time.
            lo, hi = (float(v) for v in np.nanpercentile(chip, [1, 99]))
            ax.imshow(chip, cmap=cmap, interpolation="nearest", vmin=lo, vmax=hi)
            label = f"{label}\n{lo:.3g} (dark) to {hi:.3g} (bright)"
        else:
            ax.imshow(chip, cmap=cmap, interpolation="nearest")
        ax.scatter([c], [r], s=120, facecolors="none", edgecolors="cyan", linewidths=1.2)
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if not panels:
        axes[0].text(0.5, 0.5, "no image at this point", ha="center", va="center")
        axes[0].set_axis_off()
    fig.suptitle(f"{title}\n±{half_m:.0f} m; Vigía detection chip", fontsize=8)
    try:
        fig.savefig(path, dpi=80)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path
