"""Releases through the API: release, amend, withdraw, acknowledge, outcomes, exports, metrics."""

from __future__ import annotations

import csv
import io
import json

import pytest
from lxml import etree

from .conftest import (
    ADM,
    ANA,
    AO,
    AREA,
    BO,
    BV,
    PA,
    PB,
    R_A,
    R_AB,
    REL,
    S_A,
    S_AB,
    S_C,
    SRT_A,
    SRT_B,
    Api,
)


def test_release_then_the_partner_sees_it(api: Api) -> None:
    assert api.call("GET", f"/collections/sites/items/{S_C}", BV).status_code == 404
    body = {"site_ids": [S_C], "to_orgs": [PB], "tlp": "TLP:AMBER+STRICT", "caveats": ["no use"]}
    r = api.call("POST", "/releases", REL, json=body)
    assert r.status_code == 201, r.text
    rel = r.json()
    assert r.headers["location"].endswith(f"/releases/{rel['id']}")
    assert rel["site_ids"] == [S_C] and rel["recipients"] == [PB] and rel["officer"] == REL
    entry = api.audit(1)[0]
    assert (entry["action"], entry["object"], entry["outcome"]) == (
        "POST /releases",
        rel["id"],
        "ok",
    )
    assert entry["detail"]["tlp"] == "TLP:AMBER+STRICT"
    seen = api.call("GET", f"/collections/sites/items/{S_C}", BV)
    assert seen.status_code == 200
    assert seen.json()["properties"]["tlp"] == "TLP:AMBER+STRICT"
    assert api.call("GET", f"/releases/{rel['id']}", BV).json()["officer"] is None


