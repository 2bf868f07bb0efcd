"""``vigia db upgrade|current``: the store's schema revision."""

from __future__ import annotations

from typing import Annotated

import typer

from vigia.cli.options import DataDir
from vigia.settings import load_settings
from vigia.store.db import database_url, describe_url, make_engine, session_factory
from vigia.store.releases import refresh_partner_features
from vigia.store.schema import current_revision, head_revision, upgrade

__all__ = ["app"]

app = typer.Typer(
    help="The store (VIGIA_DATABASE_URL, default SQLite in the data dir): schema revisions.",
    no_args_is_help=True,
)


def _label(revision: str | None, head: str) -> str:
    if revision is None:
        return "none (empty database)"
    return f"{revision} (head)" if revision == head else f"{revision} (head is {head})"


@app.command("upgrade")
def upgrade_command(
    data_dir: DataDir = None,
    revision: Annotated[str, typer.Option("--revision", help="Target revision.")] = "head",
) -> None:
    """Apply the schema migrations and print the revision the database is at.

    At the head revision, released sites whose partner features are stale (a database
    upgraded to 0006, or sites changed since their release) get them written again, so
    partner pages are fast.
    """
    engine = make_engine(database_url(load_settings(data_dir)))
    head = head_revision()
    stored = 0
    try:
        before = current_revision(engine)
        after = upgrade(engine, revision)
        if after == head:
            stored = refresh_partner_features(session_factory(engine))
    finally:
        engine.dispose()
    typer.echo(f"{describe_url(engine.url)}")
    typer.echo(f"revision {_label(after, head)}; was {_label(before, head)}")
    if stored:
        typer.echo(f"wrote the partner features of {stored} released site(s)")


@app.command("current")
def current_command(data_dir: DataDir = None) -> None:
    """Print the database's schema revision."""
    engine = make_engine(database_url(load_settings(data_dir)))
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    typer.echo(f"{describe_url(engine.url)}")
    typer.echo(f"revision {_label(revision, head_revision())}")
