"""Land use around a detection: vegetation, open ground, built surfaces and water nearby.

What surrounds a place is evidence of what it is: a stack stands among roofs and yards, a
landfill on open ground, a rural lab under canopy in the hills. This module reads it from the
line's own VSWIR cube, as the camouflage detectors do: radiance is turned into surface
reflectance (:func:`vigia.detect.camouflage.atmospheric_correction`), and each pixel within
``radius_m`` of the place takes the land-use group of the library spectrum it is closest to in
spectral angle (SAM, Kruse et al. 1993, Remote Sens. Environ. 44:145), over the bands between
the water-vapour bands, averaged into 20 nm bins. The library is
:func:`vigia.sense.library.land_cover_spectra` (measured earthlib, USGS splib07 and ECOSTRESS
spectra, and PROSAIL canopies, modelled), grouped:

==============  ======================================================
group           library classes
==============  ======================================================
``vegetation``  tree canopy, shrub, crops (green, photosynthetic)
``open``        bare soil, dry grass and litter
``built``       concrete and metal roofs, asphalt and roads
``water``       water
==============  ======================================================

The angle ignores brightness, so shade and sun of one material fall in one group. A pixel whose
best angle is above ``max_angle_deg`` matches no group well (a tarp, a fire, a plume over a
dark roof) and is left out of the shares. Pure arrays in, shares out; the cube is read only
around the places asked about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Final

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from vigia.detect.camouflage import (
    AtmosphericCorrection,
    _check_vswir,
    atmospheric_correction,
)
from vigia.detect.georef import LineGrid
from vigia.errors import InputError
from vigia.sense.library import gaussian_resample, land_cover_spectra

__all__ = [
    "LAND_USES",
    "LandUseParams",
    "LibraryBins",
    "classify_reflectance",
    "land_use_around",
    "library_bins",
    "library_groups",
]

LAND_USES: Final = ("vegetation", "open", "built", "water")
_GROUP_OF: Final = {
    "tree_canopy": "vegetation",
    "shrub": "vegetation",
    "crops": "vegetation",
    "dry_grass": "open",
    "bare_soil": "open",
    "road": "built",
    "concrete_roof": "built",
    "metal_roof": "built",
    "water": "water",
}

Float64 = NDArray[np.float64]


@dataclass(frozen=True)
class LandUseParams:
    """How land use is read around a place.

    Attributes
    ----------
    radius_m : float
        Pixels whose centres lie within this distance of the place count, m: the scale of
        the place's own yard or building (a warehouse or a stack's plant is tens of metres
        across), and of the fusion's 60 m gate.
    range_nm : (float, float)
        Wavelengths used, nm.
    exclude_nm : tuple of (float, float)
        Water-vapour bands left out, nm.
    bin_nm : float
        Bands are averaged into bins this wide, nm (noise).
    max_angle_deg : float
        A pixel farther than this from every library spectrum (spectral angle) is unmatched.
    """

    radius_m: float = 50.0
    range_nm: tuple[float, float] = (420.0, 2450.0)
    exclude_nm: tuple[tuple[float, float], ...] = field(
        default=((1320.0, 1480.0), (1780.0, 1980.0))
    )
    bin_nm: float = 20.0
    max_angle_deg: float = 12.0


@cache
def _library() -> tuple[tuple[str, ...], tuple[tuple[Float64, Float64], ...]]:
    groups: list[str] = []
    spectra: list[tuple[Float64, Float64]] = []
    for cls, specs in land_cover_spectra().items():
        group = _GROUP_OF.get(cls)
        if group is None:
            continue
        for s in specs:
            groups.append(group)
            spectra.append((s.wavelength_nm, np.asarray(s.values, dtype=np.float64)))
    return tuple(groups), tuple(spectra)


def library_groups() -> dict[str, int]:
    """Return how many library spectra stand for each land-use group.

    Returns
    -------
    dict of str to int
        Group → number of spectra.

    Examples
    --------
    >>> sorted(library_groups())
    ['built', 'open', 'vegetation', 'water']
    """
    groups, _ = _library()
    return {g: groups.count(g) for g in LAND_USES}


@dataclass(frozen=True)
class LibraryBins:
    """The bands used, their binning and the library on those bins (unit vectors)."""

    bands: NDArray[np.intp]
    binning: Float64  # (selected bands, bins), each column averages its bands
    lib: Float64  # (spectra, bins), unit vectors
    groups: NDArray[np.intp]  # (spectra,) index into LAND_USES


def library_bins(
    wl: Float64, fwhm: Float64, good: NDArray[np.bool_], p: LandUseParams
) -> LibraryBins:
    """Select and bin a cube's bands and resample the land-cover library onto the bins.

    Parameters
    ----------
    wl, fwhm : (bands,) ndarray of float
        Band centres and widths, nm.
    good : (bands,) ndarray of bool
        Usable bands.
    p : LandUseParams
        Range, water bands and bin width.

    Returns
    -------
    LibraryBins

    Raises
    ------
    InputError
        Fewer than 10 usable bands in the range.
    """
    use = good & (wl >= p.range_nm[0]) & (wl <= p.range_nm[1])
    for lo, hi in p.exclude_nm:
        use &= ~((wl >= lo) & (wl <= hi))
    bands = np.flatnonzero(use)
    if bands.size < 10:
        raise InputError(
            f"land use needs good bands between {p.range_nm[0]:.0f} and {p.range_nm[1]:.0f} nm "
            f"outside the water bands (found {bands.size})"
        )
    bin_of = np.floor((wl[bands] - p.range_nm[0]) / p.bin_nm).astype(np.int64)
    _, inv = np.unique(bin_of, return_inverse=True)
    binning = np.zeros((bands.size, int(inv.max()) + 1))
    binning[np.arange(bands.size), inv] = 1.0
    binning /= binning.sum(axis=0)
    names, spectra = _library()
    fw = np.where(np.isfinite(fwhm) & (fwhm > 0), fwhm, p.bin_nm / 2.0)
    lib = np.stack([gaussian_resample(w, v, wl[bands], fw[bands]) for w, v in spectra]) @ binning
    lib /= np.linalg.norm(lib, axis=1, keepdims=True)
    groups = np.array([LAND_USES.index(g) for g in names], dtype=np.intp)
    return LibraryBins(bands, binning, lib, groups)


def classify_reflectance(
    reflectance: NDArray[np.floating], bins: LibraryBins, max_angle_deg: float
) -> NDArray[np.intp]:
    """Land-use group of each pixel by its closest library spectrum (spectral angle).

    Parameters
    ----------
    reflectance : (n, selected bands) ndarray
        Surface reflectance of ``n`` pixels over ``bins.bands``.
    bins : LibraryBins
        Band selection, binning and unit library spectra.
    max_angle_deg : float
        Largest angle of a match, degrees.

    Returns
    -------
    (n,) ndarray of int
        Index into :data:`LAND_USES`, or -1 where no spectrum is within ``max_angle_deg`` or
        the pixel has a NaN.
    """
    x = np.asarray(reflectance, dtype=np.float64) @ bins.binning
    ok: NDArray[np.bool_] = np.asarray(np.isfinite(x).all(axis=1), dtype=bool)
    x = np.where(ok[:, None], x, 0.0)
    norm = np.linalg.norm(x, axis=1)
    ok &= norm > 0
    cos = (x @ bins.lib.T) / np.where(norm > 0, norm, 1.0)[:, None]
    best = np.argmax(cos, axis=1)
    ok &= cos[np.arange(x.shape[0]), best] >= np.cos(np.radians(max_angle_deg))
    return np.where(ok, bins.groups[best], -1)


def land_use_around(
    cube: xr.Dataset,
    grid: LineGrid,
    places: Sequence[tuple[float, float]],
    *,
    params: LandUseParams | None = None,
    correction: AtmosphericCorrection | None = None,
) -> list[dict[str, float] | None]:
    """Shares of vegetation, open ground, built surfaces and water around places.

    Parameters
    ----------
    cube : xarray.Dataset
        The line's VSWIR radiance cube.
    grid : LineGrid
        Its pixel geometry (:func:`vigia.detect.line.check_cube`).
    places : sequence of (float, float)
        ``(lon, lat)`` of each place, degrees.
    params : LandUseParams, optional
        Radius, bands and match limit.
    correction : AtmosphericCorrection, optional
        Terms to use; by default :func:`~vigia.detect.camouflage.atmospheric_correction`.

    Returns
    -------
    list of dict or None
        Per place, the share of each of :data:`LAND_USES` among the matched pixels within the
        radius (summing to 1), plus ``matched`` (share of the pixels in the radius that
        matched a group); ``None`` where the place is farther than the radius from the line or
        no pixel matched.
    """
    p = params or LandUseParams()
    if not places:
        return []
    corr = correction or atmospheric_correction(cube)
    wl = np.asarray(cube["wavelengths"].values, dtype=np.float64)
    fwhm = (
        np.asarray(cube["fwhm"].values, dtype=np.float64)
        if "fwhm" in cube.variables
        else np.full(wl.shape, np.nan)
    )
    good = (
        np.asarray(cube["good_wavelengths"].values) > 0
        if "good_wavelengths" in cube.variables
        else np.ones(wl.size, dtype=bool)
    )
    good &= corr.gain > 1e-3 * float(np.max(corr.gain))
    bins = library_bins(wl, fwhm, good, p)
    factor = _check_vswir(cube, "land use")
    xy = np.column_stack([grid.x.ravel(), grid.y.ravel()])
    finite = np.isfinite(xy).all(axis=1)
    if not finite.any():
        return [None] * len(places)
    tree = cKDTree(xy[finite])
    flat_index = np.flatnonzero(finite)
    cols_n = grid.shape[1]
    out: list[dict[str, float] | None] = []
    for lon, lat in places:
        px, py = grid.frame.to_xy(np.array([[lon, lat]]))[0]
        idx = tree.query_ball_point([px, py], p.radius_m)
        if not idx:
            out.append(None)
            continue
        pix = flat_index[np.asarray(idx)]
        rows, cols = np.divmod(pix, cols_n)
        r0, r1 = int(rows.min()), int(rows.max()) + 1
        c0, c1 = int(cols.min()), int(cols.max()) + 1
        rad = np.asarray(
            cube["radiance"]
            .isel(downtrack=slice(r0, r1), crosstrack=slice(c0, c1), bands=bins.bands)
            .values,
            dtype=np.float64,
        )
        if factor != 1.0:
            rad = rad * factor
        refl = corr.apply(rad, bins.bands)[rows - r0, cols - c0]
        groups = classify_reflectance(refl, bins, p.max_angle_deg)
        matched = groups >= 0
        if not matched.any():
            out.append(None)
            continue
        counts = np.bincount(groups[matched], minlength=len(LAND_USES))
        shares = {g: round(float(counts[i] / matched.sum()), 3) for i, g in enumerate(LAND_USES)}
        shares["matched"] = round(float(matched.mean()), 3)
        out.append(shares)
    return out
