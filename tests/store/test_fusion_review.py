"""Sites in the store: fused from stored detections, merged on refresh, reviewed by analysts."""

import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigia.detect.detection import Detection, SearchedLine, SpeciesFinding, write_detections
from vigia.errors import LifecycleError, NotFoundError
from vigia.store import SessionFactory, get_site, ingest_detections, list_sites
from vigia.store.fusion import refresh_sites
from vigia.store.review import DEMO_ACTOR, decide, demo_decision

from .conftest import row_counts, square

T0 = datetime(2025, 3, 4, 17, 0, tzinfo=UTC)
LON, LAT = -107.30, 25.00
M = 1.0 / 111_195.0


def at(dx: float, dy: float) -> tuple[float, float]:
    return LON + dx * M / math.cos(math.radians(LAT)), LAT + dy * M


def line(line_id: str, sensor: str, t: datetime) -> SearchedLine:
    iso = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    return SearchedLine(
        line_id=line_id,
        sensor=sensor,  # type: ignore[arg-type]
        time_start=iso,
        time_end=iso,
        footprint=square(LON, LAT, 0.02),
        area_km2=16.0,
        pixel_size_m=6.0 if sensor == "vswir" else 10.0,
        shape=(400, 400),
    )


def det(i: str, kind: str, ln: str, sensor: str, dx: float, dy: float, t: datetime,
        species: list[str] | None = None, score: float = 0.9) -> Detection:  # fmt: skip
    lon, lat = at(dx, dy)
    return Detection(
        id=i,
        kind=kind,  # type: ignore[arg-type]
        line_id=ln,
        sensor=sensor,  # type: ignore[arg-type]
        time=t,
        lon=lon,
        lat=lat,
        score=score,
        species=species or [],
        area_m2=144.0,
        pixel_row=0,
        pixel_col=0,
        n_pixels=4,
        footprint=square(lon, lat, 5e-5),
    )


def pass_file(tmp: Path, k: int, lab: bool = True) -> Path:
    t = T0 + timedelta(days=3 * k)
    p = f"P{k}"
    dets = [det(f"{p}-g", "tarp", p, "vswir", 700, 200, t)]  # a farm tarp, every pass
    if lab:
        dets += [
            det(f"{p}-f", "thermal", p, "lwir", 3, -2, t),
            det(f"{p}-t", "tarp", p, "vswir", -4, 5, t),
            det(f"{p}-a", "plume", p, "lwir", 10, 0, t, ["NH3", "acetone"]).model_copy(
                update={
                    "species_detail": [
                        SpeciesFinding(name="NH3", confidence=0.9, emission_kg_h=2.0 + k),
                        SpeciesFinding(name="acetone", confidence=0.7),
                    ],
                    "emission_kg_h": 2.0 + k,
                    "emission_kg_h_sigma": math.hypot(0.8, 0.2 * (2.0 + k)),
                    "emission_kg_h_measured": 2.0 + k,
                    "emission_kg_h_measured_sigma": math.hypot(0.8, 0.2 * (2.0 + k)),
                    "emission_kg_h_mass_sigma": 0.8,
                }
            ),
        ]
    lines = [line(p, "vswir", t), line(p, "lwir", t)]
    return write_detections(tmp / f"{p}.geojson", dets, lines, source="test")


def test_refresh_makes_sites_and_a_later_pass_grows_them_keeping_ids(
    store: SessionFactory, tmp_path: Path
) -> None:
    ingest_detections(store, pass_file(tmp_path, 1))
    first = refresh_sites(store)
    assert len(first.site_ids) == 2 and sorted(first.new) == sorted(first.site_ids)
    by_class = {s.site_class: s for s in list_sites(store)}
    assert set(by_class) == {"rural_lab", "farm_tarp"}
    lab_id = by_class["rural_lab"].id
    ingest_detections(store, pass_file(tmp_path, 2))
    second = refresh_sites(store)
    assert second.new == []
    lab = get_site(store, lab_id)
    assert len(lab.observations) == 6
    assert lab.site.confidence > by_class["rural_lab"].confidence
    assert any("on 2 of 2 passes" in r for r in lab.site.reasons)
    # The plume's rate over both passes (3 and 4 kg/h of NH3, each ± 0.8 kg/h and 20 %) is in
    # its evidence.
    nh3 = lab.site.evidence["emission"]["NH3"]
    assert nh3["passes"] == 2 and nh3["rate_kg_h"] == pytest.approx(3.5, abs=0.01)
    assert nh3["sigma_kg_h"] < 1.0


def test_a_refresh_with_nothing_new_changes_nothing(store: SessionFactory, tmp_path: Path) -> None:
    ingest_detections(store, pass_file(tmp_path, 1))
    refresh_sites(store)
    before = row_counts(store)
    refresh_sites(store)
    after = row_counts(store)
    assert {k: v for k, v in after.items() if k != "revisit_requests"} == {
        k: v for k, v in before.items() if k != "revisit_requests"
    }


def test_an_analyst_confirms_from_candidate_through_review_and_it_is_recorded(
    store: SessionFactory, tmp_path: Path
) -> None:
    ingest_detections(store, pass_file(tmp_path, 1))
    refresh_sites(store)
    lab = next(s for s in list_sites(store) if s.site_class == "rural_lab")
    made = decide(store, lab.id, "confirm", analyst="ana", reason="fire under a tarp, NH3")
    assert [(d.action, d.from_state, d.to_state) for d in made] == [
        ("start_review", "candidate", "in_review"),
        ("confirm", "in_review", "confirmed"),
    ]
    detail = get_site(store, lab.id)
    assert detail.site.state == "confirmed"
    assert detail.decisions[-1].actor == "ana" and detail.decisions[-1].role == "analyst"
    assert detail.decisions[-1].time.tzinfo is not None


