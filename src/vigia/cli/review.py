"""``vigia review list|show|confirm|reject|revisit``: the analyst's decisions on sites."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vigia.cli.options import DataDir, console
from vigia.cli.site import show_command
from vigia.errors import VigiaError
from vigia.report.review import evidence_sheet
from vigia.settings import load_settings
from vigia.store.access import principal_of
from vigia.store.audit import append_audit
from vigia.store.db import SessionFactory, open_store, write_session
from vigia.store.ingest import ingest_files
from vigia.store.review import awaiting_review, decide
from vigia.store.sites import get_site, list_sites

__all__ = ["app"]

app = typer.Typer(
    help="Analyst review: nothing is released without a confirm.", no_args_is_help=True
)

Reason = Annotated[str, typer.Option("--reason", help="Why (recorded with the decision).")]
Analyst = Annotated[
    str | None, typer.Option("--analyst", help="Who decides (default: the login name).")
]


@app.command("list")
def list_command(data_dir: DataDir = None) -> None:
    """List the sites awaiting a decision, most confident first."""
    sites = awaiting_review(list_sites(open_store(load_settings(data_dir))))
    sites.sort(key=lambda s: (-s.confidence, s.id))
    t = Table(title=f"{len(sites)} sites awaiting review")
    for col in ("id", "state", "class", "confidence", "why"):
        t.add_column(col)
    for s in sites:
        t.add_row(s.id, s.state, s.site_class, f"{s.confidence:.2f}", "; ".join(s.reasons[:3]))
    console.print(t)


@app.command("show")
def review_show_command(
    site_id: Annotated[str, typer.Argument(help="Site id.")],
    data_dir: DataDir = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Evidence sheet PNG (default: SITE.png here).")
    ] = None,
) -> None:
    """Print a site's evidence and write the chips of all its observations as one PNG."""
    factory = open_store(load_settings(data_dir))
    show_command(site_id, data_dir)
    detail = get_site(factory, site_id)
    files = ingest_files(factory)
    panels = []
    for o in detail.observations:
        d = o.detection
        chip = d.properties.get("chips", {}).get("chip")
        source = files.get(d.ingest_id)
        path = Path(source).parent / chip if chip and source else None
        panels.append(
            (
                f"{d.time:%Y-%m-%d %H:%M}Z {d.line_id} {d.sensor} {d.kind} "
                f"{'+'.join(d.properties.get('species', []))} score {d.score:.2f}",
                path,
            )
        )
    s = detail.site
    png = evidence_sheet(
        f"{s.id}: {s.site_class}, confidence {s.confidence:.2f}, {s.state}",
        panels,
        out or Path(f"{site_id}.png"),
        footer="Chips from vigia detect (true colour, score map, thermal); "
        "simulated data where the cubes were simulated",
    )
    console.print(f"Evidence sheet: [bold]{png}[/bold]")


def _decide(
    site_id: str, decision: str, reason: str, analyst: str | None, data_dir: Path | None
) -> None:
    factory = open_store(load_settings(data_dir))
    who = analyst or getpass.getuser()
    try:
        made = decide(factory, site_id, decision, analyst=who, reason=reason)
    except VigiaError as exc:
        _audit(factory, who, decision, site_id, "refused", {"error": type(exc).__name__})
        raise
    steps = [f"{d.action}: {d.from_state} → {d.to_state}" for d in made]
    _audit(factory, who, decision, site_id, "ok", {"reason": reason, "steps": steps})
    for d in made:
        console.print(f"{d.site_id}: {d.action} by {d.actor}: {d.from_state} → {d.to_state}")


def _audit(
    factory: SessionFactory,
    who: str,
    decision: str,
    site_id: str,
    outcome: str,
    detail: dict[str, Any],
) -> None:
    # The decision is recorded by the lifecycle; the hash-chained log records who took it.
    with write_session(factory) as s:
        try:
            p = principal_of(s, who)
            org, role = p.org, p.role
        except VigiaError:  # an analyst named on the command line, not a stored user
            org, role = "-", "analyst"
        append_audit(
            s,
            actor=who,
            org=org,
            role=role,
            action=f"review.{decision}",
            obj=site_id,
            outcome=outcome,
            client="cli",
            detail=detail,
            now=datetime.now(UTC),
        )


@app.command("confirm")
def confirm_command(
    site_id: Annotated[str, typer.Argument(help="Site id.")],
    reason: Reason,
    analyst: Analyst = None,
    data_dir: DataDir = None,
) -> None:
    """Confirm a site: the analyst judges it real and worth releasing."""
    _decide(site_id, "confirm", reason, analyst, data_dir)


@app.command("reject")
def reject_command(
    site_id: Annotated[str, typer.Argument(help="Site id.")],
    reason: Reason,
    analyst: Analyst = None,
    data_dir: DataDir = None,
) -> None:
    """Reject a site: not a lab, or not real."""
    _decide(site_id, "reject", reason, analyst, data_dir)


@app.command("revisit")
def revisit_command(
    site_id: Annotated[str, typer.Argument(help="Site id.")],
    reason: Reason,
    analyst: Analyst = None,
    data_dir: DataDir = None,
) -> None:
    """Ask for another look before deciding (files a revisit request for the planner)."""
    _decide(site_id, "revisit", reason, analyst, data_dir)
