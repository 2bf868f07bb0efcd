"""Cube files: our NetCDF, EMIT L1B, and ENVI (AVIRIS-NG, HyTES) read to one Dataset."""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path
from types import ModuleType

import dask.array as da
import h5netcdf  # type: ignore[import-untyped]
import h5py
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from vigia.errors import FileFormatError, InputError
from vigia.sense.cube import CUBE_ATTRS, DIMS, LWIR_UNITS, VSWIR_UNITS, make_cube
from vigia.sense.io import CubeWriter, open_cube, write_cube

DATA = Path(__file__).parent.parent / "data"
CUBES = DATA / "cubes"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_cubes", DATA / "make_cubes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
EMIT = CUBES / gen.EMIT_NAME
AVIRIS = CUBES / gen.AVIRIS_NAME
AVIRIS_LOC = CUBES / gen.AVIRIS_LOC_NAME
HYTES_BSQ = CUBES / gen.HYTES_BSQ_NAME
HYTES_BIP = CUBES / gen.HYTES_BIP_NAME


def schema(ds: xr.Dataset) -> dict[str, object]:
    return {
        "data_vars": sorted(str(name) for name in ds.data_vars),
        "variables": {str(name): (var.dims, str(var.dtype)) for name, var in ds.variables.items()},
        "attrs": tuple(ds.attrs),
    }


def expected_vswir() -> np.ndarray:
    radiance: np.ndarray = gen.vswir_scene()["radiance"].copy()
    radiance[radiance == gen.FILL] = np.nan
    return radiance


# --- every layout opens to the same cube ---------------------------------------------------


def test_emit_l1b_file_opens_in_the_emit_layout() -> None:
    cube = open_cube(EMIT)
    scene = gen.vswir_scene()
    assert cube.radiance.dims == DIMS
    assert cube.radiance.attrs["units"] == VSWIR_UNITS
    np.testing.assert_array_equal(cube.radiance.values, expected_vswir())
    np.testing.assert_allclose(cube.wavelengths.values, scene["wavelengths"], rtol=1e-6)
    np.testing.assert_allclose(cube.lat.values, scene["lat"])
    assert cube.attrs["flight_line_id"] == EMIT.stem
    assert cube.attrs["platform"] == "ISS"
    assert cube.attrs["sensor"] == "vswir"
    assert cube.attrs["time_coverage_start"] == "2022-08-10T06:49:57Z"
    assert cube.attrs["georeferenced"] == 1


def test_aviris_ng_bil_with_its_loc_file_reads_the_same_scene_as_emit() -> None:
    aviris = open_cube(AVIRIS, location=AVIRIS_LOC)
    emit = open_cube(EMIT)
    np.testing.assert_array_equal(aviris.radiance.values, emit.radiance.values)
    np.testing.assert_allclose(aviris.wavelengths.values, emit.wavelengths.values, rtol=1e-6)
    np.testing.assert_array_equal(aviris.lon.values, emit.lon.values)
    np.testing.assert_allclose(aviris.elev.values, emit.elev.values, rtol=1e-6)
    assert aviris.attrs["flight_line_id"] == "ang20230115t171234"
    assert aviris.attrs["time_coverage_start"] == "2023-01-15T17:12:34Z"


def test_hytes_bsq_and_bip_read_the_same_lwir_scene_in_nm_and_hytes_units() -> None:
    scene = gen.lwir_scene()
    for path in (HYTES_BSQ, HYTES_BIP):
        cube = open_cube(path)
        assert cube.attrs["sensor"] == "lwir"
        assert cube.radiance.attrs["units"] == LWIR_UNITS
        np.testing.assert_allclose(cube.radiance.values, scene["counts"] * gen.LWIR_GAIN, rtol=1e-6)
        np.testing.assert_allclose(cube.wavelengths.values, scene["wavelengths_um"] * 1e3)
        np.testing.assert_allclose(cube.fwhm.values, 40.0)
        assert cube.good_wavelengths.values[gen.LWIR_BAD_BAND] == 0


def test_every_layout_opens_to_the_same_schema(tmp_path: Path) -> None:
    ours = write_cube(open_cube(EMIT), tmp_path / "line_vswir.nc")
    cubes = [
        open_cube(EMIT),
        open_cube(ours),
        open_cube(AVIRIS, location=AVIRIS_LOC),
        open_cube(Path(f"{AVIRIS}.hdr")),
        open_cube(HYTES_BSQ),
        open_cube(HYTES_BIP.with_suffix(".hdr")),
    ]
    first = schema(cubes[0])
    for cube in cubes[1:]:
        assert schema(cube) == first
    assert first["attrs"] == CUBE_ATTRS