def test_illegal_decisions_and_unknown_sites_change_nothing(
    store: SessionFactory, tmp_path: Path
) -> None:
    ingest_detections(store, pass_file(tmp_path, 1))
    refresh_sites(store)
    lab = next(s for s in list_sites(store) if s.site_class == "rural_lab")
    decide(store, lab.id, "reject", analyst="ana", reason="no")
    before = row_counts(store)
    with pytest.raises(LifecycleError, match=lab.id):
        decide(store, lab.id, "confirm", analyst="ana", reason="changed my mind")
    with pytest.raises(NotFoundError, match="SITE-999999"):
        decide(store, "SITE-999999", "confirm", analyst="ana", reason="x")
    assert row_counts(store) == before


def test_the_demo_policy_confirms_labs_rejects_decoys_and_says_it_is_not_a_person(
    store: SessionFactory, tmp_path: Path
) -> None:
    ingest_detections(store, pass_file(tmp_path, 1))
    ingest_detections(store, pass_file(tmp_path, 2))
    refresh_sites(store)
    for s in list_sites(store):
        decision, reason = demo_decision(s)
        assert reason.startswith("[DEMO POLICY")
        if decision:
            decide(store, s.id, decision, analyst=DEMO_ACTOR, reason=reason)
    states = {s.site_class: s.state for s in list_sites(store)}
    assert states == {"rural_lab": "confirmed", "farm_tarp": "rejected"}


def test_uncertain_sites_get_one_revisit_request_and_the_planner_takes_it(
    store: SessionFactory, tmp_path: Path
) -> None:
    lines = [line("P1", "vswir", T0)]
    dets = [det("x", "clearing", "P1", "vswir", 0, 0, T0, score=1.0)]
    ingest_detections(store, write_detections(tmp_path / "c.geojson", dets, lines, "t"))
    first = refresh_sites(store)
    assert first.revisits == first.site_ids  # a lone clearing is uncertain
    again = refresh_sites(store)
    assert again.revisits == []  # one open request is enough
    detail = get_site(store, first.site_ids[0])
    assert [r.status for r in detail.revisits] == ["open"]


def vigia(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigia.cli.main", *args], capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_commands_ingest_list_review_and_plan_revisits(tmp_path: Path, backend: str) -> None:
    import os

    env = {**os.environ, "VIGIA_DATA_DIR": str(tmp_path / "data")}
    env.pop("VIGIA_DATABASE_URL", None)
    f1, f2 = pass_file(tmp_path, 1), pass_file(tmp_path, 2)
    res = vigia("ingest", str(f1), str(f2), env=env)
    assert res.returncode == 0, res.stderr
    again = vigia("ingest", str(f1), env=env)
    assert "already" in again.stdout
    listed = json.loads(vigia("site", "list", "--json", env=env).stdout)
    assert {s["class"] for s in listed} == {"rural_lab", "farm_tarp"}
    for s in listed:
        assert set(s) >= {"id", "lon", "lat", "state", "class", "confidence"}
    lab = next(s for s in listed if s["class"] == "rural_lab")
    ok = vigia("review", "confirm", lab["id"], "--reason", "fire, tarp, NH3", "--analyst", "ana",
               env=env)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    bad = vigia("review", "confirm", lab["id"], "--reason", "again", env=env)
    assert bad.returncode == 2 and "cannot 'confirm'" in bad.stderr
    missing = vigia("review", "reject", "SITE-999999", "--reason", "x", env=env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    # Every decision, and every refused one, is in the hash-chained audit log.
    log = json.loads(vigia("audit", "list", "--json", env=env).stdout)
    assert {(e["action"], e["object"], e["outcome"]) for e in log} >= {
        ("review.confirm", lab["id"], "ok"),
        ("review.confirm", lab["id"], "refused"),
        ("review.reject", "SITE-999999", "refused"),
    }
    assert vigia("audit", "verify", env=env).returncode == 0
    confirmed = json.loads(vigia("site", "list", "--state", "confirmed", "--json", env=env).stdout)
    assert [s["id"] for s in confirmed] == [lab["id"]]
    sheet = tmp_path / "sheet.png"
    shown = vigia("review", "show", lab["id"], "--out", str(sheet), env=env)
    assert shown.returncode == 0, shown.stderr
    assert sheet.stat().st_size > 0
    assert "emission NH3 3.5 ± " in shown.stdout and "over 2 passes" in shown.stdout
    tarp = next(s for s in listed if s["class"] == "farm_tarp")
    vigia("review", "revisit", tarp["id"], "--reason", "look again", "--analyst", "ana", env=env)
    plan = vigia("plan", "--revisits", "--scenario", "sinaloa", "--out-dir",
                 str(tmp_path / "rev"), env=env)  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    assert (tmp_path / "rev" / "mission.plan").exists()
    none_left = vigia("plan", "--revisits", "--out-dir", str(tmp_path / "rev2"), env=env)
    assert none_left.returncode == 2 and "no open revisit" in none_left.stderr
