"""The sortie planner: from areas and restricted airspace in lon/lat to a :class:`Mission`.

Projects everything to the local UTM frame, plans planar sorties (:mod:`vigia.plan.route`),
and brings the result back to lon/lat with the waypoints a ground station flies and a revisit
schedule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, Polygon

from vigia.errors import CoverageError, InputError
from vigia.geo import LocalFrame, math_to_compass
from vigia.plan.mission import (
    ImagingLine,
    Mission,
    RestrictedZone,
    Revisit,
    Sortie,
    Waypoint,
    WaypointKind,
)
from vigia.plan.revisit import revisit_areas
from vigia.plan.route import PlanarSortie, plan_sorties
from vigia.platform import Platform
from vigia.world.airspace import airport, restricted_airspace
from vigia.world.scenario import Scenario, validate_area

__all__ = [
    "FlightParams",
    "check_areas",
    "flight_params",
    "gather_restrictions",
    "plan_areas",
    "plan_mission",
    "plan_revisit_sortie",
    "plan_scenario",
    "revisit_schedule",
]

# Ground stations fly straight legs between mission items; a turn is kept as short legs whose
# chords stay within this distance of the planned arc (metres).
WAYPOINT_TOLERANCE_M = 15.0
# Time on the ground between two sorties of the same aircraft (refuel, sensor checks).
TURNAROUND = timedelta(hours=3)


@dataclass(frozen=True)
class FlightParams:
    """Flight parameters of a plan.

    Attributes
    ----------
    platform : str
        Platform profile name.
    sensors : tuple of str
        Sensors flown; the swath is the narrowest of them.
    altitude_m : float
        Flight altitude above ground, metres.
    speed_m_s : float
        Cruise speed, m/s.
    turn_radius_m : float
        Minimum turn radius, metres.
    swath_m : float
        Imaged swath width, metres.
    sidelap : float
        Fraction of the swath shared by neighbouring lines.
    max_flight_s : float or None
        Flight time allowed per sortie (endurance less reserve), seconds.
    margin_m : float
        Clearance kept from restricted airspace, metres.
    """

    platform: str
    sensors: tuple[str, ...]
    altitude_m: float
    speed_m_s: float
    turn_radius_m: float
    swath_m: float
    sidelap: float = 0.1
    max_flight_s: float | None = None
    margin_m: float = 100.0


def revisit_schedule(
    durations_s: Sequence[float],
    start: datetime,
    end: datetime,
    every_hours: float,
) -> tuple[list[datetime], list[Revisit]]:
    """Schedule sorties one after another and their revisits inside a time window.

    One aircraft flies the sorties in order with :data:`TURNAROUND` between them; each sortie is
    then repeated every ``every_hours`` after its first flight until the window closes.

    Parameters
    ----------
    durations_s : sequence of float
        Flight time of each sortie, seconds.
    start, end : datetime
        Window, timezone-aware UTC.
    every_hours : float
        Revisit interval, hours.

    Returns
    -------
    departures : list of datetime
        First departure of each sortie.
    revisits : list of Revisit
        Later repeats, in time order.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise InputError("the time window must be timezone-aware UTC (ISO 8601 with Z)")
    if end <= start:
        raise InputError(f"the time window ends ({end:%Y-%m-%dT%H:%MZ}) before it starts")
    if not every_hours > 0:
        raise InputError(f"revisit interval must be positive, got {every_hours!r} h")
    departures: list[datetime] = []
    t = start
    for d in durations_s:
        departures.append(t)
        t = t + timedelta(seconds=d) + TURNAROUND
    interval = timedelta(hours=every_hours)
    revisits: list[Revisit] = []
    for i, dep in enumerate(departures, start=1):
        due = dep + interval
        while due < end:
            revisits.append(Revisit(i, due, f"scheduled revisit every {every_hours:g} h"))
            due += interval
    revisits.sort(key=lambda r: (r.due, r.sortie))
    return departures, revisits


