"""Coordinate conventions: WGS84 lon/lat for exchange, the local UTM zone for planar work.

Planar work (coverage, routing, distances) happens in metres in the UTM zone of the area's
centroid (Mexico spans zones 11–16). Headings in planar code are radians counter-clockwise from
east (+x); compass headings (degrees clockwise from north) appear only in data models and exports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

__all__ = [
    "LocalFrame",
    "compass_to_math",
    "math_to_compass",
    "utm_epsg",
]

G = TypeVar("G", bound=BaseGeometry)


def utm_epsg(lon: float, lat: float) -> int:
    """Return the EPSG code of the WGS84 UTM zone containing a point.

    Parameters
    ----------
    lon, lat : float
        Longitude and latitude in degrees.

    Returns
    -------
    int
        326xx in the northern hemisphere, 327xx in the southern.

    Examples
    --------
    >>> utm_epsg(-107.39, 24.80)  # Culiacán
    32613
    """
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def compass_to_math(deg: float) -> float:
    """Convert a compass bearing (degrees clockwise from north) to radians CCW from east."""
    return math.radians(90.0 - deg) % (2.0 * math.pi)


def math_to_compass(rad: float) -> float:
    """Convert radians CCW from east to a compass bearing in degrees [0, 360)."""
    return (90.0 - math.degrees(rad)) % 360.0


@dataclass(frozen=True)
class LocalFrame:
    """A planar frame (UTM metres) tied to WGS84 lon/lat.

    Parameters
    ----------
    epsg : int
        EPSG code of the projected CRS.
    """

    epsg: int

    @classmethod
    def around(cls, lon: float, lat: float) -> LocalFrame:
        """Pick the UTM zone of a point (usually an area's centroid)."""
        return cls(utm_epsg(lon, lat))

    @property
    def _fwd(self) -> pyproj.Transformer:
        return _transformer(4326, self.epsg)

    @property
    def _inv(self) -> pyproj.Transformer:
        return _transformer(self.epsg, 4326)

    def to_xy(self, lonlat: NDArray[np.float64]) -> NDArray[np.float64]:
        """Project ``(N, 2)`` lon/lat degrees to ``(N, 2)`` planar metres."""
        a = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        x, y = self._fwd.transform(a[:, 0], a[:, 1])
        return np.column_stack([x, y])

    def to_lonlat(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Unproject ``(N, 2)`` planar metres to ``(N, 2)`` lon/lat degrees."""
        a = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        lon, lat = self._inv.transform(a[:, 0], a[:, 1])
        return np.column_stack([lon, lat])

    def geom_to_xy(self, geom: G) -> G:
        """Project a lon/lat shapely geometry to planar metres."""
        out: G = shapely.transform(geom, self.to_xy)
        return out

    def geom_to_lonlat(self, geom: G) -> G:
        """Unproject a planar shapely geometry to lon/lat degrees."""
        out: G = shapely.transform(geom, self.to_lonlat)
        return out


_TRANSFORMERS: dict[tuple[int, int], pyproj.Transformer] = {}


def _transformer(src: int, dst: int) -> pyproj.Transformer:
    # Building a Transformer costs ~ms; planning calls it thousands of times.
    key = (src, dst)
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    return _TRANSFORMERS[key]
