"""The sharing commands: org, user, token, release, outcome, sortie and audit, end to end."""

import json
import re
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigia.cli.main import run
from vigia.store import open_store, read_session, upsert_sites
from vigia.store.access import authenticate
from vigia.store.records import SiteRecord
from vigia.store.review import decide

T0 = datetime.now(UTC) - timedelta(days=10)


class Vigia:
    """Run ``vigia`` in this process against one data directory."""

    def __init__(
        self, data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.data, self.monkeypatch, self.capsys = data, monkeypatch, capsys
        monkeypatch.delenv("VIGIA_DATABASE_URL", raising=False)
        monkeypatch.setenv("VIGIA_DATA_DIR", str(data))

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "argv", ["vigia", *args])
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            run()
        out, err = self.capsys.readouterr()
        return int(done.value.code or 0), out, err

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 0, err
        return out


@pytest.fixture()
def vigia(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Vigia:
    v = Vigia(tmp_path / "data", monkeypatch, capsys)
    v.ok("org", "add", "AGENCY", "--kind", "agency", "--country", "MEX")
    v.ok("org", "add", "PA", "--kind", "partner", "--country", "MEX")
    v.ok("org", "add", "PB", "--kind", "partner")
    for name, org, role in [
        ("ana", "AGENCY", "analyst"),
        ("rob", "AGENCY", "release_officer"),
        ("pa_off", "PA", "partner_officer"),
        ("pb_off", "PB", "partner_officer"),
    ]:
        v.ok("user", "add", name, "--org", org, "--role", role)
    return v


def confirmed_sites(data: Path, n: int) -> list[str]:
    factory = open_store(url=f"sqlite:///{data / 'vigia.db'}")
    records = [
        SiteRecord(
            lon=-107.3 + 0.01 * k,
            lat=25.0,
            bbox=(-107.301 + 0.01 * k, 24.999, -107.299 + 0.01 * k, 25.001),
            site_class="rural_lab",
            confidence=0.95,
            first_seen=T0,
            last_seen=T0 + timedelta(hours=1),
            reasons=("CH4 plume on 2 of 2 passes",),
            evidence={"passes": {"plume": {"seen": 2, "looked": 2}}, "species": ["CH4"]},
        )
        for k in range(n)
    ]
    ids = upsert_sites(factory, records, now=T0)
    for sid in ids:
        decide(factory, sid, "confirm", analyst="ana", reason="a lab", now=T0 + timedelta(hours=2))
    return ids


def test_organisations_and_users_list_as_json(vigia: Vigia) -> None:
    assert json.loads(vigia.ok("org", "list", "--json")) == [
        {"name": "AGENCY", "kind": "agency", "country": "MEX"},
        {"name": "PA", "kind": "partner", "country": "MEX"},
        {"name": "PB", "kind": "partner", "country": None},
    ]
    users = json.loads(vigia.ok("user", "list", "--json"))
    assert {(u["name"], u["org"], u["role"]) for u in users} >= {
        ("ana", "AGENCY", "analyst"),
        ("pa_off", "PA", "partner_officer"),
    }
    code, _, err = vigia("user", "add", "zed", "--org", "PA", "--role", "analyst")
    assert code == 2 and err.startswith("vigia: error: ") and "partner" in err


def test_token_issue_prints_only_the_token_and_revoke_ends_it(vigia: Vigia) -> None:
    out = vigia.ok("token", "issue", "pa_off", "--expires", "12h")
    assert re.fullmatch(r"vga_[A-Za-z0-9_-]{43}\n", out)
    token = out.strip()
    factory = open_store(url=f"sqlite:///{vigia.data / 'vigia.db'}")
    with read_session(factory) as s:
        assert authenticate(s, token, now=datetime.now(UTC)).user == "pa_off"
    vigia.ok("token", "revoke", token)
    (listed,) = json.loads(vigia.ok("token", "list", "--user", "pa_off", "--json"))
    assert listed["prefix"] == token[:12] and listed["revoked_at"] is not None
    assert token not in vigia.ok("token", "list", "--json")
    with read_session(factory) as s, pytest.raises(PermissionError):
        authenticate(s, token, now=datetime.now(UTC))
    second = vigia.ok("token", "issue", "pa_off").strip()
    vigia.ok("user", "disable", "pa_off")
    with read_session(factory) as s, pytest.raises(PermissionError, match="disabled"):
        authenticate(s, second, now=datetime.now(UTC))
    vigia.ok("user", "enable", "pa_off")
    with read_session(factory) as s:
        assert authenticate(s, second, now=datetime.now(UTC)).user == "pa_off"
    code, _, err = vigia("token", "issue", "pa_off", "--expires", "forever")
    assert code == 2 and "duration" in err


def test_release_outcome_and_withdrawal_from_the_command_line(vigia: Vigia, tmp_path: Path) -> None:
    s1, s2 = confirmed_sites(vigia.data, 2)
    code, _, err = vigia("release", "create", s1, "--to", "PA", "--as", "ana")
    assert code == 2 and "release officer" in err
    rid = vigia.ok(
        "release", "create", s1, s2, "--to", "PA", "--to", "PB", "--tlp", "TLP:AMBER",
        "--caveat", "partner police only", "--as", "rob",
    ).strip()  # fmt: skip
    assert rid == "REL-0001"
    (seen,) = json.loads(vigia.ok("release", "list", "--as", "pa_off", "--json"))
    assert (seen["recipients"], seen["officer"], seen["caveats"]) == (
        ["PA"],
        None,
        ["partner police only"],
    )

    out = tmp_path / "rel.geojson"
    vigia.ok("release", "export", rid, "--format", "geojson", "--out", str(out), "--as", "pa_off")
    doc = json.loads(out.read_text())
    assert len(doc["features"]) == 2 and "TLP:AMBER" in out.read_text()

    vigia.ok(
        "outcome", "report", s1, "--outcome", "seizure", "--quantity", "powder=12 lb",
        "--quantity", "pills=300 tablets", "--text", "lab dismantled", "--as", "pa_off",
    )  # fmt: skip
    sites = json.loads(vigia.ok("site", "list", "--json"))
    assert {s["id"]: s["state"] for s in sites} == {s1: "actioned", s2: "acknowledged"}

    vigia.ok("release", "amend", rid, "--tlp", "TLP:RED", "--as", "rob")
    (seen,) = json.loads(vigia.ok("release", "list", "--as", "pa_off", "--json"))
    assert (seen["tlp"], seen["version"], seen["caveats"]) == (
        "TLP:RED",
        2,
        ["partner police only"],
    )
    vigia.ok("release", "withdraw", rid, "--reason", "source burned", "--as", "rob")
    (seen,) = json.loads(vigia.ok("release", "list", "--as", "pb_off", "--json"))
    assert seen["withdrawn"] and seen["withdraw_reason"] == "source burned"

    assert vigia.ok("audit", "verify").startswith("audit chain intact: ")
    entries = json.loads(vigia.ok("audit", "list", "--json", "--limit", "100"))
    actions = {(e["action"], e["outcome"], e["actor"]) for e in entries}
    assert {
        ("release.create", "refused", "ana"),
        ("release.create", "ok", "rob"),
        ("release.export", "ok", "pa_off"),
        ("outcome.report", "ok", "pa_off"),
        ("release.amend", "ok", "rob"),
        ("release.withdraw", "ok", "rob"),
    } <= actions
    assert all(e["client"] == "cli" for e in entries)


def test_sortie_submit_and_partner_approval(vigia: Vigia, tmp_path: Path) -> None:
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "plan.json").write_text(json.dumps({"name": "sinaloa"}))
    ring = [[-107.4, 24.9], [-107.2, 24.9], [-107.2, 25.1], [-107.4, 25.1], [-107.4, 24.9]]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"name": "a", "layer": "area"},
    }
    (plan / "areas.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]})
    )
    sid = vigia.ok("sortie", "submit", str(plan), "--to", "PA", "--as", "ana").strip()
    assert sid == "SRT-0001"
    code, _, err = vigia("sortie", "approve", sid, "--as", "pb_off")
    assert code == 2 and "not found" in err
    vigia.ok("sortie", "approve", sid, "--reason", "coordinated", "--as", "pa_off")
    (view,) = json.loads(vigia.ok("sortie", "list", "--json"))
    assert (view["status"], view["flyable"], view["decided_by"]) == ("approved", True, "pa_off")
    assert json.loads(vigia.ok("sortie", "list", "--as", "pb_off", "--json")) == []


