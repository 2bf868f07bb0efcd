"""Scenarios: named areas of interest, partner exclusions, base and time window.

A scenario is packaged YAML (``vigia/data/scenarios/<name>.yaml``) read with
:func:`load_scenario`. Every polygon in it, and every area a user brings later, passes through
:func:`validate_area`, the single place where geometry is checked.

Polygons are written as lists of rings in GeoJSON order (lon, lat): the first ring is the
exterior, the others are holes; every ring is closed.
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely
import yaml
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from vigia.errors import ConfigError, GeometryError, UnknownNameError
from vigia.plan.mission import RestrictedZone
from vigia.world.airspace import airport
from vigia.world.country import country_name, partner_boundary, within_partner

__all__ = [
    "Scenario",
    "list_scenarios",
    "load_scenario",
    "polygon_to_rings",
    "scenario_from_dict",
    "validate_area",
]

_REQUIRED = ("name", "title", "description", "partner", "base", "window", "revisit_hours", "areas")
_OPTIONAL = ("exclusions", "setting")
_SETTINGS = ("rural", "industrial")

Rings = Sequence[Sequence[Sequence[float]]]


@dataclass(frozen=True)
class Scenario:
    """A surveillance scenario: where to look, what to avoid, from where and when.

    Attributes
    ----------
    name : str
        Short identifier (``"sinaloa"``).
    title, description : str
        Human-readable text.
    partner : str
        ISO 3166-1 alpha-2 code of the partner country (``"MX"``).
    base_icao : str
        ICAO code of the base airport (in ``airportsdata``).
    areas : tuple of (str, Polygon)
        Named areas of interest, lon/lat degrees; holes are not imaged.
    exclusions : tuple of RestrictedZone
        Partner-declared no-fly polygons (kind ``partner_exclusion``).
    window_start, window_end : datetime
        Timezone-aware UTC bounds of the tasking window.
    revisit_hours : float
        Interval between revisits of each area, in hours.
    setting : {"rural", "industrial"}
        What kind of ground the world simulator builds: Sierra foothills or industrial corridor.
    """

    name: str
    title: str
    description: str
    partner: str
    base_icao: str
    areas: tuple[tuple[str, Polygon], ...]
    exclusions: tuple[RestrictedZone, ...]
    window_start: datetime
    window_end: datetime
    revisit_hours: float
    setting: str = "rural"

    @property
    def area_names(self) -> list[str]:
        """Names of the areas, in file order."""
        return [n for n, _ in self.areas]

    def area(self, name: str) -> Polygon:
        """Return the polygon of the area called ``name``.

        Raises
        ------
        UnknownNameError
            If the scenario has no such area.
        """
        for n, poly in self.areas:
            if n == name:
                return poly
        raise UnknownNameError(
            f"scenario {self.name!r} has no area {name!r}; areas: {', '.join(self.area_names)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the scenario as plain data, in the layout of the packaged YAML files.

        Returns
        -------
        dict
            JSON/YAML-serialisable; :func:`scenario_from_dict` reads it back.
        """
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "partner": self.partner,
            "base": self.base_icao,
            "window": {"start": _iso_z(self.window_start), "end": _iso_z(self.window_end)},
            "revisit_hours": self.revisit_hours,
            "setting": self.setting,
            "areas": [{"name": n, "rings": polygon_to_rings(p)} for n, p in self.areas],
            "exclusions": [
                {"name": z.name, "rings": polygon_to_rings(z.polygon)} for z in self.exclusions
            ],
        }


def polygon_to_rings(polygon: Polygon) -> list[list[list[float]]]:
    """Return a polygon as closed lon/lat rings (exterior first, then holes).

    Examples
    --------
    >>> polygon_to_rings(Polygon([(0, 0), (1, 0), (1, 1)]))
    [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]
    """
    rings = [polygon.exterior, *polygon.interiors]
    return [[[float(x), float(y)] for x, y, *_ in r.coords] for r in rings]


def _iso_z(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_rings(rings: Any, name: str) -> Polygon:
    if not isinstance(rings, Sequence) or isinstance(rings, str) or not rings:
        raise GeometryError(f"area {name!r}: expected a list of rings, got {type(rings).__name__}")
    parsed: list[list[tuple[float, float]]] = []
    for i, ring in enumerate(rings):
        what = "exterior ring" if i == 0 else f"hole {i}"
        if not isinstance(ring, Sequence) or isinstance(ring, str):
            raise GeometryError(f"area {name!r}: {what} is not a list of [lon, lat] points")
        pts: list[tuple[float, float]] = []
        for j, pt in enumerate(ring):
            if (
                not isinstance(pt, Sequence)
                or isinstance(pt, str)
                or len(pt) < 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pt)
            ):
                raise GeometryError(
                    f"area {name!r}: {what} point {j} is {pt!r}, expected [lon, lat] numbers"
                )
            pts.append((float(pt[0]), float(pt[1])))
        if len(pts) < 4:
            raise GeometryError(
                f"area {name!r}: {what} has {len(pts)} points; a closed ring needs at least 4"
            )
        if pts[0] != pts[-1]:
            raise GeometryError(
                f"area {name!r}: {what} is not closed: first point {list(pts[0])} "
                f"differs from last point {list(pts[-1])}"
            )
        _check_ranges([c for p in pts for c in p], name)
        parsed.append(pts)
    return Polygon(parsed[0], parsed[1:])


