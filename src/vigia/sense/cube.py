"""The in-memory radiance cube: an ``xarray.Dataset`` in the EMIT L1B layout.

Every reader and every simulator hands the rest of Vigía the same Dataset (see ``DESIGN.md``,
"Radiance cubes")::

    radiance          (downtrack, crosstrack, bands)  float32, attribute ``units``
    wavelengths       (bands,)                        float64, nm, strictly monotonic
    fwhm              (bands,)                        float64, nm (NaN where the source has none)
    good_wavelengths  (bands,)                        uint8, 1 = usable band, 0 = masked
    lat, lon          (downtrack, crosstrack)         float64, degrees WGS84 (NaN when unknown)
    elev              (downtrack, crosstrack)         float32, m (NaN when unknown)

``radiance`` is the only data variable; the others are non-index coordinates so that they travel
with ``ds.radiance``. Attributes: ``flight_line_id``, ``platform``, ``sensor`` (``"vswir"`` or
``"lwir"``), ``time_coverage_start`` and ``time_coverage_end`` (ISO 8601 with ``Z``, or ``""``
when the source does not say) and ``georeferenced`` (1 when lat/lon come from the source, else 0).

Radiance is stored in the unit of its instrument: VSWIR in µW cm⁻² sr⁻¹ nm⁻¹ (as EMIT and
AVIRIS-NG), LWIR in W m⁻² sr⁻¹ µm⁻¹ (as HyTES). The ``units`` attribute of the source is always
read and converted, never assumed. The functions here are pure: they never touch files. They work
on NumPy- and Dask-backed Datasets alike and keep Dask-backed ones lazy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

from vigia.errors import FileFormatError, InputError

__all__ = [
    "CUBE_ATTRS",
    "DIMS",
    "FILL_VALUE",
    "LWIR_UNITS",
    "SENSORS",
    "VSWIR_UNITS",
    "canonical_units",
    "convert_radiance",
    "make_cube",
    "radiance_factor",
    "validate_cube",
]

DIMS: Final = ("downtrack", "crosstrack", "bands")
"""Dimension order of ``radiance``."""

SENSORS: Final = ("vswir", "lwir")
"""Values of the ``sensor`` attribute."""

VSWIR_UNITS: Final = "uW cm-2 sr-1 nm-1"
"""Canonical VSWIR radiance unit (µW cm⁻² sr⁻¹ nm⁻¹, UDUNITS spelling)."""

LWIR_UNITS: Final = "W m-2 sr-1 um-1"
"""Canonical LWIR radiance unit (W m⁻² sr⁻¹ µm⁻¹, UDUNITS spelling)."""

FILL_VALUE: Final = -9999.0
"""Fill value EMIT and AVIRIS-NG use for missing radiance."""

CUBE_ATTRS: Final = (
    "flight_line_id",
    "platform",
    "sensor",
    "time_coverage_start",
    "time_coverage_end",
    "georeferenced",
)
"""Dataset attributes every cube carries."""

_CANONICAL: Final = {"vswir": VSWIR_UNITS, "lwir": LWIR_UNITS}

# Words some producers spell out (EMIT's long names, AVIRIS-NG documentation), mapped to symbols.
_WORDS: Final = (
    (r"\bmicro-?watts?\b", "uW"),
    (r"\bmilli-?watts?\b", "mW"),
    (r"\bnano-?watts?\b", "nW"),
    (r"\bwatts?\b", "W"),
    (r"\bsquare\s+centimet(?:er|re)s?\b", "cm^2"),
    (r"\bsquare\s+met(?:er|re)s?\b", "m^2"),
    (r"\bcentimet(?:er|re)s?\b", "cm"),
    (r"\bmet(?:er|re)s?\b", "m"),
    (r"\bsteradians?\b", "sr"),
    (r"\bnano-?met(?:er|re)s?\b", "nm"),
    (r"\bmicro-?met(?:er|re)s?\b", "um"),
    (r"\bmicrons?\b", "um"),
    (r"\bper\b", "/"),
)
_SUPERSCRIPTS: Final = str.maketrans({"⁻": "-", "¹": "1", "²": "2", "³": "3", "µ": "u", "μ": "u"})
_TOKEN: Final = re.compile(r"^([a-z]+)\^?(-?\d+)?$")
# (kind, scale to SI) for each symbol, matched case-insensitively (EMIT writes "SR").
_SYMBOLS: Final[dict[str, tuple[str, float]]] = {
    "w": ("power", 1.0),
    "mw": ("power", 1e-3),
    "uw": ("power", 1e-6),
    "nw": ("power", 1e-9),
    "m": ("length", 1.0),
    "cm": ("length", 1e-2),
    "mm": ("length", 1e-3),
    "um": ("length", 1e-6),
    "micron": ("length", 1e-6),
    "nm": ("length", 1e-9),
    "sr": ("solid_angle", 1.0),
}


def _si_scale(units: str) -> float | None:
    """Return the factor to W m⁻³ sr⁻¹ (SI spectral radiance), or None if not a radiance unit."""
    text = units.translate(_SUPERSCRIPTS).strip().lower().replace("**", "^")
    for pattern, symbol in _WORDS:
        text = re.sub(pattern, symbol.lower(), text)
    text = re.sub(r"[·*.]", " ", text)
    exponents = {"power": 0, "length": 0, "solid_angle": 0}
    counts = {"power": 0, "length": 0, "solid_angle": 0}
    scale = 1.0
    for index, segment in enumerate(text.split("/")):
        sign = 1 if index == 0 else -1
        tokens = segment.replace("(", " ").replace(")", " ").split()
        if not tokens:
            return None
        for token in tokens:
            match = _TOKEN.match(token)
            if match is None or match.group(1) not in _SYMBOLS:
                return None
            kind, factor = _SYMBOLS[match.group(1)]
            exponent = sign * int(match.group(2) or "1")
            exponents[kind] += exponent
            counts[kind] += 1
            scale *= factor**exponent
    if exponents != {"power": 1, "length": -3, "solid_angle": -1} or counts["power"] != 1:
        return None
    return scale


def radiance_factor(from_units: str, to_units: str) -> float:
    """Return the factor that converts spectral radiance from one unit to another.

    Parameters
    ----------
    from_units, to_units : str
        Spectral radiance units (power per area per solid angle per wavelength) in any common
        spelling: ``"uW/cm^2/SR/nm"`` (EMIT), ``"microwatts per square centimeter per steradian
        per nanometer"``, ``"W/m^2/sr/um"``, ``"W m-2 sr-1 um-1"`` (HyTES), ``"µW cm⁻² sr⁻¹ nm⁻¹"``.

    Returns
    -------
    float
        Multiply a radiance in ``from_units`` by this to get it in ``to_units``.

    Raises
    ------
    InputError
        If either string is not a spectral radiance unit this function knows. Units per
        wavenumber are refused: converting them needs the band centres.

    Examples
    --------
    >>> radiance_factor("uW/cm^2/SR/nm", "W m-2 sr-1 um-1")
    10.0
    """
    scales = []
    for units in (from_units, to_units):
        scale = _si_scale(units)
        if scale is None:
            raise InputError(f"unknown radiance units {units!r}")
        scales.append(scale)
    return float(f"{scales[0] / scales[1]:.12g}")  # drop binary noise from the prefix powers


def canonical_units(units: str, sensor: str) -> tuple[str, float]:
    """Return the canonical radiance unit of a sensor and the factor to convert to it.

    Parameters
    ----------
    units : str
        Units as written by the source (see :func:`radiance_factor` for the spellings read).
    sensor : {"vswir", "lwir"}
        The instrument; VSWIR radiance is kept in µW cm⁻² sr⁻¹ nm⁻¹, LWIR in W m⁻² sr⁻¹ µm⁻¹.

    Returns
    -------
    tuple of (str, float)
        The canonical unit string and the factor from ``units`` to it.

    Raises
    ------
    InputError
        Unknown units or sensor.
    """
    if sensor not in _CANONICAL:
        raise InputError(f"unknown sensor {sensor!r}; expected one of {SENSORS}")
    target = _CANONICAL[sensor]
    return target, radiance_factor(units, target)


def convert_radiance(radiance: xr.DataArray, to_units: str) -> xr.DataArray:
    """Convert a radiance array to other units, reading its ``units`` attribute.

    Parameters
    ----------
    radiance : xarray.DataArray
        Spectral radiance of any shape with a ``units`` attribute.
    to_units : str
        Target spectral radiance units.

    Returns
    -------
    xarray.DataArray
        The converted radiance (float32, lazy if the input is) with ``units = to_units``.

    Raises
    ------
    InputError
        If ``radiance`` has no ``units`` attribute or either unit is unknown.
    """
    if "units" not in radiance.attrs:
        raise InputError("radiance has no 'units' attribute; units are never assumed")
    factor = radiance_factor(str(radiance.attrs["units"]), to_units)
    out = (radiance * np.float32(factor)).astype(np.float32)
    out.attrs = {**radiance.attrs, "units": to_units}
    return out


def _iso_utc(value: object, source: str, field: str) -> str:
    """Normalise a time to ISO 8601 UTC with ``Z``; ``""`` stays ``""`` (unknown)."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError as exc:
            raise FileFormatError(f"{source}: {field} {value!r} is not ISO 8601") from exc
    if moment.tzinfo is None:
        raise FileFormatError(f"{source}: {field} {value!r} has no time zone; UTC is required")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _band_vector(
    ds: xr.Dataset, name: str, n_bands: int, source: str, where: str
) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    """Return a per-band variable as float64, None when absent; check its length."""
    if name not in ds.variables:
        return None
    values = np.asarray(ds[name].values, dtype=np.float64).ravel()
    if values.size != n_bands:
        raise FileFormatError(
            f"{source}: {where}{name} has {values.size} values but radiance has "
            f"{n_bands} bands (band count mismatch)"
        )
    return values


