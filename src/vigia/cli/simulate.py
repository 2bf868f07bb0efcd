"""``vigia simulate``: fly a scenario's planned lines over its simulated world."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from vigia.cli.options import console
from vigia.plan.planner import flight_params, plan_areas
from vigia.platform import load_platform
from vigia.report.sensing import write_sensing_figures
from vigia.sense.simulate import simulate_mission
from vigia.world.scenario import load_scenario
from vigia.world.world import build_world

__all__ = ["simulate_command"]


def simulate_command(
    scenario: Annotated[str, typer.Option(help="Built-in scenario.")] = "sinaloa",
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write.")] = Path("sim"),
    max_lines: Annotated[
        int | None, typer.Option("--max-lines", help="Fly only the first N lines.")
    ] = None,
    max_frames: Annotated[
        int | None, typer.Option("--max-frames", help="Render only the first N frames per line.")
    ] = None,
    crosstrack: Annotated[
        int | None, typer.Option("--crosstrack", help="Render only N central columns.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the world and the instruments.")] = 0,
    passes: Annotated[
        int,
        typer.Option(
            "--passes",
            min=1,
            help="Fly the lines this many times, the scenario's revisit interval apart.",
        ),
    ] = 1,
    compress: Annotated[
        int | None,
        typer.Option(
            "--compress",
            min=1,
            max=9,
            help="gzip level of the cubes (default: uncompressed, as EMIT L1B; 1 stores ~60 %).",
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            min=1,
            help="Processes rendering at once, one instrument of one line each (same files).",
        ),
    ] = 1,
) -> None:
    """Render the planned imaging lines (VSWIR and LWIR) with ground truth beside them."""
    sc = load_scenario(scenario)
    platform = load_platform("mq9")
    with console.status("Planning sorties…"):
        mission = plan_areas(
            sc.name,
            sc.partner,
            sc.areas,
            flight_params(platform),
            base_icao=sc.base_icao,
            exclusions=sc.exclusions,
        )
    world = build_world(sc, seed=seed)
    n = len(mission.lines) if max_lines is None else min(max_lines, len(mission.lines))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} lines"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("Rendering lines", total=n * passes)
        result = simulate_mission(
            world,
            mission,
            platform,
            out_dir,
            max_lines=n,
            max_frames=max_frames,
            crosstrack_pixels=crosstrack,
            seed=seed,
            on_line=lambda _: progress.advance(task),
            compression_level=compress,
            passes=passes,
            jobs=jobs,
        )
    with console.status("Drawing the sensing figures…"):
        figures = write_sensing_figures(world, platform, out_dir / "figures", seed=seed)
    console.print(
        f"Wrote {len(result.lines)} lines, the truth and {len(figures)} figures "
        f"to [bold]{out_dir}[/bold]"
    )
