"""The I/O edge of detection: open cubes, run every detector line by line, write what was found.

``vigia detect CUBE... --out-dir DIR`` writes::

    DIR/detections.geojson          every detection (RFC 7946), with the lines searched
    DIR/scores/LINE_SENSOR.nc       score maps of each cube (NetCDF4, lat/lon beside them)
    DIR/scores/LINE_SENSOR.png      the same as a picture, detections marked
    DIR/chips/DETECTION_ID.png      true colour, score and thermal around each detection

The detection file is written last and atomically: a run that fails half-way leaves an earlier
``detections.geojson`` as it was. Cubes are read lazily (Dask) and each detector reads only
what it needs.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr
from threadpoolctl import threadpool_limits

from vigia import __version__
from vigia.detect.chips import write_chip
from vigia.detect.detection import Detection, SearchedLine, write_detections
from vigia.detect.line import LineDetections, check_cube, detect_line, line_id_of
from vigia.detect.plumes import SegmentationSettings, Wind
from vigia.errors import ExportError, FileFormatError, InputError
from vigia.report.evaluation import draw_score_map
from vigia.sense.io import open_cube

__all__ = ["DetectRun", "detect_files", "group_cubes", "read_weather"]

# Cubes up to this size are read into memory once; larger ones stay lazy (read per chunk).
_LOAD_BUDGET_BYTES = 3 << 30


@dataclass
class DetectRun:
    """What one ``vigia detect`` run wrote.

    Attributes
    ----------
    detections_path : Path
        ``detections.geojson``.
    detections : list of Detection
        Everything found.
    lines : list of SearchedLine
        Every cube searched.
    files : list of Path
        Every file written.
    skipped : list of str
        Detectors that could not run on a cube, and why.
    """

    detections_path: Path
    detections: list[Detection] = field(default_factory=list)
    lines: list[SearchedLine] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _aviris_location(path: Path) -> Path | None:
    # AVIRIS-NG ships its per-pixel lon/lat/elevation beside the radiance: angX_rdn_img → angX_loc.
    name = path.name
    for suffix in ("_rdn_img.hdr", "_rdn_img", "_rdn_v2p9_img", "_rdn.img"):
        if name.endswith(suffix):
            loc = path.with_name(name[: -len(suffix)] + "_loc")
            return loc if loc.exists() else None
    return None


def group_cubes(paths: Sequence[Path]) -> dict[str, dict[str, xr.Dataset]]:
    """Open cubes lazily and group them by flight line and sensor.

    Parameters
    ----------
    paths : sequence of Path
        Radiance cubes :func:`vigia.sense.io.open_cube` reads (ours, EMIT L1B, ENVI; an
        AVIRIS-NG ``_loc`` file beside its radiance is used for lat/lon).

    Returns
    -------
    dict
        ``line_id → {"vswir": cube, "lwir": cube}`` (either may be absent), in input order;
        each cube's ``source_file`` attribute names its file.

    Raises
    ------
    InputError
        No path, or two cubes of the same line and sensor.
    FileFormatError
        A file that cannot be read (the message names it and the field).
    """
    if not paths:
        raise InputError("no cube given: name at least one radiance file")
    lines: dict[str, dict[str, xr.Dataset]] = {}
    for path in paths:
        cube = open_cube(path, location=_aviris_location(Path(path)))
        line, sensor = line_id_of(cube), str(cube.attrs["sensor"])
        if sensor in lines.get(line, {}):
            first = lines[line][sensor].attrs["source_file"]
            raise InputError(
                f"{path}: line {line} already has a {sensor.upper()} cube "
                f"({Path(first).name}); give each line's cube once"
            )
        lines.setdefault(line, {})[sensor] = cube.assign_attrs(source_file=str(path))
    return lines


def read_weather(path: Path) -> dict[str, Wind]:
    """Read a weather file: the 10 m wind at each line.

    The file is JSON: ``{"lines": {"LINE_ID": {"wind_speed_m_s": 4.1, "wind_from_deg": 250,
    "wind_speed_sigma_m_s": 1.0}}, "source": "..."}`` (the sigma is optional), as written by
    ``vigia simulate`` (a simulated weather analysis) or by hand from a station or a reanalysis.

    Raises
    ------
    FileFormatError
        Not JSON, no ``lines`` object, or a line without a valid speed and direction (the
        message names the line and the field).
    """
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path}: cannot read as JSON: {exc}") from None
    lines = doc.get("lines") if isinstance(doc, dict) else None
    if not isinstance(lines, dict):
        raise FileFormatError(f"{path}: no 'lines' object (line id → wind)")
    out: dict[str, Wind] = {}
    for line, w in lines.items():
        try:
            out[str(line)] = Wind(
                float(w["wind_speed_m_s"]),
                float(w["wind_from_deg"]),
                None if w.get("wind_speed_sigma_m_s") is None else float(w["wind_speed_sigma_m_s"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{path}: line {line}: bad or missing wind: {exc}") from None
    return out


def _write_scores(result: LineDetections, out_dir: Path) -> dict[str, Path]:
    written: dict[str, Path] = {}
    scores = out_dir / "scores"
    scores.mkdir(parents=True, exist_ok=True)
    for sensor, ds in result.score_maps.items():
        key = f"{result.line_id}_{sensor}"
        nc = scores / f"{key}.nc"
        _atomic(nc, lambda tmp, ds=ds: ds.to_netcdf(tmp, engine="h5netcdf"))  # type: ignore[misc]
        png = scores / f"{key}.png"
        if ds.data_vars:
            dets: list[tuple[float, float, str]] = [
                (d.lon, d.lat, str(d.kind))
                for d in result.detections
                if d.sensor == sensor and d.line_id == result.line_id
            ]
            fig = draw_score_map(ds, [], dets, key)
            _atomic(png, lambda tmp, fig=fig: fig.savefig(tmp, dpi=80, format="png"))  # type: ignore[misc]
            written[f"{key}.png"] = png
        written[key] = nc
    return written


def _atomic(path: Path, write: Callable[[Path], Any]) -> Path:
    """Write through a temporary file beside ``path`` and move it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def _chip_title(d: Detection) -> str:
    what = d.kind if not d.species else f"{d.kind} {'+'.join(d.species)}"
    return f"{d.id}: {what}, score {d.score:.2f}"