def test_audit_verify_names_the_first_tampered_entry(vigia: Vigia) -> None:
    out = vigia.ok("audit", "verify")
    assert out == "audit chain intact: 7 entries\n"
    head = vigia.ok("audit", "head").strip()
    with sqlite3.connect(vigia.data / "vigia.db") as db:
        db.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 3")
    code, _, err = vigia("audit", "verify")
    assert code == 1 and "entry 3" in err
    with sqlite3.connect(vigia.data / "vigia.db") as db:
        db.execute("DELETE FROM audit_log WHERE id >= 3")
    assert vigia.ok("audit", "verify") == "audit chain intact: 2 entries\n"
    code, _, err = vigia("audit", "verify", "--head", head)
    assert code == 1 and "entry 3" in err and "cut off" in err


def test_metrics_count_the_loop_and_calibrate_on_outcomes(vigia: Vigia, tmp_path: Path) -> None:
    s1, s2 = confirmed_sites(vigia.data, 2)
    vigia.ok("release", "create", s1, s2, "--to", "PA", "--as", "rob")
    empty = json.loads(vigia.ok("metrics", "--json"))
    assert empty["metrics"]["released"] == 2 and empty["calibration"] is None
    vigia.ok(
        "outcome", "report", s1, "--outcome", "seizure", "--quantity", "powder=12 lb",
        "--text", "lab dismantled", "--as", "pa_off",
    )  # fmt: skip
    vigia.ok("outcome", "report", s2, "--outcome", "nothing_found", "--text", "-", "--as", "pa_off")
    figure = tmp_path / "reliability.png"
    doc = json.loads(vigia.ok("metrics", "--json", "--figure", str(figure)))
    m = doc["metrics"]
    assert (m["released"], m["actioned"], m["hit_rate"]) == (2, 2, 0.5)
    assert doc["calibration"]["labelled"] == 2 and figure.stat().st_size > 0
    assert "hit rate" in vigia.ok("metrics")


