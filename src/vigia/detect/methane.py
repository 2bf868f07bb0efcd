"""Methane column enhancement from VSWIR radiance: a column-wise matched filter.

The method is the one airborne methane mapping uses (Thompson et al. 2015, AMT 8:4383;
Foote et al. 2020, IEEE TGRS 58(8):5319, "mag1c"), with its statistics made robust and
streamable:

* **Per column.** Every cross-track column of a pushbroom spectrometer is its own detector,
  so each column gets its own background mean μ and covariance.
* **Shrunk covariance.** The sample covariance S of a column is shrunk towards its diagonal,
  ``C = (1 − ρ) S + ρ diag(S)``, with ρ from the oracle approximating shrinkage of Chen,
  Wiesel, Eldar & Hero (2010, IEEE TSP 58(10):5016) applied to the correlation matrix. It
  needs only S, so it streams; on few rows per band (full 285-band cubes) it keeps the filter
  well conditioned where a plain inverse loses most of the signal.
* **Target.** ``t = μ ⊙ k``, with k methane's unit absorption coefficient per band
  (:func:`vigia.sense.gas.ch4_unit_absorption`, from mag1c's look-up table), so a column
  enhancement c (ppm·m) lowers a pixel of albedo factor R by ``R μ (1 − e^{−k c}) ≈ c R t``.
* **Estimate.** ``ĉ = −(x − μ)ᵀ C⁻¹ t / (R tᵀ C⁻¹ t)`` with the albedo factor
  ``R = xᵀμ / μᵀμ`` (Foote et al. 2020), then three corrections, each exact under the model:

  1. *Robust background.* Pixels whose estimate is significant (and their neighbours) are
     taken out of the background mean, iteratively. Only the mean needs it: adding
     target-shaped variance to C leaves the normalised filter unchanged (Sherman–Morrison),
     and the mean's correction is a per-column constant in projection space, so it needs no
     further pass over the radiance.
  2. *Self-whitening.* A pixel inside its own training set is partly whitened away. With
     m = dᵀC⁻¹d, leaving it out gives ``ĉ = a N / (q (N − m) + a²)``; m's target part
     cancels exactly and its background part averages tr(C⁻¹S), so the correction is the
     per-column factor ``N / (N − (1 − ρ) tr(C⁻¹S))``.
  3. *Beer–Lambert.* The filter's response to e^{−k c} is
     ``f(c) = Σ w μ (1 − e^{−k c}) / q`` (w = C⁻¹t); inverting it per column removes the
     linearisation's underestimate of thick plumes.

* **Noise.** The per-pixel sigma is the filter's theoretical noise ``1/√q`` scaled per column
  by the robust (MAD) spread of the background estimates, divided by R and by f′(c).

Not done, on purpose: mag1c's reweighted-L1 sparsity prior and non-negativity, which lower
the noise floor of the map but bias plume pixels low (−14 % measured in REFERENCES.md). Here
the map is unbiased and signed; what is significant is decided downstream
(:mod:`vigia.detect.plumes`) from ``score = enhancement / sigma``.

False positives
    Surfaces with absorption near 2.3 µm (polyethylene tarps, asphalt, some roofs,
    carbonates) fool the 2.3 µm filter. Two witnesses in 1550–1790 nm, fitted jointly per
    column with the same machinery, test each candidate pixel:

    * ``CH_1730``: a significant C–H first-overtone absorption near 1.73 µm, the feature of
      plastics and hydrocarbons (Garaba & Dierssen 2018, RSE 205:224; Kühn et al. 2004,
      RSE 90:34 use it as a hydrocarbon index), modelled as a generic Gaussian band;
    * ``NO_1650``: methane's 2ν₃ band at 1.65 µm does not show the absorption 2.3 µm implies.

    ``suppressed`` marks candidate pixels (score above ``candidate_z``) that fail a test;
    ``reasons`` holds the failed tests as bit flags (:data:`SUPPRESSION_REASONS`).

Streaming (``DESIGN.md``): chunks split ``downtrack`` only. Pass 1 accumulates per-column
statistics (:meth:`MethaneFilter.accumulate`, mergeable for a tree reduction); pass 2
projects each chunk (:meth:`FittedMethaneFilter.project`, a few numbers per pixel) and
:meth:`FittedMethaneFilter.finalize` turns the projections into maps without reading the
radiance again. :func:`matched_filter` runs both passes on an array, :func:`retrieve_methane`
on a cube.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, Final

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from vigia.detect.plumes import (
    IMECalibration,
    Plume,
    SegmentationSettings,
    Wind,
    find_plumes,
)
from vigia.errors import InputError
from vigia.sense.gas import ch4_unit_absorption

__all__ = [
    "CH_1730",
    "NO_1650",
    "SUPPRESSION_REASONS",
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
    "witness_check",
]

CH_1730: Final = 1
"""Reason bit: a C–H absorption near 1.73 µm (plastic, hydrocarbon) explains the signal."""
NO_1650: Final = 2
"""Reason bit: methane's 1.65 µm band does not confirm the 2.3 µm enhancement."""
SUPPRESSION_REASONS: Final[dict[int, str]] = {
    CH_1730: "C-H absorption at 1.73 um (plastic or hydrocarbon surface)",
    NO_1650: "no methane absorption at 1.65 um to match 2.3 um",
}
"""Human-readable text of each reason bit."""

