"""Flying the planned lines over a simulated world: cubes, truth and quicklooks on disk.

This is the I/O edge of the simulator: it plans (or takes) the scenario's sorties, times each
imaging line along its sortie, renders both instruments
(:class:`vigia.sense.render.LineRenderer`) straight into the cube files chunk by chunk, so a
line needs memory for one chunk only, and writes the truth and a quicklook per line.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

from vigia.errors import ExportError, InputError
from vigia.geo import LocalFrame
from vigia.plan.mission import ImagingLine, Mission
from vigia.platform import Platform
from vigia.sense.io import CubeWriter, open_cube
from vigia.sense.render import Instrument, LineRenderer
from vigia.sense.thermal import brightness_temperature
from vigia.world.world import (
    Overpass,
    World,
    solar_elevation,
    truth_geojson,
    weather_analysis,
)

__all__ = [
    "SimulatedLine",
    "daylight_departure",
    "line_times",
    "lines_over_sites",
    "simulate_mission",
]

# Sun at least this high when the first line is flown, degrees (VSWIR needs light; plumes show
# best with some sun).
MIN_SUN_ELEVATION_DEG = 30.0


@dataclass(frozen=True)
class SimulatedLine:
    """Files written for one line."""

    line_id: str
    time: datetime
    vswir: Path
    lwir: Path
    truth: Path
    quicklook: Path


@dataclass
class SimulationResult:
    """What a simulation wrote."""

    lines: list[SimulatedLine] = field(default_factory=list)
    truth_geojson: Path | None = None
    weather: Path | None = None


def daylight_departure(mission: Mission, start: datetime, end: datetime) -> datetime:
    """First time in a window (on the hour) when the sun is high enough over the areas.

    Raises
    ------
    InputError
        If the window has no such time.
    """
    c = mission.areas[0][1].centroid
    t = start.replace(minute=0, second=0, microsecond=0)
    while t < end:
        if t >= start and solar_elevation(c.x, c.y, t) >= MIN_SUN_ELEVATION_DEG:
            return t
        t += timedelta(hours=1)
    raise InputError(
        f"the window {start:%Y-%m-%dT%H:%MZ}–{end:%Y-%m-%dT%H:%MZ} has no daylight for imaging"
    )


def line_times(
    mission: Mission, departure: datetime, lines: list[ImagingLine] | None = None
) -> dict[str, datetime]:
    """Time the aircraft starts each imaging line, flying its sorties back to back.

    Parameters
    ----------
    mission : Mission
        Planned sorties (routes in lon/lat).
    departure : datetime
        Take-off of the first sortie (UTC); later sorties follow a day apart.
    lines : list of ImagingLine, optional
        Lines to time instead of the mission's own (cut lines keep their ids).

    Returns
    -------
    dict of str to datetime
        Line id → UTC time at the line's start.
    """
    frame = LocalFrame(mission.epsg)
    override = {ln.line_id: ln for ln in lines or []}
    out: dict[str, datetime] = {}
    for k, sortie in enumerate(mission.sorties):
        t0 = departure + timedelta(days=k)
        xy = frame.to_xy(sortie.route)
        along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        pos = 0
        for planned in sortie.lines:
            ln = override.get(planned.line_id, planned)
            p = frame.to_xy(np.array([ln.start]))[0]
            d = np.hypot(xy[pos:, 0] - p[0], xy[pos:, 1] - p[1])
            pos += int(np.argmin(d))
            out[ln.line_id] = t0 + timedelta(seconds=float(along[pos]) / mission.speed_m_s)
    return out


def lines_over_sites(
    mission: Mission,
    world: World,
    n: int,
    half_length_m: float = 900.0,
    times: dict[str, datetime] | None = None,
) -> list[ImagingLine]:
    """Pick imaging lines whose swath holds sites, cut to the stretch around one of them.

    A demo cannot fly every line; this keeps the lines that show something (a lab, a decoy)
    and only the few hundred frames around it. The cut line keeps its id and lies on the route.

    Parameters
    ----------
    mission : Mission
        The planned mission.
    world : World
        The world whose sites are looked for.
    n : int
        How many lines at most.
    half_length_m : float
        Length kept before and after the site along the line, metres.
    times : dict of str to datetime, optional
        When each line is flown (:func:`line_times`). Given, lines over sites that emit at
        that time come first and are cut around such a site, and lines showing site kinds
        not shown yet are preferred.

    Returns
    -------
    list of ImagingLine
        Lines in flight order.
    """
    frame = world.frame
    site_xy = frame.to_xy(np.array([[s.lon, s.lat] for s in world.sites]).reshape(-1, 2))
    candidates: list[tuple[int, int, int, ImagingLine, frozenset[str]]] = []
    for order, ln in enumerate(mission.lines):
        a, b = frame.to_xy(np.array([ln.start, ln.end]))
        u = (b - a) / max(float(np.hypot(*(b - a))), 1e-9)
        rel = site_xy - a
        along = rel @ u
        across = np.abs(rel @ np.array([-u[1], u[0]]))
        inside = (along >= 0) & (along <= ln.length_m) & (across <= 0.45 * ln.swath_m)
        if not inside.any():
            continue
        t = None if times is None else times.get(ln.line_id)
        emitting = np.array(
            [
                bool(ok and s.emissions_kg_h and t is not None and world.is_active(s, t))
                for s, ok in zip(world.sites, inside, strict=True)
            ]
        )
        focus = emitting if emitting.any() else inside
        first = float(along[focus].min())
        lo = max(0.0, first - half_length_m)
        hi = min(ln.length_m, first + half_length_m)
        (lon0, lat0), (lon1, lat1) = frame.to_lonlat(np.array([a + lo * u, a + hi * u]))
        cut = dataclasses.replace(
            ln,
            start=(float(lon0), float(lat0)),
            end=(float(lon1), float(lat1)),
            length_m=round(hi - lo, 1),
        )
        kinds = frozenset(s.kind for s, k in zip(world.sites, focus, strict=True) if k)
        candidates.append((-int(emitting.sum()), -int(inside.sum()), order, cut, kinds))
    chosen: list[tuple[int, ImagingLine]] = []
    shown: set[str] = set()
    for _ in range(min(n, len(candidates))):
        # Best first; among equals, a line showing kinds not shown yet.
        best = min(candidates, key=lambda c: (c[0], len(c[4] & shown) - len(c[4]), c[1], c[2]))
        candidates.remove(best)
        shown |= best[4]
        chosen.append((best[2], best[3]))
    return [ln for _, ln in sorted(chosen, key=lambda t: t[0])]


def _quicklook(vswir: xr.Dataset, lwir: xr.Dataset, truth: xr.Dataset, path: Path) -> None:
    # The cubes may be lazy (opened from the files just written): only the bands shown are read.
    cube = vswir
    wl = cube["wavelengths"].values
    bands = [int(np.argmin(abs(wl - w))) for w in (640.0, 550.0, 470.0)]
    rgb = cube["radiance"][:, :, bands].values.astype(np.float64)
    lo, hi = np.nanpercentile(rgb, [2, 98])
    rgb = np.clip((rgb - lo) / max(hi - lo, 1e-9), 0, 1)
    lw = lwir
    wl_l = lw["wavelengths"].values
    b10 = int(np.argmin(abs(wl_l - 10500.0)))
    bt = brightness_temperature(wl_l[b10], np.maximum(lw["radiance"][:, :, b10].values, 1e-6))
    gases = [str(v) for v in truth.data_vars if truth[v].attrs.get("units") == "ppm m"]
    column = sum((truth[v].values for v in gases), np.zeros(truth["lat"].shape))
    present = [v for v in gases if float(truth[v].values.max()) > 0] or ["none"]
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    axes = fig.subplots(1, 3)
    axes[0].imshow(rgb, aspect="auto", interpolation="nearest")
    axes[0].set_title("VSWIR true colour (simulated)")
    im = axes[1].imshow(bt, aspect="auto", cmap="inferno", interpolation="nearest")
    axes[1].set_title("LWIR brightness temperature at 10.5 µm, K")
    fig.colorbar(im, ax=axes[1])
    # A power-law scale: plumes fall from thousands of ppm·m at the source to tens downwind.
    im2 = axes[2].imshow(
        column,
        aspect="auto",
        cmap="viridis",
        interpolation="nearest",
        norm=PowerNorm(0.3, vmin=0.0, vmax=max(float(column.max()), 1.0)),
    )
    axes[2].set_title(f"truth: gas columns, ppm·m ({', '.join(present)})")
    fig.colorbar(im2, ax=axes[2])
    for ax in axes:
        ax.set_xlabel("crosstrack pixel")
    axes[0].set_ylabel("downtrack frame")
    fig.suptitle(f"{vswir.attrs['flight_line_id']} — source: Vigía simulator, modelled data")
    try:
        fig.savefig(path, dpi=80)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _stream(
    renderer: LineRenderer,
    path: Path,
    compression_level: int | None,
    on_rows: Callable[[int], None] | None,
) -> Path:
    # Render chunk by chunk straight into the file: memory for one chunk, not the line.
    try:
        with CubeWriter(
            path,
            shape=renderer.shape,
            compression_level=compression_level,
            **renderer.cube_metadata(),
        ) as writer:
            for rows, radiance in renderer.chunks():
                writer.write(rows, radiance)
                if on_rows is not None:
                    on_rows(rows.stop - rows.start)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def _write_truth(ds: xr.Dataset, path: Path) -> None:
    tmp = path.with_suffix(".nc.tmp")
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class _Flight:
    # One instrument over one line: what a (possibly other) process needs to render it.
    line: ImagingLine
    time: datetime
    instrument: Instrument
    sensor_name: str
    altitude_m: float
    max_frames: int | None
    crosstrack_pixels: int | None
    seed: int
    out_dir: Path
    compression_level: int | None


def _fly(
    world: World, platform: Platform, f: _Flight, on_rows: Callable[[int], None] | None
) -> tuple[Path, Path]:
    # Render one instrument's cube into its file and write its truth; return both paths.
    ln = f.line
    renderer = LineRenderer(
        world,
        ln.start,
        ln.end,
        line_id=ln.line_id,
        time=f.time,
        instrument=f.instrument,
        sensor_name=f.sensor_name,
        platform=platform,
        altitude_m=f.altitude_m,
        max_frames=f.max_frames,
        crosstrack_pixels=f.crosstrack_pixels,
        seed=f.seed,
    )
    cube = _stream(
        renderer,
        f.out_dir / "lines" / f"{ln.line_id}_{f.instrument}.nc",
        f.compression_level,
        on_rows,
    )
    # The two instruments sample the ground on different grids: one truth file for each.
    suffix = "" if f.instrument == "vswir" else f"_{f.instrument}"
    truth = f.out_dir / "truth" / f"{ln.line_id}{suffix}.nc"
    _write_truth(renderer.truth(), truth)
    return cube, truth


def _fly_in_worker(world: World, platform: Platform, f: _Flight) -> tuple[Path, Path]:
    with threadpool_limits(1):  # one BLAS thread per process: the processes share the cores
        return _fly(world, platform, f, None)


def simulate_mission(
    world: World,
    mission: Mission,
    platform: Platform,
    out_dir: Path,
    *,
    max_lines: int | None = None,
    max_frames: int | None = None,
    crosstrack_pixels: int | None = None,
    seed: int = 0,
    lines: list[ImagingLine] | None = None,
    on_line: Callable[[str], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    compression_level: int | None = None,
    passes: int = 1,
    departure: datetime | None = None,
    jobs: int = 1,
) -> SimulationResult:
    """Fly a mission's imaging lines over a world and write what both instruments record.

    Parameters
    ----------
    world : World
        The simulated world.
    mission : Mission
        The planned mission (its lines are flown in order).
    platform : Platform
        Aircraft and sensors.
    out_dir : Path
        Output directory: ``lines/LINE_vswir.nc``, ``lines/LINE_lwir.nc``,
        ``lines/LINE.png``, ``truth/LINE.nc`` (VSWIR grid), ``truth/LINE_lwir.nc`` (LWIR grid),
        ``truth.geojson`` and ``weather.json`` (a simulated wind analysis per line, not truth).
    max_lines : int, optional
        Fly only the first lines.
    max_frames : int, optional
        Render only the first frames of each line.
    crosstrack_pixels : int, optional
        Use fewer columns (centred) than the sensors have.
    seed : int
        Seed of jitter, detector response and noise.
    lines : list of ImagingLine, optional
        Fly these (lines of the mission, possibly cut shorter) instead of the mission's.
    on_line : callable, optional
        Called with each line id when it is done (progress display).
    on_rows : callable, optional
        Called with the number of rows just rendered, per chunk and instrument (progress).
    compression_level : int or None
        gzip level of the cubes, or None to store them uncompressed (as EMIT L1B); see
        :class:`vigia.sense.io.CubeWriter`.
    passes : int
        Fly the lines this many times, a scenario revisit interval apart (the same hour of
        day); with more than one pass, pass k's lines are named ``LINE-Pk``.
    departure : datetime, optional
        Take-off of the first pass, UTC (default: the first daylight hour of the scenario's
        window, :func:`daylight_departure`); a revisit sortie flies days after the survey.
    jobs : int
        Processes rendering at once, one instrument of one line each (``on_rows`` is then
        not called; ``on_line`` still is, as each line's files are complete). The files are
        the same for any number. A single line is rendered in this process whatever the
        number: its VSWIR cube takes most of the time, and starting processes cost more
        than rendering the LWIR one beside it saved (the demo's revisit line: 38.9 s in one
        process, 42.8 s in two).

    Returns
    -------
    SimulationResult
        Paths written.
    """
    if lines is None:
        lines = mission.lines
    lines = lines[: max_lines if max_lines is not None else None]
    if not lines:
        raise InputError("the mission has no imaging line to fly")
    if passes < 1:
        raise InputError(f"passes must be ≥ 1, got {passes}")
    if jobs < 1:
        raise InputError(f"jobs must be ≥ 1, got {jobs}")
    sc = world.scenario
    if departure is None:
        departure = daylight_departure(mission, sc.window_start, sc.window_end)
    elif not sc.window_start <= departure <= sc.window_end:
        raise InputError(
            f"departure {departure:%Y-%m-%dT%H:%MZ} lies outside the scenario window "
            f"{sc.window_start:%Y-%m-%dT%H:%MZ}–{sc.window_end:%Y-%m-%dT%H:%MZ}"
        )
    times: dict[str, datetime] = {}
    flown: list[ImagingLine] = []
    for k in range(passes):
        t_k = line_times(mission, departure + timedelta(hours=k * sc.revisit_hours), lines)
        for ln in lines:
            new_id = ln.line_id if passes == 1 else f"{ln.line_id}-P{k + 1}"
            if t_k[ln.line_id] > sc.window_end:
                raise InputError(
                    f"pass {k + 1} of line {ln.line_id} would fly after the scenario window "
                    f"ends ({sc.window_end:%Y-%m-%dT%H:%MZ}): fewer passes"
                )
            times[new_id] = t_k[ln.line_id]
            flown.append(dataclasses.replace(ln, line_id=new_id))
    lines = flown
    vs = [s.name for s in platform.sensors if s.kind == "vswir"]
    lw = [s.name for s in platform.sensors if s.kind == "lwir"]
    if not vs or not lw:
        raise InputError(f"platform {platform.name!r} needs a VSWIR and an LWIR sensor")
    (out_dir / "lines").mkdir(parents=True, exist_ok=True)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    result = SimulationResult()
    instruments: tuple[tuple[Instrument, str], ...] = (("vswir", vs[0]), ("lwir", lw[0]))
    tasks = [
        _Flight(
            ln,
            times[ln.line_id],
            instrument,
            sensor_name,
            mission.altitude_m,
            max_frames,
            crosstrack_pixels,
            seed,
            out_dir,
            compression_level,
        )
        for ln in lines
        for instrument, sensor_name in instruments
    ]
    written: dict[tuple[str, str], tuple[Path, Path]] = {}

    def line_done(ln: ImagingLine) -> None:
        vp, tp = written[ln.line_id, "vswir"]
        lp, _ = written[ln.line_id, "lwir"]
        qp = out_dir / "lines" / f"{ln.line_id}.png"
        with (
            open_cube(vp) as vcube,
            open_cube(lp) as lcube,
            xr.open_dataset(tp, engine="h5netcdf") as truth,
        ):
            _quicklook(vcube, lcube, truth, qp)
        result.lines.append(SimulatedLine(ln.line_id, times[ln.line_id], vp, lp, tp, qp))
        if on_line is not None:
            on_line(ln.line_id)

    if jobs > 1 and len(lines) > 1:
        # Each (line, instrument) renders on its own random streams, so the files are the same
        # whichever process renders them. Spawned workers (the caller may hold open HDF5 files).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context) as pool:
            futures = [pool.submit(_fly_in_worker, world, platform, task) for task in tasks]
            try:
                for task, future in zip(tasks, futures, strict=True):
                    written[task.line.line_id, task.instrument] = future.result()
                    if task.instrument == instruments[-1][0]:
                        line_done(task.line)
            except BaseException:
                pool.shutdown(cancel_futures=True)  # an error stops the lines not yet begun
                raise
    else:
        for task in tasks:
            written[task.line.line_id, task.instrument] = _fly(world, platform, task, on_rows)
            if task.instrument == instruments[-1][0]:
                line_done(task.line)
    overpasses = [Overpass(s.line_id, s.time) for s in result.lines]
    gj = out_dir / "truth.geojson"
    try:
        gj.write_text(json.dumps(truth_geojson(world, overpasses), indent=1))
    except OSError as exc:
        raise ExportError(f"{gj}: cannot write: {exc.strerror or exc}") from None
    result.truth_geojson = gj
    wx = out_dir / "weather.json"
    try:
        wx.write_text(json.dumps(weather_analysis(world, overpasses, seed), indent=1))
    except OSError as exc:
        raise ExportError(f"{wx}: cannot write: {exc.strerror or exc}") from None
    result.weather = wx
    return result
