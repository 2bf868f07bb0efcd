"""The demo's sharing stages: accounts, sortie approval, releases, partner feedback, metrics.

Nobody sits at the keyboard in a demo, so the people of the loop are played by explicit,
printed policies (:data:`SORTIE_POLICY`, :data:`RELEASE_POLICY`) and the partner's outcomes
are **simulated from the world's truth** (:mod:`vigia.share.outcomes_sim`); every output says
so. Everything goes through the same store functions the CLI and the API use, with an audit
entry per change (client ``demo``).

The demo runs on a **demo clock**: the sortie is submitted two days before the scenario's
window opens and approved a day later; review, release and the partner's steps follow the
flight by simulated delays, so the metrics measure the simulated loop, not the seconds the
demo took.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

import shapely.geometry
from shapely.ops import unary_union
from sqlalchemy.orm import Session

from vigia.plan.mission import Mission
from vigia.report.calibration import reliability_figure
from vigia.report.plan import write_plan
from vigia.share.exports import FORMATS, write_export
from vigia.share.metrics import agency_metrics, format_metrics
from vigia.share.outcomes_sim import SOURCE as OUTCOME_SOURCE
from vigia.share.outcomes_sim import simulate_site_outcomes
from vigia.store.access import (
    Principal,
    add_org,
    add_user,
    list_orgs,
    list_users,
    principal_of,
)
from vigia.store.audit import append_audit, verify_audit
from vigia.store.db import SessionFactory, read_session, write_session
from vigia.store.feedback import calibrate_on_outcomes, outcome_pairs
from vigia.store.records import StoredSite
from vigia.store.releases import (
    acknowledge_release,
    get_visible_site,
    release_sites,
    report_outcome,
    site_reports,
    site_timelines,
)
from vigia.store.sorties import decide_sortie, submit_sortie

__all__ = [
    "AGENCY",
    "OUTCOME_SEED",
    "PARTNERS",
    "RELEASE_AFTER",
    "RELEASE_POLICY",
    "REVIEW_AFTER",
    "SORTIE_POLICY",
    "USERS",
    "Sharing",
    "approve_sortie",
    "ensure_accounts",
    "partner_feedback",
    "release_confirmed",
    "sharing_report",
]

T = TypeVar("T")

AGENCY: Final = "Vigia-agency"
PARTNERS: Final[dict[str, str]] = {
    "FGR": "federal prosecutor (Fiscalía General de la República): investigates and raids",
    "SEMAR": "navy (Secretaría de Marina): approves sorties over its zone, secures raids",
}
USERS: Final[tuple[tuple[str, str, str], ...]] = (
    ("demo-analyst", AGENCY, "analyst"),
    ("demo-release-officer", AGENCY, "release_officer"),
    ("demo-admin", AGENCY, "admin"),
    ("fgr-officer", "FGR", "partner_officer"),
    ("fgr-viewer", "FGR", "partner_viewer"),
    ("semar-officer", "SEMAR", "partner_officer"),
    ("semar-viewer", "SEMAR", "partner_viewer"),
)
SORTIE_PARTNER: Final = "SEMAR"
ACTING_PARTNER: Final = "FGR"

SORTIE_POLICY: Final = (
    "DEMO POLICY (partner officer, automatic, not a person): approve a sortie whose route "
    "stays out of restricted airspace and turns no tighter than the aircraft can; refuse it "
    "otherwise"
)
RELEASE_POLICY: Final = (
    "DEMO POLICY (release officer, automatic, not a person): release every confirmed site to "
    "each partner on its own under TLP:AMBER+STRICT, and to both together under TLP:AMBER for "
    "their joint coordination cell; the officer is never the analyst who confirmed"
)
_CAVEATS: Final[dict[str, tuple[str, ...]]] = {
    "FGR": ("For FGR investigators only", "Not for public attribution"),
    "SEMAR": ("For SEMAR operational planning only", "Not for public attribution"),
    "joint": ("For the FGR–SEMAR coordination cell", "Not for public attribution"),
}
OUTCOME_SEED: Final = 5
"""Seed of the demo's simulated partner outcomes, **chosen, and said so here**.

