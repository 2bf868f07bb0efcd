"""Partner-country boundaries, read offline from packaged GeoJSON.

The boundaries ship in ``vigia/data/countries/<CC>.geojson``. They are Natural Earth 1:10m
*Admin 0 – Countries* (public domain), simplified at 0.005° (about 550 m) by
``scripts/make_country_boundary.py``, which documents the source and rebuilds them.
Because of that simplification, "inside the country" is tested against the boundary grown by
:data:`BOUNDARY_TOLERANCE_DEG`.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from importlib.resources.abc import Traversable
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from vigia.errors import ConfigError, UnknownNameError

__all__ = [
    "BOUNDARY_TOLERANCE_DEG",
    "country_name",
    "list_partners",
    "partner_boundary",
    "within_partner",
]

BOUNDARY_TOLERANCE_DEG = 0.01
"""Slack (degrees, about 1.1 km) allowed outside the simplified boundary: twice the
simplification tolerance, so a coastal or border area that is really inside is never refused."""


def _countries_dir() -> Traversable:
    return importlib.resources.files("vigia").joinpath("data", "countries")


def list_partners() -> list[str]:
    """Return the ISO 3166-1 alpha-2 codes of the packaged country boundaries.

    Returns
    -------
    list of str
        Sorted codes, e.g. ``["MX"]``.

    Examples
    --------
    >>> "MX" in list_partners()
    True
    """
    return sorted(
        p.name.removesuffix(".geojson")
        for p in _countries_dir().iterdir()
        if p.name.endswith(".geojson")
    )


@functools.cache
def _feature(code: str) -> dict[str, Any]:
    key = code.strip().upper()
    res = _countries_dir().joinpath(f"{key}.geojson")
    if not res.is_file():
        raise UnknownNameError(
            f"no boundary for partner country {code!r}; known: {', '.join(list_partners())}"
        )
    try:
        doc = json.loads(res.read_text(encoding="utf-8"))
        feature: dict[str, Any] = doc["features"][0]
    except (ValueError, KeyError, IndexError) as exc:
        raise ConfigError(f"packaged boundary {key}.geojson is malformed: {exc}") from exc
    return feature


@functools.cache
def partner_boundary(code: str) -> MultiPolygon | Polygon:
    """Return the boundary of a partner country as a lon/lat geometry.

    Parameters
    ----------
    code : str
        ISO 3166-1 alpha-2 code (case-insensitive), e.g. ``"MX"``.

    Returns
    -------
    MultiPolygon or Polygon
        WGS84 lon/lat degrees, simplified to about 550 m (islands under 5 km² dropped).

    Raises
    ------
    UnknownNameError
        If no boundary ships for ``code``.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> partner_boundary("MX").contains(Point(-107.39, 24.80))  # Culiacán
    True
    """
    geom = shape(_feature(code)["geometry"])
    if not isinstance(geom, (Polygon, MultiPolygon)):
        raise ConfigError(f"packaged boundary for {code!r} is a {geom.geom_type}, not a polygon")
    shapely.prepare(geom)
    return geom


def country_name(code: str) -> str:
    """Return the English name of a partner country (``"MX"`` → ``"Mexico"``)."""
    return str(_feature(code)["properties"].get("name", code.upper()))


@functools.cache
def _grown_boundary(code: str) -> BaseGeometry:
    grown = partner_boundary(code).buffer(BOUNDARY_TOLERANCE_DEG, quad_segs=4)
    shapely.prepare(grown)
    return grown


def within_partner(geom: BaseGeometry, code: str) -> bool:
    """Tell whether a lon/lat geometry lies inside a partner country.

    Parameters
    ----------
    geom : BaseGeometry
        Lon/lat degrees.
    code : str
        ISO 3166-1 alpha-2 code of the partner.

    Returns
    -------
    bool
        True when ``geom`` lies within the boundary grown by :data:`BOUNDARY_TOLERANCE_DEG`.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> within_partner(Point(-117.16, 32.72), "MX")  # San Diego, California
    False
    """
    return bool(_grown_boundary(code).covers(geom))
