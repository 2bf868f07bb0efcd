"""``vigia scenario list|show``: the built-in scenarios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vigia.cli.options import console
from vigia.plan.planner import gather_restrictions
from vigia.report.maps import draw_scenario
from vigia.world.airspace import airport
from vigia.world.scenario import list_scenarios, load_scenario

__all__ = ["app"]

app = typer.Typer(
    help="Built-in scenarios: areas, base, exclusions, time window.", no_args_is_help=True
)


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the built-in scenarios."""
    scenarios = [load_scenario(n) for n in list_scenarios()]
    if as_json:
        rows = [{"name": s.name, "title": s.title, "areas": s.area_names} for s in scenarios]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    t = Table(title="Scenarios")
    for col in ("name", "title", "base", "areas", "window (UTC)"):
        t.add_column(col)
    for s in scenarios:
        t.add_row(
            s.name,
            s.title,
            s.base_icao,
            str(len(s.areas)),
            f"{s.window_start:%Y-%m-%d %H:%M} → {s.window_end:%Y-%m-%d %H:%M}",
        )
    console.print(t)


@app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Scenario name.")],
    map_png: Annotated[
        Path | None, typer.Option("--map", help="Draw a map of the scenario to this PNG.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a scenario: areas, base, partner exclusions, window; optionally a map."""
    s = load_scenario(name)
    if as_json:
        typer.echo(json.dumps(s.to_dict(), indent=2, ensure_ascii=False))
    else:
        ap = airport(s.base_icao)
        console.print(f"[bold]{s.name}[/bold]: {s.title}")
        console.print(s.description)
        console.print(
            f"Partner: {s.partner}   Base: {ap.icao} {ap.name} ({ap.lon:.4f}, {ap.lat:.4f})"
        )
        console.print(
            f"Window: {s.window_start:%Y-%m-%dT%H:%MZ} → {s.window_end:%Y-%m-%dT%H:%MZ}, "
            f"revisit every {s.revisit_hours:g} h"
        )
        t = Table(title="Areas of interest")
        for col in ("area", "holes", "lon", "lat"):
            t.add_column(col)
        for n, p in s.areas:
            c = p.centroid
            t.add_row(n, str(len(p.interiors)), f"{c.x:.4f}", f"{c.y:.4f}")
        console.print(t)
        for z in s.exclusions:
            console.print(f"Exclusion ({z.kind}): {z.name}")
    if map_png is not None:
        ap = airport(s.base_icao)
        zones = gather_restrictions(
            s.areas, base=(ap.icao, ap.lon, ap.lat), exclusions=s.exclusions
        )
        draw_scenario(s, zones, map_png)
        console.print(f"Map written to [bold]{map_png}[/bold]")
