"""Shared test data for the detectors."""

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest
import xarray as xr

from vigia.platform import load_platform
from vigia.sense.cube import make_cube
from vigia.sense.render import RenderedLine, render_line
from vigia.world.world import World

NOON = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)


def render_vswir_over(
    world: World, lon: float, lat: float, *, size: int = 64, seed: int = 5, line_id: str = "T-CAM"
) -> RenderedLine:
    """Render a square VSWIR line (AVIRIS-NG class at 6 km, local noon) centred on a place."""
    platform = load_platform("mq9")
    half = size * platform.sensor("avirisng").gsd_m(6000.0) / 2.0 / 111_195.0
    return render_line(
        world,
        (lon, lat - half),
        (lon, lat + half),
        line_id=line_id,
        time=NOON,
        instrument="vswir",
        platform=platform,
        sensor_name="avirisng",
        altitude_m=6000.0,
        max_frames=size,
        crosstrack_pixels=size,
        seed=seed,
    )


@pytest.fixture()
def flat_cube() -> Callable[..., xr.Dataset]:
    """Make a featureless cube (grey ground plus sensor noise) with a lat/lon grid."""

    def flat_cube(sensor: str, rows: int = 40, cols: int = 30, seed: int = 0) -> xr.Dataset:
        """A featureless cube (grey ground plus sensor noise) with a lat/lon grid."""
        rng = np.random.default_rng(seed)
        if sensor == "vswir":
            wl = np.arange(380.0, 2510.0, 10.0)
            level, units = 5.0, "uW cm-2 sr-1 nm-1"
        else:
            wl = np.linspace(7500.0, 12000.0, 64)
            level, units = 9.0, "W m-2 sr-1 um-1"
        rad = level * (1.0 + rng.normal(0.0, 0.003, (rows, cols, wl.size)))
        lat, lon = np.meshgrid(
            25.0 + np.arange(rows) * 6e-5, -107.3 + np.arange(cols) * 6e-5, indexing="ij"
        )
        return make_cube(
            rad.astype(np.float32),
            wl,
            fwhm=np.full(wl.size, 10.0),
            units=units,
            sensor=sensor,
            flight_line_id="FLAT",
            lat=lat,
            lon=lon,
            time_coverage_start=NOON,
            time_coverage_end=NOON,
        )

    return flat_cube