def validate_cube(
    ds: xr.Dataset, source: str, *, fill_value: float | None = FILL_VALUE
) -> xr.Dataset:
    """Check a radiance cube and return it normalised to the layout of this module.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with ``radiance (downtrack, crosstrack, bands)`` carrying a ``units`` attribute,
        a ``wavelengths (bands)`` variable in nm, optionally ``fwhm``, ``good_wavelengths``,
        ``lat``, ``lon``, ``elev`` and the attributes listed in the module docstring
        (``sensor`` and ``flight_line_id`` are required).
    source : str
        Where the cube came from (a file name), used in error messages.
    fill_value : float or None, optional
        Radiance value that means "no data" (EMIT and AVIRIS-NG use -9999); these and ±inf
        (saturated) become NaN.

    Returns
    -------
    xarray.Dataset
        A new Dataset: radiance float32 in the canonical unit of its sensor (converted when the
        source used another), ``good_wavelengths`` cleared for bands the source marks bad and for
        bands without one finite value (computed lazily for Dask-backed cubes), missing
        ``fwhm`` / ``lat`` / ``lon`` / ``elev`` filled with NaN and a ``comment`` saying so,
        times normalised to ISO 8601 ``Z``.

    Raises
    ------
    FileFormatError
        Naming ``source`` and the field: no radiance or wrong dimensions, no wavelengths, a band
        count mismatch, non-finite or non-monotonic wavelengths, missing or unknown units, an
        unknown sensor, malformed times.
    """
    if "radiance" not in ds.variables:
        raise FileFormatError(f"{source}: no 'radiance' variable")
    radiance = ds["radiance"]
    if radiance.dims != DIMS:
        raise FileFormatError(f"{source}: radiance has dimensions {radiance.dims}, expected {DIMS}")
    n_rows, n_cols, n_bands = (int(n) for n in radiance.shape)
    wavelengths = _band_vector(ds, "wavelengths", n_bands, source, "")
    if wavelengths is None:
        raise FileFormatError(f"{source}: no 'wavelengths' variable")
    if not np.all(np.isfinite(wavelengths)):
        raise FileFormatError(f"{source}: wavelengths contain non-finite values")
    steps = np.diff(wavelengths)
    if not (np.all(steps > 0) or np.all(steps < 0)):
        first = int(np.argmax((steps <= 0) if steps.size and steps[0] > 0 else (steps >= 0)))
        raise FileFormatError(
            f"{source}: wavelengths are not strictly monotonic "
            f"(band {first + 1}: {wavelengths[first]} nm then {wavelengths[first + 1]} nm)"
        )
    fwhm = _band_vector(ds, "fwhm", n_bands, source, "")
    fwhm_attrs: dict[str, Any] = {"units": "nm", "long_name": "full width at half maximum"}
    if fwhm is None:
        fwhm = np.full(n_bands, np.nan)
        fwhm_attrs["comment"] = "not given by the source"
    elif np.any(fwhm <= 0):
        raise FileFormatError(f"{source}: fwhm has values <= 0 nm")

    sensor = str(ds.attrs.get("sensor", ""))
    if sensor not in SENSORS:
        raise FileFormatError(f"{source}: attribute sensor {sensor!r} is not one of {SENSORS}")
    if "units" not in radiance.attrs:
        raise FileFormatError(f"{source}: radiance has no 'units' attribute")
    raw_units = str(radiance.attrs["units"])
    try:
        units, factor = canonical_units(raw_units, sensor)
    except InputError as exc:
        raise FileFormatError(f"{source}: radiance units {raw_units!r} are unknown") from exc
    flight_line_id = str(ds.attrs.get("flight_line_id", ""))
    if not flight_line_id:
        raise FileFormatError(f"{source}: attribute flight_line_id is missing")
    start = _iso_utc(ds.attrs.get("time_coverage_start"), source, "time_coverage_start")
    end = _iso_utc(ds.attrs.get("time_coverage_end"), source, "time_coverage_end")
    if start and end and datetime.fromisoformat(end) < datetime.fromisoformat(start):
        raise FileFormatError(f"{source}: time_coverage_end {end} is before start {start}")

    raw = radiance.variable
    if isinstance(raw.data, np.ndarray):
        # In memory: one float32 copy, masked and scaled in place (a line is ~1 GB; the
        # lazy path below would hold four or five temporaries of that size).
        arr = np.array(raw.data, dtype=np.float32, copy=True)
        bad_np = ~np.isfinite(arr)
        if fill_value is not None:
            bad_np |= arr == np.float32(fill_value)
        arr[bad_np] = np.nan
        del bad_np
        if factor != 1.0:
            arr *= np.float32(factor)
        values = xr.Variable(raw.dims, arr)
    else:
        data = xr.DataArray(raw.astype(np.float32))
        bad: xr.DataArray = data.isnull() | (abs(data) == np.inf)
        if fill_value is not None:
            bad = bad | (data == np.float32(fill_value))
        data = data.where(~bad)
        if factor != 1.0:
            data = data * np.float32(factor)
        values = data.astype(np.float32).variable
    values.attrs = {"units": units, "long_name": "at-sensor spectral radiance"}

    given_good = _band_vector(ds, "good_wavelengths", n_bands, source, "")
    good = np.ones(n_bands, dtype=bool) if given_good is None else given_good > 0.5
    has_data = xr.DataArray(values).notnull().any(dim=("downtrack", "crosstrack")).variable
    good_var = (has_data & xr.Variable(("bands",), good)).astype(np.uint8)
    good_var.attrs = {
        "long_name": "band usable (1) or masked (0)",
        "flag_values": np.array([0, 1], dtype=np.uint8),
        "flag_meanings": "bad good",
    }

    location: dict[str, xr.Variable] = {}
    georeferenced = 1
    for name, dtype, var_attrs in (
        ("lat", np.float64, {"units": "degrees_north", "standard_name": "latitude"}),
        ("lon", np.float64, {"units": "degrees_east", "standard_name": "longitude"}),
        ("elev", np.float32, {"units": "m", "long_name": "surface elevation"}),
    ):
        if name in ds.variables:
            var = ds[name].variable
            if var.dims != DIMS[:2] or var.shape != (n_rows, n_cols):
                raise FileFormatError(
                    f"{source}: {name} has dimensions {dict(zip(var.dims, var.shape, strict=True))}"
                    f", expected {{'downtrack': {n_rows}, 'crosstrack': {n_cols}}}"
                )
            located = xr.DataArray(var.astype(dtype))
            if fill_value is not None:
                located = located.where(located != dtype(fill_value))
            var = located.variable
            var.attrs = dict(var_attrs)
        else:
            if name != "elev":
                georeferenced = 0
            var = xr.Variable(DIMS[:2], _nan_like(values, (n_rows, n_cols), dtype))
            var.attrs = {**var_attrs, "comment": "no location data in the source; unknown (NaN)"}
        location[name] = var

    coords = {
        "wavelengths": xr.Variable(
            ("bands",), wavelengths, {"units": "nm", "long_name": "band centre wavelength"}
        ),
        "fwhm": xr.Variable(("bands",), fwhm, fwhm_attrs),
        "good_wavelengths": good_var,
        **location,
    }
    attrs: dict[str, Any] = {
        "flight_line_id": flight_line_id,
        "platform": str(ds.attrs.get("platform", "unknown")) or "unknown",
        "sensor": sensor,
        "time_coverage_start": start,
        "time_coverage_end": end,
        "georeferenced": georeferenced,
    }
    return xr.Dataset({"radiance": values}, coords=coords, attrs=attrs)


