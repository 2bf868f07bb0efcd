"""``vigia outcome report``: what a partner found at a released site."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from vigia.cli.audit import AsUser, audited, store
from vigia.cli.options import DataDir, console
from vigia.errors import InputError
from vigia.share.units import OUTCOMES
from vigia.store.releases import report_outcome

__all__ = ["app", "parse_quantity"]

app = typer.Typer(help="Partner outcomes: what was found at released sites.", no_args_is_help=True)


def parse_quantity(text: str) -> dict[str, Any]:
    """Parse ``powder=12 lb`` into ``{"item": "powder", "amount": 12.0, "unit": "lb"}``.

    Raises
    ------
    InputError
        If the text is not ``ITEM=AMOUNT UNIT``.
    """
    m = re.fullmatch(r"\s*([a-z_]+)\s*=\s*([-+0-9.eE]+)\s*(\S.*?)\s*", text)
    if m is None:
        raise InputError(f"--quantity {text!r}: expected ITEM=AMOUNT UNIT (powder=12 lb)")
    try:
        amount = float(m.group(2))
    except ValueError:
        raise InputError(f"--quantity {text!r}: {m.group(2)!r} is not a number") from None
    return {"item": m.group(1), "amount": amount, "unit": m.group(3)}


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--observed {text!r}: not an ISO 8601 time") from None
    if t.tzinfo is None:
        raise InputError(f"--observed {text!r}: give a time zone (2026-03-01T12:00Z)")
    return t.astimezone(UTC)


@app.command("report")
def report_command(
    site_id: Annotated[str, typer.Argument(help="The released site.")],
    outcome: Annotated[str, typer.Option("--outcome", help=f"One of {', '.join(OUTCOMES)}.")],
    as_user: AsUser,
    quantity: Annotated[
        list[str] | None,
        typer.Option("--quantity", help='Seized item, "ITEM=AMOUNT UNIT" (repeatable).'),
    ] = None,
    text: Annotated[str, typer.Option("--text", help="Free text.")] = "",
    observed: Annotated[
        str | None, typer.Option("--observed", help="When you were there (ISO 8601; now).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Report an outcome for a site released to your organisation (a partner officer)."""
    quantities = [parse_quantity(q) for q in quantity or []]
    seen = _time(observed)
    oid = audited(
        store(data_dir),
        action="outcome.report",
        obj=site_id,
        user=as_user,
        change=lambda s, p, now: (
            report_outcome(
                s,
                p,
                site_id,
                outcome=outcome,
                quantities=quantities,
                text=text,
                observed_at=seen or now,
                now=now,
            ),
            site_id,
            {"outcome": outcome, "quantities": quantities},
        ),
    )
    console.print(f"{site_id}: outcome {outcome} recorded (#{oid})")