def _waypoints(
    sortie: PlanarSortie, frame: LocalFrame, altitude: float, has_base: bool, ids: list[str]
) -> tuple[Waypoint, ...]:
    xy = sortie.path.xy
    # Line ends are exact samples of the path, found in flight order.
    marks: list[tuple[int, WaypointKind, str]] = []
    pos = 0
    for ln, lid in zip(sortie.lines, ids, strict=True):
        ends: tuple[tuple[tuple[float, float], WaypointKind], ...] = (
            (ln.start, "line_start"),
            (ln.end, "line_end"),
        )
        for pt, kind in ends:
            d = np.hypot(xy[pos:, 0] - pt[0], xy[pos:, 1] - pt[1])
            pos = pos + int(np.argmin(d))
            marks.append((pos, kind, lid))
    out: list[tuple[NDArray[np.float64], WaypointKind, str | None]] = []
    first_mark = marks[0][0]
    if has_base:
        out.append((xy[0], "takeoff", None))
        out.extend(_transit(xy[: first_mark + 1]))
    prev = None
    for idx, kind, lid in marks:
        if prev is not None and kind == "line_start":
            out.extend(_transit(xy[prev : idx + 1]))
        out.append((xy[idx], kind, lid))
        prev = idx
    if has_base and prev is not None:
        out.extend(_transit(xy[prev:]))
        out.append((xy[-1], "land", None))
    pts = frame.to_lonlat(np.array([p for p, _, _ in out]))
    return tuple(
        Waypoint(
            float(lon),
            float(lat),
            0.0 if kind in ("takeoff", "land") else altitude,
            kind,
            lid,
        )
        for (lon, lat), (_, kind, lid) in zip(pts, out, strict=True)
    )


def _transit(
    xy: NDArray[np.float64],
) -> list[tuple[NDArray[np.float64], WaypointKind, str | None]]:
    # Interior vertices of the simplified transit leg (its ends are the neighbouring items).
    if len(xy) < 3:
        return []
    simple = np.asarray(LineString(xy).simplify(WAYPOINT_TOLERANCE_M).coords)
    return [(p, "transit", None) for p in simple[1:-1]]


