"""``vigia demo``: run the whole loop, as far as it exists, on the built-in scenario."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from vigia.cli.options import DataDir, console, summary_table
from vigia.demo import DemoRun, demo_steps
from vigia.demo_sharing import RELEASE_POLICY, SORTIE_POLICY
from vigia.evaluation.scores import unscored_text
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
    _print_sortie(run)
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
            f"({ev['false_per_100km2']} per 100 km² searched); "
            f"{ev.get('downwind_pieces', 0)} plumes found downwind of a true source in its gas "
            "(not counted as false)"
        )
        unscored = unscored_text(ev)
        if unscored is not None:
            console.print(unscored)
    rv = run.summary.get("review")
    if rv:
        console.print(f"[bold yellow]{rv['policy']}[/bold yellow]")
        made = ", ".join(f"{n} {k}" for k, n in sorted(rv["decisions"].items())) or "none"
        states = ", ".join(f"{n} {k}" for k, n in sorted(rv["states"].items()))
        console.print(f"Demo-policy decisions: {made}; sites now: {states} (vigia site list)")
    rs = run.summary.get("revisit")
    if rs:
        console.print(
            f"Revisit sortie planned over {', '.join(rs['sites'])}: {rs['lines']} "
            f"line{'s' if rs['lines'] != 1 else ''}, "
            f"{rs['km']} km, {rs['hours']} h from the base; a draft that flies once the partner "
            "approves it (exports in plan-revisit/)"
        )
        _print_revisit(rs)
    _print_sharing(run)
    console.print(f"Demo outputs ({len(run.files)} files) in [bold]{run.out_dir}[/bold]")


def _print_revisit(rs: dict[str, Any]) -> None:
    ap = rs.get("approval")
    if ap and ap["decision"] == "approved":
        console.print(
            f"Revisit sortie {ap['id']} submitted to {ap['partner']}: {ap['decision']} "
            f"({ap['reason']}); approved exports in plan-revisit-approved/"
        )
    elif ap:
        console.print(
            f"Revisit sortie {ap['id']} submitted to {ap['partner']}: [bold]{ap['decision']}"
            f"[/bold] ({ap['reason']}); not flown, its sites' revisit requests are open again"
        )
    if "flown" not in rs:
        return
    flown = rs["flown"]
    if flown is None:
        console.print("Revisit not flown: the scenario's window closes before it could take off")
        return
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(flown["detections"].items())) or "nothing"
    console.print(
        f"Revisit flown from {flown['departure'][:16]}Z over {', '.join(flown['lines'])}: "
        f"detected {kinds}"
    )
    for sid, s in flown["sites"].items():
        console.print(f"  {sid}: confidence {s['before']:.2f} → {s['after']:.2f}, now {s['state']}")
    rv = rs.get("review")
    if rv:
        made = ", ".join(f"{n} {k}" for k, n in sorted(rv["decisions"].items())) or "none"
        states = ", ".join(f"{n} {k}" for k, n in sorted(rv["states"].items()))
        console.print(f"Demo-policy decisions after the revisit: {made}; sites now: {states}")


def _print_sortie(run: DemoRun) -> None:
    sh = run.sharing
    if sh.sortie:
        console.print(f"[bold yellow]{SORTIE_POLICY}[/bold yellow]")
        console.print(
            f"Sortie {sh.sortie['id']} submitted to {sh.sortie['partner']}: "
            f"{sh.sortie['decision']} ({sh.sortie['reason']}); approved exports in plan-approved/"
        )


def _print_sharing(run: DemoRun) -> None:
    sh = run.sharing
    if not sh.metrics:
        return
    console.print(f"[bold yellow]{RELEASE_POLICY}[/bold yellow]")
    for r in sh.releases:
        console.print(
            f"Release {r['id']} to {' + '.join(r['to'])} under {r['tlp']}: {', '.join(r['sites'])}"
        )
    if not sh.releases:
        console.print("No confirmed site: nothing released.")
    for o in sh.outcomes:
        what = ", ".join(f"{q['amount']:g} {q['unit']} {q['item']}" for q in o["quantities"])
        console.print(
            f"[bold yellow]SIMULATED[/bold yellow] outcome at {o['site']}: {o['outcome']}"
            + (f" ({what})" if what else "")
            + f"; truth there: {o['truth'] or 'nothing'}"
        )
    console.print("Agency metrics (demo clock; partner steps simulated):")
    console.print(sh.metrics, markup=False, highlight=False)
    cal = sh.calibration
    console.print(
        f"Calibration on partner outcomes ({cal['source']}): {cal['labelled']} labelled of "
        f"{cal['outcomes']} outcomes"
        + (
            f"; next-outcome Brier raw {cal['raw']['brier']:.3f} → calibrated "
            f"{cal['calibrated']['brier']:.3f} over {cal['raw']['n']} predictions"
            if cal.get("raw", {}).get("n")
            else "; too few yet to score predictions of the next outcomes (a season of "
            "releases is scored by python bench/calibration.py)"
        )
    )
    console.print(sh.audit)
