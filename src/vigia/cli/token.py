"""``vigia token issue|revoke``: API tokens (random, stored hashed, expiring, revocable)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from vigia.cli.audit import audited, store
from vigia.cli.options import DataDir, console, err_console
from vigia.errors import InputError
from vigia.store.access import issue_token, list_tokens, parse_duration, revoke_tokens
from vigia.store.db import read_session

__all__ = ["app"]

app = typer.Typer(help="API tokens for the service.", no_args_is_help=True)


@app.command("issue")
def issue_command(
    user: Annotated[str, typer.Argument(help="The user the token stands for.")],
    expires: Annotated[
        str, typer.Option("--expires", help="Lifetime: a number and d, h or m (30d, 12h, 90m).")
    ] = "30d",
    data_dir: DataDir = None,
) -> None:
    """Issue a token and print only the token (it is shown once; only its hash is kept)."""
    lifetime = parse_duration(expires)
    token = audited(
        store(data_dir),
        action="token.issue",
        obj=user,
        user=None,
        change=lambda s, _p, now: (
            issue_token(s, user, expires=lifetime, now=now),
            user,
            {"expires_in_s": int(lifetime.total_seconds())},
        ),
    )
    typer.echo(token)


@app.command("revoke")
def revoke_command(
    token: Annotated[str | None, typer.Argument(help="The token to revoke.")] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Revoke every live token of this user.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Revoke a token, or all tokens of a user."""
    if token is None and user is None:
        raise InputError("token revoke: give a TOKEN or --user USER")
    target = f"token {token[:12]}…" if token is not None else f"user {user}"
    n = audited(
        store(data_dir),
        action="token.revoke",
        obj=target,
        user=None,
        change=lambda s, _p, now: (
            revoke_tokens(s, token=token, user=user, now=now),
            target,
            {"user": user, "token_prefix": None if token is None else token[:12]},
        ),
    )
    err_console.print(f"{n} token(s) revoked")


@app.command("list")
def list_command(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List tokens by their prefix (the tokens themselves are not stored)."""
    with read_session(store(data_dir)) as s:
        rows = list_tokens(s, user)
    for r in rows:
        for k in ("created_at", "expires_at", "revoked_at", "last_used_at"):
            r[k] = None if r[k] is None else r[k].strftime("%Y-%m-%dT%H:%M:%SZ")
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    t = Table(title=f"{len(rows)} tokens")
    for col in ("id", "user", "prefix", "created", "expires", "revoked", "last used"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["user"],
            r["prefix"] + "…",
            r["created_at"],
            r["expires_at"] or "never",
            r["revoked_at"] or "",
            r["last_used_at"] or "",
        )
    console.print(t)
