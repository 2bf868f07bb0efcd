"""Rendering one imaging line of a simulated world into what each spectrometer records.

For every frame (row) of the line: where each column looks (:mod:`vigia.sense.pushbroom`),
what covers the ground there (:mod:`vigia.world.landcover`, with the sites' clearings, tarps,
branches and roofs laid on top), how hot it is, which gases lie above it
(:mod:`vigia.sense.plume`), then the at-sensor radiance (:mod:`vigia.sense.atmosphere`,
:mod:`vigia.sense.thermal`) and the instrument's response and noise
(:mod:`vigia.sense.detector`). Rows are rendered in chunks so a line needs bounded memory.

Truth (gas columns and surface temperature on the line's pixel grid) comes out beside the
cube, never inside it.
"""

from __future__ import annotations

import math
import time as time_module
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from vigia.errors import InputError
from vigia.platform import Platform, Sensor
from vigia.sense.atmosphere import (
    lwir_atmosphere,
    vswir_atmosphere,
    vswir_radiance,
)
from vigia.sense.cube import LWIR_UNITS, VSWIR_UNITS, make_cube
from vigia.sense.detector import apply_detector, lwir_detector, vswir_detector
from vigia.sense.gas import ch4_unit_absorption, lwir_absorbance
from vigia.sense.library import (
    Spectrum,
    cut_branch_spectra,
    land_cover_emissivity,
    land_cover_spectra,
    tarp_emissivity,
    tarp_spectra,
)
from vigia.sense.plume import Turbulence, column_ppm_m
from vigia.sense.pushbroom import LineGeometry, line_geometry
from vigia.sense.thermal import plume_layer_radiance
from vigia.world.landcover import LAND_COVER_CLASSES
from vigia.world.sites import Site
from vigia.world.world import World, solar_elevation

__all__ = [
    "GAS_NAMES",
    "MOLAR_MASS_KG_MOL",
    "RENDERED_SPECIES",
    "LineRenderer",
    "RenderedLine",
    "render_line",
    "sensor_bands",
    "site_columns",
]

Instrument = Literal["vswir", "lwir"]

