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
   spatially coherent clutter does not pass for gas. Surface emissivity features compete with
   the gases as regressors in the same regression (unsigned, deflated by the smallest κ² of
   the gases, Bonferroni counted apart): the reststrahlen lobes of quartz (8.2, 9.1 and
   12.6 µm), clays and feldspars (9.6 µm) and carbonates (11.3 µm), each with its derivative
   in position, and an emissivity tilt across the bands, all entering the radiance as
   τ_a (B(T_g) − L↓) Δε(λ) (shapes from laboratory spectra: Salisbury & D'Aria 1992;
   Baldridge et al. 2009). A departure a surface feature explains as well as a gas enters as
   the surface, and a gas is named only if still significant beside it: a quartz-rich soil,
   whose bands overlap those of isopropanol, acetone, ethyl acetate and chloroform, is not
   named as a solvent, while a solvent plume over it still is. A two-solvent mixture is
   reported as both, a single solvent without spurious extras. The object's score is the
   probability that the background alone would not put a spatially summed peak as strong
   anywhere in the line.
10. **Plume scan** (:func:`scan_lwir_plumes`; what :func:`find_lwir_plumes` runs). A plume's
   signal is spread over many pixels each below the noise; a spatial matched filter sums the
   calibrated z maps with plume-shaped weights: a wedge from a candidate source, column
   ∝ exp(−n²/2σ_y²)/σ_y (mass conservation), σ_y/s from Briggs' open-country spreads, lengths
   6, 18, 54, … pixels up to 1 km (long ones on block-pooled pixels), at every bearing or
   within ± 30° of a given wind. Each pixel's z is weighted by a_ij = ΔT_ij/σ_ij (its expected
   z per ppm·m) and by 1/λ_i, its residual energy no gas explains (a scale-mixture
   background: pixels the model describes badly count less). Each map is standardised by its
   own median and robust spread over background positions (empirical CFAR; each column's z
   first, against striping), each species' best-template map is divided by the factor by
   which its upper tail is heavier than normal away from its maximum (clutter that mimics a
   weak signature: water edges for toluene), and the threshold is Bonferroni over positions,
   templates and species for a target of false candidates per 100 km².
11. **Candidates**: local maxima above the threshold, strongest first, not touching a
   stronger one of the same species nor drawing most of their evidence from one; each is
   identified by the stepwise regression of step 9 on its template-weighted spectrum
   (weighted least squares of a plume of that shape, column ≥ 0), with κ from the scan. A
   candidate whose departure from the background lies mostly outside every gas signature
   (compared with the same template placed over background) is a surface, not gas, and is
   reported without findings; so is one that the surface features of step 9 explain, or
   where gases were selected beside surface features but take up less than twice the energy
   the whole model still leaves beyond the background's (lack of fit: a surface the
   features describe only in part).

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
Seinfeld, J. H. & Pandis, S. N. (2016). Atmospheric Chemistry and Physics, 3rd ed., §18.4
(Gaussian plume); Briggs, G. A. (1973), Diffusion estimation for small emissions, ATDL-106.
Kraut, S., Scharf, L. L. & McWhorter, L. T. (2001). Adaptive subspace detectors. IEEE Trans.
Signal Processing 49(1), 1–16 (scale-mixture background, ACE).
Salisbury, J. W. & D'Aria, D. M. (1992). Emissivity of terrestrial materials in the 8–14 µm
atmospheric window. Remote Sensing of Environment 42, 83–106.
Baldridge, A. M., Hook, S. J., Grove, C. I. & Rivera, G. (2009). The ASTER spectral library
version 2.0. Remote Sensing of Environment 113, 711–715.
Rockwell, B. W. & Hofstra, A. H. (2008). Identification of quartz and carbonate minerals
across northern Nevada using ASTER thermal infrared emissivity data. Geosphere 4, 218–246.
Gandhi, P. P. & Kassam, S. A. (1988). Analysis of CFAR processors in non-homogeneous
background. IEEE Trans. Aerospace and Electronic Systems 24(4), 427–445.
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
from scipy import fft as sfft
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
    "LwirPlumeScan",
    "PlumeKernel",
    "detect_lwir",
    "find_lwir_plumes",
    "identify_lwir",
    "identify_objects",
    "identify_plume_candidates",
    "lwir_library",
    "plume_kernel",
    "scan_lwir_plumes",
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
_EARTH_RADIUS_M: Final = 6_371_008.8  # mean radius (IUGG)
# Plume templates (scan_lwir_plumes): crosswind spread at the source (the pixel footprint),
# shortest length, the length a pooled template spans on its pooled grid, pixels.
_KERNEL_SIGMA0_PX: Final = 0.7
_SHORT_LENGTH_PX: Final = 6.0
_POOLED_LENGTH_PX: Final = 18.0
_NOMINAL_PIXEL_M: Final = 10.0  # pixel size assumed without georeferencing
_MIN_COLUMN_ROWS: Final = 20
_CFAR_SAMPLES: Final = 8_000
_MIN_CFAR_SAMPLES: Final = 200
_MISFIT_PLACEMENTS: Final = 40
_MISFIT_Z: Final = 1.645  # one-sided 5 % of the background placements' spread
_TAIL_LEVELS: Final = (4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0)
_TAIL_MIN_COUNT: Final = 10


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
    residual : (downtrack, crosstrack) float32
        Whitened residual energy that no gas signature explains, over its median on the
        background (≈ 1 for background pixels, large for surfaces the background model does
        not describe). Spatial plume filters weight pixels by its inverse.
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
    pixel_axes_m : (2, 2) float64 or None
        Ground displacement (east, north), m, of one step down the track (row 0) and one step
        across it (row 1), from the cube's ``lat``/``lon``; None when the cube is not
        georeferenced.
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
    residual: F32
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
    pixel_axes_m: F64 | None = None

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


def _pixel_axes(cube: xr.Dataset) -> F64 | None:
    """Ground step (east, north), m, per row and per column, from ``lat``/``lon`` (or None)."""
    if "lat" not in cube.variables or "lon" not in cube.variables:
        return None
    lat = np.radians(np.asarray(cube["lat"].values, dtype=np.float64))
    lon = np.radians(np.asarray(cube["lon"].values, dtype=np.float64))
    if lat.ndim != 2 or min(lat.shape) < 2 or not np.isfinite(lat).any():
        return None
    # Local equirectangular frame; a line spans a few km, where its error is negligible.
    cos_lat = math.cos(float(np.nanmedian(lat)))
    steps = []
    for axis in (0, 1):
        d_north = np.diff(lat, axis=axis) * _EARTH_RADIUS_M
        d_east = np.diff(lon, axis=axis) * _EARTH_RADIUS_M * cos_lat
        ok = np.isfinite(d_north) & np.isfinite(d_east)
        if not ok.any():
            return None
        steps.append([float(np.median(d_east[ok])), float(np.median(d_north[ok]))])
    axes = np.asarray(steps, dtype=np.float64)
    if not abs(float(np.linalg.det(axes))) > 1e-6:
        return None
    return axes


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
    residual = np.full((n_rows, n_cols), np.nan, dtype=np.float32)
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
        left_med = float(np.median(left[keep[ok]]))
        anomalous[rows, cc] = left > rx_limit * left_med
        residual[rows, cc] = left / max(left_med, 1e-300)
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
        residual=residual,
        anomalous=anomalous,
        background_mask=background,
        ground_temperature_k=t_ground.astype(np.float32),
        thermal_contrast_k=contrast,
        air_temperature_k=t_air,
        air_temperature_source=air_source,
        min_contrast_k=float(min_contrast_k),
        pfa=float(pfa),
        atmosphere=atmosphere,
        pixel_axes_m=_pixel_axes(cube),
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
# Surface emissivity features entered as regressors beside the gases in identification (module
# notes, step 9): reststrahlen bands of common soil minerals, as emissivity minima (centre µm,
# FWHM cm⁻¹) of Gaussian shape in wavenumber. Positions from laboratory emissivity spectra
# (Salisbury & D'Aria 1992; the ASTER spectral library, Baldridge et al. 2009; the quartz
# doublet that ASTER's quartz index uses, Rockwell & Hofstra 2008); widths are the typical
# 0.3–0.7 µm of a reststrahlen lobe, broader than a vapour band. A lobe's position moves by
# ~0.1 µm with composition and grain size, well inside these widths.
_SURFACE_BANDS: Final[tuple[tuple[str, float, float], ...]] = (
    ("quartz 8.2 µm reststrahlen lobe", 8.25, 70.0),  # Si–O asymmetric stretch, short lobe
    ("quartz 9.1 µm reststrahlen lobe", 9.15, 60.0),  # Si–O asymmetric stretch, long lobe
    ("quartz 12.6 µm doublet", 12.65, 30.0),  # Si–O symmetric stretch (12.5/12.8 µm)
    ("clay/feldspar 9.6 µm reststrahlen", 9.6, 80.0),  # kaolinite, montmorillonite, feldspars
    ("carbonate 11.3 µm band", 11.27, 25.0),  # calcite / dolomite CO3 out-of-plane bend
)


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


