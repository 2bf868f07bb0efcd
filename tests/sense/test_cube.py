"""The in-memory cube: layout, units, masking and validation (DESIGN.md, "Radiance cubes")."""

from __future__ import annotations

from datetime import UTC, datetime

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from vigia.errors import FileFormatError, InputError
from vigia.sense.cube import (
    CUBE_ATTRS,
    DIMS,
    LWIR_UNITS,
    VSWIR_UNITS,
    canonical_units,
    convert_radiance,
    make_cube,
    radiance_factor,
    validate_cube,
)

WAVELENGTHS = [500.0, 510.0, 520.0, 530.0]


def small_cube(**overrides: object) -> xr.Dataset:
    args: dict[str, object] = {
        "radiance": np.full((3, 2, 4), 5.0, dtype=np.float32),
        "wavelengths": WAVELENGTHS,
        "units": "uW/cm^2/SR/nm",
        "sensor": "vswir",
        "flight_line_id": "L001",
    }
    args.update(overrides)
    return make_cube(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "spelling",
    [
        "uW/cm^2/SR/nm",
        "uW cm-2 sr-1 nm-1",
        "microwatts per square centimeter per steradian per nanometer",
        "µW cm⁻² sr⁻¹ nm⁻¹",
        "μW/(cm2 sr nm)",
    ],
)
def test_every_vswir_spelling_means_ten_w_m2_sr_um(spelling: str) -> None:
    assert radiance_factor(spelling, "W m-2 sr-1 um-1") == 10.0


@pytest.mark.parametrize("spelling", ["W/m^2/sr/um", "W m-2 sr-1 um-1", "W m**-2 sr**-1 um**-1"])
def test_every_lwir_spelling_is_the_hytes_unit(spelling: str) -> None:
    assert radiance_factor(spelling, LWIR_UNITS) == 1.0
    assert radiance_factor(spelling, VSWIR_UNITS) == 0.1


@pytest.mark.parametrize("units", ["", "counts", "W m-2 sr-1", "W/m^2/sr/cm^-1", "DN", "K"])
def test_unknown_units_are_refused_never_assumed(units: str) -> None:
    with pytest.raises(InputError, match="unknown radiance units"):
        radiance_factor(units, LWIR_UNITS)


def test_each_sensor_has_its_canonical_unit() -> None:
    assert canonical_units("W/m^2/sr/um", "lwir") == (LWIR_UNITS, 1.0)
    assert canonical_units("W/m^2/sr/um", "vswir") == (VSWIR_UNITS, 0.1)
    with pytest.raises(InputError, match="sensor"):
        canonical_units("W/m^2/sr/um", "radar")


def test_convert_radiance_reads_the_units_attribute() -> None:
    radiance = xr.DataArray(np.array([1.0, 2.0]), attrs={"units": "uW/cm^2/sr/nm"})
    converted = convert_radiance(radiance, LWIR_UNITS)
    np.testing.assert_allclose(converted.values, [10.0, 20.0])
    assert converted.attrs["units"] == LWIR_UNITS
    with pytest.raises(InputError, match="units"):
        convert_radiance(xr.DataArray(np.ones(2)), LWIR_UNITS)


def test_make_cube_builds_the_emit_layout() -> None:
    cube = small_cube(
        fwhm=[8.0] * 4,
        lat=np.zeros((3, 2)),
        lon=np.ones((3, 2)),
        platform="MQ-9",
        time_coverage_start=datetime(2024, 5, 1, 17, 3, tzinfo=UTC),
        time_coverage_end="2024-05-01T12:05:00-05:00",
    )
    assert list(cube.data_vars) == ["radiance"]
    assert cube.radiance.dims == DIMS
    assert cube.radiance.dtype == np.float32
    assert cube.radiance.attrs["units"] == VSWIR_UNITS
    assert set(cube.coords) == {"wavelengths", "fwhm", "good_wavelengths", "lat", "lon", "elev"}
    assert tuple(cube.attrs) == CUBE_ATTRS
    assert cube.attrs["time_coverage_start"] == "2024-05-01T17:03:00Z"
    assert cube.attrs["time_coverage_end"] == "2024-05-01T17:05:00Z"
    assert cube.attrs["georeferenced"] == 1
    assert np.isnan(cube.elev).all()


def test_radiance_in_another_unit_is_converted_to_the_sensors_unit() -> None:
    cube = small_cube(units="W/m^2/sr/um")
    np.testing.assert_allclose(cube.radiance.values, 0.5, rtol=1e-6)


def test_fill_and_saturated_values_become_nan_and_empty_bands_are_masked() -> None:
    radiance = np.full((3, 2, 4), 5.0, dtype=np.float32)
    radiance[:, :, 1] = -9999.0
    radiance[0, 0, 2] = np.inf
    radiance[:, :, 3] = np.nan
    cube = small_cube(radiance=radiance, good_wavelengths=[0, 1, 1, 1])
    assert np.isnan(cube.radiance[:, :, 1]).all()
    assert np.isnan(cube.radiance[0, 0, 2])
    assert cube.good_wavelengths.values.tolist() == [0, 0, 1, 0]


def test_missing_location_is_nan_with_a_comment() -> None:
    cube = small_cube()
    assert cube.attrs["georeferenced"] == 0
    assert np.isnan(cube.lat).all() and np.isnan(cube.lon).all()
    assert "no location" in cube.lat.attrs["comment"]


def test_validation_keeps_a_dask_cube_lazy() -> None:
    cube = small_cube()
    lazy = cube.assign(radiance=cube.radiance.chunk({"downtrack": 1}))
    checked = validate_cube(lazy, "lazy")
    assert isinstance(checked.radiance.data, da.Array)
    assert isinstance(checked.good_wavelengths.data, da.Array)
    assert checked.radiance.chunks == ((1, 1, 1), (2,), (4,))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"wavelengths": [500.0, 520.0, 510.0, 530.0]}, "not strictly monotonic"),
        ({"wavelengths": [500.0, 500.0, 510.0, 530.0]}, "not strictly monotonic"),
        ({"wavelengths": [500.0, np.nan, 510.0, 530.0]}, "wavelengths contain non-finite"),
        ({"wavelengths": [500.0, 510.0, 520.0]}, "band count mismatch"),
        ({"fwhm": [8.0, 8.0]}, "band count mismatch"),
        ({"units": "furlongs"}, "radiance units 'furlongs' are unknown"),
        ({"sensor": "sonar"}, "sensor"),
        ({"flight_line_id": ""}, "flight_line_id"),
        ({"time_coverage_start": "yesterday"}, "time_coverage_start"),
        ({"time_coverage_start": "2024-05-01T17:03:00"}, "no time zone"),
        ({"radiance": np.ones((3, 4))}, "dimensions"),
    ],
)
def test_bad_cubes_raise_file_format_error_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    with pytest.raises(FileFormatError, match=field):
        small_cube(**change)


def test_validate_names_the_source_and_requires_wavelengths_and_units() -> None:
    cube = small_cube()
    with pytest.raises(FileFormatError, match=r"^line\.nc: no 'wavelengths'"):
        validate_cube(cube.drop_vars("wavelengths"), "line.nc")
    no_units = cube.copy()
    no_units["radiance"].attrs = {}
    with pytest.raises(FileFormatError, match=r"line\.nc: radiance has no 'units'"):
        validate_cube(no_units, "line.nc")
