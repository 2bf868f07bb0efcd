"""The demo: every stage that exists, run on a built-in scenario, as a list of named steps.

Each later stage appends its steps; the CLI only shows progress and the result.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vigia.demo_sharing import (
    RELEASE_AFTER,
    REVIEW_AFTER,
    Sharing,
    approve_sortie,
    ensure_accounts,
    partner_feedback,
    release_confirmed,
    sharing_report,
)
from vigia.detect.files import detect_files
from vigia.errors import InputError, PlanningError
from vigia.evaluation.files import evaluate_files
from vigia.plan.mission import Mission, RestrictedZone
from vigia.plan.planner import (
    flight_params,
    gather_restrictions,
    plan_revisit_sortie,
    plan_scenario,
)
from vigia.platform import load_platform
from vigia.report.maps import draw_scenario
from vigia.report.plan import write_plan
from vigia.report.sensing import write_sensing_figures
from vigia.sense.simulate import (
    SimulationResult,
    daylight_departure,
    line_times,
    lines_over_sites,
    simulate_mission,
)
from vigia.settings import Settings
from vigia.store.db import SessionFactory, open_store
from vigia.store.fusion import refresh_sites
from vigia.store.ingest import ingest_detections
from vigia.store.review import DEMO_ACTOR, DEMO_POLICY, awaiting_review, decide, demo_decision
from vigia.store.sites import list_open_revisits, list_sites, set_revisit_status
from vigia.world.airspace import airport
from vigia.world.scenario import Scenario, load_scenario
from vigia.world.world import World, build_world

__all__ = ["DemoRun", "Step", "demo_steps"]


@dataclass
class DemoRun:
    """State carried from step to step of the demo.

    Attributes
    ----------
    out_dir : Path
        ``$VIGIA_DATA_DIR/demo``.
    scenario_name : str
        Built-in scenario run.
    files : list of Path
        Outputs written so far.
    """

    out_dir: Path
    scenario_name: str = "sinaloa"
    scenario: Scenario | None = None
    restricted: list[RestrictedZone] = field(default_factory=list)
    mission: Mission | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    cubes: list[Path] = field(default_factory=list)
    weather: Path | None = None
    truth: Path | None = None
    detections: Path | None = None
    on_detail: Callable[[str], None] | None = None
    settings: Settings | None = None
    store: SessionFactory | None = None
    clock: datetime | None = None
    sharing: Sharing = field(default_factory=Sharing)
    world: World | None = None
    revisit: Mission | None = None
    revisit_plan: dict[str, Any] = field(default_factory=dict)
    revisit_requests: list[int] = field(default_factory=list)


Step = tuple[str, Callable[[DemoRun], None]]


def _load(run: DemoRun) -> None:
    if run.out_dir.exists():
        shutil.rmtree(run.out_dir)
    run.out_dir.mkdir(parents=True)
    run.scenario = load_scenario(run.scenario_name)


def _accounts(run: DemoRun) -> None:
    # The configured store (SQLite in the data dir by default) and the demo's organisations
    # and users; a second demo run over one data dir reuses them.
    assert run.scenario is not None
    run.store = open_store(run.settings)
    created = ensure_accounts(run.store, run.scenario.window_start - timedelta(days=3))
    run.summary["accounts"] = created


def _scenario_map(run: DemoRun) -> None:
    sc = run.scenario
    assert sc is not None
    ap = airport(sc.base_icao)
    run.restricted = gather_restrictions(
        sc.areas, base=(ap.icao, ap.lon, ap.lat), exclusions=sc.exclusions
    )
    png = run.out_dir / "scenario.png"
    draw_scenario(sc, run.restricted, png)
    run.files.append(png)


def _plan(run: DemoRun) -> None:
    sc = run.scenario
    assert sc is not None
    run.mission = plan_scenario(sc, flight_params(load_platform("mq9")))


def _write_plan(run: DemoRun) -> None:
    assert run.mission is not None
    files, summary = write_plan(run.mission, run.out_dir / "plan")
    run.summary.update(summary)
    run.files.extend(files)


def _approve_sortie(run: DemoRun) -> None:
    # Submitted to the partner; its officer (a printed demo policy) approves or refuses.
    assert run.mission is not None and run.store is not None and run.scenario is not None
    request, run.mission, files = approve_sortie(
        run.store,
        run.mission,
        run.summary,
        run.out_dir / "plan",
        run.out_dir / "plan-approved",
        run.scenario.window_start,
    )
    run.sharing.sortie = request
    run.summary["approval"] = run.mission.approval
    run.files.extend(files)
    if request["decision"] != "approved":
        # Nothing may fly: the demo stops here, saying why (the refusal is audited).
        raise PlanningError(
            f"sortie {request['id']} refused by {request['partner']}: {request['reason']}"
        )


# The demo flies a few lines, cut to the stretch over sites, so it stays well under 3 minutes.
DEMO_LINES = 4
DEMO_HALF_LENGTH_M = 700.0
# Processes at once, for rendering and for detection: the demo's budget is 2 cores.
DEMO_JOBS = min(2, os.cpu_count() or 1)


def _flown(run: DemoRun, result: SimulationResult) -> list[Path]:
    # Keep a flight's files among the demo's outputs; return its cubes, both instruments.
    run.files.extend(p for ln in result.lines for p in (ln.vswir, ln.lwir, ln.truth, ln.quicklook))
    run.files.extend(p for p in (result.truth_geojson, result.weather) if p is not None)
    return [p for ln in result.lines for p in (ln.vswir, ln.lwir)]


def _simulate(run: DemoRun) -> None:
    sc, mission = run.scenario, run.mission
    assert sc is not None and mission is not None
    if mission.approval != "approved":
        raise PlanningError(f"plan {mission.name} is not approved by {sc.partner}: not flown")
    world = run.world = build_world(sc, seed=0)
    departure = daylight_departure(mission, sc.window_start, sc.window_end)
    times = line_times(mission, departure)
    lines = lines_over_sites(mission, world, DEMO_LINES, DEMO_HALF_LENGTH_M, times)
    platform = load_platform("mq9")
    result = simulate_mission(world, mission, platform, run.out_dir, lines=lines, jobs=DEMO_JOBS)
    run.cubes = _flown(run, result)
    run.truth, run.weather = result.truth_geojson, result.weather
    run.summary["simulated_lines"] = [ln.line_id for ln in result.lines]
    run.files.extend(write_sensing_figures(world, platform, run.out_dir / "figures"))


def _detect_cubes(
    run: DemoRun, cubes: list[Path], weather: Path | None, out_dir: Path
) -> tuple[Path, dict[str, Any]]:
    # The detectors read the cubes and the weather analysis, never the truth.
    # Lines in parallel, one process per core (at most two: the demo's budget is 2 cores).
    jobs = DEMO_JOBS
    detail = run.on_detail
    out = detect_files(
        cubes,
        out_dir,
        weather=weather,
        jobs=jobs,
        on_line=None if detail is None else (lambda ln: detail(f"{ln} done")),
        on_step=detail,
    )
    run.files.extend(out.files)
    counts: dict[str, int] = {}
    for d in out.detections:
        counts[d.kind] = counts.get(d.kind, 0) + 1
    return out.detections_path, {"by_kind": counts, "skipped": out.skipped}


def _detect(run: DemoRun) -> None:
    run.detections, run.summary["detections"] = _detect_cubes(
        run, run.cubes, run.weather, run.out_dir / "detections"
    )


def _evaluate(run: DemoRun) -> None:
    # The only place truth meets detections (simulated world: scores are of the simulator).
    assert run.truth is not None and run.detections is not None
    _, summary, files = evaluate_files(run.truth, run.detections, run.out_dir / "evaluation")
    run.files.extend(files)
    run.summary["evaluation"] = summary


def _store(run: DemoRun) -> None:
    # The configured store (SQLite in the data dir by default): ingesting the same file again
    # changes nothing, so the demo can run twice over one data dir.
    assert run.detections is not None
    if run.store is None:
        run.store = open_store(run.settings)
    ingest_detections(run.store, run.detections)
    out = refresh_sites(run.store)
    run.summary["sites"] = {"total": len(out.site_ids), "new": len(out.new)}


def _review_sites(run: DemoRun) -> dict[str, Any]:
    # The demo policy decides every site awaiting review; returns the decisions and states.
    assert run.store is not None
    decisions: dict[str, int] = {}
    decided: dict[str, str] = {}
    sites = list_sites(run.store)
    if sites:  # the demo clock: the analyst looks a few hours after the last flight
        seen = max(s.last_seen for s in sites) + REVIEW_AFTER
        run.clock = seen if run.clock is None else max(run.clock, seen)
    for site in awaiting_review(sites):
        decision, reason = demo_decision(site)
        if decision is None:
            continue
        decide(run.store, site.id, decision, analyst=DEMO_ACTOR, reason=reason, now=run.clock)
        decisions[decision] = decisions.get(decision, 0) + 1
        decided[site.id] = decision
    states: dict[str, int] = {}
    for site in list_sites(run.store):
        states[site.state] = states.get(site.state, 0) + 1
    return {"policy": DEMO_POLICY, "decisions": decisions, "states": states, "decided": decided}


def _review(run: DemoRun) -> None:
    run.summary["review"] = _review_sites(run)


def _revisit(run: DemoRun) -> None:
    # The sites the review asked to see again become one short revisit sortie, planned from the
    # scenario's base around its restricted airspace (a draft: it flies once the partner
    # approves it, as the first sortie did).
    assert run.store is not None and run.scenario is not None
    requests = list_open_revisits(run.store)
    if not requests:
        return
    sc = run.scenario
    platform = load_platform("mq9")
    mission = plan_revisit_sortie(
        [(r.site_id, r.lon, r.lat) for r in requests],
        flight_params(platform, None, platform.revisit_altitude_m),
        partner=sc.partner,
        base_icao=sc.base_icao,
        exclusions=sc.exclusions,
    )
    files, summary = write_plan(mission, run.out_dir / "plan-revisit")
    for r in requests:
        set_revisit_status(run.store, r.id, "planned")
    run.revisit, run.revisit_plan = mission, summary
    run.revisit_requests = [r.id for r in requests]
    run.summary["revisit"] = {
        "sites": sorted({r.site_id for r in requests}),
        "km": round(sum(s["length_km"] for s in summary["sorties"]), 1),
        "hours": round(sum(s["duration_h"] for s in summary["sorties"]), 2),
        "lines": sum(s["lines"] for s in summary["sorties"]),
    }
    run.files.extend(files)


# The revisit sortie may take off this long after the review that asked for it (submitted to
# the partner at the review, decided a day later), at the first daylight hour after.
REVISIT_AFTER = timedelta(days=2)


def _approve_revisit(run: DemoRun) -> None:
    # The revisit is a sortie over the partner's territory like the first: it flies only once
    # the partner's officer (the printed demo policy) approves it.
    if run.revisit is None:
        return
    assert run.store is not None and run.clock is not None
    request, run.revisit, files = approve_sortie(
        run.store,
        run.revisit,
        run.revisit_plan,
        run.out_dir / "plan-revisit",
        run.out_dir / "plan-revisit-approved",
        run.clock + REVISIT_AFTER,
    )
    run.summary["revisit"]["approval"] = request
    run.files.extend(files)
    if request["decision"] != "approved":
        # A refused revisit does not fly; the sites keep their evidence and their requests
        # go back to open, for a sortie the partner will approve. The demo goes on.
        for r in run.revisit_requests:
            set_revisit_status(run.store, r, "open")


def _fly_revisit(run: DemoRun) -> None:
    # The approved revisit flies days later over the same simulated world; its passes are
    # detected and fused into the sites like any other (a site the review sent back for
    # another look and now seen again returns to the analyst).
    mission, sc, world = run.revisit, run.scenario, run.world
    if mission is None or mission.approval != "approved":
        return
    assert sc is not None and world is not None and run.store is not None
    assert run.clock is not None
    rv = run.summary["revisit"]
    try:
        departure = daylight_departure(mission, run.clock + REVISIT_AFTER, sc.window_end)
    except InputError:
        rv["flown"] = None  # the scenario's window closes first
        return
    before = {s.id: s.confidence for s in list_sites(run.store)}
    out = run.out_dir / "revisit"
    result = simulate_mission(
        world, mission, load_platform("mq9"), out, departure=departure, seed=1, jobs=DEMO_JOBS
    )
    detections, counts = _detect_cubes(run, _flown(run, result), result.weather, out / "detections")
    ingest_detections(run.store, detections)
    refresh_sites(run.store)
    for request in run.revisit_requests:
        set_revisit_status(run.store, request, "done")
    after = {s.id: s for s in list_sites(run.store)}
    run.clock = max(ln.time for ln in result.lines) + REVIEW_AFTER
    rv["flown"] = {
        "departure": departure.isoformat(),
        "lines": [ln.line_id for ln in result.lines],
        "detections": counts["by_kind"],
        "sites": {
            sid: {
                "before": round(before[sid], 3),
                "after": round(after[sid].confidence, 3),
                "state": after[sid].state,
            }
            for sid in rv["sites"]
            if sid in before and sid in after
        },
    }


def _review_revisit(run: DemoRun) -> None:
    rv = run.summary.get("revisit", {})
    if not rv.get("flown"):
        return
    rv["review"] = _review_sites(run)


def _release(run: DemoRun) -> None:
    # Sites confirmed since the last release round are released a few hours after review.
    assert run.store is not None
    if run.clock is None:
        return
    confirmed = [s for s in list_sites(run.store) if s.state == "confirmed"]
    if not confirmed:
        return
    run.clock += RELEASE_AFTER
    run.sharing.releases += release_confirmed(run.store, confirmed, run.clock)


def _feedback(run: DemoRun) -> None:
    # Partner outcomes SIMULATED from the world's truth (nobody raided anything).
    assert run.store is not None and run.truth is not None
    run.sharing.outcomes, latest = partner_feedback(run.store, run.sharing.releases, run.truth)
    if latest is not None:
        run.clock = latest


def _share_report(run: DemoRun) -> None:
    assert run.store is not None
    now = (run.clock or datetime.now(UTC)) + timedelta(hours=1)
    table, calibration, audit, files = sharing_report(
        run.store, run.sharing.releases, run.out_dir / "sharing", now
    )
    run.sharing.metrics, run.sharing.calibration, run.sharing.audit = table, calibration, audit
    run.files.extend(files)


def demo_steps() -> list[Step]:
    """Return the demo's steps in order, each a label and a function of the run state."""
    return [
        ("Load the built-in scenario", _load),
        ("Set up the agency and two partner authorities (demo accounts)", _accounts),
        ("Map the scenario and its restricted airspace", _scenario_map),
        ("Plan sorties (coverage, routing, endurance, revisits)", _plan),
        ("Write exports, map and summary", _write_plan),
        ("Submit the sortie to the partner (DEMO POLICY decides for its officer)", _approve_sortie),
        ("Fly lines over the simulated world (VSWIR + LWIR, truth, figures)", _simulate),
        ("Detect plumes, heat and camouflage (no truth read)", _detect),
        ("Score detections against the simulated truth", _evaluate),
        ("Store detections and fuse them into sites", _store),
        ("Review sites (DEMO POLICY: automatic, not a person)", _review),
        ("Release confirmed sites to the partners (DEMO POLICY release officer)", _release),
        ("Plan a revisit sortie over the sites the review asked to see again", _revisit),
        ("Submit the revisit sortie to the partner (DEMO POLICY decides)", _approve_revisit),
        ("Fly the revisit, detect, fuse the new looks into the sites", _fly_revisit),
        ("Review the sites seen again (DEMO POLICY)", _review_revisit),
        ("Release the sites confirmed after the revisit (DEMO POLICY)", _release),
        ("Partners acknowledge and report outcomes (SIMULATED from the truth)", _feedback),
        ("Export releases; metrics, calibration, audit check", _share_report),
    ]
