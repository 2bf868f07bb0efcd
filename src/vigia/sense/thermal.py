"""Radiance from temperature and reflectance: Planck, plume layer model, VSWIR, heat sources.

Units follow ``DESIGN.md``: wavelengths in nm, temperatures in K, LWIR spectral radiance in
W m⁻² sr⁻¹ µm⁻¹ (as HyTES), VSWIR spectral radiance in µW cm⁻² sr⁻¹ nm⁻¹ (as EMIT and
AVIRIS-NG), gas columns in ppm·m, angles in radians.

Spectral arrays put the band axis last. Functions that take a temperature field and a set of
wavelengths return ``temperature.shape + wavelength.shape`` (the layout of a radiance cube,
``(downtrack, crosstrack, band)``); everything else broadcasts as NumPy does.

The LWIR plume model is the three-layer model of Young (2002) and Burr & Hengartner (2006):
ground, a thin plume layer and the atmosphere above it,

    L = τ_a [τ_p (ε B(T_g) + (1 − ε) L_d) + (1 − τ_p) B(T_p)] + L_a ,

with τ_p = exp(−Σ_i α_i(λ) C_i). For a weak plume (α C ≪ 1) the change it makes is

    ΔL ≈ τ_a α C [B(T_p) − L_g],   L_g = ε B(T_g) + (1 − ε) L_d ,

so a plume warmer than the radiance leaving the ground shows in emission and a cooler one in
absorption, and a plume at the ground's temperature over a blackbody ground is invisible.

References
----------
Young, S. J. (2002). Detection and quantification of gases in industrial-stack plumes using
thermal-infrared hyperspectral imaging. Aerospace Report ATR-2002(8407)-1.
Burr, T. & Hengartner, N. (2006). Overview of physical models and statistical approaches for
weak gaseous plume detection using passive infrared hyperspectral imagery. Sensors 6, 1721–1750.
Schaepman-Strub, G. et al. (2006) and the EMIT L1B ATBD for the VSWIR radiance equation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyspectral.blackbody import blackbody, blackbody_rad2temp
from scipy.constants import Stefan_Boltzmann

from vigia.errors import InputError

__all__ = [
    "brightness_temperature",
    "mixed_pixel_brightness_temperature",
    "planck_radiance",
    "plume_layer_radiance",
    "plume_signal_linear",
    "plume_transmittance",
    "radiance_vswir",
    "radiative_power",
    "transmittance",
]

Array = NDArray[np.float64]

# 1 W m⁻² sr⁻¹ m⁻¹ = 1e-6 W m⁻² sr⁻¹ µm⁻¹ (per metre of wavelength → per micrometre).
_PER_M_TO_PER_UM = 1e-6
# 1 W m⁻² sr⁻¹ nm⁻¹ = 1e6 µW / 1e4 cm² = 100 µW cm⁻² sr⁻¹ nm⁻¹.
_W_M2_TO_UW_CM2 = 100.0


def _positive(name: str, value: ArrayLike) -> Array:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError(f"{name} must be finite and > 0, got {value!r}")
    return arr


def _fraction(name: str, value: ArrayLike) -> Array:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise InputError(f"{name} must lie in [0, 1], got {value!r}")
    return arr


def planck_radiance(wavelength_nm: ArrayLike, temperature_k: ArrayLike) -> Array:
    """Blackbody spectral radiance B(λ, T) in W m⁻² sr⁻¹ µm⁻¹.

    Parameters
    ----------
    wavelength_nm : (band,) array_like or scalar
        Wavelengths, nm (> 0).
    temperature_k : (...) array_like or scalar
        Temperatures, K (> 0).

    Returns
    -------
    (..., band) ndarray of float64
        Spectral radiance, W m⁻² sr⁻¹ µm⁻¹, shape ``temperature.shape + wavelength.shape``.

    Raises
    ------
    InputError
        If a wavelength or temperature is not finite and positive.

    Notes
    -----
    ``pyspectral.blackbody.blackbody`` works in SI (wavelength in m, radiance per metre of
    wavelength) and returns the outer product ``(temperature, wavelength)``; we convert nm → m
    on the way in and per m → per µm (× 1e-6) on the way out.

    Examples
    --------
    >>> round(float(planck_radiance(10_000.0, 300.0)), 2)
    9.92
    """
    wl = _positive("wavelength_nm", wavelength_nm)
    t = _positive("temperature_k", temperature_k)
    # pyspectral returns (n_temperature, n_wavelength) for 1-D inputs; numpy in, numpy out.
    flat = blackbody(wl.reshape(-1) * 1e-9, t.reshape(-1))
    out = np.asarray(flat, dtype=np.float64) * _PER_M_TO_PER_UM
    return out.reshape(t.shape + wl.shape)


def brightness_temperature(wavelength_nm: ArrayLike, radiance: ArrayLike) -> Array:
    """Brightness temperature: the inverse of :func:`planck_radiance`, elementwise.

    Parameters
    ----------
    wavelength_nm : (band,) array_like or scalar
        Wavelengths, nm (> 0); broadcast against ``radiance`` (band axis last).
    radiance : (..., band) array_like
        Spectral radiance, W m⁻² sr⁻¹ µm⁻¹ (> 0).

    Returns
    -------
    (..., band) ndarray of float64
        Temperature of the blackbody that emits ``radiance`` at each wavelength, K.

    Raises
    ------
    InputError
        If a wavelength or radiance is not finite and positive.

    Examples
    --------
    >>> round(float(brightness_temperature(10_000.0, planck_radiance(10_000.0, 300.0))), 9)
    300.0
    """
    wl = _positive("wavelength_nm", wavelength_nm)
    rad = _positive("radiance", radiance)
    wl_b, rad_b = np.broadcast_arrays(wl * 1e-9, rad / _PER_M_TO_PER_UM)
    t = blackbody_rad2temp(np.array(wl_b), np.array(rad_b))
    return np.asarray(t, dtype=np.float64).reshape(rad_b.shape)


def transmittance(k_per_ppm_m: ArrayLike, column_ppm_m: ArrayLike) -> Array:
    """Beer–Lambert transmittance exp(−k C) of a gas column.

    Parameters
    ----------
    k_per_ppm_m : array_like
        Napierian (base-e) absorption coefficient per ppm·m, ≥ 0. A decadic absorbance per
        ppm·m (as NIST Quant-IR tabulates) must be multiplied by ln 10 first.
    column_ppm_m : array_like
        Column enhancement, ppm·m; broadcast against ``k_per_ppm_m``. Negative columns are
        allowed (a retrieval can undershoot) and give τ > 1.

    Returns
    -------
    ndarray of float64
        Transmittance, dimensionless, broadcast shape.

    Examples
    --------
    >>> round(float(transmittance(1e-3, 1000.0)), 6)
    0.367879
    """
    k = np.asarray(k_per_ppm_m, dtype=np.float64)
    c = np.asarray(column_ppm_m, dtype=np.float64)
    if np.any(k < 0):
        raise InputError("absorption coefficient k_per_ppm_m must be ≥ 0")
    return np.asarray(np.exp(-k * c), dtype=np.float64)


def plume_transmittance(k_per_ppm_m: ArrayLike, column_ppm_m: ArrayLike) -> Array:
    """Plume transmittance τ_p = exp(−Σ_i α_i(λ) C_i) of a mixture of species.

    Parameters
    ----------
    k_per_ppm_m : (species, band) array_like
        Napierian absorption coefficient of each species per ppm·m, ≥ 0.
    column_ppm_m : (..., species) array_like
        Column enhancement of each species, ppm·m.

    Returns
    -------
    (..., band) ndarray of float64
        Plume transmittance, dimensionless.

    Examples
    --------
    >>> k = [[1e-3, 0.0], [0.0, 2e-3]]
    >>> plume_transmittance(k, [500.0, 250.0]).round(4).tolist()
    [0.6065, 0.6065]
    """
    k = np.asarray(k_per_ppm_m, dtype=np.float64)
    c = np.asarray(column_ppm_m, dtype=np.float64)
    if k.ndim != 2:
        raise InputError(f"k_per_ppm_m must be (species, band), got shape {k.shape}")
    if c.shape[-1:] != k.shape[:1]:
        raise InputError(
            f"column_ppm_m last axis ({c.shape}) must match the species axis of k ({k.shape})"
        )
    if np.any(k < 0):
        raise InputError("absorption coefficient k_per_ppm_m must be ≥ 0")
    return np.asarray(np.exp(-(c @ k)), dtype=np.float64)


def plume_layer_radiance(
    wavelength_nm: ArrayLike,
    *,
    ground_temperature_k: ArrayLike,
    emissivity: ArrayLike,
    plume_temperature_k: ArrayLike,
    plume_transmittance: ArrayLike,
    downwelling: ArrayLike,
    atmosphere_transmittance: ArrayLike,
    path_radiance: ArrayLike,
) -> Array:
    """At-sensor LWIR radiance through the three-layer plume model.

    ``L = τ_a [τ_p (ε B(T_g) + (1 − ε) L_d) + (1 − τ_p) B(T_p)] + L_a`` (Young 2002;
    Burr & Hengartner 2006, Eq. 1).

    Parameters
    ----------
    wavelength_nm : (band,) array_like
        Band wavelengths, nm.
    ground_temperature_k : (...) array_like
        Ground (kinetic) temperature T_g, K.
    emissivity : (..., band) array_like
        Ground emissivity ε in [0, 1], broadcast against the output.
    plume_temperature_k : (...) array_like
        Plume layer temperature T_p, K (often the air temperature).
    plume_transmittance : (..., band) array_like
        Plume transmittance τ_p in [0, 1] (see :func:`plume_transmittance`).
    downwelling : (..., band) array_like
        Downwelling sky radiance L_d at the ground, W m⁻² sr⁻¹ µm⁻¹ (the hemispheric
        irradiance divided by π, for a Lambertian ground).
    atmosphere_transmittance : (..., band) array_like
        Transmittance τ_a of the atmosphere between plume and sensor, in [0, 1].
    path_radiance : (..., band) array_like
        Upwelling path radiance L_a of that atmosphere, W m⁻² sr⁻¹ µm⁻¹.

    Returns
    -------
    (..., band) ndarray of float64
        At-sensor radiance, W m⁻² sr⁻¹ µm⁻¹; the broadcast of all inputs, with
        ``T_g.shape + (band,)`` and ``T_p.shape + (band,)`` for the Planck terms.

    Examples
    --------
    >>> wl = [10_000.0]
    >>> bg = plume_layer_radiance(wl, ground_temperature_k=300.0, emissivity=1.0,
    ...     plume_temperature_k=300.0, plume_transmittance=0.5, downwelling=0.0,
    ...     atmosphere_transmittance=1.0, path_radiance=0.0)
    >>> round(float(bg[0]), 2)
    9.92
    """
    eps = _fraction("emissivity", emissivity)
    tau_p = _fraction("plume_transmittance", plume_transmittance)
    tau_a = _fraction("atmosphere_transmittance", atmosphere_transmittance)
    l_d = np.asarray(downwelling, dtype=np.float64)
    l_a = np.asarray(path_radiance, dtype=np.float64)
    b_g = planck_radiance(wavelength_nm, ground_temperature_k)
    b_p = planck_radiance(wavelength_nm, plume_temperature_k)
    leaving_ground = eps * b_g + (1.0 - eps) * l_d
    return np.asarray(
        tau_a * (tau_p * leaving_ground + (1.0 - tau_p) * b_p) + l_a, dtype=np.float64
    )


def plume_signal_linear(
    wavelength_nm: ArrayLike,
    *,
    ground_temperature_k: ArrayLike,
    emissivity: ArrayLike,
    plume_temperature_k: ArrayLike,
    optical_depth: ArrayLike,
    downwelling: ArrayLike,
    atmosphere_transmittance: ArrayLike,
) -> Array:
    """Weak-plume (linearised) radiance change ΔL ≈ τ_a Σ_i α_i C_i [B(T_p) − L_g].

    With τ_p = exp(−δ) ≈ 1 − δ for an optical depth δ = Σ_i α_i C_i ≪ 1, the plume layer model
    minus its plume-free value is τ_a δ [B(T_p) − ε B(T_g) − (1 − ε) L_d]. Its sign is that of
    the thermal contrast: positive (emission) when the plume is warmer than the radiance
    leaving the ground, negative (absorption) when cooler (Burr & Hengartner 2006, §2).

    Parameters
    ----------
    wavelength_nm : (band,) array_like
        Band wavelengths, nm.
    ground_temperature_k : (...) array_like
        Ground temperature, K.
    emissivity : (..., band) array_like
        Ground emissivity in [0, 1].
    plume_temperature_k : (...) array_like
        Plume temperature, K.
    optical_depth : (..., band) array_like
        Plume optical depth δ = Σ_i α_i C_i (dimensionless, ≥ 0).
    downwelling : (..., band) array_like
        Downwelling radiance at the ground, W m⁻² sr⁻¹ µm⁻¹.
    atmosphere_transmittance : (..., band) array_like
        Transmittance above the plume, in [0, 1].

    Returns
    -------
    (..., band) ndarray of float64
        Radiance change at the sensor due to the plume, W m⁻² sr⁻¹ µm⁻¹.

    Examples
    --------
    >>> dl = plume_signal_linear([10_000.0], ground_temperature_k=300.0, emissivity=1.0,
    ...     plume_temperature_k=310.0, optical_depth=0.01, downwelling=0.0,
    ...     atmosphere_transmittance=1.0)
    >>> bool(dl[0] > 0)
    True
    """
    eps = _fraction("emissivity", emissivity)
    tau_a = _fraction("atmosphere_transmittance", atmosphere_transmittance)
    delta = np.asarray(optical_depth, dtype=np.float64)
    if np.any(delta < 0):
        raise InputError("optical_depth must be ≥ 0")
    l_d = np.asarray(downwelling, dtype=np.float64)
    leaving_ground = eps * planck_radiance(wavelength_nm, ground_temperature_k) + (1.0 - eps) * l_d
    contrast = planck_radiance(wavelength_nm, plume_temperature_k) - leaving_ground
    return np.asarray(tau_a * delta * contrast, dtype=np.float64)


def radiance_vswir(
    reflectance: ArrayLike,
    solar_irradiance: ArrayLike,
    sun_zenith: ArrayLike,
    t_down: ArrayLike,
    t_up: ArrayLike,
    path_radiance: ArrayLike,
) -> Array:
    """At-sensor VSWIR radiance over a Lambertian surface, in µW cm⁻² sr⁻¹ nm⁻¹.

    ``L = E_sun cos θ_s τ_down τ_up ρ / π + L_path``: the top-of-atmosphere solar irradiance
    on a horizontal surface, attenuated down and up, reflected into π sr by a Lambertian
    surface of reflectance ρ, plus path radiance (no adjacency or spherical-albedo terms).

    Parameters
    ----------
    reflectance : (..., band) array_like
        Surface reflectance ρ in [0, 1].
    solar_irradiance : (band,) array_like
        Extraterrestrial solar spectral irradiance at normal incidence, W m⁻² nm⁻¹ (the units
        of ASTM G173 and E-490 tables as pvlib and pyspectral give them, per nm).
    sun_zenith : array_like
        Solar zenith angle θ_s, **radians**, in [0, π/2).
    t_down : (..., band) array_like
        Sun-to-ground transmittance τ_down in [0, 1].
    t_up : (..., band) array_like
        Ground-to-sensor transmittance τ_up in [0, 1].
    path_radiance : (..., band) array_like
        Path radiance L_path, µW cm⁻² sr⁻¹ nm⁻¹.

    Returns
    -------
    (..., band) ndarray of float64
        At-sensor radiance, µW cm⁻² sr⁻¹ nm⁻¹ (1 W m⁻² sr⁻¹ nm⁻¹ = 100 µW cm⁻² sr⁻¹ nm⁻¹).

    Examples
    --------
    >>> import math
    >>> round(float(radiance_vswir(0.3, 1.863, math.radians(30), 0.85, 0.9, 0.0)), 2)
    11.79
    """
    rho = _fraction("reflectance", reflectance)
    e_sun = np.asarray(solar_irradiance, dtype=np.float64)
    if np.any(e_sun < 0):
        raise InputError("solar_irradiance must be ≥ 0 W m⁻² nm⁻¹")
    theta = np.asarray(sun_zenith, dtype=np.float64)
    if np.any(~np.isfinite(theta)) or np.any((theta < 0) | (theta >= np.pi / 2)):
        raise InputError(f"sun_zenith must be in [0, π/2) radians, got {sun_zenith!r}")
    tau = _fraction("t_down", t_down) * _fraction("t_up", t_up)
    reflected_w = e_sun * np.cos(theta) * tau * rho / np.pi  # W m⁻² sr⁻¹ nm⁻¹
    return np.asarray(
        reflected_w * _W_M2_TO_UW_CM2 + np.asarray(path_radiance, dtype=np.float64),
        dtype=np.float64,
    )


def radiative_power(
    temperature_k: ArrayLike,
    area_m2: ArrayLike,
    *,
    emissivity: ArrayLike = 1.0,
    ambient_k: ArrayLike = 0.0,
) -> Array:
    """Radiated power of a hot surface (fire, kiln, stove) by Stefan–Boltzmann, W.

    ``P = ε σ A (T⁴ − T_amb⁴)``; with the default ``ambient_k = 0`` this is the gross
    emitted power (the fire radiative power of satellite fire products, Wooster et al. 2005).

    Parameters
    ----------
    temperature_k : array_like
        Surface temperature, K (> 0).
    area_m2 : array_like
        Radiating area, m² (≥ 0).
    emissivity : array_like, optional
        Broadband emissivity in [0, 1] (default 1).
    ambient_k : array_like, optional
        Temperature of the surroundings for a net power, K (default 0: gross power).

    Returns
    -------
    ndarray of float64
        Power, W.

    Examples
    --------
    >>> round(float(radiative_power(1000.0, 1.0)))
    56704
    """
    t = _positive("temperature_k", temperature_k)
    area = np.asarray(area_m2, dtype=np.float64)
    if np.any(area < 0):
        raise InputError(f"area_m2 must be ≥ 0, got {area_m2!r}")
    eps = _fraction("emissivity", emissivity)
    t_amb = np.asarray(ambient_k, dtype=np.float64)
    return np.asarray(eps * Stefan_Boltzmann * area * (t**4 - t_amb**4), dtype=np.float64)


def mixed_pixel_brightness_temperature(
    wavelength_nm: ArrayLike,
    fraction: ArrayLike,
    hot_temperature_k: ArrayLike,
    background_temperature_k: ArrayLike,
) -> Array:
    """Brightness temperature of a pixel holding a sub-pixel hot source.

    The pixel radiance is the area-weighted mean ``f B(T_hot) + (1 − f) B(T_bg)`` (blackbody
    surfaces; Dozier 1981), inverted back to a temperature per band. Because B is convex in T,
    the result exceeds the area-weighted mean temperature, and more so at short wavelengths.

    Parameters
    ----------
    wavelength_nm : (band,) array_like
        Band wavelengths, nm.
    fraction : (...) array_like
        Fraction f of the pixel area covered by the hot source, in [0, 1].
    hot_temperature_k : (...) array_like
        Hot source temperature, K.
    background_temperature_k : (...) array_like
        Background temperature, K.

    Returns
    -------
    (..., band) ndarray of float64
        Brightness temperature, K; ``broadcast(f, T_hot, T_bg).shape + (band,)``.

    Examples
    --------
    >>> round(float(mixed_pixel_brightness_temperature([10_000.0], 0.0, 900.0, 300.0)[0]), 9)
    300.0
    """
    f = _fraction("fraction", fraction)
    f_b, t_hot, t_bg = np.broadcast_arrays(
        f,
        _positive("hot_temperature_k", hot_temperature_k),
        _positive("background_temperature_k", background_temperature_k),
    )
    wl = np.asarray(wavelength_nm, dtype=np.float64).reshape(-1)
    f_band = f_b[..., np.newaxis]
    radiance = f_band * planck_radiance(wl, t_hot) + (1.0 - f_band) * planck_radiance(wl, t_bg)
    return brightness_temperature(wl, radiance)
