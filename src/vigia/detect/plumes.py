"""Gas plumes in an enhancement map: CFAR detection, segmentation and IME quantification.

Species-agnostic: any ``(downtrack, crosstrack)`` map of column enhancement (ppm·m) with its
per-pixel sigma, from the methane filter or an LWIR detector, goes in; :class:`Plume` objects
come out.

Detection
    A constant-false-alarm-rate test on the significance map ``z = enhancement / sigma``. Each
    column is first renormalised by its own median and MAD, so column striping (a detector
    column with a wrong gain, a filter column with a bad background) does not raise or lower
    the false-alarm rate. A plume is extended, so the map is also smoothed by a small Gaussian
    (a spatial matched filter for a blob a few pixels wide) and renormalised the same way.
    Seeds are pixels whose smoothed significance exceeds the Gaussian quantile of ``pfa``;
    a plume is the connected region (8-neighbourhood) above ``grow_z`` holding a seed
    (hysteresis, as Canny's edges), fragments closer than ``merge_px`` joined, kept if it has
    ``min_pixels`` pixels.
Source
    With the wind, the source is the most enhanced pixel of the plume's upwind end (the first
    quarter of its extent along the wind). Without it, the plume's axis is the principal axis
    of its enhancement-weighted pixels, and the source end the one whose pixels are more
    enhanced (a plume is densest and narrowest at its source).
Quantification
    The integrated mass enhancement (IME, Frankenberg et al. 2016, PNAS 113:9734; Varon et al.
    2018, AMT 11:5673) sums column mass over the plume grown by ``ime_dilation_px`` (to
    collect its faint edges; noise there averages out). The emission rate is
    ``Q = U_eff · IME / L`` with L the plume's extent along the wind from the source and
    ``U_eff = α U10 + β`` (:class:`IMECalibration`). Its sigma adds in quadrature the IME's
    noise (from the per-pixel sigma), the wind speed's uncertainty, the calibration's and half
    a pixel of length.

Pixel sizes come from the cube's own per-pixel latitude and longitude, on a local tangent plane
(east, north) about the scene: over a few kilometres it differs from UTM by less than 0.1 %
and keeps north true, which compass wind directions need.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from vigia.errors import InputError
from vigia.sense.plume import ppm_m_to_mass

__all__ = [
    "MOLAR_MASS_KG_MOL",
    "IMECalibration",
    "PixelGrid",
    "Plume",
    "SegmentationSettings",
    "Wind",
    "cfar_mask",
    "column_normalised",
    "find_plumes",
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
    """

    speed_m_s: float
    from_deg: float
    speed_sigma_m_s: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.speed_m_s) and self.speed_m_s > 0):
            raise InputError(f"wind speed must be > 0 m/s, got {self.speed_m_s!r}")
        if not math.isfinite(self.from_deg):
            raise InputError(f"wind direction must be finite degrees, got {self.from_deg!r}")
        if self.speed_sigma_m_s is not None and not (
            math.isfinite(self.speed_sigma_m_s) and self.speed_sigma_m_s >= 0
        ):
            raise InputError(f"wind speed sigma must be ≥ 0 m/s, got {self.speed_sigma_m_s!r}")

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
    """Settings of the CFAR detector and segmentation.

    Attributes
    ----------
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
    source_fraction : float
        Share of the plume's extent along its axis that counts as its source end.
    """

    pfa: float = 1e-5
    grow_z: float = 2.0
    min_pixels: int = 5
    smooth_px: float = 1.0
    along_px: float = 3.0
    merge_px: int = 2
    ime_dilation_px: int = 2
    source_fraction: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 < self.pfa < 0.5:
            raise InputError(f"SegmentationSettings.pfa must be in (0, 0.5), got {self.pfa}")
        if self.min_pixels < 1:
            raise InputError(f"SegmentationSettings.min_pixels must be ≥ 1, got {self.min_pixels}")
        if min(self.smooth_px, self.along_px, self.merge_px, self.ime_dilation_px) < 0:
            raise InputError(
                "SegmentationSettings: smooth_px, along_px, merge_px and ime_dilation_px "
                "must be ≥ 0"
            )
        if not 0.0 < self.source_fraction <= 1.0:
            raise InputError(
                f"SegmentationSettings.source_fraction must be in (0, 1], "
                f"got {self.source_fraction}"
            )

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

    @property
    def n_pixels(self) -> int:
        """Number of pixels in the plume."""
        return int(self.rows.size)

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
            "n_pixels": self.n_pixels,
        }


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
    >>> z = np.array([[0.0, 10.0], [2.0, 14.0], [4.0, 18.0]])
    >>> column_normalised(z).round(2).tolist()
    [[-0.67, -0.67], [0.0, 0.0], [0.67, 0.67]]
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
        med[enough] = np.nanmedian(v[:, enough], axis=0)
        mad[enough] = _MAD_TO_SIGMA * np.nanmedian(np.abs(v[:, enough] - med[enough]), axis=0)
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
        Detector thresholds.

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
    s = settings or SegmentationSettings()
    cal = calibration or IMECalibration()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.asarray(score, dtype=np.float64) if score is not None else e / sd
    if z.shape != e.shape:
        raise InputError(f"score has shape {z.shape} but the map has {e.shape}")
    valid = np.isfinite(e) & np.isfinite(sd) & (sd > 0) & np.isfinite(z)
    if exclude is not None:
        valid &= ~np.asarray(exclude, dtype=bool)
    direction = None if wind is None else _grid_direction(grid, wind.downwind_unit)
    labels, n = cfar_mask(z, valid=valid, settings=s, direction=direction)
    if n == 0:
        return []
    kg_per_ppm_m = float(ppm_m_to_mass(1.0, molar_mass_kg_mol))
    usable = np.isfinite(e) & np.isfinite(sd)
    taken = labels > 0
    plumes = []
    for lab in range(1, n + 1):
        region = labels == lab
        plumes.append(
            _quantify(
                lab, region, taken, usable, e, sd, z, grid, species, kg_per_ppm_m, wind, cal, s
            )
        )
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
) -> Plume:
    rows, cols = np.nonzero(region)
    px = grid.x_m[rows, cols]
    py = grid.y_m[rows, cols]
    ev = e[rows, cols]
    weight = np.maximum(ev, 0.0) + 1e-9
    if wind is not None:
        axis = np.array(wind.downwind_unit)
        method: Literal["wind", "shape"] = "wind"
    else:
        axis = _principal_axis(px, py, weight)
        method = "shape"
    along = (px - px.mean()) * axis[0] + (py - py.mean()) * axis[1]
    span = float(along.max() - along.min())
    if wind is None and span > 0:
        # The source end is the denser one: flip the axis to point away from it.
        cut = s.source_fraction * span
        lo = ev[along <= along.min() + cut].mean()
        hi = ev[along >= along.max() - cut].mean()
        if hi > lo:
            axis, along = -axis, -along
    # The source is the upwind tip of the plume's surely-enhanced pixels (a round or
    # along-wind filter spreads the mask a little upwind of it): the most enhanced pixel
    # within a pixel and a half of the upwind-most significant one.
    zv = z[rows, cols]
    sure = zv >= min(float(np.nanmax(zv)), s.grow_z + 1.0)
    if not sure.any():
        sure = np.ones(zv.shape, dtype=bool)
    start = float(along[sure].min())
    pixel_m = grid.pixel_size_m
    head = sure & (along <= start + 1.5 * pixel_m)
    idx = np.flatnonzero(head)[int(np.argmax(ev[head]))]
    src = (int(rows[idx]), int(cols[idx]))
    sx, sy = grid.x_m[src], grid.y_m[src]
    pixel = pixel_m
    # IME over the plume grown to collect its faint edges, not into another plume.
    grown = region
    if s.ime_dilation_px:
        grown = ndimage.binary_dilation(region, _EIGHT, iterations=s.ime_dilation_px)
        grown &= ~(taken & ~region)
    grown &= usable
    area = grid.area_m2[grown]
    ime = float(np.sum(e[grown] * area)) * kg_per_ppm_m
    ime_sd = float(np.sqrt(np.sum((sd[grown] * area) ** 2))) * kg_per_ppm_m
    gr, gc = np.nonzero(grown)
    reach = (grid.x_m[gr, gc] - sx) * axis[0] + (grid.y_m[gr, gc] - sy) * axis[1]
    length = max(float(reach.max()) + 0.5 * pixel, pixel)
    z_ime = ime / ime_sd if ime_sd > 0 else 0.0
    score = z_ime**2 / (z_ime**2 + s.seed_z**2) if z_ime > 0 else 0.0
    rate = rate_sd = u_eff = None
    if wind is not None:
        u_eff = cal.effective_wind(wind.speed_m_s)
        q = u_eff * ime / length * 3600.0
        rel = ime_sd / abs(ime) if ime != 0 else 1.0
        rel_u = cal.alpha * wind.sigma_m_s / u_eff
        rel_l = 0.5 * pixel / length
        total = math.sqrt(rel**2 + rel_u**2 + cal.relative_sigma**2 + rel_l**2)
        rate, rate_sd = q, abs(q) * total
    r0, r1 = int(rows.min()), int(rows.max()) + 1
    c0, c1 = int(cols.min()), int(cols.max()) + 1
    bearing = math.degrees(math.atan2(axis[0], axis[1])) % 360.0
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
    )


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
    xi, xj = np.gradient(grid.x_m)
    yi, yj = np.gradient(grid.y_m)
    jac = np.array([[np.median(xi), np.median(xj)], [np.median(yi), np.median(yj)]])
    step = np.linalg.solve(jac, np.asarray(east_north, dtype=np.float64))
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
