"""Shared test data for the detectors."""

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest
import xarray as xr

from vigia.sense.cube import make_cube

NOON = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)


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