def test_two_person_rule(api: Api) -> None:
    from vigia.store.access import add_user
    from vigia.store.db import write_session
    from vigia.store.review import decide

    from .conftest import NOW, S_N

    # An officer who confirmed a site may not release it.
    with write_session(api.factory) as s:
        add_user(s, "second.officer", "Agencia", "release_officer", now=NOW)
    decide(api.factory, S_N, "confirm", analyst="second.officer", reason="seen", now=NOW)
    from vigia.store.access import issue_token

    with write_session(api.factory) as s:
        token = issue_token(s, "second.officer", expires=None, now=NOW)
    body = {"site_ids": [S_N], "to_orgs": [PA], "tlp": "TLP:AMBER"}
    r = api.client.post("/releases", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert "two-person" in r.json()["detail"]
    assert api.call("POST", "/releases", REL, json=body).status_code == 201


def test_amend_and_withdraw_are_seen_by_the_partner(api: Api) -> None:
    r = api.call("PATCH", f"/releases/{R_A}", REL, json={"tlp": "TLP:RED", "caveats": ["eyes"]})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["amended_at"] is not None
    assert api.call("GET", f"/releases/{R_A}", AO).json()["tlp"] == "TLP:RED"
    assert api.call("PATCH", f"/releases/{R_A}", REL, json={}).status_code == 409
    r = api.call("POST", f"/releases/{R_A}/withdraw", REL, json={"reason": "wrong site"})
    assert r.status_code == 200
    seen = api.call("GET", f"/releases/{R_A}", AO).json()
    assert seen["withdrawn"] is True and seen["withdraw_reason"] == "wrong site"
    assert (
        api.call("POST", f"/releases/{R_A}/withdraw", REL, json={"reason": "x"}).status_code == 409
    )
    assert api.call("POST", f"/releases/{R_A}/acknowledge", AO).status_code == 409


def test_acknowledge_then_report_a_seizure_then_metrics(api: Api) -> None:
    r = api.call("POST", f"/releases/{R_AB}/acknowledge", AO)
    assert r.status_code == 200 and r.json()["acknowledged"] is True
    # Partner B has not acknowledged: the agency sees the release as not yet acknowledged.
    agency_view = api.call("GET", f"/releases/{R_AB}", ANA).json()
    assert agency_view["acknowledged"] is False
    assert agency_view["acknowledgements"][PB] is None
    body = {
        "outcome": "seizure",
        "quantities": [{"item": "powder", "amount": 22.0462, "unit": "lb"}],
        "observed_at": "2026-05-30T06:00:00Z",
        "text": "lab dismantled, powder seized",
    }
    r = api.call("POST", f"/sites/{S_AB}/outcomes", AO, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["site_id"] == S_AB
    bad = {**body, "quantities": [{"item": "powder", "amount": 2, "unit": "parsecs"}]}
    assert api.call("POST", f"/sites/{S_AB}/outcomes", AO, json=bad).status_code == 422
    late = {**body, "observed_at": "2030-01-01T00:00:00Z"}
    assert api.call("POST", f"/sites/{S_AB}/outcomes", AO, json=late).status_code == 422
    naive = {**body, "observed_at": "2026-05-30T06:00:00"}
    assert api.call("POST", f"/sites/{S_AB}/outcomes", AO, json=naive).status_code == 422
    m = api.call("GET", "/metrics", ADM).json()
    assert m["actioned"] == 1 and m["with_findings"] == 1
    assert m["seized"] == [{"item": "powder", "unit": "kg", "total": pytest.approx(10.0, rel=1e-4)}]
    assert set(m["by_partner"]) == {PA, PB}


@pytest.mark.parametrize(
    ("fmt", "media"),
    [
        ("geojson", "application/geo+json"),
        ("kml", "application/vnd.google-earth.kml+xml"),
        ("cot", "application/xml"),
        ("stix", "application/stix+json;version=2.1"),
        ("csv", "text/csv; charset=utf-8"),
    ],
)
def test_exports_carry_the_marking(api: Api, fmt: str, media: str) -> None:
    r = api.call("GET", f"/releases/{R_AB}/export?format={fmt}", BO)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    assert f"{R_AB}." in r.headers["content-disposition"]
    text = r.text
    assert "TLP:GREEN" in text or "green" in text.lower()
    assert PA not in text, "partner B's export names partner A"
    if fmt in ("geojson", "stix"):
        json.loads(text)
    elif fmt in ("kml", "cot"):
        etree.fromstring(text.encode())
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [row["site_id"] for row in rows] == [S_AB]
    entry = api.audit(1)[0]
    assert entry["action"] == "GET /releases/{release_id}/export"
    assert entry["detail"] == {"format": fmt}


def test_bad_export_format_is_422(api: Api) -> None:
    assert api.call("GET", f"/releases/{R_A}/export?format=docx", AO).status_code == 422


def test_sortie_approval_flow(api: Api) -> None:
    r = api.call(
        "POST",
        "/sorties",
        ANA,
        json={"name": "dawn", "partner_org": PB, "plan_path": str(api.seed.plan), "area": AREA},
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.json()["status"] == "submitted" and r.json()["flyable"] is False
    assert api.call("GET", f"/sorties/{sid}", AO).status_code == 404
    r = api.call("POST", f"/sorties/{sid}/refuse", BO, json={"reason": ""})
    assert r.status_code == 422
    r = api.call("POST", f"/sorties/{sid}/approve", BO, json={"reason": "cleared with ATC"})
    assert r.status_code == 200 and r.json()["flyable"] is True
    assert r.json()["decided_by"] == BO
    assert api.call("POST", f"/sorties/{sid}/refuse", BO, json={"reason": "no"}).status_code == 409
    r = api.call("POST", f"/sorties/{SRT_A}/refuse", AO, json={"reason": "airspace closed"})
    assert r.status_code == 200 and r.json()["status"] == "refused"
    assert api.call("GET", f"/sorties/{SRT_B}", BO).json()["status"] == "submitted"
    actions = [e["action"] for e in api.audit(3)]
    assert actions == [
        "POST /sorties/{sortie_id}/refuse",
        "POST /sorties/{sortie_id}/refuse",
        "POST /sorties/{sortie_id}/approve",
    ]


@pytest.mark.parametrize(
    "area",
    [
        {"type": "Point", "coordinates": [0, 0]},
        {"type": "Polygon", "coordinates": [[[25.0, -107.0], [25.1, -107.0], [25.1, -107.1]]]},
    ],
)
def test_bad_sortie_areas_are_422(api: Api, area: dict[str, object]) -> None:
    body = {"name": "x", "partner_org": PA, "plan_path": str(api.seed.plan), "area": area}
    assert api.call("POST", "/sorties", ANA, json=body).status_code == 422


def test_the_audit_chain_stays_intact(api: Api) -> None:
    from vigia.store.audit import verify_audit

    api.call("POST", f"/releases/{R_A}/acknowledge", AO)
    api.call("GET", f"/releases/{R_A}", BV)
    api.call("GET", "/releases", None)
    with api.factory() as s:
        verdict = verify_audit(s)
    assert verdict.ok and verdict.entries >= 3
    assert S_A  # the release carried S_A


@pytest.mark.parametrize("plan_path", ["/", "/etc/passwd", "../../etc", ".", "plan.geojson/../.."])
def test_a_plan_outside_the_plans_directory_is_422(api: Api, plan_path: str) -> None:
    body = {"name": "x", "partner_org": PA, "plan_path": plan_path, "area": AREA}
    r = api.call("POST", "/sorties", ANA, json=body)
    assert r.status_code == 422, r.text
    assert api.audit(1)[0]["outcome"] == "refused"


def test_a_plan_relative_to_the_plans_directory_is_read(api: Api) -> None:
    body = {"name": "x", "partner_org": PA, "plan_path": api.seed.plan.name, "area": AREA}
    r = api.call("POST", "/sorties", ANA, json=body)
    assert r.status_code == 201, r.text
    assert len(r.json()["plan_sha256"]) == 64