The demo's four short lines see one operating lab, so it releases one site, and a release draws
no outcome 17 % of the time (:data:`vigia.share.outcomes_sim.P_NO_ACK`, ``P_NOT_ACTIONED``).
Seed 0 drew "acknowledged, not actioned" for it, and the demo then showed no outcome, no totals
and no calibration: the loop's end unseen. Seeds 0–7 give that site (checked on the demo's world):
not actioned, dismantled, inactive, dismantled, seizure, seizure, dismantled, dismantled. Seed 5
is a seizure, the outcome that carries quantities (12.1 kg of powder). The draw itself is the
model's; how often each outcome happens over a season is measured by ``bench/calibration.py``.
"""
REVIEW_AFTER: Final = timedelta(hours=3)
"""Demo clock: the analyst reviews this long after the last flight."""
RELEASE_AFTER: Final = timedelta(hours=3)
"""Demo clock: the release officer releases this long after the review."""


@dataclass
class Sharing:
    """What the sharing stages did, for the demo's summary.

    Attributes
    ----------
    sortie : dict
        The sortie request and its decision.
    releases : list of dict
        Releases made (id, recipients, TLP, sites).
    outcomes : list of dict
        Simulated partner outcomes reported (site, outcome, quantities as reported).
    metrics : str
        The agency's metrics table.
    calibration : dict
        Calibration of site confidence on the outcomes.
    audit : str
        ``vigia audit verify``'s verdict.
    """

    sortie: dict[str, Any] = field(default_factory=dict)
    releases: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    metrics: str = ""
    calibration: dict[str, Any] = field(default_factory=dict)
    audit: str = ""


def _audited(
    factory: SessionFactory,
    user: str,
    action: str,
    obj: str,
    now: datetime,
    change: Callable[[Session], tuple[T, str, dict[str, Any]]],
) -> T:
    # The change and its audit entry in one transaction, as the CLI and the service do.
    with write_session(factory) as s:
        p = principal_of(s, user)
        result, target, detail = change(s)
        append_audit(
            s,
            actor=p.user,
            org=p.org,
            role=p.role,
            action=action,
            obj=target or obj,
            outcome="ok",
            client="demo",
            detail={**detail, "demo": True},
            now=now,
        )
    return result


def ensure_accounts(factory: SessionFactory, now: datetime) -> list[str]:
    """Create the demo's organisations and users when missing (a second demo run reuses them).

    Returns
    -------
    list of str
        What was created.
    """
    created: list[str] = []
    with write_session(factory) as s:
        orgs = {o["name"] for o in list_orgs(s)}
        users = {u["name"] for u in list_users(s)}
        wanted = [(AGENCY, "agency", None), *((name, "partner", "MEX") for name in PARTNERS)]
        for name, kind, country in wanted:
            if name not in orgs:
                add_org(s, name, kind, country=country, now=now)
                _append(s, "org.add", name, now, {"kind": kind})
                created.append(f"organisation {name}")
        for name, org, role in USERS:
            if name not in users:
                add_user(s, name, org, role, now=now)
                _append(s, "user.add", name, now, {"org": org, "role": role})
                created.append(f"user {name} ({role}, {org})")
    return created


def _append(s: Session, action: str, obj: str, now: datetime, detail: dict[str, Any]) -> None:
    append_audit(
        s,
        actor="demo-setup",
        org="-",
        role="admin",
        action=action,
        obj=obj,
        outcome="ok",
        client="demo",
        detail={**detail, "demo": True},
        now=now,
    )


def _sortie_problems(summary: dict[str, Any], turn_radius_m: float) -> list[str]:
    problems = []
    for s in summary.get("sorties", []):
        inside = float(s["inside_restricted_m"])
        if inside > 0:
            problems.append(f"sortie {s['sortie']} flies {inside:.0f} m in restricted airspace")
        if float(s["tightest_turn_m"]) < 0.999 * turn_radius_m:
            problems.append(f"sortie {s['sortie']} turns tighter than the aircraft can")
    return problems


def approve_sortie(
    factory: SessionFactory,
    mission: Mission,
    summary: dict[str, Any],
    plan_dir: Path,
    approved_dir: Path,
    window_start: datetime,
) -> tuple[dict[str, Any], Mission, list[Path]]:
    """Submit the plan to the partner and let :data:`SORTIE_POLICY` decide it.

    An approved plan's exports are written again into ``approved_dir`` saying so (the
    submitted ``plan_dir`` stays as it was: its digest is what was approved).

    Returns
    -------
    tuple
        The request (id, partner, decision, reason, times), the mission, and the files
        written. When the policy refuses, the decision is ``"refused"``, the mission comes
        back as submitted (its ``approval`` is not ``"approved"``: it may not fly) and no
        approved exports are written; what to do then is the caller's choice.
    """
    submitted_at = window_start - timedelta(days=2)
    decided_at = window_start - timedelta(days=1)
    area = shapely.geometry.mapping(unary_union([poly for _, poly in mission.areas]))
    sortie_id = _audited(
        factory,
        "demo-release-officer",
        "sortie.submit",
        "-",
        submitted_at,
        lambda s: (
            sid := submit_sortie(
                s,
                principal_of(s, "demo-release-officer"),
                name=mission.name,
                partner_org=SORTIE_PARTNER,
                plan_path=plan_dir,
                area=dict(area),
                now=submitted_at,
            ),
            sid,
            {"partner": SORTIE_PARTNER, "plan": str(plan_dir)},
        ),
    )
    problems = _sortie_problems(summary, mission.turn_radius_m)
    approve = not problems
    reason = (
        "route clear of restricted airspace, no turn tighter than the aircraft's"
        if approve
        else "; ".join(problems)
    ) + " (demo policy)"

    def decide(s: Session) -> tuple[None, str, dict[str, Any]]:
        p = principal_of(s, "semar-officer")
        decide_sortie(s, p, sortie_id, approve=approve, reason=reason, now=decided_at)
        return None, sortie_id, {"reason": reason}

    action = "sortie.approve" if approve else "sortie.refuse"
    _audited(factory, "semar-officer", action, sortie_id, decided_at, decide)
    request = {
        "id": sortie_id,
        "partner": SORTIE_PARTNER,
        "decision": "approved" if approve else "refused",
        "reason": reason,
        "submitted_at": submitted_at.isoformat(),
        "decided_at": decided_at.isoformat(),
        "policy": SORTIE_POLICY,
    }
    if not approve:
        return request, mission, []
    flown = replace(
        mission,
        approval="approved",
        approval_ref=(
            f"{sortie_id}, by {SORTIE_PARTNER} officer semar-officer at "
            f"{decided_at:%Y-%m-%d %H:%M} UTC ({SORTIE_POLICY.split(':')[0]})"
        ),
    )
    files, _ = write_plan(flown, approved_dir)
    return request, flown, files


def release_confirmed(
    factory: SessionFactory, sites: Sequence[StoredSite], now: datetime
) -> list[dict[str, Any]]:
    """Release the confirmed sites by :data:`RELEASE_POLICY`.

    Returns
    -------
    list of dict
        One per release: id, recipients, TLP, caveats, sites, creation time.
    """
    confirmed = [s.id for s in sites if s.state == "confirmed"]
    if not confirmed:
        return []
    plans = [
        (("FGR",), "TLP:AMBER+STRICT", _CAVEATS["FGR"]),
        (("SEMAR",), "TLP:AMBER+STRICT", _CAVEATS["SEMAR"]),
        (("FGR", "SEMAR"), "TLP:AMBER", _CAVEATS["joint"]),
    ]
    out = []
    for i, (to, tlp, caveats) in enumerate(plans):
        when = now + timedelta(minutes=10 * i)

        def create(
            s: Session,
            to: tuple[str, ...] = to,
            tlp: str = tlp,
            caveats: tuple[str, ...] = caveats,
            when: datetime = when,
        ) -> tuple[str, str, dict[str, Any]]:
            p = principal_of(s, "demo-release-officer")
            rid = release_sites(s, p, confirmed, list(to), tlp=tlp, caveats=caveats, now=when)
            return rid, rid, {"to": list(to), "tlp": tlp, "sites": confirmed, "policy": "demo"}

        rid = _audited(factory, "demo-release-officer", "release.create", "-", when, create)
        out.append(
            {
                "id": rid,
                "to": list(to),
                "tlp": tlp,
                "caveats": caveats,
                "sites": confirmed,
                "created_at": when,
            }
        )
    return out


def partner_feedback(
    factory: SessionFactory,
    releases: Sequence[dict[str, Any]],
    truth_path: Path,
    *,
    seed: int = OUTCOME_SEED,
) -> tuple[list[dict[str, Any]], datetime | None]:
    """Play the partners: acknowledge releases and report outcomes **simulated from the truth**.

    Each partner officer acknowledges its releases after a simulated delay; the acting partner
    (:data:`ACTING_PARTNER`) reports, for each site it received, the outcome the simulated raid
    had (:func:`vigia.share.outcomes_sim.simulate_site_outcomes`), in the units an officer
    would type them (lb, gal, tablets), normalised by the store.

    Returns
    -------
    tuple
        The outcomes reported, and the latest time of the partner's steps (None if none).
    """
    if not releases:
        return [], None
    truth = json.loads(truth_path.read_text())
    # Each site's partner clock starts at its first release (releases come in rounds).
    released_at: dict[str, datetime] = {}
    for r in releases:
        for sid in r["sites"]:
            released_at[sid] = min(released_at.get(sid, r["created_at"]), r["created_at"])
    site_ids = sorted(released_at)
    with read_session(factory) as s:
        p = principal_of(s, "demo-admin")
        views = [get_visible_site(s, p, sid) for sid in site_ids]
    located = [(v.id, float(v.lon), float(v.lat)) for v in views]
    sims = simulate_site_outcomes(
        [(sid, lon, lat, released_at[sid]) for sid, lon, lat in located], truth, seed=seed
    )
    ack_of = {sid: o.acknowledged_at for (sid, _, _), (_, o) in zip(located, sims, strict=True)}
    latest: datetime | None = None
    for partner, officer in (("FGR", "fgr-officer"), ("SEMAR", "semar-officer")):
        for r in releases:
            if partner not in r["to"]:
                continue
            acked = [t for sid in r["sites"] if (t := ack_of.get(sid)) is not None]
            if not acked:
                continue
            # Never before the release itself (a site may have been released before).
            first_ack = max(min(acked), r["created_at"] + timedelta(minutes=10))
            when = first_ack + (timedelta(hours=1) if partner == "SEMAR" else timedelta(0))
            rid = r["id"]

            def ack(
                s: Session, officer: str = officer, rid: str = rid, when: datetime = when
            ) -> tuple[None, str, dict[str, Any]]:
                acknowledge_release(s, principal_of(s, officer), rid, now=when)
                return None, rid, {"simulated": True}

            _audited(factory, officer, "release.acknowledge", rid, when, ack)
            latest = max(latest or when, when)
    reported = []
    for (sid, _, _), (match, sim) in zip(located, sims, strict=True):
        if sim.outcome is None or sim.actioned_at is None:
            continue
        reported_at = sim.actioned_at + timedelta(hours=2)
        outcome, quantities, note, observed = (
            sim.outcome,
            list(sim.quantities),
            sim.note,
            sim.actioned_at,
        )

        def report(
            s: Session,
            sid: str = sid,
            o: str = outcome,
            q: list[dict[str, Any]] = quantities,
            n: str = note,
            t: datetime = observed,
            r: datetime = reported_at,
        ) -> tuple[int, str, dict[str, Any]]:
            p = principal_of(s, "fgr-officer")
            oid = report_outcome(s, p, sid, outcome=o, quantities=q, text=n, observed_at=t, now=r)
            return oid, sid, {"outcome": o, "simulated": True}

        _audited(factory, "fgr-officer", "outcome.report", sid, reported_at, report)
        latest = max(latest or reported_at, reported_at)
        reported.append(
            {
                "site": sid,
                "outcome": outcome,
                "quantities": quantities,
                "truth": None if match is None else match.kind,
                "source": OUTCOME_SOURCE,
            }
        )
    return reported, latest


def sharing_report(
    factory: SessionFactory, releases: Sequence[dict[str, Any]], out_dir: Path, now: datetime
) -> tuple[str, dict[str, Any], str, list[Path]]:
    """Export every release in every format, and compute the metrics and the calibration.

    Returns
    -------
    tuple
        Metrics table, calibration summary, audit verdict, files written.
    """
    files: list[Path] = []
    with read_session(factory) as s:
        for r in releases:
            for officer in ("fgr-viewer", "semar-viewer"):
                p = principal_of(s, officer)
                if p.org not in r["to"]:
                    continue
                reports = site_reports(s, p, r["id"])
                for fmt in FORMATS:
                    ext = {"cot": "cot.xml", "stix": "stix.json"}.get(fmt, fmt)
                    path = out_dir / "releases" / p.org / f"{r['id']}.{ext}"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    files.append(write_export(path, fmt, reports, now))
        timelines = site_timelines(s, Principal.local_operator("demo"))
        verdict = verify_audit(s)
    metrics = agency_metrics(timelines)
    table = format_metrics(metrics)
    with read_session(factory) as s:
        cal = calibrate_on_outcomes(outcome_pairs(s))
    calibration: dict[str, Any] = {"outcomes": 0, "labelled": 0, "source": OUTCOME_SOURCE}
    if cal is not None:
        calibration.update(cal.summary())
        files.append(
            reliability_figure(
                cal.raw,
                cal.calibrated,
                out_dir / "calibration.png",
                source=f"{OUTCOME_SOURCE}; n = {len(cal.pairs.site_ids)}",
            )
        )
    (out_dir / "metrics.json").write_text(
        json.dumps(
            {"metrics": metrics.to_dict(), "calibration": calibration},
            indent=2,
            default=str,
        )
    )
    files.append(out_dir / "metrics.json")
    audit = (
        f"audit chain intact: {verdict.entries} entries"
        if verdict.ok
        else f"audit chain BROKEN at entry {verdict.first_bad}: {verdict.problem}"
    )
    return table, calibration, audit, files
