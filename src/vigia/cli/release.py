"""``vigia release create|list|withdraw|export``: confirmed sites released to partners."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from vigia.cli.audit import AsUser, acting_principal, audited, print_listing, store
from vigia.cli.options import DataDir, console
from vigia.errors import ExportError
from vigia.store.access import Principal
from vigia.store.db import read_session
from vigia.store.models import TLP_MARKINGS
from vigia.store.releases import (
    amend_release,
    list_releases,
    release_sites,
    site_reports,
    withdraw_release,
)

__all__ = ["app"]

app = typer.Typer(
    help="Releases: confirmed sites sent to partner authorities under a TLP marking.",
    no_args_is_help=True,
)


@app.command("create")
def create_command(
    sites: Annotated[list[str], typer.Argument(help="Confirmed site ids.")],
    to: Annotated[list[str], typer.Option("--to", help="Partner organisation (repeatable).")],
    as_user: AsUser,
    tlp: Annotated[str, typer.Option("--tlp", help=f"One of {', '.join(TLP_MARKINGS)}.")] = (
        "TLP:AMBER"
    ),
    caveat: Annotated[
        list[str] | None, typer.Option("--caveat", help="Handling caveat (repeatable).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Release confirmed sites to partners (a release officer who did not confirm them)."""
    caveats = list(caveat or [])
    rid = audited(
        store(data_dir),
        action="release.create",
        obj=",".join(sites)[:200],
        user=as_user,
        change=lambda s, p, now: (
            rid := release_sites(s, p, sites, to, tlp=tlp, caveats=caveats, now=now),
            rid,
            {"sites": sites, "to": to, "tlp": tlp, "caveats": caveats},
        ),
    )
    typer.echo(rid)


@app.command("list")
def list_command(
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="See the releases as this user does (default: all of them)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List releases: marking, sites, recipients, acknowledgement, withdrawal."""
    with read_session(store(data_dir)) as s:
        views = list_releases(s, acting_principal(s, as_user))
    print_listing(
        views,
        as_json=as_json,
        title=f"{len(views)} releases",
        columns=("id", "tlp", "sites", "to", "acknowledged", "created", "status"),
        row=lambda v: (
            v.id,
            v.tlp,
            ", ".join(v.site_ids),
            ", ".join(f"{o}{' ✓' if at else ''}" for o, at in v.acknowledgements.items()),
            "yes" if v.acknowledged else "no",
            v.created_at.strftime("%Y-%m-%d %H:%MZ"),
            f"withdrawn: {v.withdraw_reason}" if v.withdrawn else f"v{v.version}",
        ),
        to_json=lambda v: v.to_dict(),
        ensure_ascii=False,
    )


@app.command("amend")
def amend_command(
    release_id: Annotated[str, typer.Argument(help="Release id (REL-0001).")],
    as_user: AsUser,
    tlp: Annotated[str | None, typer.Option("--tlp", help="New TLP label.")] = None,
    caveat: Annotated[
        list[str] | None,
        typer.Option("--caveat", help="New caveats, replacing the old ones (repeatable)."),
    ] = None,
    add_site: Annotated[
        list[str] | None, typer.Option("--add-site", help="Confirmed site to add (repeatable).")
    ] = None,
    add_org: Annotated[
        list[str] | None, typer.Option("--add-org", help="Partner to add (repeatable).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Amend a release: its marking, caveats, sites or recipients (a release officer)."""
    sites, orgs = list(add_site or []), list(add_org or [])

    def change(s: Session, p: Principal, now: datetime) -> tuple[None, str, dict[str, Any]]:
        amend_release(
            s, p, release_id, tlp=tlp, caveats=caveat, add_sites=sites, add_orgs=orgs, now=now
        )
        detail = {"tlp": tlp, "caveats": caveat, "add_sites": sites, "add_orgs": orgs}
        return None, release_id, detail

    audited(store(data_dir), action="release.amend", obj=release_id, user=as_user, change=change)
    console.print(f"{release_id} amended")


@app.command("withdraw")
def withdraw_command(
    release_id: Annotated[str, typer.Argument(help="Release id (REL-0001).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (the partners see it).")],
    as_user: AsUser,
    data_dir: DataDir = None,
) -> None:
    """Withdraw a release: its partners see it marked withdrawn, with the reason."""

    def change(s: Session, p: Principal, now: datetime) -> tuple[None, str, dict[str, str]]:
        withdraw_release(s, p, release_id, reason=reason, now=now)
        return None, release_id, {"reason": reason}

    audited(store(data_dir), action="release.withdraw", obj=release_id, user=as_user, change=change)
    console.print(f"{release_id} withdrawn")


@app.command("export")
def export_command(
    release_id: Annotated[str, typer.Argument(help="Release id (REL-0001).")],
    fmt: Annotated[str, typer.Option("--format", help="geojson, kml, cot, stix or csv.")],
    out: Annotated[Path, typer.Option("--out", help="File to write.", dir_okay=False)],
    as_user: AsUser,
    data_dir: DataDir = None,
) -> None:
    """Export a release's sites as this user may receive them; the marking travels with it."""
    from vigia.share.exports import export

    def change(s: Session, p: Principal, now: datetime) -> tuple[str, str, dict[str, str]]:
        reports = site_reports(s, p, release_id)
        return export(fmt, reports, now), release_id, {"format": fmt, "out": str(out)}

    text = audited(
        store(data_dir), action="release.export", obj=release_id, user=as_user, change=change
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"{out}: cannot write: {exc.strerror or exc}") from None
    console.print(f"{release_id} exported as {fmt}: [bold]{out}[/bold]")
