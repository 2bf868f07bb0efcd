"""Restricted airspace around real airports, offline.

Airport positions, names and codes come from the ``airportsdata`` package (MIT licence; data
from OurAirports and national AIPs, https://github.com/mborsetti/airportsdata). It records no
size or traffic, so each airport gets a size class (``major`` for a configured list of busy
ICAO codes, ``medium`` for any other airport with an IATA code, ``small`` for ICAO-only
strips) and a protection radius per class, both read from the packaged ``airspace.yaml``.

Circles are built in the airport's own UTM zone (:class:`vigia.geo.LocalFrame`), corrected for
the projection's point scale factor, so their radius is right on the ellipsoid to well under
0.1 %.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import airportsdata
import numpy as np
import pyproj
import yaml
from numpy.typing import NDArray
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from vigia.errors import ConfigError, UnknownNameError
from vigia.geo import LocalFrame
from vigia.plan.mission import RestrictedZone

__all__ = [
    "CIRCLE_VERTICES",
    "Airport",
    "AirspaceConfig",
    "SizeClass",
    "airport",
    "airports_in",
    "airspace_config",
    "all_airports",
    "protection_circle",
    "restricted_airspace",
]

SizeClass = Literal["major", "medium", "small"]
SIZE_CLASSES: tuple[SizeClass, ...] = ("major", "medium", "small")

CIRCLE_VERTICES = 64
"""Vertices of each protection circle (the chord error at 64 is 0.12 % of the radius)."""


@dataclass(frozen=True)
class Airport:
    """An airport from ``airportsdata``.

    Attributes
    ----------
    icao : str
        ICAO location indicator (``"MMCL"``).
    iata : str or None
        IATA code (``"CUL"``), None for ICAO-only strips.
    name : str
        Airport name as in ``airportsdata``.
    lon, lat : float
        Aerodrome reference point, degrees.
    size : {"major", "medium", "small"}
        Size class that selects the protection radius.
    country : str
        ISO 3166-1 alpha-2 code.
    """

    icao: str
    iata: str | None
    name: str
    lon: float
    lat: float
    size: SizeClass
    country: str


@dataclass(frozen=True)
class AirspaceConfig:
    """Protection radii and the list of major airports.

    Attributes
    ----------
    radii_m : mapping of size class to float
        Protection radius in metres for each size class.
    major_icao : frozenset of str
        ICAO codes treated as ``major``.
    """

    radii_m: Mapping[SizeClass, float]
    major_icao: frozenset[str]


@functools.cache
def airspace_config() -> AirspaceConfig:
    """Return the packaged airspace configuration (``vigia/data/airspace.yaml``), cached.

    Raises
    ------
    ConfigError
        If the file lacks a radius for a size class or a radius is not positive.
    """
    res = importlib.resources.files("vigia").joinpath("data", "airspace.yaml")
    raw = yaml.safe_load(res.read_text(encoding="utf-8"))
    radii = _check_radii(raw.get("radii_m", {}), "airspace.yaml: radii_m")
    major = frozenset(str(c).upper() for c in raw.get("major_icao", []))
    return AirspaceConfig(radii_m=radii, major_icao=major)


def _check_radii(radii: Mapping[str, float], where: str) -> dict[SizeClass, float]:
    out: dict[SizeClass, float] = {}
    unknown = sorted(set(radii) - set(SIZE_CLASSES))
    if unknown:
        raise ConfigError(f"{where}: unknown size class(es) {', '.join(unknown)}")
    for cls in SIZE_CLASSES:
        if cls not in radii:
            raise ConfigError(f"{where}: no radius for size class {cls!r}")
        r = float(radii[cls])
        if not (math.isfinite(r) and r > 0.0):
            raise ConfigError(f"{where}: radius for {cls!r} must be positive metres, got {r!r}")
        out[cls] = r
    return out


@functools.cache
def all_airports() -> tuple[Airport, ...]:
    """Return every airport in ``airportsdata`` with its size class, cached.

    Returns
    -------
    tuple of Airport
        Sorted by ICAO code (about 28,000 worldwide).
    """
    cfg = airspace_config()
    out = []
    for icao, rec in sorted(airportsdata.load("ICAO").items()):
        iata = str(rec.get("iata") or "") or None
        size: SizeClass = "major" if icao in cfg.major_icao else "medium" if iata else "small"
        out.append(
            Airport(
                icao=icao,
                iata=iata,
                name=str(rec["name"]),
                lon=float(rec["lon"]),
                lat=float(rec["lat"]),
                size=size,
                country=str(rec["country"]),
            )
        )
    return tuple(out)


@functools.cache
def _by_icao() -> dict[str, Airport]:
    return {a.icao: a for a in all_airports()}


@functools.cache
def _lonlat() -> NDArray[np.float64]:
    return np.array([(a.lon, a.lat) for a in all_airports()], dtype=np.float64)


def airport(icao: str) -> Airport:
    """Return the airport with an ICAO code.

    Parameters
    ----------
    icao : str
        ICAO location indicator, case-insensitive.

    Raises
    ------
    UnknownNameError
        If ``airportsdata`` has no such airport.

    Examples
    --------
    >>> airport("MMCL").iata
    'CUL'
    """
    try:
        return _by_icao()[icao.strip().upper()]
    except KeyError:
        raise UnknownNameError(
            f"unknown airport ICAO code {icao!r} (not in airportsdata)"
        ) from None


def airports_in(region: BaseGeometry, margin_m: float = 0.0) -> list[Airport]:
    """Return the airports inside a region or within a margin of it.

    Parameters
    ----------
    region : BaseGeometry
        Lon/lat degrees (a polygon, a union of areas, a point...).
    margin_m : float
        Distance in metres beyond the region edge within which airports count.

    Returns
    -------
    list of Airport
        Sorted by ICAO code.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> [a.icao for a in airports_in(Point(-107.39, 24.80), 10_000)]
    ['MMCL']
    """
    if region.is_empty:
        return []
    if margin_m < 0.0 or not math.isfinite(margin_m):
        raise ConfigError(f"margin_m must be non-negative metres, got {margin_m!r}")
    minx, miny, maxx, maxy = region.bounds
    # Coarse box in degrees first (1° lat ≥ 110.5 km), then exact distances in metres.
    dlat = margin_m / 110_000.0 + 1e-6
    coslat = max(math.cos(math.radians(max(abs(miny), abs(maxy)) + dlat)), 1e-6)
    dlon = dlat / coslat
    ll = _lonlat()
    hit = np.flatnonzero(
        (ll[:, 0] >= minx - dlon)
        & (ll[:, 0] <= maxx + dlon)
        & (ll[:, 1] >= miny - dlat)
        & (ll[:, 1] <= maxy + dlat)
    )
    airports = all_airports()
    out: list[Airport] = []
    for i in hit:
        a = airports[int(i)]
        if region.covers(Point(a.lon, a.lat)):
            out.append(a)
            continue
        if margin_m == 0.0:
            continue
        frame = LocalFrame.around(a.lon, a.lat)
        here = frame.geom_to_xy(Point(a.lon, a.lat))
        if frame.geom_to_xy(region).distance(here) <= margin_m * _scale(frame.epsg, a.lon, a.lat):
            out.append(a)
    return out


@functools.lru_cache(maxsize=4096)
def _scale(epsg: int, lon: float, lat: float) -> float:
    # Transverse Mercator is conformal: one point scale factor k for all directions.
    return float(pyproj.Proj(f"EPSG:{epsg}").get_factors(lon, lat).meridional_scale)


def protection_circle(lon: float, lat: float, radius_m: float) -> Polygon:
    """Return a geodesic circle around a point as a lon/lat polygon.

    The circle is built in the point's UTM zone with the radius scaled by the projection's
    point scale factor, so every vertex lies ``radius_m`` from the centre on the WGS84
    ellipsoid to better than 0.1 %.

    Parameters
    ----------
    lon, lat : float
        Centre, degrees.
    radius_m : float
        Radius on the ground, metres.

    Returns
    -------
    Polygon
        :data:`CIRCLE_VERTICES` vertices, lon/lat degrees.

    Examples
    --------
    >>> len(protection_circle(-107.475, 24.7645, 5556.0).exterior.coords) - 1
    64
    """
    if not (math.isfinite(radius_m) and radius_m > 0.0):
        raise ConfigError(f"radius_m must be positive metres, got {radius_m!r}")
    frame = LocalFrame.around(lon, lat)
    cx, cy = frame.to_xy(np.array([[lon, lat]]))[0]
    r = radius_m * _scale(frame.epsg, lon, lat)
    t = np.linspace(0.0, 2.0 * math.pi, CIRCLE_VERTICES, endpoint=False)
    xy = np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])
    return Polygon(frame.to_lonlat(xy))


def restricted_airspace(
    region: BaseGeometry,
    *,
    radii: Mapping[str, float] | None = None,
    exempt_icao: Iterable[str] = (),
    exclusions: Iterable[RestrictedZone] = (),
    margin_m: float | None = None,
) -> list[RestrictedZone]:
    """Return the airspace to avoid over a region: airport circles plus partner exclusions.

    Parameters
    ----------
    region : BaseGeometry
        Lon/lat degrees: the areas of interest and the transit corridor to them.
    radii : mapping of size class to float, optional
        Protection radii in metres for ``major``, ``medium`` and ``small`` airports; missing
        classes keep the packaged value.
    exempt_icao : iterable of str
        ICAO codes to leave out (the base the aircraft takes off from).
    exclusions : iterable of RestrictedZone
        Partner-declared no-fly zones, returned after the airports.
    margin_m : float, optional
        Airports this far outside the region count (metres); by default the largest
        protection radius, so every circle that reaches the region is returned.

    Returns
    -------
    list of RestrictedZone
        Airport circles (kind ``airport``, named ``"MMCL <airport name>"``), sorted by ICAO,
        then ``exclusions`` in the given order.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> zones = restricted_airspace(box(-107.6, 24.7, -107.3, 24.9), exempt_icao=["MMCL"])
    >>> "MMCL" in {z.name.split()[0] for z in zones}
    False
    """
    cfg = airspace_config()
    merged: dict[str, float] = {str(k): v for k, v in cfg.radii_m.items()}
    merged.update(radii or {})
    rad = _check_radii(merged, "radii")
    margin = max(rad.values()) if margin_m is None else margin_m
    exempt = {c.strip().upper() for c in exempt_icao}
    zones: list[RestrictedZone] = []
    for a in airports_in(region, margin):
        if a.icao in exempt:
            continue
        circle = protection_circle(a.lon, a.lat, rad[a.size])
        if margin_m is None and not circle.intersects(region):
            continue
        zones.append(RestrictedZone(name=f"{a.icao} {a.name}", kind="airport", polygon=circle))
    zones.extend(exclusions)
    return zones
