from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import Point, box

from vigia.errors import ConfigError, UnknownNameError
from vigia.plan.mission import RestrictedZone
from vigia.world.airspace import (
    CIRCLE_VERTICES,
    airport,
    airports_in,
    airspace_config,
    protection_circle,
    restricted_airspace,
)
from vigia.world.scenario import load_scenario

GEOD = Geod(ellps="WGS84")
CULIACAN = box(-107.55, 24.70, -107.30, 24.90)


def _radii(lon: float, lat: float, zone: RestrictedZone | None = None, poly=None) -> np.ndarray:
    ring = np.asarray((zone.polygon if zone else poly).exterior.coords)[:-1]
    _, _, d = GEOD.inv(np.full(len(ring), lon), np.full(len(ring), lat), ring[:, 0], ring[:, 1])
    return np.asarray(d)


def test_mmcl_is_found_near_culiacan() -> None:
    found = {a.icao: a for a in airports_in(CULIACAN)}
    assert "MMCL" in found
    a = found["MMCL"]
    assert a.iata == "CUL" and a.size == "medium" and a.country == "MX"
    assert a.lon == pytest.approx(-107.475, abs=0.01) and a.lat == pytest.approx(24.76, abs=0.01)


def test_size_classes() -> None:
    assert airport("MMGL").size == "major"
    assert airport("mmcl").size == "medium"
    assert airport("MM30").size == "small"
    assert "MMMX" in airspace_config().major_icao


def test_unknown_airport() -> None:
    with pytest.raises(UnknownNameError, match="ZZZZ"):
        airport("ZZZZ")


def test_margin_finds_nearby_airports() -> None:
    near = box(-107.70, 24.55, -107.60, 24.65)  # ~6 km from Campo Gobierno strip (MM30)
    assert "MM30" not in {a.icao for a in airports_in(near)}
    assert "MM30" in {a.icao for a in airports_in(near, 10_000)}
    assert "MM30" not in {a.icao for a in airports_in(near, 2_000)}


def test_base_is_exempted_when_asked() -> None:
    names = [z.name.split()[0] for z in restricted_airspace(CULIACAN)]
    assert "MMCL" in names
    exempt = [z.name.split()[0] for z in restricted_airspace(CULIACAN, exempt_icao=["mmcl"])]
    assert "MMCL" not in exempt


@pytest.mark.parametrize(("icao", "radius"), [("MMCL", 5556.0), ("MMGL", 9260.0), ("MM30", 2000.0)])
def test_circle_radius_is_right_in_metres(icao: str, radius: float) -> None:
    a = airport(icao)
    zones = [
        z for z in restricted_airspace(Point(a.lon, a.lat).buffer(0.01)) if z.name.startswith(icao)
    ]
    assert len(zones) == 1 and zones[0].kind == "airport"
    d = _radii(a.lon, a.lat, zones[0])
    assert len(d) >= 64
    assert np.all(np.abs(d / radius - 1.0) < 0.01)


@pytest.mark.parametrize(("lon", "lat"), [(-117.0, 32.5), (-102.0, 20.0), (-86.8, 21.0)])
def test_protection_circle_is_geodesic_across_zones(lon: float, lat: float) -> None:
    d = _radii(lon, lat, poly=protection_circle(lon, lat, 10_000.0))
    assert len(d) == CIRCLE_VERTICES
    assert np.all(np.abs(d / 10_000.0 - 1.0) < 0.001)


def test_custom_radii_and_validation() -> None:
    zones = restricted_airspace(CULIACAN, radii={"medium": 3000.0})
    mmcl = next(z for z in zones if z.name.startswith("MMCL"))
    assert np.median(_radii(-107.475, 24.7645, mmcl)) == pytest.approx(3000.0, rel=0.01)
    with pytest.raises(ConfigError, match="positive"):
        restricted_airspace(CULIACAN, radii={"medium": -1.0})
    with pytest.raises(ConfigError, match="unknown size class"):
        restricted_airspace(CULIACAN, radii={"huge": 1.0})
    with pytest.raises(ConfigError, match="positive"):
        protection_circle(0.0, 0.0, 0.0)


def test_exclusions_are_appended_and_far_airports_left_out() -> None:
    s = load_scenario("central")
    zones = restricted_airspace(s.area("el_salto"), exclusions=s.exclusions)
    assert [z.name.split()[0] for z in zones if z.kind == "airport"] == ["MMGL"]
    assert tuple(zones[-len(s.exclusions) :]) == s.exclusions


def test_central_scenario_has_airports_in_its_areas() -> None:
    s = load_scenario("central")
    names = {z.name.split()[0] for z in restricted_airspace(s.area("texmelucan_huejotzingo"))}
    assert "MMPB" in names


def test_empty_region() -> None:
    assert airports_in(box(0, 0, 1, 1).intersection(box(2, 2, 3, 3))) == []