def test_envi_without_location_has_nan_lat_lon_and_says_so() -> None:
    cube = open_cube(AVIRIS)
    assert cube.attrs["georeferenced"] == 0
    assert np.isnan(cube.lat.values).all()
    assert "no location" in cube.lon.attrs["comment"]


# --- bad bands are masked, not fatal ----------------------------------------------------------


def test_bad_bands_fill_values_and_bbl_are_masked() -> None:
    emit = open_cube(EMIT)
    good = emit.good_wavelengths.values
    assert good[gen.FILL_BAND] == 0  # every pixel is the fill value
    assert good[gen.EMIT_BAD_BAND] == 0  # EMIT's good_wavelengths says so
    assert good.sum() == gen.VSWIR_BANDS - 2
    assert np.isnan(emit.radiance.values[gen.FILL_PIXEL])
    aviris = open_cube(AVIRIS)
    assert aviris.good_wavelengths.values[gen.FILL_BAND] == 0


# --- lazy reading ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EMIT, AVIRIS, HYTES_BSQ, HYTES_BIP])
def test_reading_is_lazy_and_chunked_along_downtrack_only(path: Path) -> None:
    cube = open_cube(path, chunks=5)
    assert isinstance(cube.radiance.data, da.Array)
    assert cube.radiance.chunks == ((5, 5, 2), (gen.COLS,), (cube.sizes["bands"],))
    assert isinstance(cube.lat.data, da.Array)


# --- writing ---------------------------------------------------------------------------------


def test_written_file_is_in_emit_group_layout_chunked_along_downtrack(tmp_path: Path) -> None:
    path = write_cube(open_cube(EMIT), tmp_path / "line.nc", chunk_rows=4)
    with h5netcdf.File(path, "r") as f:
        assert set(f.variables) == {"radiance"}
        assert f["radiance"].chunks == (4, gen.COLS, gen.VSWIR_BANDS)
        assert f["radiance"].attrs["units"] == VSWIR_UNITS
        assert set(f.groups) == {"sensor_band_parameters", "location"}
        assert set(f["sensor_band_parameters"].variables) == {
            "wavelengths",
            "fwhm",
            "good_wavelengths",
        }
        assert {"lat", "lon", "elev"} <= set(f["location"].variables)
    assert [p.name for p in tmp_path.iterdir()] == ["line.nc"]  # no temporary file left


def test_round_trip_write_open_is_equal(tmp_path: Path) -> None:
    original = open_cube(AVIRIS, location=AVIRIS_LOC).load()
    again = open_cube(write_cube(original, tmp_path / "line.nc")).load()
    xr.testing.assert_identical(again, original)


