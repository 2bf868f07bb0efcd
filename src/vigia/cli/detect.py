"""``vigia detect``: find plumes, heat and camouflage in radiance cubes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vigia.cli.options import console, err_console
from vigia.detect.files import detect_files, group_cubes
from vigia.detect.line import wind_at
from vigia.detect.plumes import SegmentationSettings

__all__ = ["detect_command"]


def detect_command(
    cubes: Annotated[
        list[Path],
        typer.Argument(
            help="Radiance cubes: Vigía or EMIT L1B NetCDF, ENVI (AVIRIS-NG, HyTES); "
            "a VSWIR cube, an LWIR cube or both for each line.",
            show_default=False,
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write.")] = Path(
        "detections"
    ),
    wind_speed: Annotated[
        float | None,
        typer.Option("--wind-speed", help="10 m wind speed, m/s, for every line (> 0)."),
    ] = None,
    wind_from: Annotated[
        float | None,
        typer.Option("--wind-from", help="Direction the wind blows from, degrees from north."),
    ] = None,
    weather: Annotated[
        Path | None,
        typer.Option(
            "--weather",
            help="Weather file with the wind at each line (JSON, as vigia simulate writes).",
        ),
    ] = None,
    chips: Annotated[
        bool, typer.Option("--chips/--no-chips", help="Write an image chip per detection.")
    ] = True,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            min=1,
            help="Lines processed at once, one process each.",
        ),
    ] = 1,
    min_peak_z: Annotated[
        float | None,
        typer.Option(
            "--min-peak-z",
            help="Drop methane plumes without a pixel this significant on its own, σ (a "
            "seed). Default: by pixel size, 4.26 below 5 m and none from 5 m (README). "
            "Either option replaces that choice: the other then takes the plain default.",
        ),
    ] = None,
    false_plumes: Annotated[
        float | None,
        typer.Option(
            "--false-plumes-per-100km2",
            help="False methane plumes per 100 km² the detector's threshold allows over white "
            "noise. Default: by pixel size, 4 below 5 m (with the seed) and 1 from 5 m.",
        ),
    ] = None,
) -> None:
    """Detect gas plumes (CH4; LWIR solvents and NH3), heat and camouflage; write GeoJSON."""
    wind = wind_at(wind_speed, wind_from)
    segmentation = None  # chosen per line by its pixel size
    if min_peak_z is not None or false_plumes is not None:
        plain = SegmentationSettings()
        segmentation = SegmentationSettings(
            min_peak_z=min_peak_z,
            false_plumes_per_100km2=(
                plain.false_plumes_per_100km2 if false_plumes is None else false_plumes
            ),
        )
    n_lines = len(group_cubes(cubes))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} lines"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("Detecting", total=n_lines)
        run = detect_files(
            cubes,
            out_dir,
            wind=wind,
            weather=weather,
            chips=chips,
            jobs=jobs,
            segmentation=segmentation,
            on_line=lambda _: progress.advance(task),
            on_step=lambda s: progress.update(task, description=f"Detecting — {s}"),
        )
    table = Table(title=f"Detections ({run.detections_path})")
    for col in ("line", "sensor", "plume", "thermal", "tarp", "clearing"):
        table.add_column(col, justify="left" if col in ("line", "sensor") else "right")
    for ln in run.lines:
        counts = Counter(
            d.kind for d in run.detections if d.line_id == ln.line_id and d.sensor == ln.sensor
        )
        table.add_row(
            ln.line_id,
            ln.sensor,
            *(str(counts.get(k, 0)) for k in ("plume", "thermal", "tarp", "clearing")),
        )
    console.print(table)
    for why in run.skipped:
        err_console.print(f"[yellow]skipped[/yellow] {why}")
    console.print(
        f"{len(run.detections)} detections on {len(run.lines)} cubes; "
        f"wrote {len(run.files)} files to [bold]{out_dir}[/bold]"
    )
