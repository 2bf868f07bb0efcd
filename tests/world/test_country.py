from __future__ import annotations

import pytest
from shapely.geometry import MultiPolygon, Point, Polygon

from vigia.errors import UnknownNameError
from vigia.world.country import country_name, list_partners, partner_boundary, within_partner

INSIDE = {
    "Culiacán": (-107.39, 24.80),
    "Mazatlán": (-106.42, 23.23),
    "Tijuana": (-117.03, 32.52),
    "Ciudad Juárez": (-106.45, 31.70),
    "Mexico City": (-99.13, 19.43),
    "Cancún": (-86.85, 21.16),
    "Tapachula": (-92.26, 14.91),
}
OUTSIDE = {
    "El Paso": (-106.44, 31.78),
    "San Diego": (-117.16, 32.72),
    "Guatemala City": (-90.51, 14.63),
    "Gulf of Mexico": (-93.0, 24.0),
}


def test_mx_is_packaged() -> None:
    assert "MX" in list_partners()
    assert country_name("mx") == "Mexico"
    b = partner_boundary("MX")
    assert isinstance(b, MultiPolygon | Polygon)
    assert b.is_valid
    assert b.bounds == pytest.approx((-118.4, 14.5, -86.7, 32.7), abs=0.2)


@pytest.mark.parametrize("place", sorted(INSIDE))
def test_known_mexican_cities_are_inside(place: str) -> None:
    assert within_partner(Point(*INSIDE[place]), "MX")


@pytest.mark.parametrize("place", sorted(OUTSIDE))
def test_places_beyond_the_border_are_outside(place: str) -> None:
    assert not within_partner(Point(*OUTSIDE[place]), "MX")


def test_area_of_mexico_is_about_1_96_million_km2() -> None:
    from pyproj import Geod

    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(partner_boundary("MX"))
    assert abs(area) / 1e6 == pytest.approx(1.96e6, rel=0.03)


def test_unknown_partner_lists_known() -> None:
    with pytest.raises(UnknownNameError, match=r"known: .*MX"):
        partner_boundary("XX")
