"""Hot spots in LWIR cubes: a contextual thermal-anomaly test that tells fires from warm ground.

The test is the contextual active-fire algorithm of MODIS and VIIRS (Giglio et al. 2003,
Remote Sens. Environ. 87:273; Giglio et al. 2016, RSE 178:31; Schroeder et al. 2014, RSE
143:85) moved from its 4 µm / 11 µm pair to what an 8–12 µm imaging spectrometer has. It runs
on *surface* brightness temperatures: each band's radiance has the path radiance of the
packaged LOWTRAN7 atmosphere taken off and is divided by its transmittance (ε = 1), then
Planck is inverted and the median over the bands of a range is kept (so a few bands touched by
a gas plume do not move it). Three ranges are used:

* **Window** ``T_w`` (10.8–11.2 µm, clean of ozone and of the strongest solvent and ammonia
  features): a pixel is *hot* when ``T_w`` exceeds the mean of its local background by
  ``max(n_t σ_t, ΔT_min)`` (Giglio's relative test with an absolute floor), or by ``ΔT_abs``
  whatever the background (Giglio's absolute test).
* **Split** ``d = T_s − T_l`` between a short range (8.4–8.8 µm) and a long one (11.4–11.9
  µm) plays the part of Giglio's ``T_4 − T_11``: a hot pixel is a *fire* when ``d`` exceeds
  its background mean by ``max(n_d σ_d, Δd_min)`` and by ``r_min`` times the pixel's own
  long-band excess ``ΔT_l``.

Why the split tells a fire from sun-warmed rock: Planck radiance is convex in temperature, and
more so at short wavelengths. A source of a few m² at 500–1200 K filling 1 % of a pixel adds
to the 8.6 µm radiance 1.3–1.9 times what it adds at 11.6 µm, in units of each band's radiance
per kelvin (``[B(λ, T_h) − B(λ, T_b)] / ∂B/∂T(λ, T_b)``); a whole pixel a few kelvin warmer
adds the same to both (ratio 1). So a fire raises ``T_s`` well above ``T_l`` and a warm roof,
road or bare slope raises both alike: surface brightness temperature is spectrally flat for a
grey body. The ratio test (``Δd > r_min ΔT_l``, r_min = 0.15, met by sources hotter than about
420 K) keeps it so when the atmosphere is known only roughly: a 5 % error in the band
transmittance ratio shifts ``Δd`` by 5 % of ``ΔT_l``. Emissivity works the other way where it
matters: quartz soils and concrete have a reststrahlen *dip* at 8–9.5 µm that lowers ``T_s``,
so warm sand reads as less fire-like, not more.

**Background.** Windows of 7 × 7 to 21 × 21 pixels grow until at least 25 % and 8 of their
pixels are valid background (Giglio et al. 2003, §2.2.5), leaving out a 3 × 3 guard around the
pixel and the pixels a first pass flagged (dilated by one pixel); mean and standard deviation
are taken over what is left (the standard deviation rather than Giglio's mean absolute
deviation, so that the statistics are box filters over the whole image).

**Radiative power.** The sub-pixel hot-fraction model (Dozier 1981, Remote Sens. Environ.
11:221) on the object's surface excess radiance over its background: the short/long ratio
gives the hot temperature ``T_h``, the window excess then gives the hot area ``f A``, and the
power is what the source radiates above its background, ``σ f A (T_h⁴ − T_b⁴)``
(:func:`vigia.sense.thermal.radiative_power` with ``ambient_k = T_b``). Without a
mid-infrared band the ratio is flatter than Dozier's 4/11 µm one, so ``T_h`` and ``f`` trade
against each other for small sources; their power is steadier (measured within about ±30 %
on simulated sources, see ``bench/heat_camouflage.py``). When the excess is spectrally flat
(a warm surface) the fit falls back to whole pixels a few kelvin warmer.

Temperatures and ΔT reported here are surface brightness temperatures (ε = 1): an emissivity
ε < 1 lowers them by about ``(1 − ε) λT² / c₂`` less the reflected sky, at 300 K ≈ 0.5 K per
1 % at 8.6 µm and 0.7 K at 11.6 µm, so a grey body's split is a few tenths of a kelvin
(measured on noon scenes: within ±0.8 K, 1st–99th percentile, for every land-cover class but
roofs), under the split test's 1.5 K floor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from scipy import ndimage
from scipy.optimize import brentq

from vigia.errors import InputError, UnknownNameError
from vigia.sense.atmosphere import LwirAtmosphere, LwirProfile, lwir_atmosphere
from vigia.sense.cube import LWIR_UNITS, radiance_factor
from vigia.sense.thermal import brightness_temperature, planck_radiance, radiative_power

__all__ = [
    "HeatParams",
    "HeatResult",
    "HotObject",
    "detect_heat",
    "estimate_sensor_altitude_m",
    "heat_anomalies",
    "pixel_area_m2",
]

Label = Literal["fire", "warm_surface"]
Float64 = NDArray[np.float64]

#: Height assumed when a cube gives no way to estimate it: the MQ-9 profile's survey altitude.
DEFAULT_ALTITUDE_M: Final = 6000.0
_TABLE_ALTITUDE_M: Final = (2000.0, 8000.0)  # range of the packaged atmosphere tables
_TABLE_ELEVATION_M: Final = (0.0, 2000.0)
_EARTH_RADIUS_M: Final = 6_371_008.8  # mean radius (IUGG)
_T_HOT_MAX_K: Final = 2500.0  # upper bound of the hot-fraction fit


@dataclass(frozen=True)
class HeatParams:
    """Bands and thresholds of the contextual test.

    Attributes
    ----------
    window_nm, short_nm, long_nm : tuple of float
        Wavelength ranges, nm, of the window band (hot-pixel test) and of the short and long
        bands of the split difference (fire test).
    sizes_px : tuple of int
        Odd background window sizes tried in turn, pixels.
    guard_px : int
        Odd size of the guard window left out of the background, pixels.
    min_valid_fraction, min_valid : float, int
        A window is used when at least this share of its non-guard pixels, and this many,
        are valid background (Giglio et al. 2003 use 25 % and 8).
    n_sigma_t, dt_min_k : float
        Hot-pixel test: ``ΔT_w > max(n_sigma_t σ, dt_min_k)``, surface K. 3σ is Giglio's
        factor for the window test; 3 K is over ten times the noise of a median of HyTES-class
        bands (NEDT 0.2 K each, ≈ 0.4 K at the surface through τ ≈ 0.5) and about what a
        dark roof or bare patch gains over vegetation in an hour of sun.
    dt_absolute_k : float
        A pixel this much warmer than its background is hot whatever the background's spread.
    n_sigma_d, dd_min_k : float
        Fire test: ``Δd > max(n_sigma_d σ_d, dd_min_k)``, surface K; 3.5σ is Giglio's factor for
        the split test, and 1.5 K about what a 3 % emissivity difference between the two
        ranges gives at 300 K (grey surfaces stay well within it; the quartz and carbonate
        features that exceed it lower ``T_s``).
    split_ratio_min : float
        Fire test, relative part: ``Δd > split_ratio_min × ΔT_l``. A grey surface gives 0; a
        source at 420 K about 0.15, at 600 K 0.5, at 1000 K 0.8 (Planck).
    dd_absolute_k : float
        Fire test, absolute part: the pixel's own split minus the scene median must exceed
        this, K. A grey body's is zero (± 0.3 K of noise after the median of ~25 bands), so a
        warm road beside concrete (whose quartz and carbonate dip lowers the background's
        split) does not pass for a fire.
    profile : {"tropical", "midlatitude_summer"}
        LOWTRAN7 model atmosphere used to reach the surface.
    sensor_altitude_m : float or None
        Height of the sensor above ground, m; None estimates it from the cube
        (:func:`estimate_sensor_altitude_m`), or takes 6 km when it cannot.
    """

    window_nm: tuple[float, float] = (10_800.0, 11_200.0)
    short_nm: tuple[float, float] = (8_400.0, 8_800.0)
    long_nm: tuple[float, float] = (11_400.0, 11_900.0)
    sizes_px: tuple[int, ...] = (7, 11, 15, 21)
    guard_px: int = 3
    min_valid_fraction: float = 0.25
    min_valid: int = 8
    n_sigma_t: float = 3.0
    dt_min_k: float = 3.0
    dt_absolute_k: float = 40.0
    n_sigma_d: float = 3.5
    dd_min_k: float = 1.5
    split_ratio_min: float = 0.15
    dd_absolute_k: float = 1.0
    profile: LwirProfile = "tropical"
    sensor_altitude_m: float | None = None

    def __post_init__(self) -> None:
        for name in ("window_nm", "short_nm", "long_nm"):
            lo, hi = getattr(self, name)
            if not 0.0 < lo < hi:
                raise InputError(f"HeatParams.{name} must be (low, high) nm with 0 < low < high")
        sizes = (*self.sizes_px, self.guard_px)
        if any(s < 1 or s % 2 == 0 for s in sizes) or min(self.sizes_px) <= self.guard_px:
            raise InputError(
                "HeatParams.sizes_px and guard_px must be odd, and every window larger than the "
                f"guard; got sizes {self.sizes_px}, guard {self.guard_px}"
            )
        for name in ("n_sigma_t", "dt_min_k", "dt_absolute_k", "n_sigma_d", "dd_min_k"):
            if not getattr(self, name) > 0:
                raise InputError(f"HeatParams.{name} must be > 0")
        if self.split_ratio_min < 0:
            raise InputError("HeatParams.split_ratio_min must be ≥ 0")


@dataclass(frozen=True)
class HotObject:
    """One connected group of hot pixels.

    Attributes
    ----------
    rows, cols : (n,) ndarray of int64
        Pixel indices (downtrack, crosstrack) of the object.
    peak : tuple of int
        (row, col) of its largest ΔT.
    lon, lat : float
        Location of the peak pixel, degrees WGS84 (NaN if the cube has none).
    delta_t_k : float
        Peak window brightness temperature above the local background at the sensor, K.
    spectral_contrast_k : float
        The discriminant: ``Δd = (T_s − T_l) − background mean``, K, at the object's most
        fire-like pixel.
    spectral_threshold_k : float
        The value ``spectral_contrast_k`` had to exceed for the object to be a fire, K.
    label : {"fire", "warm_surface"}
        ``fire``: a small source far hotter than its surroundings (fire, kiln, stove, burner).
        ``warm_surface``: a warm area whose excess is spectrally flat (sun-warmed soil, road,
        roof).
    score : float
        0–1, higher is surer that this is a fire; 0.5 on the fire test's threshold.
    power_w : float
        Radiated power above the background, W (hot-fraction model).
    hot_temperature_k : float
        Temperature of the hot part from the hot-fraction fit, K.
    hot_area_m2 : float
        Area of the hot part from the same fit, m².
    background_temperature_k : float
        Surface temperature of the background (window band, atmosphere removed, ε = 1), K.
    area_m2 : float
        Area of the object's pixels, m².
    reason : str
        Why it got its label, in words.
    """

    rows: NDArray[np.int64]
    cols: NDArray[np.int64]
    peak: tuple[int, int]
    lon: float
    lat: float
    delta_t_k: float
    spectral_contrast_k: float
    spectral_threshold_k: float
    label: Label
    score: float
    power_w: float
    hot_temperature_k: float
    hot_area_m2: float
    background_temperature_k: float
    area_m2: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the object as plain JSON-ready values (pixel indices as lists)."""
        return {
            "rows": self.rows.tolist(),
            "cols": self.cols.tolist(),
            "peak": list(self.peak),
            "lon": _json_float(self.lon),
            "lat": _json_float(self.lat),
            "delta_t_k": round(self.delta_t_k, 3),
            "spectral_contrast_k": round(self.spectral_contrast_k, 3),
            "spectral_threshold_k": round(self.spectral_threshold_k, 3),
            "label": self.label,
            "score": round(self.score, 4),
            "power_w": round(self.power_w, 1),
            "hot_temperature_k": round(self.hot_temperature_k, 1),
            "hot_area_m2": round(self.hot_area_m2, 3),
            "background_temperature_k": round(self.background_temperature_k, 2),
            "area_m2": round(self.area_m2, 1),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class HeatResult:
    """What the heat detector found in one line.

    Attributes
    ----------
    score : (downtrack, crosstrack) ndarray of float32
        0–1 per pixel, higher is surer of a hot source; 0.5 where a pixel passes both tests
        by nothing; NaN where the radiance is bad or no background could be formed.
    delta_t_k : (downtrack, crosstrack) ndarray of float32
        Window brightness temperature minus its local background mean, K, at the sensor.
    spectral_contrast_k : (downtrack, crosstrack) ndarray of float32
        Split difference ``T_s − T_l`` minus its local background mean, K (the discriminant).
    brightness_temperature_k : (downtrack, crosstrack) ndarray of float32
        Window brightness temperature, K.
    objects : list of HotObject
        Hot objects, most fire-like first.
    bands_nm : dict of str to tuple of float
        The ranges actually used (``window``, ``short``, ``long``): first and last good band.
    sensor_altitude_m : float
        Height used for the atmosphere of the power estimate, m.
    """

    score: NDArray[np.float32]
    delta_t_k: NDArray[np.float32]
    spectral_contrast_k: NDArray[np.float32]
    brightness_temperature_k: NDArray[np.float32]
    objects: list[HotObject]
    bands_nm: dict[str, tuple[float, float]] = field(default_factory=dict)
    sensor_altitude_m: float = DEFAULT_ALTITUDE_M

    @property
    def fires(self) -> list[HotObject]:
        """The objects labelled ``fire``."""
        return [o for o in self.objects if o.label == "fire"]


def _json_float(x: float) -> float | None:
    return None if not math.isfinite(x) else round(x, 7)


# ----------------------------------------------------------------------------- geometry


def pixel_area_m2(lat: NDArray[np.floating[Any]], lon: NDArray[np.floating[Any]]) -> Float64:
    """Ground area of each pixel from the cube's pixel-centre coordinates.

    The area is the absolute determinant of the local Jacobian of (east, north) metres with
    respect to (row, column), from centred differences of lat/lon on a spherical Earth (mean
    radius), which is within 0.5 % of the ellipsoid at these scales.

    Parameters
    ----------
    lat, lon : (downtrack, crosstrack) ndarray
        Pixel-centre latitude and longitude, degrees WGS84.

    Returns
    -------
    (downtrack, crosstrack) ndarray of float64
        Pixel area, m². Pixels whose neighbours have no location get the median of the others;
        all NaN when the cube has no usable location (fewer than 2 × 2 pixels or no finite
        coordinates).

    Examples
    --------
    >>> import numpy as np
    >>> rows, cols = np.mgrid[0:3, 0:3].astype(float)
    >>> lat = 25.0 + rows * 6.0 / 111_195.0
    >>> lon = -107.0 + cols * 6.0 / (111_195.0 * np.cos(np.radians(25.0)))
    >>> round(float(pixel_area_m2(lat, lon)[1, 1]), 1)
    36.0
    """
    la = np.asarray(lat, dtype=np.float64)
    lo = np.asarray(lon, dtype=np.float64)
    if la.ndim != 2 or la.shape != lo.shape or min(la.shape) < 2:
        return np.full(la.shape if la.ndim == 2 else (0, 0), np.nan)
    k = math.pi / 180.0 * _EARTH_RADIUS_M
    north = la * k
    east = lo * k * np.cos(np.radians(la))
    n_r, n_c = np.gradient(north)
    e_r, e_c = np.gradient(east)
    area = np.abs(e_r * n_c - e_c * n_r)
    ok = np.isfinite(area) & (area > 0)
    if not ok.any():
        return np.full(la.shape, np.nan)
    return np.where(ok, area, float(np.median(area[ok])))


def estimate_sensor_altitude_m(cube: xr.Dataset) -> float | None:
    """Estimate the sensor's height above ground from a cube's pixel spacing.

    Navigation data are the proper source; cubes in the EMIT layout do not carry them, so the
    height is the cross-track ground sample distance at the middle column divided by the
    instrument's IFOV, when the cube's ``platform`` attribute names a packaged platform with a
    sensor of the cube's kind (:func:`vigia.platform.load_platform`). An attribute
    ``sensor_altitude_m`` on the cube, if present, wins.

    Parameters
    ----------
    cube : xarray.Dataset
        A radiance cube (see :mod:`vigia.sense.cube`).

    Returns
    -------
    float or None
        Height above ground, m, or None when it cannot be estimated.
    """
    given = cube.attrs.get("sensor_altitude_m")
    if given is not None:
        try:
            value = float(given)
        except (TypeError, ValueError):
            value = math.nan
        if math.isfinite(value) and value > 0:
            return value
    from vigia.platform import load_platform  # platform profiles are only needed here

    try:
        platform = load_platform(str(cube.attrs.get("platform", "")))
    except (UnknownNameError, KeyError):
        return None
    kinds = [platform.sensor(n) for n in platform.sensor_names]
    sensors = [s for s in kinds if s.kind == cube.attrs.get("sensor")]
    if len(sensors) != 1 or "lat" not in cube.variables:
        return None
    lat = np.asarray(cube["lat"].values, dtype=np.float64)
    lon = np.asarray(cube["lon"].values, dtype=np.float64)
    if lat.ndim != 2 or lat.shape[1] < 2:
        return None
    c = lat.shape[1] // 2
    k = math.pi / 180.0 * _EARTH_RADIUS_M
    dn = (lat[:, c] - lat[:, c - 1]) * k
    de = (lon[:, c] - lon[:, c - 1]) * k * np.cos(np.radians(lat[:, c]))
    step = np.hypot(dn, de)
    step = step[np.isfinite(step) & (step > 0)]
    if step.size == 0:
        return None
    return float(np.median(step)) / (sensors[0].ifov_mrad * 1e-3)


# ---------------------------------------------------------------------------- composites


def _nan_median(x: Float64) -> Float64:
    """Median over the last axis ignoring NaN; NaN where all are (no RuntimeWarning)."""
    s = np.sort(x, axis=-1)  # NaN sorts last
    n = np.isfinite(s).sum(axis=-1)
    lo = np.clip((n - 1) // 2, 0, None)[..., None]
    hi = np.clip(n // 2, 0, None)[..., None]
    med = 0.5 * (np.take_along_axis(s, lo, -1) + np.take_along_axis(s, hi, -1))[..., 0]
    return np.where(n > 0, med, np.nan)


def _window_bands(
    wavelengths: Float64,
    good: NDArray[np.bool_],
    window: tuple[float, float],
    what: str,
    where: str,
) -> NDArray[np.int64]:
    idx = np.flatnonzero(good & (wavelengths >= window[0]) & (wavelengths <= window[1]))
    if idx.size == 0:
        usable = wavelengths[good]
        span = (
            f"{usable.min():.0f}–{usable.max():.0f} nm" if usable.size else "no usable band at all"
        )
        raise InputError(
            f"{where}: heat detection needs good bands in its {what} range "
            f"{window[0]:.0f}–{window[1]:.0f} nm; the cube's usable bands span {span}"
        )
    return idx


def _surface_bt(
    radiance: NDArray[np.floating[Any]], wavelengths: Float64, tau: Float64, path: Float64
) -> Float64:
    """Median over bands of the surface brightness temperature, K; NaN where none is valid.

    ``L_surface = (L − L_path) / τ`` (ε = 1, reflected sky neglected), per band, then Planck
    inverted: a blackbody's surface brightness temperature is the same in every band, so the
    split between two bands no longer carries the atmosphere's spectral gain.
    """
    rad = np.asarray(radiance, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        surf = (rad - path) / np.where(tau > 0, tau, np.nan)
    ok = np.isfinite(surf) & (surf > 0)
    bt = np.full(rad.shape, np.nan)
    if ok.any():
        wl = np.broadcast_to(wavelengths, rad.shape)
        bt[ok] = brightness_temperature(wl[ok], surf[ok])
    return _nan_median(bt)


# ------------------------------------------------------------------------- background


def _box(x: Float64, size: int) -> Float64:
    """Sum of x over a size × size box centred on each pixel (zero outside the image)."""
    out: Float64 = ndimage.uniform_filter(x, size=size, mode="constant", cval=0.0)
    return out * float(size * size)


@dataclass(frozen=True)
class _Background:
    mean: dict[str, Float64]
    std: dict[str, Float64]
    n: Float64


def _background(
    fields: dict[str, Float64], use: NDArray[np.bool_], params: HeatParams
) -> _Background:
    """Mean and standard deviation of each field over each pixel's background annulus."""
    w = use.astype(np.float64)
    g = params.guard_px
    n_guard = _box(w, g)
    offsets = {k: float(np.median(v[use])) if use.any() else 0.0 for k, v in fields.items()}
    sums = {k: _box(np.where(use, v - offsets[k], 0.0), g) for k, v in fields.items()}
    sqs = {k: _box(np.where(use, (v - offsets[k]) ** 2, 0.0), g) for k, v in fields.items()}
    shape = use.shape
    chosen = np.zeros(shape, dtype=bool)
    n_out = np.full(shape, np.nan)
    s1 = {k: np.full(shape, np.nan) for k in fields}
    s2 = {k: np.full(shape, np.nan) for k in fields}
    for size in params.sizes_px:
        n = _box(w, size) - n_guard
        need = max(float(params.min_valid), params.min_valid_fraction * (size * size - g * g))
        take = ~chosen & (n >= need - 1e-9)
        if not take.any():
            continue
        n_out[take] = n[take]
        for k, v in fields.items():
            vk = np.where(use, v - offsets[k], 0.0)
            a = _box(vk, size) - sums[k]
            b = _box(vk**2, size) - sqs[k]
            s1[k][take] = a[take]
            s2[k][take] = b[take]
        chosen |= take
    mean = {k: s1[k] / n_out + offsets[k] for k in fields}
    std = {k: np.sqrt(np.maximum(s2[k] / n_out - (s1[k] / n_out) ** 2, 0.0)) for k in fields}
    return _Background(mean, std, n_out)


# ------------------------------------------------------------------------- hot fraction


def _fit_hot_fraction(
    excess: dict[str, float],
    centres: dict[str, float],
    t_background: float,
    n_pixels: int,
) -> tuple[float, float]:
    """Dozier's (1981) two-band model on surface excess radiance: (T_hot K, hot fraction)."""
    s, lw, w = excess["short"], excess["long"], excess["window"]
    if w <= 0.0:
        return t_background, 0.0

    def planck(band: str, t: float) -> float:
        return float(planck_radiance(centres[band], t))

    def ratio(t: float) -> float:
        return (planck("short", t) - planck("short", t_background)) / (
            planck("long", t) - planck("long", t_background)
        )

    def warm() -> tuple[float, float]:
        # Whole pixels a little warmer: the window excess shared over the object.
        target = planck("window", t_background) + w / n_pixels
        t = float(brightness_temperature(centres["window"], target))
        return t, float(n_pixels)

    t_lo = t_background + 0.5
    if lw <= 0.0 or s <= 0.0 or s / lw <= ratio(t_lo):
        return warm()
    r = s / lw
    t_hot = (
        _T_HOT_MAX_K
        if r >= ratio(_T_HOT_MAX_K)
        else brentq(lambda t: ratio(t) - r, t_lo, _T_HOT_MAX_K)
    )
    f = w / (planck("window", t_hot) - planck("window", t_background))
    if f > n_pixels:
        return warm()
    return float(t_hot), float(f)


# ---------------------------------------------------------------------------- detector


def _logistic(m: Float64) -> Float64:
    out: Float64 = 0.5 * (1.0 + np.tanh(m))  # = 1 / (1 + exp(-2 m)), no overflow
    return out


def heat_anomalies(
    radiance: NDArray[np.floating[Any]],
    wavelengths_nm: NDArray[np.floating[Any]],
    *,
    fwhm_nm: NDArray[np.floating[Any]] | None = None,
    good_bands: NDArray[np.bool_] | None = None,
    pixel_area: NDArray[np.floating[Any]] | float,
    lat: NDArray[np.floating[Any]] | None = None,
    lon: NDArray[np.floating[Any]] | None = None,
    sensor_altitude_m: float = DEFAULT_ALTITUDE_M,
    ground_elevation_m: float = 0.0,
    atmosphere: LwirAtmosphere | None = None,
    params: HeatParams | None = None,
    where: str = "<arrays>",
) -> HeatResult:
    """Run the contextual thermal-anomaly test on an LWIR radiance array.

    Parameters
    ----------
    radiance : (downtrack, crosstrack, bands) array
        At-sensor spectral radiance, W m⁻² sr⁻¹ µm⁻¹; NaN (or ≤ 0) marks bad values. Only
        the bands in the three ranges of ``params`` are read, so a lazily indexed array works.
    wavelengths_nm : (bands,) array
        Band centres, nm.
    fwhm_nm : (bands,) array, optional
        Band widths, nm (for the atmosphere of the power estimate; 17.6 nm if not given).
    good_bands : (bands,) bool array, optional
        Usable bands (all if not given).
    pixel_area : (downtrack, crosstrack) array or float
        Ground area of each pixel, m² (see :func:`pixel_area_m2`).
    lat, lon : (downtrack, crosstrack) array, optional
        Pixel-centre coordinates, degrees, copied into the objects.
    sensor_altitude_m : float
        Height of the sensor above ground, m (clamped to the atmosphere table's 2–8 km).
    ground_elevation_m : float
        Ground height above sea level, m (clamped to 0–2 km).
    atmosphere : LwirAtmosphere, optional
        Transmittance and path radiance per band of ``wavelengths_nm`` to reach the surface
        with; by default the packaged LOWTRAN7 table at ``sensor_altitude_m`` and
        ``ground_elevation_m`` (``params.profile``).
    params : HeatParams, optional
        Bands and thresholds; the defaults are documented on :class:`HeatParams`.
    where : str
        Name of the input for error messages (file or line id).

    Returns
    -------
    HeatResult
        Score, ΔT and discriminant maps and the hot objects, most fire-like first.

    Raises
    ------
    InputError
        If the array is not 3-D, the band axis does not match the wavelengths, a needed band
        range has no good band, or no pixel has valid radiance in all three ranges.

    Examples
    --------
    A uniform 300 K blackbody scene seen through no atmosphere, with 2 % of one pixel at 900 K:

    >>> import numpy as np
    >>> from vigia.sense.atmosphere import LwirAtmosphere
    >>> from vigia.sense.thermal import planck_radiance
    >>> wl = np.arange(8000.0, 12000.0, 50.0)
    >>> clear = LwirAtmosphere(wl, np.full(wl.size, 50.0), 0.0, 0.0, "tropical",
    ...     np.ones(wl.size), np.zeros(wl.size), np.zeros(wl.size))
    >>> L = planck_radiance(wl, np.full((30, 30), 300.0))
    >>> L[15, 15] = 0.98 * L[15, 15] + 0.02 * planck_radiance(wl, 900.0)
    >>> r = heat_anomalies(L, wl, pixel_area=100.0, atmosphere=clear)
    >>> [(o.peak, o.label, round(o.hot_temperature_k)) for o in r.objects]
    [((15, 15), 'fire', 900)]
    """
    p = params or HeatParams()
    wl = np.asarray(wavelengths_nm, dtype=np.float64).ravel()
    shape = tuple(int(n) for n in np.shape(radiance))
    if len(shape) != 3:
        raise InputError(f"{where}: radiance must be (downtrack, crosstrack, bands), got {shape}")
    if shape[2] != wl.size:
        raise InputError(
            f"{where}: radiance has {shape[2]} bands but there are {wl.size} wavelengths"
        )
    good = np.ones(wl.size, dtype=bool) if good_bands is None else np.asarray(good_bands) > 0
    fw = (
        np.full(wl.size, 17.6)
        if fwhm_nm is None
        else np.where(np.isfinite(np.asarray(fwhm_nm, dtype=np.float64)), fwhm_nm, 17.6)
    )
    windows = {"window": p.window_nm, "short": p.short_nm, "long": p.long_nm}
    idx = {k: _window_bands(wl, good, v, k, where) for k, v in windows.items()}
    h = float(np.clip(sensor_altitude_m, *_TABLE_ALTITUDE_M))
    z = float(np.clip(ground_elevation_m, *_TABLE_ELEVATION_M))
    if atmosphere is not None and atmosphere.transmittance.shape != wl.shape:
        raise InputError(
            f"{where}: the atmosphere has {atmosphere.transmittance.size} bands, the radiance "
            f"{wl.size}"
        )
    bt: dict[str, Float64] = {}
    for k, i in idx.items():
        if atmosphere is None:
            atm = lwir_atmosphere(
                wl[i], fw[i], sensor_altitude_m=h, ground_elevation_m=z, profile=p.profile
            )
            tau, path = atm.transmittance, atm.path_radiance
        else:
            tau, path = atmosphere.transmittance[i], atmosphere.path_radiance[i]
        bt[k] = _surface_bt(np.asarray(radiance[:, :, i]), wl[i], tau, path)
    valid = np.isfinite(bt["window"]) & np.isfinite(bt["short"]) & np.isfinite(bt["long"])
    if not valid.any():
        raise InputError(
            f"{where}: no pixel has valid radiance in all of the window, short and long bands "
            "(all NaN or ≤ 0)"
        )
    split = bt["short"] - bt["long"]
    fields = {"window": bt["window"], "short": bt["short"], "long": bt["long"], "split": split}

    # A grey body's surface split is zero; the scene median takes out what the atmosphere
    # model leaves.
    zero = float(np.median(split[valid]))
    # Pass 1: every valid pixel is background; flag the clear anomalies (and their neighbours).
    m = _margins(fields, _background(fields, valid, p), p, zero)
    with np.errstate(invalid="ignore"):
        flagged = (m.m_t > 0) | (m.m_d > 0)
    exclude = ndimage.binary_dilation(flagged, structure=np.ones((3, 3), dtype=bool))
    # Pass 2: the background without them.
    bg = _background(fields, valid & ~exclude, p)
    m = _margins(fields, bg, p, zero)
    with np.errstate(invalid="ignore"):
        hot = valid & (m.m_t > 0)
        fire_px = hot & (m.fire() > 0)
        # The score is 0.5 where the weakest of the four tests is just met.
        margin = np.minimum(m.m_t, m.fire())
    score = np.where(valid & np.isfinite(margin), _logistic(margin), np.nan)
    score = np.where(valid & (margin == np.inf), 1.0, score)

    area = np.broadcast_to(np.asarray(pixel_area, dtype=np.float64), valid.shape)
    centres = {k: float(np.mean(wl[i])) for k, i in idx.items()}
    objects = _objects(hot, fire_px, score, m, fields, bg, centres, area, lat, lon)
    bands_used = {k: (float(wl[i].min()), float(wl[i].max())) for k, i in idx.items()}
    return HeatResult(
        score=score.astype(np.float32),
        delta_t_k=np.where(valid, m.dt, np.nan).astype(np.float32),
        spectral_contrast_k=np.where(valid, m.dd, np.nan).astype(np.float32),
        brightness_temperature_k=bt["window"].astype(np.float32),
        objects=objects,
        bands_nm=bands_used,
        sensor_altitude_m=h if atmosphere is None else atmosphere.sensor_altitude_m,
    )


@dataclass(frozen=True)
class _Margins:
    dt: Float64  # window ΔT, K
    dd: Float64  # split contrast Δd, K
    threshold_d: Float64  # what Δd must exceed, K
    m_t: Float64  # margins in units of each test's scale; > 0 passes
    m_d: Float64
    m_r: Float64
    m_a: Float64

    def fire(self) -> Float64:
        """Return the weakest of the three split margins."""
        out: Float64 = np.minimum(np.minimum(self.m_d, self.m_r), self.m_a)
        return out


def _margins(fields: dict[str, Float64], bg: _Background, p: HeatParams, zero: float) -> _Margins:
    with np.errstate(invalid="ignore"):
        dt = fields["window"] - bg.mean["window"]
        dd = fields["split"] - bg.mean["split"]
        dl = np.maximum(fields["long"] - bg.mean["long"], 0.0)
        sigma_t = np.maximum(bg.std["window"], p.dt_min_k / p.n_sigma_t)
        sigma_d = np.maximum(bg.std["split"], p.dd_min_k / p.n_sigma_d)
        m_t = np.where(dt > p.dt_absolute_k, np.inf, dt / sigma_t - p.n_sigma_t)
        m_d = dd / sigma_d - p.n_sigma_d
        m_r = (dd - p.split_ratio_min * dl) / sigma_d
        m_a = (fields["split"] - zero - p.dd_absolute_k) / sigma_d
    thr = np.maximum(p.n_sigma_d * sigma_d, p.split_ratio_min * dl)
    return _Margins(dt, dd, thr, m_t, m_d, m_r, m_a)


def _objects(
    hot: NDArray[np.bool_],
    fire_px: NDArray[np.bool_],
    score: Float64,
    m: _Margins,
    fields: dict[str, Float64],
    bg: _Background,
    centres: dict[str, float],
    area: NDArray[np.float64],
    lat: NDArray[np.floating[Any]] | None,
    lon: NDArray[np.floating[Any]] | None,
) -> list[HotObject]:
    dt, dd = m.dt, m.dd
    labels, _ = ndimage.label(hot, structure=np.ones((3, 3), dtype=bool))
    out: list[HotObject] = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        sub = labels[sl] == k
        rr, cc = np.nonzero(sub)
        rows = (rr + sl[0].start).astype(np.int64)
        cols = (cc + sl[1].start).astype(np.int64)
        peak_i = int(np.argmax(dt[rows, cols]))
        peak = (int(rows[peak_i]), int(cols[peak_i]))
        best_i = int(np.nanargmax(np.where(np.isfinite(score[rows, cols]), score[rows, cols], -1)))
        best = (int(rows[best_i]), int(cols[best_i]))
        is_fire = bool(fire_px[rows, cols].any())
        obj_score = float(np.nan_to_num(score[best], nan=0.0))
        # Surface-leaving excess radiance of the object in each band, over its background.
        excess = {}
        for band in ("window", "short", "long"):
            lt = planck_radiance(centres[band], fields[band][rows, cols])
            lb = planck_radiance(centres[band], bg.mean[band][rows, cols])
            excess[band] = float(np.nansum(lt - lb))
        t_bg = float(bg.mean["window"][peak])
        t_hot, frac = _fit_hot_fraction(excess, centres, t_bg, rows.size)
        a_pix = float(np.mean(area[rows, cols]))
        hot_area = frac * a_pix
        power = (
            float(radiative_power(t_hot, hot_area, ambient_k=t_bg))
            if hot_area > 0 and t_hot > t_bg
            else 0.0
        )
        contrast, threshold = float(dd[best]), float(m.threshold_d[best])
        if is_fire:
            reason = (
                f"T(8.6 µm) − T(11.6 µm) exceeds its background by {contrast:.1f} K "
                f"(threshold {threshold:.1f} K): the excess is much larger at the short "
                "wavelength, as Planck's law gives for a small source far hotter than its "
                f"surroundings (hot-fraction fit: {hot_area:.2g} m² at {t_hot:.0f} K)"
            )
        else:
            reason = (
                f"{float(dt[peak]):.1f} K warmer than its background but spectrally flat "
                f"(split contrast {contrast:+.1f} K, fire threshold {threshold:.1f} K): "
                "a warm surface such as sun-heated soil, rock, road or roof"
            )
        out.append(
            HotObject(
                rows=rows,
                cols=cols,
                peak=peak,
                lon=float(lon[peak]) if lon is not None else math.nan,
                lat=float(lat[peak]) if lat is not None else math.nan,
                delta_t_k=float(dt[peak]),
                spectral_contrast_k=contrast,
                spectral_threshold_k=threshold,
                label="fire" if is_fire else "warm_surface",
                score=obj_score,
                power_w=power,
                hot_temperature_k=t_hot,
                hot_area_m2=hot_area,
                background_temperature_k=t_bg,
                area_m2=float(np.sum(area[rows, cols])),
                reason=reason,
            )
        )
    out.sort(key=lambda o: (o.label != "fire", -o.score, -o.delta_t_k))
    return out


def detect_heat(cube: xr.Dataset, *, params: HeatParams | None = None) -> HeatResult:
    """Find hot spots in an LWIR radiance cube and tell fires from warm surfaces.

    Parameters
    ----------
    cube : xarray.Dataset
        An LWIR cube in the EMIT L1B layout (:mod:`vigia.sense.cube`): ``radiance
        (downtrack, crosstrack, bands)`` with a ``units`` attribute, ``wavelengths``,
        ``fwhm``, ``good_wavelengths``, ``lat``, ``lon``; attribute ``sensor == "lwir"``.
        Only the bands of the three ranges are read (a Dask-backed cube stays lazy for the
        rest).
    params : HeatParams, optional
        Bands and thresholds (defaults documented on :class:`HeatParams`).

    Returns
    -------
    HeatResult
        Score, ΔT and discriminant maps and the hot objects.

    Raises
    ------
    InputError
        If the cube is not an LWIR cube, its radiance units are unknown, a needed band range
        has no good band, it has no lat/lon to measure its pixels, or its radiance is all NaN.
    """
    p = params or HeatParams()
    where = f"line {cube.attrs.get('flight_line_id', '?')}"
    sensor = cube.attrs.get("sensor")
    if sensor != "lwir":
        raise InputError(
            f"{where}: heat detection needs an LWIR (8–12 µm) cube; this one's sensor is {sensor!r}"
        )
    if "radiance" not in cube.variables or "wavelengths" not in cube.variables:
        raise InputError(f"{where}: the cube has no radiance or no wavelengths")
    units = str(cube["radiance"].attrs.get("units", ""))
    if not units:
        raise InputError(f"{where}: radiance has no 'units' attribute; units are never assumed")
    factor = radiance_factor(units, LWIR_UNITS)
    wl = np.asarray(cube["wavelengths"].values, dtype=np.float64)
    good = (
        np.asarray(cube["good_wavelengths"].values) > 0
        if "good_wavelengths" in cube.variables
        else np.ones(wl.size, dtype=bool)
    )
    fwhm = np.asarray(cube["fwhm"].values, dtype=np.float64) if "fwhm" in cube.variables else None
    if not good.any():
        raise InputError(f"{where}: the radiance has no usable band (all NaN or masked)")
    lat = _location(cube, "lat")
    lon = _location(cube, "lon")
    area = pixel_area_m2(lat, lon) if lat is not None and lon is not None else None
    if area is None or not np.isfinite(area).any():
        raise InputError(
            f"{where}: the cube has no usable lat/lon, so its pixel size (for areas and power) "
            "is unknown"
        )
    altitude = p.sensor_altitude_m or estimate_sensor_altitude_m(cube) or DEFAULT_ALTITUDE_M
    elev = _location(cube, "elev")
    ground = float(np.nanmedian(elev)) if elev is not None and np.isfinite(elev).any() else 0.0
    radiance = _LazyBands(cube["radiance"], factor)
    return heat_anomalies(
        radiance,  # type: ignore[arg-type]
        wl,
        fwhm_nm=fwhm,
        good_bands=good,
        pixel_area=area,
        lat=lat,
        lon=lon,
        sensor_altitude_m=altitude,
        ground_elevation_m=ground,
        params=p,
        where=where,
    )


def _location(cube: xr.Dataset, name: str) -> Float64 | None:
    if name not in cube.variables:
        return None
    return np.asarray(cube[name].values, dtype=np.float64)


class _LazyBands:
    """Read only the bands asked for from a (possibly Dask-backed) radiance DataArray."""

    def __init__(self, radiance: xr.DataArray, factor: float) -> None:
        self._radiance = radiance
        self._factor = factor
        self.shape = tuple(int(n) for n in radiance.shape)

    def __getitem__(self, key: tuple[slice, slice, Iterable[int]]) -> NDArray[np.float32]:
        rows, cols, bands = key
        sub = self._radiance.isel(
            downtrack=rows, crosstrack=cols, bands=np.asarray(list(bands), dtype=np.int64)
        )
        out = np.asarray(sub.values, dtype=np.float32)
        if self._factor != 1.0:
            out = out * np.float32(self._factor)
        return out