def _check_ranges(flat: Sequence[float], name: str) -> None:
    lons, lats = flat[0::2], flat[1::2]
    if any(not math.isfinite(v) for v in flat):
        raise GeometryError(f"area {name!r}: coordinates contain NaN or infinity")
    worst_lat = max(lats, key=abs)
    if abs(worst_lat) > 90.0:
        raise GeometryError(
            f"area {name!r}: latitude {worst_lat:g} is outside [-90, 90]; "
            "coordinates look swapped: GeoJSON order is lon, lat"
        )
    worst_lon = max(lons, key=abs)
    if abs(worst_lon) > 180.0:
        raise GeometryError(f"area {name!r}: longitude {worst_lon:g} is outside [-180, 180]")


def validate_area(polygon: Polygon | BaseGeometry | Rings, name: str, partner: str) -> Polygon:
    """Check an area of interest (or exclusion) and return it as a polygon.

    Parameters
    ----------
    polygon : Polygon or list of rings
        The area in WGS84 lon/lat degrees: a shapely ``Polygon`` or GeoJSON-style polygon
        coordinates (exterior ring first, then holes, each a closed list of ``[lon, lat]``).
    name : str
        Name of the area, used in error messages.
    partner : str
        ISO 3166-1 alpha-2 code of the country the area must lie in.

    Returns
    -------
    Polygon
        The validated polygon (lon/lat degrees).

    Raises
    ------
    GeometryError
        With a one-line message naming the area if a ring is not closed, coordinates are out
        of range (swapped lon/lat), the polygon is empty, has zero area or is invalid (e.g.
        self-intersecting), or it lies outside the partner country.
    UnknownNameError
        If no boundary ships for ``partner``.

    Examples
    --------
    >>> ring = [[-107.4, 24.95], [-107.25, 24.95], [-107.25, 25.08], [-107.4, 24.95]]
    >>> round(validate_area([ring], "tepuche", "MX").area, 4)
    0.0098
    """
    if isinstance(polygon, BaseGeometry):
        if not isinstance(polygon, Polygon):
            raise GeometryError(f"area {name!r}: expected a Polygon, got a {polygon.geom_type}")
        poly = polygon
        if not poly.is_empty:
            coords = shapely.get_coordinates(poly)
            _check_ranges([float(v) for v in coords.ravel()], name)
    else:
        poly = _check_rings(polygon, name)
    # A bow-tie also sums to zero area, so degenerate (collinear) rings are told apart first.
    if poly.is_empty or poly.convex_hull.area == 0.0:
        raise GeometryError(f"area {name!r} is empty or has zero area")
    if not poly.is_valid:
        raise GeometryError(
            f"area {name!r} is not a valid polygon: {shapely.is_valid_reason(poly)}"
        )
    if poly.area == 0.0:
        raise GeometryError(f"area {name!r} is empty or has zero area")
    boundary = partner_boundary(partner)  # raises UnknownNameError for an unknown partner
    if not within_partner(poly, partner):
        outside = poly.difference(boundary)
        frac = 100.0 * outside.area / poly.area
        c = poly.centroid
        hint = ""
        swapped = shapely.transform(poly, lambda a: a[:, ::-1])
        if within_partner(swapped, partner):
            hint = "; coordinates look swapped: GeoJSON order is lon, lat"
        raise GeometryError(
            f"area {name!r} (centroid lon {c.x:.4f}, lat {c.y:.4f}) lies outside "
            f"{country_name(partner)} ({partner.upper()}): {frac:.0f} % of it is beyond the "
            f"border{hint}"
        )
    return poly


