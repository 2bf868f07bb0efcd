"""Gas plumes in an enhancement map: detection, segmentation and IME quantification.

Species-agnostic: any ``(downtrack, crosstrack)`` map of column enhancement (ppm·m) with its
per-pixel sigma, from the methane filter or an LWIR detector, goes in; :class:`Plume` objects
come out.

Detection
    A spatial matched filter for plumes (the "kernel" method, the default). A plume from a
    point source is a wedge: along the wind its cross-section holds the same mass (Q/u) at
    every distance while it widens (σ_y ≈ a s, Briggs 1973), so its column is
    ``h(s, n) ∝ exp(−n² / 2w²) / w`` with ``w = √(w₀² + (a s)²)``. For each kernel h of a
    small family (spreads a, lengths L, directions along the wind ± its uncertainty, or every
    direction when no wind is given) anchored at a candidate source p, the statistic
    ``T(p) = Σ h e / σ² / √(Σ h² / σ²)`` (FFT correlations) is the matched filter of the
    plume's whole signal in white noise (Kay 1998, *Fundamentals of Statistical Signal
    Processing* II, §4.3). Each kernel's T is made CFAR empirically: its median removed and
    divided by the larger of its MAD scale and its negative-tail scale (the background's own
    spatially correlated part inflates both; methane only adds, so the negative tail is
    background). Detections are the local maxima (11 × 11) above ``Φ⁻¹(1 − r A / K)``, r the
    false plumes allowed per km², A the pixel area and K the number of kernels (a Bonferroni
    bound on the maximum over kernels; measured on white noise: 0 false plumes in 100 km²
    where r allows 1), strongest first; one whose kernel lies mostly on a stronger plume,
    draws most of its signal from one (a long kernel anchored in clean air beside a large
    plume that the wind analysis has wrong, or that meanders, sees its mass far down the
    wedge), or reaches its source, is that plume again. Column striping is removed first:
    each column's significance is renormalised by its own median and MAD.

    Optionally (``clutter_lag_m``, off by default) the statistic is whitened on busy ground:
    where a block's clutter at the model's scale is ≥ 3× white noise's power, T is the
    matched filter of coloured noise, ``⟨W h, W z⟩ / ‖W h‖``, W whitening the map by its
    own clutter model (:class:`ClutterModel`). On the 3 m bench lines
    (``bench/methane_pd.py --altitude 3000``, 24 lines, seeds 0–11) it found 82 of the 96
    sources ≥ 10 kg/h against 77, with 7 false plumes either way (175.6 km²); on the 6 m
    lines 63 against 65, with 2 false plumes against 1 (173.8 km²): at 6 m the clutter is
    nearer the noise and the filter has less to gain. On seeds 12–17, rendered after it was
    built: 42 against 40 of 48 at 3 m (no false plume either way), 31 against 30 at 6 m
    with 1 false plume against 0. Over synthetic clutter at the plumes' own scale it can
    anchor a plume 12–40 px upwind of its source; hence off.

    On fine pixels (``min_peak_z``; by default below 5 m) a plume must also hold a pixel
    significant on its own, a seed as in hysteresis segmentation: a real plume is densest at
    its source, while ground that reads a little methane over a wide patch passes the kernel
    test with no such pixel. On the bench lines (``bench/methane_pd.py``, seeds 0–26, 216 sources
    ≥ 10 kg/h at each height) with the pfa's seed (4.26σ): at 3 m, 8 false plumes in
    395 km² → 2 (their brightest pixels were 3.5–4.3σ) for 180 → 178 sources found; at 6 m,
    2 false plumes in 391 km² → 0 for 148 → 141 sources (coarser pixels dilute a source's
    core, and a 20 kg/h plume's brightest pixel is often 3.8–4.4σ there). At 3 m, with the
    threshold's budget raised to 4 false plumes per 100 km² of white noise as well, it found
    the same 180 sources as the plain defaults with 3 false plumes; at 4.5 m, 162 against 163
    with 1 false plume against 6. Hence both are the defaults for pixels finer than 5 m
    (:meth:`SegmentationSettings.for_pixel_size`, when no settings are given) and off at the
    platform's 6 m.

    The "cfar" method (:func:`cfar_mask`) is a per-pixel CFAR test on the significance map
    smoothed by a small Gaussian, with hysteresis (Canny's) and a minimum size.
Source
    With the "kernel" method, the upwind edge of the plume: the anchor, near the maximum or
    up to 40 px upwind of it where the plume shows, of the best "plume downwind, clean air
    upwind" filter (a short kernel minus its mirror image, in the best kernel's and the
    neighbouring directions and spreads); of anchors within 10 % of the best — and, when the
    plume's visible body goes on upwind of them (within ±25° of the wind), of those joined
    to them along that body (gaps of up to 3 px along the wind bridged) through anchors that
    are still a plume's edge (≥ 3σ and ≥ 15 % of the best: a stack's narrow, meandering
    start scores below the dense puffs downwind of it) — the best within 3 px of the most
    upwind. Without a wind the plume's two ends are both tried. When the source found does
    not look like a start (below), the gas is followed upwind from it, up to 80 px, gaps of
    up to 8 px along the wind bridged, to a start that does (an edge ≥ 3σ and ≥ 25 % of the
    first, with gas on ≥ 60 % of the way); a trail that reaches a plume found already makes
    it that plume again. Conversely, a dense piece of a plume can outscore its thin start
    and be found first, its source at the piece's upwind end: a maximum found later that is
    that plume again but whose source lies upwind of the first (≥ 15 px, beyond the first
    search, within ±30° of its axis), looks like a start, is joined to it by gas (≥ 60 %)
    and has an edge statistic above the detection threshold moves the plume's source there,
    once, and only with a wind (without one, upwind is a guess from the plume's shape).
    A source is *not in view* when what was seen ends within 8 px upwind of it (the plume
    enters the image at the end of the line, the edge of the swath or bad pixels) or when the
    plume is already wider over its first 5 px than a point source's plume can be there
    (1.5 × the widest kernel spread, with the pixel's footprint): a puff or the tail of a
    plume from further upwind; or when fewer than 5 of the plume's pixels lie within 5 px of
    it (its own 3 × 3 aside): a kernel anchored in clean air beside gas it saw down its
    wedge. Such plumes are reported with the reason; fusion lets them support a site but
    not make one. With "cfar" and the wind, the most enhanced pixel of the plume's upwind
    end; without the wind the plume's axis is the principal axis of its enhancement-weighted
    pixels, and the source end the one whose pixels are more enhanced (a plume is densest
    and narrowest at its source).
Quantification
    The integrated mass enhancement (IME, Frankenberg et al. 2016, PNAS 113:9734; Varon et al.
    2018, AMT 11:5673) of a plume, ``ime_kg``, sums column mass over the plume grown by
    ``ime_dilation_px`` (its faint edges) — with the "kernel" method over the best kernel's
    whole wedge (2.5 widths either side of its axis, L long). The emission rate is
    ``Q = U_eff · IME_r / L_r`` with ``U_eff = α U10 + β`` (:class:`IMECalibration`) and IME_r
    the mass of the plume's first stretch: a wedge from the source along the plume,
    ``rate_length_m`` (180 m, at least ``rate_min_px``) long and of spread ``rate_spread``
    (whole cross-sections of any stability class), other plumes' pixels left out unless that
    plume starts inside it (a puff of this one found apart), divided by the share of a
    plume's mass in the wedge that lies on seen pixels. A fixed stretch, not the detecting
    kernel's length (60–960 m): a long wedge gathers the map's clutter, which grows with its
    area, and a short one samples few eddies. On the bench scenes (``bench/methane_pd.py``)
    the median |error| fell from 34 % to 16 % at 6 km (38 % to 22 % on held-out seeds); at 3 km
    it is mixed (24 to 23 %, and 21 to 27 % held out). Over clutter the stretch's mass of a
    faint plume can read below zero, which no plume holds: the mass used is the mean of its
    likelihood over values ≥ 0 (:func:`non_negative_estimate`; the same for a mass well above
    its noise), the rate as measured kept beside it (``measured_kg_h``). On the bench scenes
    this ended the negative rates (4 of 143 rated detections, both heights, both seed sets),
    cut the 90th percentile of |error| from 54–79 % to 49–72 %, left the median at 6 km as it
    was (16 %, 22 % held out) and brought it at 3 km to 22 % (23 % before) and 23 % held out
    (27 %). Its sigma adds
    in quadrature the IME_r's noise, the wind speed's uncertainty, the calibration's and half
    a pixel of length; the IME_r's noise is *measured*: the spread (MAD) of the same wedge's
    mass placed over the line's background (no plume within 3 px), which holds the clutter
    correlated between pixels that the per-pixel sigma misses (the per-pixel figure when it is
    larger, or when fewer than 20 places are clean).

Pixel sizes come from the cube's own per-pixel latitude and longitude, on a local tangent plane
(east, north) about the scene: over a few kilometres it differs from UTM by less than 0.1 %
and keeps north true, which compass wind directions need.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from statistics import NormalDist
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft as sp_fft
from scipy import ndimage
from scipy.stats import truncnorm

from vigia.errors import InputError
from vigia.sense.plume import ppm_m_to_mass

__all__ = [
    "MOLAR_MASS_KG_MOL",
    "ClutterModel",
    "IMECalibration",
    "PixelGrid",
    "Plume",
    "SegmentationSettings",
    "Wind",
    "cfar_mask",
    "column_normalised",
    "find_plumes",
    "kernel_threshold",
    "non_negative_estimate",
    "plume_kernel",
    "quantify_plume",
]

MOLAR_MASS_KG_MOL: Final[Mapping[str, float]] = {
    "CH4": 0.016043,
    "NH3": 0.017031,
    "CO2": 0.04401,
    "acetone": 0.05808,
    "toluene": 0.09214,
    "methanol": 0.03204,
    "dichloromethane": 0.08493,
    "isopropanol": 0.06010,
    "ethyl acetate": 0.08811,
    "chloroform": 0.11938,
}
"""Molar masses of the species Vigía quantifies, kg/mol (IUPAC standard atomic weights)."""

_MAD_TO_SIGMA: Final = 1.4826
_EARTH_RADIUS_M: Final = 6_371_008.8  # IUGG mean radius
_EIGHT: Final = np.ones((3, 3), dtype=bool)
_EDGE_PX: Final = 20.0  # length of the kernels that locate a plume's source, pixels
_PEAK_PX: Final = 5  # half-size of the window of a local maximum of the statistic, pixels
_SEARCH_PX: Final = 15  # radius around a maximum searched for the source, pixels
_UPWIND_PX: Final = 40  # how far upwind of a maximum the source may be, pixels
_START_PX: Final = 5  # stretch downwind of a source over which its width is judged, pixels
_VIEW_PX: Final = 8  # radius of the ground upwind of a source that must have been seen, px
_RATE_BACKGROUND_PLACES: Final = 20  # clean wedge places that measure the rate's noise
_FAN_RAD: Final = math.radians(25.0)  # turn either side of the wind when following a body
_END_PX: Final = 3.0  # depth of the upwind end of a plume searched for its source, pixels
_NEAR_PX: Final = 5.0  # radius around a source that must hold some of its plume, pixels
_NEAR_MIN: Final = 5  # fewest plume pixels there (its own 3 × 3 aside)
_EDGE_Z: Final = 3.0  # least significance of an anchor on the path from a maximum to the source
_EDGE_FRACTION: Final = 0.15  # ... and least share of the best anchor's statistic
_CFAR_BLOCK_PX: Final = 256  # side of the blocks whose clutter sets the local CFAR scale, pixels
_CFAR_BLOCK_MIN: Final = 1000  # fewest usable pixels a block's own CFAR statistics need
_BUSY_RATIO: Final = 3.0  # clutter-to-white power at the model's scale that makes ground busy
_FINE_PIXEL_M: Final = 5.0  # pixels finer than this get a seed test by default, m
_FINE_FALSE_PLUMES: Final = 4.0  # ... and this threshold budget, per 100 km²
# Following a plume upwind from a source that does not look like a start (see _detections):
_UPSTART_PX: Final = 5.0  # least distance upwind of the first source, pixels
_UPSTART_GAP: Final = 4  # gaps along the wind bridged on the way (up to 2 × this), pixels
_UPSTART_Z: Final = 3.0  # least edge statistic of the start found upwind ...
_UPSTART_FRACTION: Final = 0.25  # ... and least share of the first source's
_UPSTART_JOIN: Final = 0.6  # least share of the straight path from there with gas on it


@dataclass(frozen=True)
class Wind:
    """Surface wind for plume quantification.

    Attributes
    ----------
    speed_m_s : float
        Wind speed at 10 m, m/s (> 0).
    from_deg : float
        Compass direction the wind blows from, degrees (0 = from the north).
    speed_sigma_m_s : float or None
        One-sigma uncertainty of the speed, m/s; None takes ``max(0.5, 0.25 × speed)``, a
        typical error of a nearby station or a reanalysis at 10 m.
    from_sigma_deg : float
        One-sigma uncertainty of the direction, degrees (the plume detector searches ± 2σ).
    """

    speed_m_s: float
    from_deg: float
    speed_sigma_m_s: float | None = None
    from_sigma_deg: float = 15.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.speed_m_s) and self.speed_m_s > 0):
            raise InputError(f"wind speed must be > 0 m/s, got {self.speed_m_s!r}")
        if not math.isfinite(self.from_deg):
            raise InputError(f"wind direction must be finite degrees, got {self.from_deg!r}")
        if self.speed_sigma_m_s is not None and not (
            math.isfinite(self.speed_sigma_m_s) and self.speed_sigma_m_s >= 0
        ):
            raise InputError(f"wind speed sigma must be ≥ 0 m/s, got {self.speed_sigma_m_s!r}")
        if not (math.isfinite(self.from_sigma_deg) and 0 <= self.from_sigma_deg <= 90):
            raise InputError(
                f"wind direction sigma must be in [0, 90] degrees, got {self.from_sigma_deg!r}"
            )

    @property
    def sigma_m_s(self) -> float:
        """One-sigma speed uncertainty used, m/s."""
        if self.speed_sigma_m_s is not None:
            return self.speed_sigma_m_s
        return max(0.5, 0.25 * self.speed_m_s)

    @property
    def downwind_unit(self) -> tuple[float, float]:
        """Unit vector (east, north) of the direction the wind blows towards."""
        t = math.radians(self.from_deg)
        return (-math.sin(t), -math.cos(t))


@dataclass(frozen=True)
class IMECalibration:
    """Effective wind speed of the IME method, ``U_eff = alpha × U10 + beta``.

    The default (α = 1, β = 0) is mass balance for a plume advected at the 10 m wind: along a
    steady plume every metre holds Q / U of gas, so ``IME = Q L / U`` over a mask L long that
    holds whole cross-sections. Vigía's plume model (Gaussian plume with turbulent structure,
    :mod:`vigia.sense.plume`) advects at U10, and with the mask grown to collect the plume's
    edges this recovers Q without a fitted factor. Large-eddy-simulation calibrations of real
    plumes give a lower U_eff (plumes near the ground move slower than the 10 m wind and
    masks miss their edges): Varon et al. 2018 (AMT 11:5673) fit ``U_eff`` to U10 for their
    instrument and mask; pass such a calibration for real data.

    Attributes
    ----------
    alpha : float
        Slope, dimensionless.
    beta_m_s : float
        Offset, m/s.
    relative_sigma : float
        One-sigma relative uncertainty of U_eff from the calibration itself (plume-to-plume
        scatter of IME/L at a given wind), dimensionless.
    source : str
        Where the numbers come from.
    """

    alpha: float = 1.0
    beta_m_s: float = 0.0
    relative_sigma: float = 0.15
    source: str = "mass balance at U10 for a mask holding whole cross-sections (Vigía)"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise InputError(f"IME calibration alpha must be > 0, got {self.alpha!r}")
        if not math.isfinite(self.beta_m_s):
            raise InputError(f"IME calibration beta must be finite, got {self.beta_m_s!r}")
        if not (math.isfinite(self.relative_sigma) and self.relative_sigma >= 0):
            raise InputError(
                f"IME calibration relative_sigma must be ≥ 0, got {self.relative_sigma!r}"
            )

    def effective_wind(self, wind_speed_m_s: float) -> float:
        """Return U_eff for a 10 m wind speed, m/s (at least 0.1 m/s)."""
        return max(0.1, self.alpha * wind_speed_m_s + self.beta_m_s)


@dataclass(frozen=True)
class SegmentationSettings:
    """Settings of the plume detectors and segmentation.

    Attributes
    ----------
    method : {"kernel", "cfar"}
        Plume-shaped spatial matched filter, or per-pixel CFAR on the smoothed significance.
    false_plumes_per_100km2 : float
        False plumes the kernel detector may report per 100 km² of white noise (sets its
        threshold).
    kernel_spreads : tuple of float
        Plume spreads a (σ_y / distance) of the kernels, dimensionless.
    kernel_lengths_m : tuple of float
        Kernel lengths along the plume, m.
    source_width_px : float
        Width w₀ of a kernel at its source (pixel footprint), pixels.
    scan_step_deg : float
        Direction step of the kernels, degrees (every direction without a wind; the wind
        ± 2σ with one).
    max_kernel_px : int
        Longest kernel, pixels (longer lengths are cut).
    pfa : float
        Per-pixel false-alarm probability of a seed, on the Gaussian null of the renormalised
        (smoothed) significance: 1e-5 is a threshold of 4.26.
    grow_z : float
        Significance to which a plume grows from its seeds.
    min_pixels : int
        Fewest pixels a plume may have.
    smooth_px : float
        Standard deviation of the Gaussian spatial filter, pixels (0: none); across the wind
        when the wind is known.
    along_px : float
        Standard deviation of the spatial filter along the wind when the wind is known,
        pixels (0: round filter).
    merge_px : int
        Fragments at most this far apart (pixels) are one plume.
    ime_dilation_px : int
        Pixels by which the plume grows for the IME (its faint edges).
    rate_length_m : float
        Length of the stretch from the source over which the emission rate's IME is taken, m.
    rate_min_px : float
        Least length of that stretch, pixels (for coarse pixels).
    rate_spread : float
        Spread a of that stretch's wedge (σ_y / distance), dimensionless: wide enough to hold
        the cross-sections of any stability class.
    source_fraction : float
        Share of the plume's extent along its axis that counts as its source end.
    clutter_lag_m : float or None
        Correlation length of the spatial clutter model the kernel detector whitens the map
        by (:class:`ClutterModel`), m; None for none (the matched filter of white noise).
    min_peak_z : float or None
        Least significance of a plume's most significant pixel on its own (the score map), in
        σ; a plume without one is dropped (a seed, as in hysteresis segmentation). None: no
        such test (the default; :meth:`for_pixel_size` sets ``seed_z``, 4.26 at the default
        ``pfa``, for pixels finer than 5 m).
    """

    method: Literal["kernel", "cfar"] = "kernel"
    false_plumes_per_100km2: float = 1.0
    kernel_spreads: tuple[float, ...] = (0.05, 0.12, 0.25)
    kernel_lengths_m: tuple[float, ...] = (60.0, 180.0, 480.0, 960.0)
    source_width_px: float = 0.6
    scan_step_deg: float = 15.0
    max_kernel_px: int = 200
    pfa: float = 1e-5
    grow_z: float = 2.0
    min_pixels: int = 5
    smooth_px: float = 1.0
    along_px: float = 3.0
    merge_px: int = 2
    ime_dilation_px: int = 2
    rate_length_m: float = 180.0
    rate_min_px: float = 10.0
    rate_spread: float = 0.25
    source_fraction: float = 0.25
    clutter_lag_m: float | None = None
    min_peak_z: float | None = None

    def __post_init__(self) -> None:
        if self.method not in ("kernel", "cfar"):
            raise InputError(
                f"SegmentationSettings.method must be 'kernel' or 'cfar', got {self.method!r}"
            )
        if not (math.isfinite(self.false_plumes_per_100km2) and self.false_plumes_per_100km2 > 0):
            raise InputError(
                "SegmentationSettings.false_plumes_per_100km2 must be > 0, got "
                f"{self.false_plumes_per_100km2!r}"
            )
        if not self.kernel_spreads or not all(0 < a < 2 for a in self.kernel_spreads):
            raise InputError(
                f"SegmentationSettings.kernel_spreads must be in (0, 2), got {self.kernel_spreads}"
            )
        if not self.kernel_lengths_m or not all(x > 0 for x in self.kernel_lengths_m):
            raise InputError(
                f"SegmentationSettings.kernel_lengths_m must be > 0 m, got {self.kernel_lengths_m}"
            )
        if not (0 < self.source_width_px <= 5 and 0 < self.scan_step_deg <= 90):
            raise InputError(
                "SegmentationSettings: source_width_px must be in (0, 5] px and scan_step_deg "
                f"in (0, 90]°, got {self.source_width_px} and {self.scan_step_deg}"
            )
        if self.max_kernel_px < 3:
            raise InputError(
                f"SegmentationSettings.max_kernel_px must be ≥ 3, got {self.max_kernel_px}"
            )
        if not 0.0 < self.pfa < 0.5:
            raise InputError(f"SegmentationSettings.pfa must be in (0, 0.5), got {self.pfa}")
        if self.min_pixels < 1:
            raise InputError(f"SegmentationSettings.min_pixels must be ≥ 1, got {self.min_pixels}")
        if min(self.smooth_px, self.along_px, self.merge_px, self.ime_dilation_px) < 0:
            raise InputError(
                "SegmentationSettings: smooth_px, along_px, merge_px and ime_dilation_px "
                "must be ≥ 0"
            )
        if not (
            math.isfinite(self.rate_length_m)
            and self.rate_length_m > 0
            and math.isfinite(self.rate_min_px)
            and self.rate_min_px >= 1
            and 0 < self.rate_spread < 2
        ):
            raise InputError(
                "SegmentationSettings: rate_length_m must be > 0 m, rate_min_px ≥ 1 and "
                f"rate_spread in (0, 2), got {self.rate_length_m}, {self.rate_min_px} and "
                f"{self.rate_spread}"
            )
        if not 0.0 < self.source_fraction <= 1.0:
            raise InputError(
                f"SegmentationSettings.source_fraction must be in (0, 1], "
                f"got {self.source_fraction}"
            )
        if self.clutter_lag_m is not None and not (
            math.isfinite(self.clutter_lag_m) and self.clutter_lag_m > 0
        ):
            raise InputError(
                f"SegmentationSettings.clutter_lag_m must be > 0 m or None, "
                f"got {self.clutter_lag_m}"
            )
        if self.min_peak_z is not None and not (
            math.isfinite(self.min_peak_z) and self.min_peak_z > 0
        ):
            raise InputError(
                f"SegmentationSettings.min_peak_z must be > 0 σ or None, got {self.min_peak_z}"
            )

    @classmethod
    def for_pixel_size(cls, pixel_m: float) -> SegmentationSettings:
        """Return the default settings for a line of this pixel size.

        Pixels finer than 5 m resolve a plume's core, and wide patches of ground reading a
        little methane pass the kernel test there more often than white noise would: a plume
        must then hold a seed (``min_peak_z = seed_z``) and the threshold's budget is raised
        to 4 false plumes per 100 km² of white noise, which the seed test pays for. Measured
        on the bench lines (seeds 0–26, 216 sources ≥ 10 kg/h each): at 3 m, 180 sources
        found either way and false plumes 8 → 3 in 395 km²; at 4.5 m, 163 → 162 and 6 → 1 in
        393 km²; at 5.5 m, 151 → 148 and 5 → 1 in 391 km² (a trade, not a gain); at 6 m
        148 → 141 for 2 → 1, so 5 m and coarser pixels keep the plain defaults.

        Parameters
        ----------
        pixel_m : float
            Pixel side, m (:attr:`PixelGrid.pixel_size_m`).

        Returns
        -------
        SegmentationSettings

        Examples
        --------
        >>> SegmentationSettings.for_pixel_size(6.0) == SegmentationSettings()
        True
        >>> round(SegmentationSettings.for_pixel_size(3.0).min_peak_z, 2)
        4.26
        """
        if not (math.isfinite(pixel_m) and pixel_m > 0):
            raise InputError(f"pixel size must be > 0 m, got {pixel_m!r}")
        if pixel_m >= _FINE_PIXEL_M:
            return cls()
        return cls(min_peak_z=cls().seed_z, false_plumes_per_100km2=_FINE_FALSE_PLUMES)

    @property
    def seed_z(self) -> float:
        """The seed threshold, ``Φ⁻¹(1 − pfa)``."""
        return NormalDist().inv_cdf(1.0 - self.pfa)


@dataclass(frozen=True)
class PixelGrid:
    """Where each pixel of a line lies on a local tangent plane, and how big it is.

    Attributes
    ----------
    x_m, y_m : (downtrack, crosstrack) float64
        East and north of each pixel centre from the scene's centre, m.
    area_m2 : (downtrack, crosstrack) float64
        Ground area of each pixel, m² (``|∂r/∂i × ∂r/∂j|``).
    lat, lon : (downtrack, crosstrack) float64
        The pixel centres, degrees.
    """

    x_m: NDArray[np.float64]
    y_m: NDArray[np.float64]
    area_m2: NDArray[np.float64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]

    @classmethod
    def from_lonlat(cls, lat: ArrayLike, lon: ArrayLike) -> PixelGrid:
        """Build the grid from per-pixel latitude and longitude.

        Parameters
        ----------
        lat, lon : (downtrack, crosstrack) float
            Pixel centres, degrees WGS84 (as the cube's ``lat`` and ``lon``).

        Returns
        -------
        PixelGrid

        Raises
        ------
        InputError
            If the arrays differ in shape, are not 2-D with at least 2 × 2 pixels, or hold no
            finite position.
        """
        la = np.asarray(lat, dtype=np.float64)
        lo = np.asarray(lon, dtype=np.float64)
        if la.shape != lo.shape or la.ndim != 2 or min(la.shape) < 2:
            raise InputError(
                f"lat and lon must be matching (downtrack, crosstrack) arrays of at least "
                f"2 × 2 pixels, got {la.shape} and {lo.shape}"
            )
        ok = np.isfinite(la) & np.isfinite(lo)
        if not ok.any():
            raise InputError("lat/lon: no pixel has a finite position (not georeferenced?)")
        lat0 = float(np.median(la[ok]))
        lon0 = float(np.median(lo[ok]))
        # Local tangent plane (equirectangular about the scene centre).
        x = np.radians(lo - lon0) * _EARTH_RADIUS_M * math.cos(math.radians(lat0))
        y = np.radians(la - lat0) * _EARTH_RADIUS_M
        xi, xj = np.gradient(x)
        yi, yj = np.gradient(y)
        area = np.abs(xi * yj - xj * yi)
        good = np.isfinite(area) & (area > 0)
        fill = float(np.median(area[good])) if good.any() else 1.0
        return cls(x, y, np.where(good, area, fill), la, lo)

    @property
    def pixel_size_m(self) -> float:
        """Median pixel side, m (√ of the median area)."""
        return float(math.sqrt(float(np.median(self.area_m2))))

    @cached_property
    def jacobian(self) -> NDArray[np.float64]:
        """Median ∂(east, north)/∂(row, col) of the grid, m per pixel, (2, 2)."""
        xi, xj = np.gradient(self.x_m)
        yi, yj = np.gradient(self.y_m)
        return np.array([[np.median(xi), np.median(xj)], [np.median(yi), np.median(yj)]])


@dataclass(frozen=True)
class Plume:
    """One plume found in an enhancement map.

    Attributes
    ----------
    label : int
        1-based number of the plume in its map.
    species : str
        Gas name (``"CH4"``).
    rows, cols : (n,) intp
        Indices of the plume's pixels (downtrack, crosstrack).
    bbox : (int, int, int, int)
        ``(row0, col0, row1, col1)``, half-open, of the plume's pixels.
    mask : (row1 − row0, col1 − col0) bool
        The plume within its bounding box.
    source_pixel : (int, int)
        (row, col) of the estimated source.
    source_lonlat : (float, float)
        Source longitude and latitude, degrees.
    source_method : {"wind", "shape"}
        Whether the wind or the plume's shape located the source.
    direction_deg : float
        Compass bearing from the source along the plume, degrees.
    area_m2 : float
        Area of the plume's pixels, m².
    length_m : float
        Extent of the plume from its source along ``direction_deg``, m.
    peak_ppm_m, mean_ppm_m : float
        Largest and mean enhancement over the plume's pixels, ppm·m.
    peak_score : float
        Largest per-pixel significance in the plume.
    score : float
        Confidence in [0, 1): ``z² / (z² + z_seed²)`` with z the IME's significance.
    ime_kg, ime_sigma_kg : float
        Integrated mass enhancement and its one-sigma noise, kg.
    emission_kg_h, emission_kg_h_sigma : float or None
        Emission rate and its one-sigma uncertainty, kg/h; None without a wind.
    u_eff_m_s : float or None
        Effective wind speed used, m/s.
    source_in_view : bool
        False when the upwind end found is not a source: the plume is still there at the
        edge of what was seen upwind of it (the end of the line, the edge of the swath, bad
        pixels: it enters the image there), or it is already wider where it starts than a
        point source's plume can be (a piece of a plume from a source further upwind).
    start_width_m : float
        Crosswind spread (enhancement-weighted standard deviation) of the plume's pixels
        within ``_START_PX`` pixels downwind of its source, m.
    source_note : str
        Why the source is not in view ("" when it is).
    rate_ime_kg, rate_length_m : float or None
        The IME behind the emission rate (the first stretch of the plume from its source, kg,
        corrected for what of it was not seen) and that stretch's length, m; None without a
        wind.
    measured_kg_h, measured_kg_h_sigma : float or None
        The rate as measured, before its stretch's mass is held to ≥ 0
        (:func:`non_negative_estimate`): below zero for a faint plume over clutter that reads
        below zero; None without a wind.
    measured_mass_sigma_kg_h : float or None
        The part of ``measured_kg_h_sigma`` that comes from the noise of the stretch's mass,
        kg/h: the same whatever the rate, and independent from one pass to the next. The rest
        (the wind's and the calibration's uncertainty, the stretch's length) is relative to
        the rate. None without a wind.
    """

    label: int
    species: str
    rows: NDArray[np.intp]
    cols: NDArray[np.intp]
    bbox: tuple[int, int, int, int]
    mask: NDArray[np.bool_]
    source_pixel: tuple[int, int]
    source_lonlat: tuple[float, float]
    source_method: Literal["wind", "shape"]
    direction_deg: float
    area_m2: float
    length_m: float
    peak_ppm_m: float
    mean_ppm_m: float
    peak_score: float
    score: float
    ime_kg: float
    ime_sigma_kg: float
    emission_kg_h: float | None
    emission_kg_h_sigma: float | None
    u_eff_m_s: float | None
    source_in_view: bool = True
    start_width_m: float = math.nan
    source_note: str = ""
    rate_ime_kg: float | None = None
    rate_length_m: float | None = None
    measured_kg_h: float | None = None
    measured_kg_h_sigma: float | None = None
    measured_mass_sigma_kg_h: float | None = None

    @property
    def n_pixels(self) -> int:
        """Number of pixels in the plume."""
        return int(self.rows.size)

    @property
    def rate_note(self) -> str:
        """How the emission rate was found, for a detection's reasons ("" without one)."""
        if self.emission_kg_h is None or self.rate_length_m is None:
            return ""
        note = f"emission rate from the mass of its first {self.rate_length_m:.0f} m"
        m, m_sd = self.measured_kg_h, self.measured_kg_h_sigma
        if m is not None and m_sd is not None and m < 2.0 * m_sd:
            note += (
                f"; measured {m:.1f} ± {m_sd:.1f} kg/h, faint against the ground's clutter: the "
                "mass taken as its likelihood's mean over values ≥ 0"
            )
        return note

    def full_mask(self, shape: tuple[int, int]) -> NDArray[np.bool_]:
        """Return the plume as a mask of the whole map, ``(downtrack, crosstrack)``."""
        out = np.zeros(shape, dtype=bool)
        out[self.rows, self.cols] = True
        return out

    def to_properties(self) -> dict[str, Any]:
        """Return GeoJSON-ready properties (plain Python numbers, rounded)."""

        def r(v: float | None, nd: int) -> float | None:
            return None if v is None else round(float(v), nd)

        return {
            "kind": "plume",
            "species": [self.species],
            "score": round(self.score, 4),
            "enhancement_ppm_m": round(self.peak_ppm_m, 1),
            "mean_enhancement_ppm_m": round(self.mean_ppm_m, 1),
            "ime_kg": round(self.ime_kg, 4),
            "ime_kg_sigma": round(self.ime_sigma_kg, 4),
            "emission_kg_h": r(self.emission_kg_h, 3),
            "emission_kg_h_sigma": r(self.emission_kg_h_sigma, 3),
            "u_eff_m_s": r(self.u_eff_m_s, 3),
            "area_m2": round(self.area_m2, 1),
            "length_m": round(self.length_m, 1),
            "direction_deg": round(self.direction_deg, 1),
            "source_method": self.source_method,
            "source_pixel": [int(self.source_pixel[0]), int(self.source_pixel[1])],
            "source_in_view": self.source_in_view,
            "start_width_m": r(None if math.isnan(self.start_width_m) else self.start_width_m, 1),
            "n_pixels": self.n_pixels,
        }


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


def column_normalised(z: ArrayLike, valid: ArrayLike | None = None) -> NDArray[np.float64]:
    """Renormalise a significance map column by column: ``(z − median) / (1.4826 MAD)``.

    Parameters
    ----------
    z : (downtrack, crosstrack) float
        Significance (or any score) map; NaN where undefined.
    valid : (downtrack, crosstrack) bool, optional
        Pixels whose values set the median and MAD (default: the finite ones).

    Returns
    -------
    (downtrack, crosstrack) float64
        The renormalised map, 0 where ``z`` is not finite. Columns with fewer than 5 valid
        pixels, or no spread, use the median scale of the others.

    Examples
    --------
    >>> z = np.array([[0.0, 10.0], [2.0, 14.0], [4.0, 18.0], [6.0, 22.0], [8.0, 26.0]])
    >>> column_normalised(z).round(2).tolist()
    [[-1.35, -1.35], [-0.67, -0.67], [0.0, 0.0], [0.67, 0.67], [1.35, 1.35]]
    """
    arr = np.asarray(z, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"significance map must be 2-D (downtrack, crosstrack), got {arr.shape}")
    use = np.isfinite(arr) if valid is None else (np.asarray(valid, dtype=bool) & np.isfinite(arr))
    v = np.where(use, arr, np.nan)
    enough = use.sum(axis=0) >= 5
    med = np.zeros(arr.shape[1])
    mad = np.full(arr.shape[1], np.nan)
    if enough.any():
        med[enough] = _nanmedian_columns(v[:, enough])
        mad[enough] = _MAD_TO_SIGMA * _nanmedian_columns(np.abs(v[:, enough] - med[enough]))
    good = np.isfinite(mad) & (mad > 0)
    fallback = float(np.median(mad[good])) if good.any() else 1.0
    scale = np.where(good, mad, fallback)
    out = (arr - med) / scale
    return np.where(np.isfinite(out), out, 0.0)


def cfar_mask(
    score: ArrayLike,
    *,
    valid: ArrayLike | None = None,
    settings: SegmentationSettings | None = None,
    direction: tuple[float, float] | None = None,
) -> tuple[NDArray[np.int32], int]:
    """Label the plumes of a significance map: CFAR seeds, hysteresis, merging, size.

    Parameters
    ----------
    score : (downtrack, crosstrack) float
        Significance ``enhancement / sigma`` (NaN or 0 where undefined or suppressed).
    valid : (downtrack, crosstrack) bool, optional
        Pixels that may belong to a plume (default: finite ``score``).
    settings : SegmentationSettings, optional
        Thresholds.
    direction : (float, float), optional
        Unit vector (rows, cols) of the wind on the pixel grid: the spatial filter is then
        stretched along it (a plume is long along the wind), not round.

    Returns
    -------
    labels : (downtrack, crosstrack) int32
        0 outside plumes, 1..n inside.
    n : int
        Number of plumes.
    """
    s = settings or SegmentationSettings()
    z = np.asarray(score, dtype=np.float64)
    ok = np.isfinite(z) if valid is None else (np.asarray(valid, dtype=bool) & np.isfinite(z))
    zn = column_normalised(np.where(ok, z, np.nan))
    if direction is not None and s.along_px > 0:
        kernel = _oriented_kernel(direction, s.along_px, max(s.smooth_px, 0.5))
        zn = column_normalised(ndimage.convolve(zn, kernel, mode="nearest"))
    elif s.smooth_px > 0:
        zn = column_normalised(ndimage.gaussian_filter(zn, s.smooth_px, mode="nearest"))
    grow = (zn > s.grow_z) & ok
    seeds = (zn > s.seed_z) & ok
    joined = ndimage.binary_dilation(grow, _EIGHT, iterations=s.merge_px) if s.merge_px else grow
    labels, n = ndimage.label(joined, _EIGHT)
    labels = np.where(grow, labels, 0)
    if n == 0:
        return labels.astype(np.int32), 0
    has_seed = np.zeros(n + 1, dtype=bool)
    has_seed[np.unique(labels[seeds])] = True
    size = np.bincount(labels.ravel(), minlength=n + 1)
    keep = has_seed & (size >= s.min_pixels)
    keep[0] = False
    remap = np.zeros(n + 1, dtype=np.int32)
    remap[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return remap[labels], int(keep.sum())


def find_plumes(
    enhancement: ArrayLike,
    sigma: ArrayLike,
    lat: ArrayLike,
    lon: ArrayLike,
    *,
    score: ArrayLike | None = None,
    exclude: ArrayLike | None = None,
    species: str = "CH4",
    molar_mass_kg_mol: float | None = None,
    wind: Wind | None = None,
    calibration: IMECalibration | None = None,
    settings: SegmentationSettings | None = None,
) -> list[Plume]:
    """Find, locate and quantify the plumes of one gas in one line.

    Parameters
    ----------
    enhancement : (downtrack, crosstrack) float
        Column enhancement, ppm·m (NaN where not retrieved).
    sigma : (downtrack, crosstrack) float
        Its one-sigma noise, ppm·m.
    lat, lon : (downtrack, crosstrack) float
        Pixel centres, degrees (the cube's ``lat`` and ``lon``): pixel sizes come from them.
    score : (downtrack, crosstrack) float, optional
        Significance to detect on (default ``enhancement / sigma``).
    exclude : (downtrack, crosstrack) bool, optional
        Pixels that may not belong to a plume (e.g. :attr:`MethaneResult.suppressed`).
    species : str
        Gas name, reported and used to look up the molar mass.
    molar_mass_kg_mol : float, optional
        Molar mass, kg/mol (default :data:`MOLAR_MASS_KG_MOL` [species]).
    wind : Wind, optional
        10 m wind; without it the source comes from the plume's shape and no rate is given.
    calibration : IMECalibration, optional
        Effective-wind calibration of the IME method.
    settings : SegmentationSettings, optional
        Detector thresholds; by default :meth:`SegmentationSettings.for_pixel_size` of the
        map's pixels.

    Returns
    -------
    list of Plume
        In decreasing order of IME significance; empty when nothing is found.

    Raises
    ------
    InputError
        Mismatched shapes, unknown species without a molar mass, or a non-positive molar
        mass.
    """
    e = np.asarray(enhancement, dtype=np.float64)
    sd = np.asarray(sigma, dtype=np.float64)
    if e.ndim != 2 or sd.shape != e.shape:
        raise InputError(
            f"enhancement and sigma must be matching 2-D maps, got {e.shape} and {sd.shape}"
        )
    if molar_mass_kg_mol is None:
        if species not in MOLAR_MASS_KG_MOL:
            raise InputError(
                f"no molar mass known for species {species!r}; pass molar_mass_kg_mol "
                f"(known: {', '.join(sorted(MOLAR_MASS_KG_MOL))})"
            )
        molar_mass_kg_mol = MOLAR_MASS_KG_MOL[species]
    if not (math.isfinite(molar_mass_kg_mol) and molar_mass_kg_mol > 0):
        raise InputError(f"molar mass must be > 0 kg/mol, got {molar_mass_kg_mol!r}")
    grid = PixelGrid.from_lonlat(lat, lon)
    if grid.x_m.shape != e.shape:
        raise InputError(f"lat/lon have shape {grid.x_m.shape} but the map has {e.shape}")
    s = settings or SegmentationSettings.for_pixel_size(grid.pixel_size_m)
    cal = calibration or IMECalibration()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.asarray(score, dtype=np.float64) if score is not None else e / sd
    if z.shape != e.shape:
        raise InputError(f"score has shape {z.shape} but the map has {e.shape}")
    valid = np.isfinite(e) & np.isfinite(sd) & (sd > 0) & np.isfinite(z)
    if exclude is not None:
        valid &= ~np.asarray(exclude, dtype=bool)
    kg_per_ppm_m = float(ppm_m_to_mass(1.0, molar_mass_kg_mol))
    usable = np.isfinite(e) & np.isfinite(sd)
    plumes = []

    def quantify(lab: int, region: NDArray[np.bool_], taken: NDArray[np.bool_], **kw: Any) -> Plume:
        # One plume of this line: the maps and settings are the line's, the rest the caller's.
        return _quantify(
            lab, region, taken, usable, e, sd, z, grid, species, kg_per_ppm_m, wind, cal, s, **kw
        )

    if s.method == "kernel":
        found = _kernel_detections(e, sd, valid, grid, wind, s)
        taken = np.zeros(e.shape, dtype=bool)
        owners = np.zeros(e.shape, dtype=np.int32)
        for lab, d in enumerate(found, start=1):
            taken |= d.region
            owners[d.region & (owners == 0)] = lab
        owner_sources = [d.source for d in found]
        clean = _background(usable, taken)
        for lab, d in enumerate(found, start=1):
            plumes.append(
                quantify(
                    lab,
                    d.region,
                    taken,
                    source=d.source,
                    axis=d.axis,
                    z_ref=d.threshold,
                    ime_region=d.wedge,
                    clean=clean,
                    owners=owners,
                    owner_sources=owner_sources,
                )
            )
    else:
        direction = None if wind is None else _grid_direction(grid, wind.downwind_unit)
        labels, n = cfar_mask(z, valid=valid, settings=s, direction=direction)
        taken = labels > 0
        clean = _background(usable, taken)
        for lab in range(1, n + 1):
            plumes.append(quantify(lab, labels == lab, taken, clean=clean))
    if s.min_peak_z is not None:
        # Dropped last: a plume without a seed still claimed its pixels (its mass is not
        # lent to a neighbour's rate).
        plumes = [p for p in plumes if p.peak_score >= s.min_peak_z]
    plumes.sort(key=lambda p: -p.score)
    return plumes


def quantify_plume(
    mask: ArrayLike,
    enhancement: ArrayLike,
    sigma: ArrayLike,
    lat: ArrayLike,
    lon: ArrayLike,
    *,
    species: str,
    molar_mass_kg_mol: float | None = None,
    score: ArrayLike | None = None,
    wind: Wind | None = None,
    calibration: IMECalibration | None = None,
    settings: SegmentationSettings | None = None,
) -> Plume:
    """Locate and quantify one plume whose pixels were found by another detector.

    The same source, length, IME and emission-rate estimates as :func:`find_plumes`, for a
    region segmented elsewhere (an LWIR plume object, say) on a column map of one species.

    Parameters
    ----------
    mask : (downtrack, crosstrack) bool
        The plume's pixels.
    enhancement, sigma : (downtrack, crosstrack) float
        Column enhancement of the species and its one-sigma noise, ppm·m (NaN where unknown).
    lat, lon : (downtrack, crosstrack) float
        Pixel centres, degrees.
    species : str
        Gas name.
    molar_mass_kg_mol : float, optional
        Molar mass, kg/mol (default :data:`MOLAR_MASS_KG_MOL` [species]).
    score : (downtrack, crosstrack) float, optional
        Significance map (default ``enhancement / sigma``).
    wind, calibration, settings
        As :func:`find_plumes`.

    Returns
    -------
    Plume

    Raises
    ------
    InputError
        Mismatched shapes, an empty mask, no finite column in the mask, or no molar mass.
    """
    region = np.asarray(mask, dtype=bool)
    e = np.asarray(enhancement, dtype=np.float64)
    sd = np.asarray(sigma, dtype=np.float64)
    if region.shape != e.shape or sd.shape != e.shape or e.ndim != 2:
        raise InputError(
            f"mask, enhancement and sigma must be matching 2-D maps, got {region.shape}, "
            f"{e.shape} and {sd.shape}"
        )
    usable = np.isfinite(e) & np.isfinite(sd)
    region = region & usable
    if not region.any():
        raise InputError(f"the {species} plume has no pixel with a finite column")
    mm = molar_mass_kg_mol if molar_mass_kg_mol is not None else MOLAR_MASS_KG_MOL.get(species)
    if mm is None or not (math.isfinite(mm) and mm > 0):
        raise InputError(f"no usable molar mass for species {species!r}")
    grid = PixelGrid.from_lonlat(lat, lon)
    if grid.x_m.shape != e.shape:
        raise InputError(f"lat/lon have shape {grid.x_m.shape} but the map has {e.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.asarray(score, dtype=np.float64) if score is not None else e / sd
    return _quantify(
        1,
        region,
        region,
        usable,
        np.where(usable, e, 0.0),
        np.where(usable, sd, 0.0),
        z,
        grid,
        species,
        float(ppm_m_to_mass(1.0, mm)),
        wind,
        calibration or IMECalibration(),
        settings or SegmentationSettings(),
    )


def _quantify(
    label: int,
    region: NDArray[np.bool_],
    taken: NDArray[np.bool_],
    usable: NDArray[np.bool_],
    e: NDArray[np.float64],
    sd: NDArray[np.float64],
    z: NDArray[np.float64],
    grid: PixelGrid,
    species: str,
    kg_per_ppm_m: float,
    wind: Wind | None,
    cal: IMECalibration,
    s: SegmentationSettings,
    *,
    source: tuple[int, int] | None = None,
    axis: tuple[float, float] | None = None,
    z_ref: float | None = None,
    ime_region: NDArray[np.bool_] | None = None,
    clean: NDArray[np.bool_] | None = None,
    owners: NDArray[np.int32] | None = None,
    owner_sources: Sequence[tuple[int, int]] = (),
) -> Plume:
    # source and axis (east, north) when a detector found them; else from wind and shape.
    rows, cols = np.nonzero(region)
    px = grid.x_m[rows, cols]
    py = grid.y_m[rows, cols]
    ev = e[rows, cols]
    weight = np.maximum(ev, 0.0) + 1e-9
    method: Literal["wind", "shape"] = "wind" if wind is not None else "shape"
    pixel_m = grid.pixel_size_m
    if axis is not None and source is not None:
        ax = np.asarray(axis, dtype=np.float64)
        src = (int(source[0]), int(source[1]))
    else:
        ax = np.array(wind.downwind_unit) if wind is not None else _principal_axis(px, py, weight)
        along = (px - px.mean()) * ax[0] + (py - py.mean()) * ax[1]
        span = float(along.max() - along.min())
        if wind is None and span > 0:
            # The source end is the denser one: flip the axis to point away from it.
            cut = s.source_fraction * span
            lo = ev[along <= along.min() + cut].mean()
            hi = ev[along >= along.max() - cut].mean()
            if hi > lo:
                ax, along = -ax, -along
        # The source is the upwind tip of the plume's surely-enhanced pixels (a round or
        # along-wind filter spreads the mask a little upwind of it): the most enhanced pixel
        # within a pixel and a half of the upwind-most significant one.
        zv = z[rows, cols]
        sure = zv >= min(float(np.nanmax(zv)), s.grow_z + 1.0)
        if not sure.any():
            sure = np.ones(zv.shape, dtype=bool)
        start = float(along[sure].min())
        head = sure & (along <= start + 1.5 * pixel_m)
        idx = np.flatnonzero(head)[int(np.argmax(ev[head]))]
        src = (int(rows[idx]), int(cols[idx]))
    axis_v = ax
    sx, sy = grid.x_m[src], grid.y_m[src]
    pixel = pixel_m
    # IME over the plume grown to collect its faint edges, not into another plume.
    # The IME region: the plume's pixels, or the detector's wedge when it gives one (the
    # wedge holds whole cross-sections along L; the visible pixels may not).
    grown = region if ime_region is None else ime_region
    if s.ime_dilation_px:
        grown = ndimage.binary_dilation(grown, _EIGHT, iterations=s.ime_dilation_px)
        grown &= ~(taken & ~region)
    grown &= usable
    area = grid.area_m2[grown]
    ime = float(np.sum(e[grown] * area)) * kg_per_ppm_m
    ime_sd = float(np.sqrt(np.sum((sd[grown] * area) ** 2))) * kg_per_ppm_m
    gr, gc = np.nonzero(grown)
    reach = (grid.x_m[gr, gc] - sx) * axis_v[0] + (grid.y_m[gr, gc] - sy) * axis_v[1]
    length = max(float(reach.max()) + 0.5 * pixel, pixel)
    z_ime = ime / ime_sd if ime_sd > 0 else 0.0
    ref = s.seed_z if z_ref is None else z_ref
    score = z_ime**2 / (z_ime**2 + ref**2) if z_ime > 0 else 0.0
    rate = rate_sd = u_eff = rate_ime = rate_len = measured = measured_sd = mass_sd = None
    if wind is not None:
        u_eff = cal.effective_wind(wind.speed_m_s)
        # clean: the line's background, shared by its plumes (computed here when not given).
        clean = _background(usable, taken) if clean is None else clean
        rate_ime, rate_ime_sd, rate_len = _rate_ime(
            src,
            axis_v,
            region,
            taken,
            usable,
            clean,
            e,
            sd,
            grid,
            kg_per_ppm_m,
            s,
            owners,
            owner_sources,
        )
        rel_u = cal.alpha * wind.sigma_m_s / u_eff
        rel_l = 0.5 * pixel / rate_len
        others = rel_u**2 + cal.relative_sigma**2 + rel_l**2

        # Q = U_eff · IME_r / L_r: kg/h per kg of the stretch's mass.
        per_kg = u_eff / rate_len * 3600.0

        def rate_of(mass: float, mass_sd: float) -> tuple[float, float]:
            # The rate, with the relative uncertainties in quadrature.
            q = per_kg * mass
            rel_ime = mass_sd / abs(mass) if mass != 0 else 1.0
            return q, abs(q) * math.sqrt(rel_ime**2 + others)

        measured, measured_sd = rate_of(rate_ime, rate_ime_sd)
        mass_sd = per_kg * rate_ime_sd
        # The stretch's mass cannot be negative, though over clutter a faint plume's can
        # read so (its noise is additive; the wind's and the calibration's are not): the
        # rate comes from the mean of the mass's likelihood over values ≥ 0.
        rate, rate_sd = rate_of(*non_negative_estimate(rate_ime, rate_ime_sd))
    r0, r1 = int(rows.min()), int(rows.max()) + 1
    c0, c1 = int(cols.min()), int(cols.max()) + 1
    bearing = math.degrees(math.atan2(axis_v[0], axis_v[1])) % 360.0
    note = ""
    if not _seen_upwind(src, _grid_direction(grid, (float(ax[0]), float(ax[1]))), usable):
        note = (
            "the plume enters the line at its edge: its source lies upwind, outside what was "
            "seen (the point is where it came into view)"
        )
    start_width, start_note = _start_of(region, src, axis_v, e, grid, s)
    note = note or start_note
    return Plume(
        label=label,
        species=species,
        rows=rows.astype(np.intp),
        cols=cols.astype(np.intp),
        bbox=(r0, c0, r1, c1),
        mask=region[r0:r1, c0:c1].copy(),
        source_pixel=src,
        source_lonlat=(float(grid.lon[src]), float(grid.lat[src])),
        source_method=method,
        direction_deg=bearing,
        area_m2=float(grid.area_m2[rows, cols].sum()),
        length_m=length,
        peak_ppm_m=float(ev.max()),
        mean_ppm_m=float(ev.mean()),
        peak_score=float(np.nanmax(z[rows, cols])),
        score=float(score),
        ime_kg=ime,
        ime_sigma_kg=ime_sd,
        emission_kg_h=rate,
        emission_kg_h_sigma=rate_sd,
        u_eff_m_s=u_eff,
        source_in_view=not note,
        start_width_m=start_width,
        source_note=note,
        rate_ime_kg=rate_ime,
        rate_length_m=rate_len,
        measured_kg_h=measured,
        measured_kg_h_sigma=measured_sd,
        measured_mass_sigma_kg_h=mass_sd,
    )


def _rate_ime(
    src: tuple[int, int],
    axis: NDArray[np.float64],
    region: NDArray[np.bool_],
    taken: NDArray[np.bool_],
    usable: NDArray[np.bool_],
    clean: NDArray[np.bool_],
    e: NDArray[np.float64],
    sd: NDArray[np.float64],
    grid: PixelGrid,
    kg_per_ppm_m: float,
    s: SegmentationSettings,
    owners: NDArray[np.int32] | None = None,
    owner_sources: Sequence[tuple[int, int]] = (),
) -> tuple[float, float, float]:
    # The IME behind the emission rate: the plume's first stretch from its source, a wedge
    # of spread rate_spread (whole cross-sections whatever the stability) rate_length_m long,
    # without other plumes' pixels. Returns IME (kg, divided by the share of a plume's mass
    # in the wedge that was seen), its one-sigma noise (kg) and the stretch's length (m).
    # The noise is measured: the same wedge placed over the line's ``clean`` background
    # (:func:`_background`), robust spread; the per-pixel sigma when too few places are clean
    # (it misses the clutter correlated between pixels, which grows with the wedge).
    pixel_m = grid.pixel_size_m
    length_px = max(s.rate_length_m / pixel_m, s.rate_min_px)
    step = _grid_direction(grid, (float(axis[0]), float(axis[1])))
    h, anchor, wedge = plume_kernel(step, s.rate_spread, length_px, s.source_width_px)
    shape = e.shape
    inside = _place(wedge, anchor, src, shape)
    mass = _place_values(np.where(wedge, h, 0.0), anchor, src, shape)
    # Other plumes' pixels are another source's gas, unless that plume starts inside this
    # stretch: then it is most likely a piece of this one (a puff found apart from it).
    foreign = taken & ~region & inside
    if owners is not None and foreign.any():
        for lab in np.unique(owners[foreign]):
            if lab > 0 and inside[owner_sources[lab - 1]]:
                foreign &= owners != lab
    use = inside & usable & ~foreign
    seen = float(mass[use].sum()) / float(h[wedge].sum())
    seen = max(seen, 1e-3)
    area = grid.area_m2
    ime = float(np.sum(e[use] * area[use])) * kg_per_ppm_m / seen
    pixel_sd = float(np.sqrt(np.sum((sd[use] * area[use]) ** 2))) * kg_per_ppm_m / seen
    # Background placements on a lattice of half the wedge's size.
    wr, wc = np.nonzero(wedge)
    dr, dc = wr - anchor[0], wc - anchor[1]
    r_lo, r_hi = -int(dr.min()), shape[0] - int(dr.max())
    c_lo, c_hi = -int(dc.min()), shape[1] - int(dc.max())
    step_r = max(1, (int(dr.max() - dr.min()) + 1) // 2)
    step_c = max(1, (int(dc.max() - dc.min()) + 1) // 2)
    lattice = np.meshgrid(
        np.arange(r_lo, r_hi, step_r), np.arange(c_lo, c_hi, step_c), indexing="ij"
    )
    pr, pc = lattice[0].ravel(), lattice[1].ravel()
    ime_sd = pixel_sd
    if pr.size:
        rr, cc = pr[:, None] + dr[None, :], pc[:, None] + dc[None, :]
        ok = np.asarray(clean[rr, cc].all(axis=1), dtype=bool)
        if int(ok.sum()) >= _RATE_BACKGROUND_PLACES:
            vals = np.sum(np.where(ok[:, None], e[rr, cc] * area[rr, cc], 0.0), axis=1)[ok]
            spread = _MAD_TO_SIGMA * float(np.median(np.abs(vals - np.median(vals))))
            ime_sd = max(spread * kg_per_ppm_m / seen, pixel_sd)
    return ime, ime_sd, (length_px + 0.5) * pixel_m


def non_negative_estimate(measured: float, sigma: float) -> tuple[float, float]:
    """Return an estimate of a quantity that cannot be negative: its likelihood's mean there.

    A plume's mass (and so its emission rate) is measured as ``x ± σ`` with normal noise;
    over clutter a faint plume's ``x`` can fall below zero, which no plume holds. With a flat
    prior on values ≥ 0 the posterior is N(x, σ²) truncated to [0, ∞); its mean and standard
    deviation are returned. They are x and σ when x ≫ σ (the mean moves by 5.5 % of σ at
    x = 2σ, by 0.4 % at 3σ, by nothing above 8σ) and always positive.

    Parameters
    ----------
    measured : float
        The measurement (any sign).
    sigma : float
        Its one-sigma noise, same unit.

    Returns
    -------
    (estimate, sigma) : tuple of float
        Mean and standard deviation of the truncated normal; ``(max(measured, 0), 0)`` when
        ``sigma`` is not > 0.

    Raises
    ------
    InputError
        If either value is not finite.

    Examples
    --------
    >>> non_negative_estimate(100.0, 10.0)
    (100.0, 10.0)
    >>> x, sd = non_negative_estimate(-13.5, 10.2)
    >>> round(x, 1), round(sd, 1)
    (4.8, 4.1)
    """
    if not (math.isfinite(measured) and math.isfinite(sigma)):
        raise InputError(
            f"a measurement and its sigma must be finite, got {measured!r} and {sigma!r}"
        )
    if sigma <= 0:
        return max(measured, 0.0), 0.0
    lower = -measured / sigma
    if lower < -8.0:
        # Nothing of the likelihood lies below zero (Φ(−8) ≈ 6e-16).
        return measured, sigma
    if lower > 30.0:
        # Far below zero the truncated normal is an exponential of mean σ² / |x| (scipy's
        # moments lose their precision there).
        tail = sigma / lower
        return tail, tail
    dist = truncnorm(lower, math.inf, loc=measured, scale=sigma)
    return float(dist.mean()), float(dist.std())


def _background(usable: NDArray[np.bool_], taken: NDArray[np.bool_]) -> NDArray[np.bool_]:
    # The line's background for the rates' noise: usable pixels with no plume within 3 px.
    near = np.asarray(ndimage.binary_dilation(taken, _EIGHT, iterations=3), dtype=bool)
    return np.asarray(usable & ~near, dtype=bool)


def _start_of(
    region: NDArray[np.bool_],
    src: tuple[int, int],
    axis: NDArray[np.float64] | tuple[float, float],
    e: NDArray[np.float64],
    grid: PixelGrid,
    s: SegmentationSettings,
) -> tuple[float, str]:
    # Whether a plume's source looks like where a plume starts: its width there (m, NaN
    # when too few pixels show) and, when it does not look like a start, why.
    rows, cols = np.nonzero(region)
    pixel_m = grid.pixel_size_m
    ax = (float(axis[0]), float(axis[1]))
    # How wide the plume is where it starts: a point source's plume is narrower than the
    # widest kernel's wedge there (σ_y ≤ a_max s, Briggs' most unstable class), pixel
    # footprint and a 1.5 margin allowed; a piece of a plume from far upwind is not.
    start_len = _START_PX * pixel_m
    pos = np.clip(e[rows, cols], 0.0, None)
    rel_x = grid.x_m[rows, cols] - grid.x_m[src]
    rel_y = grid.y_m[rows, cols] - grid.y_m[src]
    a_s = rel_x * ax[0] + rel_y * ax[1]
    c_s = -rel_x * ax[1] + rel_y * ax[0]
    near = (a_s >= -pixel_m) & (a_s <= start_len)
    start_width = math.nan
    if int(near.sum()) >= 3 and float(pos[near].sum()) > 0:
        w_near = pos[near] / float(pos[near].sum())
        mu = float(np.sum(w_near * c_s[near]))
        start_width = math.sqrt(float(np.sum(w_near * (c_s[near] - mu) ** 2)))
        limit = math.hypot(1.5 * max(s.kernel_spreads) * start_len, 0.5 * pixel_m)
        if start_width > limit:
            return start_width, (
                f"the plume is already {start_width:.0f} m wide where it starts (a point "
                f"source's is at most {limit:.0f} m there): a piece of a plume from a source "
                "further upwind"
            )
    # A source with hardly any of its plume around it: a long kernel anchored beside gas it
    # saw far down its wedge (the pieces of a large, meandering plume), not a start.
    around = np.hypot(rows - src[0], cols - src[1]) <= _NEAR_PX
    own = (np.abs(rows - src[0]) <= 1) & (np.abs(cols - src[1]) <= 1)
    n_near = int(np.sum(around & ~own))
    if n_near < _NEAR_MIN:
        return start_width, (
            f"only {n_near} of the plume's pixels lie within {_NEAR_PX:.0f} px of its source: "
            "the gas seen is further off, and where it comes from was not found"
        )
    return start_width, ""


def _seen_upwind(
    src: tuple[int, int], step: tuple[float, float], usable: NDArray[np.bool_]
) -> bool:
    # Whether the ground upwind of a source was seen: at least 90 % of the half-disk of
    # radius _VIEW_PX upwind of it lies on the map and holds data. A plume entering the
    # image at its edge (even obliquely) has its "source" there.
    i, j = np.mgrid[-_VIEW_PX : _VIEW_PX + 1, -_VIEW_PX : _VIEW_PX + 1]
    half = (np.hypot(i, j) <= _VIEW_PX) & (i * step[0] + j * step[1] < 0)
    rr, cc = i[half] + src[0], j[half] + src[1]
    on = (rr >= 0) & (rr < usable.shape[0]) & (cc >= 0) & (cc < usable.shape[1])
    seen = np.zeros(rr.shape, dtype=bool)
    seen[on] = usable[rr[on], cc[on]]
    return bool(seen.mean() >= 0.9)


def plume_kernel(
    direction: tuple[float, float],
    spread: float,
    length_px: float,
    source_width_px: float = 0.6,
) -> tuple[NDArray[np.float64], tuple[int, int], NDArray[np.bool_]]:
    """Mean column of a plume from a point source, on the pixel grid: a mass-conserving wedge.

    ``h(s, n) = exp(−n² / 2w²) / (√(2π) w)`` with ``w = √(w₀² + (a s)²)``, for
    ``0 ≤ s ≤ L`` downwind (a half-pixel ramp upwind of the source for its footprint): each
    cross-section holds the same mass, as a steady plume's does (Q/u per metre).

    Parameters
    ----------
    direction : (float, float)
        Downwind direction on the grid, (rows, cols); normalised here.
    spread : float
        Growth a of the plume's half-width with distance (σ_y / s), dimensionless.
    length_px : float
        Length L, pixels.
    source_width_px : float
        Width w₀ at the source, pixels.

    Returns
    -------
    h : (kr, kc) float64
        The kernel (1 px of cross-section sums to ~1).
    anchor : (int, int)
        Index of the source in ``h``.
    wedge : (kr, kc) bool
        The plume's extent: within 2.5 w of the axis, from the source to L.

    Examples
    --------
    >>> h, (r, c), wedge = plume_kernel((1.0, 0.0), 0.1, 20.0)
    >>> bool(h[r + 10, c] > h[r + 10, c + 3]), bool(wedge[r + 20, c]), r  # nothing upwind
    (True, True, 0)
    """
    u = np.asarray(direction, dtype=np.float64)
    norm = float(np.hypot(u[0], u[1]))
    if not (norm > 0 and math.isfinite(norm)):
        raise InputError(f"plume kernel direction must be a non-zero vector, got {direction}")
    if not (spread > 0 and length_px > 0 and source_width_px > 0):
        raise InputError(
            f"plume kernel needs spread, length and source width > 0, got {spread}, "
            f"{length_px} and {source_width_px}"
        )
    u = u / norm
    w_end = math.hypot(source_width_px, spread * length_px)
    half = math.ceil(length_px + 3.0 * w_end + 1.0)
    i, j = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    along = i * u[0] + j * u[1]
    across = -i * u[1] + j * u[0]
    w = np.sqrt(source_width_px**2 + (spread * np.clip(along, 0.0, None)) ** 2)
    ramp = np.clip(along + 1.0, 0.0, 1.0) * (along <= length_px)
    h = ramp * np.exp(-0.5 * (across / w) ** 2) / (math.sqrt(2.0 * math.pi) * w)
    wedge = (along >= -0.5) & (along <= length_px + 0.5) & (np.abs(across) <= 2.5 * w + 0.5)
    h[h < 1e-3 * h.max()] = 0.0
    keep = (h > 0) | wedge
    r_idx, c_idx = np.nonzero(keep)
    r0, r1, c0, c1 = r_idx.min(), r_idx.max() + 1, c_idx.min(), c_idx.max() + 1
    return h[r0:r1, c0:c1].copy(), (half - int(r0), half - int(c0)), wedge[r0:r1, c0:c1].copy()


@dataclass(frozen=True)
class _Kernel:
    h: NDArray[np.float64]
    anchor: tuple[int, int]
    wedge: NDArray[np.bool_]
    axis: tuple[float, float]  # downwind (east, north)
    step: tuple[float, float]  # downwind (rows, cols)
    spread: float
    length_px: float


@dataclass(frozen=True)
class _Detection:
    source: tuple[int, int]
    axis: tuple[float, float]
    region: NDArray[np.bool_]  # where the plume shows
    wedge: NDArray[np.bool_]  # the best kernel's extent: where its mass is counted
    statistic: float
    threshold: float


def _kernels(grid: PixelGrid, wind: Wind | None, s: SegmentationSettings) -> list[_Kernel]:
    # The kernel family: directions (the wind ± 2σ, or all), spreads and lengths.
    if wind is not None:
        half = 2.0 * wind.from_sigma_deg
        n = math.floor(half / s.scan_step_deg + 1e-9)
        offsets = [k * s.scan_step_deg for k in range(-n, n + 1)]
        bearings = [(wind.from_deg + 180.0 + o) % 360.0 for o in offsets]
    else:
        bearings = list(np.arange(0.0, 360.0 - 1e-9, s.scan_step_deg))
    pixel_m = grid.pixel_size_m
    lengths = sorted({min(float(s.max_kernel_px), x / pixel_m) for x in s.kernel_lengths_m})
    lengths = [x for x in lengths if x >= 2.0] or [2.0]
    out = []
    for b in bearings:
        en = (math.sin(math.radians(b)), math.cos(math.radians(b)))
        rc = _grid_direction(grid, en)
        for a in s.kernel_spreads:
            for length in lengths:
                h, anchor, wedge = plume_kernel(rc, a, length, s.source_width_px)
                out.append(_Kernel(h, anchor, wedge, en, rc, a, length))
    return out


def kernel_threshold(n_kernels: int, pixel_area_m2: float, false_plumes_per_100km2: float) -> float:
    """Threshold of the kernel detector's CFAR statistic for a false-plume rate.

    ``Φ⁻¹(1 − r A / K)``: a Bonferroni bound on the maximum of K unit-normal statistics per
    pixel, so that at most r per km² of pixels exceed it where there is no plume (each false
    plume is a cluster of such pixels, so fewer false plumes than that).

    Parameters
    ----------
    n_kernels : int
        Number of kernels K.
    pixel_area_m2 : float
        Ground area of a pixel A, m².
    false_plumes_per_100km2 : float
        Allowed rate r × 100 km².

    Returns
    -------
    float
        The threshold, in units of the statistic's (unit) noise.

    Examples
    --------
    >>> round(kernel_threshold(60, 36.0, 1.0), 1)
    5.7
    """
    if n_kernels < 1 or not (pixel_area_m2 > 0 and false_plumes_per_100km2 > 0):
        raise InputError(
            "kernel_threshold needs ≥ 1 kernel, a pixel area > 0 and a rate > 0, got "
            f"{n_kernels}, {pixel_area_m2} and {false_plumes_per_100km2}"
        )
    p = false_plumes_per_100km2 / 100.0 * pixel_area_m2 / 1e6 / n_kernels
    return NormalDist().inv_cdf(1.0 - min(p, 0.25))


@dataclass(frozen=True)
class ClutterModel:
    """The spatially correlated part of a significance map's background.

    An enhancement map's errors are not white: a field of another crop, a wet patch or a
    slope reads a little methane over tens to hundreds of pixels. Measured on the 3 m
    bench lines (``bench/methane_pd.py --altitude 3000``), the power of the renormalised
    significance at wavelengths over 100 px is ×18 that of white noise, ×2.6 at 20–50 px
    and ×1.0 under 10 px. A plume filter matched to white noise takes that clutter for
    signal; whitened by the clutter's own spectrum it weighs each spatial frequency by
    its signal-to-clutter ratio, the matched filter of coloured noise (Kay 1998,
    *Fundamentals of Statistical Signal Processing* II, §4.3).

    The model is the autocorrelation of the map's *negative part* (methane only adds, so
    gas is not in it; the caller masks where gas may be too, :func:`_busy_ground`),
    divided by the number of pixel pairs at each lag, turned back into the correlation of
    the whole map through the moments of a truncated bivariate normal
    (:func:`_rho_of_negative_part`), and tapered by a Gaussian of ``lag_px``: the spectrum
    smoothed, and clutter correlated over longer distances left to the detector's local
    CFAR scale. Of its spectrum only the excess over twice the estimate's own noise
    counts; a frequency is never amplified.

    Attributes
    ----------
    acf : (2n + 1, 2n + 1) float64
        Tapered autocorrelation at row and column lags −n…n, in FFT order (lag 0 first).
    n : int
        Largest lag kept, pixels (4 × ``lag_px``).
    noise : float
        Standard deviation of the spectrum's estimate for white noise: only the excess
        over twice it counts as clutter.
    """

    acf: NDArray[np.float64]
    n: int
    noise: float

    @classmethod
    def of_map(cls, z: ArrayLike, valid: ArrayLike, lag_px: float) -> ClutterModel:
        """Model a significance map's clutter.

        Parameters
        ----------
        z : (rows, cols) array-like
            Significance (unit-noise), NaN or anything where ``valid`` is False.
        valid : (rows, cols) array-like of bool
            Usable pixels.
        lag_px : float
            Correlation length kept, pixels (> 0).

        Returns
        -------
        ClutterModel

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> m = ClutterModel.of_map(rng.normal(size=(200, 200)), np.ones((200, 200), bool), 3.0)
        >>> round(float(m.acf[0, 0]), 1)  # white noise: unit variance at lag 0, ~0 elsewhere
        1.0
        """
        zz = np.asarray(z, dtype=np.float64)
        ok = np.asarray(valid, dtype=bool) & np.isfinite(zz)
        if not (math.isfinite(lag_px) and lag_px > 0):
            raise InputError(f"ClutterModel needs a correlation length > 0 px, got {lag_px}")
        # The negative part only: methane adds, so gas is not in it.
        neg = np.minimum(np.where(ok, zz, 0.0), 0.0)
        count = max(int(ok.sum()), 1)
        x = np.where(ok, neg - neg[ok].mean() if ok.any() else 0.0, 0.0)
        rows, cols = x.shape
        g = (
            sp_fft.next_fast_len(2 * rows, real=True),
            sp_fft.next_fast_len(2 * cols, real=True),
        )
        f = sp_fft.rfft2(x, g)
        fm = sp_fft.rfft2(ok.astype(np.float64), g)
        pairs = sp_fft.irfft2(fm.real**2 + fm.imag**2, g)
        full = sp_fft.irfft2(f.real**2 + f.imag**2, g) / np.maximum(pairs, 0.25 * count)
        n = min(math.ceil(4.0 * lag_px), rows - 1, cols - 1)
        lags = np.r_[0 : n + 1, -n:0]
        cov = full[np.ix_(lags % g[0], lags % g[1])]
        var = 2.0 * float(np.mean(neg[ok] ** 2)) if ok.any() else 1.0
        rho = _rho_of_negative_part(cov / cov[0, 0] if cov[0, 0] > 0 else cov * 0.0)
        taper = np.exp(-0.5 * (lags[:, None] ** 2 + lags[None, :] ** 2) / lag_px**2)
        # The spectrum's own noise, for white noise: each lag's ρ estimated with variance
        # ≈ 1 / (f′(0)² N), f′(0) = (π/2) / (π − 1), summed under the taper's square.
        noise = math.sqrt(float((taper**2).sum()) / count) * (np.pi - 1.0) / (np.pi / 2.0)
        return cls(var * rho * taper, n, noise)

    def spectrum(self, fshape: tuple[int, int]) -> NDArray[np.float64]:
        """Return the clutter's power per frequency of a ``fshape`` real FFT.

        White noise is 1; only the excess over twice the estimate's own noise counts, and
        frequencies where the map is quieter than white noise are not amplified.
        """
        n = self.n
        lags = np.r_[0 : n + 1, -n:0]
        grid = np.zeros(fshape)
        grid[np.ix_(lags % fshape[0], lags % fshape[1])] = self.acf
        excess = sp_fft.rfft2(grid).real - 1.0 - 2.0 * self.noise
        return np.asarray(1.0 + np.maximum(excess, 0.0), dtype=np.float64)


def _rho_of_negative_part(r: NDArray[np.float64]) -> NDArray[np.float64]:
    # The correlation ρ of two standard normals from that of their negative parts,
    # min(X, 0) and min(Y, 0): r = (√(1 − ρ²) + ρ (π/2 + arcsin ρ) − 1) / (π − 1), which
    # rises from −1/(π − 1) at ρ = −1 to 1 at ρ = 1 (the moments of a truncated bivariate
    # normal; Rosenbaum 1961, JRSS B 23:405), inverted on a table.
    rho = np.linspace(-1.0, 1.0, 2001)
    table = (np.sqrt(1.0 - rho**2) + rho * (np.pi / 2.0 + np.arcsin(rho)) - 1.0) / (np.pi - 1.0)
    return np.asarray(np.interp(r, table, rho), dtype=np.float64)


def _whitened_energy(
    h_fft: NDArray[np.complex128], power: NDArray[np.float64], fshape: tuple[int, int]
) -> float:
    """``‖W h‖²`` of a kernel from its real FFT on ``fshape`` and the clutter's power there.

    Parseval over the whole spectrum: each interior column of the real FFT stands for two.
    """
    w = np.full(h_fft.shape[1], 2.0)
    w[0] = 1.0
    if fshape[1] % 2 == 0:
        w[-1] = 1.0
    a2 = h_fft.real**2 + h_fft.imag**2
    return float((a2 / power * w[None, :]).sum() / (fshape[0] * fshape[1]))


def _cfar_normalise(t: NDArray[np.float64], good: NDArray[np.bool_]) -> NDArray[np.float64]:
    # (T − median) / scale, both local: a line crosses fields, towns and hills whose clutter
    # differs, and one scale for the whole line lets busy ground raise false plumes while
    # quiet ground hides faint ones. Median and scale come from blocks of about
    # _CFAR_BLOCK_PX² pixels (the whole map's where a block has < _CFAR_BLOCK_MIN usable),
    # interpolated bilinearly between block centres.
    whole = _cfar_stats(t, good, 20)
    if whole is None:
        return np.zeros(t.shape)
    nr, nc = t.shape
    re, ce = _block_edges(t.shape)
    br, bc = re.size - 1, ce.size - 1
    med = np.full((br, bc), whole[0])
    scale = np.full((br, bc), whole[1])
    for i in range(br):
        for j in range(bc):
            sl = (slice(re[i], re[i + 1]), slice(ce[j], ce[j + 1]))
            local = _cfar_stats(t[sl], good[sl], _CFAR_BLOCK_MIN)
            if local is not None:
                med[i, j], scale[i, j] = local
    if br * bc == 1:
        return np.asarray((t - med[0, 0]) / scale[0, 0], dtype=np.float64)
    at_r = np.interp(np.arange(nr), (re[:-1] + re[1:]) / 2.0 - 0.5, np.arange(br))
    at_c = np.interp(np.arange(nc), (ce[:-1] + ce[1:]) / 2.0 - 0.5, np.arange(bc))
    where = np.meshgrid(at_r, at_c, indexing="ij")
    med_map = ndimage.map_coordinates(med, where, order=1, mode="nearest")
    scale_map = ndimage.map_coordinates(scale, where, order=1, mode="nearest")
    return np.asarray((t - med_map) / scale_map, dtype=np.float64)


def _block_edges(shape: tuple[int, ...]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    # Row and column edges of the blocks of about _CFAR_BLOCK_PX² pixels a map is cut into.
    nr, nc = shape[0], shape[1]
    br, bc = max(1, round(nr / _CFAR_BLOCK_PX)), max(1, round(nc / _CFAR_BLOCK_PX))
    return (
        np.linspace(0, nr, br + 1).round().astype(np.intp),
        np.linspace(0, nc, bc + 1).round().astype(np.intp),
    )


def _cfar_stats(
    t: NDArray[np.float64], good: NDArray[np.bool_], least: int
) -> tuple[float, float] | None:
    # Median and scale of the usable values, the scale the larger of the MAD and the
    # negative-tail scale (the background alone makes the lower tail), from a subsample;
    # None when there are fewer than ``least`` values or no spread.
    vals = t[good]
    if vals.size < least:
        return None
    step = max(1, vals.size // 50_000)
    sub = vals[::step]
    med = float(np.median(sub))
    mad = _MAD_TO_SIGMA * float(np.median(np.abs(sub - med)))
    q = min(0.05, max(0.001, 50.0 / sub.size))
    tail = (med - float(np.quantile(sub, q))) / NormalDist().inv_cdf(1.0 - q)
    scale = max(mad, tail)
    if not (scale > 0 and math.isfinite(scale)):
        return None
    return med, scale


def _kernel_detections(
    e: NDArray[np.float64],
    sd: NDArray[np.float64],
    valid: NDArray[np.bool_],
    grid: PixelGrid,
    wind: Wind | None,
    s: SegmentationSettings,
) -> list[_Detection]:
    # Column striping out first: each column's significance renormalised (median, MAD).
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(valid, e / sd, np.nan)
    zn = column_normalised(z, valid)
    # The map the kernels see: e' = z' σ, with z' the renormalised significance.
    sd_c = np.where(valid, sd, 1.0)
    e_c = np.where(valid, zn * sd_c, 0.0)
    wt = np.where(valid, 1.0 / sd_c**2, 0.0)
    kernels = _kernels(grid, wind, s)
    best_t, best_k = _kernel_statistic(e_c, wt, valid, kernels)
    if s.clutter_lag_m is not None:
        lag_px = s.clutter_lag_m / grid.pixel_size_m
        busy, clean = _busy_ground(zn, valid, lag_px)
        if busy.any():
            model = ClutterModel.of_map(clean, np.isfinite(clean), lag_px)
            w_t, w_k = _whitened_statistic(zn, valid, kernels, model)
            # Busy ground far enough from edges and gaps for the whitening filter.
            use = busy & np.isfinite(w_t)
            best_t = np.where(use, w_t, best_t)
            best_k = np.where(use, w_k, best_k)
    return _detections(e_c, wt, valid, grid, kernels, best_t, best_k, s, wind)


def _busy_ground(
    zn: NDArray[np.float64], valid: NDArray[np.bool_], lag_px: float
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    # Where the ground is busy, and the map to model its clutter on (NaN where gas may be).
    #
    # Gas is left out first: where the significance smoothed over 1 px, lag/4 or lag/2 (a
    # faint, broad plume shows only at the larger scales), each made unit by its own
    # negative half (clutter is as often negative as positive, gas only adds), passes 3,
    # grown by the scale. The columns are renormalised without it: a plume that fills much
    # of a short line's columns raises their medians and would print a negative stripe.
    # Busy blocks (_CFAR_BLOCK_PX) are those whose clutter at the model's scale is well
    # above the noise: the clean map smoothed by a Gaussian of lag/2 spreads (on its
    # negative half) ≥ √_BUSY_RATIO × white noise's 1 / (2 √π σ).
    filled = np.where(valid, zn, 0.0)
    use = valid.copy()
    for scale in sorted({1.0, max(1.0, lag_px / 4.0), max(1.0, lag_px / 2.0)}):
        sm = ndimage.gaussian_filter(filled, scale)
        spread = _negative_spread(sm[valid])
        if spread > 0:
            hot = valid & (sm - float(np.median(sm[valid])) > 3.0 * spread)
            use &= ~ndimage.binary_dilation(hot, iterations=max(1, round(scale)))
    if use.sum() < 0.25 * valid.sum():
        use = valid.copy()
    clean = np.where(use, column_normalised(np.where(use, zn, np.nan), use), np.nan)
    sigma = max(1.0, lag_px / 2.0)
    sm = ndimage.gaussian_filter(np.where(use, clean, 0.0), sigma)
    white = 1.0 / (2.0 * math.sqrt(math.pi) * sigma)
    re, ce = _block_edges(zn.shape)
    busy = np.zeros(zn.shape, dtype=bool)
    for i in range(re.size - 1):
        for j in range(ce.size - 1):
            sl = (slice(re[i], re[i + 1]), slice(ce[j], ce[j + 1]))
            vals = sm[sl][use[sl]]
            if vals.size >= _CFAR_BLOCK_MIN:
                busy[sl] = (_negative_spread(vals) / white) ** 2 >= _BUSY_RATIO
    return busy, np.where(busy, clean, np.nan)


def _negative_spread(vals: NDArray[np.float64]) -> float:
    # The standard deviation of values from their negative half about the median (what
    # gas, which only adds, does not reach): √(2 mean(min(v − median, 0)²)).
    if vals.size == 0:
        return 0.0
    low = np.minimum(vals - float(np.median(vals)), 0.0)
    return math.sqrt(2.0 * float(np.mean(low**2)))


def _kernel_statistic(
    e_c: NDArray[np.float64],
    wt: NDArray[np.float64],
    valid: NDArray[np.bool_],
    kernels: list[_Kernel],
) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    # The CFAR-normalised statistic of white noise, maximised over kernels, and the best
    # kernel per anchor.
    y = e_c * wt
    shape = e_c.shape
    cache: dict[tuple[int, int], tuple[NDArray[np.complex128], NDArray[np.complex128]]] = {}
    best_t = np.full(shape, -np.inf)
    best_k = np.zeros(shape, dtype=np.int32)
    for k, ker in enumerate(kernels):
        fshape = _fshape(shape, ker.h.shape)
        if fshape not in cache:
            cache[fshape] = (sp_fft.rfft2(y, fshape), sp_fft.rfft2(wt, fshape))
        fy, fw = cache[fshape]
        flipped = ker.h[::-1, ::-1]
        num = _anchored(sp_fft.irfft2(fy * sp_fft.rfft2(flipped, fshape), fshape), ker, shape)
        den = _anchored(
            sp_fft.irfft2(fw * sp_fft.rfft2(flipped * flipped, fshape), fshape), ker, shape
        )
        top = float(den.max()) if den.size else 0.0
        good = valid & (den > 1e-6 * top)
        t = np.where(good, num / np.sqrt(np.where(good, den, 1.0)), np.nan)
        tn = _cfar_normalise(t, good)
        better = good & (tn > best_t)
        best_t = np.where(better, tn, best_t)
        best_k = np.where(better, k, best_k)
    return best_t, best_k


def _whitened_statistic(
    zn: NDArray[np.float64],
    valid: NDArray[np.bool_],
    kernels: list[_Kernel],
    model: ClutterModel,
) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    # The CFAR-normalised statistic of the clutter model, maximised over kernels:
    # T = ⟨W h, W z⟩ / ‖W h‖, W the clutter's whitening filter (|W|² = 1 / power). The
    # filter reaches as far as the model's largest lag (4 correlation lengths): an anchor
    # counts only where 90 % of its kernel's energy lies on usable pixels that far from
    # the line's edges and its unusable pixels (nearer, the whitened map is not the
    # model's; NaN there), and the FFTs are padded as far so that nothing wraps around.
    shape = zn.shape
    margin = model.n
    padded = np.pad(valid, 1, constant_values=False)
    deep = (ndimage.distance_transform_edt(padded)[1:-1, 1:-1] > margin).astype(np.float64)
    cache: dict[tuple[int, int], tuple[NDArray[Any], NDArray[Any], NDArray[Any]]] = {}
    best_t = np.full(shape, -np.inf)
    best_k = np.zeros(shape, dtype=np.int32)
    for k, ker in enumerate(kernels):
        fshape = _fshape(shape, (ker.h.shape[0] + margin, ker.h.shape[1] + margin))
        if fshape not in cache:
            power = model.spectrum(fshape)
            fz = sp_fft.rfft2(np.where(valid, zn, 0.0), fshape) / power
            cache[fshape] = (fz, sp_fft.rfft2(deep, fshape), power)
        fz, fd, power = cache[fshape]
        flipped = ker.h[::-1, ::-1]
        hf = sp_fft.rfft2(flipped, fshape)
        num = _anchored(sp_fft.irfft2(fz * hf, fshape), ker, shape)
        energy = float((flipped * flipped).sum())
        on = _anchored(
            sp_fft.irfft2(fd * sp_fft.rfft2(flipped * flipped, fshape), fshape), ker, shape
        )
        good = valid & (on > 0.9 * energy)
        t = np.where(good, num / math.sqrt(_whitened_energy(hf, power, fshape)), np.nan)
        tn = _cfar_normalise(t, good)
        better = good & (tn > best_t)
        best_t = np.where(better, tn, best_t)
        best_k = np.where(better, k, best_k)
    return np.where(np.isfinite(best_t), best_t, np.nan), best_k


def _fshape(shape: tuple[int, ...], kshape: tuple[int, ...]) -> tuple[int, int]:
    # The real-FFT grid of a linear (not circular) correlation of a map with a kernel.
    return (
        sp_fft.next_fast_len(shape[0] + kshape[0] - 1, real=True),
        sp_fft.next_fast_len(shape[1] + kshape[1] - 1, real=True),
    )


def _anchored(
    full: NDArray[np.float64], ker: _Kernel, shape: tuple[int, ...]
) -> NDArray[np.float64]:
    # The full correlation's values at the anchors: an anchor at p is index p + (k − 1 − a).
    kr, kc = ker.h.shape
    ar, ac = kr - 1 - ker.anchor[0], kc - 1 - ker.anchor[1]
    return full[ar : ar + shape[0], ac : ac + shape[1]]


def _detections(
    e_c: NDArray[np.float64],
    wt: NDArray[np.float64],
    valid: NDArray[np.bool_],
    grid: PixelGrid,
    kernels: list[_Kernel],
    best_t: NDArray[np.float64],
    best_k: NDArray[np.int32],
    s: SegmentationSettings,
    wind: Wind | None,
) -> list[_Detection]:
    # Exceedances of the threshold, strongest first; repeats of a plume dropped; sources.
    shape = e_c.shape
    u = kernel_threshold(len(kernels), float(np.median(grid.area_m2)), s.false_plumes_per_100km2)
    above = valid & (best_t > u)
    if not above.any():
        return []
    # Local maxima (11 × 11), not one per connected exceedance: the exceedances of large
    # plumes close together merge into one region.
    finite = np.where(np.isfinite(best_t), best_t, -np.inf)
    top = ndimage.maximum_filter(finite, size=2 * _PEAK_PX + 1, mode="constant", cval=-np.inf)
    rr, cc = np.nonzero(above & (finite >= top))
    order = sorted(zip(rr.tolist(), cc.tolist(), strict=True), key=lambda rc: -float(best_t[rc]))
    disk = _search_disk()
    scan = s.method == "kernel" and wind is None
    # The kernel pointing the other way with the same spread and length, by index.
    index = {
        (round(k.axis[0], 6), round(k.axis[1], 6), k.spread, k.length_px): i
        for i, k in enumerate(kernels)
    }
    reverse = {
        i: index.get((round(-k.axis[0], 6), round(-k.axis[1], 6), k.spread, k.length_px))
        for i, k in enumerate(kernels)
    }
    reverse = {i: j for i, j in reverse.items() if j is not None}
    # Kernels of the same length turned by at most 30°, any spread, by index (itself first).
    siblings: dict[int, list[int]] = {}
    for i, k in enumerate(kernels):
        near_dirs = [
            j
            for j, q in enumerate(kernels)
            if j != i
            and q.length_px == k.length_px
            and q.axis[0] * k.axis[0] + q.axis[1] * k.axis[1] >= math.cos(math.radians(30.5))
        ]
        siblings[i] = [i, *near_dirs]
    accepted: list[_Detection] = []
    claimed = np.zeros(shape, dtype=bool)
    sources = np.zeros(shape, dtype=bool)
    # Which detection (1-based) claimed a pixel, or holds a source there, and its kernel.
    claim_owner = np.zeros(shape, dtype=np.int32)
    source_owner = np.zeros(shape, dtype=np.int32)
    accepted_kernels: list[_Kernel] = []
    started: set[int] = set()  # detections moved to a start found later

    def mark(label: int, region: NDArray[np.bool_], at: set[tuple[int, int]]) -> None:
        # Detection ``label``'s region (grown by 3 px across a patchy plume's gaps) claimed,
        # and the search disks around its sources.
        nonlocal claimed, sources
        grown = ndimage.binary_dilation(region, _EIGHT, iterations=3)
        claim_owner[grown & ~claimed] = label
        claimed |= grown
        for point in at:
            disk_at = _place(disk, (_SEARCH_PX, _SEARCH_PX), point, shape)
            source_owner[disk_at & ~sources] = label
            sources |= disk_at

    # Where the plume is, inside its wedge: the significance smoothed over a pixel (a plume
    # pixel's neighbours share its gas), renormalised, above 1.
    zs = column_normalised(ndimage.gaussian_filter(e_c * np.sqrt(wt), 1.0), valid)
    evident = valid & (zs > 1.0)
    # The visible body of each plume: connected pixels above 2 (a detection claims the
    # bodies its region touches, so the same plume is not reported again).
    bodies, _ = ndimage.label(valid & (zs > 2.0), _EIGHT)
    # Where a source may be reached along a plume (bridged in _locate_source: an anchor
    # off the plume still sees it downwind, so its statistic alone would lead away upwind).
    on_body = bodies > 0
    for peak in order:
        r0, c0 = int(peak[0]), int(peak[1])
        ker = kernels[int(best_k[r0, c0])]
        # The same plume seen again: an anchor inside a stronger plume, a kernel whose weight
        # lies mostly on one, or a kernel reaching a stronger plume's source.
        placed = _place_values(ker.h, ker.anchor, (r0, c0), shape)
        weight = placed**2
        # ... or a kernel whose *signal* comes mostly from one: a long kernel anchored in
        # clean air beside a large, meandering plume sees that plume's mass far down its
        # wedge while its weight (∝ 1/width², so near the anchor) lies on clean air.
        signal = np.clip(placed * e_c * wt, 0.0, None)
        repeat = _repeat_of((r0, c0), weight, signal, claimed, claim_owner, sources, source_owner)
        if repeat is not None:
            # Unless it is where that plume starts: a patchy plume's dense piece downwind
            # can outscore its thin start and be found first, its source at the piece's
            # upwind end; the start, found next, is then moved to. Only with a wind (without
            # one, upwind is a guess from the plume's shape) and once per plume.
            if repeat > 0 and not scan and repeat not in started:
                j = repeat - 1
                start = _start_upwind(
                    accepted[j],
                    accepted_kernels[j],
                    (r0, c0),
                    [kernels[t] for t in siblings[int(best_k[r0, c0])]],
                    e_c,
                    wt,
                    valid & ~(claimed & (claim_owner != repeat)),
                    evident,
                    bodies,
                    grid,
                    s,
                )
                if start is not None:
                    started.add(repeat)
                    accepted[j] = start
                    mark(repeat, start.region, {start.source})
            continue
        # Where the source may be: around the best anchor, and up to _UPWIND_PX upwind of
        # it where the plume shows (a long kernel anchored inside a strong plume can score
        # best where the near-source part is faint).
        near = _place(disk, (_SEARCH_PX, _SEARCH_PX), (r0, c0), shape)
        near |= _corridor((r0, c0), ker.step, shape) & evident
        # The source's kernel may differ from the best one (a puff downwind can fit a kernel
        # turned 30° best): the edge test tries its neighbours in direction and spread.
        tried = siblings[int(best_k[r0, c0])]
        src, i = _locate_source(
            e_c,
            wt,
            valid & near & ~claimed,
            [kernels[j] for j in tried],
            (r0, c0),
            ker.step,
            s,
            body=on_body,
        )
        ker = kernels[tried[i]]
        if scan:
            # Without a wind a plume and its mirror image both fit: the source is the end
            # of the plume's body with the sharper start (dense and narrow, clean upwind).
            hit = np.unique(bodies[_place(ker.wedge, ker.anchor, src, shape) & (bodies > 0)])
            br, bc = np.nonzero(np.isin(bodies, hit[hit > 0]))
            rev = reverse.get(int(best_k[r0, c0]))
            if br.size and rev is not None:
                k_far = int(np.argmax(br * ker.step[0] + bc * ker.step[1]))
                far_pt = (int(br[k_far]), int(bc[k_far]))
                far = _place(disk, (_SEARCH_PX, _SEARCH_PX), far_pt, shape)
                pair = [ker, kernels[rev]]
                both = _place(disk, (_SEARCH_PX, _SEARCH_PX), src, shape) | far
                got, i = _locate_source(e_c, wt, valid & both & ~claimed, pair, src, (0.0, 0.0), s)
                if i == 1:
                    src, ker = got, kernels[rev]
        if claimed[src] or sources[src]:
            continue
        wedge, region, shown = _plume_region(src, ker, valid, evident, bodies)
        first = src
        # (Judged on the map the kernels see; the plume's source note judges the same
        # region on the enhancement itself.)
        if _start_of(shown, src, ker.axis, e_c, grid, s)[1]:
            # What was found does not look like where a plume starts (already wide, or
            # hardly any gas around it): often the dense puffs of a patchy plume downwind of
            # its thin start. Follow the gas upwind from it (evident pixels, gaps of a few
            # pixels along the wind bridged) up to twice as far as above.
            trail = _upwind_trail(src, ker.step, evident)
            if np.any(trail & sources):
                # It leads to a plume found already: that plume, seen again.
                claimed |= ndimage.binary_dilation(shown, _EIGHT, iterations=3)
                continue
            up, _ = _locate_source(
                e_c, wt, valid & trail & ~claimed, [ker], src, ker.step, s, body=on_body
            )
            if up != src:
                # Taken only if it looks like a start, is a plume's edge (≥ _UPSTART_Z σ and
                # a share of the first source's) and gas lies along the way there.
                moved = _plume_region(up, ker, valid, evident, bodies)
                here, there = (_edge_statistic(e_c, wt, ker, at, s) for at in (src, up))
                if (
                    not _start_of(moved[2], up, ker.axis, e_c, grid, s)[1]
                    and there >= max(_UPSTART_Z, _UPSTART_FRACTION * here)
                    and _joined(evident, up, src) >= _UPSTART_JOIN
                ):
                    # The plume runs from its start through what was found first.
                    src = up
                    wedge, region, shown = (
                        a | b for a, b in zip(moved, (wedge, region, shown), strict=True)
                    )
        if region.sum() < s.min_pixels:
            continue
        # The plume shows in its wedge and in the bodies its wedge touches (a patchy plume's
        # visible start may lie upwind of the best-fitting anchor). Claimed: that, grown by
        # 3 px across a patchy plume's gaps.
        region = shown
        # (A source moved upwind leaves its first place marked too: it was that plume.)
        mark(len(accepted) + 1, region, {src, first})
        accepted.append(_Detection(src, ker.axis, region, wedge, float(best_t[r0, c0]), u))
        accepted_kernels.append(ker)
    return accepted


def _search_disk() -> NDArray[np.bool_]:
    # The pixels within _SEARCH_PX of a maximum, centred: where its source is sought.
    r = np.hypot(*np.mgrid[-_SEARCH_PX : _SEARCH_PX + 1, -_SEARCH_PX : _SEARCH_PX + 1])
    return np.asarray(r <= _SEARCH_PX, dtype=bool)


def _repeat_of(
    at: tuple[int, int],
    weight: NDArray[np.float64],
    signal: NDArray[np.float64],
    claimed: NDArray[np.bool_],
    claim_owner: NDArray[np.int32],
    sources: NDArray[np.bool_],
    source_owner: NDArray[np.int32],
) -> int | None:
    # Whether an anchor's kernel sees a plume found already, and which (1-based; 0 when
    # unknown): an anchor inside it, a kernel whose weight or signal lies mostly on it, or a
    # kernel reaching its source. None: a plume of its own.
    if claimed[at]:
        return int(claim_owner[at])
    for share in (weight, signal):
        on = share[claimed]
        if float(on.sum()) > 0.5 * float(share.sum()):
            votes = np.bincount(claim_owner[claimed], weights=on)
            return int(np.argmax(votes))
    reach = sources & (weight > 0)
    if np.any(reach):
        votes = np.bincount(source_owner[reach], weights=weight[reach])
        return int(np.argmax(votes))
    return None


def _start_upwind(
    found: _Detection,
    ker: _Kernel,
    anchor: tuple[int, int],
    tried: list[_Kernel],
    e_c: NDArray[np.float64],
    wt: NDArray[np.float64],
    allowed: NDArray[np.bool_],
    evident: NDArray[np.bool_],
    bodies: NDArray[np.int32],
    grid: PixelGrid,
    s: SegmentationSettings,
) -> _Detection | None:
    # ``found`` (placed by ``ker``) moved to start near ``anchor``, when that is where it
    # starts: the source found around the anchor lies upwind of found's, beyond where
    # found's own search looked (≥ _SEARCH_PX along its axis, in the ±30° cone about it),
    # looks like a start, and gas lies along the way (_UPSTART_JOIN), as for a start
    # followed upwind in _detections; and its edge statistic passes the line's detection
    # threshold (the best of hundreds of anchors and several kernels: 3σ of noise is
    # common there) and a share of found's. None otherwise.
    shape = e_c.shape
    norm = math.hypot(*ker.step) or 1.0
    cone = math.tan(math.radians(30.0))
    limit = -float(_SEARCH_PX)

    def upwind(rows: NDArray[np.intp], cols: NDArray[np.intp], slack: float) -> NDArray[np.bool_]:
        d_r, d_c = rows - found.source[0], cols - found.source[1]
        along = (d_r * ker.step[0] + d_c * ker.step[1]) / norm
        across = (-d_r * ker.step[1] + d_c * ker.step[0]) / norm
        return (along <= limit + slack) & (np.abs(across) <= 1.5 + slack + cone * -along)

    # (The source is sought within _SEARCH_PX of the anchor.)
    if not upwind(np.asarray(anchor[0]), np.asarray(anchor[1]), 2.0 * _SEARCH_PX):
        return None
    near = _place(_search_disk(), (_SEARCH_PX, _SEARCH_PX), anchor, shape)
    rr, cc = np.nonzero(near)
    near[rr, cc] = upwind(rr, cc, 0.0)
    up, i = _locate_source(e_c, wt, allowed & near, tried, anchor, ker.step, s)
    own = tried[i]
    if not upwind(np.asarray(up[0]), np.asarray(up[1]), 0.0):
        return None
    wedge, _, shown = _plume_region(up, own, allowed, evident, bodies)
    if _start_of(shown, up, own.axis, e_c, grid, s)[1]:
        return None
    here = _edge_statistic(e_c, wt, ker, found.source, s)
    there = _edge_statistic(e_c, wt, own, up, s)
    if there < max(found.threshold, _UPSTART_FRACTION * here):
        return None
    if _joined(evident, up, found.source) < _UPSTART_JOIN:
        return None
    return _Detection(
        up,
        found.axis,
        found.region | shown,
        found.wedge | wedge,
        found.statistic,
        found.threshold,
    )


def _plume_region(
    src: tuple[int, int],
    ker: _Kernel,
    valid: NDArray[np.bool_],
    evident: NDArray[np.bool_],
    bodies: NDArray[np.int32],
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    # A plume from ``src`` along ``ker``: the kernel's wedge, the evident gas in it (with
    # the source's own 3 × 3), and that joined by the visible bodies it touches.
    shape = valid.shape
    wedge = _place(ker.wedge, ker.anchor, src, shape) & valid
    region = wedge & evident
    head = (slice(max(0, src[0] - 1), src[0] + 2), slice(max(0, src[1] - 1), src[1] + 2))
    region[head] |= wedge[head]
    region[src] = bool(valid[src])
    touched = np.unique(bodies[region & (bodies > 0)])
    return wedge, region, region | np.isin(bodies, touched[touched > 0])


def _upwind_trail(
    src: tuple[int, int], step: tuple[float, float], evident: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    # The evident gas reaching ``src`` from upwind (within twice _UPWIND_PX, in the ±30°
    # cone), its gaps along the wind of up to 2 × _UPSTART_GAP px bridged, from
    # _UPSTART_PX upwind of it on.
    shape = evident.shape
    reach = 2 * _UPWIND_PX + 8 + _UPSTART_GAP
    r0, r1 = max(0, src[0] - reach), min(shape[0], src[0] + reach + 1)
    c0, c1 = max(0, src[1] - reach), min(shape[1], src[1] + reach + 1)
    at = (src[0] - r0, src[1] - c0)
    local = evident[r0:r1, c0:c1]
    cone = _corridor(at, step, local.shape, 2 * _UPWIND_PX) & local
    cone[max(0, at[0] - 1) : at[0] + 2, max(0, at[1] - 1) : at[1] + 2] = True
    labels, _ = ndimage.label(ndimage.binary_closing(cone, _wind_line(step, _UPSTART_GAP)), _EIGHT)
    ii, jj = np.mgrid[0 : local.shape[0], 0 : local.shape[1]]
    upwind = (ii - at[0]) * step[0] + (jj - at[1]) * step[1] <= -_UPSTART_PX
    out = np.zeros(shape, dtype=bool)
    out[r0:r1, c0:c1] = cone & (labels == labels[at]) & upwind
    return out


def _joined(evident: NDArray[np.bool_], a: tuple[int, int], b: tuple[int, int]) -> float:
    # Share of the steps of the straight path from a to b with evident gas on it or a pixel
    # to either side of it.
    d = (b[0] - a[0], b[1] - a[1])
    n = max(abs(d[0]), abs(d[1]))
    if n == 0:
        return 1.0
    norm = math.hypot(*d)
    across = (-d[1] / norm, d[0] / norm)
    hits = 0
    for k in range(n + 1):
        r, c = a[0] + d[0] * k / n, a[1] + d[1] * k / n
        for off in (-1.0, 0.0, 1.0):
            i, j = round(r + off * across[0]), round(c + off * across[1])
            if 0 <= i < evident.shape[0] and 0 <= j < evident.shape[1] and evident[i, j]:
                hits += 1
                break
    return hits / (n + 1)


def _edge_statistic(
    e: NDArray[np.float64],
    wt: NDArray[np.float64],
    ker: _Kernel,
    at: tuple[int, int],
    s: SegmentationSettings,
) -> float:
    # _locate_source's edge statistic ("plume downwind, clean air upwind") at one anchor.
    edge, anchor = _edge_kernel(ker, s)
    placed = _place_values(edge, anchor, at, e.shape)
    den = float(np.sum(placed**2 * wt))
    return float(np.sum(placed * e * wt)) / math.sqrt(den) if den > 0 else -math.inf


def _edge_kernel(
    ker: _Kernel, s: SegmentationSettings
) -> tuple[NDArray[np.float64], tuple[int, int]]:
    # A short plume kernel minus its mirror image through the anchor ("plume downwind,
    # clean air upwind"), and the anchor's index.
    h, (ar, ac), _ = plume_kernel(
        ker.step, ker.spread, min(ker.length_px, _EDGE_PX), s.source_width_px
    )
    rr, cc = np.nonzero(h)
    mr, mc = 2 * ar - rr, 2 * ac - cc
    pad = max(
        0,
        int(-mr.min()),
        int(mr.max() - h.shape[0] + 1),
        int(-mc.min()),
        int(mc.max() - h.shape[1] + 1),
    )
    edge = np.zeros((h.shape[0] + 2 * pad, h.shape[1] + 2 * pad))
    edge[pad : pad + h.shape[0], pad : pad + h.shape[1]] = h
    edge[mr + pad, mc + pad] -= h[rr, cc]
    return edge, (ar + pad, ac + pad)


def _locate_source(
    e: NDArray[np.float64],
    wt: NDArray[np.float64],
    allowed: NDArray[np.bool_],
    kers: list[_Kernel],
    peak: tuple[int, int],
    step: tuple[float, float],
    s: SegmentationSettings,
    body: NDArray[np.bool_] | None = None,
) -> tuple[tuple[int, int], int]:
    # The plume's upwind edge: the anchor maximising, over the given kernels, the matched
    # filter of "plume downwind, clean air upwind". A kernel anchored inside the plume sees
    # plume on both sides; one anchored upwind of the source sees less plume: the statistic
    # peaks at the source. Short kernels: where the source is is a local matter. Returns
    # the source and the index (in ``kers``) of the kernel that placed it.
    rows, cols = np.nonzero(allowed)
    if rows.size == 0:
        return peak, 0
    edges = [_edge_kernel(k, s) for k in kers]
    reach = max(max(ed.shape) for ed, _ in edges)
    # A window holding every allowed anchor and any kernel around it.
    r_lo, c_lo = max(0, int(rows.min()) - reach), max(0, int(cols.min()) - reach)
    r_hi = min(e.shape[0], int(rows.max()) + reach + 1)
    c_hi = min(e.shape[1], int(cols.max()) + reach + 1)
    y = (e * wt)[r_lo:r_hi, c_lo:c_hi]
    w = wt[r_lo:r_hi, c_lo:c_hi]
    local = allowed[r_lo:r_hi, c_lo:c_hi]
    fshape = (
        sp_fft.next_fast_len(y.shape[0] + reach, real=True),
        sp_fft.next_fast_len(y.shape[1] + reach, real=True),
    )
    fy = sp_fft.rfft2(y, fshape)
    fw = sp_fft.rfft2(w, fshape)
    fv = sp_fft.rfft2((w > 0).astype(np.float64), fshape)
    best = np.full(y.shape, -np.inf)
    which = np.zeros(y.shape, dtype=np.intp)
    for i, (edge, (ar, ac)) in enumerate(edges):
        flipped = edge[::-1, ::-1]
        kr, kc = edge.shape
        sr, sc = kr - 1 - ar, kc - 1 - ac

        num = _cut(fy, flipped, fshape, (sr, sc), y.shape)
        den = _cut(fw, flipped**2, fshape, (sr, sc), y.shape)
        down = np.clip(flipped, 0.0, None) ** 2
        # Anchors whose downwind half lies partly off the map (or on bad pixels) are not
        # judged: a few dense pixels at the edge would pass for a plume's start.
        cover = _cut(fv, down, fshape, (sr, sc), y.shape) / max(float(down.sum()), 1e-300)
        stat = np.where(
            local & (den > 0) & (cover >= 0.9), num / np.sqrt(np.maximum(den, 1e-300)), -np.inf
        )
        better = stat > best
        best = np.where(better, stat, best)
        which = np.where(better, i, which)
    top = float(np.max(best))
    if not math.isfinite(top):
        return peak, 0
    # A patchy plume has dense puffs downwind that score as well as its start: the anchors
    # scoring within 10 % of the best (when that is above 4σ), extended upwind along the
    # plume's body when it goes on there (below).
    if top > 4.0:
        strong = best >= 0.9 * top
        ii, jj = np.nonzero(strong)
        if body is not None:
            bridged = _along_bridged(body[r_lo:r_hi, c_lo:c_hi], step)
            k = int(np.argmin(ii * step[0] + jj * step[1]))
            # The plume goes on upwind of the best anchors (a stack's narrow, meandering
            # start scores below its dense puffs downwind): follow its body upwind through
            # anchors that are still a plume's edge (≥ _EDGE_Z σ, ≥ _EDGE_FRACTION of the
            # best). When the body stops there, the best anchors are the start.
            goes_on = 0
            for turn in (-_FAN_RAD, 0.0, _FAN_RAD):  # the wind's direction is uncertain
                cs, sn = math.cos(turn), math.sin(turn)
                u = (step[0] * cs - step[1] * sn, step[0] * sn + step[1] * cs)
                ahead = [(round(ii[k] - d * u[0]), round(jj[k] - d * u[1])) for d in (2, 3, 4)]
                hits = sum(
                    0 <= a < bridged.shape[0] and 0 <= b < bridged.shape[1] and bool(bridged[a, b])
                    for a, b in ahead
                )
                goes_on = max(goes_on, hits)
            if goes_on >= 2:
                chain = bridged & (best >= max(_EDGE_Z, _EDGE_FRACTION * top))
                labels, _ = ndimage.label(chain, _EIGHT)
                keep = np.unique(labels[strong & (labels > 0)])
                ii, jj = np.nonzero(strong | np.isin(labels, keep[keep > 0]))
    else:
        ii, jj = np.nonzero(best >= top)
    along = ii * step[0] + jj * step[1]
    # At the upwind end (within _END_PX of the most upwind anchor), the best anchor: the
    # edge statistic peaks at the source itself, while the body, being smoothed, reaches a
    # pixel or two beyond it.
    end = along <= along.min() + _END_PX
    k = int(np.flatnonzero(end)[int(np.argmax(best[ii[end], jj[end]]))])
    # A source reached along the body keeps the first kernel (the one that found the plume,
    # ``kers[0]``): a short stretch near a patchy source can fit a kernel turned off the
    # plume best, and its wedge would miss the plume's mass.
    idx = int(which[ii[k], jj[k]]) if best[ii[k], jj[k]] >= 0.9 * top else 0
    return (int(ii[k]) + r_lo, int(jj[k]) + c_lo), idx


def _along_bridged(body: NDArray[np.bool_], step: tuple[float, float]) -> NDArray[np.bool_]:
    # A plume's bodies with the pixel beside each, and gaps of up to 3 px along the wind
    # closed (a patchy plume breaks along its axis; noise beside it is not joined across).
    closed = ndimage.binary_closing(body, _wind_line(step, 2))
    return np.asarray(ndimage.binary_dilation(body, _EIGHT) | closed)


def _wind_line(step: tuple[float, float], half: int) -> NDArray[np.bool_]:
    # A line of 2 × half + 1 pixels along the wind, as a structuring element.
    line = np.zeros((2 * half + 1, 2 * half + 1), dtype=bool)
    for k in range(-half, half + 1):
        line[half + round(k * step[0]), half + round(k * step[1])] = True
    return line


def _cut(
    f: NDArray[np.complex128],
    k: NDArray[np.float64],
    fshape: tuple[int, int],
    start: tuple[int, int],
    shape: tuple[int, ...],
) -> NDArray[np.float64]:
    # The correlation of a map (its FFT f) with kernel k, cut to the map's own pixels.
    full = sp_fft.irfft2(f * sp_fft.rfft2(k, fshape), fshape)
    return np.asarray(full[start[0] : start[0] + shape[0], start[1] : start[1] + shape[1]])


def _corridor(
    at: tuple[int, int],
    step: tuple[float, float],
    shape: tuple[int, ...],
    upwind_px: float = _UPWIND_PX,
) -> NDArray[np.bool_]:
    # Pixels up to ``upwind_px`` upwind of ``at`` (and 5 px downwind) about the axis.
    out = np.zeros(shape, dtype=bool)
    reach = math.ceil(upwind_px) + 7
    r0, r1 = max(0, at[0] - reach), min(shape[0], at[0] + reach + 1)
    c0, c1 = max(0, at[1] - reach), min(shape[1], at[1] + reach + 1)
    i, j = np.mgrid[r0:r1, c0:c1]
    di, dj = i - at[0], j - at[1]
    along = di * step[0] + dj * step[1]
    across = -di * step[1] + dj * step[0]
    # A cone: ±30° about the axis upwind, 6 px wide at the maximum.
    width = 6.0 + 0.58 * np.clip(-along, 0.0, None)
    out[r0:r1, c0:c1] = (along >= -upwind_px) & (along <= 5.0) & (np.abs(across) <= width)
    return out


def _place_values(
    patch: NDArray[np.float64], anchor: tuple[int, int], at: tuple[int, int], shape: tuple[int, ...]
) -> NDArray[np.float64]:
    # A kernel-sized patch of values placed with its anchor at ``at`` in a map of ``shape``.
    out = np.zeros(shape)
    r0, c0 = at[0] - anchor[0], at[1] - anchor[1]
    pr0, pc0 = max(0, -r0), max(0, -c0)
    mr0, mc0 = max(0, r0), max(0, c0)
    mr1 = min(shape[0], r0 + patch.shape[0])
    mc1 = min(shape[1], c0 + patch.shape[1])
    if mr1 > mr0 and mc1 > mc0:
        out[mr0:mr1, mc0:mc1] = patch[pr0 : pr0 + mr1 - mr0, pc0 : pc0 + mc1 - mc0]
    return out


def _place(
    patch: NDArray[np.bool_], anchor: tuple[int, int], at: tuple[int, int], shape: tuple[int, ...]
) -> NDArray[np.bool_]:
    # A kernel-sized boolean patch placed with its anchor at ``at`` in a map of ``shape``.
    out = np.zeros(shape, dtype=bool)
    r0, c0 = at[0] - anchor[0], at[1] - anchor[1]
    pr0, pc0 = max(0, -r0), max(0, -c0)
    mr0, mc0 = max(0, r0), max(0, c0)
    mr1 = min(shape[0], r0 + patch.shape[0])
    mc1 = min(shape[1], c0 + patch.shape[1])
    if mr1 > mr0 and mc1 > mc0:
        out[mr0:mr1, mc0:mc1] = patch[pr0 : pr0 + mr1 - mr0, pc0 : pc0 + mc1 - mc0]
    return out


def _oriented_kernel(
    direction: tuple[float, float], along_px: float, across_px: float
) -> NDArray[np.float64]:
    # Gaussian stretched along a direction on the pixel grid, unit sum of squares (so white
    # noise keeps unit variance before the renormalisation).
    half = math.ceil(3.0 * max(along_px, across_px))
    i, j = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    u = np.asarray(direction, dtype=np.float64)
    u = u / max(float(np.hypot(u[0], u[1])), 1e-12)
    along = i * u[0] + j * u[1]
    across = -i * u[1] + j * u[0]
    k = np.exp(-0.5 * ((along / along_px) ** 2 + (across / across_px) ** 2))
    return np.asarray(k / math.sqrt(float(np.sum(k**2))), dtype=np.float64)


def _grid_direction(grid: PixelGrid, east_north: tuple[float, float]) -> tuple[float, float]:
    # A ground direction (east, north) as a step (rows, cols) on the pixel grid.
    step = np.linalg.solve(grid.jacobian, np.asarray(east_north, dtype=np.float64))
    n = float(np.hypot(step[0], step[1]))
    return (float(step[0] / n), float(step[1] / n))


def _principal_axis(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
) -> NDArray[np.float64]:
    # Unit vector of the largest weighted spread of the points (east, north).
    if x.size < 2:
        return np.array([1.0, 0.0])
    wn = w / w.sum()
    mx, my = float(np.sum(wn * x)), float(np.sum(wn * y))
    cov = np.array(
        [
            [np.sum(wn * (x - mx) ** 2), np.sum(wn * (x - mx) * (y - my))],
            [np.sum(wn * (x - mx) * (y - my)), np.sum(wn * (y - my) ** 2)],
        ]
    )
    vals, vecs = np.linalg.eigh(cov)
    return np.asarray(vecs[:, int(np.argmax(vals))], dtype=np.float64)
