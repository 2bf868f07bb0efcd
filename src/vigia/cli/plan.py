"""``vigia plan``: plan sorties over areas of interest or a built-in scenario."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from vigia.cli.options import DataDir, console, summary_table
from vigia.errors import InputError
from vigia.plan.planner import flight_params, plan_areas, plan_revisit_sortie
from vigia.platform import load_platform
from vigia.report.plan import write_plan
from vigia.settings import load_settings
from vigia.store.db import open_store
from vigia.store.records import StoredRevisit
from vigia.store.sites import list_open_revisits, set_revisit_status
from vigia.world.aoi import read_areas, read_zones
from vigia.world.scenario import load_scenario

__all__ = ["parse_radii", "plan_command"]


def parse_radii(text: str) -> dict[str, float]:
    """Parse ``major=9260,medium=5556`` into radii in metres by airport size class."""
    out: dict[str, float] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = float(value) if sep else math.nan
        except ValueError:
            out[key.strip()] = math.nan
        if not math.isfinite(out[key.strip()]):
            raise InputError(f"--airport-radii: expected SIZE=METRES, got {item!r}")
    return out


def plan_command(
    aoi: Annotated[
        Path | None,
        typer.Argument(
            help="GeoJSON of areas of interest (Polygon/MultiPolygon, lon/lat).", dir_okay=False
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write the plan.")] = Path(
        "plan"
    ),
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Plan a built-in scenario instead.")
    ] = None,
    no_fly: Annotated[
        list[Path] | None, typer.Option("--no-fly", help="GeoJSON of no-fly zones (repeatable).")
    ] = None,
    swath_m: Annotated[
        float | None, typer.Option("--swath-m", help="Swath width (default: from the sensors).")
    ] = None,
    turn_radius_m: Annotated[
        float | None,
        typer.Option("--turn-radius-m", help="Minimum turn radius (default: from the platform)."),
    ] = None,
    sidelap: Annotated[float, typer.Option(help="Fraction of swath shared by lines.")] = 0.1,
    altitude_m: Annotated[
        float | None,
        typer.Option(
            "--altitude-m",
            help="Height above ground (default: the platform's; its revisit altitude with "
            "--revisits).",
        ),
    ] = None,
    platform: Annotated[str, typer.Option(help="Platform profile.")] = "mq9",
    sensors: Annotated[
        str | None, typer.Option(help="Comma-separated sensors flown (default: all).")
    ] = None,
    base: Annotated[
        str | None, typer.Option(help="ICAO code of the base airport (scenario: its base).")
    ] = None,
    partner: Annotated[str, typer.Option(help="Partner country, ISO 3166-1 alpha-2.")] = "MX",
    airports: Annotated[
        bool, typer.Option(help="Avoid airport protection zones (airportsdata).")
    ] = True,
    airport_radii: Annotated[
        str | None,
        typer.Option(
            "--airport-radii",
            help="Airport protection radii (m) by size, e.g. major=9260,medium=5556,small=2000.",
        ),
    ] = None,
    endurance_h: Annotated[
        float | None, typer.Option("--endurance-h", help="Flight time per sortie before reserve.")
    ] = None,
    margin_m: Annotated[
        float, typer.Option("--margin-m", help="Clearance from restricted airspace.")
    ] = 100.0,
    fly_over_holes: Annotated[
        bool, typer.Option(help="Allow flying over holes of areas (default: avoid them).")
    ] = False,
    revisits: Annotated[
        bool,
        typer.Option(
            "--revisits",
            help="Plan a revisit sortie over the store's open revisit requests (with "
            "--scenario: its base, exclusions and window).",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Plan surveillance sorties: coverage lines, flyable routes, exports and a map."""
    if revisits:
        if aoi is not None:
            raise InputError("--revisits plans the store's revisit requests: give no AOI file")
    elif (aoi is None) == (scenario is None):
        raise InputError("give either an AOI file or --scenario NAME (not both)")
    plat = load_platform(platform)
    if revisits and altitude_m is None:
        altitude_m = plat.revisit_altitude_m  # finer pixels over the few places revisited
    params = flight_params(
        plat,
        sensors.split(",") if sensors else None,
        altitude_m,
        swath_m=swath_m,
        turn_radius_m=turn_radius_m,
        sidelap=sidelap,
        endurance_h=endurance_h,
        margin_m=margin_m,
    )
    zones = [z for p in (no_fly or []) for z in read_zones(p)]
    radii = parse_radii(airport_radii) if airport_radii else None
    requests: list[StoredRevisit] = []
    factory = None
    if revisits:
        factory = open_store(load_settings(data_dir))
        requests = list_open_revisits(factory)
        if not requests:
            raise InputError("the store has no open revisit request: nothing to plan")
    with console.status("Planning sorties…"):
        if revisits:
            sc = load_scenario(scenario) if scenario is not None else None
            mission = plan_revisit_sortie(
                [(r.site_id, r.lon, r.lat) for r in requests],
                params,
                partner=sc.partner if sc is not None else partner.upper(),
                base_icao=base or (sc.base_icao if sc is not None else None),
                exclusions=[*(sc.exclusions if sc is not None else []), *zones],
                airports=airports,
                airport_radii=radii,
                holes_restricted=not fly_over_holes,
            )
        elif scenario is not None:
            sc = load_scenario(scenario)
            mission = plan_areas(
                sc.name,
                sc.partner,
                sc.areas,
                params,
                base_icao=base or sc.base_icao,
                exclusions=[*sc.exclusions, *zones],
                airports=airports,
                airport_radii=radii,
                window=(sc.window_start, sc.window_end),
                revisit_hours=sc.revisit_hours,
                holes_restricted=not fly_over_holes,
            )
        else:
            assert aoi is not None
            mission = plan_areas(
                aoi.stem,
                partner.upper(),
                read_areas(aoi),
                params,
                base_icao=base,
                exclusions=zones,
                airports=airports,
                airport_radii=radii,
                holes_restricted=not fly_over_holes,
            )
        paths, summary = write_plan(mission, out_dir)
    if factory is not None:
        for r in requests:
            set_revisit_status(factory, r.id, "planned")
        console.print(
            f"{len(requests)} revisit requests planned: {', '.join(r.site_id for r in requests)}"
        )
    console.print(summary_table(summary))
    cov = ", ".join(f"{a['area']} {100 * a['covered']:.2f} %" for a in summary["areas"])
    console.print(f"Imaged: {cov}")
    console.print(f"Wrote {len(paths)} files to [bold]{out_dir}[/bold]")
