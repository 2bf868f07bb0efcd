"""``vigia audit verify|head|list``: the hash-chained audit log; and how commands write to it.

Every command that changes something runs through :func:`audited`: the change and its audit
entry (client ``cli``) commit in one transaction; a refused command leaves the database as it
was and writes a ``refused`` entry of its own. The actor is the stored user a command acts as
(``--as USER``), or ``os:LOGIN`` for the administrator's bootstrap commands (``org add``,
``user add``, ``token issue``), which run with direct access to the database.
"""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from vigia.cli.options import DataDir, console
from vigia.errors import InputError, StoreError, VigiaError
from vigia.settings import load_settings
from vigia.store.access import Principal, principal_of
from vigia.store.audit import append_audit, audit_head, list_audit, verify_audit
from vigia.store.db import SessionFactory, open_store, read_session, write_session

__all__ = [
    "AsUser",
    "acting_principal",
    "app",
    "audited",
    "local_operator",
    "os_actor",
    "print_listing",
    "store",
]

T = TypeVar("T")

app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

AsUser = Annotated[
    str,
    typer.Option("--as", help="Act as this stored user (their organisation and role apply)."),
]


def store(data_dir: Any) -> SessionFactory:
    """Open the store of the data directory (migrated to the code's revision)."""
    return open_store(load_settings(data_dir))


def os_actor() -> str:
    """Return the actor recorded for commands run by the operating-system user."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (containers without a passwd entry)
        return "os:unknown"


def local_operator() -> Principal:
    """Return the principal of an operator who reads the store directly (sees all)."""
    return Principal.local_operator(os_actor())


def acting_principal(s: Session, user: str | None) -> Principal:
    """Return the principal a command acts as.

    Parameters
    ----------
    s : Session
        An open session of the store.
    user : str or None
        The stored user the command acts as; ``None`` for the operating-system user.

    Returns
    -------
    Principal
        The stored user's principal, or :func:`local_operator` when ``user`` is ``None``.
    """
    return principal_of(s, user) if user is not None else local_operator()


def print_listing(
    items: Sequence[T],
    *,
    as_json: bool,
    title: str,
    columns: Sequence[str],
    row: Callable[[T], Sequence[str]],
    to_json: Callable[[T], Any] | None = None,
    ensure_ascii: bool = True,
) -> None:
    """Print what a ``list`` command found: as indented JSON, or as a table.

    Parameters
    ----------
    items : sequence
        What was found.
    as_json : bool
        Print JSON (a list, one value per item) instead of a table.
    title : str
        The table's title.
    columns : sequence of str
        The table's column headers.
    row : callable
        ``row(item)`` gives an item's cells, one per column.
    to_json : callable, optional
        ``to_json(item)`` gives an item's JSON value; by default the item itself.
    ensure_ascii : bool, default True
        Escape non-ASCII characters in the JSON (as :func:`json.dumps` does).
    """
    if as_json:
        values = [to_json(i) for i in items] if to_json is not None else list(items)
        typer.echo(json.dumps(values, indent=1, ensure_ascii=ensure_ascii))
        return
    t = Table(title=title)
    for col in columns:
        t.add_column(col)
    for item in items:
        t.add_row(*row(item))
    console.print(t)


def _append(
    s: Session,
    who: Principal,
    *,
    action: str,
    obj: str,
    outcome: str,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    append_audit(
        s,
        actor=who.user,
        org=who.org,
        role=who.role,
        action=action,
        obj=obj,
        outcome=outcome,
        client="cli",
        detail=detail,
        now=now,
    )


def audited(
    factory: SessionFactory,
    *,
    action: str,
    obj: str,
    user: str | None,
    change: Callable[[Session, Principal, datetime], tuple[T, str, dict[str, Any]]],
) -> T:
    """Run a change and record it in the audit log, in one transaction.

    Parameters
    ----------
    factory : SessionFactory
        The store.
    action : str
        What is done (``release.create``).
    obj : str
        What it is done to, as far as known before (``-`` when the change creates it).
    user : str or None
        The stored user the command acts as; ``None`` for the operating-system user.
    change : callable
        ``change(session, principal, now) -> (result, object, detail)``; the principal is
        :func:`local_operator` when ``user`` is ``None``.

    Returns
    -------
    object
        What ``change`` returned first.

    Raises
    ------
    VigiaError
        Whatever the change raised, after a ``refused`` entry was written.
    """
    now = datetime.now(UTC)
    try:
        with write_session(factory) as s:
            p = acting_principal(s, user)
            result, target, detail = change(s, p, now)
            _append(s, p, action=action, obj=target, outcome="ok", detail=detail, now=now)
        return result
    except StoreError:
        raise
    except VigiaError as exc:
        with write_session(factory) as s:
            known: Principal | None = local_operator()
            if user is not None:
                try:
                    known = principal_of(s, user)
                except VigiaError:
                    known = None
            who = known or Principal(0, os_actor(), 0, "-", "-", "-")
            _append(
                s,
                who,
                action=action,
                obj=obj,
                outcome="refused",
                detail={
                    "error": type(exc).__name__,
                    "message": " ".join(str(exc).split())[:500],
                    **({"as": user} if user is not None and known is None else {}),
                },
                now=now,
            )
        raise


def _parse_head(text: str) -> tuple[int, str]:
    m = re.fullmatch(r"(\d+):([0-9a-f]{64})", text.strip())
    if m is None:
        raise InputError(f"--head {text!r}: expected N:HASH as `vigia audit head` prints it")
    return int(m.group(1)), m.group(2)


@app.command("verify")
def verify_command(
    data_dir: DataDir = None,
    head: Annotated[
        str | None,
        typer.Option("--head", help="A head kept earlier (N:HASH): also detects a cut tail."),
    ] = None,
) -> None:
    """Recompute the hash chain: exit 0 if intact, 1 naming the first bad entry."""
    with read_session(store(data_dir)) as s:
        v = verify_audit(s, head=None if head is None else _parse_head(head))
    if v.ok:
        typer.echo(f"audit chain intact: {v.entries} entries")
        return
    typer.echo(f"audit chain BROKEN at entry {v.first_bad}: {v.problem}", err=True)
    raise typer.Exit(1)


@app.command("head")
def head_command(data_dir: DataDir = None) -> None:
    """Print the chain's head as N:HASH; keep it elsewhere to detect a cut tail later."""
    with read_session(store(data_dir)) as s:
        n, digest = audit_head(s)
    typer.echo(f"{n}:{digest}")


@app.command("list")
def list_command(
    data_dir: DataDir = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the newest audit entries."""
    with read_session(store(data_dir)) as s:
        rows = list_audit(s, limit=limit)
    print_listing(
        rows,
        as_json=as_json,
        title=f"last {len(rows)} audit entries",
        columns=("id", "time", "actor", "org", "role", "action", "object", "client", "outcome"),
        row=lambda r: (
            str(r["id"]),
            r["time"].strftime("%Y-%m-%d %H:%M:%SZ"),
            r["actor"],
            r["org"],
            r["role"],
            r["action"],
            r["object"],
            r["client"] or "",
            r["outcome"],
        ),
        to_json=lambda r: {**r, "time": r["time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
        ensure_ascii=False,
    )
