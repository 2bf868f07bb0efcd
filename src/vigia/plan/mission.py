"""The planned mission as plain data: imaging lines, sorties, waypoints and revisits.

Everything here is in WGS84 lon/lat degrees (exchange convention) except the planar
``FlightPath`` used while planning, which is in the local UTM frame (metres).
Headings in these records are compass bearings (degrees clockwise from north).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import Polygon

__all__ = [
    "FlightPath",
    "ImagingLine",
    "Mission",
    "RestrictedZone",
    "Revisit",
    "Sortie",
    "Waypoint",
    "WaypointKind",
]

WaypointKind = Literal["takeoff", "transit", "line_start", "line_end", "land"]


@dataclass(frozen=True)
class FlightPath:
    """A flyable planar path.

    Attributes
    ----------
    poses : (M, 3) float64
        Samples along the path: x and y in metres (local UTM), heading in radians
        counter-clockwise from east. Consecutive samples are at most a few tens of metres apart.
    length : float
        Exact length of the path in metres (from the curve, not the samples).
    """

    poses: NDArray[np.float64]
    length: float

    @property
    def xy(self) -> NDArray[np.float64]:
        """The ``(M, 2)`` planar points of the path."""
        return self.poses[:, :2]


@dataclass(frozen=True)
class RestrictedZone:
    """Airspace the aircraft must not enter.

    Attributes
    ----------
    name : str
        Human-readable name ("MMCL Culiacán airport", "partner exclusion: Presa Sanalona").
    kind : str
        ``airport``, ``partner_exclusion``, ``aoi_hole`` or ``user``.
    polygon : Polygon
        Lon/lat polygon (holes allowed).
    """

    name: str
    kind: str
    polygon: Polygon


@dataclass(frozen=True)
class ImagingLine:
    """A straight, level imaging line of one sortie.

    Attributes
    ----------
    line_id : str
        Unique in the mission, e.g. ``"S01-L003"``; later stages name cubes after it.
    area : str
        Name of the area of interest it images.
    sortie : int
        1-based sortie number.
    start, end : tuple of float
        ``(lon, lat)`` in degrees, in flight order.
    heading_deg : float
        Compass bearing of flight.
    length_m : float
        Length in metres.
    swath_m : float
        Imaged swath width in metres (the narrowest of the instruments flown).
    altitude_m : float
        Flight altitude above ground in metres.
    """

    line_id: str
    area: str
    sortie: int
    start: tuple[float, float]
    end: tuple[float, float]
    heading_deg: float
    length_m: float
    swath_m: float
    altitude_m: float


@dataclass(frozen=True)
class Waypoint:
    """A mission item for a ground station: a point of the flown route.

    Attributes
    ----------
    lon, lat : float
        Degrees.
    altitude_m : float
        Metres above the takeoff point (QGC/MAVLink "relative" frame).
    kind : WaypointKind
        What the aircraft does there.
    line_id : str or None
        The imaging line that starts or ends here.
    """

    lon: float
    lat: float
    altitude_m: float
    kind: WaypointKind
    line_id: str | None = None


@dataclass(frozen=True)
class Sortie:
    """One flight from the base and back (or one closed route when no base is given).

    Attributes
    ----------
    index : int
        1-based.
    route : (M, 2) float64
        The full flown path in lon/lat degrees, continuous, flyable at the turn radius.
    length_m, duration_s : float
        Path length and flight time at cruise speed.
    lines : tuple of ImagingLine
        Imaging lines in flight order; each lies on ``route``.
    waypoints : tuple of Waypoint
        The route reduced to mission items a ground station can fly (turns kept as short legs).
    areas : tuple of str
        Areas visited, in order.
    """

    index: int
    route: NDArray[np.float64]
    length_m: float
    duration_s: float
    lines: tuple[ImagingLine, ...]
    waypoints: tuple[Waypoint, ...]
    areas: tuple[str, ...]


@dataclass(frozen=True)
class Revisit:
    """A planned repeat of a sortie.

    Attributes
    ----------
    sortie : int
        Sortie index repeated.
    due : datetime
        UTC time the revisit should fly.
    reason : str
        Why (e.g. "scheduled revisit every 24 h").
    """

    sortie: int
    due: datetime
    reason: str


@dataclass
class Mission:
    """A complete surveillance plan.

    Attributes
    ----------
    name : str
        Scenario or file name.
    partner : str
        ISO 3166-1 alpha-2 code of the partner country whose airspace is flown.
    base : tuple of (str, float, float) or None
        ``(ICAO or name, lon, lat)`` of the base airport.
    platform, sensors : str
        Platform profile name and the sensor names whose narrowest swath was used.
    altitude_m, speed_m_s, turn_radius_m, swath_m, sidelap : float
        Flight parameters used.
    areas : list of (str, Polygon)
        Areas of interest (lon/lat), by name.
    restricted : list of RestrictedZone
        Restricted airspace avoided.
    sorties : list of Sortie
        Planned sorties.
    revisits : list of Revisit
        Revisit schedule.
    approval : str
        ``draft`` until the partner approves (``vigia sortie``), then ``approved``.
    epsg : int
        The planar CRS used for planning.
    approval_ref : str
        The approval: request id, who approved and when (empty for a draft).
    """

    name: str
    partner: str
    base: tuple[str, float, float] | None
    platform: str
    sensors: tuple[str, ...]
    altitude_m: float
    speed_m_s: float
    turn_radius_m: float
    swath_m: float
    sidelap: float
    areas: list[tuple[str, Polygon]]
    restricted: list[RestrictedZone]
    sorties: list[Sortie] = field(default_factory=list)
    revisits: list[Revisit] = field(default_factory=list)
    approval: str = "draft"
    epsg: int = 4326
    approval_ref: str = ""

    @property
    def lines(self) -> list[ImagingLine]:
        """All imaging lines of all sorties, in flight order."""
        return [ln for s in self.sorties for ln in s.lines]
