"""Where detections are on the ground: pixel corners, pixel areas and footprints from lat/lon.

A cube carries the latitude and longitude of each pixel centre (``lat``, ``lon`` of shape
``(downtrack, crosstrack)``); nothing here reads the platform file. Pixel corners are the
means of the four surrounding centres, extrapolated linearly at the edges of the line, so that
neighbouring pixels share corners and the pixels of a line tile its footprint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Polygon

from vigia.errors import InputError
from vigia.geo import LocalFrame

__all__ = ["LineGrid", "line_grid"]


def _corners(centres: NDArray[np.float64]) -> NDArray[np.float64]:
    # (R, C) centres → (R + 1, C + 1) corners; odd reflection = linear extrapolation at edges.
    p = np.pad(centres, 1, mode="reflect", reflect_type="odd")
    return np.asarray(0.25 * (p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:]))


@dataclass(frozen=True)
class LineGrid:
    """The pixel geometry of one line.

    Attributes
    ----------
    lon, lat : ndarray, shape (downtrack, crosstrack)
        Pixel centres, degrees.
    frame : LocalFrame
        Planar frame (UTM zone of the line's centre) for areas and distances.
    x, y : ndarray, shape (downtrack, crosstrack)
        Pixel centres in the frame, metres.
    corner_x, corner_y : ndarray, shape (downtrack + 1, crosstrack + 1)
        Pixel corners in the frame, metres.
    pixel_area_m2 : ndarray, shape (downtrack, crosstrack)
        Ground area of each pixel, m².
    """

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    frame: LocalFrame
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    corner_x: NDArray[np.float64]
    corner_y: NDArray[np.float64]
    pixel_area_m2: NDArray[np.float64]

    @property
    def shape(self) -> tuple[int, int]:
        """``(downtrack, crosstrack)``."""
        return (int(self.lon.shape[0]), int(self.lon.shape[1]))

    @property
    def pixel_size_m(self) -> float:
        """Median pixel size (square root of the median pixel area), metres."""
        return float(np.sqrt(np.median(self.pixel_area_m2)))

    def lonlat(self, row: float, col: float) -> tuple[float, float]:
        """Return the lon/lat of a (possibly fractional) pixel position, degrees.

        Parameters
        ----------
        row, col : float
            Pixel indices; integer values are pixel centres.

        Returns
        -------
        tuple of float
            ``(lon, lat)``, bilinear between pixel centres.
        """
        r = float(np.clip(row, 0, self.shape[0] - 1))
        c = float(np.clip(col, 0, self.shape[1] - 1))
        r0, c0 = min(int(r), self.shape[0] - 2), min(int(c), self.shape[1] - 2)
        fr, fc = r - r0, c - c0
        x = (
            self.x[r0, c0] * (1 - fr) * (1 - fc)
            + self.x[r0 + 1, c0] * fr * (1 - fc)
            + self.x[r0, c0 + 1] * (1 - fr) * fc
            + self.x[r0 + 1, c0 + 1] * fr * fc
        )
        y = (
            self.y[r0, c0] * (1 - fr) * (1 - fc)
            + self.y[r0 + 1, c0] * fr * (1 - fc)
            + self.y[r0, c0 + 1] * (1 - fr) * fc
            + self.y[r0 + 1, c0 + 1] * fr * fc
        )
        lon, lat = self.frame.to_lonlat(np.array([[x, y]]))[0]
        return float(lon), float(lat)

    def footprint(self, mask: NDArray[np.bool_] | None = None) -> Polygon:
        """Return the ground footprint of some pixels (all of them by default), lon/lat.

        Parameters
        ----------
        mask : ndarray of bool, shape (downtrack, crosstrack), optional
            Pixels to outline.

        Returns
        -------
        shapely.Polygon
            The convex hull of the pixels' corners, in lon/lat degrees, counter-clockwise
            (RFC 7946 winding).

        Raises
        ------
        InputError
            If the mask selects no pixel or has the wrong shape.
        """
        if mask is None:
            xs = np.concatenate(
                [
                    self.corner_x[0, :],
                    self.corner_x[:, -1],
                    self.corner_x[-1, ::-1],
                    self.corner_x[::-1, 0],
                ]
            )
            ys = np.concatenate(
                [
                    self.corner_y[0, :],
                    self.corner_y[:, -1],
                    self.corner_y[-1, ::-1],
                    self.corner_y[::-1, 0],
                ]
            )
            ring = Polygon(np.column_stack([xs, ys]))
            if not ring.is_valid:
                ring = shapely.convex_hull(ring)
        else:
            if mask.shape != self.shape:
                raise InputError(f"mask has shape {mask.shape}, the line {self.shape}")
            rows, cols = np.nonzero(mask)
            if rows.size == 0:
                raise InputError("the mask selects no pixel")
            pts = np.concatenate(
                [
                    np.column_stack(
                        [self.corner_x[rows + a, cols + b], self.corner_y[rows + a, cols + b]]
                    )
                    for a in (0, 1)
                    for b in (0, 1)
                ]
            )
            ring = shapely.convex_hull(shapely.MultiPoint(pts))
        poly = self.frame.geom_to_lonlat(ring)
        return shapely.geometry.polygon.orient(poly, sign=1.0)

    def area_km2(self) -> float:
        """Ground area the line covers, km² (sum of its pixel areas)."""
        return float(np.nansum(self.pixel_area_m2) / 1e6)


def line_grid(lon: NDArray[np.float64], lat: NDArray[np.float64], source: str = "") -> LineGrid:
    """Build the pixel geometry of a line from its per-pixel lon/lat.

    Parameters
    ----------
    lon, lat : ndarray, shape (downtrack, crosstrack)
        Pixel centre longitude and latitude, degrees (finite).
    source : str
        Where they come from (a file name), for error messages.

    Returns
    -------
    LineGrid
        Centres and corners in a local UTM frame, pixel areas.

    Raises
    ------
    InputError
        If the arrays differ in shape, are empty, or hold non-finite values (a cube without
        georeferencing cannot place detections).

    Examples
    --------
    >>> import numpy as np
    >>> lat, lon = np.meshgrid(25.0 + np.arange(3) * 5e-5, -107.3 + np.arange(4) * 5e-5,
    ...                        indexing="ij")
    >>> g = line_grid(lon, lat)
    >>> 4.9 < g.pixel_size_m < 5.6
    True
    """
    where = f"{source}: " if source else ""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon.shape != lat.shape or lon.ndim != 2:
        raise InputError(f"{where}lat and lon must be 2-D arrays of the same shape")
    if min(lon.shape) < 2:
        raise InputError(
            f"{where}a line of {lon.shape} pixels is too small to place (2 × 2 at least)"
        )
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise InputError(f"{where}lat/lon have missing (NaN) values: the line is not georeferenced")
    frame = LocalFrame.around(float(np.mean(lon)), float(np.mean(lat)))
    xy = frame.to_xy(np.column_stack([lon.ravel(), lat.ravel()]))
    x = xy[:, 0].reshape(lon.shape)
    y = xy[:, 1].reshape(lon.shape)
    cx, cy = _corners(x), _corners(y)
    # Shoelace over each pixel's four corners (a, b, c, d counter- or clockwise).
    ax, ay = cx[:-1, :-1], cy[:-1, :-1]
    bx, by = cx[1:, :-1], cy[1:, :-1]
    qx, qy = cx[1:, 1:], cy[1:, 1:]
    dx, dy = cx[:-1, 1:], cy[:-1, 1:]
    area = 0.5 * np.abs(
        (ax * by - bx * ay) + (bx * qy - qx * by) + (qx * dy - dx * qy) + (dx * ay - ax * dy)
    )
    return LineGrid(lon, lat, frame, x, y, cx, cy, np.asarray(area, dtype=np.float64))