def detect_files(
    paths: Sequence[Path],
    out_dir: Path,
    *,
    wind: Wind | None = None,
    weather: Path | None = None,
    chips: bool = True,
    on_line: Callable[[str], None] | None = None,
    on_step: Callable[[str], None] | None = None,
    jobs: int = 1,
    segmentation: SegmentationSettings | None = None,
) -> DetectRun:
    """Run every detector on every cube and write the detections, score maps and chips.

    Parameters
    ----------
    paths : sequence of Path
        Radiance cubes (one or both instruments per line; any number of lines).
    out_dir : Path
        Where to write (created if missing).
    wind : Wind, optional
        One wind for every line; wins over ``weather``.
    weather : Path, optional
        A weather file (:func:`read_weather`) with the wind at each line.
    chips : bool
        Write an image chip per detection.
    on_line : callable, optional
        Called with each line id when it is done.
    on_step : callable, optional
        Called with ``"LINE: detector"`` before each detector runs (one process only).
    jobs : int
        Lines processed at once, each in its own process (1: all in this process).
    segmentation : SegmentationSettings, optional
        The methane plume detector's settings; when not given, each line's
        :meth:`~vigia.detect.plumes.SegmentationSettings.for_pixel_size`.

    Returns
    -------
    DetectRun
        What was found and written.

    Raises
    ------
    InputError, FileFormatError
        Bad cubes, wind or weather file; nothing is written then.
    ExportError
        An output that cannot be written.
    """
    # One BLAS thread: per-column retrievals on small matrices are far slower with more
    # (REFERENCES.md, "Quirks"); parallelism belongs across lines.
    if jobs < 1:
        raise InputError(f"jobs must be at least 1, not {jobs}")
    with threadpool_limits(1):
        return _detect_files(
            paths, out_dir, wind, weather, chips, on_line, on_step, jobs, segmentation
        )


@dataclass
class _LineOutput:
    searched: list[SearchedLine]
    detections: list[Detection]
    skipped: list[str]
    files: list[Path]


