"""Gas plumes on the ground: Gaussian dispersion, turbulent structure, venting, columns in ppm·m.

The baseline is the steady Gaussian plume from a point source with total reflection at the
ground (Seinfeld & Pandis 2016, *Atmospheric Chemistry and Physics*, 3rd ed., §18.4),

    c(s, n, z) = Q / (2π u σ_y σ_z) · exp(−n²/2σ_y²) · [exp(−(z−H)²/2σ_z²) + exp(−(z+H)²/2σ_z²)],

with s the downwind and n the crosswind distance from the source, H the source height and
σ_y(s), σ_z(s) from the Briggs (1973) open-country fits to the Pasquill–Gifford stability
classes A (very unstable) to F (moderately stable), as tabulated in Hanna, Briggs & Hosker
(1982, *Handbook on Atmospheric Diffusion*, Table 4.7) and Seinfeld & Pandis (Table 18.4).

An imaging spectrometer sees the vertical column. Integrating c over z from 0 to ∞, the real
and the image source together cover the whole line, so ∫₀^∞ [g(z−H) + g(z+H)] dz = √(2π) σ_z
and the column mass per area is

    Ω(s, n) = Q / (√(2π) u σ_y) · exp(−n²/2σ_y²)     [kg m⁻²],

independent of H and σ_z, and ∫ Ω dn = Q/u at every s (mass flux through a cross-section).

Column mass is turned into ppm·m with the ideal gas: a column of Ω kg m⁻² of a gas of molar
mass M holds Ω N_A / M molecules per m², and 1 ppm·m is 10⁻⁶ · n_air · 1 m of them, with
n_air = p / (k_B T). Hence ``ppm·m = 10⁶ Ω R T / (M p)`` (R = N_A k_B). At 273.15 K and
101 325 Pa one ppm·m of CH₄ (M = 0.01604 kg/mol) is 7.156 × 10⁻⁷ kg m⁻².

Real plumes are not smooth ellipses. :func:`turbulent_column_mass` adds, keeping the ensemble
mean equal to Ω (so mass is conserved on average):

* meandering: the centreline moves across the wind by d(s) = √f σ_y(s) η(s), where η is a
  unit-variance correlated random walk (an AR(1), i.e. discrete Ornstein–Uhlenbeck, process
  along the plume), while the instantaneous plume narrows to σ_i = √(1 − f) σ_y: averaging the
  instantaneous Gaussian over the Gaussian centreline gives back width σ_y exactly
  (Gifford 1959, the fluctuating plume model);
* patchiness: a multiplicative log-normal field F = exp(σ G − σ²/2), with G a unit-variance
  Gaussian random field, so E[F] = 1. Its correlation length ℓ(s) = ℓ₀ + k σ_y(s) grows
  downwind with the plume, as the eddies that tear it do. G is drawn on a lattice in warped
  coordinates u = ∫ ds/ℓ(s), v = n/ℓ(s) in which its correlation length is 1, so that in
  metres it is ℓ(s) everywhere.

Intermittent venting (a rural lab opens its vent now and then) is an alternating renewal
process with exponentially distributed on and off periods (:func:`venting_intervals`); a plume
seen at time t carries at distance s what left the source at t − s/u (:func:`emission_time`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from scipy.constants import R

from vigia.errors import InputError

__all__ = [
    "Stability",
    "Turbulence",
    "column_mass",
    "column_ppm_m",
    "concentration",
    "dispersion_sigmas",
    "emission_time",
    "ime_mass",
    "mass_to_ppm_m",
    "plume_frame",
    "ppm_m_to_mass",
    "turbulent_column_mass",
    "venting_at",
    "venting_intervals",
]

Array = NDArray[np.float64]
Stability = Literal["A", "B", "C", "D", "E", "F"]

STANDARD_TEMPERATURE_K = 273.15
STANDARD_PRESSURE_PA = 101_325.0

# Briggs (1973) open-country fits, x in m, nominally 100 m < x < 10 km (Hanna et al. 1982,
# Table 4.7): σ_y = a_y x (1 + 10⁻⁴ x)^(−1/2); σ_z = a_z x (1 + b_z x)^p_z.
_BRIGGS_RURAL: dict[str, tuple[float, float, float, float]] = {
    #     a_y    a_z    b_z     p_z
    "A": (0.22, 0.20, 0.0, 0.0),
    "B": (0.16, 0.12, 0.0, 0.0),
    "C": (0.11, 0.08, 0.0002, -0.5),
    "D": (0.08, 0.06, 0.0015, -0.5),
    "E": (0.06, 0.03, 0.0003, -1.0),
    "F": (0.04, 0.016, 0.0003, -1.0),
}

# The lattice of the random field: 8 nodes per correlation length keeps the variance lost to
# bilinear interpolation under 2 % (node-to-node correlation exp(−1/64)).
_NODES_PER_LENGTH = 8
_MAX_LATTICE_NODES = 20_000_000


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a finite number > 0, got {value!r}")


def _check_stability(stability: str) -> None:
    if stability not in _BRIGGS_RURAL:
        raise InputError(
            f"stability class must be one of {', '.join(get_args(Stability))}, got {stability!r}"
        )


def dispersion_sigmas(downwind_m: ArrayLike, stability: Stability) -> tuple[Array, Array]:
    """Horizontal and vertical plume spreads σ_y, σ_z (Briggs 1973, open country).

    Parameters
    ----------
    downwind_m : array_like
        Distance downwind of the source, m. Points at or upwind of the source (≤ 0) get 0.
    stability : {"A", "B", "C", "D", "E", "F"}
        Pasquill–Gifford stability class.

    Returns
    -------
    sigma_y, sigma_z : ndarray of float64
        Crosswind and vertical standard deviations of the plume, m, shaped like
        ``downwind_m``.

    Examples
    --------
    >>> sy, sz = dispersion_sigmas(1000.0, "D")
    >>> round(float(sy), 1), round(float(sz), 1)
    (76.3, 37.9)
    """
    _check_stability(stability)
    a_y, a_z, b_z, p_z = _BRIGGS_RURAL[stability]
    x = np.maximum(np.asarray(downwind_m, dtype=np.float64), 0.0)
    sigma_y = a_y * x / np.sqrt(1.0 + 1e-4 * x)
    sigma_z = a_z * x * (1.0 + b_z * x) ** p_z
    return sigma_y, sigma_z


def plume_frame(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    wind_from_deg: float,
    source_xy_m: tuple[float, float] = (0.0, 0.0),
) -> tuple[Array, Array]:
    """Downwind and crosswind coordinates of ground points relative to a source.

    Parameters
    ----------
    x_m, y_m : array_like
        Easting and northing of the points in a local planar frame, m (broadcast together).
    wind_from_deg : float
        Direction the wind blows **from**, compass degrees (0 = from the north, 90 = from the
        east); the plume travels towards ``wind_from_deg + 180``.
    source_xy_m : (float, float), optional
        Source position in the same frame, m.

    Returns
    -------
    downwind, crosswind : ndarray of float64
        Distance along the wind from the source (positive downwind) and across it (positive
        to the left of the direction of travel), m; the broadcast shape of ``x_m, y_m``.

    Examples
    --------
    >>> s, n = plume_frame(0.0, -100.0, wind_from_deg=0.0)  # north wind, point to the south
    >>> round(float(s), 9), round(float(n), 9)
    (100.0, 0.0)
    """
    if not math.isfinite(wind_from_deg):
        raise InputError(f"wind_from_deg must be finite, got {wind_from_deg!r}")
    theta = math.radians(wind_from_deg)
    dx = np.asarray(x_m, dtype=np.float64) - source_xy_m[0]
    dy = np.asarray(y_m, dtype=np.float64) - source_xy_m[1]
    # Travel direction (east, north) = (−sin θ, −cos θ); its left normal = (cos θ, −sin θ).
    downwind = -dx * math.sin(theta) - dy * math.cos(theta)
    crosswind = dx * math.cos(theta) - dy * math.sin(theta)
    return np.asarray(downwind), np.asarray(crosswind)


def concentration(
    x_m: ArrayLike,
    y_m: ArrayLike,
    z_m: ArrayLike,
    *,
    emission_rate_kg_s: float,
    wind_speed_m_s: float,
    wind_from_deg: float,
    stability: Stability,
    source_height_m: float = 0.0,
    source_xy_m: tuple[float, float] = (0.0, 0.0),
) -> Array:
    """Mean mass concentration of the Gaussian plume with ground reflection, kg m⁻³.

    Parameters
    ----------
    x_m, y_m : array_like
        Easting and northing of the points, m.
    z_m : array_like
        Height above ground, m (≥ 0).
    emission_rate_kg_s : float
        Emission rate Q, kg/s (≥ 0).
    wind_speed_m_s : float
        Mean wind speed u at plume height, m/s (> 0).
    wind_from_deg : float
        Direction the wind blows from, compass degrees.
    stability : {"A", "B", "C", "D", "E", "F"}
        Pasquill–Gifford stability class.
    source_height_m : float, optional
        Effective source height H, m (≥ 0).
    source_xy_m : (float, float), optional
        Source position, m.

    Returns
    -------
    ndarray of float64
        Concentration, kg m⁻³, the broadcast shape of the coordinates; 0 at and upwind of
        the source.
    """
    _check_inputs(emission_rate_kg_s, wind_speed_m_s)
    if not (math.isfinite(source_height_m) and source_height_m >= 0):
        raise InputError(f"source_height_m must be ≥ 0, got {source_height_m!r}")
    s, n = plume_frame(x_m, y_m, wind_from_deg=wind_from_deg, source_xy_m=source_xy_m)
    z = np.asarray(z_m, dtype=np.float64)
    s, n, z = np.broadcast_arrays(s, n, z)
    sy, sz = dispersion_sigmas(s, stability)
    out = np.zeros(s.shape)
    ok = s > 0
    sy, sz, nn, zz = sy[ok], sz[ok], n[ok], z[ok]
    h = source_height_m
    vertical = np.exp(-((zz - h) ** 2) / (2 * sz**2)) + np.exp(-((zz + h) ** 2) / (2 * sz**2))
    out[ok] = (
        emission_rate_kg_s
        / (2 * np.pi * wind_speed_m_s * sy * sz)
        * np.exp(-(nn**2) / (2 * sy**2))
        * vertical
    )
    return out


def _check_inputs(emission_rate_kg_s: float, wind_speed_m_s: float) -> None:
    if not (math.isfinite(emission_rate_kg_s) and emission_rate_kg_s >= 0):
        raise InputError(f"emission_rate_kg_s must be ≥ 0 kg/s, got {emission_rate_kg_s!r}")
    _check_positive("wind_speed_m_s", wind_speed_m_s)


def column_mass(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    emission_rate_kg_s: float,
    wind_speed_m_s: float,
    wind_from_deg: float,
    stability: Stability,
    source_xy_m: tuple[float, float] = (0.0, 0.0),
    footprint_m: float = 0.0,
) -> Array:
    """Vertical column mass enhancement of the mean Gaussian plume, kg m⁻².

    ``Ω = Q / (√(2π) u σ_y) · exp(−n²/2σ_y²)``: the analytic integral over height of
    :func:`concentration`. It does not depend on source height or σ_z (see the module notes),
    which is why this function takes neither.

    Parameters
    ----------
    x_m, y_m : array_like
        Easting and northing of ground points, m (broadcast together).
    emission_rate_kg_s : float
        Emission rate Q, kg/s.
    wind_speed_m_s : float
        Wind speed u, m/s.
    wind_from_deg : float
        Direction the wind blows from, compass degrees.
    stability : {"A", "B", "C", "D", "E", "F"}
        Pasquill–Gifford stability class.
    source_xy_m : (float, float), optional
        Source position, m.
    footprint_m : float, optional
        Side of the square of ground each point stands for, m (0: the point itself). The
        crosswind profile is averaged over it, so a plume narrower than that square near its
        source is not sampled at a point.

    Returns
    -------
    ndarray of float64
        Column mass per area, kg m⁻²; 0 at and upwind of the source.

    Examples
    --------
    >>> om = column_mass(1000.0, 0.0, emission_rate_kg_s=1.0, wind_speed_m_s=5.0,
    ...                  wind_from_deg=270.0, stability="D")
    >>> f"{float(om):.3e}"
    '1.046e-03'
    """
    _check_inputs(emission_rate_kg_s, wind_speed_m_s)
    s, n = plume_frame(x_m, y_m, wind_from_deg=wind_from_deg, source_xy_m=source_xy_m)
    s, n = np.broadcast_arrays(s, n)
    sy, _ = dispersion_sigmas(s, stability)
    return _gaussian_column(
        s, n, sy, np.zeros_like(s), emission_rate_kg_s, wind_speed_m_s, _footprint(footprint_m)
    )


def _footprint(footprint_m: float) -> float:
    if not (math.isfinite(footprint_m) and footprint_m >= 0):
        raise InputError(f"footprint must be ≥ 0 m, got {footprint_m!r}")
    return float(footprint_m)


def _gaussian_column(
    s: Array, n: Array, width: Array, centre: Array, q: float, u: float, footprint: float = 0.0
) -> Array:
    # The crosswind profile averaged over a square of side ``footprint`` about each point
    # (a box of that side has variance footprint²/12; the Gaussian stands in for it).
    out = np.zeros(s.shape)
    ok = s > 0
    w = np.sqrt(np.asarray(width)[ok] ** 2 + footprint**2 / 12.0)
    out[ok] = (
        q / (math.sqrt(2 * math.pi) * u * w) * np.exp(-((n[ok] - centre[ok]) ** 2) / (2 * w**2))
    )
    return out


def mass_to_ppm_m(
    column_kg_m2: ArrayLike,
    molar_mass_kg_mol: float,
    *,
    temperature_k: float = STANDARD_TEMPERATURE_K,
    pressure_pa: float = STANDARD_PRESSURE_PA,
) -> Array:
    """Convert a column mass per area to a column enhancement in ppm·m.

    ``ppm·m = 10⁶ Ω R T / (M p)`` (ideal gas; derivation in the module notes).

    Parameters
    ----------
    column_kg_m2 : array_like
        Column mass per area Ω, kg m⁻².
    molar_mass_kg_mol : float
        Molar mass M of the species, kg/mol (CH₄ 0.01604, NH₃ 0.01703).
    temperature_k : float, optional
        Air temperature T defining the number density of air, K (default 273.15).
    pressure_pa : float, optional
        Air pressure p, Pa (default 101 325).

    Returns
    -------
    ndarray of float64
        Column enhancement, ppm·m.

    Examples
    --------
    >>> round(float(mass_to_ppm_m(7.156e-7, 0.01604)), 3)
    1.0
    """
    _check_positive("molar_mass_kg_mol", molar_mass_kg_mol)
    _check_positive("temperature_k", temperature_k)
    _check_positive("pressure_pa", pressure_pa)
    omega = np.asarray(column_kg_m2, dtype=np.float64)
    return np.asarray(1e6 * omega * R * temperature_k / (molar_mass_kg_mol * pressure_pa))


def ppm_m_to_mass(
    column_ppm_m: ArrayLike,
    molar_mass_kg_mol: float,
    *,
    temperature_k: float = STANDARD_TEMPERATURE_K,
    pressure_pa: float = STANDARD_PRESSURE_PA,
) -> Array:
    """Convert a column enhancement in ppm·m to column mass per area, kg m⁻².

    The inverse of :func:`mass_to_ppm_m`, with the same parameters.

    Parameters
    ----------
    column_ppm_m : array_like
        Column enhancement, ppm·m.
    molar_mass_kg_mol : float
        Molar mass of the species, kg/mol.
    temperature_k : float, optional
        Air temperature, K (default 273.15).
    pressure_pa : float, optional
        Air pressure, Pa (default 101 325).

    Returns
    -------
    ndarray of float64
        Column mass per area, kg m⁻².
    """
    return np.asarray(column_ppm_m, dtype=np.float64) / mass_to_ppm_m(
        1.0, molar_mass_kg_mol, temperature_k=temperature_k, pressure_pa=pressure_pa
    )


def column_ppm_m(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    emission_rate_kg_s: float,
    wind_speed_m_s: float,
    wind_from_deg: float,
    stability: Stability,
    molar_mass_kg_mol: float,
    source_xy_m: tuple[float, float] = (0.0, 0.0),
    temperature_k: float = STANDARD_TEMPERATURE_K,
    pressure_pa: float = STANDARD_PRESSURE_PA,
    turbulence: Turbulence | None = None,
    seed: int | None = None,
    footprint_m: float = 0.0,
) -> Array:
    """Vertical column enhancement of a plume on ground points, ppm·m.

    The mean Gaussian plume (:func:`column_mass`), or one turbulent realisation of it
    (:func:`turbulent_column_mass`) when ``turbulence`` is given, converted with
    :func:`mass_to_ppm_m`.

    Parameters
    ----------
    x_m, y_m : array_like
        Easting and northing of ground points, m, e.g. ``(rows, cols)`` grids.
    emission_rate_kg_s : float
        Emission rate Q, kg/s (kg/h ÷ 3600).
    wind_speed_m_s : float
        Wind speed, m/s.
    wind_from_deg : float
        Direction the wind blows from, compass degrees.
    stability : {"A", "B", "C", "D", "E", "F"}
        Pasquill–Gifford stability class.
    molar_mass_kg_mol : float
        Molar mass of the species, kg/mol.
    source_xy_m : (float, float), optional
        Source position, m.
    temperature_k, pressure_pa : float, optional
        Air temperature (K) and pressure (Pa) for the ppm·m conversion.
    turbulence : Turbulence, optional
        Turbulent structure; ``None`` gives the smooth ensemble mean.
    seed : int, optional
        Seed of the turbulent realisation; required with ``turbulence``.
    footprint_m : float, optional
        Side of the square of ground each point stands for, m (0: the point itself). The
        crosswind profile is averaged over it, so a plume narrower than that square near its
        source is not sampled at a point.

    Returns
    -------
    ndarray of float64
        Column enhancement, ppm·m, the broadcast shape of ``x_m, y_m``.

    Examples
    --------
    >>> c = column_ppm_m(1000.0, 0.0, emission_rate_kg_s=1.0, wind_speed_m_s=5.0,
    ...                  wind_from_deg=270.0, stability="D", molar_mass_kg_mol=0.01604)
    >>> round(float(c))
    1462
    """
    if turbulence is None:
        omega = column_mass(
            x_m,
            y_m,
            emission_rate_kg_s=emission_rate_kg_s,
            wind_speed_m_s=wind_speed_m_s,
            wind_from_deg=wind_from_deg,
            stability=stability,
            source_xy_m=source_xy_m,
            footprint_m=footprint_m,
        )
    elif seed is None:
        raise InputError("a turbulent plume needs a seed")
    else:
        omega = turbulent_column_mass(
            x_m,
            y_m,
            emission_rate_kg_s=emission_rate_kg_s,
            wind_speed_m_s=wind_speed_m_s,
            wind_from_deg=wind_from_deg,
            stability=stability,
            seed=seed,
            turbulence=turbulence,
            source_xy_m=source_xy_m,
            footprint_m=footprint_m,
        )
    return mass_to_ppm_m(
        omega, molar_mass_kg_mol, temperature_k=temperature_k, pressure_pa=pressure_pa
    )


@dataclass(frozen=True)
class Turbulence:
    """Parameters of the turbulent structure added to the mean plume.

    Attributes
    ----------
    log_sigma : float
        Standard deviation σ of ln F of the multiplicative log-normal field (≥ 0). 0.8 gives
        patches a few times denser than the mean, as single-overpass plume images show.
    length0_m : float
        Correlation length of the patchiness at the source, m (> 0).
    length_growth : float
        Growth k of the correlation length with plume width: ℓ(s) = ℓ₀ + k σ_y(s) (> 0).
    meander_fraction : float
        Share f of the mean plume's crosswind variance due to meandering, in [0, 1).
    meander_length : float
        Correlation length of the meander along the plume, in units of the local ℓ(s) (> 0).
    """

    log_sigma: float = 0.8
    length0_m: float = 5.0
    length_growth: float = 0.5
    meander_fraction: float = 0.5
    meander_length: float = 4.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.log_sigma) and self.log_sigma >= 0):
            raise InputError(f"log_sigma must be ≥ 0, got {self.log_sigma!r}")
        _check_positive("length0_m", self.length0_m)
        _check_positive("length_growth", self.length_growth)
        _check_positive("meander_length", self.meander_length)
        if not 0 <= self.meander_fraction < 1:
            raise InputError(f"meander_fraction must be in [0, 1), got {self.meander_fraction!r}")


def turbulent_column_mass(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    emission_rate_kg_s: float,
    wind_speed_m_s: float,
    wind_from_deg: float,
    stability: Stability,
    seed: int,
    turbulence: Turbulence = Turbulence(),
    source_xy_m: tuple[float, float] = (0.0, 0.0),
    footprint_m: float = 0.0,
) -> Array:
    """One seeded turbulent realisation of the column mass, kg m⁻²: meander and patches.

    Its ensemble mean over seeds is :func:`column_mass` (up to the < 2 % of variance the
    lattice interpolation loses), so the mass flux through a cross-section averages Q/u.
    The same seed gives the same plume, and a point's value does not depend on which other
    points are asked with it (a line rendered in chunks is one plume).

    Parameters
    ----------
    x_m, y_m : array_like
        Easting and northing of ground points, m (broadcast together).
    emission_rate_kg_s : float
        Emission rate Q, kg/s.
    wind_speed_m_s : float
        Wind speed, m/s.
    wind_from_deg : float
        Direction the wind blows from, compass degrees.
    stability : {"A", "B", "C", "D", "E", "F"}
        Pasquill–Gifford stability class.
    seed : int
        Seed of the realisation.
    turbulence : Turbulence, optional
        Parameters of the structure.
    source_xy_m : (float, float), optional
        Source position, m.
    footprint_m : float, optional
        Side of the square of ground each point stands for, m (0: the point itself). The
        crosswind profile is averaged over it, so a plume narrower than that square near its
        source is not sampled at a point.

    Returns
    -------
    ndarray of float64
        Column mass per area, kg m⁻²; 0 at and upwind of the source.
    """
    _check_inputs(emission_rate_kg_s, wind_speed_m_s)
    _check_stability(stability)
    s, n = plume_frame(x_m, y_m, wind_from_deg=wind_from_deg, source_xy_m=source_xy_m)
    s, n = np.broadcast_arrays(s, n)
    out = np.zeros(s.shape)
    ok = s > 0
    if not np.any(ok):
        return out
    s_ok, n_ok = s[ok], n[ok]
    t = turbulence

    # Warped along-plume coordinate u(s) = ∫ ds / ℓ(s) on a fine 1-D grid of a fixed step,
    # so that u(s), like the lattice and the meander below, does not depend on how far the
    # queried points reach: a line rendered in chunks gets one plume, not one per chunk.
    s_max = float(s_ok.max())
    ds = min(1.0, t.length0_m / 4.0)
    s_line = np.arange(math.ceil(s_max / ds) + 2) * ds
    ell_line = t.length0_m + t.length_growth * dispersion_sigmas(s_line, stability)[0]
    inv = 1.0 / ell_line
    u_line = np.concatenate(([0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(s_line))))
    u_pts = np.interp(s_ok, s_line, u_line)
    sigma_y = dispersion_sigmas(s_ok, stability)[0]
    ell_pts = t.length0_m + t.length_growth * sigma_y
    v_pts = n_ok / ell_pts

    # Lattice: correlation length 1 in (u, v); v spans ±(5 σ_y/ℓ + 1), beyond which the
    # plume holds nothing (the field is clamped to its edge there).
    h = 1.0 / _NODES_PER_LENGTH
    v_half = 5.0 / t.length_growth + 1.0
    n_u = math.ceil(float(u_line[-1]) / h) + 2
    n_v = 2 * math.ceil(v_half / h) + 1
    pad = 3 * _NODES_PER_LENGTH  # 1.5 filter widths each side: no wrap-around correlation
    if (n_u + 2 * pad) * (n_v + 2 * pad) > _MAX_LATTICE_NODES:
        raise InputError(
            f"turbulent plume lattice of {n_u} × {n_v} nodes is too large: raise length0_m "
            f"({t.length0_m} m) or shrink the grid (plume {s_max:.0f} m long)"
        )
    # Rows of the lattice (along u) and the meander's kicks come in order from their own
    # streams: a longer reach appends nodes and leaves the first ones as they were.
    white = np.random.default_rng([seed, 1]).standard_normal((n_u + 2 * pad, n_v + 2 * pad))
    # Gaussian-filtered white noise has correlation exp(−r²/4σ_f²): σ_f = 1/2 gives length 1.
    sigma_f = 0.5 * _NODES_PER_LENGTH
    field = ndimage.gaussian_filter(white, sigma_f, mode="wrap")
    impulse = np.zeros((8 * _NODES_PER_LENGTH + 1,) * 2)
    impulse[4 * _NODES_PER_LENGTH, 4 * _NODES_PER_LENGTH] = 1.0
    field /= math.sqrt(float(np.sum(ndimage.gaussian_filter(impulse, sigma_f) ** 2)))
    coords = np.stack([u_pts / h + pad, np.clip(v_pts, -v_half, v_half) / h + (n_v // 2) + pad])
    g = ndimage.map_coordinates(field, coords, order=1, mode="nearest")
    patches = np.exp(t.log_sigma * g - 0.5 * t.log_sigma**2)

    # Meander: unit-variance AR(1) walk along u, started from its stationary distribution.
    u_nodes = np.arange(n_u) * h
    rho = math.exp(-h / t.meander_length)
    kicks = np.random.default_rng([seed, 2]).standard_normal(n_u)
    eta = np.empty(n_u)
    eta[0] = kicks[0]
    scale = math.sqrt(1.0 - rho**2)
    for k in range(1, n_u):  # a recursion: no vectorised form that is clearer
        eta[k] = rho * eta[k - 1] + scale * kicks[k]
    centre = math.sqrt(t.meander_fraction) * sigma_y * np.interp(u_pts, u_nodes, eta)
    width = math.sqrt(1.0 - t.meander_fraction) * sigma_y

    out[ok] = (
        _gaussian_column(
            s_ok, n_ok, width, centre, emission_rate_kg_s, wind_speed_m_s, _footprint(footprint_m)
        )
        * patches
    )
    return out


def ime_mass(
    column_ppm_m: ArrayLike,
    pixel_area_m2: float,
    molar_mass_kg_mol: float,
    *,
    temperature_k: float = STANDARD_TEMPERATURE_K,
    pressure_pa: float = STANDARD_PRESSURE_PA,
) -> float:
    """Integrated mass enhancement (IME) of a set of plume pixels, kg.

    ``IME = Σ_j Ω_j A`` over the pixels given (Frankenberg et al. 2016; Varon et al. 2018,
    AMT 11:5673), with Ω_j from :func:`ppm_m_to_mass`. Pass only the plume's pixels (a
    masked selection); NaN propagates.

    Parameters
    ----------
    column_ppm_m : array_like
        Column enhancements of the plume pixels, ppm·m, any shape.
    pixel_area_m2 : float
        Ground area of one pixel, m².
    molar_mass_kg_mol : float
        Molar mass of the species, kg/mol.
    temperature_k, pressure_pa : float, optional
        The conditions the ppm·m values were defined at, K and Pa.

    Returns
    -------
    float
        Integrated mass enhancement, kg.

    Examples
    --------
    >>> round(ime_mass([1000.0, 1000.0], 900.0, 0.01604), 4)
    1.2881
    """
    _check_positive("pixel_area_m2", pixel_area_m2)
    omega = ppm_m_to_mass(
        column_ppm_m, molar_mass_kg_mol, temperature_k=temperature_k, pressure_pa=pressure_pa
    )
    return float(np.sum(omega) * pixel_area_m2)


def venting_intervals(
    duration_s: float, *, duty_cycle: float, mean_on_s: float, seed: int
) -> Array:
    """Seeded on/off schedule of an intermittent vent: the periods it emits.

    An alternating renewal process with exponentially distributed on periods (mean
    ``mean_on_s``) and off periods (mean ``mean_on_s (1 − d) / d``), started in its stationary
    state (on with probability d), so the long-run fraction of time on is the duty cycle d.

    Parameters
    ----------
    duration_s : float
        Length of the schedule from t = 0, s (> 0).
    duty_cycle : float
        Long-run fraction of time the vent emits, in [0, 1].
    mean_on_s : float
        Mean length of one venting period, s (> 0).
    seed : int
        Seed of the schedule.

    Returns
    -------
    (period, 2) ndarray of float64
        Start and end of each on period, s, sorted, within [0, duration_s].

    Examples
    --------
    >>> venting_intervals(3600.0, duty_cycle=1.0, mean_on_s=600.0, seed=0).tolist()
    [[0.0, 3600.0]]
    """
    _check_positive("duration_s", duration_s)
    _check_positive("mean_on_s", mean_on_s)
    if not 0 <= duty_cycle <= 1:
        raise InputError(f"duty_cycle must be in [0, 1], got {duty_cycle!r}")
    if duty_cycle == 0:
        return np.zeros((0, 2))
    if duty_cycle == 1:
        return np.array([[0.0, duration_s]])
    mean_off_s = mean_on_s * (1.0 - duty_cycle) / duty_cycle
    rng = np.random.default_rng(seed)
    on = bool(rng.random() < duty_cycle)
    t = 0.0
    periods: list[tuple[float, float]] = []
    while t < duration_s:  # memoryless periods: the first one needs no special case
        length = float(rng.exponential(mean_on_s if on else mean_off_s))
        if on:
            periods.append((t, min(t + length, duration_s)))
        t += length
        on = not on
    return np.array(periods, dtype=np.float64).reshape(-1, 2)


def venting_at(times_s: ArrayLike, intervals: ArrayLike) -> NDArray[np.bool_]:
    """Whether the vent emits at given times.

    Parameters
    ----------
    times_s : array_like
        Times, s, on the clock of :func:`venting_intervals` (outside it: not emitting).
    intervals : (period, 2) array_like
        On periods ``[start, end)``, s, sorted and disjoint.

    Returns
    -------
    ndarray of bool
        True where a period holds the time; shaped like ``times_s``.

    Examples
    --------
    >>> venting_at([5.0, 15.0], [[0.0, 10.0]]).tolist()
    [True, False]
    """
    t = np.asarray(times_s, dtype=np.float64)
    iv = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    k = np.searchsorted(iv[:, 0], t, side="right") - 1
    inside = k >= 0
    k_safe = np.clip(k, 0, max(len(iv) - 1, 0))
    if len(iv) == 0:
        return np.zeros(t.shape, dtype=bool)
    return np.asarray(inside & (t < iv[k_safe, 1]))


def emission_time(downwind_m: ArrayLike, wind_speed_m_s: float, observation_time_s: float) -> Array:
    """When the gas seen at a downwind distance left the source (frozen advection), s.

    ``t_emit = t_obs − s / u``; multiply a column by ``venting_at(emission_time(...), ...)``
    to cut an intermittent plume into the puffs an overpass sees.

    Parameters
    ----------
    downwind_m : array_like
        Downwind distance from the source, m (see :func:`plume_frame`).
    wind_speed_m_s : float
        Wind speed, m/s.
    observation_time_s : float
        Time of the overpass, s, on the schedule's clock.

    Returns
    -------
    ndarray of float64
        Emission time, s.

    Examples
    --------
    >>> float(emission_time(300.0, 3.0, 1000.0))
    900.0
    """
    _check_positive("wind_speed_m_s", wind_speed_m_s)
    return np.asarray(
        observation_time_s - np.asarray(downwind_m, dtype=np.float64) / wind_speed_m_s
    )
