"""Write the tiny radiance cubes under ``tests/data/cubes/`` in the published layouts.

Run ``python tests/data/make_cubes.py`` to rebuild them; the output depends only on the seed.

* ``EMIT_L1B_RAD_001_20220810T064957_2222205_033.nc``: EMIT L1B RAD NetCDF4 layout (root
  ``radiance`` in ``uW/cm^2/SR/nm`` with ``_FillValue`` -9999; groups ``sensor_band_parameters``
  and ``location`` with ``glt_x``/``glt_y`` on the ortho grid), written with h5netcdf directly
  rather than by Vigía, so the reader is tested against the layout, not against itself.
* ``ang20230115t171234_rdn_img`` (+ ``.hdr``): AVIRIS-NG radiance, ENVI BIL float32
  little-endian, µW cm⁻² sr⁻¹ nm⁻¹, wavelengths in nanometres, ``data ignore value = -9999``;
  ``ang20230115t171234_loc`` (+ ``.hdr``): its location file, BIL float64, bands lon, lat, elev.
* ``20230115t180000_hytes_bsq.img`` / ``20230115t180000_hytes_bip.img`` (+ ``.hdr``): HyTES-like
  LWIR radiance in W m⁻² sr⁻¹ µm⁻¹ with wavelengths in micrometres: BSQ int16 big-endian and BIP
  uint16 little-endian, both scaled by ``data gain values``, with a ``bbl`` bad band.

The VSWIR files hold the same scene (:func:`vswir_scene`), as do the two LWIR files
(:func:`lwir_scene`), so tests can check that every layout opens to the same cube.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5netcdf  # type: ignore[import-untyped]
import numpy as np

HERE = Path(__file__).parent / "cubes"
SEED = 20230115
ROWS, COLS = 12, 8
VSWIR_BANDS, LWIR_BANDS = 24, 16
EMIT_NAME = "EMIT_L1B_RAD_001_20220810T064957_2222205_033.nc"
AVIRIS_NAME = "ang20230115t171234_rdn_img"
AVIRIS_LOC_NAME = "ang20230115t171234_loc"
HYTES_BSQ_NAME = "20230115t180000_hytes_bsq.img"
HYTES_BIP_NAME = "20230115t180000_hytes_bip.img"
LWIR_GAIN = 1e-3  # W m-2 sr-1 um-1 per count
FILL = -9999.0
FILL_BAND = 5  # VSWIR band with no data at all
FILL_PIXEL = (3, 4, 10)  # one VSWIR value set to the fill value
EMIT_BAD_BAND = 20  # marked 0 in good_wavelengths
LWIR_BAD_BAND = 0  # marked 0 in bbl


def vswir_scene(seed: int = SEED) -> dict[str, Any]:
    """Radiance (µW cm⁻² sr⁻¹ nm⁻¹), band centres and widths (nm) and a location grid."""
    rng = np.random.default_rng(seed)
    wavelengths = np.linspace(380.0, 2500.0, VSWIR_BANDS)
    fwhm = np.full(VSWIR_BANDS, 8.5)
    spectrum = 12.0 * np.exp(-(((wavelengths - 650.0) / 700.0) ** 2)) + 0.5
    texture = rng.uniform(0.6, 1.4, size=(ROWS, COLS, 1))
    noise = rng.normal(0.0, 0.05, size=(ROWS, COLS, VSWIR_BANDS))
    radiance = (spectrum * texture + noise).astype(np.float32)
    radiance[:, :, FILL_BAND] = FILL
    radiance[FILL_PIXEL] = FILL
    rows, cols = np.mgrid[0:ROWS, 0:COLS]
    lat = 19.40 - 0.0005 * rows + 0.0001 * cols
    lon = -99.10 + 0.0001 * rows + 0.0005 * cols
    elev = (2240.0 + rng.normal(0.0, 3.0, size=(ROWS, COLS))).astype(np.float32)
    return {
        "radiance": radiance,
        "wavelengths": wavelengths,
        "fwhm": fwhm,
        "lat": lat,
        "lon": lon,
        "elev": elev,
    }


def lwir_scene(seed: int = SEED) -> dict[str, Any]:
    """Radiance in counts of 1e-3 W m⁻² sr⁻¹ µm⁻¹ (integers) and band centres in µm."""
    rng = np.random.default_rng(seed + 1)
    wavelengths_um = np.linspace(7.5, 12.0, LWIR_BANDS)
    counts = rng.integers(7000, 10500, size=(ROWS, COLS, LWIR_BANDS))
    return {
        "counts": counts,
        "wavelengths_um": wavelengths_um,
        "fwhm_um": np.full(LWIR_BANDS, 0.04),
    }


def write_emit_like(
    path: Path,
    scene: dict[str, Any],
    *,
    units: str = "uW/cm^2/SR/nm",
    with_wavelengths: bool = True,
    wavelengths: Any = None,
) -> None:
    """Write ``scene`` in the EMIT L1B RAD NetCDF4 layout."""
    radiance = scene["radiance"]
    rows, cols, bands = radiance.shape
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {
            "downtrack": rows,
            "crosstrack": cols,
            "bands": bands,
            "ortho_y": rows + 2,
            "ortho_x": cols + 2,
        }
        f.attrs.update(
            {
                "title": "EMIT L1B At-Sensor Calibrated Radiance and Geolocation Data 60 m",
                "platform": "ISS",
                "instrument": "EMIT",
                "time_coverage_start": "2022-08-10T06:49:57+0000",
                "time_coverage_end": "2022-08-10T06:50:09+0000",
                "geotransform": np.array([-99.1, 0.0005, 0.0, 19.4, 0.0, -0.0005]),
            }
        )
        var = f.create_variable(
            "radiance",
            ("downtrack", "crosstrack", "bands"),
            "f4",
            fillvalue=np.float32(FILL),
        )
        var[...] = radiance
        var.attrs.update({"long_name": "Radiance Data", "units": units})
        group = f.create_group("sensor_band_parameters")
        if with_wavelengths:
            values = scene["wavelengths"] if wavelengths is None else wavelengths
            wl = group.create_variable("wavelengths", ("bands",), "f4", data=np.asarray(values))
            wl.attrs.update({"long_name": "Wavelength Centers", "units": "nm"})
        fw = group.create_variable("fwhm", ("bands",), "f4", data=scene["fwhm"])
        fw.attrs.update({"long_name": "Full Width at Half Max", "units": "nm"})
        good = np.ones(bands, dtype=np.float32)
        good[EMIT_BAD_BAND] = 0.0
        group.create_variable("good_wavelengths", ("bands",), "f4", data=good)
        loc = f.create_group("location")
        for name in ("glt_x", "glt_y"):
            loc.create_variable(
                name, ("ortho_y", "ortho_x"), "i4", data=np.zeros((rows + 2, cols + 2), "i4")
            )
        for name, dtype in (("lat", "f8"), ("lon", "f8"), ("elev", "f8")):
            loc.create_variable(name, ("downtrack", "crosstrack"), dtype, data=scene[name])


_ENVI_CODES = {"f4": 4, "f8": 5, "i2": 2, "u2": 12}
_DISK_AXES = {"bsq": (2, 0, 1), "bil": (0, 2, 1), "bip": (0, 1, 2)}


def write_envi(
    image: Path,
    cube: Any,
    *,
    interleave: str,
    dtype: str,
    byte_order: int,
    fields: dict[str, str],
    header_name: str | None = None,
) -> Path:
    """Write ``cube`` (lines, samples, bands) as an ENVI image and header; return the header."""
    lines, samples, bands = cube.shape
    on_disk = np.transpose(cube, _DISK_AXES[interleave]).astype(
        ("<" if byte_order == 0 else ">") + dtype
    )
    image.write_bytes(on_disk.tobytes())
    header = image.parent / (header_name or f"{image.name}.hdr")
    text = [
        "ENVI",
        "description = {Vigia test cube, synthetic}",
        f"samples = {samples}",
        f"lines = {lines}",
        f"bands = {bands}",
        "header offset = 0",
        "file type = ENVI Standard",
        f"data type = {_ENVI_CODES[dtype]}",
        f"interleave = {interleave}",
        f"byte order = {byte_order}",
        *(f"{key} = {value}" for key, value in fields.items()),
    ]
    header.write_text("\n".join(text) + "\n")
    return header


def braces(values: Any, fmt: str = "{:.6f}") -> str:
    """Format numbers as an ENVI brace list."""
    return "{" + ", ".join(fmt.format(v) for v in values) + "}"


def write_aviris_like(directory: Path, scene: dict[str, Any]) -> Path:
    """Write the AVIRIS-NG-like radiance (BIL float32) and its ``_loc`` file; return the image."""
    image = directory / AVIRIS_NAME
    write_envi(
        image,
        scene["radiance"],
        interleave="bil",
        dtype="f4",
        byte_order=0,
        fields={
            "wavelength units": "Nanometers",
            "data units": "microwatts per square centimeter per steradian per nanometer",
            "data ignore value": "-9999",
            "wavelength": braces(scene["wavelengths"]),
            "fwhm": braces(scene["fwhm"]),
        },
    )
    loc = np.stack([scene["lon"], scene["lat"], scene["elev"].astype(np.float64)], axis=-1)
    write_envi(
        directory / AVIRIS_LOC_NAME,
        loc,
        interleave="bil",
        dtype="f8",
        byte_order=0,
        fields={"band names": "{Longitude (WGS-84), Latitude (WGS-84), Elevation (m)}"},
    )
    return image


def write_hytes_like(directory: Path, scene: dict[str, Any], *, interleave: str) -> Path:
    """Write HyTES-like LWIR radiance: BSQ int16 big-endian or BIP uint16 little-endian."""
    bbl = np.ones(LWIR_BANDS, dtype=int)
    bbl[LWIR_BAD_BAND] = 0
    name = HYTES_BSQ_NAME if interleave == "bsq" else HYTES_BIP_NAME
    image = directory / name
    write_envi(
        image,
        scene["counts"],
        interleave=interleave,
        dtype="i2" if interleave == "bsq" else "u2",
        byte_order=1 if interleave == "bsq" else 0,
        fields={
            "wavelength units": "Micrometers",
            "data units": "W/m^2/sr/um",
            "wavelength": braces(scene["wavelengths_um"]),
            "fwhm": braces(scene["fwhm_um"]),
            "bbl": braces(bbl, "{:d}"),
            "data gain values": braces(np.full(LWIR_BANDS, LWIR_GAIN), "{:g}"),
            "platform": "Twin Otter",
        },
        header_name=image.with_suffix(".hdr").name,
    )
    return image


def main(directory: Path = HERE) -> list[Path]:
    """Write every sample file into ``directory`` and return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    vswir, lwir = vswir_scene(), lwir_scene()
    write_emit_like(directory / EMIT_NAME, vswir)
    write_aviris_like(directory, vswir)
    write_hytes_like(directory, lwir, interleave="bsq")
    write_hytes_like(directory, lwir, interleave="bip")
    return sorted(p for p in directory.iterdir() if p.is_file())


if __name__ == "__main__":
    for written in main():
        print(f"{written.stat().st_size:>8} {written.name}")