def test_an_approved_sorties_exports_say_so_and_a_changed_plan_loses_the_approval(
    vigia: Vigia, tmp_path: Path
) -> None:
    plan, out = tmp_path / "plan", tmp_path / "approved"
    vigia.ok("plan", "--scenario", "sinaloa", "--out-dir", str(plan))
    assert json.loads((plan / "plan.json").read_text())["approval"] == "draft"
    sid = vigia.ok("sortie", "submit", str(plan), "--to", "PA", "--as", "ana").strip()
    code, _, err = vigia("sortie", "exports", sid, "--out-dir", str(out))
    assert code == 2 and "not approved" in err and not out.exists()
    vigia.ok("sortie", "approve", sid, "--reason", "coordinated", "--as", "pa_off")
    vigia.ok("sortie", "exports", sid, "--out-dir", str(out))
    summary = json.loads((out / "plan.json").read_text())
    assert summary["approval"] == "approved" and sid in summary["approval_ref"]
    routes = json.loads((out / "route.geojson").read_text())["features"]
    assert routes and all(f["properties"]["approval"] == "approved" for f in routes)
    kml = (out / "mission.kml").read_text()
    assert "do not fly" not in kml and f"approved by partner MX ({sid}" in kml
    from fastkml import KML

    KML.from_string(kml.encode())
    assert (out / "mission.plan").read_bytes() == (plan / "mission.plan").read_bytes()
    # The approval holds for the plan as approved, not for a plan changed afterwards.
    (plan / "mission.waypoints").write_text((plan / "mission.waypoints").read_text() + "\n")
    code, _, err = vigia("sortie", "exports", sid, "--out-dir", str(tmp_path / "again"))
    assert code == 2 and "changed since it was approved" in err