_FWHM_TO_SIGMA: Final = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
# Enhancement grid of the Beer–Lambert response tables, ppm·m (negative: less than background).
_C_GRID: Final = np.concatenate(
    (-np.geomspace(2.0e4, 1.0, 40), [0.0], np.geomspace(1.0, 2.0e5, 90))
)
_MAD_TO_SIGMA: Final = 1.4826
# Over-relaxation of the robust background's fixed-point iteration (converges in ~5, not ~10).
_OMEGA: Final = 1.5
_DISK2: Final = np.hypot(*np.mgrid[-2:3, -2:3]) <= 2.0
_DISK1: Final = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class MethaneSettings:
    """Settings of the methane matched filter.

    Attributes
    ----------
    window_nm : (float, float)
        Wavelength window of the methane filter, nm (mag1c's default 2122–2488 nm).
    witness_window_nm : (float, float) or None
        Window of the false-positive witnesses (1.65 µm methane, 1.73 µm C–H), nm; None turns
        suppression off.
    ch_feature_nm : (float, float)
        Centre and FWHM of the generic C–H absorption band of the witness, nm.
    shrinkage : float or None
        Shrinkage ρ in [0, 1] of the covariance towards its noise; None: ``2γ / (1 + γ)``
        with γ = bands / rows, per column.
    refine_iterations : int
        Iterations of the robust background (0: no screening pass, plain statistics).
    screen_z : float
        Score above which the screening pass keeps a pixel as a candidate.
    max_candidates : float
        Largest share of a chunk's pixels kept as candidates (memory bound).
    exclusion_z : float
        Score above which a pixel's neighbours (2 px) become candidates, and above which
        pixels (and their 8 neighbours) are left out of the noise estimate.
    refit_z : float
        Score a candidate needs for its column to be refitted by the robust background.
    min_rows : int
        Columns with fewer valid pixels are not retrieved (NaN).
    min_albedo : float
        Floor of the albedo factor R used for division (dark pixels get a large sigma).
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
    """

    window_nm: tuple[float, float] = (2122.0, 2488.0)
    witness_window_nm: tuple[float, float] | None = (1550.0, 1790.0)
    ch_feature_nm: tuple[float, float] = (1730.0, 60.0)
    shrinkage: float | None = None
    refine_iterations: int = 3
    screen_z: float = 2.0
    max_candidates: float = 0.1
    exclusion_z: float = 3.0
    refit_z: float = 5.0
    min_rows: int = 20
    min_albedo: float = 0.05
    candidate_z: float = 3.0
    ch_z: float = 5.0
    ch_z_low: float = 2.0
    witness_z: float = 4.0
    witness_fraction: float = 0.5
    object_z: float = 2.0

    def __post_init__(self) -> None:
        windows = [("window_nm", self.window_nm)]
        if self.witness_window_nm is not None:
            windows.append(("witness_window_nm", self.witness_window_nm))
        for name, (lo, hi) in windows:
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
                raise InputError(f"MethaneSettings.{name} must be (low, high) nm, got {lo, hi}")
        if self.shrinkage is not None and not 0.0 <= self.shrinkage <= 1.0:
            raise InputError(f"MethaneSettings.shrinkage must be in [0, 1], got {self.shrinkage}")
        if self.refine_iterations < 0:
            raise InputError(
                f"MethaneSettings.refine_iterations must be ≥ 0, got {self.refine_iterations}"
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
        if block.shape[1] != n_cols or block.shape[2] != self.mean.shape[1]:
            raise InputError(
                f"chunk of shape {block.shape} does not match statistics of {n_cols} columns "
                f"and {self.mean.shape[1]} bands"
            )
        # float64: the methane filter lives in the covariance's smallest eigenvalues (noise,
        # ~1e-8 of the largest), which float32 sums would lose. One transposed copy makes
        # every column contiguous.
        cols_first = np.ascontiguousarray(block.transpose(1, 0, 2), dtype=np.float64)
        all_valid = bool(valid.all())
        for j in range(n_cols):
            x = cols_first[j] if all_valid else cols_first[j][valid[:, j]]
            n_b = x.shape[0]
            if n_b == 0:
                continue
            m_b = x.mean(axis=0)
            self._combine(j, n_b, m_b, x.T @ x - n_b * np.outer(m_b, m_b))

    def _combine(
        self, j: int, n_b: int, m_b: NDArray[np.float64], s_b: NDArray[np.float64]
    ) -> None:
        n_a = int(self.count[j])
        n = n_a + n_b
        delta = m_b - self.mean[j]
        self.mean[j] += delta * (n_b / n)
        self.scatter[j] += s_b + np.outer(delta, delta) * (n_a * n_b / n)
        self.count[j] = n

    def merge(self, other: ColumnStatistics) -> ColumnStatistics:
        """Return the statistics of both sets of rows together (neither is changed)."""
        if other.mean.shape != self.mean.shape:
            raise InputError(
                f"cannot merge column statistics of shapes {self.mean.shape} and {other.mean.shape}"
            )
        out = ColumnStatistics(self.count.copy(), self.mean.copy(), self.scatter.copy())
        for j in np.flatnonzero(other.count):
            out._combine(int(j), int(other.count[j]), other.mean[j], other.scatter[j])
        return out


@dataclass
class FilterStatistics:
    """Pass-1 statistics of a methane filter: the 2.3 µm window and the witness window."""

    main: ColumnStatistics
    witness: ColumnStatistics | None

    def merge(self, other: FilterStatistics) -> FilterStatistics:
        """Return the statistics of both sets of rows together."""
        wit = None
        if self.witness is not None and other.witness is not None:
            wit = self.witness.merge(other.witness)
        return FilterStatistics(self.main.merge(other.main), wit)


@dataclass(frozen=True)
class Projections:
    """What pass 2 keeps of each pixel: its projections on the fitted filters.

    Attributes
    ----------
    a : (rows, crosstrack) float64
        ``(x − μ)ᵀ C⁻¹ t`` in the methane window (NaN where invalid).
    albedo : (rows, crosstrack) float64
        Albedo factor ``R = xᵀμ / μᵀμ`` in the methane window.
    b : (rows, crosstrack, 2) float64 or None
        ``(y − μ_w)ᵀ C_w⁻¹ T`` for the witness targets (1.65 µm CH₄, 1.73 µm C–H).
    albedo_witness : (rows, crosstrack) float64 or None
        Albedo factor in the witness window.
    """

    a: NDArray[np.float64]
    albedo: NDArray[np.float64]
    b: NDArray[np.float64] | None
    albedo_witness: NDArray[np.float64] | None

    @staticmethod
    def concatenate(parts: Sequence[Projections]) -> Projections:
        """Join the projections of consecutive chunks along ``downtrack``."""
        if not parts:
            raise InputError("no projections to join")
        has_w = all(p.b is not None and p.albedo_witness is not None for p in parts)
        return Projections(
            np.concatenate([p.a for p in parts]),
            np.concatenate([p.albedo for p in parts]),
            np.concatenate([p.b for p in parts if p.b is not None]) if has_w else None,
            np.concatenate([p.albedo_witness for p in parts if p.albedo_witness is not None])
            if has_w
            else None,
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
    albedo : (downtrack, crosstrack) float32
        Albedo factor R in the methane window (1 = the column mean's brightness).
    witness_ppm_m, witness_sigma : (downtrack, crosstrack) float32
        Enhancement from the 1.65 µm band and its sigma, ppm·m (NaN without the witness).
    ch_score : (downtrack, crosstrack) float32
        Significance of a C–H absorption at 1.73 µm (NaN without the witness).
    reasons : (downtrack, crosstrack) uint8
        Bit flags of the failed false-positive tests (:data:`SUPPRESSION_REASONS`), set
        wherever a test fails, candidate or not.
    suppressed : (downtrack, crosstrack) bool
        Candidates (score > ``candidate_z``) that a test rejects.
    background : (downtrack, crosstrack) bool
        Pixels kept in the robust background mean.
    wavelengths_nm : (p,) float64
        Centres of the bands the filter used.
    shrinkage : (crosstrack,) float64
        Covariance shrinkage ρ of each column.
    """

    enhancement: NDArray[np.float32]
    sigma: NDArray[np.float32]
    score: NDArray[np.float32]
    albedo: NDArray[np.float32]
    witness_ppm_m: NDArray[np.float32]
    witness_sigma: NDArray[np.float32]
    ch_score: NDArray[np.float32]
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


def _groups(cols: NDArray[np.intp]) -> list[tuple[int, NDArray[np.intp]]]:
    # Indices of the entries of each column, column by column (one sort, not one scan each).
    order = np.argsort(cols, kind="stable")
    sorted_cols = cols[order]
    starts = np.flatnonzero(np.r_[True, sorted_cols[1:] != sorted_cols[:-1]])
    return (
        [
            (int(sorted_cols[a]), order[a:b])
            for a, b in zip(starts, np.r_[starts[1:], cols.size], strict=True)
        ]
        if cols.size
        else []
    )


def _select(
    wl: NDArray[np.float64], good: NDArray[np.bool_], window: tuple[float, float]
) -> NDArray[np.intp]:
    return np.flatnonzero(good & (wl >= window[0]) & (wl <= window[1]))


def _as_index(idx: NDArray[np.intp]) -> slice | NDArray[np.intp]:
    # A contiguous run of bands reads as a view, not a copy.
    if idx.size and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


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
        Indices of the methane-window bands.
    k : (p,) float64
        Methane unit absorption of those bands, 1/(ppm·m).
    witness : (pw,) intp
        Indices of the witness-window bands (empty when suppression is off).
    witness_targets : (pw, 2) float64
        Unit absorption of CH₄ (1/(ppm·m)) and the C–H band shape (depth 1 at its centre).
    wavelengths_nm : (n_bands,) float64
        Band centres, nm.
    """

    settings: MethaneSettings
    n_bands: int
    main: NDArray[np.intp]
    k: NDArray[np.float64]
    witness: NDArray[np.intp]
    witness_targets: NDArray[np.float64]
    wavelengths_nm: NDArray[np.float64] = field(repr=False)

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
            Windows and thresholds.

        Returns
        -------
        MethaneFilter

        Raises
        ------
        InputError
            If the wavelengths are not finite and increasing, or fewer than 5 good bands lie
            in the methane window.
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
        main = _select(wl, ok, s.window_nm)
        if main.size < 5:
            raise InputError(
                f"wavelengths: {main.size} good bands in the methane window "
                f"{s.window_nm[0]:g}–{s.window_nm[1]:g} nm (need ≥ 5); the cube covers "
                f"{wl[0]:.0f}–{wl[-1]:.0f} nm"
            )
        k = _unit_absorption(tuple(wl[main].tolist()), tuple(fw[main].tolist()))
        if not np.any(k > 0):
            raise InputError(
                f"wavelengths: methane does not absorb in the bands of {s.window_nm} nm"
            )
        witness = np.zeros(0, dtype=np.intp)
        targets = np.zeros((0, 2))
        if s.witness_window_nm is not None:
            wit = _select(wl, ok, s.witness_window_nm)
            if wit.size >= 8:
                centre, width = s.ch_feature_nm
                sig = np.hypot(width, fw[wit]) * _FWHM_TO_SIGMA
                shape = (width * _FWHM_TO_SIGMA / sig) * np.exp(
                    -0.5 * ((wl[wit] - centre) / sig) ** 2
                )
                k_w = _unit_absorption(tuple(wl[wit].tolist()), tuple(fw[wit].tolist()))
                if np.any(k_w > 0) and np.any(shape > 0.1):
                    witness, targets = wit, np.column_stack([k_w, shape])
        return cls(s, n, main, k, witness, targets, wl)

    @property
    def has_witness(self) -> bool:
        """Whether the false-positive witnesses run (enough good bands near 1.65–1.73 µm)."""
        return self.witness.size > 0

    def statistics(self, n_cols: int) -> FilterStatistics:
        """Return empty pass-1 statistics for a line of ``n_cols`` columns."""
        return FilterStatistics(
            ColumnStatistics.empty(n_cols, self.main.size),
            ColumnStatistics.empty(n_cols, self.witness.size) if self.has_witness else None,
        )

    def _check_chunk(self, chunk: NDArray[Any]) -> None:
        if chunk.ndim != 3 or chunk.shape[2] != self.n_bands:
            raise InputError(
                f"radiance chunk has shape {chunk.shape}; expected (rows, crosstrack, "
                f"{self.n_bands}) in (downtrack, crosstrack, bands) order"
            )

    def accumulate(self, stats: FilterStatistics, chunk: ArrayLike) -> None:
        """Pass 1: add a chunk of rows to the statistics, in place.

        Parameters
        ----------
        stats : FilterStatistics
            From :meth:`statistics` (or a previous call).
        chunk : (rows, crosstrack, bands) float
            Radiance, µW cm⁻² sr⁻¹ nm⁻¹ (any consistent unit); NaN marks bad pixels.
        """
        arr = np.asarray(chunk, dtype=np.float32)
        self._check_chunk(arr)
        x = arr[:, :, _as_index(self.main)]
        stats.main.add(x, np.asarray(np.isfinite(x).all(axis=2), dtype=bool))
        if stats.witness is not None:
            y = arr[:, :, _as_index(self.witness)]
            stats.witness.add(y, np.asarray(np.isfinite(y).all(axis=2), dtype=bool))

    def fit(self, stats: FilterStatistics) -> FittedMethaneFilter:
        """Turn pass-1 statistics into per-column filters.

        Raises
        ------
        InputError
            If no column has ``min_rows`` valid pixels (an all-NaN line, for one).
        """
        s = self.settings
        main = _fit_stats(stats.main, self.k[:, None], s)
        if not np.any(main.ok):
            raise InputError(
                f"radiance: no column has {s.min_rows} pixels with finite values in every band "
                f"of {s.window_nm[0]:g}–{s.window_nm[1]:g} nm (all NaN?)"
            )
        wit = None
        if self.has_witness and stats.witness is not None:
            wit = _fit_stats(stats.witness, self.witness_targets, s)
        return FittedMethaneFilter(self, stats, main, wit, _response_tables(main, self.k))


def _fit_stats(stats: ColumnStatistics, unit: NDArray[np.float64], s: MethaneSettings) -> _Block:
    cov = stats.scatter / np.maximum(stats.count, 1)[:, None, None]
    return _fit_block(stats.count, stats.mean, cov, unit, s.shrinkage, s.min_rows)


@dataclass(frozen=True)
class Candidates:
    """Pixels the screening pass found possibly enhanced, with their spectra.

    The robust background (:meth:`FittedMethaneFilter.refine`) takes their methane out of the
    column statistics, so a plume does not teach the filter to ignore it, and their estimates
    are made exactly leave-one-out.

    Attributes
    ----------
    rows, cols : (n,) intp
        Pixel indices in the line.
    main : (n, p) float64
        Radiance of the methane-window bands.
    witness : (n, pw) float64
        Radiance of the witness-window bands (``pw`` may be 0).
    strength : (n,) float64
        Screening significance: the larger of the pixel's and its 3 × 3 neighbourhood's.
    """

    rows: NDArray[np.intp]
    cols: NDArray[np.intp]
    main: NDArray[np.float64]
    witness: NDArray[np.float64]
    strength: NDArray[np.float64]

    @staticmethod
    def concatenate(parts: Sequence[Candidates]) -> Candidates:
        """Join the candidates of several chunks."""
        if not parts:
            raise InputError("no candidates to join")
        return Candidates(
            np.concatenate([c.rows for c in parts]),
            np.concatenate([c.cols for c in parts]),
            np.concatenate([c.main for c in parts]),
            np.concatenate([c.witness for c in parts]),
            np.concatenate([c.strength for c in parts]),
        )


@dataclass(frozen=True)
class _Block:
    # Per-column fitted filter of one band window with targets T = μ ⊙ K.
    ok: NDArray[np.bool_]  # (cols,)
    mean: NDArray[np.float64]  # (cols, p)
    weights: NDArray[np.float64]  # (cols, p, n_t): C⁻¹ T
    gram: NDArray[np.float64]  # (cols, n_t, n_t): Tᵀ C⁻¹ T
    gram_inv: NDArray[np.float64]  # (cols, n_t, n_t)
    loo: NDArray[np.float64]  # (cols,): mean self-whitening factor
    mean_sq: NDArray[np.float64]  # (cols,): μᵀμ
    rho: NDArray[np.float64]  # (cols,)
    noise: NDArray[np.float64]  # (cols, p): noise variance per band

    def replace_columns(self, cols: NDArray[np.intp], other: _Block) -> _Block:
        # A copy with the given columns taken from ``other`` (fitted on those columns only).
        names = [f.name for f in fields(self)]
        out: dict[str, Any] = {}
        for name in names:
            arr = getattr(self, name).copy()
            arr[cols] = getattr(other, name)
            out[name] = arr
        return _Block(**out)


def _fit_block(
    count: NDArray[np.int64],
    mean: NDArray[np.float64],
    cov: NDArray[np.float64],
    unit: NDArray[np.float64],
    shrinkage: float | None,
    min_rows: int,
    noise: NDArray[np.float64] | None = None,
) -> _Block:
    # count (cols,), mean (cols, p), cov (cols, p, p) = scatter / N; unit (p, n_t); noise
    # (cols, p) when already known (refits keep the first estimate: it moves little).
    n_cols, p = mean.shape
    n = count.astype(np.float64)
    ok = count >= max(min_rows, 3)
    nn = np.where(ok, n, 1.0)
    eye = np.eye(p)
    diag = np.diagonal(cov, axis1=1, axis2=2)
    ridge = (1e-10 * np.maximum(diag.mean(axis=1), 1e-30))[:, None, None] * eye
    cov_r = cov + ridge
    cov_r[~ok] = eye
    if noise is None:
        # Noise variance of each band: the residual variance of its regression on the others,
        # 1 / (S⁻¹)_bb, debiased by N / (N − p) (Roger & Arnold 1996, IJRS 17(10):1951).
        inv_diag = np.diagonal(np.linalg.inv(cov_r), axis1=1, axis2=2)
        dof = np.maximum(nn - p, 0.1 * nn)
        noise = (nn / dof)[:, None] / np.maximum(inv_diag, 1e-300)
    if shrinkage is None:
        # Shrink towards the noise, not towards diag(S): the filter lives in the smallest
        # eigenvalues, which S underestimates by ~(1 − √γ)² with γ = p / N (Marchenko–Pastur).
        gamma = p / nn
        rho = np.clip(2.0 * gamma / (1.0 + gamma), 0.0, 0.9)
    else:
        rho = np.full(n_cols, float(shrinkage))
    c = (1.0 - rho)[:, None, None] * cov_r + (rho[:, None] * noise)[:, :, None] * eye
    c[~ok] = eye
    cinv = np.linalg.inv(c)
    targets = mean[:, :, None] * unit[None, :, :]
    weights = cinv @ targets
    gram = np.einsum("cpi,cpj->cij", targets, weights)
    n_t = unit.shape[1]
    gram[~ok] = np.eye(n_t)
    gram_inv = np.linalg.inv(gram)
    # A target the background cannot tell from noise gives no filter: mark the column.
    ok &= np.all(np.diagonal(gram_inv, axis1=1, axis2=2) > 0, axis=1)
    gram_inv[~ok] = np.eye(n_t)
    # Mean in-sample Mahalanobis distance tr(C⁻¹S) (both symmetric: an elementwise sum).
    m_bar = np.einsum("cij,cij->c", cinv, cov_r)
    eff = (1.0 - rho) * m_bar
    loo = np.where(ok, nn / np.maximum(nn - eff, 0.25 * nn), 1.0)
    mean_sq = np.einsum("cp,cp->c", mean, mean)
    return _Block(ok, mean.copy(), weights, gram, gram_inv, loo, mean_sq, rho, noise)


def _project_rows(
    x: NDArray[np.float64], cols: NDArray[np.intp], block: _Block
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # _project for listed pixels (n, p) in the given columns: (n, n_t) and (n,).
    mu = block.mean[cols]
    sq = block.mean_sq[cols]
    alb = np.einsum("np,np->n", x, mu) / np.where(sq > 0, sq, 1.0)
    a = np.einsum("np,npi->ni", x - mu, block.weights[cols])
    return a, alb


@dataclass(frozen=True)
class _Response:
    # Per column, the linear filter's mean response f(c) on a grid of c, increasing.
    f: NDArray[np.float64]  # (cols, G)
    grid: NDArray[np.float64]  # (cols, G)

    def replace_columns(self, cols: NDArray[np.intp], other: _Response) -> _Response:
        f, grid = self.f.copy(), self.grid.copy()
        f[cols], grid[cols] = other.f, other.grid
        return _Response(f, grid)


def _response_tables(block: _Block, k: NDArray[np.float64]) -> _Response:
    # f(c) = Σ_b w_b μ_b (1 − e^{−k_b c}) / q, with q = Σ w μ k (so f′(0) = 1).
    wm = block.weights[:, :, 0] * block.mean  # (cols, p)
    q = np.einsum("cp,p->c", wm, k)
    q = np.where(np.abs(q) > 0, q, 1.0)
    absorbed = -np.expm1(-np.outer(k, _C_GRID))  # (p, G)
    f = (wm @ absorbed) / q[:, None]
    grid = np.broadcast_to(_C_GRID, f.shape).copy()
    # Keep the part where f increases: beyond it the bands saturate and c is not resolved.
    zero = int(np.searchsorted(_C_GRID, 0.0))
    inc = np.diff(f, axis=1) > 0
    for j in range(f.shape[0]):
        up = np.flatnonzero(~inc[j, zero:])
        if up.size:
            stop = zero + int(up[0]) + 1
            f[j, stop:], grid[j, stop:] = f[j, stop - 1], grid[j, stop - 1]
        down = np.flatnonzero(~inc[j, :zero])
        if down.size:
            start = int(down[-1]) + 1
            f[j, :start], grid[j, :start] = f[j, start], grid[j, start]
    return _Response(f, grid)


def _invert_response(
    c_lin: NDArray[np.float64], cols: NDArray[np.intp], resp: _Response
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # c = f⁻¹(ĉ_lin) and f′(c) for values in the given columns (cols broadcasts with c_lin).
    # All columns at once: each column's increasing table is offset by a large constant so
    # one sorted array serves every column.
    f, g = resp.f, resp.grid
    n_g = f.shape[1]
    span = float(np.nanmax(np.abs(f))) * 4.0 + 1.0
    offsets = np.arange(f.shape[0], dtype=np.float64)[:, None] * span
    flat = (f + offsets).ravel()
    cb = np.broadcast_to(cols, c_lin.shape)
    v = np.clip(np.nan_to_num(c_lin, nan=0.0), f[cb, 0], f[cb, -1])
    pos = np.searchsorted(flat, v + offsets[cb, 0], side="right") - 1
    lo = np.clip(pos - cb * n_g, 0, n_g - 2)
    f0, f1 = f[cb, lo], f[cb, lo + 1]
    g0, g1 = g[cb, lo], g[cb, lo + 1]
    df = f1 - f0
    slope = np.where(df > 0, df / np.where(g1 > g0, g1 - g0, 1.0), 1e-3)
    frac = np.where(df > 0, (v - f0) / np.where(df > 0, df, 1.0), 0.0)
    c = g0 + frac * (g1 - g0)
    c = np.where(np.isfinite(c_lin), c, np.nan)
    return c, np.maximum(slope, 1e-3)


@dataclass(frozen=True)
class _Cleaned:
    # Candidates whose methane the robust background took out of the statistics, and how
    # much (linear-domain estimate ℓ, ppm·m): only the rest of their signal self-whitens.
    rows: NDArray[np.intp]
    cols: NDArray[np.intp]
    removed: NDArray[np.float64]


@dataclass(frozen=True)
class FittedMethaneFilter:
    """Per-column methane filters fitted to one line's statistics.

    Optionally :meth:`screen` every chunk and :meth:`refine` with the candidates (robust
    background, exact leave-one-out estimates); then :meth:`project` each chunk and
    :meth:`finalize` the projections.
    """

    plan: MethaneFilter
    stats: FilterStatistics
    _main: _Block
    _witness: _Block | None
    _response: _Response
    _cleaned: _Cleaned | None = None

    @property
    def shrinkage(self) -> NDArray[np.float64]:
        """Covariance shrinkage ρ per column, ``(crosstrack,)``."""
        return self._main.rho.copy()

    def _theory_sd(self, albedo: NDArray[np.float64], cols: NDArray[np.intp]) -> Any:
        # Linear-estimate sigma from the filter alone, per pixel.
        m = self._main
        r_c = np.maximum(np.nan_to_num(albedo, nan=1.0), self.plan.settings.min_albedo)
        return m.loo[cols] * np.sqrt(m.gram_inv[cols, 0, 0]) / r_c

    def _linear(
        self,
        a: NDArray[np.float64],
        albedo: NDArray[np.float64],
        cols: NDArray[np.intp],
        removed: NDArray[np.float64] | None = None,
    ) -> Any:
        # Linear estimate per pixel (cols broadcast with a). A pixel whose methane ℓ was
        # taken out of the statistics self-whitens only in the rest: ĉ = ℓ + L (ĉ_in − ℓ);
        # any other ĉ = L ĉ_in (module notes).
        m = self._main
        r_c = np.maximum(np.nan_to_num(albedo, nan=1.0), self.plan.settings.min_albedo)
        c_in = -a * m.gram_inv[cols, 0, 0] / r_c
        if removed is None:
            return m.loo[cols] * c_in
        return removed + m.loo[cols] * (c_in - removed)

    def screen(self, chunk: ArrayLike, first_row: int = 0) -> Candidates:
        """Pass 2 of 3: keep the pixels that may hold methane, with their spectra.

        Parameters
        ----------
        chunk : (rows, crosstrack, bands) float
            Radiance, as in pass 1.
        first_row : int
            Downtrack index of the chunk's first row in the line.

        Returns
        -------
        Candidates
            Pixels scoring above ``screen_z`` with the current filter, and the neighbours
            (2 px) of those above ``exclusion_z`` (at most ``max_candidates`` of the chunk's
            pixels, the highest first).
        """
        s = self.plan.settings
        arr = np.asarray(chunk, dtype=np.float32)
        self.plan._check_chunk(arr)
        x = arr[:, :, _as_index(self.plan.main)]
        proj, alb = _project(x, self._main)
        cols = np.broadcast_to(np.arange(arr.shape[1]), alb.shape)
        z = self._linear(proj[..., 0], alb, cols) / self._theory_sd(alb, cols)
        finite = np.isfinite(z) & self._main.ok[None, :]
        z = np.where(finite, z, 0.0)
        # A plume is a group of pixels: the 3 × 3 sum of z (÷ 3, unit variance for white
        # noise) finds one whose pixels are each too faint.
        strength = np.maximum(z, ndimage.uniform_filter(z, 3, mode="constant") * 3.0)
        # The weak edges of a plume teach the covariance as much as its core: keep the
        # neighbourhood of every significant pixel too.
        near = ndimage.binary_dilation(strength > s.exclusion_z, _DISK2)
        r, c = np.nonzero(near & finite)
        cap = int(s.max_candidates * z.size)
        if r.size > cap:
            top = np.argsort(strength[r, c])[::-1][:cap]
            r, c = r[top], c[top]
        wit = self.plan.witness
        w = arr[r, c][:, wit].astype(np.float64) if wit.size else np.zeros((r.size, 0))
        return Candidates(
            (r + first_row).astype(np.intp),
            c.astype(np.intp),
            x[r, c].astype(np.float64),
            w,
            strength[r, c].astype(np.float64),
        )

    def refine(self, candidates: Candidates) -> FittedMethaneFilter:
        """Robust background: take the candidates' methane out of the statistics and refit.

        Each candidate's spectrum is divided by its Beer–Lambert absorption ``e^{−k c}`` at
        its current estimate (mag1c's covariance update, made exact for thick plumes); the
        column means and scatters are corrected by the change, the columns refitted, and the
        candidates re-estimated (leave-one-out, with over-relaxation), up to
        ``refine_iterations`` times. Only columns holding a candidate above ``exclusion_z``
        are refitted. The candidates' final estimates are exactly leave-one-out, so an
        anomalous surface (a tarp) does not whiten itself away.

        Parameters
        ----------
        candidates : Candidates
            From :meth:`screen` over the whole line.

        Returns
        -------
        FittedMethaneFilter
            The refined filter (this one is unchanged).
        """
        s = self.plan.settings
        if candidates.rows.size == 0:
            return self
        plan = self.plan
        keep = self._methane_like(candidates)
        rows, cols, x = candidates.rows[keep], candidates.cols[keep], candidates.main[keep]
        xw = candidates.witness[keep]
        st = self.stats
        fitted = self
        removed = np.zeros(cols.size)  # linear-domain methane taken out, ppm·m
        touched = np.unique(cols[candidates.strength[keep] > s.refit_z])
        for _ in range(s.refine_iterations):
            main = fitted._main
            a, alb = _project_rows(x, cols, main)
            c_lin = fitted._linear(a[:, 0], alb, cols, removed)
            sd = fitted._theory_sd(alb, cols)
            touched = np.union1d(touched, np.unique(cols[c_lin / sd > s.refit_z]))
            if touched.size == 0:
                break
            sel = np.isin(cols, touched) & np.isfinite(c_lin)
            relaxed = np.where(sel, removed + _OMEGA * (c_lin - removed), 0.0)
            if np.allclose(relaxed, removed, rtol=0.01, atol=1.0):
                break
            removed = relaxed
            c_used = np.where(sel, _invert_response(relaxed, cols, fitted._response)[0], 0.0)
            fit = _fit_cleaned(st.main, touched, cols[sel], x[sel], c_used[sel], plan, main.noise)
            wit = fitted._witness
            if wit is not None and st.witness is not None:
                fit_w = _fit_cleaned(
                    st.witness,
                    touched,
                    cols[sel],
                    xw[sel],
                    c_used[sel],
                    plan,
                    wit.noise,
                    witness=True,
                )
                wit = wit.replace_columns(touched, fit_w)
            fitted = FittedMethaneFilter(
                plan,
                st,
                main.replace_columns(touched, fit),
                wit,
                fitted._response.replace_columns(touched, _response_tables(fit, plan.k)),
                _Cleaned(rows[sel], cols[sel], removed[sel]),
            )
        return fitted

    def _methane_like(self, cand: Candidates) -> NDArray[np.bool_]:
        # Candidates in groups (8-connected) that the 1.65 µm witness does not refute: only
        # those may be cleaned. Cleaning a group of methane-like clutter would un-whiten it
        # and raise false alarms; it stays in the statistics.
        n = cand.rows.size
        wit = self._witness
        if n == 0 or wit is None or cand.witness.shape[1] != self.plan.witness.size:
            return np.ones(n, dtype=bool)
        s = self.plan.settings
        img = np.zeros((int(cand.rows.max()) + 1, self._main.ok.size), dtype=bool)
        img[cand.rows, cand.cols] = True
        labels, n_obj = ndimage.label(img, _DISK1)
        obj = labels[cand.rows, cand.cols]
        a, alb = _project_rows(cand.main, cand.cols, self._main)
        c = self._linear(a[:, 0], alb, cand.cols)
        sd = self._theory_sd(alb, cand.cols)
        b, alb_w = _project_rows(cand.witness, cand.cols, wit)
        r_w = np.maximum(np.nan_to_num(alb_w, nan=1.0), s.min_albedo)
        g = wit.gram_inv[cand.cols]
        w = -(g[:, 0, 0] * b[:, 0] + g[:, 0, 1] * b[:, 1]) * wit.loo[cand.cols] / r_w
        w_sd = np.sqrt(g[:, 0, 0]) * wit.loo[cand.cols] / r_w
        ok = np.isfinite(c) & np.isfinite(w) & np.isfinite(sd) & np.isfinite(w_sd)
        wt = np.where(ok, 1.0 / (sd**2 + w_sd**2), 0.0)
        total = np.bincount(obj, weights=wt, minlength=n_obj + 1)
        safe = np.where(total > 0, total, 1.0)
        mc = np.bincount(obj, weights=wt * np.where(ok, c, 0.0), minlength=n_obj + 1) / safe
        mw = np.bincount(obj, weights=wt * np.where(ok, w, 0.0), minlength=n_obj + 1) / safe
        se = 1.0 / np.sqrt(safe)
        refuted = (mw < (1.0 - s.witness_fraction) * mc) & ((mc - mw) / se > s.object_z)
        return np.asarray(~refuted[obj] & (total[obj] > 0), dtype=bool)

    def project(self, chunk: ArrayLike) -> Projections:
        """Project a chunk of rows on the fitted filters (the last pass).

        Parameters
        ----------
        chunk : (rows, crosstrack, bands) float
            Radiance in the same units as pass 1; NaN marks bad pixels.

        Returns
        -------
        Projections
            A few numbers per pixel; join chunks with :meth:`Projections.concatenate`.
        """
        arr = np.asarray(chunk, dtype=np.float32)
        self.plan._check_chunk(arr)
        a, r = _project(arr[:, :, _as_index(self.plan.main)], self._main)
        if self._witness is None:
            return Projections(a[..., 0], r, None, None)
        b, rw = _project(arr[:, :, _as_index(self.plan.witness)], self._witness)
        return Projections(a[..., 0], r, b, rw)

    def finalize(self, projections: Projections | Sequence[Projections]) -> MethaneResult:
        """Turn the projections of a whole line into enhancement, sigma, score and tests.

        Parameters
        ----------
        projections : Projections or sequence of Projections
            The output of :meth:`project` for every chunk, in downtrack order.

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
        shape = p.a.shape
        valid = np.isfinite(p.a) & main.ok[None, :]
        cols = np.broadcast_to(np.arange(shape[1]), shape)
        removed = np.zeros(shape)
        cl = self._cleaned
        if cl is not None:
            inside = cl.rows < shape[0]
            removed[cl.rows[inside], cl.cols[inside]] = cl.removed[inside]
        sd_theory = self._theory_sd(p.albedo, cols)
        c_lin = self._linear(np.where(valid, p.a, 0.0), p.albedo, cols, removed)
        # Bright surfaces lengthen the light path through the atmosphere's own methane
        # (multiple scattering between ground and air), which a linear filter reads as an
        # enhancement, in both bands: remove the background's trend with brightness.
        brightness = p.albedo * main.mean.mean(axis=1)[None, :]
        # Sigma: theory scaled per column by the robust spread of the background estimates,
        # with significant pixels (and their neighbours) left out of trend and spread.
        excluded = np.zeros(shape, dtype=bool)
        scale = np.ones(shape[1])
        trend = np.zeros(shape)
        for _ in range(3):
            trend = _brightness_trend(c_lin, brightness, valid & ~excluded)
            scale = _robust_scale((c_lin - trend) / sd_theory, valid & ~excluded)
            z = np.where(valid, (c_lin - trend) / (sd_theory * scale), 0.0)
            excluded = ndimage.binary_dilation(z > s.exclusion_z, _DISK1) & valid
        c_lin = c_lin - trend
        c, slope = _invert_response(c_lin, cols, self._response)
        sigma = sd_theory * scale / slope
        c = np.where(valid, c, np.nan)
        sigma = np.where(valid, sigma, np.nan)
        score = c / sigma
        w_c = np.full(shape, np.nan)
        w_sd = np.full(shape, np.nan)
        ch_z = np.full(shape, np.nan)
        reasons = np.zeros(shape, dtype=np.uint8)
        wit = self._witness
        if wit is not None and p.b is not None and p.albedo_witness is not None:
            w_c, w_sd, ch_z = _witness_maps(
                p.b, p.albedo_witness, wit, excluded & valid, s.min_albedo
            )
            has = np.isfinite(w_c) & valid
            # A plastic cover is an object: its edges show the C–H band best, its core (which
            # the column statistics partly learn) less. Hysteresis: regions above ch_z_low
            # holding a pixel above ch_z, grown by a pixel, are all C–H surface.
            ch = np.nan_to_num(ch_z, nan=0.0)
            labels, _ = ndimage.label(ch > s.ch_z_low, _DISK1)
            hit = np.unique(labels[(ch > s.ch_z) & (labels > 0)])
            ch_region = ndimage.binary_dilation(np.isin(labels, hit[hit > 0]), _DISK1)
            # Dry vegetation shows the C–H band too: over such a surface, a pixel is taken
            # for plastic only if 1.65 µm does not confirm the methane 2.3 µm sees.
            unconfirmed = w_c < (1.0 - s.witness_fraction) * c
            ch_fail = has & ch_region & unconfirmed
            diff_sd = np.sqrt(sigma**2 + w_sd**2)
            missing = has & (c - w_c > s.witness_z * diff_sd + s.witness_fraction * c)
            reasons = (ch_fail * CH_1730 | missing * NO_1650).astype(np.uint8)
        candidate = np.where(valid, score, 0.0) > s.candidate_z
        suppressed = candidate & (reasons != 0)
        f32 = np.float32
        return MethaneResult(
            enhancement=c.astype(f32),
            sigma=sigma.astype(f32),
            score=score.astype(f32),
            albedo=np.where(valid, p.albedo, np.nan).astype(f32),
            witness_ppm_m=w_c.astype(f32),
            witness_sigma=w_sd.astype(f32),
            ch_score=ch_z.astype(f32),
            reasons=reasons,
            suppressed=suppressed,
            background=valid & ~excluded,
            wavelengths_nm=self.plan.wavelengths_nm[self.plan.main].copy(),
            shrinkage=main.rho.copy(),
        )


def _fit_cleaned(
    stats: ColumnStatistics,
    touched: NDArray[np.intp],
    cols: NDArray[np.intp],
    spectra: NDArray[np.float64],
    c: NDArray[np.float64],
    plan: MethaneFilter,
    noise: NDArray[np.float64],
    *,
    witness: bool = False,
) -> _Block:
    # Refit the touched columns with each candidate x replaced by x e^{k c} (its methane
    # undone): mean and scatter change by the candidates' differences only.
    k = plan.witness_targets[:, 0] if witness else plan.k
    unit = plan.witness_targets if witness else plan.k[:, None]
    count = stats.count[touched]
    mean = stats.mean[touched].copy()
    scatter = stats.scatter[touched].copy()
    cleaned = spectra * np.exp(np.outer(c, k))
    where = {int(j): i for i, j in enumerate(touched)}
    for j, sel in _groups(cols):
        i = where[j]
        n = max(int(count[i]), 1)
        x = spectra[sel] - mean[i]
        y = cleaned[sel] - mean[i]
        shift = (y - x).sum(axis=0) / n
        scatter[i] += y.T @ y - x.T @ x - n * np.outer(shift, shift)
        mean[i] += shift
    cov = scatter / np.maximum(count, 1)[:, None, None]
    s = plan.settings
    return _fit_block(count, mean, cov, unit, s.shrinkage, s.min_rows, noise[touched])


def _project(
    x: NDArray[np.float32], block: _Block
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # (x − μ)ᵀ C⁻¹ T per pixel and target, and the albedo factor xᵀμ / μᵀμ. Centred first:
    # C⁻¹T is nearly orthogonal to the clutter, so uncentred terms would cancel; centred,
    # float32 is within 0.2 ppm·m of float64 (measured on the benchmark cube).
    valid = np.isfinite(x).all(axis=2)
    mu = block.mean.astype(np.float32)
    d = x - mu[None]
    if not valid.all():
        d[~valid] = 0.0
    alb = np.einsum("rcp,cp->rc", d, mu).astype(np.float64)
    alb = alb / np.where(block.mean_sq > 0, block.mean_sq, 1.0)[None] + 1.0
    proj = np.einsum("rcp,cpi->rci", d, block.weights.astype(np.float32)).astype(np.float64)
    proj[~valid] = np.nan
    alb[~valid] = np.nan
    return proj, alb


def _robust_scale(values: NDArray[np.float64], use: NDArray[np.bool_]) -> NDArray[np.float64]:
    # Per-column MAD-based sigma of ``values`` over the pixels in ``use``.
    use = use & np.isfinite(values)
    v = np.where(use, values, np.nan)
    enough = use.sum(axis=0) >= 5
    out = np.ones(v.shape[1])
    if np.any(enough):
        sub = v[:, enough]
        med = np.nanmedian(sub, axis=0)
        out[enough] = _MAD_TO_SIGMA * np.nanmedian(np.abs(sub - med), axis=0)
    ok = enough & np.isfinite(out) & (out > 0)
    fallback = float(np.median(out[ok])) if np.any(ok) else 1.0
    return np.where(ok, out, fallback)


def _brightness_trend(
    values: NDArray[np.float64], brightness: NDArray[np.float64], use: NDArray[np.bool_]
) -> NDArray[np.float64]:
    # Median of ``values`` in brightness quantile bins of the background pixels, interpolated
    # at every pixel's brightness (flat beyond the ends); zero when too few pixels.
    ok = use & np.isfinite(values) & np.isfinite(brightness)
    n = int(ok.sum())
    bins = min(24, n // 100)
    if bins < 2:
        return np.zeros(values.shape)
    b, v = brightness[ok], values[ok]
    order = np.argsort(b)
    parts = np.array_split(order, bins)
    centre = np.array([np.median(b[i]) for i in parts])
    level = np.array([np.median(v[i]) for i in parts])
    out = np.interp(np.nan_to_num(brightness, nan=float(np.median(b))), centre, level)
    return np.asarray(out, dtype=np.float64)


def _witness_maps(
    b: NDArray[np.float64],
    albedo: NDArray[np.float64],
    block: _Block,
    excluded: NDArray[np.bool_],
    min_albedo: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    # Joint fit of CH₄ (1.65 µm) and the C–H band (1.73 µm): θ = −G⁻¹ b L / R per pixel.
    valid = np.isfinite(b).all(axis=2) & block.ok[None, :]
    r_c = np.maximum(np.nan_to_num(albedo, nan=1.0), min_albedo)
    b0 = np.where(valid[:, :, None], b, 0.0)
    theta = -np.einsum("cij,rcj->rci", block.gram_inv, b0) * block.loo[None, :, None]
    unit_sd = np.sqrt(np.diagonal(block.gram_inv, axis1=1, axis2=2)) * block.loo[:, None]
    use = valid & ~excluded
    brightness = albedo * block.mean.mean(axis=1)[None, :]
    for i in range(2):
        theta[..., i] -= _brightness_trend(theta[..., i] / r_c, brightness, use) * r_c
    scale = np.stack(
        [_robust_scale(theta[..., i] / unit_sd[None, :, i], use) for i in range(2)], axis=-1
    )
    theta /= r_c[:, :, None]
    sd = unit_sd[None] * scale[None] / r_c[:, :, None]
    theta[~valid] = np.nan
    sd[~valid] = np.nan
    return theta[..., 0], sd[..., 0], theta[..., 1] / sd[..., 1]


def matched_filter(
    radiance: Any,
    wavelengths_nm: ArrayLike,
    fwhm_nm: ArrayLike | None = None,
    good_wavelengths: ArrayLike | None = None,
    *,
    settings: MethaneSettings | None = None,
    chunk_rows: int = 256,
) -> MethaneResult:
    """Retrieve methane enhancement from a radiance array, streaming it in two passes.

    Parameters
    ----------
    radiance : (downtrack, crosstrack, bands) array-like
        Radiance, µW cm⁻² sr⁻¹ nm⁻¹ (the estimate does not depend on the unit); NaN marks bad
        pixels. Anything that slices along the first axis and converts with ``np.asarray``
        (NumPy, a Dask array, an ``xarray.DataArray``) is read ``chunk_rows`` rows at a time.
    wavelengths_nm : (bands,) float
        Band centres, nm.
    fwhm_nm : (bands,) float, optional
        Band FWHM, nm (default: the band spacing).
    good_wavelengths : (bands,) bool or 0/1, optional
        Usable bands; others are never read.
    settings : MethaneSettings, optional
        Windows and thresholds.
    chunk_rows : int
        Rows per chunk of each pass.

    Returns
    -------
    MethaneResult
        Maps of enhancement (ppm·m), sigma, score and the false-positive tests.

    Raises
    ------
    InputError
        Wrong shape, no good bands in the methane window, or no column with enough finite
        pixels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> wl = np.arange(2100.0, 2500.0, 7.4)
    >>> cube = (5.0 + rng.normal(0, 0.01, (64, 8, wl.size))).astype(np.float32)
    >>> res = matched_filter(cube, wl, np.full(wl.size, 8.5))
    >>> res.enhancement.shape, bool(abs(np.nanmedian(res.enhancement)) < 50)
    ((64, 8), True)
    """
    shape = tuple(int(v) for v in getattr(radiance, "shape", ()))
    if len(shape) != 3:
        raise InputError(
            f"radiance must be 3-D (downtrack, crosstrack, bands), got shape {shape or '()'}"
        )
    if chunk_rows < 1:
        raise InputError(f"chunk_rows must be ≥ 1, got {chunk_rows}")
    plan = MethaneFilter.from_bands(wavelengths_nm, fwhm_nm, good_wavelengths, settings)
    if shape[2] != plan.n_bands:
        raise InputError(f"radiance has {shape[2]} bands but {plan.n_bands} wavelengths")
    rows, cols = shape[0], shape[1]
    stats = plan.statistics(cols)
    for start in range(0, rows, chunk_rows):
        plan.accumulate(stats, np.asarray(radiance[start : start + chunk_rows]))
    fitted = plan.fit(stats)
    if plan.settings.refine_iterations > 0:
        found = [
            fitted.screen(np.asarray(radiance[start : start + chunk_rows]), start)
            for start in range(0, rows, chunk_rows)
        ]
        fitted = fitted.refine(Candidates.concatenate(found))
    parts = [
        fitted.project(np.asarray(radiance[start : start + chunk_rows]))
        for start in range(0, rows, chunk_rows)
    ]
    return fitted.finalize(parts)


def retrieve_methane(
    cube: xr.Dataset, *, settings: MethaneSettings | None = None, chunk_rows: int = 256
) -> MethaneResult:
    """Retrieve methane enhancement from a VSWIR cube in the EMIT L1B layout.

    Parameters
    ----------
    cube : xarray.Dataset
        As :func:`vigia.sense.io.open_cube` returns it: ``radiance(downtrack, crosstrack,
        bands)``, coordinates ``wavelengths`` and ``fwhm`` (nm), optional ``good_wavelengths``.
        Dask-backed cubes are read chunk by chunk.
    settings : MethaneSettings, optional
        Windows and thresholds.
    chunk_rows : int
        Rows per chunk of each pass.

    Returns
    -------
    MethaneResult

    Raises
    ------
    InputError
        If the cube is not VSWIR, lacks ``radiance`` or ``wavelengths``, or has nothing usable
        in the methane window. Messages name the line and the field.
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


@dataclass(frozen=True)
class WitnessCheck:
    """Whether methane's 1.65 µm band confirms a plume seen at 2.3 µm, over the whole plume.

    Attributes
    ----------
    main_ppm_m, witness_ppm_m : float
        Inverse-variance weighted means over the plume of the 2.3 µm and 1.65 µm
        enhancements, ppm·m.
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
    c = result.enhancement[plume.rows, plume.cols].astype(np.float64)
    sd = result.sigma[plume.rows, plume.cols].astype(np.float64)
    w = result.witness_ppm_m[plume.rows, plume.cols].astype(np.float64)
    wsd = result.witness_sigma[plume.rows, plume.cols].astype(np.float64)
    ok = np.isfinite(c) & np.isfinite(sd) & np.isfinite(w) & np.isfinite(wsd)
    if not ok.any():
        return WitnessCheck(float(np.nanmean(c)), math.nan, math.nan, math.nan, True)
    wt = 1.0 / (sd[ok] ** 2 + wsd[ok] ** 2)
    mc = float(np.sum(wt * c[ok]) / wt.sum())
    mw = float(np.sum(wt * w[ok]) / wt.sum())
    se = float(math.sqrt(1.0 / wt.sum()))
    z = (mc - mw) / se
    confirmed = not (mw < (1.0 - s.witness_fraction) * mc and z > s.object_z)
    ratio = mw / mc if mc != 0 else math.nan
    return WitnessCheck(mc, mw, ratio, z, confirmed)


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
    out, then :func:`witness_check` on every plume; plumes the 1.65 µm band refutes are
    dropped.

    Parameters
    ----------
    result : MethaneResult
        From :func:`matched_filter` or :func:`retrieve_methane`.
    lat, lon : (downtrack, crosstrack) float
        Pixel centres of the cube, degrees.
    wind : Wind, optional
        10 m wind (speed m/s, from-direction degrees); without it no emission rate.
    calibration : IMECalibration, optional
        Effective-wind calibration of the IME method.
    segmentation : SegmentationSettings, optional
        CFAR and segmentation thresholds.
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
    return [p for p in plumes if witness_check(p, result, settings).confirmed]