def _nan_like(template: xr.Variable, shape: tuple[int, int], dtype: type[np.floating[Any]]) -> Any:
    """Return a NaN array of ``shape``, Dask-backed (chunked along downtrack) if ``template`` is."""
    if template.chunks is not None:
        import dask.array as da

        return da.full(  # type: ignore[no-untyped-call]
            shape, np.nan, dtype=dtype, chunks=(template.chunks[0], -1)
        )
    return np.full(shape, np.nan, dtype=dtype)


def make_cube(
    radiance: ArrayLike,
    wavelengths: ArrayLike,
    *,
    units: str,
    sensor: str,
    flight_line_id: str,
    fwhm: ArrayLike | None = None,
    good_wavelengths: ArrayLike | None = None,
    lat: ArrayLike | None = None,
    lon: ArrayLike | None = None,
    elev: ArrayLike | None = None,
    platform: str = "unknown",
    time_coverage_start: datetime | str | None = None,
    time_coverage_end: datetime | str | None = None,
) -> xr.Dataset:
    """Build a validated radiance cube from arrays.

    Parameters
    ----------
    radiance : array_like, shape (downtrack, crosstrack, bands)
        At-sensor spectral radiance in ``units``; -9999 and ±inf become NaN.
    wavelengths : array_like, shape (bands,)
        Band centres in nm, strictly monotonic.
    units : str
        Units of ``radiance`` (any spelling :func:`radiance_factor` reads); the cube stores
        radiance in the canonical unit of ``sensor``.
    sensor : {"vswir", "lwir"}
        The instrument.
    flight_line_id : str
        Identifier of the flight line.
    fwhm : array_like, shape (bands,), optional
        Band full widths at half maximum in nm (NaN if not given).
    good_wavelengths : array_like, shape (bands,), optional
        1 for usable bands, 0 for bands to mask (all usable if not given).
    lat, lon : array_like, shape (downtrack, crosstrack), optional
        Pixel centre latitude and longitude in degrees WGS84 (NaN if not given).
    elev : array_like, shape (downtrack, crosstrack), optional
        Surface elevation in m.
    platform : str, optional
        The aircraft or spacecraft.
    time_coverage_start, time_coverage_end : datetime or str, optional
        Timezone-aware start and end of the line (ISO 8601 strings accepted).

    Returns
    -------
    xarray.Dataset
        The cube, laid out as the module docstring describes.

    Raises
    ------
    FileFormatError
        If the arrays do not form a valid cube (see :func:`validate_cube`).

    Examples
    --------
    >>> import numpy as np
    >>> cube = make_cube(np.ones((2, 3, 4)), [500.0, 510.0, 520.0, 530.0],
    ...                  units="W/m^2/sr/um", sensor="vswir", flight_line_id="L1")
    >>> round(float(cube.radiance[0, 0, 0]), 6), cube.radiance.attrs["units"]
    (0.1, 'uW cm-2 sr-1 nm-1')
    """
    data = np.asarray(radiance)
    if data.ndim != 3:
        raise FileFormatError(f"<arrays>: radiance has {data.ndim} dimensions, expected 3")
    variables: dict[str, xr.Variable] = {
        "radiance": xr.Variable(DIMS, data, {"units": units}),
        "wavelengths": xr.Variable(("bands",), np.asarray(wavelengths).ravel()),
    }
    for name, value in (("fwhm", fwhm), ("good_wavelengths", good_wavelengths)):
        if value is not None:
            variables[name] = xr.Variable(("bands",), np.asarray(value).ravel())
    for name, value in (("lat", lat), ("lon", lon), ("elev", elev)):
        if value is not None:
            variables[name] = xr.Variable(DIMS[:2], np.asarray(value))
    attrs: Mapping[str, Any] = {
        "flight_line_id": flight_line_id,
        "platform": platform,
        "sensor": sensor,
        "time_coverage_start": "" if time_coverage_start is None else time_coverage_start,
        "time_coverage_end": "" if time_coverage_end is None else time_coverage_end,
    }
    try:
        ds = xr.Dataset(variables, attrs=dict(attrs))
    except ValueError as exc:  # xarray refuses mismatched dimension sizes
        raise FileFormatError(f"<arrays>: band count mismatch or bad shape: {exc}") from exc
    return validate_cube(ds, "<arrays>")
