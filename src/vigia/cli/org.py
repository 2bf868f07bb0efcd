"""``vigia org add|list``: the agency and the partner authorities (tenants)."""

from __future__ import annotations

from typing import Annotated

import typer

from vigia.cli.audit import audited, print_listing, store
from vigia.cli.options import DataDir, console
from vigia.store.access import add_org, list_orgs
from vigia.store.db import read_session

__all__ = ["app"]

app = typer.Typer(help="Organisations: the agency and partner authorities.", no_args_is_help=True)


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Unique name (e.g. FGR-Sinaloa).")],
    kind: Annotated[str, typer.Option("--kind", help="agency or partner.")],
    country: Annotated[
        str | None, typer.Option("--country", help="ISO 3166-1 alpha-3 code (e.g. MEX).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Add an organisation (audited; the actor is the operating-system user)."""
    audited(
        store(data_dir),
        action="org.add",
        obj=name,
        user=None,
        change=lambda s, _p, now: (
            add_org(s, name, kind, country=country, now=now),
            name,
            {"kind": kind, "country": country},
        ),
    )
    console.print(f"organisation {name} ({kind}) added")


@app.command("list")
def list_command(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List organisations: name, kind, country."""
    with read_session(store(data_dir)) as s:
        orgs = list_orgs(s)
    print_listing(
        orgs,
        as_json=as_json,
        title=f"{len(orgs)} organisations",
        columns=("name", "kind", "country"),
        row=lambda o: (o["name"], o["kind"], o["country"] or ""),
    )
