"""Camouflage from VSWIR cubes: polyethylene tarps, and cut branches or clearings under canopy.

Both detectors work on surface reflectance, retrieved from radiance by inverting the
Lambertian radiance equation with the packaged 6S tables (:func:`atmospheric_correction`):
``L = L_path + A ρ / (1 − S ρ)`` with ``A = E0 cos θs T↓ T↑ / π``, solar zenith from the
line's time and place. That is what real pipelines do before matching library spectra
(e.g. ATREM/ISOFIT upstream of AVIRIS-NG and EMIT L2A).

**Tarps** (:func:`detect_tarps`). The adaptive coherence/cosine estimator (ACE; Kraut, Scharf &
McWhorter 2001, IEEE TSP 49:1; Manolakis & Shaw 2002, IEEE SPM 19:29) of each packaged tarp
spectrum (:func:`vigia.sense.library.tarp_spectra`, parametric: blue, green and black
polyethylene) against the line's background: per-column mean (each column of a pushbroom is its
own detector), one covariance shrunk towards its diagonal (OAS, Chen et al. 2010, IEEE TSP
58:5016), estimated twice, the second time without the pixels the first pass found. ACE is
computed twice per target:

* on the whole spectrum (10 nm bins, 400–2450 nm, water bands out): colour and brightness;
* on the C–H windows 1650–1780 and 2200–2420 nm, each minus its linear continuum: the
  polyethylene absorptions at 1.73 / 1.765 and 2.31 / 2.355 µm (Garaba & Dierssen 2018,
  RSE 205:224), the key evidence, which vegetation, soil and roofs do not have in that shape.

The pixel score is the geometric mean of the two (both must agree, for the same target), so a
blue roof with no C–H feature, or dry litter with a cellulose feature but the wrong colour and
shape, scores low. Objects grow from pixels scoring ≥ 0.3 into neighbours ≥ 0.15 (hysteresis);
their area is the sum of the matched-filter abundance × pixel area, so a 20 m² tarp in one 36 m²
pixel reads ~20 m²; objects outside 5–1,000 m² are set aside (a lab tarp is ~10–300 m², a hay
or greenhouse tarp up to ~800 m²; anything larger is a roof or a greenhouse, not camouflage).
Blue and green tarps score ~1 down to 10 m². Black tarps absorb through the SWIR: their carbon
black hides the C–H features and their dark, flat spectrum lies along the background's main
direction of variance (brightness), so they score 0.3–0.55 and are found about half the time
(``bench/heat_camouflage.py``); the dark clutter that resembles them (water, roof and road
mixtures) scores up to ~0.35.

**Cut branches and clearings** (:func:`detect_branches`). A lab in the hills clears a work area
(~12–60 m across) and heaps cut, drying branches (or a tarp) over its gear: a compact patch of
bare ground, with dry plant matter on it, enclosed by vegetation. Two indices carry it: NDVI
(green cover) and the cover index ``NDVI + 0.1 CAI``, where the Cellulose Absorption Index
``CAI = 100 [½ (R₂.₀₃ + R₂.₂₁) − R₂.₁₀]`` (Nagler et al. 2003, Remote Sens. Environ. 87:310;
reflectance averaged over 2000–2050, 2080–2130 and 2190–2240 nm) is positive for dry plant
matter (litter, cut branches: 1–7), near zero for green leaves and negative for soil: green and
dry cover both raise the cover index, only bare ground lowers it (the NDVI–CAI plane of
Guerschman et al. 2009, RSE 113:928), so a clearing in dry grass shows too. The test, at every
pixel and for disc radii 6–30 m (FFT convolutions), is the *enclosed contrast*: the mean of
the least covered of 12 sectors of a ring 6–24 m outside the disc minus the disc's mean, so a
road, a stream bed or a bay of a larger opening (one side open) does not pass. It is judged
as Giglio et al. (2003) judge a fire against its background: its local z against the
whole-ring contrasts 54–150 m around (patch edges and mosaics raise that spread), gross
outliers (roads, other clearings) left out so that a track beside a lab does not hide it.
Local maxima with z ≥ 5.5 (~5 false objects per 100 km² on simulated lab-free scenes; the
rate falls e-fold per 0.6 of z, and the score ``1/(1 + exp(−(z − 5.5)/0.6))`` follows it),
whose patch is not water (NDVI ≥ 0) and fits 60–3,500 m², are candidates.

The sectors stop a road only as wide as a sector: a 6–8 m road at 6 m pixels crossing a 30°
sector of the ring 12–30 m out (6–16 m wide) lowers that sector's mean by about half, and a
stretch of it through very green canopy still passes — one-pixel runs, a diagonal stepping a
row (a 2 × 2 block of road), a road that crowns hide every few tens of metres, bends (in
``bench/fusion.py`` Sinaloa seed 2, both false clearings on roads). So each candidate's
shape is measured on its *openness* ``(surroundings − index) / (surroundings − disc mean)``
(1 as open as the patch, 0 canopy; surroundings the median of an annulus out to 48 m beyond
the guard), from the patch's centroid, sub-pixel (bilinear): its width is the narrowest
chord of openness through it (24 directions, over the disc and guard), and its continuation
is the openness along rays leaving it, out to 48 m past the guard (48 directions, each
sample the most open of three half a pixel apart across the ray). A candidate is rejected
(kept in ``rejected`` with its reason) when it is a **strip**, narrower than 9 m at its
narrowest (a cook site's work area is ≥ 12 m across), or a **stretch of a linear feature**:
the low cover goes on from it on two sides, opposite within ±45° (a road through it, a bend,
a junction), at least half as open as the patch, and across that axis the patch is less than
twice as wide as the feature is beyond the guard (twice its narrower half: a side road or a
track on one side does not widen it). A clearing reached by a track (one side only), on a
road (twice the road's width or more) or beside one (the road is tangent to it, not along a
ray) is kept. Measured (``bench/camouflage.py`` scenes, 9 site-free lines of 2.4 km² per
world): on seeds 0–2, false objects on roads 5 → 0 (4 of 8 on 130 km² of site-free lines, 1
of 2 on site lines), every lab clearing still found (23 of 23); on held-out seeds 3–5, 2 → 0
(of 5 on 130 km²); on either, no object within 40 m of a site rejected (the narrowest is 15
m across, the most open continuation 0.45). A clearing of the smallest size searched (12 m)
with a 6 m road along it is rejected: at 6 m pixels it is a road's own widening. Survivors
are objects: ``branches`` when the patch holds dry plant matter (CAI ≥ 1, NDVI < 0.5, ≤ 600
m²), else ``clearing``. Tarp pixels (from the tarp detector) are left out of the test,
counted in the clearing's area and as open in its shape.

Natural bare or litter patches of the same size enclosed by canopy, and roofs of homesteads
in the woods, look the same from one pass and remain the false alarms (seeds 0–2: 4 roofs on
130 km² of site-free lines); clearings in bare ground are not seen.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from scipy import fft as sp_fft
from scipy import ndimage

from vigia.detect.heat import DEFAULT_ALTITUDE_M, estimate_sensor_altitude_m, pixel_area_m2
from vigia.errors import InputError
from vigia.sense.atmosphere import vswir_atmosphere
from vigia.sense.cube import VSWIR_UNITS, radiance_factor
from vigia.sense.library import confuser_spectra, tarp_spectra

__all__ = [
    "AtmosphericCorrection",
    "BranchParams",
    "BranchResult",
    "CamouflageObject",
    "CamouflageResult",
    "TarpParams",
    "TarpResult",
    "atmospheric_correction",
    "branch_scores",
    "detect_branches",
    "detect_camouflage",
    "detect_tarps",
    "surface_reflectance",
    "tarp_scores",
]

Float32 = NDArray[np.float32]
Float64 = NDArray[np.float64]
Kind = Literal["tarp", "branches", "clearing"]
# Reads reflectance rows: (slice of downtrack, band indices or None for all) →
# (rows, crosstrack, bands) float32.
RowReader = Callable[[slice, NDArray[np.intp] | None], NDArray[np.floating[Any]]]

_TABLE_ALTITUDE_M: Final = (2000.0, 8000.0)
_TABLE_ELEVATION_M: Final = (0.0, 2000.0)
_CHUNK_ROWS: Final = 256
_FEATURE_BUDGET_BYTES: Final = 1 << 30


# ------------------------------------------------------------------ atmospheric correction


@dataclass(frozen=True)
class AtmosphericCorrection:
    """Per-band terms that turn at-sensor radiance into surface reflectance.

    ``ρ = y / (1 + S y)`` with ``y = (L − L_path) / A``: the inverse of
    :func:`vigia.sense.atmosphere.vswir_radiance`.

    Attributes
    ----------
    wavelengths_nm : (bands,) ndarray of float64
        Band centres, nm.
    path_radiance : (bands,) ndarray of float64
        ``L_path``, µW cm⁻² sr⁻¹ nm⁻¹.
    gain : (bands,) ndarray of float64
        ``A = E0 cos θs T↓ T↑ / π``, µW cm⁻² sr⁻¹ nm⁻¹ per unit reflectance.
    spherical_albedo : (bands,) ndarray of float64
        ``S``, unitless.
    solar_zenith_deg, sensor_altitude_m, water_vapour_g_cm2 : float
        The geometry and atmosphere the terms were computed for.
    """

    wavelengths_nm: Float64
    path_radiance: Float64
    gain: Float64
    spherical_albedo: Float64
    solar_zenith_deg: float
    sensor_altitude_m: float
    water_vapour_g_cm2: float

    def apply(
        self, radiance: NDArray[np.floating[Any]], bands: NDArray[np.intp] | None = None
    ) -> Float32:
        """Surface reflectance from radiance.

        Parameters
        ----------
        radiance : (..., bands) ndarray
            At-sensor radiance, µW cm⁻² sr⁻¹ nm⁻¹ (NaN for bad values).
        bands : (k,) ndarray of int, optional
            The bands ``radiance`` holds, as indices into this correction's bands (default:
            all of them, in order).

        Returns
        -------
        (..., bands) ndarray of float32
            Reflectance, unitless; NaN where the radiance is NaN or the band is opaque
            (gain below 0.1 % of its largest value).
        """
        sel = slice(None) if bands is None else bands
        usable = self.gain > 1e-3 * float(np.max(self.gain))
        # Single precision: reflectance to 1e-7 is far below the sensor's noise.
        gain = np.where(usable, self.gain, np.nan)[sel].astype(np.float32)
        path = self.path_radiance[sel].astype(np.float32)
        s_alb = self.spherical_albedo[sel].astype(np.float32)
        y = (np.asarray(radiance, dtype=np.float32) - path) / gain
        out: Float32 = (y / (np.float32(1.0) + s_alb * y)).astype(np.float32, copy=False)
        return out


def _line_time(cube: xr.Dataset) -> datetime | None:
    start = str(cube.attrs.get("time_coverage_start", "") or "")
    end = str(cube.attrs.get("time_coverage_end", "") or "")
    if not start:
        return None
    t0 = datetime.fromisoformat(start.replace("Z", "+00:00"))
    if end:
        t1 = datetime.fromisoformat(end.replace("Z", "+00:00"))
        return t0 + (t1 - t0) / 2
    return t0


def _where(cube: xr.Dataset) -> str:
    return f"line {cube.attrs.get('flight_line_id', '?')}"


def _check_vswir(cube: xr.Dataset, what: str) -> float:
    """Check the cube is VSWIR with known units; return the factor to µW cm⁻² sr⁻¹ nm⁻¹."""
    where = _where(cube)
    sensor = cube.attrs.get("sensor")
    if sensor != "vswir":
        raise InputError(
            f"{where}: {what} needs a VSWIR (380–2500 nm) cube; this one's sensor is {sensor!r}"
        )
    if "radiance" not in cube.variables or "wavelengths" not in cube.variables:
        raise InputError(f"{where}: the cube has no radiance or no wavelengths")
    units = str(cube["radiance"].attrs.get("units", ""))
    if not units:
        raise InputError(f"{where}: radiance has no 'units' attribute; units are never assumed")
    try:
        return radiance_factor(units, VSWIR_UNITS)
    except InputError as exc:
        raise InputError(f"{where}: radiance units {units!r} are unknown") from exc


def atmospheric_correction(
    cube: xr.Dataset,
    *,
    solar_zenith_deg: float | None = None,
    sensor_altitude_m: float | None = None,
    water_vapour_g_cm2: float = 2.5,
) -> AtmosphericCorrection:
    """Atmospheric terms for a VSWIR cube from the packaged 6S tables.

    Parameters
    ----------
    cube : xarray.Dataset
        A VSWIR radiance cube (:mod:`vigia.sense.cube`).
    solar_zenith_deg : float, optional
        Solar zenith angle, degrees. By default computed from the middle of the line's
        time coverage and the mean of its lat/lon (:func:`vigia.world.world.solar_elevation`).
    sensor_altitude_m : float, optional
        Sensor height above ground, m; by default estimated from the pixel spacing
        (:func:`vigia.detect.heat.estimate_sensor_altitude_m`), else 6 km. Clamped to the
        table's 2–8 km.
    water_vapour_g_cm2 : float
        Column water vapour, g cm⁻² (table 1–4). The default 2.5 is the tables' middle; the
        tarp and cellulose features used here lie between the water bands.

    Returns
    -------
    AtmosphericCorrection
        Per-band terms; :meth:`AtmosphericCorrection.apply` gives reflectance.

    Raises
    ------
    InputError
        If the cube is not VSWIR, has no time or location for the sun (and no angle is given),
        or the geometry lies outside the tables (sun lower than 30° above the horizon).
    """
    _check_vswir(cube, "atmospheric correction")
    where = _where(cube)
    wl = np.asarray(cube["wavelengths"].values, dtype=np.float64)
    fwhm = (
        np.asarray(cube["fwhm"].values, dtype=np.float64)
        if "fwhm" in cube.variables
        else np.full(wl.shape, np.nan)
    )
    if not np.isfinite(fwhm).all():
        step = float(np.median(np.abs(np.diff(wl)))) if wl.size > 1 else 5.0
        fwhm = np.where(np.isfinite(fwhm), fwhm, step)
    lat = np.asarray(cube["lat"].values, dtype=np.float64) if "lat" in cube.variables else None
    lon = np.asarray(cube["lon"].values, dtype=np.float64) if "lon" in cube.variables else None
    if solar_zenith_deg is None:
        from vigia.world.world import solar_elevation  # the sun's position, nothing of truth

        moment = _line_time(cube)
        located = lat is not None and lon is not None and np.isfinite(lat).any()
        if moment is None or not located or lon is None or lat is None:
            raise InputError(
                f"{where}: the cube has no time_coverage_start or no lat/lon, so the sun's "
                "position is unknown; pass solar_zenith_deg"
            )
        solar_zenith_deg = 90.0 - solar_elevation(
            float(np.nanmean(lon)), float(np.nanmean(lat)), moment
        )
    altitude = sensor_altitude_m or estimate_sensor_altitude_m(cube) or DEFAULT_ALTITUDE_M
    altitude = float(np.clip(altitude, *_TABLE_ALTITUDE_M))
    elev = np.asarray(cube["elev"].values, dtype=np.float64) if "elev" in cube.variables else None
    ground = float(np.nanmedian(elev)) if elev is not None and np.isfinite(elev).any() else 0.0
    ground = float(np.clip(ground, *_TABLE_ELEVATION_M))
    try:
        atm = vswir_atmosphere(
            wl,
            fwhm,
            solar_zenith_deg=float(solar_zenith_deg),
            sensor_altitude_m=altitude,
            ground_elevation_m=ground,
            water_vapour_g_cm2=water_vapour_g_cm2,
        )
    except InputError as exc:
        raise InputError(f"{where}: atmospheric correction impossible: {exc}") from exc
    mu = math.cos(math.radians(atm.solar_zenith_deg))
    gain = atm.solar_irradiance * mu * atm.transmittance_down * atm.transmittance_up / math.pi
    return AtmosphericCorrection(
        wavelengths_nm=wl,
        path_radiance=np.asarray(atm.path_radiance, dtype=np.float64),
        gain=np.asarray(gain, dtype=np.float64),
        spherical_albedo=np.asarray(atm.spherical_albedo, dtype=np.float64),
        solar_zenith_deg=atm.solar_zenith_deg,
        sensor_altitude_m=altitude,
        water_vapour_g_cm2=atm.water_vapour_g_cm2,
    )


def surface_reflectance(
    cube: xr.Dataset, *, correction: AtmosphericCorrection | None = None
) -> Float32:
    """Surface reflectance of a whole VSWIR cube (it must fit in memory).

    Parameters
    ----------
    cube : xarray.Dataset
        A VSWIR radiance cube.
    correction : AtmosphericCorrection, optional
        Terms to use; by default :func:`atmospheric_correction` of the cube.

    Returns
    -------
    (downtrack, crosstrack, bands) ndarray of float32
        Reflectance, unitless, NaN where the radiance is bad or the band opaque.
    """
    corr = correction or atmospheric_correction(cube)
    return _reader(cube, corr)(slice(None), None)


def _reader(cube: xr.Dataset, corr: AtmosphericCorrection) -> RowReader:
    factor = _check_vswir(cube, "camouflage detection")
    good = (
        np.asarray(cube["good_wavelengths"].values) > 0
        if "good_wavelengths" in cube.variables
        else np.ones(cube.sizes["bands"], dtype=bool)
    )
    if not good.any():
        raise InputError(f"{_where(cube)}: the radiance has no usable band (all NaN or masked)")

    def read(rows: slice, bands: NDArray[np.intp] | None = None) -> Float32:
        rad = cube["radiance"].isel(downtrack=rows)
        if bands is not None:
            rad = rad.isel(bands=bands)
        arr = np.asarray(rad.values, dtype=np.float32)
        if factor != 1.0:
            arr = arr * np.float32(factor)
        out = corr.apply(arr, bands)
        out[..., ~(good if bands is None else good[bands])] = np.nan
        return out

    return read


# ----------------------------------------------------------------------- shared objects


@dataclass(frozen=True)
class CamouflageObject:
    """One tarp, cut-branch patch or clearing.

    Attributes
    ----------
    kind : {"tarp", "branches", "clearing"}
        What it looks like.
    rows, cols : (n,) ndarray of int64
        Pixel indices (downtrack, crosstrack).
    score : float
        0–1, higher is surer.
    area_m2 : float
        Estimated area, m² (tarps: abundance-weighted; branches and clearings: the area of
        the patch's pixels, tarps in it included).
    lon, lat : float
        Centre, degrees WGS84 (NaN when the cube has no location).
    reason : str
        The evidence, in words.
    details : dict of str to float or str
        The numbers behind the reason (ACE values, best target, NDVI, CAI, ...).
    """

    kind: Kind
    rows: NDArray[np.int64]
    cols: NDArray[np.int64]
    score: float
    area_m2: float
    lon: float
    lat: float
    reason: str
    details: dict[str, float | str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the object as plain JSON-ready values (pixel indices as lists)."""
        return {
            "kind": self.kind,
            "rows": self.rows.tolist(),
            "cols": self.cols.tolist(),
            "score": round(self.score, 4),
            "area_m2": round(self.area_m2, 1),
            "lon": None if not math.isfinite(self.lon) else round(self.lon, 7),
            "lat": None if not math.isfinite(self.lat) else round(self.lat, 7),
            "reason": self.reason,
            "details": {
                k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v)
                for k, v in self.details.items()
            },
        }