def test_a_failed_write_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "line.nc"
    target.write_bytes(b"old")
    broken = open_cube(EMIT).drop_vars("wavelengths")
    with pytest.raises(FileFormatError):
        write_cube(broken, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["line.nc"]


def _writer(path: Path, cube: xr.Dataset, **kw: object) -> CubeWriter:
    return CubeWriter(
        path,
        shape=(cube.sizes["downtrack"], cube.sizes["crosstrack"]),
        wavelengths=cube.wavelengths.values,
        fwhm=cube.fwhm.values,
        good_wavelengths=cube.good_wavelengths.values,
        units=cube.radiance.attrs["units"],
        sensor=cube.attrs["sensor"],
        flight_line_id=cube.attrs["flight_line_id"],
        lat=cube.lat.values,
        lon=cube.lon.values,
        elev=cube.elev.values,
        platform=cube.attrs["platform"],
        time_coverage_start=cube.attrs["time_coverage_start"],
        time_coverage_end=cube.attrs["time_coverage_end"],
        **kw,  # type: ignore[arg-type]
    )


def test_streaming_rows_in_any_order_gives_the_same_file_as_writing_at_once(
    tmp_path: Path,
) -> None:
    cube = open_cube(AVIRIS, location=AVIRIS_LOC).load()
    rows = cube.sizes["downtrack"]
    with _writer(tmp_path / "streamed.nc", cube, chunk_rows=3) as w:
        for a in reversed(range(0, rows, 3)):
            w.write(slice(a, min(rows, a + 3)), cube.radiance.values[a : a + 3])
    xr.testing.assert_identical(open_cube(tmp_path / "streamed.nc").load(), cube)


def test_streaming_converts_units_and_masks_bands_with_no_finite_value(tmp_path: Path) -> None:
    cube = open_cube(EMIT).load()
    radiance = cube.radiance.values.copy()
    radiance[:, :, 2] = np.nan
    with _writer(tmp_path / "w.nc", cube) as w:
        w.write(slice(0, radiance.shape[0]), radiance)
    again = open_cube(tmp_path / "w.nc").load()
    assert int(again.good_wavelengths[2]) == 0
    assert np.isnan(again.radiance.values[:, :, 2]).all()
    with CubeWriter(
        tmp_path / "si.nc",
        shape=radiance.shape[:2],
        wavelengths=cube.wavelengths.values,
        units="W m-2 sr-1 um-1",
        sensor="vswir",
        flight_line_id="L1",
    ) as w:
        # 1 W m-2 sr-1 um-1 is 0.1 µW cm-2 sr-1 nm-1.
        w.write(slice(0, radiance.shape[0]), np.full(radiance.shape, 1.0, np.float32))
    si = open_cube(tmp_path / "si.nc").load()
    assert si.radiance.attrs["units"] == VSWIR_UNITS
    np.testing.assert_allclose(si.radiance.values, 0.1, rtol=1e-6)
    assert si.attrs["georeferenced"] == 0 and np.isnan(si.lat.values).all()


def test_a_stream_that_misses_rows_or_fails_leaves_no_file(tmp_path: Path) -> None:
    cube = open_cube(EMIT).load()
    target = tmp_path / "line.nc"
    with pytest.raises(FileFormatError, match="never written"), _writer(target, cube) as w:
        w.write(slice(0, 2), cube.radiance.values[:2])
    with pytest.raises(FileFormatError, match="shape"), _writer(target, cube) as w:
        w.write(slice(0, 2), cube.radiance.values[:3])
    with pytest.raises(RuntimeError), _writer(target, cube) as w:
        raise RuntimeError("renderer failed")
    assert list(tmp_path.iterdir()) == []


def test_a_writer_refuses_bad_metadata_before_creating_anything(tmp_path: Path) -> None:
    cube = open_cube(EMIT).load()
    with pytest.raises(FileFormatError, match="monotonic"):
        _writer(tmp_path / "x.nc", cube.assign_coords(wavelengths=cube.wavelengths[::-1] * 0 + 5))
    with pytest.raises(FileFormatError, match="lat has shape"):
        CubeWriter(
            tmp_path / "x.nc",
            shape=(4, 3),
            wavelengths=[500.0, 510.0],
            units=VSWIR_UNITS,
            sensor="vswir",
            flight_line_id="L1",
            lat=np.zeros((3, 3)),
        )
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=20, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 5)),
    seed=st.integers(0, 2**32 - 1),
    sensor=st.sampled_from(["vswir", "lwir"]),
    chunk_rows=st.integers(1, 5),
)
def test_hypothesis_round_trip_of_random_small_cubes(
    shape: tuple[int, int, int], seed: int, sensor: str, chunk_rows: int
) -> None:
    rng = np.random.default_rng(seed)
    rows, cols, bands = shape
    start = 400.0 if sensor == "vswir" else 7500.0
    wavelengths = start + np.cumsum(rng.uniform(0.5, 20.0, bands))
    cube = make_cube(
        rng.uniform(0.0, 30.0, shape).astype(np.float32),
        wavelengths,
        fwhm=rng.uniform(1.0, 10.0, bands),
        good_wavelengths=rng.integers(0, 2, bands),
        lat=rng.uniform(-90, 90, (rows, cols)),
        lon=rng.uniform(-180, 180, (rows, cols)),
        elev=rng.uniform(0, 3000, (rows, cols)),
        units=VSWIR_UNITS if sensor == "vswir" else LWIR_UNITS,
        sensor=sensor,
        flight_line_id=f"L{seed}",
        time_coverage_start="2024-05-01T17:03:00Z",
        time_coverage_end="2024-05-01T17:04:00Z",
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = write_cube(cube, Path(tmp) / "c.nc", chunk_rows=chunk_rows)
        again = open_cube(path).load()
    xr.testing.assert_identical(again, cube)


# --- bad input: one FileFormatError naming file and field -----------------------------------


def _copy_envi(image: Path, directory: Path, header_name: str | None = None) -> Path:
    copied = directory / image.name
    shutil.copy(image, copied)
    header = Path(f"{image}.hdr") if Path(f"{image}.hdr").exists() else image.with_suffix(".hdr")
    shutil.copy(header, directory / (header_name or header.name))
    return copied


def _edit_header(image: Path, old: str, new: str) -> None:
    header = Path(f"{image}.hdr") if Path(f"{image}.hdr").exists() else image.with_suffix(".hdr")
    text = header.read_text()
    assert old in text
    header.write_text(text.replace(old, new))


def test_truncated_envi_image(tmp_path: Path) -> None:
    image = _copy_envi(AVIRIS, tmp_path)
    image.write_bytes(image.read_bytes()[:-100])
    with pytest.raises(FileFormatError, match=rf"{image.name}: truncated.*lines, samples, bands"):
        open_cube(image)


def test_truncated_netcdf(tmp_path: Path) -> None:
    path = tmp_path / "cut.nc"
    path.write_bytes(EMIT.read_bytes()[: EMIT.stat().st_size // 2])
    with pytest.raises(FileFormatError, match=r"cut\.nc: .*truncated"):
        open_cube(path).radiance.values  # noqa: B018


def test_netcdf_without_wavelengths(tmp_path: Path) -> None:
    path = tmp_path / "nowl.nc"
    gen.write_emit_like(path, gen.vswir_scene(), with_wavelengths=False)
    with pytest.raises(FileFormatError, match=r"nowl\.nc: no 'wavelengths'"):
        open_cube(path)


def test_netcdf_with_unknown_units(tmp_path: Path) -> None:
    path = tmp_path / "units.nc"
    gen.write_emit_like(path, gen.vswir_scene(), units="DN")
    with pytest.raises(FileFormatError, match=r"units\.nc: radiance units 'DN' are unknown"):
        open_cube(path)


def test_netcdf_with_non_monotonic_wavelengths(tmp_path: Path) -> None:
    path = tmp_path / "order.nc"
    scene = gen.vswir_scene()
    wavelengths = scene["wavelengths"].copy()
    wavelengths[[3, 4]] = wavelengths[[4, 3]]
    gen.write_emit_like(path, scene, wavelengths=wavelengths)
    with pytest.raises(FileFormatError, match=r"order\.nc: wavelengths are not strictly monotonic"):
        open_cube(path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("wavelength = {380.000000, ", "wavelength = {", r"'wavelength' has 23 values.*band count"),
        ("fwhm = {8.500000, ", "fwhm = {", r"'fwhm' has 23 values"),
        (
            "wavelength = {380.000000, 472.173913",
            "wavelength = {472.173913, 380.000000",
            "monotonic",
        ),
        ("wavelength units = Nanometers\n", "", r"'wavelength units'"),
        ("data units = microwatts", "data units = kilofurlongs", "units .* are unknown"),
        ("data units = ", "note = ", r"no 'data units' field"),
        ("wavelength = {", "wavelengths_missing = {", r"no 'wavelength' field"),
        ("data type = 4", "data type = 7", r"'data type' = 7"),
        ("interleave = bil", "interleave = bsx", r"'interleave'"),
        ("lines = 12", "lines = twelve", r"'lines' = 'twelve'"),
    ],
)
def test_bad_envi_header_fields(tmp_path: Path, old: str, new: str, message: str) -> None:
    image = _copy_envi(AVIRIS, tmp_path)
    _edit_header(image, old, new)
    with pytest.raises(FileFormatError, match=message) as caught:
        open_cube(image)
    assert AVIRIS.name in str(caught.value)


def test_unreadable_header(tmp_path: Path) -> None:
    image = _copy_envi(AVIRIS, tmp_path)
    Path(f"{image}.hdr").write_bytes(b"\x00\xff garbage")
    with pytest.raises(FileFormatError, match=rf"{image.name}.hdr: unreadable ENVI header"):
        open_cube(image)


def test_units_argument_is_used_only_when_the_header_has_none(tmp_path: Path) -> None:
    image = _copy_envi(HYTES_BSQ, tmp_path)
    _edit_header(image, "data units = W/m^2/sr/um\n", "")
    cube = open_cube(image, units="uW/cm^2/sr/nm")
    np.testing.assert_allclose(
        cube.radiance.values, gen.lwir_scene()["counts"] * gen.LWIR_GAIN * 10.0, rtol=1e-6
    )


def test_missing_and_unrecognised_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_cube(tmp_path / "absent.nc")
    lonely = tmp_path / "lonely.img"
    lonely.write_bytes(b"\x00" * 16)
    with pytest.raises(FileFormatError, match=r"lonely\.img: neither NetCDF4 nor an ENVI"):
        open_cube(lonely)


def test_checked_in_sample_files_are_what_the_seeded_generator_writes(tmp_path: Path) -> None:
    written = gen.main(tmp_path)
    assert [p.name for p in written] == sorted(p.name for p in CUBES.iterdir())
    for path in written:
        if path.suffix == ".nc":
            # HDF5 bytes carry library versions (_NCProperties); compare what the file holds.
            assert _hdf5_content(path) == _hdf5_content(CUBES / path.name), path.name
        else:
            assert path.read_bytes() == (CUBES / path.name).read_bytes(), path.name


def _hdf5_content(path: Path) -> dict[str, object]:
    """Every group, dataset (values as bytes) and attribute of an HDF5 file but the versions."""
    out: dict[str, object] = {}
    with h5py.File(path, "r") as f:

        def visit(name: str, obj: object) -> None:
            attrs = getattr(obj, "attrs", {})
            out[name + "@"] = {k: repr(v) for k, v in attrs.items() if k not in ("_NCProperties",)}
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype.str, obj.shape, obj[()].tobytes())

        visit("/", f)
        f.visititems(visit)
    return out