def _run_line(
    line: str,
    cubes: dict[str, xr.Dataset],
    line_wind: Wind | None,
    out_dir: Path,
    chips: bool,
    on_step: Callable[[str], None] | None,
    segmentation: SegmentationSettings | None,
) -> _LineOutput:
    # Each detector reads the cube again: a line that fits the budget is read once.
    cubes = {k: c.load() if c.nbytes <= _LOAD_BUDGET_BYTES else c for k, c in cubes.items()}
    result = detect_line(
        cubes.get("vswir"),
        cubes.get("lwir"),
        wind=line_wind,
        on_step=None if on_step is None else (lambda s: on_step(f"{line}: {s}")),
        segmentation=segmentation,
    )
    out = _LineOutput([], [], list(result.skipped), [])
    written = _write_scores(result, out_dir)
    out.files.extend(written.values())
    for searched in result.searched:
        nc = written.get(f"{line}_{searched.sensor}")
        if nc is not None:
            searched = searched.model_copy(update={"score_map": f"scores/{nc.name}"})
        out.searched.append(searched)
    for d in result.detections:
        if chips:
            (out_dir / "chips").mkdir(exist_ok=True)
            png = write_chip(
                result.images, d.lon, d.lat, out_dir / "chips" / f"{d.id}.png", title=_chip_title(d)
            )
            out.files.append(png)
            d = d.model_copy(update={"chips": {"chip": f"chips/{png.name}"}})
        out.detections.append(d)
    return out


def _line_in_worker(
    line: str,
    paths: list[str],
    line_wind: Wind | None,
    out_dir: Path,
    chips: bool,
    segmentation: SegmentationSettings | None,
) -> _LineOutput:
    # A worker process opens its own cubes (file handles do not cross processes).
    with threadpool_limits(1):
        cubes = group_cubes([Path(p) for p in paths])[line]
        return _run_line(line, cubes, line_wind, out_dir, chips, None, segmentation)


def _detect_files(
    paths: Sequence[Path],
    out_dir: Path,
    wind: Wind | None,
    weather: Path | None,
    chips: bool,
    on_line: Callable[[str], None] | None,
    on_step: Callable[[str], None] | None,
    jobs: int,
    segmentation: SegmentationSettings | None,
) -> DetectRun:
    groups = group_cubes(paths)
    winds = read_weather(weather) if weather is not None else {}
    for line, cubes in groups.items():  # every cube checked before anything is written
        for sensor, cube in cubes.items():
            check_cube(cube, f"{cube.attrs['source_file']} (line {line}, {sensor.upper()})")
    out_dir.mkdir(parents=True, exist_ok=True)
    run = DetectRun(detections_path=out_dir / "detections.geojson")
    line_winds = {line: wind if wind is not None else winds.get(line) for line in groups}
    outputs: list[_LineOutput] = []
    if jobs > 1 and len(groups) > 1:
        # Lines are independent: one process per line, results kept in input order. Spawned
        # (not forked) workers: the parent holds open HDF5 files and Dask threads.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(groups)), mp_context=context) as pool:
            futures = {
                line: pool.submit(
                    _line_in_worker,
                    line,
                    [str(c.attrs["source_file"]) for c in cubes.values()],
                    line_winds[line],
                    out_dir,
                    chips,
                    segmentation,
                )
                for line, cubes in groups.items()
            }
            by_future = {f: line for line, f in futures.items()}
            for done in as_completed(by_future):
                done.result()  # a worker's error stops the run here, before anything is merged
                if on_line is not None:
                    on_line(by_future[done])
            outputs = [futures[line].result() for line in groups]
    else:
        for line, cubes in groups.items():
            outputs.append(
                _run_line(line, cubes, line_winds[line], out_dir, chips, on_step, segmentation)
            )
            if on_line is not None:
                on_line(line)
    for out in outputs:
        run.lines.extend(out.searched)
        run.detections.extend(out.detections)
        run.skipped.extend(out.skipped)
        run.files.extend(out.files)
    wind_text = (
        "no wind"
        if wind is None and not winds
        else (
            f"wind {wind.speed_m_s:g} m/s from {wind.from_deg:g}°"
            if wind is not None
            else f"wind per line from {Path(weather or '').name}"
        )
    )
    source = f"vigia {__version__} detect; {wind_text}"
    if segmentation is None:
        source += "; methane settings by pixel size (a seed pixel below 5 m)"
    else:
        source += (
            f"; methane threshold for {segmentation.false_plumes_per_100km2:g} false plumes "
            "per 100 km² of white noise"
        )
        if segmentation.min_peak_z is not None:
            source += f", plumes need a pixel ≥ {segmentation.min_peak_z:g}σ"
    if run.skipped:
        source += "; skipped: " + " | ".join(run.skipped)
    write_detections(run.detections_path, run.detections, run.lines, source)
    run.files.append(run.detections_path)
    return run
