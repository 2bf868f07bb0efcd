"""LWIR gas plumes: clutter matched filter, ACE and species identification on radiance.

A thin plume layer between the ground and the sensor changes the at-sensor radiance by
(Burr & Hengartner 2006, Eq. 5; Manolakis et al. 2014, Eq. 6)

    ΔL(λ) ≈ τ_a(λ) Σ_j k_j(λ) C_j [B(λ, T_p) − L_g(λ)]
          ≈ τ_a(λ) Σ_j k_j(λ) ∂B/∂T(λ, T_g) · C_j ΔT ,

with k_j the absorption coefficient of species j per ppm·m
(:func:`vigia.sense.gas.lwir_absorbance`), C_j its column (ppm·m), τ_a the transmittance from
the plume to the sensor, L_g the radiance leaving the ground and ΔT = T_p − T_g the thermal
contrast between the plume (at air temperature) and the ground-leaving brightness temperature.
Radiance alone measures the product C·ΔT (ppm·m·K); the column needs an estimate of ΔT, and a
plume at the ground's temperature is invisible whatever its column.

Method (standard tools; no threshold is fitted to Vigía's simulator)
---------------------------------------------------------------------
1. **Bands.** Good bands inside the atmosphere table (7–13 µm) whose transmittance
   τ_a > ``min_transmittance``: opaque water-vapour bands carry no ground signal.
2. **Atmosphere.** τ_a, path radiance L↑ and sky radiance L↓ from the packaged LOWTRAN7 table
   (:func:`vigia.sense.atmosphere.lwir_atmosphere`) at the given flight height, or the caller's
   own :class:`~vigia.sense.atmosphere.LwirAtmosphere`. Ground-leaving radiance is
   L_g = (L − L↑) / τ_a.
3. **Temperatures.** The ground temperature T_g of a pixel is the brightness temperature of its
   ground-leaving radiance in the 10.0–11.6 µm window. The plume is taken at air temperature
   T_p. Unless the caller gives it (a weather station, a sounding), T_p is estimated as the 5th
   percentile over the line's judged pixels (step 7) of the window kinetic temperature for an
   assumed grey emissivity of 0.97 (soils and vegetation: 0.95–0.99): by day transpiring canopy
   and water sit within ~2 K of the air while soil, roads and roofs run 5–20 K warmer; by night
   everything is near air temperature. The error of this estimate (~1–2 K) scales the columns
   (C = C·ΔT / ΔT), not the detection. The per-species contrast ΔT_j = T_p − T_g,j uses the
   ground-leaving radiance in j's own bands (so a quartz soil's low emissivity at 8–9.5 µm
   counts).
4. **Background.** Per cross-track column: the median over rows (column gains and offsets of a
   pushbroom make every column its own background; the median is not moved by a plume lying
   along less than half of a column). Per group of adjacent columns: the covariance of the
   column-removed radiance, shrunk towards its diagonal with the oracle approximating shrinkage
   (OAS; Chen et al. 2010) applied to the correlation matrix, so that lines with few rows still
   give a well-conditioned inverse. Groups hold at least ``samples_per_band`` × bands pixels.
5. **Interference.** Signatures of what changes radiance but is not gas are projected out of
   the whitened space (a subspace matched filter with interference; Manolakis et al. 2014):
   ground temperature (τ_a B(T) at several temperatures, for mixed pixels), smooth or flat
   emissivity changes (τ_a L↓, τ_a (B − L↓)), and the few directions of spatially coherent
   clutter found in the data: eigenvectors of the covariance of 3 × 3 box means of whitened
   background residuals whose eigenvalue exceeds what white noise gives (overall and among the
   strongest 1 % of boxes, for rare surfaces such as a village's roofs).
6. **Two passes.** Statistics from every valid pixel, then again without the pixels the first
   pass flagged (any species' |z| > ``exclude_z`` or an RX outlier such as a fire), dilated by one
   pixel, so that a plume neither inflates the covariance along its own signature nor biases
   the background (Theiler & Foy 2006).
7. **Detectors.** For each species and pixel, with whitened residual r̃ and projected
   signature s̃ (per ppm·m·K): clutter matched filter C·ΔT = s̃ᵀr̃ / s̃ᵀs̃, its z-score
   s̃ᵀr̃ / ‖s̃‖, and ACE (s̃ᵀr̃)² / (‖s̃‖² ‖P r̃‖²) ∈ [0, 1] (Manolakis et al. 2014). z is
   divided by its robust scale (1.4826 × MAD over background pixels), a CFAR normalisation.
   Pixels still unlike the background once the best single gas is fitted (χ² outliers of the
   Mahalanobis residual: roofs, fires, water) are flagged ``anomalous`` and not judged.
8. **Score.** A column is never negative, so where |ΔT_j| ≥ ``min_contrast_k`` only the sign of
   ΔT_j counts (one-sided test); elsewhere either sign (two-sided). The per-pixel statistic is
   the one-sided normal quantile of the smallest p-value over species, the score 1 − its
   Šidák-corrected p (:func:`statistic_threshold` inverts it for a false-alarm rate).
9. **Identification** of a set of pixels (a plume object): the mean whitened residual over the
   object is regressed on the species' whitened signatures by forward–backward stepwise
   regression (Burr & Hengartner 2006, §4.3). A species enters when its partial F-test is
   significant after a Bonferroni correction over the candidates, the BIC falls, and its
   C·ΔT has the sign the contrast allows; it leaves when it stops being significant. F is
   deflated by κ², the spread of object-shaped sums slid over the line's background, so that
   spatially coherent clutter does not pass for gas. A two-solvent mixture is reported as both,
   a single solvent without spurious extras. The object's score is the probability that the
   background alone would not put a spatially summed peak as strong anywhere in the line.

References
----------
Burr, T. & Hengartner, N. (2006). Overview of physical models and statistical approaches for
weak gaseous plume detection using passive infrared hyperspectral imagery. Sensors 6, 1721–1750.
Manolakis, D., Golowich, S. & DiPietro, R. (2014). Long-wave infrared hyperspectral remote
sensing of chemical clouds. IEEE Signal Processing Magazine 31(4), 120–141.
Theiler, J. & Foy, B. R. (2006). Effect of signal contamination in matched-filter detection of
the signal on a cluttered background. IEEE Geosci. Remote Sens. Lett. 3(1), 98–102.
Hulley, G. C. et al. (2016). High spatial resolution imaging of methane and other trace gases
with the airborne Hyperspectral Thermal Emission Spectrometer (HyTES). AMT 9, 2393–2408.
Chen, Y., Wiesel, A., Eldar, Y. C. & Hero, A. O. (2010). Shrinkage algorithms for MMSE
covariance estimation. IEEE Trans. Signal Processing 58(10), 5016–5029.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray
from scipy import linalg, ndimage, signal, stats
from scipy.constants import Boltzmann, Planck, speed_of_light

from vigia.errors import InputError
from vigia.sense.atmosphere import LwirAtmosphere, lwir_atmosphere
from vigia.sense.cube import LWIR_UNITS
from vigia.sense.gas import lwir_absorbance, species_info
from vigia.sense.thermal import brightness_temperature, planck_radiance

__all__ = [
    "DEFAULT_SPECIES",
    "SITE_SPECIES",
    "LwirDetection",
    "LwirFinding",
    "LwirIdentification",
    "LwirLibrary",
    "detect_lwir",
    "find_lwir_plumes",
    "identify_lwir",
    "identify_objects",
    "lwir_library",
    "segment_lwir",
    "smoothed_z",
    "statistic_threshold",
]

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]

SITE_SPECIES: Final[Mapping[str, str]] = {
    "CH4": "methane",
    "NH3": "ammonia",
    "acetone": "acetone",
    "toluene": "toluene",
    "methanol": "methanol",
    "dichloromethane": "dichloromethane",
    "isopropanol": "isopropanol",
    "ethyl acetate": "ethyl_acetate",
    "chloroform": "chloroform",
}
"""Site vocabulary name → LWIR absorption table name, for every site species with a table."""

DEFAULT_SPECIES: Final[tuple[str, ...]] = tuple(SITE_SPECIES)
"""Species tried by default (site vocabulary)."""

_TABLE_TO_SITE: Final = {v: k for k, v in SITE_SPECIES.items()}
# The atmosphere table's wavelength range, nm (LOWTRAN7 table shipped with Vigía).
_TABLE_NM: Final = (7000.0, 13000.0)
# Window bands for the ground temperature: high emissivity for soils and vegetation.
_WINDOW_NM: Final = (10000.0, 11600.0)
_AIR_PERCENTILE: Final = 5.0
# Typical window emissivity of soils and vegetation (0.95–0.99), for the air estimate only.
_NATURAL_EMISSIVITY: Final = 0.97
_MIN_BANDS: Final = 8
_C2: Final = Planck * speed_of_light / Boltzmann  # second radiation constant, m K


@dataclass(frozen=True)
class LwirLibrary:
    """Absorption signatures of the species tried, on a sensor's bands.

    Attributes
    ----------
    names : tuple of str
        Species, site vocabulary (``"NH3"``, ``"ethyl acetate"``) or table names for species
        outside it.
    tables : tuple of str
        The matching keys of :func:`vigia.sense.gas.lwir_species`.
    absorption : (species, bands) float64
        Natural-log absorption coefficient per ppm·m on the bands.
    quantitative : tuple of bool
        Whether each table's scale is measured (NIST Quant-IR) rather than assumed.
    reasons : tuple of (str or None)
        Why a species' column cannot be given in ppm·m (None where it can).
    """

    names: tuple[str, ...]
    tables: tuple[str, ...]
    absorption: F64
    quantitative: tuple[bool, ...]
    reasons: tuple[str | None, ...]


def lwir_library(
    wavelengths_nm: ArrayLike, fwhm_nm: ArrayLike, species: Sequence[str] | None = None
) -> LwirLibrary:
    """Build the species library on a sensor's bands.

    Parameters
    ----------
    wavelengths_nm : (bands,) array_like
        Band centres, nm.
    fwhm_nm : (bands,) array_like or scalar
        Band full widths at half maximum, nm.
    species : sequence of str, optional
        Species in the site vocabulary (``"NH3"``, ``"ethyl acetate"``) or as table names
        (``"ammonia"``, ``"methyl_ethyl_ketone"``); default :data:`DEFAULT_SPECIES`.

    Returns
    -------
    LwirLibrary
        Names, tables, absorption coefficients (species, bands) in 1/(ppm·m), and provenance.

    Raises
    ------
    UnknownNameError
        If a species has no LWIR table.
    InputError
        If no species is given, or one is given twice.

    Examples
    --------
    >>> lib = lwir_library([8200.0, 10350.0], 17.6, ["acetone", "NH3"])
    >>> lib.tables, lib.quantitative
    (('acetone', 'ammonia'), (True, False))
    """
    names = list(DEFAULT_SPECIES if species is None else species)
    if not names:
        raise InputError("the species library is empty: give at least one species")
    tables = [SITE_SPECIES.get(n, n) for n in names]
    if len(set(tables)) != len(tables):
        raise InputError(f"species given twice in {names}")
    absorption = np.stack([lwir_absorbance(t, wavelengths_nm, fwhm_nm) for t in tables])
    infos = [species_info(t) for t in tables]
    reasons = tuple(
        None if i["quantitative"] else (i["scale_assumption"] or "shape only: scale assumed")
        for i in infos
    )
    return LwirLibrary(
        names=tuple(_TABLE_TO_SITE.get(t, t) for t in tables),
        tables=tuple(tables),
        absorption=np.asarray(absorption, dtype=np.float64),
        quantitative=tuple(bool(i["quantitative"]) for i in infos),
        reasons=reasons,
    )


def _planck_derivative(wavelength_nm: F64, temperature_k: ArrayLike) -> F64:
    """∂B/∂T in W m⁻² sr⁻¹ µm⁻¹ K⁻¹, shape ``temperature.shape + wavelength.shape``."""
    t = np.asarray(temperature_k, dtype=np.float64)
    b = planck_radiance(wavelength_nm, t)
    x = _C2 / (wavelength_nm * 1e-9 * t[..., None])
    out: F64 = b * x / t[..., None] / -np.expm1(-x)
    return out


def statistic_threshold(pfa: float, n_species: int) -> float:
    """Threshold on the per-pixel statistic for a per-pixel false-alarm rate.

    Under the background hypothesis each calibrated z_j is standard normal and the statistic is
    the one-sided normal quantile of the smallest per-species p-value; the threshold is
    Šidák-corrected for the number of species tried (exact for independent z_j, conservative
    for correlated ones). It applies as well to :func:`smoothed_z` maps.

    Parameters
    ----------
    pfa : float
        Per-pixel false-alarm probability, in (0, 1).
    n_species : int
        Number of species tried (≥ 1).

    Returns
    -------
    float
        Threshold on ``LwirDetection.statistic``.

    Raises
    ------
    InputError
        If ``pfa`` is not in (0, 1) or ``n_species`` < 1.

    Examples
    --------
    >>> round(statistic_threshold(0.05, 1), 3)
    1.645
    """
    if not 0.0 < pfa < 1.0:
        raise InputError(f"pfa must lie in (0, 1), got {pfa!r}")
    if n_species < 1:
        raise InputError(f"n_species must be ≥ 1, got {n_species!r}")
    per_species = -math.expm1(math.log1p(-pfa) / n_species)
    return float(stats.norm.isf(per_species))


def _signs(contrast: F32, min_contrast_k: float) -> F64:
    # Expected sign of C·ΔT (that of ΔT, as C ≥ 0); 0 where the contrast is too small to say.
    dt = np.nan_to_num(contrast.astype(np.float64), nan=0.0)
    out: F64 = np.where(np.abs(dt) >= min_contrast_k, np.sign(dt), 0.0)
    return out


def _pixel_statistic(z: F32, contrast: F32, min_contrast_k: float) -> tuple[F32, F32]:
    # One-sided p where the sign of C·ΔT is known, two-sided where it is not; the pixel's
    # statistic is the one-sided normal quantile of the smallest p, its score 1 − Šidák p.
    n_sp = z.shape[0]
    sgn = _signs(contrast, min_contrast_k)
    zz = z.astype(np.float64)
    finite = np.isfinite(zz)
    zz = np.where(finite, zz, 0.0)
    p = np.where(sgn != 0, stats.norm.sf(sgn * zz), 2.0 * stats.norm.sf(np.abs(zz)))
    p_min = np.where(finite, p, 1.0).min(axis=0)
    valid = finite.any(axis=0)
    statistic = np.where(valid, stats.norm.isf(p_min), np.nan)
    p_pixel = -np.expm1(n_sp * np.log1p(-np.minimum(p_min, 1.0 - 1e-16)))
    score = np.where(valid, 1.0 - p_pixel, np.nan)
    return statistic.astype(np.float32), score.astype(np.float32)


@dataclass(frozen=True, eq=False)
class _Background:
    """Per-column levels and per-group whitening of one line (used again by identification)."""

    radiance: F32  # (downtrack, crosstrack, used bands) the cube's radiance
    mean: F64  # (crosstrack, used bands) column levels
    group_of_column: NDArray[np.intp]  # (crosstrack,)
    basis: tuple[F64, ...]  # per group: (used bands, q) whitened interference basis
    cholesky: F64  # (groups, used bands, used bands), lower


@dataclass(frozen=True, eq=False)
class LwirDetection:
    """Per-pixel LWIR gas detection products of one line.

    Maps are ``(downtrack, crosstrack)``; per-species maps are ``(species, downtrack,
    crosstrack)`` in the order of ``library.names``. Pixels that are not valid (a NaN on a used
    band) hold NaN.

    Attributes
    ----------
    line_id : str
        The cube's ``flight_line_id``.
    library : LwirLibrary
        Species tried and their signatures on the full band set.
    wavelengths_nm : (bands,) float64
        Band centres of the cube, nm.
    used_bands : (bands,) bool
        Bands the detectors used.
    valid : (downtrack, crosstrack) bool
        Pixels with finite radiance on every used band.
    column_contrast : (species, downtrack, crosstrack) float32
        Matched-filter estimate of column × thermal contrast C·ΔT, ppm·m·K (signed: negative
        when the plume is cooler than the ground and absorbs).
    column_contrast_sigma : (species, downtrack, crosstrack) float32
        Its 1-σ noise, ppm·m·K (clutter and noise, robustly scaled).
    column : (species, downtrack, crosstrack) float32
        Column enhancement C = C·ΔT / ΔT, ppm·m, for quantitative species where
        |ΔT| ≥ ``min_contrast_k``; NaN elsewhere.
    min_detectable_column : (species, downtrack, crosstrack) float32
        Column a plume needs here to reach the ``pfa`` threshold, ppm·m (inf where the
        thermal contrast is below ``min_contrast_k``), with the table's scale (assumed for
        non-quantitative species).
    z : (species, downtrack, crosstrack) float32
        Calibrated matched-filter z-score (standard normal over background).
    ace : (species, downtrack, crosstrack) float32
        Adaptive coherence estimator, in [0, 1].
    statistic : (downtrack, crosstrack) float32
        One-sided normal quantile of the smallest per-species p-value (module notes, step 8);
        0 where ``anomalous``. Compare with :func:`statistic_threshold`.
    score : (downtrack, crosstrack) float32
        1 − Šidák p-value of ``statistic`` over the species, in [0, 1] (higher is surer).
    rx : (downtrack, crosstrack) float32
        Mahalanobis distance² of the residual over its median (anomaly, e.g. fires).
    anomalous : (downtrack, crosstrack) bool
        Pixels whose Mahalanobis residual, after the best single gas is fitted, is still a
        χ² outlier (p < 1e-3): roofs, fires, water, surfaces the background does not
        describe. Their statistic and score are 0 and identification leaves them out: a gas
        cannot be judged there.
    background_mask : (downtrack, crosstrack) bool
        Pixels the second-pass background statistics used.
    ground_temperature_k : (downtrack, crosstrack) float32
        Window (10.0–11.6 µm) brightness temperature of the ground-leaving radiance, K.
    thermal_contrast_k : (species, downtrack, crosstrack) float32
        ΔT_j = T_air − T_g,j: plume (air) temperature minus the ground-leaving brightness
        temperature in species j's bands, K.
    air_temperature_k : float
        Plume temperature used, K.
    air_temperature_source : str
        ``"given"`` or how it was estimated.
    min_contrast_k : float
        Smallest |ΔT| for which a column is reported, K.
    pfa : float
        Per-pixel false-alarm rate used for ``min_detectable_column``.
    atmosphere : LwirAtmosphere
        Atmosphere on the cube's bands.
    """

    line_id: str
    library: LwirLibrary
    wavelengths_nm: F64
    used_bands: Mask
    valid: Mask
    column_contrast: F32
    column_contrast_sigma: F32
    column: F32
    min_detectable_column: F32
    z: F32
    ace: F32
    statistic: F32
    score: F32
    rx: F32
    anomalous: Mask
    background_mask: Mask
    ground_temperature_k: F32
    thermal_contrast_k: F32
    air_temperature_k: float
    air_temperature_source: str
    min_contrast_k: float
    pfa: float
    atmosphere: LwirAtmosphere
    _background: _Background

    @property
    def species(self) -> tuple[str, ...]:
        """Species tried, site vocabulary."""
        return self.library.names

    def to_dataset(self) -> xr.Dataset:
        """Per-species amount maps and the score map as an ``xarray.Dataset``.

        Returns
        -------
        xarray.Dataset
            Dimensions ``(species, downtrack, crosstrack)``: ``column_contrast`` (ppm m K),
            ``column_contrast_sigma`` (ppm m K), ``column`` (ppm m, NaN where not
            quantitative or the contrast is too small), ``z``, ``ace``, ``thermal_contrast``
            (K), ``min_detectable_column`` (ppm m); ``(downtrack, crosstrack)``: ``score``,
            ``statistic``, ``anomalous``, ``ground_temperature`` (K). Attributes record the
            air temperature and its source.
        """
        d3 = ("species", "downtrack", "crosstrack")
        d2 = ("downtrack", "crosstrack")
        return xr.Dataset(
            {
                "column_contrast": (d3, self.column_contrast, {"units": "ppm m K"}),
                "column_contrast_sigma": (d3, self.column_contrast_sigma, {"units": "ppm m K"}),
                "column": (d3, self.column, {"units": "ppm m"}),
                "min_detectable_column": (d3, self.min_detectable_column, {"units": "ppm m"}),
                "z": (d3, self.z, {"units": "1"}),
                "ace": (d3, self.ace, {"units": "1"}),
                "thermal_contrast": (d3, self.thermal_contrast_k, {"units": "K"}),
                "score": (d2, self.score, {"units": "1"}),
                "statistic": (d2, self.statistic, {"units": "1"}),
                "anomalous": (d2, self.anomalous),
                "ground_temperature": (d2, self.ground_temperature_k, {"units": "K"}),
            },
            coords={
                "species": list(self.library.names),
                "quantitative": ("species", list(self.library.quantitative)),
            },
            attrs={
                "flight_line_id": self.line_id,
                "air_temperature_k": self.air_temperature_k,
                "air_temperature_source": self.air_temperature_source,
                "min_contrast_k": self.min_contrast_k,
            },
        )


def _fail(line_id: str, what: str) -> InputError:
    return InputError(f"LWIR gas detection, line {line_id or '<unnamed>'}: {what}")


def _band_setup(cube: xr.Dataset, line_id: str) -> tuple[F64, F64, Mask]:
    wl = np.asarray(cube["wavelengths"].values, dtype=np.float64)
    if "fwhm" in cube.variables:
        fwhm = np.asarray(cube["fwhm"].values, dtype=np.float64)
    else:
        fwhm = np.full(wl.shape, np.nan)
    if np.any(~np.isfinite(fwhm)):
        # No FWHM from the source: take the band spacing, as a Nyquist-sampled sensor has.
        spacing = np.abs(np.gradient(wl)) if wl.size > 1 else np.array([10.0])
        fwhm = np.where(np.isfinite(fwhm), fwhm, spacing)
    good = np.ones(wl.shape, dtype=bool)
    if "good_wavelengths" in cube.variables:
        good = np.asarray(cube["good_wavelengths"].values) > 0
    inside = (wl >= _TABLE_NM[0]) & (wl <= _TABLE_NM[1]) & good
    if inside.sum() < _MIN_BANDS:
        raise _fail(
            line_id,
            f"only {int(inside.sum())} good bands lie within {_TABLE_NM[0]:.0f}–"
            f"{_TABLE_NM[1]:.0f} nm (the cube spans {wl.min():.0f}–{wl.max():.0f} nm); "
            f"at least {_MIN_BANDS} are needed",
        )
    return wl, fwhm, inside


def _oas_correlation(cov: F64, n: int) -> F64:
    # OAS shrinkage of the correlation matrix towards identity (Chen et al. 2010, Eq. 23);
    # written out because scikit-learn is not a dependency.
    d = np.sqrt(np.maximum(np.diag(cov), 1e-30))
    corr = cov / np.outer(d, d)
    p = corr.shape[0]
    tr2 = float(np.sum(corr * corr))  # tr(R²); tr(R) = p
    num = (1.0 - 2.0 / p) * tr2 + p**2
    den = (n + 1.0 - 2.0 / p) * (tr2 - p)
    rho = 1.0 if den <= 0 else min(1.0, num / den)
    shrunk = (1.0 - rho) * corr
    shrunk[np.diag_indices(p)] = 1.0
    out: F64 = shrunk * np.outer(d, d)
    return out


def _groups(n_rows: int, n_cols: int, n_bands: int, samples_per_band: float) -> list[range]:
    need = max(1, math.ceil(samples_per_band * n_bands / max(n_rows, 1)))
    size = min(n_cols, need)
    n_groups = max(1, n_cols // size)
    edges = np.linspace(0, n_cols, n_groups + 1).round().astype(int)
    return [range(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _centroid_nm(weights: F64, wl: F64) -> F64:
    out: F64 = (weights @ wl) / np.maximum(weights.sum(axis=1), 1e-300)
    return out


def detect_lwir(
    cube: xr.Dataset,
    *,
    species: Sequence[str] | None = None,
    atmosphere: LwirAtmosphere | None = None,
    sensor_altitude_m: float = 6000.0,
    air_temperature_k: float | None = None,
    min_transmittance: float = 0.05,
    samples_per_band: float = 10.0,
    exclude_z: float = 4.0,
    min_contrast_k: float = 1.0,
    pfa: float = 1e-3,
) -> LwirDetection:
    """Per-pixel clutter matched filter and ACE for each species on an LWIR radiance cube.

    Parameters
    ----------
    cube : xarray.Dataset
        LWIR cube in the EMIT L1B layout (:mod:`vigia.sense.cube`): ``radiance(downtrack,
        crosstrack, bands)`` in W m⁻² sr⁻¹ µm⁻¹, NaN for bad pixels, attribute
        ``sensor = "lwir"``.
    species : sequence of str, optional
        Species to try (see :func:`lwir_library`); default :data:`DEFAULT_SPECIES`.
    atmosphere : LwirAtmosphere, optional
        Atmosphere on the cube's bands; default the packaged tropical LOWTRAN7 profile at
        ``sensor_altitude_m``.
    sensor_altitude_m : float, default 6000
        Flight height above ground, m (2,000–8,000), when ``atmosphere`` is not given.
    air_temperature_k : float, optional
        Plume (near-surface air) temperature, K; estimated from the scene when not given
        (module notes, step 3).
    min_transmittance : float, default 0.05
        Bands more opaque than this are not used.
    samples_per_band : float, default 10
        Pixels per band wanted in each covariance estimate: sets the column-group width.
    exclude_z : float, default 4
        First-pass |z| above which a pixel is left out of the background statistics.
    min_contrast_k : float, default 1
        Smallest |ΔT|, K, for which a column in ppm·m is given.
    pfa : float, default 1e-3
        Per-pixel false-alarm rate behind ``min_detectable_column``.

    Returns
    -------
    LwirDetection
        Per-pixel maps (see its attributes) and the background model identification reuses.

    Raises
    ------
    InputError
        If the cube is not an LWIR radiance cube in W m⁻² sr⁻¹ µm⁻¹, has too few bands in
        7–13 µm, or has no valid pixel.
    UnknownNameError
        If a species has no LWIR table.

    Examples
    --------
    >>> import numpy as np
    >>> from vigia.sense.cube import make_cube
    >>> from vigia.sense.thermal import planck_radiance
    >>> wl = np.linspace(7500.0, 12000.0, 64)
    >>> rng = np.random.default_rng(0)
    >>> t = 300.0 + rng.normal(0.0, 2.0, (40, 8))
    >>> rad = planck_radiance(wl, t) * 0.7 + 2.5 + rng.normal(0.0, 0.02, (40, 8, 64))
    >>> cube = make_cube(rad, wl, fwhm=np.full(64, 70.0), units="W m-2 sr-1 um-1",
    ...                  sensor="lwir", flight_line_id="L1")
    >>> det = detect_lwir(cube, species=["acetone", "NH3"])
    >>> det.score.shape, bool(np.nanmax(det.score) <= 1.0)
    ((40, 8), True)
    """
    line_id = str(cube.attrs.get("flight_line_id", ""))
    if not isinstance(cube, xr.Dataset) or "radiance" not in cube:
        raise _fail(line_id, "the input is not a radiance cube (no 'radiance' variable)")
    sensor = str(cube.attrs.get("sensor", ""))
    if sensor != "lwir":
        raise _fail(line_id, f"attribute sensor is {sensor!r}; gas detection here needs 'lwir'")
    units = str(cube["radiance"].attrs.get("units", ""))
    if units != LWIR_UNITS:
        raise _fail(line_id, f"radiance units are {units!r}, expected {LWIR_UNITS!r}")
    if cube["radiance"].ndim != 3:
        raise _fail(line_id, f"radiance has {cube['radiance'].ndim} dimensions, expected 3")
    rad_all = np.asarray(cube["radiance"].values, dtype=np.float32)
    if not np.isfinite(rad_all).any():
        raise _fail(line_id, "radiance is NaN (missing) in every pixel and band")
    for name, value, lo, hi in (
        ("min_contrast_k", min_contrast_k, 0.0, math.inf),
        ("exclude_z", exclude_z, 1.0, math.inf),
        ("samples_per_band", samples_per_band, 1.0, math.inf),
        ("min_transmittance", min_transmittance, 0.0, 1.0),
    ):
        if not (math.isfinite(value) or value == math.inf) or not lo <= value <= hi:
            raise InputError(f"{name} must lie in [{lo}, {hi}], got {value!r}")
    wl, fwhm, inside = _band_setup(cube, line_id)
    library = lwir_library(wl, fwhm, species)
    if atmosphere is None:
        atm_in = lwir_atmosphere(wl[inside], fwhm[inside], sensor_altitude_m=sensor_altitude_m)
        atmosphere = _expand_atmosphere(atm_in, wl, fwhm, inside)
    elif atmosphere.wavelength_nm.shape != wl.shape or not np.allclose(
        atmosphere.wavelength_nm, wl
    ):
        raise _fail(line_id, "the atmosphere given is not on the cube's bands")
    tau_all = np.asarray(atmosphere.transmittance, dtype=np.float64)
    used = inside & (tau_all > min_transmittance)
    if used.sum() < _MIN_BANDS:
        raise _fail(
            line_id,
            f"only {int(used.sum())} bands have atmospheric transmittance > "
            f"{min_transmittance}; at least {_MIN_BANDS} are needed",
        )
    window = used & (wl >= _WINDOW_NM[0]) & (wl <= _WINDOW_NM[1])
    if not window.any():
        # No 10–11.6 µm band: take the most transparent used bands instead.
        window = used & (tau_all >= np.quantile(tau_all[used], 0.8))

    rad = np.ascontiguousarray(rad_all[..., used])
    n_rows, n_cols, nb = rad.shape
    valid = np.all(np.isfinite(rad), axis=-1)
    if not valid.any():
        raise _fail(line_id, "radiance is NaN (or missing) in every pixel on the used bands")

    wl_u = wl[used]
    tau = tau_all[used]
    l_up = np.asarray(atmosphere.path_radiance, dtype=np.float64)[used]
    k = library.absorption[:, used]  # (J, b)
    n_sp = k.shape[0]

    # Ground-leaving radiance and the window brightness temperature (step 3).
    win_idx = np.flatnonzero(window[used])
    l_g_win = (rad[..., win_idx].astype(np.float64) - l_up[win_idx]) / tau[win_idx]
    wl_win = float(np.mean(wl_u[win_idx]))
    l_g_mean = l_g_win[valid].mean(axis=-1)
    t_ground = np.full((n_rows, n_cols), np.nan)
    t_ground[valid] = brightness_temperature(wl_win, np.maximum(l_g_mean, 1e-6))
    # Kinetic temperature for an assumed grey emissivity (for the air estimate only).
    l_d_win = float(np.mean(np.asarray(atmosphere.downwelling_radiance)[used][win_idx]))
    kinetic = np.full((n_rows, n_cols), np.nan)
    kinetic[valid] = brightness_temperature(
        wl_win,
        np.maximum((l_g_mean - (1.0 - _NATURAL_EMISSIVITY) * l_d_win) / _NATURAL_EMISSIVITY, 1e-6),
    )
    if air_temperature_k is not None and not (
        math.isfinite(air_temperature_k) and 150.0 < air_temperature_k < 400.0
    ):
        raise InputError(f"air_temperature_k must lie in (150, 400) K, got {air_temperature_k}")

    # Per-species band weights (signature energy) → effective wavelength and contrast.
    dbdt_ref = _planck_derivative(wl_u, np.float64(np.nanmedian(t_ground)))
    energy = (k * tau * dbdt_ref) ** 2
    weights = energy / np.maximum(energy.sum(axis=1, keepdims=True), 1e-300)
    wl_eff = _centroid_nm(weights, wl_u)  # (J,)

    groups = _groups(n_rows, n_cols, nb, samples_per_band)
    group_of_column = np.empty(n_cols, dtype=np.intp)
    for g, cols in enumerate(groups):
        group_of_column[list(cols)] = g
    mean = np.zeros((n_cols, nb))
    chol = np.zeros((len(groups), nb, nb))
    shape3 = (n_sp, n_rows, n_cols)
    cdt = np.full(shape3, np.nan, dtype=np.float32)
    cdt_sigma = np.full(shape3, np.nan, dtype=np.float32)
    z_map = np.full(shape3, np.nan, dtype=np.float32)
    ace_map = np.full(shape3, np.nan, dtype=np.float32)
    rx_map = np.full((n_rows, n_cols), np.nan, dtype=np.float32)
    anomalous = np.zeros((n_rows, n_cols), dtype=bool)
    t_eff = np.full(shape3, np.nan)  # ground-leaving brightness temperature in j's bands
    background = np.zeros((n_rows, n_cols), dtype=bool)
    bases: list[F64] = []
    l_down = np.asarray(atmosphere.downwelling_radiance, dtype=np.float64)[used]
    rx_limit = float(stats.chi2.isf(1e-3, nb) / stats.chi2.median(nb))

    for g, cols in enumerate(groups):
        sl = slice(cols.start, cols.stop)
        x = rad[:, sl].astype(np.float64)  # (R, G, b)
        ok = valid[:, sl]
        if not ok.any():
            bases.append(np.zeros((nb, 0)))
            continue
        t_ref = float(np.nanmedian(t_ground[:, sl]))
        dbdt_g = _planck_derivative(wl_u, np.float64(t_ref))
        sig = k * tau * dbdt_g  # per ppm·m·K, (J, b)
        nuis = _nuisance(wl_u, tau, l_down, t_ref)
        fit = _fit_group(x, ok, sig, k * sig, nuis, exclude_z, rx_limit)
        bases.append(fit.basis)
        mu, lower, keep = fit.column_mean, fit.lower, fit.keep
        zg, num, den, rxg, scale, rx_med = fit.z, fit.num, fit.den, fit.rx, fit.scale, fit.rx_med
        mean[sl] = mu
        chol[g] = lower
        background[:, sl] = keep
        zs = zg / scale
        est = num / den  # C·ΔT at the group's reference temperature
        sigma = scale / np.sqrt(den)
        # Scale C·ΔT from the group's reference temperature to each pixel's (∂B/∂T varies).
        ratio = _planck_derivative(wl_eff, np.float64(t_ref))[None, :] / _planck_derivative(
            wl_eff, t_ground[:, sl][ok]
        )
        rows, cc = np.nonzero(ok)
        cc = cc + cols.start
        cdt[:, rows, cc] = (est * ratio).T
        cdt_sigma[:, rows, cc] = (sigma * ratio).T
        z_map[:, rows, cc] = zs.T
        ace = zg**2 / np.maximum(fit.rx_projected[:, None], 1e-300)
        ace_map[:, rows, cc] = np.clip(ace, 0.0, 1.0).T
        rx_map[rows, cc] = rxg / rx_med
        # Goodness of fit (module notes, step 7): a pixel unlike the background once every
        # gas is fitted (roof, fire, water) cannot be judged for gas.
        left = fit.unexplained
        anomalous[rows, cc] = left > rx_limit * float(np.median(left[keep[ok]]))
        # Per-species ground-leaving radiance in the species' own bands → ΔT (step 3).
        l_g = (x[ok] - l_up) / tau  # (n_ok, b)
        l_eff = l_g @ weights.T  # (n_ok, J)
        t_eff[:, rows, cc] = brightness_temperature(wl_eff, np.maximum(l_eff, 1e-6)).T

    if air_temperature_k is None:
        judged = valid & ~anomalous
        t_air = float(np.percentile(kinetic[judged if judged.any() else valid], _AIR_PERCENTILE))
        air_source = (
            f"estimated: {_AIR_PERCENTILE:g}th percentile over the line of the "
            f"{_WINDOW_NM[0] / 1000:.1f}–{_WINDOW_NM[1] / 1000:.1f} µm ground kinetic "
            f"temperature for emissivity {_NATURAL_EMISSIVITY} (anomalous pixels left out)"
        )
    else:
        t_air = float(air_temperature_k)
        air_source = "given"
    contrast = (t_air - t_eff).astype(np.float32)

    statistic, score = _pixel_statistic(z_map, contrast, min_contrast_k)
    statistic[anomalous] = 0.0
    score[anomalous] = 0.0
    column, mdc = _columns(
        cdt, cdt_sigma, contrast, wl_eff, t_air, library.quantitative, min_contrast_k, pfa
    )
    return LwirDetection(
        line_id=line_id,
        library=library,
        wavelengths_nm=wl,
        used_bands=used,
        valid=valid,
        column_contrast=cdt,
        column_contrast_sigma=cdt_sigma,
        column=column,
        min_detectable_column=mdc,
        z=z_map,
        ace=ace_map,
        statistic=statistic,
        score=score,
        rx=rx_map,
        anomalous=anomalous,
        background_mask=background,
        ground_temperature_k=t_ground.astype(np.float32),
        thermal_contrast_k=contrast,
        air_temperature_k=t_air,
        air_temperature_source=air_source,
        min_contrast_k=float(min_contrast_k),
        pfa=float(pfa),
        atmosphere=atmosphere,
        _background=_Background(
            radiance=rad,
            mean=mean,
            group_of_column=group_of_column,
            basis=tuple(bases),
            cholesky=chol,
        ),
    )


@dataclass(frozen=True, eq=False)
class _GroupFit:
    column_mean: F64  # (G, b)
    lower: F64  # (b, b)
    basis: F64  # (b, q) whitened interference basis
    keep: Mask  # (R, G)
    z: F64  # (n_ok, J) raw z (before robust scaling)
    num: F64  # (n_ok, J)
    den: F64  # (J,)
    rx: F64  # (n_ok,)
    rx_projected: F64  # (n_ok,) ‖P r̃‖², residual energy outside the interference
    unexplained: F64  # (n_ok,) ‖r̃‖² less what the gas signatures (k and k²) explain
    scale: F64  # (J,)
    rx_med: float


def _nuisance(wl: F64, tau: F64, l_down: F64, t_ref: float) -> F64:
    """Signatures of what is not gas but changes radiance (interference, projected out).

    Ground temperature: τ B(T) at several temperatures around the group's (spans the Planck
    curve's nonlinearity in mixed pixels). Emissivity: τ L↓ and τ (B(T) − L↓) times Legendre
    polynomials of degree ≤ ``_EMISSIVITY_DEGREE`` in wavelength, i.e. smooth emissivity
    changes, through which a low-emissivity surface (metal roof, water) that reflects the
    sky's ozone and water-vapour emission enters a pixel. Solid-surface emissivity features
    are broad, gas bands narrow: the projection costs broad-banded gases some sensitivity
    (×1.1–3 in noise-equivalent column) and removes most of the clutter that mimics them.
    (Manolakis et al. 2014, "subspace detectors" with interference; Burr & Hengartner 2006.)
    """
    t = np.float64(t_ref)
    sky = tau * (planck_radiance(wl, t) - l_down)
    u = 2.0 * (wl - wl.min()) / max(float(np.ptp(wl)), 1e-9) - 1.0
    poly = np.polynomial.legendre.legvander(u, _EMISSIVITY_DEGREE).T  # (D + 1, b)
    temps = t + np.asarray(_NUISANCE_DT)
    planck = tau * planck_radiance(wl, temps)  # (T, b)
    out: F64 = np.vstack([planck, tau * l_down, sky * poly])
    return out


def _interference_basis(lower: F64, nuisance: F64) -> F64:
    # Orthonormal basis (b, q) of the whitened nuisance signatures.
    u = linalg.solve_triangular(lower, nuisance.T, lower=True)
    q: F64 = np.linalg.qr(u)[0]
    return q


def _project(v: F64, q: F64) -> F64:
    # Component of the rows of v orthogonal to the basis q.
    out: F64 = v - (v @ q) @ q.T
    return out


def _fit_group(
    x: F64, ok: Mask, sig: F64, sig2: F64, nuisance: F64, exclude_z: float, rx_limit: float
) -> _GroupFit:
    """Background model of one column group, in two passes (module notes, steps 4–6)."""
    n_cols = x.shape[1]
    keep = ok.copy()
    coherent = np.zeros((x.shape[2], 0))
    lower_1 = np.eye(x.shape[2])
    for it in range(2):
        mu = _column_means(x, keep, ok)
        r = x - mu[None]
        rk = r[keep]
        n = rk.shape[0]
        cov = rk.T @ rk / max(n - n_cols, 1)
        lower = linalg.cholesky(_oas_correlation(cov, n), lower=True)
        rw = linalg.solve_triangular(lower, r[ok].T, lower=True).T  # (n_ok, b)
        q = _interference_basis(lower, nuisance)
        if it == 1 and coherent.shape[1]:
            # Whitening changed between passes: carry the coherent directions over in
            # radiance units, then whiten them with the new factor.
            q = _interference_basis(lower, np.vstack([nuisance, (lower_1 @ coherent).T]))
        # Interference-suppressed (subspace) matched filter: signatures ⟂ the nuisance.
        sw = _project(linalg.solve_triangular(lower, sig.T, lower=True).T, q)  # (J, b)
        den = np.einsum("jb,jb->j", sw, sw)
        num = rw @ sw.T  # (n_ok, J)
        zg = num / np.sqrt(den)
        rxg = np.einsum("nb,nb->n", rw, rw)
        prx = rxg - np.einsum("nq,nq->n", rw @ q, rw @ q)  # ‖P r̃‖² for ACE
        # Energy left once every gas, to second order in Beer–Lambert (k², thick plumes), is
        # fitted: what no gas explains.
        gas = np.linalg.qr(linalg.solve_triangular(lower, np.vstack([sig, sig2]).T, lower=True))[0]
        unexplained = rxg - np.einsum("ng,ng->n", rw @ gas, rw @ gas)
        keep_ok = keep[ok]
        scale = 1.4826 * np.median(np.abs(zg[keep_ok] - np.median(zg[keep_ok], 0)), 0)
        scale = np.where(scale > 0, scale, 1.0)
        rx_med = float(np.median(rxg[keep_ok]))
        if it == 0:
            square = np.ones((3, 3), dtype=bool)
            strong = np.max(np.abs(zg / scale), axis=1) > exclude_z
            odd = rxg > rx_limit * rx_med
            # Gas-like: strong for a species and explained by it. Coherent clutter is learnt
            # from everything else, roofs and fires included, never from a plume.
            gas_like = np.zeros(ok.shape, dtype=bool)
            gas_like[ok] = strong & (unexplained <= rx_limit * float(np.median(unexplained)))
            gas_like = ndimage.binary_dilation(gas_like, structure=square)
            odd_map = np.zeros(ok.shape, dtype=bool)
            odd_map[ok] = odd & ~strong
            coherent = _coherent_clutter(rw, q, gas, ok, ok & ~gas_like, odd_map)
            flagged = np.zeros(ok.shape, dtype=bool)
            flagged[ok] = strong | odd
            flagged = ndimage.binary_dilation(flagged, structure=square)
            keep = ok & ~flagged
            if keep.sum() < max(2 * n_cols, x.shape[2] // 2):
                keep = ok.copy()
            lower_1 = lower
    return _GroupFit(mu, lower, q, keep, zg, num, den, rxg, prx, unexplained, scale, rx_med)


def _coherent_clutter(rw: F64, q: F64, gas: F64, ok: Mask, keep: Mask, odd: Mask) -> F64:
    """Whitened directions (b, c) of spatially coherent clutter, to treat as interference.

    After whitening, sensor noise is white in space and spectrum: its 3 × 3 box mean has
    covariance I/9. Patches of one surface (a soil with its own quartz bands, a roof) make a
    few directions far stronger in the box means. Eigenvectors of the box-mean covariance of
    ``keep`` pixels with eigenvalue above ``_COHERENT_FACTOR``/9 are those directions; rare
    surfaces (a village's roofs: RX outliers, ``odd``) are looked for again among the boxes
    centred on them. Directions the gas signatures (``gas``, orthonormal) mostly explain are
    plumes and are never taken (a data-driven interference subspace; a gas signature loses
    only its part that lies in it).
    """
    n_rows, n_cols = ok.shape
    nb = rw.shape[1]
    img = np.zeros((n_rows, n_cols, nb))
    img[ok] = _project(rw, q)
    img[~keep] = 0.0
    w = keep.astype(np.float64)
    size = (3, 3, 1)
    total = ndimage.uniform_filter(img, size=size, mode="constant")
    count = ndimage.uniform_filter(w[..., None], size=size, mode="constant")[..., 0]
    full = keep & (count > 1.0 - 1e-9)
    if full.sum() < 4 * nb:
        return np.zeros((nb, 0))
    means = total[full]
    vals, vecs = np.linalg.eigh(means.T @ means / means.shape[0])
    picked = [vecs[:, vals > _COHERENT_FACTOR / 9.0]]
    # Rare but strong patches hardly move the overall covariance: look again at the boxes
    # centred on outliers, against the level their energy would give spread over all bands.
    tail = total[full & odd]
    if tail.shape[0] >= 10:
        t_vals, t_vecs = np.linalg.eigh(tail.T @ tail / tail.shape[0])
        isotropic = float(np.mean(np.einsum("nb,nb->n", tail, tail))) / nb
        picked.append(t_vecs[:, t_vals > _COHERENT_FACTOR * isotropic])
    basis = np.hstack(picked)
    # A direction that the gas signatures mostly explain is a plume, not clutter: keep it.
    basis = basis[:, np.einsum("bc,bc->c", gas.T @ basis, gas.T @ basis) < _GAS_LIKE_SHARE]
    if basis.shape[1] == 0:
        return basis
    u, sv, _ = np.linalg.svd(basis, full_matrices=False)
    out: F64 = u[:, sv > 1e-6][:, :_COHERENT_MAX]
    return out


# Interference subspace: Planck at these offsets from the group's ground temperature, and
# flat-plus-smooth emissivity changes up to this Legendre degree over the used band range
# (features broader than ~0.5 µm are taken as surface, not gas).
_NUISANCE_DT: Final = (-15.0, -5.0, 5.0, 15.0, 30.0)
_EMISSIVITY_DEGREE = 0
# Spatially coherent clutter: box-mean eigenvalues above this many times white noise's.
_COHERENT_FACTOR = 3.0
_COHERENT_MAX: Final = 24
_GAS_LIKE_SHARE: Final = 0.5


def _expand_atmosphere(atm: LwirAtmosphere, wl: F64, fwhm: F64, inside: Mask) -> LwirAtmosphere:
    # The table covers 7–13 µm; bands outside it get τ = 0 (never used).
    def full(values: F64) -> F64:
        out = np.zeros(wl.shape)
        out[inside] = values
        return out

    return LwirAtmosphere(
        wavelength_nm=wl,
        fwhm_nm=fwhm,
        sensor_altitude_m=atm.sensor_altitude_m,
        ground_elevation_m=atm.ground_elevation_m,
        profile=atm.profile,
        transmittance=full(atm.transmittance),
        path_radiance=full(atm.path_radiance),
        downwelling_radiance=full(atm.downwelling_radiance),
    )


def _column_means(x: F64, keep: Mask, ok: Mask) -> F64:
    # Per-column level over kept rows: the median, so that a plume lying along a column
    # (wind along the track) biases it only once it covers half of the column's rows.
    # A column with no row kept falls back to its valid rows, then to zero.
    w = keep.copy()
    fallback = ~w.any(axis=0)
    w[:, fallback] = ok[:, fallback]
    empty = ~w.any(axis=0)
    w[:, empty] = True
    xs = np.where(w[..., None], x, np.nan)
    xs[:, empty] = 0.0
    out: F64 = np.nanmedian(xs, axis=0)
    return out


def _radiance_contrast_factor(wl_eff: F64, t_ground: F64, t_air: float) -> F64:
    # (B(T_air) − B(T_g)) / (∂B/∂T(T_g) · (T_air − T_g)): the linearisation's error, → 1 as
    # the contrast → 0.
    b_air = planck_radiance(wl_eff, t_air)
    b_g = planck_radiance(wl_eff, t_ground)
    d = _planck_derivative(wl_eff, t_ground)
    dt = t_air - t_ground[..., None] if t_ground.ndim else t_air - t_ground
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(np.abs(dt) > 1e-3, (b_air - b_g) / (d * dt), 1.0)
    res: F64 = np.asarray(out, dtype=np.float64)
    return res


def _columns(
    cdt: F32,
    sigma: F32,
    contrast: F32,
    wl_eff: F64,
    t_air: float,
    quantitative: tuple[bool, ...],
    min_contrast_k: float,
    pfa: float,
) -> tuple[F32, F32]:
    n_sp = cdt.shape[0]
    column = np.full(cdt.shape, np.nan, dtype=np.float32)
    mdc = np.full(cdt.shape, np.inf, dtype=np.float32)
    thr = statistic_threshold(pfa, n_sp)
    for j in range(n_sp):
        dt = contrast[j].astype(np.float64)
        ok = np.isfinite(dt) & (np.abs(dt) >= min_contrast_k)
        t_g = t_air - dt[ok]
        factor = _radiance_contrast_factor(wl_eff[j : j + 1], t_g, t_air)[:, 0]
        per_k = dt[ok] * factor  # C·ΔT_lin per ppm·m
        mdc[j][ok] = thr * sigma[j][ok] / np.abs(per_k)
        mdc[j][~np.isfinite(dt)] = np.nan
        if quantitative[j]:
            column[j][ok] = cdt[j][ok] / per_k
    return column, mdc


def segment_lwir(
    detection: LwirDetection,
    *,
    pfa: float = 1e-6,
    grow_z: float = 2.0,
    min_pixels: int = 3,
    smooth_px: int = 3,
) -> NDArray[np.int32]:
    """Plume objects from the z maps: CFAR seeds, hysteresis growth, connected components.

    A simple segmentation for tests and quick looks (the generic CFAR segmentation of
    :mod:`vigia.detect` serves the pipeline). Each species' z, signed so that positive means
    the sign the thermal contrast allows, is summed over a ``smooth_px`` × ``smooth_px`` window
    (plumes are extended, noise is not) and the sum is standardised by its own median and
    robust scale over the background pixels, which keeps the false-alarm rate when clutter is
    spatially correlated (an empirical CFAR). Seeds are pixels above the one-sided threshold
    for ``pfa`` (Šidák over the species); objects grow through 8-connected pixels whose
    standardised sum for the seed's species is ≥ ``grow_z``.

    Parameters
    ----------
    detection : LwirDetection
        Output of :func:`detect_lwir`.
    pfa : float, default 1e-6
        Per-pixel false-alarm rate of the seed threshold (:func:`statistic_threshold`);
        1e-6 is about one false seed per 100 km² at 10 m pixels.
    grow_z : float, default 2
        Standardised sum through which an object grows from its seeds.
    min_pixels : int, default 3
        Smallest object kept, pixels.
    smooth_px : int, default 3
        Side of the summing window, pixels (1: no smoothing).

    Returns
    -------
    (downtrack, crosstrack) int32
        Object labels 1, 2, …; 0 is background.

    Raises
    ------
    InputError
        If ``smooth_px`` or ``min_pixels`` < 1.

    Examples
    --------
    >>> import numpy as np
    >>> from vigia.sense.cube import make_cube
    >>> from vigia.sense.thermal import planck_radiance
    >>> wl = np.linspace(7500.0, 12000.0, 64)
    >>> rng = np.random.default_rng(0)
    >>> t = 300.0 + rng.normal(0.0, 2.0, (40, 8))
    >>> rad = planck_radiance(wl, t) * 0.7 + 2.5 + rng.normal(0.0, 0.02, (40, 8, 64))
    >>> cube = make_cube(rad, wl, fwhm=np.full(64, 70.0), units="W m-2 sr-1 um-1",
    ...                  sensor="lwir", flight_line_id="L1")
    >>> int(segment_lwir(detect_lwir(cube, species=["acetone"]), pfa=1e-6).max())
    0
    """
    if smooth_px < 1 or min_pixels < 1:
        raise InputError(f"smooth_px and min_pixels must be ≥ 1, got {smooth_px}, {min_pixels}")
    zs = smoothed_z(detection, smooth_px)
    thr = statistic_threshold(pfa, zs.shape[0])
    filled = np.nan_to_num(zs, nan=-np.inf)
    seeds = filled >= thr  # (J, R, C)
    grow = filled >= grow_z
    region = np.zeros(detection.valid.shape, dtype=bool)
    eight = np.ones((3, 3), dtype=bool)
    for j in range(zs.shape[0]):
        if seeds[j].any():
            lab, _ = ndimage.label(grow[j], structure=eight)
            hit = np.unique(lab[seeds[j]])
            region |= np.isin(lab, hit[hit > 0])
    labels, n = ndimage.label(region, structure=eight)
    if n:
        sizes = ndimage.sum_labels(np.ones(labels.shape), labels, index=np.arange(1, n + 1))
        small = np.flatnonzero(sizes < min_pixels) + 1
        labels[np.isin(labels, small)] = 0
        labels, _ = ndimage.label(labels > 0, structure=eight)
    out: NDArray[np.int32] = np.asarray(labels, dtype=np.int32)
    return out


def smoothed_z(detection: LwirDetection, smooth_px: int = 3) -> F64:
    """Sign-aware, spatially summed and empirically standardised z maps.

    Parameters
    ----------
    detection : LwirDetection
        Output of :func:`detect_lwir`.
    smooth_px : int, default 3
        Side of the summing window, pixels.

    Returns
    -------
    (species, downtrack, crosstrack) float64
        Standard normal over the background, positive where the signal has the sign the
        thermal contrast allows; NaN where a pixel is invalid or its contrast is below
        ``detection.min_contrast_k``.
    """
    sgn = _signs(detection.thermal_contrast_k, detection.min_contrast_k)
    z = detection.z.astype(np.float64)
    known = np.isfinite(z) & (sgn != 0) & ~detection.anomalous[None]
    zf = np.where(known, z * sgn, 0.0)
    if smooth_px > 1:
        size = (1, smooth_px, smooth_px)
        area = float(smooth_px**2)
        total = ndimage.uniform_filter(zf, size=size, mode="constant") * area
        count = ndimage.uniform_filter(known.astype(np.float64), size=size, mode="constant")
        zf = total / np.sqrt(np.maximum(count * area, 1.0))
    bg = known & detection.background_mask[None]
    out = np.full(z.shape, np.nan)
    for j in range(z.shape[0]):
        ref = zf[j][bg[j]]
        if ref.size < 10:
            continue
        med = float(np.median(ref))
        mad = 1.4826 * float(np.median(np.abs(ref - med)))
        out[j] = np.where(known[j], (zf[j] - med) / (mad if mad > 0 else 1.0), np.nan)
    return out


@dataclass(frozen=True)
class LwirFinding:
    """One species identified in a plume object.

    Attributes
    ----------
    species : str
        Site vocabulary name (``"acetone"``, ``"NH3"``, ``"ethyl acetate"``).
    confidence : float
        In [0, 1]: the object's detection score times 1 − the Bonferroni-corrected p-value of
        the species' partial F-test (higher is surer).
    column_contrast_ppm_m_k : float
        Mean column × thermal contrast over the object, ppm·m·K (signed: negative in
        absorption, when the plume is cooler than the ground).
    column_contrast_sigma_ppm_m_k : float
        Its 1-σ uncertainty from noise and clutter, ppm·m·K.
    column_ppm_m : float or None
        Mean column enhancement over the object, ppm·m; None when the species' table is
        shape-only or the thermal contrast is too small.
    column_sigma_ppm_m : float or None
        1-σ uncertainty of the column from noise and clutter (not from the air-temperature
        estimate), ppm·m.
    thermal_contrast_k : float
        Mean ΔT = T_air − T_ground in the species' bands over the object, K.
    quantitative : bool
        Whether the species' absorption scale is measured.
    reason : str or None
        Why ``column_ppm_m`` is None.
    f_statistic : float
        Partial F statistic of the species in the final model.
    """

    species: str
    confidence: float
    column_contrast_ppm_m_k: float
    column_contrast_sigma_ppm_m_k: float
    column_ppm_m: float | None
    column_sigma_ppm_m: float | None
    thermal_contrast_k: float
    quantitative: bool
    reason: str | None
    f_statistic: float


@dataclass(frozen=True)
class LwirIdentification:
    """Species identified in one set of pixels, and whether gases could be seen there at all.

    Attributes
    ----------
    findings : tuple of LwirFinding
        Species retained by the stepwise regression, most significant first.
    detectable : bool
        False when the thermal contrast over the object is below ``min_contrast_k``: a gas
        layer at the ground's temperature is invisible, so the absence of findings says
        nothing about the absence of gas.
    reason : str or None
        Why ``detectable`` is False.
    score : float
        Object detection score in [0, 1]: 1 − the probability that background alone puts a
        peak as strong as the object's (spatially summed, calibrated z) anywhere in the line
        (Šidák over species and over the line's valid pixels).
    n_pixels : int
        Pixels used (valid, not radiometric outliers such as fires).
    thermal_contrast_k : float
        Median window contrast T_air − T_ground over the object, K.
    air_temperature_k : float
        Plume temperature used, K.
    rows, cols : tuple of int
        Pixel indices (downtrack, crosstrack) of the object.
    peak : tuple of int
        (downtrack, crosstrack) of the object's strongest spatially summed z.
    """

    findings: tuple[LwirFinding, ...]
    detectable: bool
    reason: str | None
    score: float
    n_pixels: int
    thermal_contrast_k: float
    air_temperature_k: float
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    peak: tuple[int, int]

    @property
    def species(self) -> tuple[str, ...]:
        """Species found, site vocabulary."""
        return tuple(f.species for f in self.findings)


def identify_lwir(
    detection: LwirDetection,
    mask: ArrayLike,
    *,
    alpha: float = 1e-3,
    max_species: int = 4,
    smooth_px: int = 3,
) -> LwirIdentification:
    """Identify the species in a set of pixels by stepwise regression over the library.

    The mean whitened residual over the pixels (background from :func:`detect_lwir`, with
    the same interference subspace projected out) is regressed on each species' whitened
    signature per ppm·m·K, with ∂B/∂T at each pixel's own ground temperature. Forward
    selection adds the species with the largest partial F while its Bonferroni-corrected
    p-value is below ``alpha``, the BIC decreases, and its C·ΔT has the sign the object's
    thermal contrast allows (a column cannot be negative; either sign where |ΔT| <
    ``detection.min_contrast_k``); after each addition, species no longer significant are
    dropped (Burr & Hengartner 2006, §4.3). F statistics are deflated by κ_j², the spread of
    object-shaped sums of z_j slid over the line's background, so that spatially coherent
    clutter does not pass for gas.

    Parameters
    ----------
    detection : LwirDetection
        Output of :func:`detect_lwir` for the cube the pixels belong to.
    mask : (downtrack, crosstrack) array_like of bool
        The pixels (a plume object).
    alpha : float, default 1e-3
        Family-wise false-identification rate per step (Bonferroni over the library).
    max_species : int, default 4
        Most species reported.
    smooth_px : int, default 3
        Window of the spatial sum behind the object score (:func:`smoothed_z`).

    Returns
    -------
    LwirIdentification
        Findings with confidence, C·ΔT and, where quantitative and the contrast allows, the
        column in ppm·m; ``detectable=False`` with the reason where the contrast is too small.

    Raises
    ------
    InputError
        If the mask does not match the detection's map shape or holds no valid pixel, or
        ``alpha`` is not in (0, 1).
    """
    return _identify(
        detection, mask, smoothed_z(detection, smooth_px), alpha=alpha, max_species=max_species
    )


def identify_objects(
    detection: LwirDetection,
    labels: ArrayLike,
    *,
    alpha: float = 1e-3,
    max_species: int = 4,
    smooth_px: int = 3,
) -> list[LwirIdentification]:
    """Identify the species of every labelled object.

    Parameters
    ----------
    detection : LwirDetection
        Output of :func:`detect_lwir`.
    labels : (downtrack, crosstrack) array_like of int
        Object labels (0 = background), e.g. from :func:`segment_lwir`.
    alpha, max_species, smooth_px
        See :func:`identify_lwir`.

    Returns
    -------
    list of LwirIdentification
        One per label, in label order.

    Raises
    ------
    InputError
        If the labels do not match the detection's map shape.
    """
    lab = np.asarray(labels)
    if lab.shape != detection.valid.shape:
        raise InputError(
            f"labels shape {lab.shape} does not match the detection maps "
            f"{detection.valid.shape} (line {detection.line_id})"
        )
    zs = smoothed_z(detection, smooth_px)
    return [
        _identify(detection, lab == v, zs, alpha=alpha, max_species=max_species)
        for v in np.unique(lab)
        if v != 0 and bool(np.any((lab == v) & detection.valid))
    ]


def find_lwir_plumes(
    cube: xr.Dataset,
    *,
    pfa: float = 1e-6,
    alpha: float = 1e-3,
    **detect_options: Any,
) -> tuple[LwirDetection, NDArray[np.int32], list[LwirIdentification]]:
    """Run the whole chain on one line: detect, segment, identify; keep objects with a finding.

    Parameters
    ----------
    cube : xarray.Dataset
        LWIR radiance cube (see :func:`detect_lwir`).
    pfa : float, default 1e-6
        Per-pixel false-alarm rate of the segmentation seeds (:func:`segment_lwir`).
    alpha : float, default 1e-3
        Family-wise false-identification rate (:func:`identify_lwir`).
    **detect_options
        Passed to :func:`detect_lwir` (``sensor_altitude_m``, ``air_temperature_k``, …).

    Returns
    -------
    detection : LwirDetection
        Per-pixel maps (score, per-species amounts).
    labels : (downtrack, crosstrack) int32
        Objects from :func:`segment_lwir`, 0 for background.
    plumes : list of LwirIdentification
        Objects with at least one species identified, strongest score first.

    Raises
    ------
    InputError
        As :func:`detect_lwir`.
    """
    detection = detect_lwir(cube, **detect_options)
    labels = segment_lwir(detection, pfa=pfa)
    plumes = [o for o in identify_objects(detection, labels, alpha=alpha) if o.findings]
    plumes.sort(key=lambda o: -o.score)
    return detection, labels, plumes


def _identify(
    detection: LwirDetection, mask: ArrayLike, zs: F64, *, alpha: float, max_species: int
) -> LwirIdentification:
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must lie in (0, 1), got {alpha!r}")
    m = np.asarray(mask, dtype=bool)
    if m.shape != detection.valid.shape:
        raise InputError(
            f"mask shape {m.shape} does not match the detection maps {detection.valid.shape} "
            f"(line {detection.line_id})"
        )
    # Pixels the background does not describe (fires, roofs) would dominate a mean.
    use = m & detection.valid & ~detection.anomalous
    if not use.any():
        use = m & detection.valid
    if not use.any():
        raise InputError(f"no valid pixel in the mask (line {detection.line_id})")
    rows, cols = np.nonzero(use)
    all_rows, all_cols = np.nonzero(m)
    lib = detection.library
    n_sp = lib.absorption.shape[0]

    # Object score: its strongest spatially summed z, as rare as that is in the whole line.
    peak_map = np.where(m, np.max(np.nan_to_num(zs, nan=-np.inf), axis=0), -np.inf)
    peak = np.unravel_index(int(np.argmax(peak_map)), peak_map.shape)
    peak_z = float(peak_map[peak])
    if math.isfinite(peak_z):
        p_pixel = -math.expm1(n_sp * math.log1p(-min(float(stats.norm.sf(peak_z)), 1 - 1e-16)))
        n_tests = int(detection.valid.sum())
        score = math.exp(n_tests * math.log1p(-min(p_pixel, 1 - 1e-16)))
    else:
        score = 0.0

    y, x = _object_regression(detection, rows, cols)
    t_g = detection.ground_temperature_k[rows, cols].astype(np.float64)
    dt_species = np.nanmean(detection.thermal_contrast_k[:, rows, cols].astype(np.float64), 1)
    dt_window = float(np.nanmedian(detection.air_temperature_k - t_g))
    min_dt = detection.min_contrast_k
    sign = np.where(np.abs(dt_species) >= min_dt, np.sign(dt_species), 0.0)
    kappa2 = _object_kappa(detection, use) ** 2

    selected = _stepwise(x, y, sign, kappa2, alpha, max_species)
    findings: list[LwirFinding] = []
    if selected:
        beta, rss, inv = _ols(x[selected].T, y)
        s2 = rss / max(y.size - len(selected), 1)
        for i, j in enumerate(selected):
            f_stat, p_adj = _partial_f(x, y, selected, j, kappa2)
            cdt_sig = math.sqrt(max(float(inv[i, i]) * s2 * kappa2[j], 0.0))
            findings.append(
                _finding(
                    detection,
                    j,
                    float(beta[i]),
                    cdt_sig,
                    float(dt_species[j]),
                    f_stat,
                    score * (1.0 - p_adj),
                    float(np.median(t_g)),
                )
            )
        findings.sort(key=lambda f: -f.f_statistic)
    detectable = abs(dt_window) >= min_dt
    reason = None
    if not detectable:
        reason = (
            f"thermal contrast between air ({detection.air_temperature_k:.1f} K) and ground "
            f"is {dt_window:+.1f} K, below the {min_dt:g} K needed: a gas layer at the "
            "ground's temperature neither absorbs nor emits, so gases here are undetectable"
        )
    return LwirIdentification(
        findings=tuple(findings),
        detectable=detectable,
        reason=reason,
        score=float(score),
        n_pixels=int(rows.size),
        thermal_contrast_k=dt_window,
        air_temperature_k=detection.air_temperature_k,
        rows=tuple(int(v) for v in all_rows),
        cols=tuple(int(v) for v in all_cols),
        peak=(int(peak[0]), int(peak[1])),
    )


def _object_regression(
    detection: LwirDetection, rows: NDArray[np.intp], cols: NDArray[np.intp]
) -> tuple[F64, F64]:
    """Mean whitened residual y (b,) and whitened signatures x (species, b), both × √n."""
    bg = detection._background
    used = detection.used_bands
    wl_u = detection.wavelengths_nm[used]
    tau = np.asarray(detection.atmosphere.transmittance)[used]
    k = detection.library.absorption[:, used]
    t_g = detection.ground_temperature_k[rows, cols].astype(np.float64)
    dbdt = _planck_derivative(wl_u, t_g)  # (n, b)
    y = np.zeros(k.shape[1])
    x = np.zeros(k.shape)
    for g in np.unique(bg.group_of_column[cols]):
        sel = bg.group_of_column[cols] == g
        rr, cc = rows[sel], cols[sel]
        r = bg.radiance[rr, cc].astype(np.float64) - bg.mean[cc]
        lower = bg.cholesky[g]
        q = bg.basis[g]
        y += _project(linalg.solve_triangular(lower, r.sum(axis=0), lower=True), q)
        sig = (k * tau)[:, None, :] * dbdt[sel][None, :, :]  # (J, n_g, b)
        x += _project(linalg.solve_triangular(lower, sig.sum(axis=1).T, lower=True).T, q)
    # Mean over n pixels times √n: unit-variance noise if pixels are independent.
    n = math.sqrt(rows.size)
    return y / n, x / n


def _object_kappa(detection: LwirDetection, mask: Mask) -> F64:
    """Spread κ_j (≥ 1) of object-shaped sums of z_j slid over the line's background.

    Under independent pixels Σ z / √n over the object is unit normal; spatially coherent
    clutter (soil patches, roofs) makes it wider. Sliding the object's exact shape over
    background pixels (nearby rows, all columns, never overlapping the object) measures by
    how much (robustly: 1.4826 × MAD); fewer than 100 placements give κ = 1.
    """
    n_sp = detection.z.shape[0]
    kappa = np.ones(n_sp)
    rows, cols = np.nonzero(mask)
    n = float(rows.size)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    kernel = mask[r0:r1, c0:c1].astype(np.float64)[::-1, ::-1]
    reach = max(200, 5 * (r1 - r0))
    lo, hi = max(0, r0 - reach), min(mask.shape[0], r1 + reach)
    bg = detection.background_mask[lo:hi] & detection.valid[lo:hi] & ~mask[lo:hi]
    if kernel.shape[0] > bg.shape[0] or kernel.shape[1] > bg.shape[1]:
        return kappa
    full = signal.fftconvolve(bg.astype(np.float64), kernel, mode="valid") > n - 0.5
    if int(full.sum()) < 100:
        return kappa
    z = np.nan_to_num(detection.z[:, lo:hi].astype(np.float64), nan=0.0)
    for j in range(n_sp):
        sums = signal.fftconvolve(np.where(bg, z[j], 0.0), kernel, mode="valid")[full]
        sums /= math.sqrt(n)
        kappa[j] = max(1.0, 1.4826 * float(np.median(np.abs(sums - np.median(sums)))))
    return kappa


def _ols(x: F64, y: F64) -> tuple[F64, float, F64]:
    # Least squares y ≈ x β: coefficients, residual sum of squares, (XᵀX)⁻¹.
    inv: F64 = np.asarray(np.linalg.pinv(x.T @ x), dtype=np.float64)
    beta = inv @ (x.T @ y)
    res = y - x @ beta
    return beta, float(res @ res), inv


def _partial_f(x: F64, y: F64, selected: list[int], j: int, kappa2: F64) -> tuple[float, float]:
    # Partial F of species j given the others selected (deflated by κ_j²), and its
    # Bonferroni-corrected p over the candidates it competed with.
    n_sp, nb = x.shape
    _, rss_full, _ = _ols(x[selected].T, y)
    others = [s for s in selected if s != j]
    rss_red = float(y @ y) if not others else _ols(x[others].T, y)[1]
    dof = max(nb - len(selected), 1)
    f_stat = (rss_red - rss_full) / max(rss_full / dof, 1e-300) / kappa2[j]
    p = float(stats.f.sf(f_stat, 1, dof))
    return float(f_stat), min(1.0, p * (n_sp - len(others)))


def _stepwise(x: F64, y: F64, sign: F64, kappa2: F64, alpha: float, max_species: int) -> list[int]:
    """Forward–backward stepwise selection with F-to-enter, BIC and sign constraints."""
    n_sp, nb = x.shape
    selected: list[int] = []
    rss_cur = float(y @ y)
    for _ in range(2 * n_sp):
        best: tuple[float, int] | None = None
        for j in range(n_sp):
            if j in selected or len(selected) >= max_species:
                continue
            trial = [*selected, j]
            beta, rss, _ = _ols(x[trial].T, y)
            dof = nb - len(trial)
            if dof < 1 or rss <= 0 or (sign[j] != 0 and beta[-1] * sign[j] <= 0):
                continue  # a column cannot be negative
            drop = (rss_cur - rss) / kappa2[j]
            f_stat = drop / (rss / dof)
            p_adj = min(1.0, float(stats.f.sf(f_stat, 1, dof)) * (n_sp - len(selected)))
            bic_change = nb * math.log(max(1.0 - drop / rss_cur, 1e-300)) + math.log(nb)
            if p_adj < alpha and bic_change < 0 and (best is None or f_stat > best[0]):
                best = (f_stat, j)
        if best is None:
            break
        selected.append(best[1])
        # Backward: drop species no longer significant or of the wrong sign.
        while len(selected) > 1:
            beta, _, _ = _ols(x[selected].T, y)
            worst: tuple[float, int] | None = None
            for i, j in enumerate(selected):
                f_stat, p_adj = _partial_f(x, y, selected, j, kappa2)
                bad = p_adj >= alpha or (sign[j] != 0 and beta[i] * sign[j] <= 0)
                if bad and (worst is None or f_stat < worst[0]):
                    worst = (f_stat, j)
            if worst is None:
                break
            selected.remove(worst[1])
        rss_cur = _ols(x[selected].T, y)[1]
    return selected


def _finding(
    detection: LwirDetection,
    j: int,
    cdt: float,
    cdt_sigma: float,
    dt: float,
    f_stat: float,
    confidence: float,
    t_ground: float,
) -> LwirFinding:
    lib = detection.library
    min_dt = detection.min_contrast_k
    column: float | None = None
    column_sigma: float | None = None
    reason = lib.reasons[j]
    if not math.isfinite(dt) or abs(dt) < min_dt:
        reason = (
            f"thermal contrast {dt:+.1f} K in its bands is below {min_dt:g} K: "
            "column × contrast only"
        )
    elif lib.quantitative[j]:
        used = detection.used_bands
        wl_u = detection.wavelengths_nm[used]
        tau = np.asarray(detection.atmosphere.transmittance)[used]
        weight = (lib.absorption[j, used] * tau * _planck_derivative(wl_u, t_ground)) ** 2
        wl_eff = np.array([float(weight @ wl_u / max(float(weight.sum()), 1e-300))])
        t_air = detection.air_temperature_k
        factor = float(_radiance_contrast_factor(wl_eff, np.array([t_air - dt]), t_air)[0, 0])
        column = cdt / (dt * factor)
        column_sigma = abs(cdt_sigma / (dt * factor))
    return LwirFinding(
        species=lib.names[j],
        confidence=float(min(1.0, max(0.0, confidence))),
        column_contrast_ppm_m_k=cdt,
        column_contrast_sigma_ppm_m_k=cdt_sigma,
        column_ppm_m=column,
        column_sigma_ppm_m=column_sigma,
        thermal_contrast_k=dt,
        quantitative=lib.quantitative[j],
        reason=reason,
        f_statistic=f_stat,
    )