# --- Spatial matched filter for plumes ------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PlumeKernel:
    """A plume-shaped spatial template: a wedge widening downwind from a source.

    The mean column of a Gaussian plume at downwind distance s and crosswind offset n is
    ∝ exp(−n²/2σ_y²)/σ_y (Seinfeld & Pandis 2016, §18.4, integrated over height): the mass
    flux through every cross-section is the same, so the column falls as the plume widens.
    Here σ_y(s) = √(σ₀² + (a s)²), with ``opening`` a = σ_y/s (Briggs 1973 open-country
    a_y: 0.04 for class F to 0.22 for class A) and σ₀ the pixel footprint.

    Attributes
    ----------
    bearing_deg : float
        Direction the plume travels towards, compass degrees (pixel-grid degrees, rows
        increasing = 0°, when the cube is not georeferenced).
    length_px : float
        Length downwind, full-resolution pixels.
    opening : float
        σ_y / s, dimensionless.
    pool : int
        Side of the pixel blocks the template is applied to (1 = full resolution).
    weights : (h, w) float64
        Template on the pooled grid, source at the centre element; odd sides.
    """

    bearing_deg: float
    length_px: float
    opening: float
    pool: int
    weights: F64


@dataclass(frozen=True, eq=False)
class LwirPlumeScan:
    """Plume-shaped matched filter over a line: the best template at each candidate source.

    Attributes
    ----------
    statistic : (downtrack, crosstrack) float32
        Largest standardised filter output over templates and species for a source at the
        pixel (standard normal over the background for each template and species);
        −inf where no template was evaluated.
    species_index : (downtrack, crosstrack) int16
        Species (index into ``detection.species``) that gave ``statistic``; −1 where none.
    kernel_index : (downtrack, crosstrack) int32
        Template (index into ``kernels``) that gave ``statistic``; −1 where none.
    kernels : tuple of PlumeKernel
        Templates tried.
    scale : (species, kernels) float64
        Robust spread (1.4826 × MAD) over the background of each raw filter output, which
        would be 1 for spatially independent pixels: κ of spatially coherent clutter.
    tail_scale : (species,) float64
        Factor (≥ 1) each species' statistic was divided by, because its upper tail over
        the line is heavier than the normal model gives (:func:`scan_lwir_plumes`).
    threshold : float
        Threshold on ``statistic`` for ``false_alarms_per_100_km2``.
    p_test : float
        False-alarm probability of one test (one source position, template and species).
    n_tests : float
        Tests in the line: source positions × templates × species (pooled templates count
        their pooled positions).
    false_alarms_per_100_km2 : float
        Target rate of false plume candidates.
    pixel_size_m : float or None
        Ground sampling distance used for the area, m (None: not georeferenced, rates per
        10⁶ pixels instead).
    wind : (float, float) or None
        Wind speed (m/s) and direction it blows from (compass degrees) the templates were
        aligned with; None when every direction was scanned.
    """

    statistic: F32
    species_index: NDArray[np.int16]
    kernel_index: NDArray[np.int32]
    kernels: tuple[PlumeKernel, ...]
    scale: F64
    tail_scale: F64
    threshold: float
    p_test: float
    n_tests: float
    false_alarms_per_100_km2: float
    pixel_size_m: float | None
    wind: tuple[float, float] | None
    _evidence: F32 | None = None  # (species, downtrack, crosstrack) a z / λ per pixel