def plan_mission(
    name: str,
    partner: str,
    areas: Sequence[tuple[str, Polygon]],
    restricted: Sequence[RestrictedZone],
    params: FlightParams,
    *,
    base: tuple[str, float, float] | None = None,
    window: tuple[datetime, datetime] | None = None,
    revisit_hours: float | None = None,
    holes_restricted: bool = True,
    time_limit_s: float | None = None,
    line_prefix: str = "",
) -> Mission:
    """Plan sorties covering areas of interest, flyable and clear of restricted airspace.

    Parameters
    ----------
    name : str
        Plan name.
    partner : str
        ISO 3166-1 alpha-2 code of the partner country.
    areas : sequence of (str, Polygon)
        Named areas of interest, lon/lat degrees; holes are not imaged.
    restricted : sequence of RestrictedZone
        Airspace the aircraft must not enter (airports, partner exclusions, user zones).
    params : FlightParams
        Platform, sensor and flight parameters.
    base : (str, float, float), optional
        ``(name, lon, lat)`` of the base; sorties start and end there.
    window : (datetime, datetime), optional
        UTC time window for the sorties and their revisits.
    revisit_hours : float, optional
        Revisit interval; needs ``window``.
    holes_restricted : bool
        Treat holes in areas as restricted airspace (the safe default).
    time_limit_s : float, optional
        Time given to the routing solver.
    line_prefix : str
        Put before every line id (``S01-L001`` becomes ``RV-S01-L001`` with ``"RV-"``), so
        that the lines of another plan over the same places keep their own ids: fusion
        counts looks per line id.

    Returns
    -------
    Mission
        Sorties with routes, imaging lines, waypoints and revisits, in lon/lat.
    """
    if not areas:
        raise InputError("no area of interest to plan for")
    if not params.altitude_m > 0:
        raise InputError(f"altitude must be positive, got {params.altitude_m!r} m")
    anchor = shapely.union_all([a for _, a in areas]).centroid
    frame = LocalFrame.around(anchor.x, anchor.y)
    areas_xy = [(n, frame.geom_to_xy(a)) for n, a in areas]
    zones = list(restricted)
    if holes_restricted:
        zones += [
            RestrictedZone(f"{n}: hole {i + 1}", "aoi_hole", Polygon(h))
            for n, a in areas
            for i, h in enumerate(a.interiors)
        ]
    blocked = shapely.union_all([frame.geom_to_xy(z.polygon) for z in restricted])
    base_xy = None
    if base is not None:
        bx, by = frame.to_xy(np.array([[base[1], base[2]]]))[0]
        base_xy = (float(bx), float(by))
    planar = plan_sorties(
        areas_xy,
        blocked,
        swath=params.swath_m,
        sidelap=params.sidelap,
        radius=params.turn_radius_m,
        speed=params.speed_m_s,
        base=base_xy,
        max_flight_s=params.max_flight_s,
        margin=params.margin_m,
        holes_restricted=holes_restricted,
        time_limit_s=time_limit_s,
    )
    sorties: list[Sortie] = []
    for i, ps in enumerate(planar, start=1):
        ids = [f"{line_prefix}S{i:02d}-L{j:03d}" for j in range(1, len(ps.lines) + 1)]
        lines = []
        for lid, ln in zip(ids, ps.lines, strict=True):
            (x0, y0), (x1, y1) = ln.start, ln.end
            (lon0, lat0), (lon1, lat1) = frame.to_lonlat(np.array([ln.start, ln.end]))
            lines.append(
                ImagingLine(
                    line_id=lid,
                    area=ln.area,
                    sortie=i,
                    start=(float(lon0), float(lat0)),
                    end=(float(lon1), float(lat1)),
                    heading_deg=round(math_to_compass(math.atan2(y1 - y0, x1 - x0)), 3),
                    length_m=round(ln.length, 1),
                    swath_m=params.swath_m,
                    altitude_m=params.altitude_m,
                )
            )
        sorties.append(
            Sortie(
                index=i,
                route=frame.to_lonlat(ps.path.xy),
                length_m=round(ps.path.length, 1),
                duration_s=round(ps.path.length / params.speed_m_s, 1),
                lines=tuple(lines),
                waypoints=_waypoints(ps, frame, params.altitude_m, base is not None, ids),
                areas=ps.areas,
            )
        )
    revisits: list[Revisit] = []
    if window is not None and revisit_hours is not None:
        _, revisits = revisit_schedule(
            [s.duration_s for s in sorties], window[0], window[1], revisit_hours
        )
    return Mission(
        name=name,
        partner=partner,
        base=base,
        platform=params.platform,
        sensors=params.sensors,
        altitude_m=params.altitude_m,
        speed_m_s=params.speed_m_s,
        turn_radius_m=params.turn_radius_m,
        swath_m=params.swath_m,
        sidelap=params.sidelap,
        areas=list(areas),
        restricted=zones,
        sorties=sorties,
        revisits=revisits,
        epsg=frame.epsg,
    )


def flight_params(
    platform: Platform,
    sensors: Sequence[str] | None = None,
    altitude_m: float | None = None,
    *,
    swath_m: float | None = None,
    turn_radius_m: float | None = None,
    sidelap: float = 0.1,
    endurance_h: float | None = None,
    margin_m: float = 100.0,
) -> FlightParams:
    """Derive flight parameters from a platform profile, with explicit overrides.

    Parameters
    ----------
    platform : Platform
        Aircraft profile.
    sensors : sequence of str, optional
        Sensors flown (default: all the platform carries); the swath is the narrowest.
    altitude_m : float, optional
        Height above ground (default: the profile's), metres.
    swath_m, turn_radius_m : float, optional
        Override the swath and the turn radius derived from the profile, metres.
    sidelap : float
        Fraction of the swath shared by neighbouring lines.
    endurance_h : float, optional
        Override the flight time per sortie (before reserve), hours.
    margin_m : float
        Clearance from restricted airspace, metres.

    Returns
    -------
    FlightParams
        Parameters for :func:`plan_mission`.
    """
    alt = platform.default_altitude_m if altitude_m is None else altitude_m
    if not 0 < alt <= platform.service_ceiling_m:
        raise InputError(
            f"altitude {alt:g} m is outside (0, {platform.service_ceiling_m:g}] m, "
            f"the service ceiling of {platform.name}"
        )
    names = tuple(sensors) if sensors else tuple(platform.sensor_names)
    swath, _ = platform.narrowest_swath(names, alt)
    if swath_m is not None:
        if not swath_m > 0:
            raise InputError(f"--swath-m must be positive, got {swath_m:g}")
        swath = swath_m
    radius = platform.turn_radius_m if turn_radius_m is None else turn_radius_m
    if not radius > 0:
        raise InputError(f"turn radius must be positive, got {radius:g} m")
    if endurance_h is None:
        max_s = platform.usable_endurance_s
    elif endurance_h > 0:
        max_s = endurance_h * 3600.0 * (1.0 - platform.reserve_fraction)
    else:
        raise InputError(f"endurance must be positive, got {endurance_h:g} h")
    return FlightParams(
        platform=platform.name,
        sensors=names,
        altitude_m=alt,
        speed_m_s=platform.cruise_speed_m_s,
        turn_radius_m=radius,
        swath_m=swath,
        sidelap=sidelap,
        max_flight_s=max_s,
        margin_m=margin_m,
    )