# Molar masses (kg/mol) of the species sites emit.
MOLAR_MASS_KG_MOL: dict[str, float] = {
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
# Site species → name in the LWIR absorption table (None: no LWIR data offline; CO2's bands
# lie outside 7.5–12 µm but for weak hot bands, left out).
_LWIR_TABLE: dict[str, str | None] = {
    "CH4": "methane",
    "NH3": "ammonia",
    "CO2": None,
    "acetone": "acetone",
    "toluene": "toluene",
    "methanol": "methanol",
    "dichloromethane": "dichloromethane",
    "isopropanol": "isopropanol",
    "ethyl acetate": "ethyl_acetate",
    "chloroform": "chloroform",
}
RENDERED_SPECIES: dict[Instrument, frozenset[str]] = {
    "vswir": frozenset({"CH4"}),
    "lwir": frozenset(s for s, t in _LWIR_TABLE.items() if t),
}
"""Site species each instrument's simulation puts into the radiance (methane's 1.65 and
2.3 µm bands in the VSWIR; the species with an absorption table in the LWIR). A species in
neither (CO2) is in the truth but no simulated cube shows it."""
# Truth variable names (lower case, no spaces): methane's is "ch4".
GAS_NAMES: dict[str, str] = {s: s.lower().replace(" ", "_") for s in MOLAR_MASS_KG_MOL}

# World classes → library classes (roofs are concrete or metal).
_LIBRARY_CLASS: dict[str, tuple[str, ...]] = {
    "tree_canopy": ("tree_canopy",),
    "shrub": ("shrub",),
    "dry_grass": ("dry_grass",),
    "bare_soil": ("bare_soil",),
    "crops": ("crops",),
    "road": ("road",),
    "roof": ("concrete_roof", "metal_roof"),
    "water": ("water",),
}
# Daytime surface temperature above air temperature at full sun, K: dry bare ground and roofs
# heat most, transpiring canopy and water least (typical midday contrasts in thermal imagery).
_SUN_HEATING_K: dict[str, float] = {
    "tree_canopy": 2.0,
    "shrub": 5.0,
    "dry_grass": 10.0,
    "bare_soil": 14.0,
    "crops": 3.0,
    "road": 16.0,
    "roof": 12.0,
    "water": -2.0,
}
# How far downwind a plume is rendered, metres, and the turbulent structure used.
_PLUME_REACH_M = 3000.0
_TURBULENCE = Turbulence()
_SUBPIXEL_M = 1.5  # spacing of the points averaged over a pixel for a plume's column, m
_SUBPIXEL_MAX = 5  # most points per pixel side
_VARIETY = 1 << 20


def sensor_bands(sensor: Sensor) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Band centres and FWHM of a sensor profile, nm."""
    centers = np.asarray(sensor.wavelengths_nm(), dtype=np.float64)
    return centers, np.full(centers.shape, float(sensor.fwhm_nm))


@dataclass(frozen=True)
class _Spectra:
    # Per world class: (variants, bands) arrays, resampled to the instrument's bands.
    classes: tuple[NDArray[np.float64], ...]
    tarp: NDArray[np.float64]
    branches: NDArray[np.float64]


def _per_class(
    lib: dict[str, list[Spectrum]], c: NDArray[np.float64], f: NDArray[np.float64]
) -> tuple[NDArray[np.float64], ...]:
    # Every library spectrum of each world class, resampled to the bands: (variants, bands).
    return tuple(
        np.stack([s.resample(c, f) for name in _LIBRARY_CLASS[k] for s in lib[name]])
        for k in LAND_COVER_CLASSES
    )


@cache
def _vswir_spectra(centers: tuple[float, ...], fwhm: tuple[float, ...]) -> _Spectra:
    c, f = np.array(centers), np.array(fwhm)
    per_class = _per_class(land_cover_spectra(), c, f)
    tarp = np.stack([s.resample(c, f) for s in tarp_spectra()])
    branches = np.stack([s.resample(c, f) for s in cut_branch_spectra()])
    return _Spectra(per_class, np.clip(tarp, 0, 1), np.clip(branches, 0, 1))


@cache
def _lwir_spectra(centers: tuple[float, ...], fwhm: tuple[float, ...]) -> _Spectra:
    c, f = np.array(centers), np.array(fwhm)
    per_class = _per_class(land_cover_emissivity(), c, f)
    tarp = np.stack([s.resample(c, f) for s in tarp_emissivity()])
    # Dry foliage emits like vegetation in the thermal infrared.
    branches = per_class[LAND_COVER_CLASSES.index("dry_grass")]
    return _Spectra(per_class, np.clip(tarp, 0, 1), np.clip(branches, 0, 1))


@dataclass(frozen=True)
class RenderedLine:
    """One instrument's view of one line, and the truth on the same pixel grid.

    Attributes
    ----------
    cube : xarray.Dataset
        Radiance cube in the EMIT L1B layout (see :mod:`vigia.sense.cube`).
    truth : xarray.Dataset
        ``(downtrack, crosstrack)`` gas columns in ppm·m (one variable per species, methane's
        named ``ch4``) and ``surface_temperature`` in K. Read by evaluation only.
    """

    cube: xr.Dataset
    truth: xr.Dataset


def _near_sites(
    world: World, x: NDArray[np.float64], y: NDArray[np.float64]
) -> list[tuple[Site, float, float]]:
    # Sites whose ground effects or plume can reach these pixels, with their planar position.
    if not world.sites:
        return []
    xy = world.frame.to_xy(np.array([[s.lon, s.lat] for s in world.sites]))
    reach = _PLUME_REACH_M + 500.0
    lo_x, hi_x, lo_y, hi_y = x.min() - reach, x.max() + reach, y.min() - reach, y.max() + reach
    keep = (xy[:, 0] >= lo_x) & (xy[:, 0] <= hi_x) & (xy[:, 1] >= lo_y) & (xy[:, 1] <= hi_y)
    return [
        (s, float(p[0]), float(p[1])) for s, p, k in zip(world.sites, xy, keep, strict=True) if k
    ]


def _subpixel_points(
    x: NDArray[np.float64], y: NDArray[np.float64], gsd: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    # A k × k grid of points over each pixel's footprint (k × k along the last axis), k the
    # number that puts them ≤ _SUBPIXEL_M apart, with the pixel's sides across the scan line
    # (each row's direction from its first to its last pixel, so a row's points do not
    # depend on the rows rendered with it) and along it; and the side of the square each
    # point stands for.
    k = min(_SUBPIXEL_MAX, max(1, math.ceil(gsd / _SUBPIXEL_M)))
    if x.shape[-1] > 1:
        ax, ay = x[:, -1] - x[:, 0], y[:, -1] - y[:, 0]
    else:
        ax, ay = np.ones(x.shape[0]), np.zeros(x.shape[0])
    norm = np.hypot(ax, ay)
    norm = np.where(norm > 0, norm, 1.0)
    ax, ay = (ax / norm)[:, None, None], (ay / norm)[:, None, None]
    f = ((np.arange(k) + 0.5) / k - 0.5) * gsd
    across, along = (a.ravel() for a in np.meshgrid(f, f, indexing="ij"))
    dx = across * ax - along * ay
    dy = across * ay + along * ax
    return x[..., None] + dx, y[..., None] + dy, gsd / k


def _box_weight(
    x: NDArray[np.float64], y: NDArray[np.float64], cx: float, cy: float, half: float, gsd: float
) -> NDArray[np.float64]:
    # Share of each pixel covered by an axis-aligned square (linear ramps across a pixel edge).
    wx = np.clip((half - np.abs(x - cx)) / gsd + 0.5, 0.0, 1.0)
    wy = np.clip((half - np.abs(y - cy)) / gsd + 0.5, 0.0, 1.0)
    return np.asarray(wx * wy, dtype=np.float64)


def _disc_weight(
    x: NDArray[np.float64], y: NDArray[np.float64], cx: float, cy: float, r: float, gsd: float
) -> NDArray[np.float64]:
    d = np.hypot(x - cx, y - cy)
    return np.asarray(np.clip((r - d) / gsd + 0.5, 0.0, 1.0), dtype=np.float64)


def _site_seed(world: World, site: Site) -> int:
    # A stable hash of the id (Python's hash() changes between runs).
    return world.seed * 100_003 + zlib.crc32(site.site_id.encode())


def _plume_seed(world: World, site: Site, time: datetime) -> int:
    # The eddies of a site's plume at one time (a line's start): the same over every chunk of
    # the line, other ones for a pass at another time, as real turbulence is. (The site's own
    # things, its roof or tarp, keep :func:`_site_seed`.)
    return _site_seed(world, site) * 1_000_003 + int(time.timestamp())


@dataclass
class _Chunk:
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    fractions: NDArray[np.float32]  # (rows, cols, classes)
    variants: NDArray[np.float64]  # (rows, cols) in [0, 1)
    covers: list[tuple[NDArray[np.float64], str, int]]  # weight, kind, variant
    heat: list[tuple[NDArray[np.float64], float]]  # hot fraction, temperature K
    columns: dict[str, NDArray[np.float64]]  # species → ppm·m


def _ground(
    world: World, x: NDArray[np.float64], y: NDArray[np.float64], time: datetime, gsd: float
) -> _Chunk:
    fr = world.land_cover.fractions(x, y).astype(np.float64)
    # A spatially coherent number in [0, 1): each class picks its variant from it.
    variants = world.land_cover.variety(x, y, _VARIETY) / _VARIETY
    covers: list[tuple[NDArray[np.float64], str, int]] = []
    heat: list[tuple[NDArray[np.float64], float]] = []
    columns: dict[str, NDArray[np.float64]] = {}
    bare = LAND_COVER_CLASSES.index("bare_soil")
    sub: tuple[NDArray[np.float64], NDArray[np.float64], float] | None = None
    for site, sx, sy in _near_sites(world, x, y):
        rng = np.random.default_rng(_site_seed(world, site))
        if site.clearing_radius_m > 0:
            w = _disc_weight(x, y, sx, sy, site.clearing_radius_m, gsd)[..., None]
            onehot = np.zeros(len(LAND_COVER_CLASSES))
            onehot[bare] = 1.0
            fr = fr * (1.0 - w) + w * onehot
        if site.camouflage != "none" and site.cover_area_m2 > 0:
            w = _box_weight(x, y, sx, sy, math.sqrt(site.cover_area_m2) / 2.0, gsd)
            covers.append((w, site.camouflage, int(rng.integers(0, 1_000_000))))
        if site.heat_k is not None and site.heat_area_m2 > 0:
            # A hot surface smaller than a pixel fills the share of it its area is.
            d = np.hypot(x - sx, y - sy)
            share = np.where(d <= gsd * 0.75, min(1.0, site.heat_area_m2 / gsd**2), 0.0)
            heat.append((share, float(site.heat_k)))
        if site.emissions_kg_h and world.is_active(site, time):
            if sub is None:
                sub = _subpixel_points(x, y, gsd)
            for species, col in site_columns(world, site, (sx, sy), time, sub).items():
                columns[species] = columns.get(species, 0.0) + col
    return _Chunk(x, y, fr.astype(np.float32), variants, covers, heat, columns)


def site_columns(
    world: World,
    site: Site,
    source_xy: tuple[float, float],
    time: datetime,
    points: tuple[NDArray[np.float64], NDArray[np.float64], float],
) -> dict[str, NDArray[np.float64]]:
    """Columns of one site's plumes on pixels, as the renderer draws them, ppm·m per species.

    Parameters
    ----------
    world : World
        The world (its wind at ``time`` and its seed).
    site : Site
        An emitting site.
    source_xy : (float, float)
        The site's position in the world's plane, m.
    time : datetime
        The line's start time (the plume's eddies belong to it).
    points : (x, y, side)
        Points over each pixel's footprint (:func:`_subpixel_points`) and the side of the
        square each stands for, m.

    Returns
    -------
    dict of str to ndarray
        Per species, the mean column over each pixel's footprint, ppm·m: near the source a
        plume is narrower than a pixel, and a pixel sees its mean, not the column at its centre.
    """
    wind = world.wind_at(time)
    out = {}
    for species, rate in site.emissions_kg_h.items():
        col = column_ppm_m(
            points[0],
            points[1],
            emission_rate_kg_s=rate / 3600.0,
            wind_speed_m_s=wind.speed_m_s,
            wind_from_deg=wind.from_deg,
            stability=wind.stability,
            molar_mass_kg_mol=MOLAR_MASS_KG_MOL[species],
            source_xy_m=(float(source_xy[0]), float(source_xy[1])),
            turbulence=_TURBULENCE,
            seed=_plume_seed(world, site, time),
            footprint_m=points[2],
        )
        out[species] = np.asarray(col, dtype=np.float64).mean(axis=-1)
    return out


def _mix(spectra: _Spectra, chunk: _Chunk) -> NDArray[np.float32]:
    # Per-pixel spectrum: land-cover mixture as one matrix product (pixel weights over every
    # class variant × the variants' spectra), then covers laid on top where they are.
    rows, cols, _ = chunk.fractions.shape
    table = np.concatenate(spectra.classes).astype(np.float32)
    weights = np.zeros((rows * cols, len(table)), dtype=np.float32)
    pix = np.arange(rows * cols)
    start = 0
    for k, s in enumerate(spectra.classes):
        idx = start + (chunk.variants.ravel() * len(s)).astype(np.int64)
        weights[pix, idx] += chunk.fractions[..., k].ravel()
        start += len(s)
    out = (weights @ table).reshape(rows, cols, -1)
    for w, kind, variant in chunk.covers:
        hit = w > 0
        if not hit.any():
            continue
        if kind == "tarp":
            cover = spectra.tarp[variant % len(spectra.tarp)]
        elif kind == "branches":
            cover = spectra.branches[variant % len(spectra.branches)]
        else:
            roofs = spectra.classes[LAND_COVER_CLASSES.index("roof")]
            cover = roofs[variant % len(roofs)]
        wh = w[hit][:, None].astype(np.float32)
        out[hit] = out[hit] * (1.0 - wh) + wh * cover.astype(np.float32)
    return out


def _surface_temperature(chunk: _Chunk, air_k: float, sun: float) -> NDArray[np.float64]:
    heating = np.array([_SUN_HEATING_K[c] for c in LAND_COVER_CLASSES])
    t = air_k + sun * (chunk.fractions.astype(np.float64) @ heating)
    for w, kind, _ in chunk.covers:
        # Tarps and roofs in the sun run warm, cut branches like dry grass.
        dt = {"tarp": 8.0, "roof": 12.0, "branches": 10.0}.get(kind, 0.0) * sun
        t = t * (1.0 - w) + w * (air_k + dt)
    return np.asarray(t, dtype=np.float64)


def _air_temperature(elev_deg: float) -> float:
    # A dry-season day in the foothills: ~18 °C before dawn, ~30 °C in the afternoon.
    return 291.0 + 12.0 * max(0.0, math.sin(math.radians(max(0.0, elev_deg))))


class _Clock:
    # Accumulates wall time per phase into a caller's dict (benchmarks); no-op without one.
    def __init__(self, into: dict[str, float] | None) -> None:
        self.into = into
        self.t = time_module.perf_counter()

    def lap(self, phase: str) -> None:
        now = time_module.perf_counter()
        if self.into is not None:
            self.into[phase] = self.into.get(phase, 0.0) + now - self.t
        self.t = now


def _chunks(n: int, size: int) -> Iterator[slice]:
    for a in range(0, n, size):
        yield slice(a, min(n, a + size))


class LineRenderer:
    """One imaging line of one instrument, rendered a run of rows at a time.

    Construction fixes everything known before any radiance exists (the line's geometry, pixel
    locations, bands, atmosphere and detector); :meth:`chunks` then renders the rows in order,
    and :meth:`truth` returns the truth once every row is done. :func:`render_line` keeps the
    whole cube in memory; :func:`vigia.sense.simulate.simulate_mission` streams the chunks into
    a file so that a line needs memory for one chunk only.

    Parameters are those of :func:`render_line`.

    Attributes
    ----------
    shape : tuple of int
        ``(downtrack, crosstrack)``.
    centers, fwhm : ndarray, shape (bands,)
        Band centres and widths, nm.
    units : str
        Radiance units of the chunks.
    lat, lon : ndarray, shape (downtrack, crosstrack)
        Pixel centres, degrees.
    time_start, time_end : datetime
        UTC times of the first and last row.
    """

    def __init__(
        self,
        world: World,
        start: tuple[float, float],
        end: tuple[float, float],
        *,
        line_id: str,
        time: datetime,
        instrument: Instrument,
        platform: Platform,
        sensor_name: str,
        altitude_m: float,
        max_frames: int | None = None,
        crosstrack_pixels: int | None = None,
        chunk_rows: int = 128,
        jitter_rad: float = 5e-5,
        seed: int = 0,
        timings: dict[str, float] | None = None,
    ) -> None:
        sensor = platform.sensor(sensor_name)
        if instrument not in ("vswir", "lwir"):
            raise InputError(f"unknown instrument {instrument!r}; use vswir or lwir")
        if sensor.kind != instrument:
            raise InputError(f"sensor {sensor_name!r} is {sensor.kind}, not {instrument}")
        if time.tzinfo is None:
            raise InputError("the line time must be timezone-aware UTC")
        cols = sensor.crosstrack_pixels if crosstrack_pixels is None else crosstrack_pixels
        xy = world.frame.to_xy(np.array([start, end]))
        geom: LineGeometry = line_geometry(
            (float(xy[0, 0]), float(xy[0, 1])),
            (float(xy[1, 0]), float(xy[1, 1])),
            altitude_m=altitude_m,
            ifov_rad=sensor.ifov_mrad * 1e-3,
            crosstrack_pixels=cols,
            speed_m_s=platform.cruise_speed_m_s,
            jitter_rad=jitter_rad,
            max_frames=max_frames,
            seed=seed,
        )
        centers, fwhm = sensor_bands(sensor)
        mid = world.frame.to_lonlat(np.array([[geom.x.mean(), geom.y.mean()]]))[0]
        elev = solar_elevation(float(mid[0]), float(mid[1]), time)
        if instrument == "vswir" and elev <= 5.0:
            raise InputError(
                f"line {line_id} at {time:%Y-%m-%dT%H:%MZ}: the sun is {elev:.0f}° high; "
                "VSWIR imaging needs daylight"
            )
        self.world = world
        self.line_id = line_id
        self.instrument: Instrument = instrument
        self.platform_name = platform.name
        self.time_start = time
        rows, _ = geom.shape
        self.time_end = time + timedelta(seconds=float(geom.times_s[-1]) if rows else 0.0)
        self.shape = (rows, cols)
        self.centers, self.fwhm = centers, fwhm
        self.units = VSWIR_UNITS if instrument == "vswir" else LWIR_UNITS
        lonlat = world.frame.to_lonlat(np.column_stack([geom.x.ravel(), geom.y.ravel()]))
        self.lon = lonlat[:, 0].reshape(geom.shape)
        self.lat = lonlat[:, 1].reshape(geom.shape)
        self._geom = geom
        self._sza = 90.0 - elev
        self._air = _air_temperature(elev)
        self._sun = max(0.0, math.sin(math.radians(max(0.0, elev))))
        self._chunk_rows = max(1, int(chunk_rows))
        self._timings = timings
        self._rng_seed = [
            seed,
            int.from_bytes(line_id.encode()[:8].ljust(8, b"\0"), "little") % 2**31,
        ]
        if instrument == "vswir":
            self._spectra = _vswir_spectra(tuple(centers), tuple(fwhm))
            self._atm = vswir_atmosphere(
                centers, fwhm, solar_zenith_deg=self._sza, sensor_altitude_m=altitude_m
            )
            self._k_ch4 = ch4_unit_absorption(centers, fwhm)
            reference = vswir_radiance(
                np.full(len(centers), 0.25), self._atm, solar_zenith_deg=self._sza
            )
            self._detector = vswir_detector(
                cols,
                np.asarray(reference, dtype=np.float64),
                centers,
                snr=float(sensor.snr or 500.0),
                seed=seed,
            )
        else:
            self._spectra = _lwir_spectra(tuple(centers), tuple(fwhm))
            self._latm = lwir_atmosphere(centers, fwhm, sensor_altitude_m=altitude_m)
            self._k_lwir = {
                s: lwir_absorbance(t, centers, fwhm) for s, t in _LWIR_TABLE.items() if t
            }
            self._detector = lwir_detector(
                cols, centers, nedt_k=float(sensor.nedt_k or 0.2), seed=seed
            )
        self._truth_cols: dict[str, NDArray[np.float32]] = {}
        self._surface_t = np.full((rows, cols), np.nan, dtype=np.float32)
        self._done = np.zeros(rows, dtype=bool)

    def chunks(self) -> Iterator[tuple[slice, NDArray[np.float32]]]:
        """Render the line in runs of rows, in flight order.

        Yields
        ------
        rows : slice
            The downtrack rows of this chunk.
        radiance : ndarray, shape (rows, crosstrack, bands), float32
            At-sensor radiance as recorded (detector response and noise), in :attr:`units`.
        """
        rows, cols = self.shape
        geom = self._geom
        gsd = geom.gsd_cross_m
        clock = _Clock(self._timings)
        for k, sl in enumerate(_chunks(rows, self._chunk_rows)):
            chunk = _ground(self.world, geom.x[sl], geom.y[sl], self.time_start, gsd)
            t_surface = _surface_temperature(chunk, self._air, self._sun)
            # Truth records the area-weighted temperature of pixels with a hot source in them;
            # the radiance below mixes the hot source's emission, which is not the same (Planck
            # is not linear).
            t_truth = t_surface.copy()
            for w, t_hot in chunk.heat:
                t_truth = t_truth * (1.0 - w) + w * t_hot
            self._surface_t[sl] = t_truth
            for species, col in chunk.columns.items():
                self._truth_cols.setdefault(species, np.zeros((rows, cols), dtype=np.float32))[
                    sl
                ] = col
            clock.lap("scene")
            if self.instrument == "vswir":
                L = self._vswir(chunk)
            else:
                L = self._lwir(chunk, t_surface)
            clock.lap("radiance")
            rng = np.random.default_rng([*self._rng_seed, k])
            out = apply_detector(L, self._detector, rng)
            clock.lap("detector")
            self._done[sl] = True
            yield sl, out

    def _vswir(self, chunk: _Chunk) -> NDArray[np.float32]:
        rho = _mix(self._spectra, chunk)
        L = vswir_radiance(rho, self._atm, solar_zenith_deg=self._sza)
        ch4 = chunk.columns.get("CH4")
        if ch4 is not None:
            hit = ch4 > 0.0  # only plume pixels absorb
            L[hit] *= np.exp(-self._k_ch4 * ch4[hit][:, None]).astype(np.float32)
        return np.asarray(L, dtype=np.float32)

    def _lwir(self, chunk: _Chunk, t_surface: NDArray[np.float64]) -> NDArray[np.float32]:
        eps = _mix(self._spectra, chunk)
        optical_depth = np.zeros(eps.shape, dtype=np.float32)
        for species, col in chunk.columns.items():
            if species in self._k_lwir:
                optical_depth += (self._k_lwir[species] * col[..., None]).astype(np.float32)
        tau_p = np.exp(-optical_depth)
        latm = self._latm
        layer: dict[str, ArrayLike] = dict(
            plume_temperature_k=self._air,
            downwelling=latm.downwelling_radiance,
            atmosphere_transmittance=latm.transmittance,
            path_radiance=latm.path_radiance,
        )
        L = np.asarray(
            plume_layer_radiance(
                self.centers,
                ground_temperature_k=t_surface,
                emissivity=eps,
                plume_transmittance=tau_p,
                **layer,
            ),
            dtype=np.float32,
        )
        for w, t_hot in chunk.heat:
            hit = w > 0
            if hit.any():
                # Only the few pixels holding the source need its radiance.
                hot = np.asarray(
                    plume_layer_radiance(
                        self.centers,
                        ground_temperature_k=np.full(int(hit.sum()), t_hot),
                        emissivity=eps[hit],
                        plume_transmittance=tau_p[hit],
                        **layer,
                    ),
                    dtype=np.float32,
                )
                wh = w[hit][:, None].astype(np.float32)
                L[hit] = L[hit] * (1.0 - wh) + wh * hot
        return L

    def truth(self) -> xr.Dataset:
        """Return the truth on the line's pixel grid (after :meth:`chunks` has run).

        Returns
        -------
        xarray.Dataset
            ``(downtrack, crosstrack)`` gas columns in ppm·m (one variable per species,
            methane's named ``ch4``) and ``surface_temperature`` in K, with ``lat``/``lon``.

        Raises
        ------
        InputError
            If rows are still to be rendered.
        """
        if not self._done.all():
            raise InputError(f"line {self.line_id}: truth asked before every row was rendered")
        rows, cols = self.shape
        gases = {
            GAS_NAMES[s]: (
                ("downtrack", "crosstrack"),
                self._truth_cols.get(s, np.zeros((rows, cols), dtype=np.float32)),
                {"units": "ppm m", "long_name": f"{s} column enhancement (simulated)"},
            )
            for s in sorted(set(self._truth_cols) | {"CH4"})
        }
        return xr.Dataset(
            {
                **gases,
                "surface_temperature": (
                    ("downtrack", "crosstrack"),
                    self._surface_t,
                    {"units": "K", "long_name": "surface temperature (simulated)"},
                ),
                "lat": (("downtrack", "crosstrack"), self.lat, {"units": "degrees_north"}),
                "lon": (("downtrack", "crosstrack"), self.lon, {"units": "degrees_east"}),
            },
            attrs={
                "flight_line_id": self.line_id,
                "source": "Vigía simulated world (truth: never read by detectors)",
                "time_coverage_start": self.time_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )

    def cube_metadata(self) -> dict[str, Any]:
        """Return the keyword arguments that describe the cube (for a writer or make_cube)."""
        return {
            "wavelengths": self.centers,
            "fwhm": self.fwhm,
            "units": self.units,
            "sensor": self.instrument,
            "flight_line_id": self.line_id,
            "lat": self.lat,
            "lon": self.lon,
            "elev": np.zeros(self.shape),
            "platform": self.platform_name,
            "time_coverage_start": self.time_start,
            "time_coverage_end": self.time_end,
        }


def render_line(
    world: World,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    line_id: str,
    time: datetime,
    instrument: Instrument,
    platform: Platform,
    sensor_name: str,
    altitude_m: float,
    max_frames: int | None = None,
    crosstrack_pixels: int | None = None,
    chunk_rows: int = 128,
    jitter_rad: float = 5e-5,
    seed: int = 0,
    timings: dict[str, float] | None = None,
) -> RenderedLine:
    """Render one imaging line as one instrument records it, in memory.

    Parameters
    ----------
    world : World
        The simulated world (land cover, sites, wind, schedules).
    start, end : tuple of float
        Line start and end, lon/lat degrees.
    line_id : str
        Flight line id written into the cube.
    time : datetime
        UTC time at the start of the line.
    instrument : {"vswir", "lwir"}
        Which physics applies.
    platform : Platform
        Aircraft profile (speed).
    sensor_name : str
        Sensor profile on the platform.
    altitude_m : float
        Height above ground, metres.
    max_frames : int, optional
        Render only the first frames of the line.
    crosstrack_pixels : int, optional
        Use fewer columns than the sensor has (centred), to keep demos small.
    chunk_rows : int
        Rows rendered at a time.
    jitter_rad : float
        Pointing jitter, radians.
    seed : int
        Seed of jitter, detector response and noise.
    timings : dict, optional
        Filled with seconds spent on the scene (land cover, sites, plumes), the radiance
        physics and the detector (for benchmarks).

    Returns
    -------
    RenderedLine
        The cube and its truth. For lines larger than memory use :class:`LineRenderer` with a
        :class:`vigia.sense.io.CubeWriter`.
    """
    r = LineRenderer(
        world,
        start,
        end,
        line_id=line_id,
        time=time,
        instrument=instrument,
        platform=platform,
        sensor_name=sensor_name,
        altitude_m=altitude_m,
        max_frames=max_frames,
        crosstrack_pixels=crosstrack_pixels,
        chunk_rows=chunk_rows,
        jitter_rad=jitter_rad,
        seed=seed,
        timings=timings,
    )
    rows, cols = r.shape
    radiance = np.empty((rows, cols, len(r.centers)), dtype=np.float32)
    for sl, chunk in r.chunks():
        radiance[sl] = chunk
    cube = make_cube(radiance, **r.cube_metadata())
    return RenderedLine(cube, r.truth())
