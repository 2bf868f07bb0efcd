"""Pixel geometry from a cube's lat/lon: corners, areas, footprints and sub-pixel positions."""

import numpy as np
import pytest
import shapely

from vigia.detect.georef import line_grid
from vigia.errors import InputError
from vigia.geo import LocalFrame


def grid(rows: int = 30, cols: int = 40, step_m: float = 6.0, heading_deg: float = 30.0):
    # A line flown on a heading, square pixels of step_m, centred near Culiacán.
    frame = LocalFrame.around(-107.3, 25.0)
    x0, y0 = frame.to_xy(np.array([[-107.3, 25.0]]))[0]
    h = np.radians(heading_deg)
    along = np.array([np.sin(h), np.cos(h)])
    across = np.array([np.cos(h), -np.sin(h)])
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    xy = np.stack(
        [
            x0 + step_m * (r * along[0] + c * across[0]),
            y0 + step_m * (r * along[1] + c * across[1]),
        ],
        axis=-1,
    )
    ll = frame.to_lonlat(xy.reshape(-1, 2))
    return ll[:, 0].reshape(rows, cols), ll[:, 1].reshape(rows, cols)


def test_pixel_areas_and_line_area_follow_the_pixel_spacing() -> None:
    g = line_grid(*grid())
    assert g.pixel_size_m == pytest.approx(6.0, rel=1e-3)
    np.testing.assert_allclose(g.pixel_area_m2, 36.0, rtol=2e-3)
    assert g.area_km2() == pytest.approx(30 * 40 * 36 / 1e6, rel=2e-3)


def test_the_footprint_of_the_line_holds_every_pixel_centre_and_winds_counter_clockwise() -> None:
    lon, lat = grid()
    g = line_grid(lon, lat)
    fp = g.footprint()
    assert shapely.is_ccw(fp.exterior)
    assert all(
        fp.contains(shapely.Point(x, y)) for x, y in zip(lon.ravel(), lat.ravel(), strict=True)
    )


def test_a_mask_footprint_covers_its_pixels_and_no_far_ones() -> None:
    lon, lat = grid()
    g = line_grid(lon, lat)
    mask = np.zeros(g.shape, bool)
    mask[10:13, 20:22] = True
    fp = g.footprint(mask)
    assert fp.contains(shapely.Point(lon[11, 21], lat[11, 21]))
    assert not fp.contains(shapely.Point(lon[15, 21], lat[15, 21]))
    with pytest.raises(InputError, match="no pixel"):
        g.footprint(np.zeros(g.shape, bool))


def test_fractional_positions_interpolate_between_pixel_centres() -> None:
    lon, lat = grid()
    g = line_grid(lon, lat)
    assert g.lonlat(4, 7) == pytest.approx((lon[4, 7], lat[4, 7]), abs=1e-9)
    mid = g.lonlat(4.5, 7.0)
    assert mid == pytest.approx(
        ((lon[4, 7] + lon[5, 7]) / 2, (lat[4, 7] + lat[5, 7]) / 2), abs=1e-9
    )


def test_a_line_without_locations_cannot_be_placed() -> None:
    lon, lat = grid()
    lat[3, 3] = np.nan
    with pytest.raises(InputError, match=r"line\.nc: lat/lon have missing"):
        line_grid(lon, lat, "line.nc")
    with pytest.raises(InputError, match="too small"):
        line_grid(lon[:1], lat[:1])