def gather_restrictions(
    areas: Sequence[tuple[str, Polygon]],
    *,
    base: tuple[str, float, float] | None,
    exclusions: Sequence[RestrictedZone] = (),
    airports: bool = True,
    airport_radii: Mapping[str, float] | None = None,
) -> list[RestrictedZone]:
    """Collect the restricted airspace that matters for a plan.

    Airports (from ``airportsdata``) near the areas and the corridor from the base, except the
    base itself, plus the given exclusions.

    Parameters
    ----------
    areas : sequence of (str, Polygon)
        Areas of interest, lon/lat.
    base : (str, float, float) or None
        ``(ICAO or name, lon, lat)`` of the base.
    exclusions : sequence of RestrictedZone
        Partner-declared or user no-fly zones.
    airports : bool
        Include airport protection zones.
    airport_radii : mapping of str to float, optional
        Protection radius in metres by size class (``major``, ``medium``, ``small``),
        overriding the packaged defaults.

    Returns
    -------
    list of RestrictedZone
        Zones to avoid.
    """
    if not airports:
        return list(exclusions)
    parts = [a for _, a in areas]
    if base is not None:
        parts.append(shapely.Point(base[1], base[2]))
    # The corridor: everything between the base and the areas, and a little around it.
    region = shapely.union_all(parts).convex_hull.buffer(0.2)
    exempt = [base[0]] if base is not None else []
    return restricted_airspace(
        region, radii=airport_radii, exempt_icao=exempt, exclusions=exclusions
    )


def check_areas(
    areas: Sequence[tuple[str, Polygon]],
    restricted: Sequence[RestrictedZone],
    partner: str,
) -> None:
    """Refuse areas outside the partner country or swallowed by restricted airspace.

    Raises
    ------
    GeometryError
        If an area lies outside the partner country.
    CoverageError
        If restricted airspace covers an area entirely.
    """
    blocked = shapely.union_all([z.polygon for z in restricted])
    for name, poly in areas:
        validate_area(poly, name, partner)
        if not blocked.is_empty and poly.difference(blocked).area <= 1e-3 * poly.area:
            covering = [z.name for z in restricted if z.polygon.intersects(poly)]
            raise CoverageError(
                f"area {name!r} lies entirely in restricted airspace ({', '.join(covering)})"
            )


