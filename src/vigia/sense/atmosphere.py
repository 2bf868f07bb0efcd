"""Sun and atmosphere between the ground and the aircraft, from radiative-transfer tables.

The tables were computed once, offline, by ``scripts/make_atmosphere_tables.py`` and ship as
``vigia/data/atmosphere_vswir.npz`` and ``vigia/data/atmosphere_lwir.npz`` with JSON sidecars
that name the code, version, profile, aerosol, grid and the accuracy check. Nothing here needs
6S, LOWTRAN, a Fortran compiler or the network.

VSWIR (380–2510 nm)
    6SV 1.1 (Vermote et al. 1997, IEEE TGRS 35:675; Kotchenova et al. 2006, Appl. Opt.
    45:6762) run through Py6S: continental aerosol with AOT(550 nm) = 0.1, water vapour
    scaled in the US62 profile, nadir view. A Lambertian surface of reflectance ρ gives

        L = L_path + E0 cos θs T↓ T↑ ρ / (π (1 − S ρ)),

    with E0 the extraterrestrial solar irradiance, T↓ and T↑ the total (gas × scattering)
    transmittances sun → ground and ground → sensor, L_path the atmosphere's own (path)
    radiance and S its spherical albedo. Radiance in µW cm⁻² sr⁻¹ nm⁻¹, irradiance in
    µW cm⁻² nm⁻¹ (EMIT and AVIRIS-NG units).
LWIR (7,000–13,000 nm)
    LOWTRAN7 (Kneizys et al. 1988, AFGL-TR-88-0177), tropical and mid-latitude-summer model
    atmospheres, clear sky, nadir view. A surface of emissivity ε at temperature T gives

        L = τ [ε B(T) + (1 − ε) L↓] + L↑,

    with τ the transmittance ground → sensor, L↑ the upwelling path radiance at the sensor and
    L↓ the downwelling sky radiance at the ground (hemispheric, cosine-weighted mean).
    Radiance in W m⁻² sr⁻¹ µm⁻¹ (HyTES units).

Heights: ``sensor_altitude_m`` is the sensor's height **above the ground** it looks at, and
``ground_elevation_m`` the ground's height above sea level.

Band averaging: each table quantity is averaged over the band's Gaussian response. Products
are averaged as products, so that the band values multiply back to the band average of the
product: T↓ = ⟨E0 T↓⟩ / ⟨E0⟩, T↑ = ⟨E0 T↓ T↑⟩ / ⟨E0 T↓⟩, and in the LWIR
L↓ = ⟨τ L↓⟩ / ⟨τ⟩. This matters inside absorption bands, where T↓ and T↑ are correlated.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import RegularGridInterpolator

from vigia.errors import InputError
from vigia.sense.library import gaussian_resample
from vigia.sense.thermal import planck_radiance

__all__ = [
    "LwirAtmosphere",
    "LwirProfile",
    "VswirAtmosphere",
    "lwir_atmosphere",
    "lwir_radiance",
    "solar_irradiance",
    "table_metadata",
    "vswir_atmosphere",
    "vswir_radiance",
]

Array = NDArray[np.float64]
LwirProfile = Literal["tropical", "midlatitude_summer"]

# 1 W m⁻² µm⁻¹ = 1e6 µW / 1e4 cm² / 1e3 nm = 0.1 µW cm⁻² nm⁻¹ (6S units → EMIT units).
_W_M2_UM_TO_UW_CM2_NM = 0.1
# Tables are linearly interpolated to this step before band averaging, so narrow bands
# (EMIT ~8.5 nm FWHM) see the 5-nm VSWIR table's features as lines, not as steps.
_FINE_STEP_NM = 1.0


def _data(name: str) -> bytes:
    return files("vigia").joinpath("data", name).read_bytes()


@dataclass(frozen=True)
class _Table:
    """A table on a regular grid: axes (name, nodes), wavelengths and named arrays."""

    axes: tuple[tuple[str, Array], ...]
    wavelength_nm: Array
    arrays: dict[str, Array]


@cache
def _vswir_table() -> _Table:
    with np.load(io.BytesIO(_data("atmosphere_vswir.npz"))) as npz:
        get = {k: np.asarray(npz[k], dtype=np.float64) for k in npz.files}
    axes = (
        ("solar_zenith_deg", get["solar_zenith_deg"]),
        ("sensor_altitude_m", get["sensor_height_km"] * 1000.0),
        ("ground_elevation_m", get["ground_elevation_km"] * 1000.0),
        ("water_vapour_g_cm2", get["water_vapour_g_cm2"]),
    )
    arrays = {k: get[k] for k in ("t_down", "t_up", "l_path", "s")}
    arrays["e0"] = get["e0"]
    return _Table(axes, get["wavelength_nm"], arrays)


@cache
def _lwir_table() -> _Table:
    with np.load(io.BytesIO(_data("atmosphere_lwir.npz"))) as npz:
        get = {k: np.asarray(npz[k], dtype=np.float64) for k in npz.files}
    axes = (
        ("sensor_altitude_m", get["sensor_height_km"] * 1000.0),
        ("ground_elevation_m", get["ground_elevation_km"] * 1000.0),
    )
    arrays = {k: get[k] for k in ("tau", "l_up", "l_down")}
    return _Table(axes, get["wavelength_nm"], arrays)


@cache
def table_metadata(kind: Literal["vswir", "lwir"]) -> dict[str, Any]:
    """Provenance of an atmosphere table: code, version, profile, aerosol, grid, accuracy.

    Parameters
    ----------
    kind : {"vswir", "lwir"}
        Which table.

    Returns
    -------
    dict
        The table's JSON sidecar, as written by ``scripts/make_atmosphere_tables.py``.

    Raises
    ------
    InputError
        If ``kind`` is neither ``"vswir"`` nor ``"lwir"``.

    Examples
    --------
    >>> table_metadata("vswir")["code"].startswith("6SV")
    True
    """
    if kind not in ("vswir", "lwir"):
        raise InputError(f"kind must be 'vswir' or 'lwir', got {kind!r}")
    meta: dict[str, Any] = json.loads(_data(f"atmosphere_{kind}.json").decode("utf-8"))
    return meta


def _check_in(name: str, value: float, nodes: Array, unit: str) -> float:
    lo, hi = float(nodes[0]), float(nodes[-1])
    if not np.isfinite(value) or not lo - 1e-9 <= value <= hi + 1e-9:
        raise InputError(
            f"{name} = {value} {unit} is outside the atmosphere table's range "
            f"[{lo:g}, {hi:g}] {unit}"
        )
    return float(np.clip(value, lo, hi))


def _bands(
    centers_nm: ArrayLike, fwhm_nm: ArrayLike, grid_nm: Array, what: str
) -> tuple[Array, Array]:
    centers = np.atleast_1d(np.asarray(centers_nm, dtype=np.float64))
    fwhm = np.broadcast_to(np.asarray(fwhm_nm, dtype=np.float64), centers.shape).copy()
    if centers.ndim != 1:
        raise InputError(f"centers_nm must be 1-D (bands,), got shape {centers.shape}")
    if not np.all(np.isfinite(fwhm)) or np.any(fwhm <= 0):
        raise InputError("fwhm_nm must be finite and positive for every band")
    lo, hi = float(grid_nm[0]), float(grid_nm[-1])
    bad = ~np.isfinite(centers) | (centers < lo) | (centers > hi)
    if np.any(bad):
        raise InputError(
            f"band centre {float(centers[bad][0])} nm is outside the {what} atmosphere table "
            f"({lo:g}–{hi:g} nm)"
        )
    return centers, fwhm


def _at_node(table: _Table, point: tuple[float, ...], key: str) -> Array:
    """Multilinear interpolation of ``table.arrays[key]`` at ``point``: (wavelength,)."""
    values = table.arrays[key]
    n = values.ndim - 1
    grid = tuple(nodes for _, nodes in table.axes[-n:])
    interp = RegularGridInterpolator(grid, values)
    out: Array = np.asarray(interp(np.asarray(point[-n:])[None, :])[0], dtype=np.float64)
    return out


def _average(wl: Array, spectrum: Array, centers: Array, fwhm: Array) -> Array:
    fine = np.arange(wl[0], wl[-1] + 0.5 * _FINE_STEP_NM, _FINE_STEP_NM)
    return gaussian_resample(fine, np.interp(fine, wl, spectrum), centers, fwhm)


def _ratio(num: Array, den: Array) -> Array:
    out: Array = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return out


@dataclass(frozen=True)
class VswirAtmosphere:
    """Band-averaged sun and atmosphere for one VSWIR viewing geometry.

    Attributes
    ----------
    wavelength_nm, fwhm_nm : (bands,) float64
        Band centres and full widths at half maximum, nm.
    solar_zenith_deg : float
        Solar zenith angle the atmosphere was computed for, degrees.
    sensor_altitude_m, ground_elevation_m : float
        Sensor height above ground and ground elevation above sea level, m.
    water_vapour_g_cm2 : float
        Sea-level total column of water vapour of the scaled profile, g cm⁻².
    solar_irradiance : (bands,) float64
        Extraterrestrial solar irradiance E0 at 1 AU, µW cm⁻² nm⁻¹.
    transmittance_down, transmittance_up : (bands,) float64
        Total transmittance sun → ground and ground → sensor (nadir), in [0, 1].
    path_radiance : (bands,) float64
        Atmospheric path radiance at the sensor, µW cm⁻² sr⁻¹ nm⁻¹.
    spherical_albedo : (bands,) float64
        Spherical albedo of the atmosphere, in [0, 1].
    """

    wavelength_nm: Array
    fwhm_nm: Array
    solar_zenith_deg: float
    sensor_altitude_m: float
    ground_elevation_m: float
    water_vapour_g_cm2: float
    solar_irradiance: Array
    transmittance_down: Array
    transmittance_up: Array
    path_radiance: Array
    spherical_albedo: Array


@dataclass(frozen=True)
class LwirAtmosphere:
    """Band-averaged atmosphere for one LWIR viewing geometry.

    Attributes
    ----------
    wavelength_nm, fwhm_nm : (bands,) float64
        Band centres and full widths at half maximum, nm.
    sensor_altitude_m, ground_elevation_m : float
        Sensor height above ground and ground elevation above sea level, m.
    profile : {"tropical", "midlatitude_summer"}
        LOWTRAN7 model atmosphere.
    transmittance : (bands,) float64
        Transmittance ground → sensor (nadir), in [0, 1].
    path_radiance : (bands,) float64
        Upwelling atmospheric radiance at the sensor, W m⁻² sr⁻¹ µm⁻¹.
    downwelling_radiance : (bands,) float64
        Downwelling sky radiance at the ground (irradiance / π), W m⁻² sr⁻¹ µm⁻¹.
    """

    wavelength_nm: Array
    fwhm_nm: Array
    sensor_altitude_m: float
    ground_elevation_m: float
    profile: LwirProfile
    transmittance: Array
    path_radiance: Array
    downwelling_radiance: Array


def solar_irradiance(wavelength_nm: ArrayLike) -> Array:
    """Extraterrestrial solar spectral irradiance at 1 AU, µW cm⁻² nm⁻¹.

    The source is 6SV 1.1's built-in solar spectrum, as stored in the VSWIR table every 5 nm
    and linearly interpolated: the same E0 that the transmittances and path radiance were
    computed with, so radiances stay consistent with 6S.

    Parameters
    ----------
    wavelength_nm : (...) array_like
        Wavelengths, nm, within 380–2510 nm.

    Returns
    -------
    (...) ndarray of float64
        Irradiance at each wavelength, µW cm⁻² nm⁻¹.

    Raises
    ------
    InputError
        If a wavelength is outside the table or not finite.

    Examples
    --------
    >>> 180.0 < float(solar_irradiance(550.0)) < 200.0
    True
    """
    table = _vswir_table()
    wl = np.asarray(wavelength_nm, dtype=np.float64)
    lo, hi = float(table.wavelength_nm[0]), float(table.wavelength_nm[-1])
    if np.any(~np.isfinite(wl)) or np.any(wl < lo) or np.any(wl > hi):
        raise InputError(f"wavelength_nm must lie within {lo:g}–{hi:g} nm")
    e0 = np.interp(wl, table.wavelength_nm, table.arrays["e0"]) * _W_M2_UM_TO_UW_CM2_NM
    out: Array = np.asarray(e0, dtype=np.float64)
    return out


def vswir_atmosphere(
    centers_nm: ArrayLike,
    fwhm_nm: ArrayLike,
    *,
    solar_zenith_deg: float,
    sensor_altitude_m: float,
    ground_elevation_m: float = 0.0,
    water_vapour_g_cm2: float = 2.5,
) -> VswirAtmosphere:
    """Sun and atmosphere averaged over VSWIR bands, interpolated in the 6S table.

    Parameters
    ----------
    centers_nm : (bands,) array_like
        Band centres, nm, within 380–2510 nm.
    fwhm_nm : (bands,) array_like or scalar
        Band full widths at half maximum (Gaussian response), nm.
    solar_zenith_deg : float
        Solar zenith angle, degrees, within the table (0–60°).
    sensor_altitude_m : float
        Sensor height above the ground, m, within the table (2,000–8,000 m).
    ground_elevation_m : float, default 0
        Ground elevation above sea level, m, within the table (0–2,000 m).
    water_vapour_g_cm2 : float, default 2.5
        Total column of water vapour at sea level of the scaled profile, g cm⁻² (1–4); a raised
        ground sees only the part of the column above it.

    Returns
    -------
    VswirAtmosphere
        E0, T↓, T↑, path radiance and spherical albedo for each band.

    Raises
    ------
    InputError
        If a band centre or a geometry value lies outside the table, or a FWHM is not positive.

    Examples
    --------
    >>> atm = vswir_atmosphere([550.0], 8.5, solar_zenith_deg=30.0, sensor_altitude_m=4000.0)
    >>> bool(0.8 < atm.transmittance_up[0] <= 1.0)
    True
    """
    table = _vswir_table()
    centers, fwhm = _bands(centers_nm, fwhm_nm, table.wavelength_nm, "VSWIR")
    given = (solar_zenith_deg, sensor_altitude_m, ground_elevation_m, water_vapour_g_cm2)
    units = ("deg", "m", "m", "g cm-2")
    point = tuple(
        _check_in(name, float(v), nodes, unit)
        for (name, nodes), v, unit in zip(table.axes, given, units, strict=True)
    )
    wl = table.wavelength_nm
    e0 = table.arrays["e0"] * _W_M2_UM_TO_UW_CM2_NM
    t_down, t_up = _at_node(table, point, "t_down"), _at_node(table, point, "t_up")
    e0_b = _average(wl, e0, centers, fwhm)
    e0_down_b = _average(wl, e0 * t_down, centers, fwhm)
    e0_down_up_b = _average(wl, e0 * t_down * t_up, centers, fwhm)
    l_path = _at_node(table, point, "l_path") * _W_M2_UM_TO_UW_CM2_NM
    return VswirAtmosphere(
        wavelength_nm=centers,
        fwhm_nm=fwhm,
        solar_zenith_deg=point[0],
        sensor_altitude_m=point[1],
        ground_elevation_m=point[2],
        water_vapour_g_cm2=point[3],
        solar_irradiance=e0_b,
        transmittance_down=np.clip(_ratio(e0_down_b, e0_b), 0.0, 1.0),
        transmittance_up=np.clip(_ratio(e0_down_up_b, e0_down_b), 0.0, 1.0),
        path_radiance=np.maximum(_average(wl, l_path, centers, fwhm), 0.0),
        spherical_albedo=np.clip(
            _average(wl, _at_node(table, point, "s"), centers, fwhm), 0.0, 1.0
        ),
    )


def vswir_radiance(
    reflectance: ArrayLike, atm: VswirAtmosphere, solar_zenith_deg: float | None = None
) -> NDArray[np.float32]:
    """At-sensor radiance over Lambertian surfaces, µW cm⁻² sr⁻¹ nm⁻¹.

    L = L_path + E0 cos θs T↓ T↑ ρ / (π (1 − S ρ)).

    Parameters
    ----------
    reflectance : (..., bands) array_like
        Surface reflectance in [0, 1], band axis last, matching ``atm``'s bands.
    atm : VswirAtmosphere
        Atmosphere from :func:`vswir_atmosphere`.
    solar_zenith_deg : float, optional
        Solar zenith angle, degrees. T↓ and the path radiance already depend on it, so it
        defaults to ``atm.solar_zenith_deg`` and, if given, must equal it.

    Returns
    -------
    (..., bands) ndarray of float32
        Radiance at the sensor, µW cm⁻² sr⁻¹ nm⁻¹.

    Raises
    ------
    InputError
        If the band axis does not match, a reflectance is outside [0, 1] or not finite, or the
        solar zenith angle disagrees with the one ``atm`` was computed for.

    Examples
    --------
    >>> atm = vswir_atmosphere([550.0], 8.5, solar_zenith_deg=30.0, sensor_altitude_m=4000.0)
    >>> bool(8.0 < vswir_radiance([0.3], atm)[0] < 16.0)
    True
    """
    rho = np.asarray(reflectance)
    # Single precision stays single (a rendered line is large); anything else is computed in
    # double precision.
    rho = rho if rho.dtype == np.float32 else rho.astype(np.float64)
    nb = atm.wavelength_nm.size
    if rho.ndim == 0 or rho.shape[-1] != nb:
        raise InputError(f"reflectance must have {nb} bands on its last axis, got {rho.shape}")
    if not np.all((rho >= 0.0) & (rho <= 1.0)):  # NaN fails both comparisons
        raise InputError("reflectance must be finite and within [0, 1]")
    if solar_zenith_deg is not None and abs(solar_zenith_deg - atm.solar_zenith_deg) > 1e-6:
        raise InputError(
            f"solar_zenith_deg = {solar_zenith_deg}° but the atmosphere was computed for "
            f"{atm.solar_zenith_deg}°: recompute it with vswir_atmosphere"
        )
    mu = np.cos(np.radians(atm.solar_zenith_deg))
    direct = atm.solar_irradiance * mu * atm.transmittance_down * atm.transmittance_up / np.pi
    dt = rho.dtype
    radiance = direct.astype(dt) * rho
    radiance /= 1.0 - atm.spherical_albedo.astype(dt) * rho
    radiance += atm.path_radiance.astype(dt)
    out: NDArray[np.float32] = np.asarray(radiance, dtype=np.float32)
    return out


def lwir_atmosphere(
    centers_nm: ArrayLike,
    fwhm_nm: ArrayLike,
    *,
    sensor_altitude_m: float,
    ground_elevation_m: float = 0.0,
    profile: LwirProfile = "tropical",
) -> LwirAtmosphere:
    """Atmosphere averaged over LWIR bands, interpolated in the LOWTRAN7 table.

    Parameters
    ----------
    centers_nm : (bands,) array_like
        Band centres, nm, within 7,000–13,000 nm.
    fwhm_nm : (bands,) array_like or scalar
        Band full widths at half maximum (Gaussian response), nm.
    sensor_altitude_m : float
        Sensor height above the ground, m, within the table (2,000–8,000 m).
    ground_elevation_m : float, default 0
        Ground elevation above sea level, m, within the table (0–2,000 m).
    profile : {"tropical", "midlatitude_summer"}, default "tropical"
        LOWTRAN7 model atmosphere.

    Returns
    -------
    LwirAtmosphere
        τ, upwelling path radiance and downwelling sky radiance for each band.

    Raises
    ------
    InputError
        If a band centre or a height lies outside the table, the profile is unknown, or a
        FWHM is not positive.

    Examples
    --------
    >>> atm = lwir_atmosphere([10_500.0], 50.0, sensor_altitude_m=3000.0)
    >>> bool(0.0 < atm.transmittance[0] < 1.0)
    True
    """
    table = _lwir_table()
    names: tuple[str, ...] = tuple(table_metadata("lwir")["grid"]["profile"])
    if profile not in names:
        raise InputError(f"profile must be one of {names}, got {profile!r}")
    centers, fwhm = _bands(centers_nm, fwhm_nm, table.wavelength_nm, "LWIR")
    given = (sensor_altitude_m, ground_elevation_m)
    point = tuple(
        _check_in(name, float(v), nodes, "m")
        for (name, nodes), v in zip(table.axes, given, strict=True)
    )
    p = names.index(profile)
    sub = _Table(table.axes, table.wavelength_nm, {k: v[p] for k, v in table.arrays.items()})
    wl = table.wavelength_nm
    tau = _at_node(sub, point, "tau")
    tau_b = _average(wl, tau, centers, fwhm)
    tau_down_b = _average(wl, tau * _at_node(sub, point, "l_down"), centers, fwhm)
    return LwirAtmosphere(
        wavelength_nm=centers,
        fwhm_nm=fwhm,
        sensor_altitude_m=point[0],
        ground_elevation_m=point[1],
        profile=profile,
        transmittance=np.clip(tau_b, 0.0, 1.0),
        path_radiance=np.maximum(_average(wl, _at_node(sub, point, "l_up"), centers, fwhm), 0.0),
        downwelling_radiance=np.maximum(_ratio(tau_down_b, tau_b), 0.0),
    )


def lwir_radiance(
    emissivity: ArrayLike, surface_temperature_k: ArrayLike, atm: LwirAtmosphere
) -> NDArray[np.float32]:
    """At-sensor LWIR radiance, W m⁻² sr⁻¹ µm⁻¹: τ [ε B(T) + (1 − ε) L↓] + L↑.

    Parameters
    ----------
    emissivity : (..., bands) array_like
        Surface emissivity in [0, 1], band axis last, matching ``atm``'s bands.
    surface_temperature_k : (...) array_like
        Surface temperature, K, shaped as ``emissivity`` without its band axis (or
        broadcastable to it).
    atm : LwirAtmosphere
        Atmosphere from :func:`lwir_atmosphere`.

    Returns
    -------
    (..., bands) ndarray of float32
        Radiance at the sensor, W m⁻² sr⁻¹ µm⁻¹. Planck radiance is taken at band centres.

    Raises
    ------
    InputError
        If the band axis does not match, an emissivity is outside [0, 1], or a temperature is
        not finite and positive.

    Examples
    --------
    >>> atm = lwir_atmosphere([10_500.0], 50.0, sensor_altitude_m=3000.0)
    >>> bool(8.0 < lwir_radiance([1.0], 300.0, atm)[0] < 10.0)
    True
    """
    eps = np.asarray(emissivity, dtype=np.float64)
    nb = atm.wavelength_nm.size
    if eps.ndim == 0 or eps.shape[-1] != nb:
        raise InputError(f"emissivity must have {nb} bands on its last axis, got {eps.shape}")
    if not np.all(np.isfinite(eps)) or np.any(eps < 0.0) or np.any(eps > 1.0):
        raise InputError("emissivity must be finite and within [0, 1]")
    t = np.asarray(surface_temperature_k, dtype=np.float64)
    blackbody = planck_radiance(atm.wavelength_nm, t)  # t.shape + (bands,)
    leaving = eps * blackbody + (1.0 - eps) * atm.downwelling_radiance
    radiance = atm.transmittance * leaving + atm.path_radiance
    return np.asarray(radiance, dtype=np.float32)
