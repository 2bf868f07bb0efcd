"""``vigia demo``: run the whole loop, as far as it exists, on the built-in scenario."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from vigia.cli.options import DataDir, console, summary_table
from vigia.demo import DemoRun, demo_steps
from vigia.settings import load_settings

__all__ = ["demo_command"]


def demo_command(
    data_dir: DataDir = None,
    scenario: Annotated[str, typer.Option(help="Built-in scenario.")] = "sinaloa",
) -> None:
    """Run every stage that exists on a built-in scenario; outputs go to DATA_DIR/demo."""
    settings = load_settings(data_dir)
    run = DemoRun(out_dir=settings.data_dir / "demo", scenario_name=scenario, settings=settings)
    steps = demo_steps()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("Vigía demo", total=len(steps))
        for label, step in steps:
            progress.update(task, description=label)
            run.on_detail = lambda s, label=label: progress.update(
                task, description=f"{label} — {s}"
            )
            step(run)
            progress.advance(task)
    if run.summary:
        console.print(summary_table(run.summary))
        cov = ", ".join(f"{a['area']} {100 * a['covered']:.2f} %" for a in run.summary["areas"])
        console.print(f"Imaged: {cov}")
    det = run.summary.get("detections")
    if det:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(det["by_kind"].items())) or "nothing"
        console.print(f"Detected on the lines flown: {kinds}")
    ev = run.summary.get("evaluation")
    if ev:
        by_kind = ", ".join(
            f"{k} {v['detected']}/{v['expected']}" for k, v in sorted(ev["by_kind"].items())
        )
        console.print(
            f"Against the simulated truth (modelled world): found {by_kind}; "
            f"{ev['false_detections']} false detections "
            f"({ev['false_per_100km2']} per 100 km² searched)"
        )
    rv = run.summary.get("review")
    if rv:
        console.print(f"[bold yellow]{rv['policy']}[/bold yellow]")
        made = ", ".join(f"{n} {k}" for k, n in sorted(rv["decisions"].items())) or "none"
        states = ", ".join(f"{n} {k}" for k, n in sorted(rv["states"].items()))
        console.print(f"Demo-policy decisions: {made}; sites now: {states} (vigia site list)")
    console.print(f"Demo outputs ({len(run.files)} files) in [bold]{run.out_dir}[/bold]")
