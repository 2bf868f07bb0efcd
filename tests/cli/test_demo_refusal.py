"""The demo when the partner's officer refuses a sortie: the survey stops, a revisit is skipped.

The demo's partner policy refuses a plan whose summary shows restricted airspace entered or a
turn tighter than the aircraft can fly. The planner never draws either, so these tests declare
an aircraft with a wider turning circle than the planned route's: the route's own summary then
shows turns the declared aircraft cannot make, and the policy refuses it.
"""

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from vigia.cli.demo import _print_revisit
from vigia.demo import (
    DemoRun,
    _accounts,
    _approve_revisit,
    _approve_sortie,
    _fly_revisit,
    _load,
    _plan,
    _revisit,
    _write_plan,
)
from vigia.demo_sharing import principal_of
from vigia.errors import PlanningError
from vigia.settings import Settings
from vigia.store.audit import list_audit
from vigia.store.records import SiteRecord
from vigia.store.sites import add_revisit_request, list_open_revisits, upsert_sites
from vigia.store.sorties import list_sorties


@pytest.fixture()
def planned(tmp_path: Path) -> DemoRun:
    run = DemoRun(out_dir=tmp_path / "demo", settings=Settings(data_dir=tmp_path))
    for step in (_load, _accounts, _plan, _write_plan):
        step(run)
    return run


def _sorties(run: DemoRun) -> list[tuple[str, str]]:
    assert run.store is not None
    with run.store() as s:
        return [(v.id, v.status) for v in list_sorties(s, principal_of(s, "demo-release-officer"))]


def _audit_actions(run: DemoRun) -> list[str]:
    assert run.store is not None
    with run.store() as s:
        return [e["action"] for e in list_audit(s, limit=1000)]


def test_a_refused_survey_sortie_stops_the_demo_with_the_reason_and_flies_nothing(
    planned: DemoRun,
) -> None:
    run = planned
    assert run.mission is not None
    run.mission = replace(run.mission, turn_radius_m=20 * run.mission.turn_radius_m)
    with pytest.raises(PlanningError, match=r"refused by SEMAR: .*turns tighter than the aircraft"):
        _approve_sortie(run)
    assert run.mission.approval != "approved"
    assert not (run.out_dir / "plan-approved").exists()
    assert [status for _, status in _sorties(run)] == ["refused"]
    assert "sortie.refuse" in _audit_actions(run)


def test_a_refused_revisit_is_reported_not_flown_and_its_requests_open_again(
    planned: DemoRun, capsys: pytest.CaptureFixture[str]
) -> None:
    run = planned
    _approve_sortie(run)  # the survey as planned: approved
    assert run.store is not None and run.scenario is not None
    run.clock = run.scenario.window_start + timedelta(hours=12)
    # One site in the first area, sent back for another look.
    lon, lat = run.scenario.areas[0][1].centroid.coords[0]
    (site,) = upsert_sites(
        run.store,
        [
            SiteRecord(
                lon=lon,
                lat=lat,
                bbox=(lon - 1e-3, lat - 1e-3, lon + 1e-3, lat + 1e-3),
                first_seen=run.clock,
                last_seen=run.clock,
                observations=(),
                site_class="unknown",
                confidence=0.4,
                reasons=("clearing",),
                evidence={"clearing": 1},
            )
        ],
    )
    add_revisit_request(run.store, site, "uncertain", now=run.clock)
    _revisit(run)
    assert run.revisit is not None and run.summary["revisit"]["sites"] == [site]
    assert list_open_revisits(run.store) == []  # planned

    run.revisit = replace(run.revisit, turn_radius_m=20 * run.revisit.turn_radius_m)
    _approve_revisit(run)  # does not raise: the demo goes on
    request = run.summary["revisit"]["approval"]
    assert request["decision"] == "refused"
    assert "turns tighter than the aircraft" in request["reason"]
    assert not (run.out_dir / "plan-revisit-approved").exists()
    assert [r.site_id for r in list_open_revisits(run.store)] == [site]
    assert sorted(status for _, status in _sorties(run)) == ["approved", "refused"]
    assert _audit_actions(run).count("sortie.refuse") == 1

    _fly_revisit(run)
    assert "flown" not in run.summary["revisit"]
    assert not (run.out_dir / "revisit").exists()
    _print_revisit(run.summary["revisit"])
    out = " ".join(capsys.readouterr().out.split())
    assert "refused" in out and "not flown" in out