def plume_kernel(
    bearing_deg: float,
    length_px: float,
    opening: float,
    *,
    pixel_axes: ArrayLike | None = None,
    sigma0_px: float = _KERNEL_SIGMA0_PX,
) -> F64:
    """Plume template on a pixel grid, source at the centre element.

    Parameters
    ----------
    bearing_deg : float
        Direction the plume travels towards, compass degrees.
    length_px : float
        Length downwind, pixels (> 0).
    opening : float
        σ_y / s, the plume's spread per distance downwind (> 0).
    pixel_axes : (2, 2) array_like, optional
        Ground displacement (east, north) of one row step and of one column step, any unit
        (only directions and the ratio of lengths count); default square pixels with rows
        towards the north and columns towards the east.
    sigma0_px : float, default 0.7
        Crosswind spread at the source, pixels (the pixel footprint).

    Returns
    -------
    (h, w) float64
        Column shape ∝ exp(−n²/2σ_y²)/σ_y inside 0 ≤ s ≤ ``length_px`` (tapered upwind of
        the source over σ₀); odd sides; values below 1 % of the peak set to 0.

    Raises
    ------
    InputError
        If ``length_px``, ``opening`` or ``sigma0_px`` is not positive, or the axes are
        degenerate.

    Examples
    --------
    >>> k = plume_kernel(90.0, 6.0, 0.2)  # towards the east: along the columns
    >>> k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1
    True
    >>> c = k.shape[0] // 2
    >>> bool(k[c, c + 3] > 0.0 and k[c, c - 3] == 0.0)
    True
    """
    for name, value in (("length_px", length_px), ("opening", opening), ("sigma0_px", sigma0_px)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{name} must be a finite number > 0, got {value!r}")
    axes = np.eye(2)[::-1] if pixel_axes is None else np.asarray(pixel_axes, dtype=np.float64)
    det = float(np.linalg.det(axes)) if axes.shape == (2, 2) else 0.0
    if not (math.isfinite(det) and abs(det) > 1e-12):
        raise InputError(f"pixel_axes must be a non-degenerate (2, 2) array, got {axes!r}")
    unit = axes / math.sqrt(abs(det))
    theta = math.radians(bearing_deg)
    along = np.array([math.sin(theta), math.cos(theta)])
    across = np.array([along[1], -along[0]])
    reach = math.hypot(length_px, 3.0 * math.hypot(sigma0_px, opening * length_px))
    step = float(min(np.linalg.norm(unit[0]), np.linalg.norm(unit[1])))
    half = math.ceil(reach / step) + 1
    r, c = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    east = r * unit[0, 0] + c * unit[1, 0]
    north = r * unit[0, 1] + c * unit[1, 1]
    s = east * along[0] + north * along[1]
    n = east * across[0] + north * across[1]
    sigma = np.sqrt(sigma0_px**2 + (opening * np.maximum(s, 0.0)) ** 2)
    k = np.exp(-0.5 * (n / sigma) ** 2) / sigma
    k *= np.where(s < 0.0, np.exp(-0.5 * (s / sigma0_px) ** 2), 1.0) * (s <= length_px)
    k[k < 0.01 * k.max()] = 0.0
    nz_r, nz_c = np.nonzero(k)
    hr = int(max(half - nz_r.min(), nz_r.max() - half))
    hc = int(max(half - nz_c.min(), nz_c.max() - half))
    out: F64 = k[half - hr : half + hr + 1, half - hc : half + hc + 1]
    return out


def _plume_kernels(
    axes: F64,
    lengths_px: Sequence[float],
    openings: Sequence[float],
    bearings: tuple[float, float] | None,
) -> list[PlumeKernel]:
    """Templates: each length and opening, at bearings dense enough for its angular width.

    Adjacent bearings are 1.5 × the template's angular half-width apart (the larger of the
    opening and 1/length): a plume between two of them keeps ≥ ~85 % of its filter output.
    Long templates are applied to block-pooled pixels, where they span ~``_POOLED_LENGTH_PX``
    pooled pixels (a plume's width grows with its length, so blocks lose little).
    """
    out: list[PlumeKernel] = []
    for length in lengths_px:
        pool = max(1, int(length // _POOLED_LENGTH_PX))
        for opening in openings if length > _SHORT_LENGTH_PX else openings[-1:]:
            half_width = max(opening, 1.0 / length)
            if bearings is None:
                n = max(8, math.ceil(2.0 * math.pi / (1.5 * half_width)))
                angles = [360.0 * i / n for i in range(n)]
            else:
                centre, spread = bearings
                n = max(1, math.ceil(2.0 * math.radians(spread) / (1.5 * half_width)))
                angles = [centre + spread * (2.0 * i / n - 1.0) for i in range(n + 1)]
            for bearing in angles:
                weights = plume_kernel(bearing, length / pool, opening, pixel_axes=axes)
                out.append(PlumeKernel(bearing % 360.0, float(length), opening, pool, weights))
    return out


def _pool(a: F64, f: int) -> F64:
    """Sum over f × f blocks (edges padded with zeros)."""
    if f == 1:
        return a
    r, c = a.shape
    pr, pc = -r % f, -c % f
    padded = np.pad(a, ((0, pr), (0, pc)))
    out: F64 = padded.reshape((r + pr) // f, f, (c + pc) // f, f).sum(axis=(1, 3))
    return out


def _column_standardised_z(detection: LwirDetection) -> tuple[F64, Mask]:
    """Calibrated z with each column's median and robust spread over its rows taken out.

    Residual gains and offsets of a pushbroom column (striping) make a column's z drift
    together; a plume-shaped sum along the track would add it up.
    """
    z = detection.z.astype(np.float64)
    ok = np.isfinite(z) & detection.valid[None] & ~detection.anomalous[None]
    bg = ok & detection.background_mask[None]
    enough = bg.sum(axis=1) >= _MIN_COLUMN_ROWS  # (J, C)
    # Columns with too few background rows keep their z (a dummy row of 0 avoids all-NaN).
    zs = np.where(bg & enough[:, None, :], z, np.nan)
    zs[:, 0][~enough] = 0.0
    med = np.where(enough, np.nanmedian(zs, axis=1), 0.0)
    mad = np.where(enough, 1.4826 * np.nanmedian(np.abs(zs - med[:, None]), axis=1), 1.0)
    mad = np.where(mad > 0.0, mad, 1.0)
    out: F64 = np.where(ok, (z - med[:, None]) / mad[:, None], 0.0)
    return out, ok


def _tail_scale(best: F32, n_kernels: int, reach_px: float) -> float:
    """Factor by which a species' best-template map has a heavier upper tail than normal.

    Per source position the map is the largest of ``n_kernels`` standardised outputs, so
    that P(> t) ≤ n_kernels Φ̄(t) if each is normal. At each level t = 4, 5, … with at
    least ``_TAIL_MIN_COUNT`` positions above it, the rate observed is matched to a normal
    of spread c_t: c_t = t / Φ̄⁻¹(rate / n_kernels); the factor is the largest c_t, floored
    at 1 (an empirical CFAR on the tail, not only on the core, of the score map). Positions
    within ``reach_px`` (the longest template) of the line's maximum are left out, so that
    one plume does not raise its own threshold; clutter that mimics a species (the edges of
    a river, ponds) makes many patches over the line.
    """
    finite = np.isfinite(best)
    if not finite.any():
        return 1.0
    top = np.unravel_index(int(np.argmax(np.where(finite, best, -np.inf))), best.shape)
    rows, cols = np.ogrid[: best.shape[0], : best.shape[1]]
    finite &= (rows - top[0]) ** 2 + (cols - top[1]) ** 2 > reach_px**2
    n = int(finite.sum())
    if n == 0:
        return 1.0
    factor = 1.0
    for level in _TAIL_LEVELS:
        count = int(np.sum(finite & (best > level)))
        if count < _TAIL_MIN_COUNT:
            break
        quantile = float(stats.norm.isf(min(count / n / n_kernels, 0.5)))
        factor = max(factor, level / max(quantile, 1e-3))
    return factor


def scan_lwir_plumes(
    detection: LwirDetection,
    *,
    wind: tuple[float, float] | None = None,
    wind_uncertainty_deg: float = 30.0,
    openings: Sequence[float] = (0.1, 0.25),
    max_length_m: float = 1000.0,
    false_alarms_per_100_km2: float = 0.1,
    pixel_size_m: float | None = None,
) -> LwirPlumeScan:
    """Plume-shaped spatial matched filter on the calibrated per-species z maps.

    A plume spreads its signal over many pixels that are each below the noise; summing them
    with the plume's shape as weights recovers it (the spatial part of a space-time matched
    filter; Manolakis et al. 2014, §"detection"; the plume shape of Seinfeld & Pandis 2016,
    §18.4). For a source at pixel x₀, template K (:class:`PlumeKernel`) and species j, with
    z_ij the calibrated z of pixel i, a_ij = ΔT_ij / σ_ij its expected z per ppm·m and λ_i its
    residual energy (``detection.residual``, ≥ 0.5: pixels the background model describes
    badly count less, as in a scale-mixture background),

        T = Σ_i K(i − x₀) a_ij z_ij / λ_i  /  √(Σ_i K(i − x₀)² a_ij² / λ_i) ,

    standard normal for spatially independent background pixels. Each map is standardised
    by its own median and robust spread over background positions (an empirical CFAR: the
    spread is κ, the inflation by spatially coherent clutter), after each column's z is
    standardised over its rows (column striping). Templates: lengths from 6 pixels growing
    ×3 up to ``max_length_m``, each ``openings``, at every bearing (no wind) or within
    ± ``wind_uncertainty_deg`` of the downwind direction. The threshold gives
    ``false_alarms_per_100_km2`` false candidates with a Bonferroni count of positions,
    templates and species (conservative: neighbouring tests are correlated).

    Parameters
    ----------
    detection : LwirDetection
        Output of :func:`detect_lwir`.
    wind : (float, float), optional
        Wind speed, m/s, and the direction it blows from, compass degrees (a weather model,
        a sounding, the aircraft's own estimate). Needs a georeferenced cube.
    wind_uncertainty_deg : float, default 30
        Half-width of the band of bearings tried around the downwind direction, degrees.
    openings : sequence of float, default (0.1, 0.25)
        σ_y / s of the templates: Briggs a_y for slightly unstable (C) and very unstable (A)
        air, when labs are flown by day (a narrower instantaneous plume meanders within).
    max_length_m : float, default 1000
        Longest template, m (pixels without georeferencing are taken as 10 m).
    false_alarms_per_100_km2 : float, default 0.1
        Target rate of false candidates (positions × templates × species, Bonferroni) under
        the normal model; the default sits 10× below the goal of one false object per
        100 km² because clutter tails are heavier than normal far out (measured on
        development lines, ``bench/lwir_pd.py``).
    pixel_size_m : float, optional
        Ground sampling distance, m; default from the cube's ``lat``/``lon``. Without either,
        the rate is per 10⁶ pixels.

    Returns
    -------
    LwirPlumeScan
        Best standardised statistic per source pixel, with its species and template.

    Raises
    ------
    InputError
        If a wind is given for a cube that is not georeferenced, or a parameter is out of
        range.

    Examples
    --------
    >>> import numpy as np
    >>> from vigia.sense.cube import make_cube
    >>> from vigia.sense.thermal import planck_radiance
    >>> wl = np.linspace(7500.0, 12000.0, 64)
    >>> rng = np.random.default_rng(0)
    >>> t = 300.0 + rng.normal(0.0, 2.0, (60, 40))
    >>> rad = planck_radiance(wl, t) * 0.7 + 2.5 + rng.normal(0.0, 0.02, (60, 40, 64))
    >>> cube = make_cube(rad, wl, fwhm=np.full(64, 70.0), units="W m-2 sr-1 um-1",
    ...                  sensor="lwir", flight_line_id="L1")
    >>> det = detect_lwir(cube, species=["acetone"], air_temperature_k=295.0)
    >>> scan = scan_lwir_plumes(det, max_length_m=200.0)
    >>> bool(np.nanmax(scan.statistic) < scan.threshold)
    True
    """
    if not (math.isfinite(false_alarms_per_100_km2) and false_alarms_per_100_km2 > 0):
        raise InputError(f"false_alarms_per_100_km2 must be > 0, got {false_alarms_per_100_km2!r}")
    if not (math.isfinite(max_length_m) and max_length_m > 0):
        raise InputError(f"max_length_m must be > 0, got {max_length_m!r}")
    if not (math.isfinite(wind_uncertainty_deg) and 0.0 <= wind_uncertainty_deg <= 180.0):
        raise InputError(f"wind_uncertainty_deg must lie in [0, 180], got {wind_uncertainty_deg!r}")
    if not openings or not all(math.isfinite(o) and 0.0 < o < 2.0 for o in openings):
        raise InputError(f"openings must be numbers in (0, 2), got {openings!r}")
    axes = detection.pixel_axes_m
    bearings: tuple[float, float] | None = None
    if wind is not None:
        speed, from_deg = (float(v) for v in wind)
        if not (math.isfinite(speed) and speed >= 0 and math.isfinite(from_deg)):
            raise InputError(f"wind must be (speed m/s ≥ 0, from-direction deg), got {wind!r}")
        if axes is None:
            raise InputError(
                f"line {detection.line_id}: a wind direction needs a georeferenced cube "
                "(lat/lon), to know which way the pixels face"
            )
        bearings = ((from_deg + 180.0) % 360.0, wind_uncertainty_deg)
    gsd = pixel_size_m
    if gsd is None and axes is not None:
        gsd = math.sqrt(abs(float(np.linalg.det(axes))))
    if gsd is not None and not (math.isfinite(gsd) and gsd > 0):
        raise InputError(f"pixel_size_m must be > 0, got {gsd!r}")
    grid = axes if axes is not None else np.eye(2)[::-1]
    n_rows, n_cols = detection.valid.shape
    longest = min(max_length_m / (gsd or _NOMINAL_PIXEL_M), float(max(n_rows, n_cols)))
    lengths = [_SHORT_LENGTH_PX]
    while lengths[-1] * 3.0 <= longest:
        lengths.append(lengths[-1] * 3.0)
    if longest > lengths[-1] * 1.5:
        lengths.append(longest)
    kernels = _plume_kernels(grid, lengths, tuple(sorted(openings)), bearings)

    z, ok = _column_standardised_z(detection)
    lam = np.clip(np.nan_to_num(detection.residual.astype(np.float64), nan=1.0), 0.5, None)
    contrast = np.nan_to_num(detection.thermal_contrast_k.astype(np.float64), nan=0.0)
    sigma = np.nan_to_num(detection.column_contrast_sigma.astype(np.float64), nan=0.0)
    n_sp = z.shape[0]
    best = np.full((n_sp, n_rows, n_cols), -np.inf, dtype=np.float32)
    best_k = np.full((n_sp, n_rows, n_cols), -1, dtype=np.int32)
    evidence = np.zeros((n_sp, n_rows, n_cols), dtype=np.float32)
    scale = np.ones((n_sp, len(kernels)))
    background = detection.background_mask & detection.valid & ~detection.anomalous
    rng = np.random.default_rng(0)  # which background positions standardise: fixed, not data
    positions = 0.0
    for f in sorted({k.pool for k in kernels}):
        members = [i for i, k in enumerate(kernels) if k.pool == f]
        shape_f = _pool(np.zeros((n_rows, n_cols)), f).shape
        positions += len(members) * shape_f[0] * shape_f[1]
        half = max(max(kernels[i].weights.shape) for i in members) // 2
        fft_shape = (
            sfft.next_fast_len(shape_f[0] + 2 * half, real=True),
            sfft.next_fast_len(shape_f[1] + 2 * half, real=True),
        )
        spectra = []
        for i in members:
            w = kernels[i].weights[::-1, ::-1]
            spectra.append((sfft.rfft2(w, fft_shape), sfft.rfft2(w * w, fft_shape), w.shape))
        bg_f = _pool(background.astype(np.float64), f) >= 0.5 * f * f
        bg_idx = np.flatnonzero(bg_f)
        if bg_idx.size < _MIN_CFAR_SAMPLES:
            continue
        sample = rng.choice(bg_idx, min(bg_idx.size, _CFAR_SAMPLES), replace=False)
        for j in range(n_sp):
            a = np.zeros((n_rows, n_cols))
            np.divide(contrast[j], sigma[j], out=a, where=ok[j] & (sigma[j] > 0))
            evidence[j] = a * z[j] / lam
            num_f = sfft.rfft2(_pool(a * z[j] / lam, f), fft_shape)
            den_f = sfft.rfft2(_pool(a * a / lam, f), fft_shape)
            best_f = np.full(shape_f, -np.inf, dtype=np.float32)
            arg_f = np.full(shape_f, -1, dtype=np.int32)
            for i, (k_f, k2_f, (kh, kw)) in zip(members, spectra, strict=True):
                crop = (slice(kh // 2, kh // 2 + shape_f[0]), slice(kw // 2, kw // 2 + shape_f[1]))
                num = sfft.irfft2(num_f * k_f, fft_shape)[crop]
                den = sfft.irfft2(den_f * k2_f, fft_shape)[crop]
                # Enough of the template on judged pixels: a quarter of its typical energy.
                den_s = den.ravel()[sample]
                enough_s = den_s > 0.25 * float(np.median(den_s))
                if int(enough_s.sum()) < _MIN_CFAR_SAMPLES:
                    continue
                limit = 0.25 * float(np.median(den_s))
                t = num / np.sqrt(np.maximum(den, limit))
                ref = t.ravel()[sample][enough_s]
                med = float(np.median(ref))
                mad = 1.4826 * float(np.median(np.abs(ref - med)))
                scale[j, i] = mad if mad > 0 else 1.0
                t = ((t - med) / scale[j, i]).astype(np.float32)
                t[den <= limit] = -np.inf
                better = t > best_f
                np.copyto(best_f, t, where=better)
                np.copyto(arg_f, np.int32(i), where=better)
            if f > 1:
                best_f = np.repeat(np.repeat(best_f, f, axis=0), f, axis=1)[:n_rows, :n_cols]
                arg_f = np.repeat(np.repeat(arg_f, f, axis=0), f, axis=1)[:n_rows, :n_cols]
            better = best_f > best[j]
            np.copyto(best[j], best_f, where=better)
            np.copyto(best_k[j], arg_f, where=better)
    best[:, ~detection.valid] = -np.inf
    tail = np.array([_tail_scale(best[j], len(kernels), lengths[-1]) for j in range(n_sp)])
    scaled = best / tail[:, None, None].astype(np.float32)
    best_sp = np.argmax(scaled, axis=0).astype(np.int16)
    statistic = np.take_along_axis(scaled, best_sp[None].astype(np.intp), axis=0)[0]
    kernel_index = np.take_along_axis(best_k, best_sp[None].astype(np.intp), axis=0)[0]
    none = ~np.isfinite(statistic)
    best_sp[none] = -1
    kernel_index[none] = -1
    n_tests = positions * n_sp
    # Tests per 100 km² (per 10⁶ pixels without georeferencing): Bonferroni over them.
    tests_per_100_km2 = n_tests / (n_rows * n_cols) * 1e8 / ((gsd or _NOMINAL_PIXEL_M) ** 2)
    p_test = min(0.5, false_alarms_per_100_km2 / tests_per_100_km2)
    return LwirPlumeScan(
        statistic=statistic.astype(np.float32),
        species_index=best_sp,
        kernel_index=kernel_index.astype(np.int32),
        kernels=tuple(kernels),
        scale=scale,
        tail_scale=tail,
        threshold=float(stats.norm.isf(p_test)),
        p_test=p_test,
        n_tests=float(n_tests),
        false_alarms_per_100_km2=float(false_alarms_per_100_km2),
        pixel_size_m=gsd,
        wind=None if wind is None else (float(wind[0]), float(wind[1])),
        _evidence=evidence,
    )


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
        (downtrack, crosstrack) of the object's strongest spatially summed z; for a plume
        candidate of :func:`scan_lwir_plumes`, its source pixel.
    kernel : PlumeKernel or None
        The plume template of a scan candidate (its bearing, length and opening); None for
        an object given as a mask.
    scan_statistic : float or None
        The candidate's standardised scan statistic (compare with
        ``LwirPlumeScan.threshold``); None for an object given as a mask.
    misfit : float or None
        For a scan candidate: how unlike the background its template-weighted spectrum is
        in the directions no gas signature takes, in robust standard units of the same
        template's background placements (≈ N(0, 1) for gas over background); None for an
        object given as a mask.
    template : tuple of float or None
        For a scan candidate: the template's weight at each of ``rows``, ``cols`` (column
        shape, arbitrary scale); None for an object given as a mask.
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
    kernel: PlumeKernel | None = None
    scan_statistic: float | None = None
    misfit: float | None = None
    template: tuple[float, ...] | None = None

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
    alpha: float = 1e-3,
    wind: tuple[float, float] | None = None,
    wind_uncertainty_deg: float = 30.0,
    false_alarms_per_100_km2: float = 0.1,
    max_objects: int = 20,
    pfa: float | None = None,
    **detect_options: Any,
) -> tuple[LwirDetection, NDArray[np.int32], list[LwirIdentification]]:
    """Run the whole chain on one line: detect, scan for plumes, identify; keep named ones.

    :func:`detect_lwir` gives calibrated per-pixel z maps; :func:`scan_lwir_plumes` sums them
    with plume-shaped templates and thresholds the result for a false-alarm rate per area;
    :func:`identify_plume_candidates` runs the stepwise regression over each candidate's
    template-weighted spectrum. Objects with no species identified are dropped.

    Parameters
    ----------
    cube : xarray.Dataset
        LWIR radiance cube (see :func:`detect_lwir`).
    alpha : float, default 1e-3
        Family-wise false-identification rate (:func:`identify_lwir`).
    wind : (float, float), optional
        Wind speed, m/s, and the direction it blows from, compass degrees; without it every
        direction is scanned (:func:`scan_lwir_plumes`).
    wind_uncertainty_deg : float, default 30
        Half-width of the bearings tried around the downwind direction, degrees.
    false_alarms_per_100_km2 : float, default 0.1
        Target rate of false plume candidates under the normal model
        (:func:`scan_lwir_plumes`).
    max_objects : int, default 20
        Most candidates identified per line, strongest first.
    pfa : float, optional
        Ignored; kept for callers of the earlier per-pixel chain (:func:`segment_lwir`).
    **detect_options
        Passed to :func:`detect_lwir` (``sensor_altitude_m``, ``air_temperature_k``, …).

    Returns
    -------
    detection : LwirDetection
        Per-pixel maps (score, per-species amounts).
    labels : (downtrack, crosstrack) int32
        Footprints of the plumes returned (1, 2, … in their order), 0 elsewhere; where two
        overlap the stronger keeps the pixel.
    plumes : list of LwirIdentification
        Candidates with at least one species identified, strongest score first.

    Raises
    ------
    InputError
        As :func:`detect_lwir` and :func:`scan_lwir_plumes`.
    """
    del pfa
    detection = detect_lwir(cube, **detect_options)
    scan = scan_lwir_plumes(
        detection,
        wind=wind,
        wind_uncertainty_deg=wind_uncertainty_deg,
        false_alarms_per_100_km2=false_alarms_per_100_km2,
    )
    plumes = [
        o
        for o in identify_plume_candidates(detection, scan, alpha=alpha, max_objects=max_objects)
        if o.findings
    ]
    plumes.sort(key=lambda o: (-o.score, -(o.scan_statistic or 0.0)))
    labels = np.zeros(detection.valid.shape, dtype=np.int32)
    for i, o in reversed(list(enumerate(plumes))):
        labels[np.asarray(o.rows, dtype=np.intp), np.asarray(o.cols, dtype=np.intp)] = i + 1
    return detection, labels, plumes


def _place(kernel: PlumeKernel, row: int, col: int, shape: tuple[int, int]) -> F64:
    """Full-resolution weights of a template whose source is at pixel (row, col)."""
    f = kernel.pool
    w = kernel.weights if f == 1 else np.kron(kernel.weights, np.ones((f, f)))
    kh, kw = kernel.weights.shape
    top = (row // f - kh // 2) * f
    left = (col // f - kw // 2) * f
    out = np.zeros(shape)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + w.shape[0], shape[0]), min(left + w.shape[1], shape[1])
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = w[r0 - top : r1 - top, c0 - left : c1 - left]
    return out


def identify_plume_candidates(
    detection: LwirDetection,
    scan: LwirPlumeScan,
    *,
    alpha: float = 1e-3,
    max_species: int = 4,
    max_objects: int = 20,
) -> list[LwirIdentification]:
    """Identify the species at each plume candidate of a scan.

    Candidates are the local maxima of ``scan.statistic`` above ``scan.threshold``,
    strongest first; a candidate whose source lies inside the footprint of a stronger one is
    the same plume and is skipped. For each, the template K placed at its source weights a
    stepwise regression (as :func:`identify_lwir`) of

        y = Σ_i K_i ΔT_i r̃_i / λ_i  on  x_j = Σ_i K_i ΔT_i · K_i ΔT_ij s̃_ij / λ_i

    (ΔT_i the window contrast, ΔT_ij species j's, λ_i the residual energy, r̃ and s̃ the
    whitened, interference-projected residual and signature): the weighted least-squares
    fit of a plume of that shape whose column scale β_j (ppm·m) must be positive. F
    statistics are deflated by κ_j², the spread of that template's sums over the line's
    background (``scan.scale``). The object's score is the probability that the background
    alone would not reach the candidate's statistic anywhere in the scan (Šidák over
    ``scan.n_tests``).

    Parameters
    ----------
    detection : LwirDetection
        Output of :func:`detect_lwir`.
    scan : LwirPlumeScan
        Output of :func:`scan_lwir_plumes` for ``detection``.
    alpha : float, default 1e-3
        Family-wise false-identification rate per step (Bonferroni over the library).
    max_species : int, default 4
        Most species reported per candidate.
    max_objects : int, default 20
        Most candidates identified.

    Returns
    -------
    list of LwirIdentification
        One per candidate, strongest first; the object's pixels are the template's
        footprint (valid pixels), ``peak`` its source and ``kernel`` its template.

    Raises
    ------
    InputError
        If the scan does not match the detection's map shape, or ``alpha`` is not in (0, 1).
    """
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must lie in (0, 1), got {alpha!r}")
    shape = detection.valid.shape
    if scan.statistic.shape != shape:
        raise InputError(
            f"scan shape {scan.statistic.shape} does not match the detection maps {shape} "
            f"(line {detection.line_id})"
        )
    stat = np.where(np.isfinite(scan.statistic), scan.statistic, -np.inf).astype(np.float64)
    peaks = (stat >= scan.threshold) & (stat >= ndimage.maximum_filter(stat, size=3))
    order = np.flatnonzero(peaks.ravel())
    order = order[np.argsort(-stat.ravel()[order], kind="stable")]
    taken = np.zeros(shape, dtype=bool)
    taken_by = np.zeros((len(detection.species), *shape), dtype=bool)
    out: list[LwirIdentification] = []
    for flat in order:
        if len(out) >= max_objects:
            break
        r, c = (int(v) for v in np.unravel_index(int(flat), shape))
        if taken[r, c]:
            continue
        k_idx = int(scan.kernel_index[r, c])
        kernel = scan.kernels[k_idx]
        weights = _place(kernel, r, c, shape)
        footprint = (weights > 0.0) & detection.valid
        if not footprint.any():
            continue
        species = int(scan.species_index[r, c])
        if np.any(taken_by[species] & (weights > 0.0)):
            continue  # touches a stronger candidate of the same species: the same plume
        if scan._evidence is not None:
            # Most of its evidence already in a stronger candidate: the same plume (or
            # the same clutter) seen from another source position.
            e = np.maximum(weights * scan._evidence[species], 0.0)
            if float(e[taken].sum()) >= 0.5 * float(e.sum()):
                continue
        taken |= weights > 0.0
        taken_by[species] |= weights > 0.0
        p_test = min(float(stats.norm.sf(stat[r, c])), 1.0 - 1e-16)
        score = math.exp(scan.n_tests * math.log1p(-p_test))
        kappa = np.maximum(scan.scale[:, k_idx], 1.0)
        out.append(
            _identify_weighted(
                detection,
                footprint,
                weights,
                kappa,
                score=score,
                source=(r, c),
                alpha=alpha,
                max_species=max_species,
                kernel=kernel,
                statistic=float(stat[r, c]),
            )
        )
    return out


def _template_terms(
    detection: LwirDetection, weights: F64, rows: NDArray[np.intp], cols: NDArray[np.intp]
) -> tuple[F64, F64]:
    """Weights g = K ΔT / λ and noise factors λ of a placed template's pixels."""
    t_g = detection.ground_temperature_k[rows, cols].astype(np.float64)
    lam = np.clip(
        np.nan_to_num(detection.residual[rows, cols].astype(np.float64), nan=1.0), 0.5, None
    )
    g = weights[rows, cols] * (detection.air_temperature_k - t_g) / lam
    return g, lam


def _placements(
    detection: LwirDetection, kernel: PlumeKernel, source: tuple[int, int], footprint: Mask
) -> F64:
    """Weighted residuals Y (placements, bands) of a template placed over background.

    The same template as a candidate's, placed at up to ``_MISFIT_PLACEMENTS`` random judged
    positions of the line that do not touch the candidate (:func:`_weighted_residual`): what
    the background alone gives in that shape, against which :func:`_misfit` compares.
    """
    shape = detection.valid.shape
    judged = detection.valid & ~detection.anomalous
    rng = np.random.default_rng([source[0], source[1], shape[0], shape[1]])
    near = ndimage.binary_dilation(footprint, iterations=2)
    cand = np.flatnonzero(judged.ravel())
    values: list[F64] = []
    k_total = float(kernel.weights.sum()) * kernel.pool**2
    for flat in rng.choice(cand, min(cand.size, 8 * _MISFIT_PLACEMENTS), replace=False):
        if len(values) >= _MISFIT_PLACEMENTS:
            break
        r, c = (int(v) for v in np.unravel_index(int(flat), shape))
        w = _place(kernel, r, c, shape)
        on = (w > 0.0) & judged
        if np.any(on & near) or float(w[on].sum()) < 0.8 * k_total:
            continue
        rr, cc = np.nonzero(on)
        g, lam = _template_terms(detection, w, rr, cc)
        if not np.any(g):
            continue
        values.append(_weighted_residual(detection, rr, cc, g, lam))
    nb = int(detection.used_bands.sum())
    out: F64 = np.array(values) if values else np.zeros((0, nb))
    return out


def _misfit(y: F64, x: F64, placements: F64) -> tuple[float, float, float]:
    """How unlike background the part of y that the regressors x do not explain is.

    The energy U of y outside the span of x (gas signatures, and surface features where
    entered) is compared with the same energy of the background placements of the same
    template (:func:`_placements`). Returns the object's log U in robust standard units of the
    placements' log U (median, 1.4826 × MAD), U's excess over the placements' median, and
    the energy x takes beyond the one per regressor that noise gives. A patch of a surface the
    model does not describe (a pond's edge, a roof, a soil whose bands the surface features
    fit only in part) leaves energy x does not take; a plume does not, or far less than the
    gas explains.
    """
    q = np.linalg.qr(x.T)[0] if x.shape[0] else np.zeros((y.size, 0))
    u_obj = float(np.sum(_project(y[None], q) ** 2))
    explained = float(y @ y) - u_obj - q.shape[1]
    if placements.shape[0] < _MISFIT_PLACEMENTS // 2:
        return 0.0, 0.0, explained
    values = np.einsum("nb,nb->n", _project(placements, q), _project(placements, q))
    logs = np.log(np.maximum(values, 1e-300))
    med = float(np.median(logs))
    mad = max(1.4826 * float(np.median(np.abs(logs - med))), 1e-3)
    z = (math.log(max(u_obj, 1e-300)) - med) / mad
    return z, u_obj - math.exp(med), explained


def _identify_weighted(
    detection: LwirDetection,
    footprint: Mask,
    weights: F64,
    kappa: F64,
    *,
    score: float,
    source: tuple[int, int],
    alpha: float,
    max_species: int,
    kernel: PlumeKernel,
    statistic: float | None,
) -> LwirIdentification:
    """Stepwise identification of a plume template placed at a source (see callers)."""
    use = footprint & ~detection.anomalous
    if not use.any():
        use = footprint
    rows, cols = np.nonzero(use)
    all_rows, all_cols = np.nonzero(footprint)
    t_g = detection.ground_temperature_k[rows, cols].astype(np.float64)
    t_air = detection.air_temperature_k
    k_w = weights[rows, cols]
    dt_win = t_air - t_g
    dt_sp = np.nan_to_num(detection.thermal_contrast_k[:, rows, cols].astype(np.float64))
    g, lam = _template_terms(detection, weights, rows, cols)
    h = k_w[None, :] * dt_sp  # column template (ppm·m per unit β) × contrast
    y, x = _object_regression(detection, rows, cols, g=g, h=h, noise=lam)
    placements = _placements(detection, kernel, source, footprint)
    misfit, excess, explained = _misfit(y, x, placements)
    min_dt = detection.min_contrast_k
    kappa2 = kappa**2
    sign = np.ones(x.shape[0])  # β is a column: never negative
    # Not gas: energy no gas takes, more than the background's spread gives (one-sided 5 %),
    # and more than half what the gases explain (gas is not most of the departure).
    unlike = misfit > _MISFIT_Z and excess > 0.5 * explained
    # Gases and surface emissivity features compete in one stepwise regression (step 9).
    x_all, sign_all, kappa2_all = _with_surfaces(
        x, sign, kappa2, _surface_regression(detection, rows, cols, g=g, noise=lam)
    )
    n_sp = x.shape[0]
    chosen = [] if unlike else _stepwise(x_all, y, sign_all, kappa2_all, alpha, max_species, n_sp)
    selected = [j for j in chosen if j < n_sp]
    surfaces = [j - n_sp for j in chosen if j >= n_sp]
    lack_of_fit: float | None = None
    if selected and surfaces:
        # Lack of fit: a surface the features describe only in part leaves structure a gas
        # can take up. The gases must explain more than twice the energy the whole model
        # still leaves beyond the background's (the same rule as for ``unlike`` above).
        lof, lof_excess, _ = _misfit(y, x_all[chosen], placements)
        rss_surface = _ols(x_all[[n_sp + i for i in surfaces]].T, y)[1]
        gas_part = rss_surface - _ols(x_all[chosen].T, y)[1] - len(selected)
        if lof > _MISFIT_Z and lof_excess > 0.5 * gas_part:
            selected, lack_of_fit = [], lof
    k_sum = max(float(k_w.sum()), 1e-300)
    dt_species = (h.sum(axis=1)) / k_sum  # template-weighted contrast, K
    findings: list[LwirFinding] = []
    if selected:
        beta, rss, inv = _ols(x_all[chosen].T, y)
        s2 = rss / max(y.size - len(chosen), 1)
        for i, j in enumerate(chosen):
            if j >= n_sp:
                continue
            f_stat, p_adj = _partial_f(x_all, y, chosen, j, kappa2_all, n_sp)
            beta_sig = math.sqrt(max(float(inv[i, i]) * s2 * kappa2[j], 0.0))
            # Mean over the object's pixels of the fitted C·ΔT.
            per_beta = float(h[j].sum()) / rows.size
            findings.append(
                _finding(
                    detection,
                    j,
                    float(beta[i]) * per_beta,
                    beta_sig * abs(per_beta),
                    float(dt_species[j]),
                    f_stat,
                    score * (1.0 - p_adj),
                    float(np.median(t_g)),
                )
            )
        findings.sort(key=lambda f: -f.f_statistic)
    dt_window = float(np.sum(k_w * dt_win) / k_sum)
    detectable = abs(dt_window) >= min_dt
    reason = None
    if unlike:
        reason = (
            f"the template-weighted spectrum is unlike background ({misfit:.1f} robust σ) "
            "in directions no gas signature takes, more than any gas explains: a surface the "
            "background model does not describe, not judged for gas"
        )
    elif surfaces and not selected:
        reason = _surface_reason(surfaces, lack_of_fit)
    elif not detectable:
        reason = (
            f"thermal contrast between air ({t_air:.1f} K) and ground is {dt_window:+.1f} K "
            f"under the plume template, below the {min_dt:g} K needed: a gas layer at the "
            "ground's temperature neither absorbs nor emits, so gases here are undetectable"
        )
    return LwirIdentification(
        findings=tuple(findings),
        detectable=detectable,
        reason=reason,
        score=float(score),
        n_pixels=int(rows.size),
        thermal_contrast_k=dt_window,
        air_temperature_k=t_air,
        rows=tuple(int(v) for v in all_rows),
        cols=tuple(int(v) for v in all_cols),
        peak=source,
        kernel=kernel,
        scan_statistic=statistic,
        misfit=misfit,
        template=tuple(float(v) for v in weights[all_rows, all_cols]),
    )


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

    # Gases and surface emissivity features compete in one stepwise regression (step 9).
    x_all, sign_all, kappa2_all = _with_surfaces(
        x, sign, kappa2, _surface_regression(detection, rows, cols)
    )
    chosen = _stepwise(x_all, y, sign_all, kappa2_all, alpha, max_species, n_sp)
    selected = [j for j in chosen if j < n_sp]
    surfaces = [j - n_sp for j in chosen if j >= n_sp]
    findings: list[LwirFinding] = []
    if selected:
        beta, rss, inv = _ols(x_all[chosen].T, y)
        s2 = rss / max(y.size - len(chosen), 1)
        for i, j in enumerate(chosen):
            if j >= n_sp:
                continue
            f_stat, p_adj = _partial_f(x_all, y, chosen, j, kappa2_all, n_sp)
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
    if surfaces and not selected:
        reason = _surface_reason(surfaces)
    elif not detectable:
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


def _with_surfaces(x: F64, sign: F64, kappa2: F64, xs: F64) -> tuple[F64, F64, F64]:
    """Gas regressors followed by surface ones, with their signs and clutter factors κ².

    A surface's amount may take either sign (the patch may hold more or less of the mineral
    than its column's background). Its F is deflated by the smallest κ² of the gases, so that
    at equal explained energy the surface enters first: a departure a surface explains as well
    as a gas is not named as that gas.
    """
    x_all: F64 = np.vstack([x, xs])
    sign_all: F64 = np.concatenate([sign, np.zeros(xs.shape[0])])
    kappa2_all: F64 = np.concatenate([kappa2, np.full(xs.shape[0], float(np.min(kappa2)))])
    return x_all, sign_all, kappa2_all


def _surface_reason(surfaces: Sequence[int], lack_of_fit: float | None = None) -> str:
    # Why an object is reported without findings when surface features explain it.
    _, names = _surface_shapes(np.array([8000.0, 12000.0]))
    which = ", ".join(dict.fromkeys(names[i].removesuffix(" (shifted)") for i in surfaces))
    beside = (
        "no gas is significant beside it"
        if lack_of_fit is None
        else f"the gases beside it take up less than twice the {lack_of_fit:.1f}-robust-σ "
        "misfit the model leaves"
    )
    return (
        f"the departure from the background is explained by a surface emissivity feature "
        f"({which}) at least as well as by any gas, and {beside}: a surface, not gas"
    )


def _object_regression(
    detection: LwirDetection,
    rows: NDArray[np.intp],
    cols: NDArray[np.intp],
    g: F64 | None = None,
    h: F64 | None = None,
    noise: F64 | None = None,
) -> tuple[F64, F64]:
    """Weighted sum of whitened residuals y (b,) and of whitened signatures x (species, b).

    y = Σ g_i r̃_i / N and x_j = Σ g_i h_ij s̃_ij / N with N = √(Σ g_i² λ_i), so that y has
    unit-variance noise when pixel i's noise variance is λ_i and pixels are independent, and
    E[y] = Σ_j β_j x_j when pixel i holds β_j h_ij of species j (s̃ per ppm·m·K, ∂B/∂T at the
    pixel's ground temperature). Defaults g = h = λ = 1: the mean over the pixels × √n.
    """
    bg = detection._background
    used = detection.used_bands
    wl_u = detection.wavelengths_nm[used]
    tau = np.asarray(detection.atmosphere.transmittance)[used]
    k = detection.library.absorption[:, used]
    n_px = rows.size
    gw = np.ones(n_px) if g is None else g
    hw = np.ones((k.shape[0], n_px)) if h is None else h
    lam = np.ones(n_px) if noise is None else noise
    t_g = detection.ground_temperature_k[rows, cols].astype(np.float64)
    dbdt = _planck_derivative(wl_u, t_g)  # (n, b)
    y = np.zeros(k.shape[1])
    x = np.zeros(k.shape)
    for grp in np.unique(bg.group_of_column[cols]):
        sel = bg.group_of_column[cols] == grp
        rr, cc = rows[sel], cols[sel]
        r = (bg.radiance[rr, cc].astype(np.float64) - bg.mean[cc]) * gw[sel, None]
        lower = bg.cholesky[grp]
        q = bg.basis[grp]
        y += _project(linalg.solve_triangular(lower, r.sum(axis=0), lower=True), q)
        wsum = np.einsum("jn,nb->jb", hw[:, sel] * gw[sel], dbdt[sel]) * (k * tau)  # (J, b)
        x += _project(linalg.solve_triangular(lower, wsum.T, lower=True).T, q)
    norm = math.sqrt(max(float(np.sum(gw * gw * lam)), 1e-300))
    return y / norm, x / norm


def _surface_shapes(wl_nm: F64) -> tuple[F64, tuple[str, ...]]:
    """Emissivity dips (shapes, bands) of common surfaces, peak 1, and their names.

    The reststrahlen lobes of :data:`_SURFACE_BANDS` (Gaussian in wavenumber) and a linear
    tilt of emissivity across the band range (a broad feature the flat-emissivity nuisance of
    :func:`_nuisance` does not take).
    """
    nu = 1e7 / wl_nm  # cm⁻¹
    shapes = []
    names = []
    for name, centre_um, fwhm in _SURFACE_BANDS:
        d = (nu - 1e4 / centre_um) / fwhm
        lobe = np.exp(-4.0 * math.log(2.0) * d**2)
        # The lobe and its derivative in position (first order in a shift of the lobe).
        shapes += [lobe, -8.0 * math.log(2.0) * d * lobe]
        names += [name, f"{name} (shifted)"]
    shapes.append(2.0 * (wl_nm - wl_nm.min()) / max(float(np.ptp(wl_nm)), 1e-9) - 1.0)
    names.append("emissivity tilt across 8–12 µm")
    return np.vstack(shapes), tuple(names)


def _surface_regression(
    detection: LwirDetection,
    rows: NDArray[np.intp],
    cols: NDArray[np.intp],
    g: F64 | None = None,
    noise: F64 | None = None,
) -> F64:
    """Whitened surface regressors (features, bands), weighted as :func:`_object_regression`.

    A change Δε(λ) of ground emissivity changes the at-sensor radiance by
    τ_a (B(λ, T_g) − L↓) Δε(λ) (the surface term of the radiance model, module notes); each
    feature of :func:`_surface_shapes` is taken with the same amount over the pixels, at each
    pixel's ground temperature, whitened and projected as the gas signatures are.
    """
    bg = detection._background
    used = detection.used_bands
    wl_u = detection.wavelengths_nm[used]
    tau = np.asarray(detection.atmosphere.transmittance)[used]
    l_down = np.asarray(detection.atmosphere.downwelling_radiance)[used]
    shapes, _ = _surface_shapes(wl_u)
    n_px = rows.size
    gw = np.ones(n_px) if g is None else g
    lam = np.ones(n_px) if noise is None else noise
    t_g = detection.ground_temperature_k[rows, cols].astype(np.float64)
    contrast = planck_radiance(wl_u, t_g) - l_down  # (n, b)
    x = np.zeros(shapes.shape)
    for grp in np.unique(bg.group_of_column[cols]):
        sel = bg.group_of_column[cols] == grp
        wsum = (gw[sel] @ contrast[sel]) * tau * shapes  # (m, b)
        x += _project(
            linalg.solve_triangular(bg.cholesky[grp], wsum.T, lower=True).T, bg.basis[grp]
        )
    out: F64 = x / math.sqrt(max(float(np.sum(gw * gw * lam)), 1e-300))
    return out


def _weighted_residual(
    detection: LwirDetection, rows: NDArray[np.intp], cols: NDArray[np.intp], g: F64, lam: F64
) -> F64:
    """Y = Σ g_i r̃_i / √(Σ g_i² λ_i) alone (see :func:`_object_regression`)."""
    bg = detection._background
    y = np.zeros(bg.radiance.shape[-1])
    for grp in np.unique(bg.group_of_column[cols]):
        sel = bg.group_of_column[cols] == grp
        rr, cc = rows[sel], cols[sel]
        r = (bg.radiance[rr, cc].astype(np.float64) - bg.mean[cc]) * g[sel, None]
        y += _project(
            linalg.solve_triangular(bg.cholesky[grp], r.sum(axis=0), lower=True), bg.basis[grp]
        )
    out: F64 = y / math.sqrt(max(float(np.sum(g * g * lam)), 1e-300))
    return out


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


def _family_count(j: int, others: Sequence[int], n_gas: int, n_all: int) -> int:
    # Candidates j competed with for the Bonferroni correction: those of its own family (gases
    # or surface features) not already in the model.
    if j < n_gas:
        return n_gas - sum(1 for s in others if s < n_gas)
    return n_all - n_gas - sum(1 for s in others if s >= n_gas)


def _partial_f(
    x: F64, y: F64, selected: list[int], j: int, kappa2: F64, n_gas: int | None = None
) -> tuple[float, float]:
    # Partial F of candidate j given the others selected (deflated by κ_j²), and its
    # Bonferroni-corrected p over the candidates of its family it competed with.
    n_all, nb = x.shape
    _, rss_full, _ = _ols(x[selected].T, y)
    others = [s for s in selected if s != j]
    rss_red = float(y @ y) if not others else _ols(x[others].T, y)[1]
    dof = max(nb - len(selected), 1)
    f_stat = (rss_red - rss_full) / max(rss_full / dof, 1e-300) / kappa2[j]
    p = float(stats.f.sf(f_stat, 1, dof))
    count = _family_count(j, others, n_all if n_gas is None else n_gas, n_all)
    return float(f_stat), min(1.0, p * count)


def _stepwise(
    x: F64,
    y: F64,
    sign: F64,
    kappa2: F64,
    alpha: float,
    max_species: int,
    n_gas: int | None = None,
) -> list[int]:
    """Forward–backward stepwise selection with F-to-enter, BIC and sign constraints.

    The first ``n_gas`` rows of ``x`` are gases (at most ``max_species`` of them enter), the
    rest surface features: both compete at every step, so a departure a surface feature
    explains as well as a gas enters as that surface, and a gas then enters only if it is
    still significant beside it. Bonferroni corrections count each family on its own.
    """
    n_all, nb = x.shape
    n_g = n_all if n_gas is None else n_gas
    selected: list[int] = []
    rss_cur = float(y @ y)
    for _ in range(2 * n_all):
        best: tuple[float, int] | None = None
        n_sel_gas = sum(1 for s in selected if s < n_g)
        for j in range(n_all):
            if j in selected or (j < n_g and n_sel_gas >= max_species):
                continue
            trial = [*selected, j]
            beta, rss, _ = _ols(x[trial].T, y)
            dof = nb - len(trial)
            if dof < 1 or rss <= 0 or (sign[j] != 0 and beta[-1] * sign[j] <= 0):
                continue  # a column cannot be negative
            drop = (rss_cur - rss) / kappa2[j]
            f_stat = drop / (rss / dof)
            count = _family_count(j, selected, n_g, n_all)
            p_adj = min(1.0, float(stats.f.sf(f_stat, 1, dof)) * count)
            bic_change = nb * math.log(max(1.0 - drop / rss_cur, 1e-300)) + math.log(nb)
            if p_adj < alpha and bic_change < 0 and (best is None or f_stat > best[0]):
                best = (f_stat, j)
        if best is None:
            break
        selected.append(best[1])
        # Backward: drop candidates no longer significant or of the wrong sign.
        while len(selected) > 1:
            beta, _, _ = _ols(x[selected].T, y)
            worst: tuple[float, int] | None = None
            for i, j in enumerate(selected):
                f_stat, p_adj = _partial_f(x, y, selected, j, kappa2, n_g)
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
