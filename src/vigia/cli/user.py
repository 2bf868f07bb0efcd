"""``vigia user add|list``: people and their roles in one organisation."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from vigia.cli.audit import audited, print_listing, store
from vigia.cli.options import DataDir, console
from vigia.store.access import Principal, add_user, list_users, set_user_active
from vigia.store.db import read_session
from vigia.store.models import USER_ROLES

__all__ = ["app"]

app = typer.Typer(help="Users: one organisation, one role each.", no_args_is_help=True)


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Unique user name.")],
    org: Annotated[str, typer.Option("--org", help="The user's organisation.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(USER_ROLES)}.")],
    data_dir: DataDir = None,
) -> None:
    """Add a user (audited; the actor is the operating-system user)."""
    audited(
        store(data_dir),
        action="user.add",
        obj=name,
        user=None,
        change=lambda s, _p, now: (
            add_user(s, name, org, role, now=now),
            name,
            {"org": org, "role": role},
        ),
    )
    console.print(f"user {name} added to {org} as {role}")


def _set_active(name: str, active: bool, data_dir: Path | None) -> None:
    def change(s: Session, _p: Principal, _now: datetime) -> tuple[None, str, dict[str, bool]]:
        set_user_active(s, name, active)
        return None, name, {"active": active}

    action = "user.enable" if active else "user.disable"
    audited(store(data_dir), action=action, obj=name, user=None, change=change)
    console.print(f"user {name} {'enabled' if active else 'disabled'}")


@app.command("disable")
def disable_command(
    name: Annotated[str, typer.Argument(help="The user.")], data_dir: DataDir = None
) -> None:
    """Disable a user: their tokens are refused (reason ``disabled``) until enabled again."""
    _set_active(name, False, data_dir)


@app.command("enable")
def enable_command(
    name: Annotated[str, typer.Argument(help="The user.")], data_dir: DataDir = None
) -> None:
    """Enable a disabled user again."""
    _set_active(name, True, data_dir)


@app.command("list")
def list_command(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List users: name, organisation, role."""
    with read_session(store(data_dir)) as s:
        users = list_users(s)
    print_listing(
        users,
        as_json=as_json,
        title=f"{len(users)} users",
        columns=("name", "org", "role", "active"),
        row=lambda u: (u["name"], u["org"], u["role"], "yes" if u["active"] else "no"),
    )