def list_scenarios() -> list[str]:
    """Return the names of the packaged scenarios.

    Examples
    --------
    >>> list_scenarios()
    ['central', 'sinaloa']
    """
    d = importlib.resources.files("vigia").joinpath("data", "scenarios")
    return sorted(p.name.removesuffix(".yaml") for p in d.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name: str) -> Scenario:
    """Load and validate a packaged scenario.

    Parameters
    ----------
    name : str
        One of :func:`list_scenarios`.

    Returns
    -------
    Scenario

    Raises
    ------
    UnknownNameError
        If there is no such scenario (the message lists the valid names).
    ConfigError, GeometryError
        If the packaged file is malformed.

    Examples
    --------
    >>> load_scenario("sinaloa").base_icao
    'MMCL'
    """
    names = list_scenarios()
    if name not in names:
        raise UnknownNameError(f"unknown scenario {name!r}; valid names: {', '.join(names)}")
    res = importlib.resources.files("vigia").joinpath("data", "scenarios", f"{name}.yaml")
    source = f"scenarios/{name}.yaml"
    try:
        data = yaml.safe_load(res.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    return scenario_from_dict(data, source)


def _parse_time(value: Any, field: str, source: str) -> datetime:
    if isinstance(value, datetime):
        t = value
    elif isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(f"{source}: {field} {value!r} is not ISO 8601") from exc
    else:
        raise ConfigError(f"{source}: {field} must be an ISO 8601 string, got {value!r}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise ConfigError(f"{source}: {field} {value!r} has no time zone; write it in UTC with Z")
    return t.astimezone(UTC)


def _named_polygons(items: Any, key: str, source: str, partner: str) -> list[tuple[str, Polygon]]:
    if not isinstance(items, list):
        raise ConfigError(f"{source}: {key} must be a list, got {type(items).__name__}")
    out: list[tuple[str, Polygon]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or "name" not in item or "rings" not in item:
            raise ConfigError(f"{source}: {key}[{i}] needs 'name' and 'rings'")
        nm = str(item["name"])
        if nm in seen:
            raise ConfigError(f"{source}: {key}[{i}] repeats the name {nm!r}")
        seen.add(nm)
        try:
            out.append((nm, validate_area(item["rings"], nm, partner)))
        except GeometryError as exc:
            raise GeometryError(f"{source}: {key}[{i}]: {exc}") from exc
    return out


def scenario_from_dict(d: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    """Build and validate a scenario from plain data (the YAML layout).

    Parameters
    ----------
    d : mapping
        Keys ``name``, ``title``, ``description``, ``partner``, ``base`` (ICAO),
        ``window`` (``start``, ``end``: ISO 8601 UTC), ``revisit_hours`` (h), ``areas``
        and optionally ``exclusions`` (lists of ``{name, rings}``) and ``setting``
        (``rural`` or ``industrial``, default ``rural``).
    source : str
        Where the data came from, for error messages (a file name).

    Returns
    -------
    Scenario

    Raises
    ------
    ConfigError
        For a missing or unknown key, a bad time, window or revisit interval, or a base ICAO
        code that ``airportsdata`` does not know.
    GeometryError
        For an invalid polygon (the message names the area).
    """
    if not isinstance(d, Mapping):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise ConfigError(f"{source}: missing key(s) {', '.join(missing)}")
    unknown = sorted(set(d) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(map(str, unknown))}")
    partner = str(d["partner"]).upper()
    try:
        partner_boundary(partner)
    except UnknownNameError as exc:
        raise UnknownNameError(f"{source}: {exc}") from exc

    base = str(d["base"]).upper()
    try:
        airport(base)
    except UnknownNameError as exc:
        raise ConfigError(f"{source}: base {base!r} is not an airport in airportsdata") from exc

    window = d["window"]
    if not isinstance(window, Mapping) or "start" not in window or "end" not in window:
        raise ConfigError(f"{source}: window needs 'start' and 'end'")
    start = _parse_time(window["start"], "window.start", source)
    end = _parse_time(window["end"], "window.end", source)
    if end <= start:
        raise ConfigError(f"{source}: window ends ({_iso_z(end)}) before it starts")
    try:
        revisit = float(d["revisit_hours"])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: revisit_hours must be a number of hours") from exc
    if not revisit > 0.0:
        raise ConfigError(f"{source}: revisit_hours must be positive, got {revisit:g}")

    setting = str(d.get("setting", "rural"))
    if setting not in _SETTINGS:
        raise ConfigError(
            f"{source}: setting must be one of {', '.join(_SETTINGS)}, got {setting!r}"
        )

    areas = _named_polygons(d["areas"], "areas", source, partner)
    if not areas:
        raise ConfigError(f"{source}: a scenario needs at least one area")
    exclusions = [
        RestrictedZone(name=nm, kind="partner_exclusion", polygon=poly)
        for nm, poly in _named_polygons(d.get("exclusions") or [], "exclusions", source, partner)
    ]
    return Scenario(
        name=str(d["name"]),
        title=str(d["title"]),
        description=str(d["description"]).strip(),
        partner=partner,
        base_icao=base,
        areas=tuple(areas),
        exclusions=tuple(exclusions),
        window_start=start,
        window_end=end,
        revisit_hours=revisit,
        setting=setting,
    )
