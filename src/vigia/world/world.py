"""A seeded simulated world: a scenario's areas with land cover, sites, wind and schedules.

Everything is a deterministic function of the scenario and the seed, and of position and time,
so any flight line at any time sees a consistent world. The truth built here goes to its own
files; no detector reads it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

from vigia.errors import InputError
from vigia.geo import LocalFrame
from vigia.world.landcover import LandCoverModel, land_cover_model
from vigia.world.scenario import Scenario
from vigia.world.sites import Site, generate_sites

__all__ = ["Overpass", "Wind", "World", "build_world", "truth_geojson", "weather_analysis"]

Stability = Literal["A", "B", "C", "D", "E", "F"]


@dataclass(frozen=True)
class Wind:
    """Surface wind and atmospheric stability at a time.

    Attributes
    ----------
    speed_m_s : float
        Wind speed at 10 m, m/s.
    from_deg : float
        Compass direction the wind blows from, degrees.
    stability : {"A", "B", "C", "D", "E", "F"}
        Pasquill–Gifford stability class.
    """

    speed_m_s: float
    from_deg: float
    stability: Stability


@dataclass(frozen=True)
class Overpass:
    """One imaging line flown over the world.

    Attributes
    ----------
    line_id : str
        Imaging line id (``S01-L003``).
    time : datetime
        UTC time at the middle of the line.
    """

    line_id: str
    time: datetime


def pasquill_class(speed_m_s: float, solar_elevation_deg: float) -> Stability:
    """Pasquill–Gifford stability class from wind speed and the sun's elevation.

    Daytime classes follow Pasquill's (1961) table for strong (sun > 60°), moderate (35–60°)
    and slight (15–35°) insolation; night (sun < 0°) is taken as thin overcast or clear: E for
    winds under 3 m/s, D above; dawn and dusk (0–15°) are neutral, D.

    Parameters
    ----------
    speed_m_s : float
        Wind speed at 10 m, m/s.
    solar_elevation_deg : float
        Sun elevation, degrees.

    Returns
    -------
    str
        One of ``A`` (most unstable) to ``F`` (most stable).

    Examples
    --------
    >>> pasquill_class(1.5, 70.0), pasquill_class(4.0, 45.0), pasquill_class(1.0, -20.0)
    ('A', 'C', 'F')
    """
    u = speed_m_s
    if solar_elevation_deg >= 60.0:
        return "A" if u < 2 else "B" if u < 5 else "C"
    if solar_elevation_deg >= 35.0:
        return "A" if u < 2 else "B" if u < 3 else "C" if u < 5 else "D"
    if solar_elevation_deg >= 15.0:
        return "B" if u < 2 else "C" if u < 5 else "D"
    if solar_elevation_deg >= 0.0:
        return "D"
    return "F" if u < 2 else "E" if u < 3 else "D"


def solar_elevation(lon: float, lat: float, t: datetime) -> float:
    """Return the approximate solar elevation in degrees.

    Declination from a day-of-year cosine, no equation of time: good to a few degrees, enough
    to pick a stability class.
    """
    doy = t.timetuple().tm_yday
    decl = math.radians(-23.44) * math.cos(2.0 * math.pi * (doy + 10) / 365.0)
    hours = t.hour + t.minute / 60.0 + t.second / 3600.0 + lon / 15.0
    h = math.radians(15.0 * (hours - 12.0))
    phi = math.radians(lat)
    s = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(h)
    return math.degrees(math.asin(max(-1.0, min(1.0, s))))


@dataclass(frozen=True)
class World:
    """A scenario made concrete: sites, land cover, wind and emission schedules.

    Attributes
    ----------
    scenario : Scenario
        Areas, window and setting.
    seed : int
        The seed everything derives from.
    sites : tuple of Site
        Ground-truth sites.
    land_cover : LandCoverModel
        Class fractions anywhere in ``frame``.
    frame : LocalFrame
        The world's planar frame.
    """

    scenario: Scenario
    seed: int
    sites: tuple[Site, ...]
    land_cover: LandCoverModel
    frame: LocalFrame
    _wind_modes: tuple[tuple[float, float, float], ...]
    _wind_mean_from: float

    def wind_at(self, t: datetime) -> Wind:
        """Return the wind over the world at a UTC time (smooth in time, seeded)."""
        if t.tzinfo is None:
            raise InputError("times must be timezone-aware UTC")
        hours = (t - self.scenario.window_start).total_seconds() / 3600.0
        a = sum(amp * math.cos(2 * math.pi * hours / per + ph) for per, ph, amp in self._wind_modes)
        # Direction wanders with the slower modes only: fronts and sea breezes, not gusts.
        b = sum(
            amp * math.sin(2 * math.pi * hours / per + ph)
            for per, ph, amp in self._wind_modes
            if per >= 7.0
        )
        anchor = self.scenario.areas[0][1].centroid
        elev = solar_elevation(anchor.x, anchor.y, t)
        # Light nights, breezier afternoons: median 3 m/s, log-normal spread, diurnal swing.
        speed = 3.0 * math.exp(0.45 * a + 0.25 * max(0.0, elev) / 60.0)
        speed = min(12.0, max(0.5, speed))
        from_deg = (self._wind_mean_from + 45.0 * b) % 360.0
        return Wind(round(speed, 2), round(from_deg, 1), pasquill_class(speed, elev))

    def active_periods(self, site: Site) -> list[tuple[datetime, datetime]]:
        """Return when a site emits within the scenario window (seeded per site)."""
        start, end = self.scenario.window_start, self.scenario.window_end
        if site.duty_cycle >= 1.0:
            return [(start, end)]
        rng = np.random.default_rng([self.seed, zlib.crc32(site.site_id.encode())])
        periods: list[tuple[datetime, datetime]] = []
        t = start + timedelta(hours=float(rng.uniform(0.0, 24.0)))
        while t < end:
            # Sessions of a few hours; gaps sized so that on-time / total ≈ duty cycle.
            on = float(rng.uniform(2.0, 6.0))
            off = on * (1.0 - site.duty_cycle) / site.duty_cycle * float(rng.uniform(0.5, 1.5))
            periods.append((t, min(end, t + timedelta(hours=on))))
            t += timedelta(hours=on + off)
        return periods

    def is_active(self, site: Site, t: datetime) -> bool:
        """Tell whether a site emits at a time."""
        return any(a <= t < b for a, b in self.active_periods(site))


def build_world(scenario: Scenario, seed: int = 0) -> World:
    """Build the simulated world of a scenario.

    Parameters
    ----------
    scenario : Scenario
        Areas, window and setting (rural or industrial).
    seed : int
        Random seed: the same scenario and seed give the same world.

    Returns
    -------
    World
        Sites, land cover, wind and schedules.
    """
    setting: Literal["rural", "industrial"] = (
        "industrial" if scenario.setting == "industrial" else "rural"
    )
    sites = generate_sites(list(scenario.areas), setting=setting, seed=seed, prefix=scenario.name)
    anchor = scenario.areas[0][1].centroid
    rng = np.random.default_rng([seed, 1])
    # Wind variability at synoptic to hourly periods (hours), unit total variance.
    periods = (36.0, 17.0, 7.0, 3.0)
    amps = np.array([0.6, 0.5, 0.4, 0.3])
    amps = amps / math.sqrt(float((amps**2).sum()) / 2.0)
    modes = tuple(
        (p, float(rng.uniform(0, 2 * math.pi)), float(a))
        for p, a in zip(periods, amps, strict=True)
    )
    return World(
        scenario=scenario,
        seed=seed,
        sites=tuple(sites),
        land_cover=land_cover_model(setting, seed),
        frame=LocalFrame.around(anchor.x, anchor.y),
        _wind_modes=modes,
        _wind_mean_from=float(rng.uniform(0.0, 360.0)),
    )


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def truth_geojson(world: World, overpasses: Sequence[Overpass] = ()) -> dict[str, Any]:
    """Build the truth file: every site with its kind, emissions, schedule and overpass winds.

    Parameters
    ----------
    world : World
        The simulated world.
    overpasses : sequence of Overpass
        Imaging lines flown; each site lists the wind and whether it was emitting at each.

    Returns
    -------
    dict
        A GeoJSON FeatureCollection (RFC 7946), one Point Feature per site at its source.
    """
    winds = [(o, world.wind_at(o.time)) for o in overpasses]
    features = []
    for site in world.sites:
        props = site.to_properties()
        props["active_periods"] = [[_iso(a), _iso(b)] for a, b in world.active_periods(site)]
        props["overpasses"] = [
            {
                "line_id": o.line_id,
                "time": _iso(o.time),
                "active": world.is_active(site, o.time),
                "wind_speed_m_s": w.speed_m_s,
                "wind_from_deg": w.from_deg,
                "stability": w.stability,
            }
            for o, w in winds
        ]
        features.append(
            {
                "type": "Feature",
                "id": site.site_id,
                "geometry": {
                    "type": "Point",
                    "coordinates": [round(site.lon, 7), round(site.lat, 7)],
                },
                "properties": props,
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {
            "scenario": world.scenario.name,
            "seed": world.seed,
            "source": "Vigía simulated world: sites, rates and schedules are modelling "
            "assumptions (see vigia.world.sites), not observations",
        },
    }


# Errors of a 10 m wind analysis (a reanalysis or a nearby station) against the true wind:
# speed ~1 m/s at 4 m/s, direction ~15° (order of magnitude of reported RMSEs, e.g. ERA5 and
# HRRR 10 m wind verification); the detector is told the speed sigma.
ANALYSIS_SPEED_SIGMA = (0.5, 0.2)  # max(absolute m/s, relative)
ANALYSIS_DIRECTION_SIGMA_DEG = 15.0


def weather_analysis(world: World, overpasses: Sequence[Overpass], seed: int = 0) -> dict[str, Any]:
    """Build a weather file for the lines flown: the wind a forecaster would hand the analyst.

    The world's wind at each line's time plus a seeded analysis error, so that detectors see
    the wind as uncertain as a real one and never the truth itself.

    Parameters
    ----------
    world : World
        The simulated world.
    overpasses : sequence of Overpass
        Lines flown (id and mid-line time).
    seed : int
        Seed of the analysis errors.

    Returns
    -------
    dict
        ``{"lines": {line_id: {"time", "wind_speed_m_s", "wind_speed_sigma_m_s",
        "wind_from_deg"}}, "source": ...}`` (read by :func:`vigia.detect.files.read_weather`).
    """
    lines: dict[str, dict[str, Any]] = {}
    for o in overpasses:
        w = world.wind_at(o.time)
        rng = np.random.default_rng([world.seed, seed, zlib.crc32(o.line_id.encode())])
        sigma = max(ANALYSIS_SPEED_SIGMA[0], ANALYSIS_SPEED_SIGMA[1] * w.speed_m_s)
        speed = max(0.5, w.speed_m_s + float(rng.normal(0.0, sigma)))
        direction = (w.from_deg + float(rng.normal(0.0, ANALYSIS_DIRECTION_SIGMA_DEG))) % 360.0
        lines[o.line_id] = {
            "time": _iso(o.time),
            "wind_speed_m_s": round(speed, 2),
            "wind_speed_sigma_m_s": round(sigma, 2),
            "wind_from_deg": round(direction, 1),
        }
    return {
        "lines": lines,
        "source": "simulated weather analysis: the world's 10 m wind plus a seeded analysis "
        f"error (speed sigma max({ANALYSIS_SPEED_SIGMA[0]} m/s, "
        f"{ANALYSIS_SPEED_SIGMA[1]:.0%}), direction sigma {ANALYSIS_DIRECTION_SIGMA_DEG:.0f} "
        "deg); modelled, not the truth",
    }
