"""Pushbroom viewing geometry: where each detector column looks on the ground, frame by frame.

A pushbroom imaging spectrometer images one cross-track row per frame; the aircraft's motion
sweeps the rows along track. Ground sampling follows from altitude, IFOV and the number of
columns across track (flat terrain), along-track sampling from ground speed over frame rate.
Pointing jitter (roll, pitch, yaw as correlated random walks) moves the footprints as real
attitude noise does; georeferencing later uses the per-pixel positions computed here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vigia.errors import InputError

__all__ = ["LineGeometry", "line_geometry"]


@dataclass(frozen=True)
class LineGeometry:
    """Ground positions of every pixel of one imaging line, in the world's planar frame.

    Attributes
    ----------
    x, y : (downtrack, crosstrack) float64
        Ground position of each pixel centre, metres.
    view_zenith : (crosstrack,) float64
        Nominal view zenith angle of each column, radians (signed: negative to the left).
    gsd_cross_m : float
        Cross-track ground sample distance at nadir, metres.
    gsd_along_m : float
        Along-track sample spacing, metres.
    times_s : (downtrack,) float64
        Time of each frame since the start of the line, seconds.
    """

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    view_zenith: NDArray[np.float64]
    gsd_cross_m: float
    gsd_along_m: float
    times_s: NDArray[np.float64]

    @property
    def shape(self) -> tuple[int, int]:
        """``(downtrack, crosstrack)`` pixel counts."""
        return (int(self.x.shape[0]), int(self.x.shape[1]))


def _random_walk(rng: np.random.Generator, n: int, sigma: float, corr: int) -> NDArray[np.float64]:
    # Attitude noise: white noise smoothed over `corr` frames, scaled to standard deviation
    # `sigma` (radians): slow wander, as a stabilised gimbal leaves.
    if sigma == 0.0 or n == 0:
        return np.zeros(n)
    w = rng.normal(size=n + corr)
    kernel = np.hanning(max(3, corr))
    smooth = np.convolve(w, kernel / kernel.sum(), mode="same")[:n]
    sd = float(smooth.std())
    return smooth * (sigma / sd if sd > 0 else 0.0)


def line_geometry(
    start_xy: tuple[float, float],
    end_xy: tuple[float, float],
    *,
    altitude_m: float,
    ifov_rad: float,
    crosstrack_pixels: int,
    speed_m_s: float,
    frame_rate_hz: float | None = None,
    jitter_rad: float = 0.0,
    max_frames: int | None = None,
    seed: int = 0,
) -> LineGeometry:
    """Compute the ground footprint of every pixel of a straight imaging line.

    Parameters
    ----------
    start_xy, end_xy : tuple of float
        Line start and end in the planar frame, metres (flight order).
    altitude_m : float
        Height above ground, metres.
    ifov_rad : float
        Instantaneous field of view of one detector, radians.
    crosstrack_pixels : int
        Detector columns across track.
    speed_m_s : float
        Ground speed, m/s.
    frame_rate_hz : float, optional
        Frames per second; by default the rate that makes along-track sampling equal the nadir
        cross-track GSD (square pixels), as airborne spectrometers are usually flown.
    jitter_rad : float
        Standard deviation of roll, pitch and yaw noise, radians.
    max_frames : int, optional
        Keep only the first frames (to render a short piece of a long line).
    seed : int
        Seed of the attitude noise.

    Returns
    -------
    LineGeometry
        Pixel positions, view angles, sampling and frame times.

    Examples
    --------
    >>> g = line_geometry((0.0, 0.0), (600.0, 0.0), altitude_m=1000.0, ifov_rad=1e-3,
    ...                   crosstrack_pixels=5, speed_m_s=100.0)
    >>> g.shape, round(g.gsd_cross_m, 3), round(g.gsd_along_m, 3)
    ((600, 5), 1.0, 1.0)
    """
    for name, v in (("altitude", altitude_m), ("IFOV", ifov_rad), ("speed", speed_m_s)):
        if not (v > 0 and math.isfinite(v)):
            raise InputError(f"{name} must be positive, got {v!r}")
    if crosstrack_pixels < 1:
        raise InputError(f"crosstrack_pixels must be ≥ 1, got {crosstrack_pixels}")
    dx, dy = end_xy[0] - start_xy[0], end_xy[1] - start_xy[1]
    length = math.hypot(dx, dy)
    if length <= 0:
        raise InputError("an imaging line needs distinct start and end points")
    gsd = altitude_m * ifov_rad
    rate = speed_m_s / gsd if frame_rate_hz is None else frame_rate_hz
    if not rate > 0:
        raise InputError(f"frame rate must be positive, got {rate!r} Hz")
    along = speed_m_s / rate
    n = max(1, int(length // along))
    if max_frames is not None:
        n = min(n, max_frames)
    t = np.arange(n) / rate
    u = np.array([dx, dy]) / length  # along track
    left = np.array([-u[1], u[0]])  # to the left of the flight direction
    # Column view angles, left to right as seen flying (column 0 is the leftmost).
    k = np.arange(crosstrack_pixels) - (crosstrack_pixels - 1) / 2.0
    view = -k * ifov_rad
    rng = np.random.default_rng(seed)
    corr = max(3, int(rate))  # about a second of correlation
    roll = _random_walk(rng, n, jitter_rad, corr)
    pitch = _random_walk(rng, n, jitter_rad, corr)
    yaw = _random_walk(rng, n, jitter_rad, corr)
    s = (t * speed_m_s)[:, None] + altitude_m * np.tan(pitch)[:, None]
    c = altitude_m * np.tan(view[None, :] + roll[:, None])
    # Yaw turns the row about the nadir point.
    s = s - c * np.sin(yaw)[:, None]
    c = c * np.cos(yaw)[:, None]
    x = start_xy[0] + s * u[0] + c * left[0]
    y = start_xy[1] + s * u[1] + c * left[1]
    return LineGeometry(
        x=np.asarray(x, dtype=np.float64),
        y=np.asarray(y, dtype=np.float64),
        view_zenith=np.asarray(view, dtype=np.float64),
        gsd_cross_m=gsd,
        gsd_along_m=along,
        times_s=t,
    )
