"""``vigia sortie submit|approve|refuse|list|exports``: partner approval of planned sorties."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import shapely.geometry
import typer
from shapely.ops import unary_union
from sqlalchemy.orm import Session

from vigia.cli.audit import AsUser, acting_principal, audited, local_operator, print_listing, store
from vigia.cli.options import DataDir, console
from vigia.errors import FileFormatError, InputError, LifecycleError
from vigia.plan.export import stamp_approval
from vigia.store.access import Principal
from vigia.store.db import read_session
from vigia.store.sorties import (
    approval_of_plan,
    decide_sortie,
    get_sortie,
    list_sorties,
    submit_sortie,
)

__all__ = ["app", "plan_area"]

app = typer.Typer(
    help="Sortie approval: a plan over a partner's territory flies once the partner approves.",
    no_args_is_help=True,
)

Reason = Annotated[str, typer.Option("--reason", help="Why (recorded; required to refuse).")]


def plan_area(plan_dir: Path) -> tuple[str, dict[str, Any]]:
    """Read a plan directory's name (``plan.json``) and imaged area (``areas.geojson``).

    Returns
    -------
    (str, dict)
        The plan's name and the union of its areas as a GeoJSON geometry (lon/lat).

    Raises
    ------
    FileFormatError
        If either file is missing or not what ``vigia plan`` writes.
    """
    try:
        summary = json.loads((plan_dir / "plan.json").read_text(encoding="utf-8"))
        areas = json.loads((plan_dir / "areas.geojson").read_text(encoding="utf-8"))
        shapes = [
            shapely.geometry.shape(f["geometry"])
            for f in areas["features"]
            if f.get("properties", {}).get("layer", "area") == "area"
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FileFormatError(
            f"{plan_dir}: not a plan directory from `vigia plan` (plan.json, areas.geojson): {exc}"
        ) from None
    if not shapes:
        raise FileFormatError(f"{plan_dir / 'areas.geojson'}: no areas of interest in the plan")
    name = str(summary.get("name") or plan_dir.name)
    return name, dict(shapely.geometry.mapping(unary_union(shapes)))


@app.command("submit")
def submit_command(
    plan_dir: Annotated[
        Path, typer.Argument(help="Plan directory written by `vigia plan`.", file_okay=False)
    ],
    to: Annotated[str, typer.Option("--to", help="The partner asked to approve.")],
    as_user: AsUser,
    data_dir: DataDir = None,
) -> None:
    """Submit a planned sortie to the partner whose territory it overflies."""
    name, area = plan_area(plan_dir)
    sid = audited(
        store(data_dir),
        action="sortie.submit",
        obj=name,
        user=as_user,
        change=lambda s, p, now: (
            sid := submit_sortie(
                s, p, name=name, partner_org=to, plan_path=plan_dir, area=area, now=now
            ),
            sid,
            {"name": name, "to": to, "plan": str(plan_dir)},
        ),
    )
    typer.echo(sid)


def _decide(
    sortie_id: str, approve: bool, reason: str, as_user: str, data_dir: Path | None
) -> None:
    def change(s: Session, p: Principal, now: datetime) -> tuple[None, str, dict[str, Any]]:
        decide_sortie(s, p, sortie_id, approve=approve, reason=reason, now=now)
        return None, sortie_id, {"approve": approve, "reason": reason}

    action = "sortie.approve" if approve else "sortie.refuse"
    audited(store(data_dir), action=action, obj=sortie_id, user=as_user, change=change)
    console.print(f"{sortie_id} {'approved' if approve else 'refused'}")


@app.command("approve")
def approve_command(
    sortie_id: Annotated[str, typer.Argument(help="Sortie request id (SRT-0001).")],
    as_user: AsUser,
    reason: Reason = "",
    data_dir: DataDir = None,
) -> None:
    """Approve a sortie submitted to your organisation (a partner officer)."""
    _decide(sortie_id, True, reason, as_user, data_dir)


@app.command("refuse")
def refuse_command(
    sortie_id: Annotated[str, typer.Argument(help="Sortie request id (SRT-0001).")],
    reason: Reason,
    as_user: AsUser,
    data_dir: DataDir = None,
) -> None:
    """Refuse a sortie submitted to your organisation, with a reason (a partner officer)."""
    _decide(sortie_id, False, reason, as_user, data_dir)


@app.command("list")
def list_command(
    as_user: Annotated[
        str | None, typer.Option("--as", help="See them as this user does (default: all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List sortie requests and their approval."""
    with read_session(store(data_dir)) as s:
        views = list_sorties(s, acting_principal(s, as_user))
    print_listing(
        views,
        as_json=as_json,
        title=f"{len(views)} sortie requests",
        columns=("id", "name", "partner", "status", "by", "when", "reason"),
        row=lambda v: (
            v.id,
            v.name,
            v.org,
            v.status,
            v.decided_by or v.submitted_by,
            (v.decided_at or v.submitted_at).strftime("%Y-%m-%d %H:%MZ"),
            v.reason or "",
        ),
        to_json=lambda v: v.to_dict(),
        ensure_ascii=False,
    )


@app.command("exports")
def exports_command(
    sortie_id: Annotated[str, typer.Argument(help="An approved sortie request (SRT-0001).")],
    out_dir: Annotated[
        Path,
        typer.Option("--out-dir", help="Where to write the approved exports.", file_okay=False),
    ],
    data_dir: DataDir = None,
) -> None:
    """Write the exports of an approved sortie's plan, saying it is approved and by whom.

    The plan directory must still be the one approved (same SHA-256); its files are copied,
    with every approval field and sentence stamped.
    """
    with read_session(store(data_dir)) as s:
        view = get_sortie(s, local_operator(), sortie_id)
        if view.status != "approved":
            raise LifecycleError(
                f"{sortie_id} is {view.status}, not approved: its plan may not fly"
            )
        plan_dir = Path(view.plan_path)
        if not plan_dir.is_dir():
            raise InputError(f"{sortie_id}: its plan directory {plan_dir} is gone")
        if sortie_id not in {v.id for v in approval_of_plan(s, plan_dir)}:
            raise InputError(
                f"{sortie_id}: {plan_dir} changed since it was approved (SHA-256 differs): "
                "submit the new plan"
            )
    when = f"{view.decided_at:%Y-%m-%d %H:%M} UTC" if view.decided_at else "?"
    ref = f"{sortie_id}, by {view.org} officer {view.decided_by} at {when}"
    partner = json.loads((plan_dir / "plan.json").read_text()).get("partner", view.org)
    staged = {
        src.name: stamp_approval(src.name, src.read_text(), partner=str(partner), ref=ref)
        for src in sorted(plan_dir.iterdir())
        if src.is_file() and src.suffix in (".geojson", ".json", ".kml")
    }  # every stamp made before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    for src in sorted(plan_dir.iterdir()):
        if src.is_file():
            dest = out_dir / src.name
            tmp = dest.with_name(f".{dest.name}.tmp")
            if src.name in staged:
                tmp.write_text(staged[src.name])
            else:
                shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
    console.print(f"{sortie_id}: approved exports of {plan_dir} written to {out_dir}")