def _centre(
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    weights: Float64,
    lat: Float64 | None,
    lon: Float64 | None,
) -> tuple[float, float]:
    if lat is None or lon is None:
        return math.nan, math.nan
    la, lo = lat[rows, cols], lon[rows, cols]
    ok = np.isfinite(la) & np.isfinite(lo)
    if not ok.any():
        return math.nan, math.nan
    w = np.where(ok, np.maximum(weights, 0.0), 0.0)
    if w.sum() <= 0:
        w = ok.astype(np.float64)
    return float(np.sum(w * np.nan_to_num(lo)) / w.sum()), float(
        np.sum(w * np.nan_to_num(la)) / w.sum()
    )


def _components(
    seed: NDArray[np.bool_], grow: NDArray[np.bool_]
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """8-connected components of ``grow`` that contain a ``seed`` pixel (hysteresis)."""
    labels, _ = ndimage.label(grow | seed, structure=np.ones((3, 3), dtype=bool))
    keep = np.unique(labels[seed & (labels > 0)])
    out = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None or k not in keep:
            continue
        rr, cc = np.nonzero(labels[sl] == k)
        out.append(((rr + sl[0].start).astype(np.int64), (cc + sl[1].start).astype(np.int64)))
    return out


def _pixel_area(cube: xr.Dataset) -> Float64:
    lat = np.asarray(cube["lat"].values, dtype=np.float64) if "lat" in cube.variables else None
    lon = np.asarray(cube["lon"].values, dtype=np.float64) if "lon" in cube.variables else None
    area = pixel_area_m2(lat, lon) if lat is not None and lon is not None else None
    if area is None or not np.isfinite(area).any():
        raise InputError(
            f"{_where(cube)}: the cube has no usable lat/lon, so its pixel size (for the size "
            "limits) is unknown"
        )
    return area


def _location(cube: xr.Dataset) -> tuple[Float64 | None, Float64 | None]:
    if "lat" not in cube.variables or "lon" not in cube.variables:
        return None, None
    return (
        np.asarray(cube["lat"].values, dtype=np.float64),
        np.asarray(cube["lon"].values, dtype=np.float64),
    )


# ----------------------------------------------------------------------------- tarps


@dataclass(frozen=True)
class TarpParams:
    """Bands, thresholds and size limits of the tarp detector.

    Attributes
    ----------
    range_nm : tuple of float
        Spectral range used, nm.
    exclude_nm : tuple of tuple of float
        Ranges left out (the 1.4 and 1.9 µm water bands), nm.
    ch_windows_nm : tuple of tuple of float
        The C–H windows, nm; each is continuum-removed on its own.
    bin_nm : float
        Width of the spectral bins, nm (the tarp features are 25–55 nm wide).
    score_threshold, grow_threshold : float
        Hysteresis on the pixel score: objects start at pixels ≥ ``score_threshold`` and
        take in 8-connected neighbours ≥ ``grow_threshold``. ACE on a Gaussian background of
        p bands is Beta(½, (p − 1)/2) distributed (Kraut et al. 2001): for the ~170 full and
        ~35 C–H bins, the 10⁻⁶ quantiles are 0.14 and 0.50, geometric mean 0.26; 0.3 leaves
        a margin for clutter that is not Gaussian.
    min_area_m2, max_area_m2 : float
        Size limits on the abundance-weighted area, m².
    confuser_margin : float
        An object is a tarp only when its tarp score, summed over its pixels, exceeds this
        many times the same sum for the best-matching confuser (asphalt, roads, parking
        lots, composition shingle: :func:`vigia.sense.library.confuser_spectra`).
    """

    range_nm: tuple[float, float] = (400.0, 2450.0)
    exclude_nm: tuple[tuple[float, float], ...] = ((1320.0, 1480.0), (1780.0, 1990.0))
    ch_windows_nm: tuple[tuple[float, float], ...] = ((1650.0, 1780.0), (2200.0, 2420.0))
    bin_nm: float = 10.0
    score_threshold: float = 0.3
    grow_threshold: float = 0.15
    min_area_m2: float = 5.0
    max_area_m2: float = 1000.0
    confuser_margin: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.grow_threshold <= self.score_threshold < 1.0:
            raise InputError("TarpParams: need 0 < grow_threshold ≤ score_threshold < 1")
        if not 0.0 <= self.min_area_m2 < self.max_area_m2:
            raise InputError("TarpParams: need 0 ≤ min_area_m2 < max_area_m2")
        if self.bin_nm <= 0:
            raise InputError("TarpParams.bin_nm must be > 0")


@dataclass(frozen=True)
class TarpResult:
    """What the tarp detector found in one line.

    Attributes
    ----------
    score : (downtrack, crosstrack) ndarray of float32
        0–1 per pixel (geometric mean of the full-spectrum and C–H ACE of the best target);
        NaN where the reflectance is bad.
    abundance : (downtrack, crosstrack) ndarray of float32
        Matched-filter estimate of the tarp's share of the pixel for the best target.
    ace : (downtrack, crosstrack) ndarray of float32
        Full-spectrum ACE of the best target (signed: negative when anti-correlated).
    ace_ch : (downtrack, crosstrack) ndarray of float32
        C–H-window ACE of the best target (signed).
    target : (downtrack, crosstrack) ndarray of int16
        Index of the best target in ``targets`` (−1 where undefined).
    targets : list of str
        Names of the library spectra matched.
    objects : list of CamouflageObject
        Tarps within the size limits, best first.
    rejected : list of CamouflageObject
        Tarp-like objects outside the size limits (kept for review, not detections).
    """

    score: Float32
    abundance: Float32
    ace: Float32
    ace_ch: Float32
    target: NDArray[np.int16]
    targets: list[str]
    objects: list[CamouflageObject]
    rejected: list[CamouflageObject] = field(default_factory=list)


@dataclass(frozen=True)
class _Spaces:
    """Band selection and binning: full space and continuum-removed C–H space."""

    bands: NDArray[np.int64]  # cube bands used
    binning: Float64  # (used bands, bins) averaging matrix
    centres: Float64  # (bins,) nm
    ch_bins: list[NDArray[np.int64]]  # bin indices of each C–H window

    @property
    def ch(self) -> NDArray[np.int64]:
        return np.concatenate(self.ch_bins)

    def full(self, rho: NDArray[np.floating[Any]]) -> Float64:
        return self.full_selected(np.asarray(rho)[..., self.bands])

    def full_selected(self, rho: NDArray[np.floating[Any]]) -> Float64:
        """Bin a spectrum that holds only the used bands (``rho[..., bands]``)."""
        out: Float64 = np.asarray(rho, dtype=np.float64) @ self.binning
        return out

    def continuum_removed(self, binned: Float64) -> Float64:
        """Each C–H window minus its linear continuum (a linear map of the spectrum)."""
        parts = []
        for idx in self.ch_bins:
            seg = binned[..., idx]
            wl = self.centres[idx]
            left, right = seg[..., :2].mean(-1), seg[..., -2:].mean(-1)
            wl_l, wl_r = wl[:2].mean(), wl[-2:].mean()
            slope = (right - left) / (wl_r - wl_l)
            cont = left[..., None] + slope[..., None] * (wl - wl_l)
            # Subtracted, not divided: dividing by a dark pixel's continuum blows its noise
            # up into features.
            parts.append(seg - cont)
        return np.concatenate(parts, axis=-1)


def _spaces(wl: Float64, good: NDArray[np.bool_], p: TarpParams, where: str) -> _Spaces:
    use = good & (wl >= p.range_nm[0]) & (wl <= p.range_nm[1])
    for lo, hi in p.exclude_nm:
        use &= ~((wl >= lo) & (wl <= hi))
    bands = np.flatnonzero(use)
    bin_of = np.floor((wl[bands] - p.range_nm[0]) / p.bin_nm).astype(np.int64)
    uniq, inv = np.unique(bin_of, return_inverse=True)
    binning = np.zeros((bands.size, uniq.size))
    binning[np.arange(bands.size), inv] = 1.0
    counts = binning.sum(axis=0)
    binning /= np.where(counts > 0, counts, 1.0)
    centres = (wl[bands] @ binning) if bands.size else np.zeros(0)
    ch_bins = [np.flatnonzero((centres >= lo) & (centres <= hi)) for lo, hi in p.ch_windows_nm]
    for (lo, hi), idx in zip(p.ch_windows_nm, ch_bins, strict=True):
        if idx.size < 5:
            raise InputError(
                f"{where}: tarp detection needs good bands across the C–H window "
                f"{lo:.0f}–{hi:.0f} nm (found {idx.size} bins of {p.bin_nm:.0f} nm)"
            )
    return _Spaces(bands, binning, centres, ch_bins)


@dataclass
class _Moments:
    """Running sums for per-column means and the pooled covariance."""

    n_cols: int
    p: int
    count: Float64 = field(init=False)
    total: Float64 = field(init=False)
    outer: Float64 = field(init=False)

    def __post_init__(self) -> None:
        self.count = np.zeros(self.n_cols)
        self.total = np.zeros((self.n_cols, self.p))
        self.outer = np.zeros((self.p, self.p))

    def add(self, x: Float64, mask: NDArray[np.bool_], sign: float = 1.0) -> None:
        """Add (or with sign −1 remove) the pixels of ``x (rows, cols, p)`` where ``mask``."""
        m = mask.astype(np.float64)
        xm = np.where(mask[..., None], x, 0.0)
        self.count += sign * m.sum(axis=0)
        self.total += sign * xm.sum(axis=0)
        flat = xm.reshape(-1, self.p)
        self.outer += sign * (flat.T @ flat)

    def stats(self) -> tuple[Float64, Float64, Float64]:
        """(per-column means (cols, p), pooled covariance (p, p), global mean (p,))."""
        n = self.count
        ok = n > 0
        mean = np.where(ok[:, None], self.total / np.where(ok, n, 1.0)[:, None], np.nan)
        total_n = float(n.sum())
        dof = max(total_n - float(ok.sum()), 1.0)
        between = (np.nan_to_num(mean) * n[:, None]).T @ np.nan_to_num(mean)
        cov = (self.outer - between) / dof
        glob = self.total.sum(axis=0) / max(total_n, 1.0)
        return mean, _oas(cov, total_n), glob


def _oas(cov: Float64, n: float) -> Float64:
    """Oracle-approximating shrinkage of the correlation matrix (Chen et al. 2010)."""
    p = cov.shape[0]
    d = np.sqrt(np.maximum(np.diag(cov), 1e-30))
    r = cov / np.outer(d, d)
    tr2 = float(np.sum(r * r))  # tr(R²); tr(R) = p
    num = (1.0 - 2.0 / p) * tr2 + p * p
    den = (n + 1.0 - 2.0 / p) * (tr2 - p)
    rho = 1.0 if den <= 0 else min(1.0, num / den)
    shrunk = (1.0 - rho) * r + rho * np.eye(p)
    out: Float64 = shrunk * np.outer(d, d)
    return out


@dataclass(frozen=True)
class _Detector:
    """ACE in one space: each column's own background mean, one shared target direction."""

    mean: Float64  # (cols, p) background mean of each column
    whiten: Float64  # (p, p): W with W Σ Wᵀ = I
    targets: Float64  # (k, p) unit whitened target directions W (t − μ̄) / ||·||
    norms: Float64  # (k,) ||W (t − μ̄)||

    def scores(self, x: Float64) -> tuple[Float64, Float64]:
        """(signed ACE, abundance), each (rows, cols, k), for x (rows, cols, p)."""
        z = (x - self.mean[None, :, :]) @ self.whiten.T
        norm2 = np.sum(z * z, axis=-1, keepdims=True)
        proj = z @ self.targets.T
        with np.errstate(invalid="ignore", divide="ignore"):
            ace = np.sign(proj) * proj**2 / norm2
        return ace, proj / self.norms


def _detector(moments: _Moments, targets: Float64) -> _Detector:
    # The target direction is t − μ̄ with μ̄ the line's mean: a per-column t − μ_c would carry
    # each column's detector offset into the target, which for dark tarps is larger than the
    # land-cover difference between columns that the shared direction ignores.
    mean, cov, glob = moments.stats()
    mean = np.where(np.isfinite(mean), mean, glob)  # columns without data
    whiten = np.linalg.inv(np.linalg.cholesky(cov))
    s = (targets - glob) @ whiten.T
    norms = np.linalg.norm(s, axis=1)
    norms = np.where(norms > 0, norms, 1.0)
    return _Detector(mean, whiten, s / norms[:, None], norms)


def tarp_scores(
    reflectance: NDArray[np.floating[Any]],
    wavelengths_nm: NDArray[np.floating[Any]],
    fwhm_nm: NDArray[np.floating[Any]],
    *,
    good_bands: NDArray[np.bool_] | None = None,
    pixel_area: NDArray[np.floating[Any]] | float,
    lat: NDArray[np.floating[Any]] | None = None,
    lon: NDArray[np.floating[Any]] | None = None,
    params: TarpParams | None = None,
    where: str = "<arrays>",
) -> TarpResult:
    """Match the packaged tarp spectra against a reflectance cube held in memory.

    Parameters
    ----------
    reflectance : (downtrack, crosstrack, bands) array
        Surface reflectance, unitless; NaN marks bad values.
    wavelengths_nm, fwhm_nm : (bands,) array
        Band centres and widths, nm.
    good_bands : (bands,) bool array, optional
        Usable bands (all if not given).
    pixel_area : (downtrack, crosstrack) array or float
        Ground area of each pixel, m².
    lat, lon : (downtrack, crosstrack) array, optional
        Pixel-centre coordinates, degrees.
    params : TarpParams, optional
        Bands, thresholds and size limits.
    where : str
        Name of the input for error messages.

    Returns
    -------
    TarpResult
        Score, abundance and ACE maps and the tarp objects.

    Raises
    ------
    InputError
        If the shapes disagree, a C–H window has no good bands, or every pixel is NaN.
    """
    rho = np.asarray(reflectance)
    if rho.ndim != 3:
        raise InputError(f"{where}: reflectance must be (downtrack, crosstrack, bands)")
    return _tarps(
        lambda rows, bands: rho[rows] if bands is None else rho[rows][..., bands],
        rho.shape[:2],
        np.asarray(wavelengths_nm, dtype=np.float64),
        np.asarray(fwhm_nm, dtype=np.float64),
        np.ones(rho.shape[2], dtype=bool) if good_bands is None else np.asarray(good_bands) > 0,
        np.broadcast_to(np.asarray(pixel_area, dtype=np.float64), rho.shape[:2]),
        None if lat is None else np.asarray(lat, dtype=np.float64),
        None if lon is None else np.asarray(lon, dtype=np.float64),
        params or TarpParams(),
        where,
    )


def _tarps(
    read: RowReader,
    shape: tuple[int, ...],
    wl: Float64,
    fwhm: Float64,
    good: NDArray[np.bool_],
    area: Float64,
    lat: Float64 | None,
    lon: Float64 | None,
    p: TarpParams,
    where: str,
) -> TarpResult:
    rows_n, cols_n = int(shape[0]), int(shape[1])
    sp = _spaces(wl, good, p, where)
    fw = np.where(np.isfinite(fwhm) & (fwhm > 0), fwhm, p.bin_nm / 2.0)
    library = tarp_spectra()
    names = [s.name for s in library]
    confusers = confuser_spectra()
    n_t = len(library)
    # Tarps and confusers (asphalt, roads, shingle) share one detector; columns ≥ n_t are
    # the confusers.
    lib = np.stack([s.resample(wl, fw) for s in (*library, *confusers)])
    lib_full = sp.full(lib)
    lib_ch = sp.continuum_removed(lib_full)
    chunks = [slice(a, min(rows_n, a + _CHUNK_ROWS)) for a in range(0, rows_n, _CHUNK_ROWS)]

    cache: dict[int, tuple[Float64, Float64, NDArray[np.bool_]]] = {}
    # Features of a chunk are kept for the later passes while they fit a memory budget.
    keep = rows_n * cols_n * (sp.centres.size + sp.ch.size) * 8 <= _FEATURE_BUDGET_BYTES

    def features(span: slice) -> tuple[Float64, Float64, NDArray[np.bool_]]:
        if span.start in cache:
            return cache[span.start]
        full = sp.full_selected(read(span, sp.bands))
        ch = sp.continuum_removed(full)
        ok = np.asarray(np.isfinite(full).all(axis=-1) & np.isfinite(ch).all(axis=-1))
        out = (np.nan_to_num(full), np.nan_to_num(ch), ok)
        if keep:
            cache[span.start] = out
        return out

    # Pass 1: statistics of every valid pixel.
    m_full = _Moments(cols_n, sp.centres.size)
    m_ch = _Moments(cols_n, sp.ch.size)
    for span in chunks:
        full, ch, ok = features(span)
        m_full.add(full, ok)
        m_ch.add(ch, ok)
    if m_full.count.sum() < sp.centres.size + 2:
        raise InputError(
            f"{where}: too few valid pixels for background statistics "
            f"({int(m_full.count.sum())}; all NaN?)"
        )

    def score_pass(
        d_full: _Detector, d_ch: _Detector, flag: float | None
    ) -> tuple[list[Float64], ...]:
        out: tuple[list[Float64], ...] = ([], [], [], [], [], [])
        for span in chunks:
            full, ch, ok = features(span)
            a_full, ab = d_full.scores(full)
            a_ch, _ = d_ch.scores(ch)
            both_all = np.sqrt(np.clip(a_full, 0, 1) * np.clip(a_ch, 0, 1))
            both = both_all[..., :n_t]
            a_full, a_ch, ab = a_full[..., :n_t], a_ch[..., :n_t], ab[..., :n_t]
            best = np.argmax(np.nan_to_num(both, nan=-1.0), axis=-1)
            pick = best[..., None]
            score = np.take_along_axis(both, pick, -1)[..., 0]
            if flag is not None:
                # Take the tarp-like pixels out of the background statistics.
                hit = ok & (np.nan_to_num(score) >= flag)
                m_full.add(full, hit, sign=-1.0)
                m_ch.add(ch, hit, sign=-1.0)
            nan = ~ok
            out[0].append(np.where(nan, np.nan, score))
            out[1].append(np.where(nan, np.nan, np.take_along_axis(ab, pick, -1)[..., 0]))
            out[2].append(np.where(nan, np.nan, np.take_along_axis(a_full, pick, -1)[..., 0]))
            out[3].append(np.where(nan, np.nan, np.take_along_axis(a_ch, pick, -1)[..., 0]))
            out[4].append(np.where(nan, -1, best).astype(np.float64))
            out[5].append(np.where(nan, np.nan, both_all[..., n_t:].max(axis=-1)))
        return out

    # Pass 2: preliminary scores; tarp-like pixels leave the background.
    score_pass(_detector(m_full, lib_full), _detector(m_ch, lib_ch), p.grow_threshold)
    # Pass 3: final scores against the clean background.
    parts = score_pass(_detector(m_full, lib_full), _detector(m_ch, lib_ch), None)
    score, abundance, ace, ace_ch, best, confuser = (np.concatenate(x, axis=0) for x in parts)

    seed = np.nan_to_num(score) >= p.score_threshold
    grow = np.nan_to_num(score) >= p.grow_threshold
    objects: list[CamouflageObject] = []
    rejected: list[CamouflageObject] = []
    for rows, cols in _components(seed, grow):
        frac = np.clip(np.nan_to_num(abundance[rows, cols]), 0.0, 1.0)
        est = float(np.sum(frac * area[rows, cols]))
        i = int(np.argmax(np.nan_to_num(score[rows, cols])))
        r, c = int(rows[i]), int(cols[i])
        k = int(best[r, c])
        lo, la = _centre(rows, cols, frac, lat, lon)
        name = names[k] if k >= 0 else "?"
        ok_size = p.min_area_m2 <= est <= p.max_area_m2
        size_note = (
            f"about {est:.0f} m² from the sub-pixel abundance"
            if ok_size
            else f"about {est:.0f} m², outside the {p.min_area_m2:.0f}–{p.max_area_m2:.0f} m² "
            "of a tarp"
        )
        # Asphalt, roads and shingle carry the same C–H bands: an object the measured
        # confusers match at least as well as the tarps, summed over its pixels, is one of
        # them.
        t_sum = float(np.nansum(score[rows, cols]))
        c_sum = float(np.nansum(confuser[rows, cols]))
        ok_kind = t_sum > p.confuser_margin * c_sum
        if not ok_kind:
            size_note += (
                f"; rejected: asphalt, road or shingle matches as well (confuser score "
                f"{c_sum / rows.size:.2f} against the tarps' {t_sum / rows.size:.2f})"
            )
        reason = (
            f"matches {name} (parametric): ACE {ace[r, c]:.2f} over the spectrum and "
            f"{ace_ch[r, c]:.2f} over the continuum-removed C–H bands at 1.73 and 2.31 µm; "
            f"{size_note}"
        )
        obj = CamouflageObject(
            kind="tarp",
            rows=rows,
            cols=cols,
            score=float(score[r, c]),
            area_m2=est,
            lon=lo,
            lat=la,
            reason=reason,
            details={
                "target": name,
                "ace": float(ace[r, c]),
                "ace_ch": float(ace_ch[r, c]),
                "abundance_peak": float(abundance[r, c]),
                "pixels": float(rows.size),
                "confuser_score": c_sum / rows.size,
            },
        )
        (objects if ok_size and ok_kind else rejected).append(obj)
    objects.sort(key=lambda o: -o.score)
    return TarpResult(
        score=score.astype(np.float32),
        abundance=abundance.astype(np.float32),
        ace=ace.astype(np.float32),
        ace_ch=ace_ch.astype(np.float32),
        target=best.astype(np.int16),
        targets=names,
        objects=objects,
        rejected=rejected,
    )


def detect_tarps(
    cube: xr.Dataset,
    *,
    params: TarpParams | None = None,
    correction: AtmosphericCorrection | None = None,
) -> TarpResult:
    """Find polyethylene tarps in a VSWIR radiance cube.

    Parameters
    ----------
    cube : xarray.Dataset
        A VSWIR cube in the EMIT L1B layout (:mod:`vigia.sense.cube`) with ``lat``/``lon``
        and a ``time_coverage_start``. It is read in runs of rows, three times.
    params : TarpParams, optional
        Bands, thresholds and size limits (defaults documented on :class:`TarpParams`).
    correction : AtmosphericCorrection, optional
        Atmospheric terms; by default :func:`atmospheric_correction` of the cube.

    Returns
    -------
    TarpResult
        Score, abundance and ACE maps and the tarp objects.

    Raises
    ------
    InputError
        If the cube is not VSWIR, its units are unknown, it has no time or location, a C–H
        window has no good bands, or its radiance is all NaN.
    """
    corr = correction or atmospheric_correction(cube)
    lat, lon = _location(cube)
    return _tarps(
        _reader(cube, corr),
        (cube.sizes["downtrack"], cube.sizes["crosstrack"]),
        np.asarray(cube["wavelengths"].values, dtype=np.float64),
        np.asarray(cube["fwhm"].values, dtype=np.float64)
        if "fwhm" in cube.variables
        else np.full(cube.sizes["bands"], np.nan),
        np.asarray(cube["good_wavelengths"].values) > 0
        if "good_wavelengths" in cube.variables
        else np.ones(cube.sizes["bands"], dtype=bool),
        _pixel_area(cube),
        lat,
        lon,
        params or TarpParams(),
        _where(cube),
    )


# ------------------------------------------------------------------ branches, clearings


@dataclass(frozen=True)
class BranchParams:
    """Bands, scales and thresholds of the cut-branch and clearing detector.

    Attributes
    ----------
    red_nm, nir_nm : tuple of float
        NDVI bands, nm.
    cai_nm : tuple of tuple of float
        CAI bands (2.0, 2.1 and 2.2 µm), nm (Nagler et al. 2003).
    cai_weight : float
        Weight of CAI (reflectance %) in the cover index ``NDVI + cai_weight · CAI``. Green
        leaves raise NDVI, dry leaves, litter and wood raise CAI, bare soil lowers both: 0.1
        puts the soil-to-green (ΔNDVI ≈ 0.6–0.8) and soil-to-litter (ΔCAI ≈ 5–8) distances on
        one scale (the NDVI–CAI plane of Guerschman et al. 2009, RSE 113:928).
    radius_m : tuple of float
        Smallest and largest clearing radius searched, m: a cook site needs a cleared work
        area at least ~12 m across (a shelter, drums, a burner); past ~60 m across it is a
        field, a yard or a homestead.
    guard_m : float
        Gap between the clearing disc and the ring around it, m (its mixed edge pixels).
    ring_m : float
        Width of the ring around the clearing, m.
    sectors : int
        Angular sectors of the ring. The clearing's contrast is taken against its *least*
        covered sector: a clearing is enclosed by cover on every side, while a road, a
        stream bed or the edge of a larger opening leaves a gap.
    context_m : tuple of float
        Half-widths of the guard and of the window of the local contrast statistics, m
        (a contextual test as Giglio et al. 2003, on contrast instead of temperature).
    noise_floor : float
        Floor on the local standard deviation of contrast, index units (sensor noise).
    block_m : float
        Side of the blocks of the robust first look at the local statistics, m.
    outlier_z : float
        Contrasts this many robust standard deviations above their neighbourhood's are left
        out of its statistics.
    z_threshold : float
        Detection threshold on the local z of the enclosed contrast, set for a target of
        ~5 false objects per 100 km² on lab-free simulated scenes of seeds 0–2 (128 km²,
        ``bench/camouflage.py``; a Gaussian tail would give far fewer, clutter is heavier).
        The false-alarm rate falls about e-fold per 0.6 of z.
    z_scale : float
        z per e-fold of the false-alarm rate: the score is ``1 / (1 + exp(−(z − z_threshold)
        / z_scale))``, so its odds grow as the measured false-alarm rate falls (0.5 at the
        threshold, 0.9 where the rate is 9 times lower).
    cai_dry : float
        CAI above which a pixel holds dry plant matter (green leaves ≤ 0.3, soils < 0,
        litter and cut branches 1–7, Nagler et al. 2003).
    green_ndvi : float
        NDVI above which a pixel is green vegetation, not dry matter.
    min_area_m2, max_area_m2 : float
        Size limits of an object, m² (from ``radius_m``).
    max_cover_m2 : float
        Largest dry core taken for a cover of cut branches, m²; a larger one is a dry field.
    min_width_m : float
        Narrowest a clearing may be through its centre, m (openness integrated along chords
        through it): between a road, track or stream bed (4–8 m) and the smallest clearing
        searched (12 m across, ``2 · radius_m[0]``).
    line_reach_m : float
        How far beyond the guard the low-cover structure leaving a patch is followed, m.
    line_open : float
        Openness (0 canopy, 1 as open as the patch) along two rays leaving the patch on
        opposite sides (±45°) above which the patch lies on a linear feature.
    line_widening : float
        How many times wider than the linear feature through it (across its axis) a patch
        on one must be to be a clearing on it, not a stretch of it.
    """

    red_nm: tuple[float, float] = (640.0, 680.0)
    nir_nm: tuple[float, float] = (840.0, 880.0)
    cai_nm: tuple[tuple[float, float], ...] = (
        (2000.0, 2050.0),
        (2080.0, 2130.0),
        (2190.0, 2240.0),
    )
    cai_weight: float = 0.1
    radius_m: tuple[float, float] = (6.0, 30.0)
    guard_m: float = 6.0
    ring_m: float = 18.0
    sectors: int = 12
    context_m: tuple[float, float] = (54.0, 150.0)
    noise_floor: float = 0.02
    block_m: float = 24.0
    outlier_z: float = 5.0
    z_threshold: float = 5.5
    z_scale: float = 0.6
    cai_dry: float = 1.0
    green_ndvi: float = 0.5
    min_area_m2: float = 60.0
    max_area_m2: float = 3500.0
    max_cover_m2: float = 600.0
    min_width_m: float = 9.0
    line_reach_m: float = 48.0
    line_open: float = 0.5
    line_widening: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 < self.radius_m[0] <= self.radius_m[1]:
            raise InputError("BranchParams.radius_m must be (smallest, largest) m, > 0")
        if not 0.0 < self.context_m[0] < self.context_m[1]:
            raise InputError("BranchParams.context_m must be (guard, window) m with guard < window")
        if not 0.0 <= self.min_area_m2 < self.max_area_m2:
            raise InputError("BranchParams: need 0 ≤ min_area_m2 < max_area_m2")
        if self.sectors < 4 or self.guard_m < 0 or self.ring_m <= 0 or self.z_scale <= 0:
            raise InputError("BranchParams: need sectors ≥ 4, guard_m ≥ 0, ring_m > 0, z_scale > 0")


@dataclass(frozen=True)
class BranchResult:
    """What the cut-branch and clearing detector found in one line.

    Attributes
    ----------
    score : (downtrack, crosstrack) ndarray of float32
        0–1 per pixel: the score a clearing centred there would get (NaN where the test is
        undefined: no data, tarps, or less than a ring's width from the line's edge).
    ndvi, cai : (downtrack, crosstrack) ndarray of float32
        NDVI and Cellulose Absorption Index (reflectance %).
    context_ndvi : (downtrack, crosstrack) ndarray of float32
        Mean NDVI of the ring around the best clearing disc centred at each pixel.
    objects : list of CamouflageObject
        ``branches`` and ``clearing`` objects above the threshold and within the size
        limits, best first.
    z : (downtrack, crosstrack) ndarray of float32
        Local z of the enclosed contrast (the larger of the NDVI and cover-index tests).
    rejected : list of CamouflageObject
        Patches that passed the contrast test but are strips or stretches of a linear
        feature (roads, tracks, stream beds), each with its reason; kept for review, not
        detections.
    """

    score: Float32
    ndvi: Float32
    cai: Float32
    context_ndvi: Float32
    objects: list[CamouflageObject]
    z: Float32 = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    rejected: list[CamouflageObject] = field(default_factory=list)


def _band_mean(
    rho: NDArray[np.floating[Any]],
    wl: Float64,
    good: NDArray[np.bool_],
    rng: tuple[float, float],
    where: str,
) -> Float64:
    idx = np.flatnonzero(good & (wl >= rng[0]) & (wl <= rng[1]))
    if idx.size == 0:
        raise InputError(
            f"{where}: branch and clearing detection needs good bands in {rng[0]:.0f}–"
            f"{rng[1]:.0f} nm"
        )
    out: Float64 = np.asarray(rho, dtype=np.float64)[..., idx].mean(axis=-1)
    return out


@dataclass(frozen=True)
class _Enclosed:
    """Best-radius enclosed contrast of one index map (all (downtrack, crosstrack))."""

    contrast: Float64  # least covered ring sector minus disc mean (NaN where undefined)
    radius_px: Float64  # disc radius of the best scale, px
    inside: Float64  # disc mean
    ring_min: Float64  # mean of the least covered sector
    ring: Float64  # mean of the whole ring
    full: Float64  # ring mean minus disc mean at the radius where that is largest


def _enclosed_contrast(
    ok: NDArray[np.bool_], maps: list[Float64], p: BranchParams, step: float
) -> list[_Enclosed]:
    """Disc-against-ring contrast at every pixel, scale and sector, by FFT convolution.

    For each radius r the mean of a map over the disc of radius r and over each sector of
    the ring ``r + guard < d ≤ r + guard + width`` (all in pixels) is a convolution with a
    fixed kernel; the contrast is the least covered sector's mean minus the disc's, kept at
    the radius where it is largest. One forward transform per map, one inverse per kernel.
    """
    rows, cols = ok.shape
    r_lo, r_hi = (max(1.0, r / step) for r in p.radius_m)
    radii = np.arange(r_lo, max(r_lo, r_hi) + 0.25, 0.5)
    guard, width = p.guard_m / step, max(1.0, p.ring_m / step)
    pad = math.ceil(radii[-1] + guard + width)
    yy, xx = np.mgrid[-pad : pad + 1, -pad : pad + 1].astype(np.float64)
    dist = np.hypot(yy, xx)
    sector = np.floor((np.arctan2(yy, xx) + math.pi) / (2 * math.pi) * p.sectors).astype(int)
    sector %= p.sectors
    shape = tuple(sp_fft.next_fast_len(n + 2 * pad, real=True) for n in (rows, cols))

    # Single precision halves the cost; its ~1e-6 relative error is far below the noise.
    def fwd(a: NDArray[np.floating[Any]]) -> NDArray[np.complex64]:
        out: NDArray[np.complex64] = sp_fft.rfft2(a.astype(np.float32), s=shape, workers=1)
        return out

    def conv(fa: NDArray[np.complex64], fk: NDArray[np.complex64]) -> Float64:
        full = sp_fft.irfft2(fa * fk, s=shape, workers=1)
        out: Float64 = full[pad : pad + rows, pad : pad + cols].astype(np.float64)
        return out

    weight = ok.astype(np.float64)
    f_w = fwd(weight)
    f_maps = [fwd(np.where(ok, m, 0.0)) for m in maps]
    nan = np.full(ok.shape, np.nan)
    best = [_Enclosed(*(nan.copy() for _ in range(6))) for _ in maps]
    for r in radii:
        disc = (dist <= r + 1e-9).astype(np.float64)
        ring_px = (dist > r + guard + 1e-9) & (dist <= r + guard + width + 1e-9)
        f_disc = fwd(disc)
        n_disc = conv(f_w, f_disc)
        disc_ok = n_disc >= 0.5 * disc.sum()
        sec_kernels = [(ring_px & (sector == s)).astype(np.float64) for s in range(p.sectors)]
        f_secs = [fwd(k) for k in sec_kernels]
        n_secs = [conv(f_w, fk) for fk in f_secs]
        # A sector needs half its pixels, and every sector is needed.
        sec_ok = [n >= 0.5 * k.sum() for n, k in zip(n_secs, sec_kernels, strict=True)]
        enough = np.all(sec_ok, axis=0)
        for b, f_m in zip(best, f_maps, strict=True):
            inside = conv(f_m, f_disc) / np.maximum(n_disc, 1e-9)
            sums = [conv(f_m, fk) for fk in f_secs]
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.stack(
                    [
                        np.where(o, s / n, np.nan)
                        for s, n, o in zip(sums, n_secs, sec_ok, strict=True)
                    ]
                )
                ring = np.sum(sums, axis=0) / np.sum(n_secs, axis=0)
            ring_min = np.min(np.where(np.isnan(means), np.inf, means), axis=0)
            c = np.where(disc_ok & enough, ring_min - inside, np.nan)
            better = np.nan_to_num(c, nan=-np.inf) > np.nan_to_num(b.contrast, nan=-np.inf)
            b.contrast[better] = c[better]
            b.radius_px[better] = r
            b.inside[better] = inside[better]
            b.ring_min[better] = ring_min[better]
            b.ring[better] = ring[better]
            full = np.where(disc_ok & enough, ring - inside, np.nan)
            np.fmax(b.full, full, out=b.full)
    return best


def _ring_mean(
    x: Float64, ok: NDArray[np.bool_], centre: tuple[int, int], inner: float, width: float
) -> float:
    """Mean of ``x`` over the valid pixels of a ring around ``centre`` (radii in px)."""
    r0, c0 = centre
    outer = inner + max(1.0, width)
    half = math.ceil(outer)
    rs = slice(max(0, r0 - half), min(x.shape[0], r0 + half + 1))
    cs = slice(max(0, c0 - half), min(x.shape[1], c0 + half + 1))
    ry, rx = np.mgrid[rs, cs]
    d = np.hypot(ry - r0, rx - c0)
    sel = (d > inner) & (d <= outer) & ok[rs, cs]
    return float(np.mean(x[rs, cs][sel])) if sel.any() else math.nan


@dataclass(frozen=True)
class _Shape:
    """How a candidate patch's low cover is laid out around its centre (lengths in px)."""

    width: float  # narrowest chord of openness through the centre
    through: float  # openness of the structure leaving the patch on two opposite sides
    axis: float  # direction of that structure, rad (row, col): (sin, cos)
    across: float  # twice the narrower half-chord of openness across that axis
    feature: float  # the structure's own width beyond the guard (median across it)


def _patch_shape(
    x: Float64,
    ok: NDArray[np.bool_],
    covered: NDArray[np.bool_],
    centre: tuple[float, float],
    levels: tuple[float, float],
    span: float,
    reach: float,
    directions: int = 24,
) -> _Shape:
    """Chords and rays of the patch's openness around ``centre`` (row, col; lengths in px).

    Openness is ``(outside − x) / (outside − inside)`` clipped to [−1, 1], ``inside`` the
    disc's mean (``levels[0]``) and ``outside`` the median of the rays' annulus (the ring's
    mean ``levels[1]`` when it has no data): 1 as open as the patch, 0 as covered as its
    surroundings; covered pixels (tarps) count as open, pixels without data are left out.
    Chords through the centre span ``±span`` (disc and guard): their integral is the patch's
    width in that direction, whatever the pixels' mixing; across the axis of a structure
    through the patch, twice the narrower of its two halves. Rays leave from ``span`` out
    to ``span + reach``, 48 directions, each sample the most open of three half a pixel
    apart across the ray (a straight road need not run through pixel centres); a structure
    through the patch is open along two rays on opposite sides (±45°: bends, junctions).
    """
    r0, c0 = round(centre[0]), round(centre[1])
    half = math.ceil(span + reach + 2.0)
    rs = slice(max(0, r0 - half), min(x.shape[0], r0 + half + 1))
    cs = slice(max(0, c0 - half), min(x.shape[1], c0 + half + 1))
    # The surroundings' level is the median of the rays' annulus, not the ring's mean: a
    # road through the ring lowers its mean, and the canopy beside the road would then
    # count as less than closed and narrow every chord.
    ry, rx = np.mgrid[rs, cs]
    d = np.hypot(ry - centre[0], rx - centre[1])
    annulus = (d > span) & (d <= span + reach) & ok[rs, cs] & np.isfinite(x[rs, cs])
    inside = levels[0]
    outside = float(np.median(x[rs, cs][annulus])) if annulus.any() else levels[1]
    depth = max(outside - inside, 1e-9)
    with np.errstate(invalid="ignore"):
        o = np.clip((outside - x[rs, cs]) / depth, -1.0, 2.0)
    o = np.where(covered[rs, cs], 1.0, o)
    w = (ok[rs, cs] | covered[rs, cs]) & np.isfinite(o)
    wf = w.astype(np.float64)
    # Chords clip at 1 (a pixel is at most all open); rays do not, so the ray that follows
    # a road's axis is the most open one, not one of its neighbours tied with it at 1.
    ow_rays = np.where(w, o, 0.0)
    ow = np.minimum(ow_rays, 1.0)
    cy, cx = centre[0] - rs.start, centre[1] - cs.start

    def sample(yy: Float64, xx: Float64, values: Float64 = ow) -> Float64:
        num = ndimage.map_coordinates(values, [yy, xx], order=1, mode="constant", cval=0.0)
        den = ndimage.map_coordinates(wf, [yy, xx], order=1, mode="constant", cval=0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out: Float64 = np.where(den >= 0.5, num / den, np.nan)
        return out

    def chord(theta: float, y0: float, x0: float, start: float = -span) -> float:
        # Midpoints of half-pixel steps: the two halves of a chord add up to it.
        n = max(1, round((span - start) / 0.5))
        s = start + (np.arange(n) + 0.5) * (span - start) / n
        v = sample(y0 + s * math.sin(theta), x0 + s * math.cos(theta))
        length = span - start
        return float(np.mean(v[np.isfinite(v)]) * length) if np.isfinite(v).any() else 0.0

    widths = [chord(math.pi * j / directions, cy, cx) for j in range(directions)]
    n_ray = 2 * directions
    phi = 2.0 * math.pi * np.arange(n_ray) / n_ray
    s = np.arange(span, span + reach + 1e-9, 0.5)
    lat = np.array([-0.5, 0.0, 0.5])
    yy = cy + s[None, :, None] * np.sin(phi)[:, None, None] + lat * np.cos(phi)[:, None, None]
    xx = cx + s[None, :, None] * np.cos(phi)[:, None, None] - lat * np.sin(phi)[:, None, None]
    v = sample(yy.ravel(), xx.ravel(), ow_rays).reshape(yy.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rays (line edge)
        rays = np.nan_to_num(np.nanmean(np.nanmax(v, axis=2), axis=1), nan=0.0)
    # Opposite within ±45°: each ray's best partner on the far side.
    k = np.arange(n_ray)
    cone = round(n_ray / 8)
    partner = np.stack([rays[(k + n_ray // 2 + d) % n_ray] for d in range(-cone, cone + 1)])
    best_partner = np.argmax(partner, axis=0)
    through = np.minimum(rays, partner[best_partner, k])
    i = int(np.argmax(through))
    j = (i + n_ray // 2 + int(best_partner[i]) - cone) % n_ray
    axis = float(phi[i])
    # Across the axis, twice the narrower side: a road's own stem (a T junction) or a track
    # leaving on one side does not widen the patch; a clearing on the road widens both.
    across = 2.0 * min(chord(axis + side, cy, cx, 0.0) for side in (math.pi / 2.0, -math.pi / 2.0))
    feature = []
    for a in (float(phi[i]), float(phi[j])):
        for d in s[::2]:  # a station every pixel
            feature.append(chord(a + math.pi / 2.0, cy + d * math.sin(a), cx + d * math.cos(a)))
    return _Shape(
        width=float(min(widths)),
        through=min(1.0, float(through[i])),
        axis=axis,
        across=across,
        feature=float(np.median(feature)),
    )


def _robust_background(clutter: Float64, p: BranchParams, step: float) -> tuple[Float64, Float64]:
    """Robust local centre and spread of a map, per pixel, from blocks (guard left out).

    The map is cut into blocks of ``block_m``; a block's centre is the median of the block
    means around it (the ring of blocks between the half-widths ``context_m``), its spread
    combines their median within-block variance with the spread of the means (1.4826 MAD).
    """
    rows, cols = clutter.shape
    b = max(1, round(p.block_m / step))
    nb_r, nb_c = -(-rows // b), -(-cols // b)
    pad = np.full((nb_r * b, nb_c * b), np.nan)
    pad[:rows, :cols] = clutter
    blocks = pad.reshape(nb_r, b, nb_c, b).transpose(0, 2, 1, 3).reshape(nb_r, nb_c, b * b)
    enough = np.isfinite(blocks).sum(axis=-1) >= max(2, (b * b) // 2)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
        means = np.where(enough, np.nanmean(blocks, axis=-1), np.nan)
        var = np.where(enough, np.nanvar(blocks, axis=-1), np.nan)
    g = max(1, math.ceil(p.context_m[0] / (b * step)))
    h = max(g + 1, math.ceil(p.context_m[1] / (b * step)))
    yy, xx = np.mgrid[-h : h + 1, -h : h + 1]
    ring = (np.maximum(np.abs(yy), np.abs(xx)) > g).ravel()

    def around(x: Float64) -> Float64:
        padded = np.pad(x, h, constant_values=np.nan)
        win = np.lib.stride_tricks.sliding_window_view(padded, (2 * h + 1, 2 * h + 1))
        out: Float64 = win.reshape(nb_r, nb_c, -1)[..., ring]
        return out

    m_around, v_around = around(means), around(var)
    trusted = np.isfinite(m_around).sum(axis=-1) >= 0.25 * int(ring.sum())
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmedian(m_around, axis=-1)
        mad = np.nanmedian(np.abs(m_around - centre[..., None]), axis=-1)
        within = np.nanmedian(v_around, axis=-1)
    spread = np.sqrt(within + (1.4826 * mad) ** 2 + p.noise_floor**2)
    centre = np.where(trusted, centre, np.nan)

    def up(x: Float64) -> Float64:
        out: Float64 = np.repeat(np.repeat(x, b, axis=0), b, axis=1)[:rows, :cols]
        return out

    return up(centre), up(spread)


def _local_z(contrast: Float64, clutter: Float64, p: BranchParams, step: float) -> Float64:
    """Local z of each contrast against the clutter around it (guard left out).

    The clutter is the whole-ring contrast: patch edges and mosaics make it vary, and that
    is what an enclosed contrast must stand out of. As Giglio et al. (2003) do for fires,
    gross outliers (≥ ``outlier_z`` robust standard deviations: roads through uniform
    canopy, other clearings) are left out, dilated by a pixel, and the mean and standard
    deviation of the rest between the guard and the window half-widths ``context_m`` are
    the background; so a road nearby does not hide a clearing.
    """
    guard = 2 * max(1, round(p.context_m[0] / step)) + 1
    window = max(guard + 2, 2 * max(1, round(p.context_m[1] / step)) + 1)
    finite = np.isfinite(clutter)
    c = np.where(finite, clutter, 0.0)
    centre, spread = _robust_background(clutter, p, step)
    with np.errstate(invalid="ignore"):
        outlier = finite & ((c - centre) / spread >= p.outlier_z)
    valid = finite & ~ndimage.binary_dilation(outlier, structure=np.ones((3, 3), dtype=bool))

    def box(x: Float64, size: int) -> Float64:
        out: Float64 = ndimage.uniform_filter(x, size=size, mode="constant") * size * size
        return out

    w = valid.astype(np.float64)
    cv = np.where(valid, c, 0.0)
    n = box(w, window) - box(w, guard)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (box(cv, window) - box(cv, guard)) / n
        var = (box(cv * cv, window) - box(cv * cv, guard)) / n - mean * mean
        z = (contrast - mean) / np.sqrt(np.maximum(var, 0.0) + p.noise_floor**2)
    # Statistics from fewer than a quarter of the window are not trusted.
    out: Float64 = np.where(n >= 0.25 * (window * window - guard * guard), z, np.nan)
    return out


def _logistic(x: Float64) -> Float64:
    out: Float64 = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def branch_scores(
    ndvi: NDArray[np.floating[Any]],
    cai: NDArray[np.floating[Any]],
    *,
    pixel_area: NDArray[np.floating[Any]] | float,
    lat: NDArray[np.floating[Any]] | None = None,
    lon: NDArray[np.floating[Any]] | None = None,
    covered: NDArray[np.bool_] | None = None,
    params: BranchParams | None = None,
) -> BranchResult:
    """Find compact clearings and cut-branch covers enclosed by vegetation in NDVI and CAI maps.

    Two indices are tested: NDVI (green cover: cut, drying branches and cleared ground both
    lower it) and the cover index ``NDVI + 0.1 CAI`` (green or dry cover: only bare ground
    lowers it, so a clearing in dry grass shows too). For each, every pixel is the centre of
    discs of the searched radii; the contrast of a disc is the mean of the least covered of
    the ring's sectors around it minus the disc's mean, kept at the best radius. Its local
    z (against the contrasts within ``context_m``, a guard left out) is the test; local
    maxima above ``z_threshold`` whose disc is not water or shadow (NDVI ≥ 0) and whose
    low-cover pixels fit the size limits are candidates. A candidate narrower than
    ``min_width_m`` at its narrowest, or on a linear feature that goes on through it on two
    sides (``line_open``) while it is less than ``line_widening`` times as wide as that
    feature, is rejected (a road, track or stream bed; see the module docstring); the
    others are objects. An object whose low-cover pixels hold dry plant matter
    (CAI ≥ ``cai_dry``, NDVI < ``green_ndvi``) is ``branches``, else ``clearing``.

    Parameters
    ----------
    ndvi : (downtrack, crosstrack) array
        Normalised difference vegetation index, unitless (NaN where unknown).
    cai : (downtrack, crosstrack) array
        Cellulose Absorption Index, reflectance % (NaN where unknown).
    pixel_area : (downtrack, crosstrack) array or float
        Ground area of each pixel, m².
    lat, lon : (downtrack, crosstrack) array, optional
        Pixel-centre coordinates, degrees.
    covered : (downtrack, crosstrack) bool array, optional
        Pixels under a cover found otherwise (tarps): left out of the statistics, counted in
        a clearing's area.
    params : BranchParams, optional
        Scales and thresholds.

    Returns
    -------
    BranchResult
        Score, z, NDVI, CAI and context maps, the objects and the rejected candidates.

    Raises
    ------
    InputError
        If the maps' shapes differ or are not 2-D.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ndvi = 0.85 + rng.normal(0, 0.02, (60, 60)); cai = rng.normal(-0.2, 0.2, (60, 60))
    >>> yy, xx = np.mgrid[:60, :60]; d = np.hypot(yy - 30, xx - 30)
    >>> ndvi[d <= 2.5] = 0.12; cai[d <= 2.5] = -3.0       # a cleared disc of 15 m radius
    >>> ndvi[29:31, 29:31] = 0.3; cai[29:31, 29:31] = 4.0  # cut branches heaped on it
    >>> r = branch_scores(ndvi, cai, pixel_area=36.0)
    >>> [(o.kind, round(o.area_m2), o.score > 0.99) for o in r.objects]
    [('branches', 756, True)]
    """
    p = params or BranchParams()
    nd = np.asarray(ndvi, dtype=np.float64)
    ca = np.asarray(cai, dtype=np.float64)
    if nd.ndim != 2 or nd.shape != ca.shape:
        raise InputError(
            f"NDVI {nd.shape} and CAI {ca.shape} maps must be 2-D (downtrack, crosstrack) "
            "and of one shape"
        )
    area = np.broadcast_to(np.asarray(pixel_area, dtype=np.float64), nd.shape)
    cov = np.zeros(nd.shape, dtype=bool) if covered is None else np.asarray(covered, dtype=bool)
    if cov.shape != nd.shape:
        raise InputError(f"the covered mask {cov.shape} is not the maps' shape {nd.shape}")
    ok = np.isfinite(nd) & np.isfinite(ca) & ~cov
    step = math.sqrt(float(np.nanmedian(area))) if np.isfinite(area).any() else 1.0
    # Cover index: CAI clipped so that a corrupt pixel cannot dominate a disc's mean.
    cover = nd + p.cai_weight * np.clip(ca, -10.0, 10.0)
    tests = _enclosed_contrast(ok, [nd, cover], p, step)
    zs = np.stack([_local_z(t.contrast, t.full, p, step) for t in tests])
    z_any = np.nan_to_num(zs, nan=-np.inf)
    which = np.argmax(z_any, axis=0)
    z = np.take_along_axis(z_any, which[None], 0)[0]
    z = np.where(np.isfinite(z), z, np.nan)
    score = _logistic((z - p.z_threshold) / p.z_scale)
    lat_a = None if lat is None else np.asarray(lat, dtype=np.float64)
    lon_a = None if lon is None else np.asarray(lon, dtype=np.float64)
    r_max = max(1.0, p.radius_m[1] / step)
    size = 2 * round(r_max) - 1
    z_fill = np.nan_to_num(z, nan=-np.inf)
    peak = (z_fill >= ndimage.maximum_filter(z_fill, size=max(3, size))) & (z_fill >= p.z_threshold)
    taken = np.zeros(nd.shape, dtype=bool)
    refused = np.zeros(nd.shape, dtype=bool)
    objects: list[CamouflageObject] = []
    rejected: list[CamouflageObject] = []
    names = ("NDVI", f"cover index NDVI + {p.cai_weight:g} CAI")
    for r0, c0 in sorted(np.argwhere(peak).tolist(), key=lambda rc: -z_fill[rc[0], rc[1]]):
        if taken[r0, c0]:
            continue
        k = int(which[r0, c0])
        t = tests[k]
        rad = float(t.radius_px[r0, c0])
        half = math.ceil(rad + 0.5)
        rs = slice(max(0, r0 - half), min(nd.shape[0], r0 + half + 1))
        cs = slice(max(0, c0 - half), min(nd.shape[1], c0 + half + 1))
        ry, rx = np.mgrid[rs, cs]
        in_disc = np.hypot(ry - r0, rx - c0) <= rad + 0.5
        # The patch: disc pixels below half-way to the ring, in the index tested or in
        # NDVI (a heap of dry branches is cover for the one and not for the other).
        level = 0.5 * (t.inside[r0, c0] + t.ring_min[r0, c0])
        ring_ndvi = _ring_mean(nd, ok, (r0, c0), rad + p.guard_m / step, p.ring_m / step)
        disc_ok = in_disc & ok[rs, cs]
        if not disc_ok.any():
            continue
        level_ndvi = 0.5 * (float(np.mean(nd[rs, cs][disc_ok])) + ring_ndvi)
        low = disc_ok & (((nd, cover)[k][rs, cs] <= level) | (nd[rs, cs] <= level_ndvi))
        members = low | (in_disc & cov[rs, cs])
        if not low.any():
            continue
        rows = ry[members].astype(np.int64)
        cols = rx[members].astype(np.int64)
        est = float(np.sum(area[rows, cols]))
        inside_ndvi = float(np.mean(nd[rs, cs][low]))
        if inside_ndvi < 0.0:
            continue  # open water or deep shadow, not cleared ground
        if not p.min_area_m2 <= est <= p.max_area_m2:
            continue
        if refused[r0, c0]:
            continue  # on a strip or linear feature already refused
        # Chords and rays from the patch's centroid: a patch centred between pixels (a
        # 2 × 2 clearing) is as wide as it is, not as a chord through one corner of it.
        levels = (float(t.inside[r0, c0]), float(t.ring[r0, c0]))
        with np.errstate(invalid="ignore", divide="ignore"):
            openness = (levels[1] - (nd, cover)[k][rows, cols]) / (levels[1] - levels[0])
        wt = np.where(cov[rows, cols], 1.0, np.clip(np.nan_to_num(openness), 0.0, 1.0))
        wt = wt if wt.sum() > 0 else np.ones(rows.size)
        centroid = (float(np.sum(wt * rows) / wt.sum()), float(np.sum(wt * cols) / wt.sum()))
        shape = _patch_shape(
            (nd, cover)[k],
            ok,
            cov,
            centroid,
            levels,
            rad + p.guard_m / step,
            p.line_reach_m / step,
        )
        refusal = ""
        if shape.width * step < p.min_width_m:
            refusal = (
                f"a strip {shape.width * step:.0f} m wide at its narrowest (under "
                f"{p.min_width_m:.0f} m; the smallest clearing searched is "
                f"{2 * p.radius_m[0]:.0f} m across): a road, track or stream bed"
            )
        elif shape.through >= p.line_open and shape.across < p.line_widening * shape.feature:
            refusal = (
                f"a stretch of a linear feature (road, track, stream bed): the low cover goes "
                f"on through it on two sides ({shape.through:.2f} as open as the patch) and "
                f"the patch, {shape.across * step:.0f} m across it, is less than "
                f"{p.line_widening:g} times its {shape.feature * step:.0f} m width"
            )
        if not refusal:
            taken[rows, cols] = True
        else:
            refused[rows, cols] = True
        dry = low & (ca[rs, cs] >= p.cai_dry) & (nd[rs, cs] < p.green_ndvi)
        dry_m2 = float(np.sum(area[rs, cs][dry]))
        tarp_m2 = float(np.sum(area[rs, cs][in_disc & cov[rs, cs]]))
        kind: Kind = "branches" if 0.0 < dry_m2 <= p.max_cover_m2 else "clearing"
        zk = float(zs[k, r0, c0])
        s = float(_logistic(np.array((zk - p.z_threshold) / p.z_scale)))
        lo, la = _centre(rows, cols, np.ones(rows.size), lat_a, lon_a)
        if kind == "branches":
            core_cai = float(np.mean(ca[rs, cs][dry]))
            what = (
                f"{dry_m2:.0f} m² of dry plant matter (CAI {core_cai:.1f} % ≥ {p.cai_dry:.1f}: "
                "cellulose and lignin absorption at 2.1 µm) on cleared ground"
            )
        elif dry_m2 > p.max_cover_m2:
            core_cai = float(np.mean(ca[rs, cs][dry]))
            what = (
                f"{dry_m2:.0f} m² of dry plant matter (CAI {core_cai:.1f} %), more than a "
                f"cover of cut branches (≤ {p.max_cover_m2:.0f} m²): dry grass or litter"
            )
        else:
            core_cai = float(np.mean(ca[rs, cs][low]))
            what = f"bare ground (CAI {core_cai:.1f} %, no cellulose feature)"
        if tarp_m2 > 0:
            what += f", {tarp_m2:.0f} m² of it under a tarp"
        reason = (
            f"{est:.0f} m² compact patch (radius ~{rad * step:.0f} m) of NDVI {inside_ndvi:.2f} "
            f"enclosed by cover on every side (NDVI {ring_ndvi:.2f} around): {what}; "
            f"{names[k]} {t.inside[r0, c0]:.2f} inside against {t.ring_min[r0, c0]:.2f} in the "
            f"least covered of {p.sectors} sectors around, {zk:.1f} σ above the local "
            f"contrasts; {shape.width * step:.0f} m across at its narrowest"
        )
        if refusal:
            reason += f"; rejected: {refusal}"
        (rejected if refusal else objects).append(
            CamouflageObject(
                kind=kind,
                rows=rows,
                cols=cols,
                score=s,
                area_m2=est,
                lon=lo,
                lat=la,
                reason=reason,
                details={
                    "index": names[k],
                    "z": zk,
                    "contrast": float(t.contrast[r0, c0]),
                    "radius_m": rad * step,
                    "ndvi": inside_ndvi,
                    "cai": core_cai,
                    "context_ndvi": ring_ndvi,
                    "dry_m2": dry_m2,
                    "tarp_m2": tarp_m2,
                    "pixels": float(rows.size),
                    "row": float(r0),
                    "col": float(c0),
                    "width_m": shape.width * step,
                    "line_open": shape.through,
                    "line_across_m": shape.across * step,
                    "line_width_m": shape.feature * step,
                },
            )
        )
    objects.sort(key=lambda o: -o.score)
    return BranchResult(
        score=score.astype(np.float32),
        ndvi=nd.astype(np.float32),
        cai=ca.astype(np.float32),
        context_ndvi=tests[0].ring.astype(np.float32),
        objects=objects,
        z=z.astype(np.float32),
        rejected=rejected,
    )


def detect_branches(
    cube: xr.Dataset,
    *,
    params: BranchParams | None = None,
    correction: AtmosphericCorrection | None = None,
    covered: NDArray[np.bool_] | None = None,
) -> BranchResult:
    """Find cut-branch cover and clearings inside green canopy in a VSWIR radiance cube.

    Parameters
    ----------
    cube : xarray.Dataset
        A VSWIR cube in the EMIT L1B layout with ``lat``/``lon`` and a time.
    params : BranchParams, optional
        Bands, context and thresholds.
    correction : AtmosphericCorrection, optional
        Atmospheric terms; by default :func:`atmospheric_correction` of the cube.
    covered : (downtrack, crosstrack) bool array, optional
        Pixels under tarps (:func:`detect_camouflage` passes the tarp detector's): left out
        of the vegetation statistics, counted in a clearing's area.

    Returns
    -------
    BranchResult
        Score, z, NDVI, CAI and context maps and the objects.

    Raises
    ------
    InputError
        If the cube is not VSWIR, has no time or location, lacks the NDVI or CAI bands, or is
        all NaN.
    """
    p = params or BranchParams()
    corr = correction or atmospheric_correction(cube)
    read = _reader(cube, corr)
    where = _where(cube)
    wl = np.asarray(cube["wavelengths"].values, dtype=np.float64)
    good = (
        np.asarray(cube["good_wavelengths"].values) > 0
        if "good_wavelengths" in cube.variables
        else np.ones(wl.size, dtype=bool)
    )
    ranges = [p.red_nm, p.nir_nm, *p.cai_nm]
    for rng in ranges:  # fail before reading anything
        if not (good & (wl >= rng[0]) & (wl <= rng[1])).any():
            _band_mean(np.zeros((1, wl.size)), wl, good, rng, where)
    n = cube.sizes["downtrack"]
    # Only the bands of the five ranges are read and corrected.
    used = np.flatnonzero(
        np.any([(wl >= lo) & (wl <= hi) for lo, hi in ranges], axis=0) & good
    ).astype(np.intp)
    wl_used, good_used = wl[used], good[used]
    ndvi_parts, cai_parts = [], []
    for a in range(0, n, _CHUNK_ROWS):
        rho = read(slice(a, min(n, a + _CHUNK_ROWS)), used)
        red, nir, r20, r21, r22 = (
            _band_mean(rho, wl_used, good_used, rng, where) for rng in ranges
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            ndvi_parts.append((nir - red) / (nir + red))
        cai_parts.append(100.0 * (0.5 * (r20 + r22) - r21))
    ndvi = np.concatenate(ndvi_parts, axis=0)
    cai = np.concatenate(cai_parts, axis=0)
    if not (np.isfinite(ndvi) & np.isfinite(cai)).any():
        raise InputError(f"{where}: no pixel has valid reflectance in the NDVI and CAI bands")
    lat, lon = _location(cube)
    return branch_scores(
        ndvi, cai, pixel_area=_pixel_area(cube), lat=lat, lon=lon, covered=covered, params=p
    )


@dataclass(frozen=True)
class CamouflageResult:
    """Both camouflage detectors on one line.

    Attributes
    ----------
    tarps : TarpResult
        Tarp detector output.
    branches : BranchResult
        Cut-branch and clearing detector output.
    correction : AtmosphericCorrection
        The atmospheric terms both used.
    """

    tarps: TarpResult
    branches: BranchResult
    correction: AtmosphericCorrection

    @property
    def objects(self) -> list[CamouflageObject]:
        """All objects of both detectors, best first."""
        return sorted(self.tarps.objects + self.branches.objects, key=lambda o: -o.score)


def detect_camouflage(
    cube: xr.Dataset,
    *,
    tarp_params: TarpParams | None = None,
    branch_params: BranchParams | None = None,
    correction: AtmosphericCorrection | None = None,
) -> CamouflageResult:
    """Run the tarp and the cut-branch/clearing detectors on one VSWIR cube.

    Tarps run first; their pixels (score ≥ the tarp grow threshold) are passed to the
    clearing detector as covered ground, so a tarp in a clearing does not fill it in.

    Parameters
    ----------
    cube : xarray.Dataset
        A VSWIR radiance cube with ``lat``/``lon`` and a time.
    tarp_params, branch_params : optional
        Parameters of each detector.
    correction : AtmosphericCorrection, optional
        Atmospheric terms; by default :func:`atmospheric_correction` of the cube.

    Returns
    -------
    CamouflageResult
        Both results and the correction they shared.

    Raises
    ------
    InputError
        As :func:`detect_tarps` and :func:`detect_branches`.
    """
    corr = correction or atmospheric_correction(cube)
    tp = tarp_params or TarpParams()
    tarps = detect_tarps(cube, params=tp, correction=corr)
    # A tarp in a clearing is a cover, not vegetation: its pixels leave the clearing test.
    covered = np.nan_to_num(tarps.score) >= tp.grow_threshold
    return CamouflageResult(
        tarps=tarps,
        branches=detect_branches(cube, params=branch_params, correction=corr, covered=covered),
        correction=corr,
    )