def plan_areas(
    name: str,
    partner: str,
    areas: Sequence[tuple[str, Polygon]],
    params: FlightParams,
    *,
    base_icao: str | None = None,
    exclusions: Sequence[RestrictedZone] = (),
    airports: bool = True,
    airport_radii: Mapping[str, float] | None = None,
    window: tuple[datetime, datetime] | None = None,
    revisit_hours: float | None = None,
    holes_restricted: bool = True,
    time_limit_s: float | None = None,
    line_prefix: str = "",
) -> Mission:
    """Plan a mission from named areas: gather restrictions, check the areas, plan sorties.

    Parameters
    ----------
    name, partner : str
        Plan name and partner country (ISO 3166-1 alpha-2).
    areas : sequence of (str, Polygon)
        Areas of interest, lon/lat.
    params : FlightParams
        Flight parameters (see :func:`flight_params`).
    base_icao : str, optional
        ICAO code of the base airport; without it the route is open.
    exclusions : sequence of RestrictedZone
        Partner-declared or user no-fly zones.
    airports : bool
        Avoid airport protection zones (from ``airportsdata``).
    airport_radii : mapping of str to float, optional
        Protection radius in metres by airport size class.
    window : (datetime, datetime), optional
        UTC tasking window.
    revisit_hours : float, optional
        Revisit interval, hours.
    holes_restricted : bool
        Treat holes in areas as restricted airspace.
    time_limit_s : float, optional
        Time given to the routing solver.
    line_prefix : str
        Put before every line id (:func:`plan_mission`).

    Returns
    -------
    Mission
        The planned mission (a draft until the partner approves it).
    """
    base = None
    if base_icao is not None:
        ap = airport(base_icao)
        base = (ap.icao, ap.lon, ap.lat)
    for zone in exclusions:
        validate_area(zone.polygon, zone.name, partner)
    restricted = gather_restrictions(
        areas, base=base, exclusions=exclusions, airports=airports, airport_radii=airport_radii
    )
    check_areas(areas, restricted, partner)
    return plan_mission(
        name,
        partner,
        areas,
        restricted,
        params,
        base=base,
        window=window,
        revisit_hours=revisit_hours,
        holes_restricted=holes_restricted,
        time_limit_s=time_limit_s,
        line_prefix=line_prefix,
    )


def plan_scenario(sc: Scenario, params: FlightParams) -> Mission:
    """Plan a built-in scenario as ``vigia demo`` does.

    Its areas, base, exclusions, imaging window and revisit interval, as the scenario states.

    Parameters
    ----------
    sc : Scenario
        The scenario (:func:`vigia.world.scenario.load_scenario`).
    params : FlightParams
        Platform and sensor parameters (:func:`flight_params`).

    Returns
    -------
    Mission
        The planned mission (a draft until the partner approves it).
    """
    return plan_areas(
        sc.name,
        sc.partner,
        sc.areas,
        params,
        base_icao=sc.base_icao,
        exclusions=sc.exclusions,
        window=(sc.window_start, sc.window_end),
        revisit_hours=sc.revisit_hours,
    )


def plan_revisit_sortie(
    places: Sequence[tuple[str, float, float]],
    params: FlightParams,
    *,
    partner: str,
    base_icao: str | None = None,
    exclusions: Sequence[RestrictedZone] = (),
    airports: bool = True,
    airport_radii: Mapping[str, float] | None = None,
    holes_restricted: bool = True,
    line_prefix: str = "RV-",
) -> Mission:
    """Plan a sortie that images just the places of revisit requests.

    Parameters
    ----------
    places : sequence of (str, float, float)
        ``(site id, lon, lat)`` of each place to see again (a site asked for twice is planned
        once, where it was first asked for).
    params : FlightParams
        Platform and sensor parameters (:func:`flight_params`).
    partner : str
        Partner whose territory it is (the sortie is submitted to it).
    base_icao : str, optional
        Base to fly from.
    exclusions : sequence of RestrictedZone
        Partner no-fly zones and user zones.
    airports : bool
        Keep out of airports near the places and the corridor (as :func:`plan_areas`).
    airport_radii : mapping of str to float, optional
        Keep-out radius by airport type, m.
    holes_restricted : bool
        As :func:`plan_areas`.
    line_prefix : str
        Put before its line ids (``RV-S01-L001``), so that its lines never take the ids of
        the survey's lines over the same places.

    Returns
    -------
    Mission
        The revisit mission, named ``revisit`` (a draft until the partner approves it).
    """
    first: dict[str, tuple[str, float, float]] = {}
    for site, lon, lat in places:
        first.setdefault(site, (site, lon, lat))
    once = list(first.values())
    return plan_areas(
        "revisit",
        partner,
        revisit_areas(once),
        params,
        base_icao=base_icao,
        exclusions=list(exclusions),
        airports=airports,
        airport_radii=airport_radii,
        holes_restricted=holes_restricted,
        line_prefix=line_prefix,
    )
