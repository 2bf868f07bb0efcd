"""``vigia site list|show``: the sites in the store."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from vigia.cli.options import DataDir, console
from vigia.errors import InputError
from vigia.lifecycle import STATES
from vigia.settings import load_settings
from vigia.store.db import open_store
from vigia.store.records import StoredSite
from vigia.store.sites import get_site, list_sites

__all__ = ["app", "site_json"]

app = typer.Typer(help="Sites: places where detections agree.", no_args_is_help=True)


def site_json(s: StoredSite) -> dict[str, Any]:
    """Return a site as ``vigia site list --json`` prints it."""
    return {
        "id": s.id,
        "lon": round(s.lon, 7),
        "lat": round(s.lat, 7),
        "state": s.state,
        "class": s.site_class,
        "confidence": round(s.confidence, 4),
        "first_seen": s.first_seen.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "last_seen": s.last_seen.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reasons": list(s.reasons),
    }


@app.command("list")
def list_command(
    data_dir: DataDir = None,
    state: Annotated[
        list[str] | None, typer.Option("--state", help="Only sites in this state (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List sites with their state, class and confidence."""
    for name in state or []:
        if name not in STATES:
            raise InputError(f"--state {name!r} is not one of {', '.join(STATES)}")
    sites = list_sites(open_store(load_settings(data_dir)), states=state)
    if as_json:
        typer.echo(json.dumps([site_json(s) for s in sites], indent=1))
        return
    t = Table(title=f"{len(sites)} sites")
    for col in ("id", "state", "class", "confidence", "lon", "lat", "last seen", "why"):
        t.add_column(col)
    for s in sites:
        t.add_row(
            s.id,
            s.state,
            s.site_class,
            f"{s.confidence:.2f}",
            f"{s.lon:.5f}",
            f"{s.lat:.5f}",
            s.last_seen.strftime("%Y-%m-%d %H:%MZ"),
            "; ".join(s.reasons[:2]),
        )
    console.print(t)


@app.command("show")
def show_command(
    site_id: Annotated[str, typer.Argument(help="Site id (SITE-000001).")],
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one site: evidence, observations, decisions, revisit requests."""
    detail = get_site(open_store(load_settings(data_dir)), site_id)
    doc = {
        **site_json(detail.site),
        "evidence": detail.site.evidence,
        "observations": [
            {
                "detection": o.detection.detection_id,
                "line_id": o.detection.line_id,
                "sensor": o.detection.sensor,
                "kind": o.detection.kind,
                "time": o.detection.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "score": round(o.detection.score, 3),
                "species": o.detection.properties.get("species", []),
                "distance_m": round(o.distance_m, 1),
            }
            for o in detail.observations
        ],
        "decisions": [
            {
                "time": d.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "actor": d.actor,
                "role": d.role,
                "action": d.action,
                "from": d.from_state,
                "to": d.to_state,
                "reason": d.reason,
            }
            for d in detail.decisions
        ],
        "revisits": [
            {"status": r.status, "priority": r.priority, "reason": r.reason}
            for r in detail.revisits
        ],
    }
    typer.echo(json.dumps(doc, indent=1, ensure_ascii=False) if as_json else _text(doc))


def _text(doc: dict[str, Any]) -> str:
    lines = [
        f"{doc['id']}  {doc['class']}  confidence {doc['confidence']:.2f}  state {doc['state']}",
        f"  at {doc['lon']:.6f}, {doc['lat']:.6f}; seen {doc['first_seen']} – {doc['last_seen']}",
        *(f"  · {r}" for r in doc["reasons"]),
        *(
            f"  emission {sp} {e['rate_kg_h']:.3g} ± {e['sigma_kg_h']:.2g} kg/h over "
            f"{e['passes']} pass{'es' if e['passes'] > 1 else ''} that measured it"
            for sp, e in (doc.get("evidence") or {}).get("emission", {}).items()
        ),
        f"  {len(doc['observations'])} observations:",
        *(
            f"    {o['time']} {o['line_id']} {o['sensor']} {o['kind']} "
            f"{'+'.join(o['species'])} score {o['score']} ({o['distance_m']} m)"
            for o in doc["observations"]
        ),
    ]
    if doc["decisions"]:
        lines.append("  decisions:")
        lines += [
            f"    {d['time']} {d['actor']} ({d['role']}): {d['action']} {d['from']} → {d['to']}"
            f" — {d['reason']}"
            for d in doc["decisions"]
        ]
    return "\n".join(lines)
