"""The role × organisation × endpoint matrix: every endpoint, every role, every kind of object.

Each row below is written by hand: an endpoint, the object it names (released to A only, to B
only, to both, withdrawn, unreleased, nonexistent) and the exact status each of the seven
users gets, in the order of ``USERS_ORDER``::

    ana.analyst  rick.officer  ada.admin  |  pa.viewer  pa.officer  |  pb.viewer  pb.officer
       agency analyst, release officer,   |  partner A viewer,      |  partner B viewer,
       admin                              |  officer                |  officer

For every cell the test also checks that a partner's response body names no site, release,
sortie, organisation or user the partner may not see (other than what it sent itself), that a
refusal (4xx) was appended to the audit log under the caller's name with the route template
as its action, that a change (2xx on POST/PATCH) was audited as ``ok``, and that a read was
not audited. The whole matrix also runs on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import (
    ADM,
    AGENCY,
    ANA,
    AO,
    AREA,
    AV,
    BO,
    BV,
    HIDDEN,
    PA,
    PB,
    R_A,
    R_AB,
    R_B,
    R_NONE,
    R_W,
    REL,
    S_A,
    S_AB,
    S_B,
    S_C,
    S_N,
    S_NONE,
    S_W,
    SRT_A,
    SRT_B,
    SRT_NONE,
    USERS,
    Api,
)

USERS_ORDER = (ANA, REL, ADM, AV, AO, BV, BO)
PLAN = "{plan}"  # replaced by the seeded plan's path

OUTCOME = {"outcome": "nothing_found", "observed_at": "2026-05-31T12:00:00Z", "text": "empty"}
AMEND = {"caveats": ["handle through the liaison office only"]}
WITHDRAW = {"reason": "superseded by a later release"}
REFUSE = {"reason": "airspace closed that week"}


def release_to_b(site: str) -> dict[str, Any]:
    return {"site_ids": [site], "to_orgs": [PB], "tlp": "TLP:AMBER", "caveats": []}


SORTIE = {"name": "night sortie", "partner_org": PA, "plan_path": PLAN, "area": AREA}

# (method, path with {} for the object, object, body, statuses in USERS_ORDER)
#                                                       ana  rel  adm   aV   aO   bV   bO
ROWS: list[tuple[str, str, str | None, Any, tuple[int, ...]]] = [
    # ---- one site (OGC API Features item)
    ("GET", "/collections/sites/items/{}", S_A, None, (200, 200, 200, 200, 200, 404, 404)),
    ("GET", "/collections/sites/items/{}", S_B, None, (200, 200, 200, 404, 404, 200, 200)),
    ("GET", "/collections/sites/items/{}", S_AB, None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/collections/sites/items/{}", S_W, None, (200, 200, 200, 200, 200, 404, 404)),
    ("GET", "/collections/sites/items/{}", S_C, None, (200, 200, 200, 404, 404, 404, 404)),
    ("GET", "/collections/sites/items/{}", S_N, None, (200, 200, 200, 404, 404, 404, 404)),
    ("GET", "/collections/sites/items/{}", S_NONE, None, (404, 404, 404, 404, 404, 404, 404)),
    # ---- outcomes of a site
    ("POST", "/sites/{}/outcomes", S_A, OUTCOME, (403, 403, 403, 403, 201, 404, 404)),
    ("POST", "/sites/{}/outcomes", S_B, OUTCOME, (403, 403, 403, 404, 404, 403, 201)),
    ("POST", "/sites/{}/outcomes", S_AB, OUTCOME, (403, 403, 403, 403, 201, 403, 201)),
    ("POST", "/sites/{}/outcomes", S_W, OUTCOME, (403, 403, 403, 403, 409, 404, 404)),
    ("POST", "/sites/{}/outcomes", S_C, OUTCOME, (403, 403, 403, 404, 404, 404, 404)),
    ("POST", "/sites/{}/outcomes", S_N, OUTCOME, (403, 403, 403, 404, 404, 404, 404)),
    ("POST", "/sites/{}/outcomes", S_NONE, OUTCOME, (404, 404, 404, 404, 404, 404, 404)),
    # ---- one release
    ("GET", "/releases/{}", R_A, None, (200, 200, 200, 200, 200, 404, 404)),
    ("GET", "/releases/{}", R_B, None, (200, 200, 200, 404, 404, 200, 200)),
    ("GET", "/releases/{}", R_AB, None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/releases/{}", R_W, None, (200, 200, 200, 200, 200, 404, 404)),
    ("GET", "/releases/{}", R_NONE, None, (404, 404, 404, 404, 404, 404, 404)),
    # ---- its export, in every format (expanded below)
    ("GET", "/releases/{}/export?format=*", R_A, None, (200, 200, 200, 200, 200, 404, 404)),
    ("GET", "/releases/{}/export?format=*", R_B, None, (200, 200, 200, 404, 404, 200, 200)),
    ("GET", "/releases/{}/export?format=*", R_AB, None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/releases/{}/export?format=*", R_W, None, (200, 200, 200, 200, 200, 404, 404)),
    ("GET", "/releases/{}/export?format=*", R_NONE, None, (404, 404, 404, 404, 404, 404, 404)),
    # ---- amend
    ("PATCH", "/releases/{}", R_A, AMEND, (403, 200, 403, 403, 403, 404, 404)),
    ("PATCH", "/releases/{}", R_B, AMEND, (403, 200, 403, 404, 404, 403, 403)),
    ("PATCH", "/releases/{}", R_AB, AMEND, (403, 200, 403, 403, 403, 403, 403)),
    ("PATCH", "/releases/{}", R_W, AMEND, (403, 409, 403, 403, 403, 404, 404)),
    ("PATCH", "/releases/{}", R_NONE, AMEND, (404, 404, 404, 404, 404, 404, 404)),
    # ---- withdraw
    ("POST", "/releases/{}/withdraw", R_A, WITHDRAW, (403, 200, 403, 403, 403, 404, 404)),
    ("POST", "/releases/{}/withdraw", R_B, WITHDRAW, (403, 200, 403, 404, 404, 403, 403)),
    ("POST", "/releases/{}/withdraw", R_AB, WITHDRAW, (403, 200, 403, 403, 403, 403, 403)),
    ("POST", "/releases/{}/withdraw", R_W, WITHDRAW, (403, 409, 403, 403, 403, 404, 404)),
    ("POST", "/releases/{}/withdraw", R_NONE, WITHDRAW, (404, 404, 404, 404, 404, 404, 404)),
    # ---- acknowledge
    ("POST", "/releases/{}/acknowledge", R_A, None, (403, 403, 403, 403, 200, 404, 404)),
    ("POST", "/releases/{}/acknowledge", R_B, None, (403, 403, 403, 404, 404, 403, 200)),
    ("POST", "/releases/{}/acknowledge", R_AB, None, (403, 403, 403, 403, 200, 403, 200)),
    ("POST", "/releases/{}/acknowledge", R_W, None, (403, 403, 403, 403, 409, 404, 404)),
    ("POST", "/releases/{}/acknowledge", R_NONE, None, (404, 404, 404, 404, 404, 404, 404)),
    # ---- create a release (the object is the site released, to partner B)
    ("POST", "/releases", S_C, "release", (403, 201, 403, 403, 403, 403, 403)),
    ("POST", "/releases", S_A, "release", (403, 201, 403, 403, 403, 403, 403)),
    ("POST", "/releases", S_N, "release", (403, 403, 403, 403, 403, 403, 403)),
    ("POST", "/releases", S_NONE, "release", (403, 404, 403, 403, 403, 403, 403)),
    # ---- one sortie
    ("GET", "/sorties/{}", SRT_A, None, (200, 200, 200, 200, 200, 404, 404)),
    ("GET", "/sorties/{}", SRT_B, None, (200, 200, 200, 404, 404, 200, 200)),
    ("GET", "/sorties/{}", SRT_NONE, None, (404, 404, 404, 404, 404, 404, 404)),
    ("POST", "/sorties/{}/approve", SRT_A, None, (403, 403, 403, 403, 200, 404, 404)),
    ("POST", "/sorties/{}/approve", SRT_B, None, (403, 403, 403, 404, 404, 403, 200)),
    ("POST", "/sorties/{}/approve", SRT_NONE, None, (404, 404, 404, 404, 404, 404, 404)),
    ("POST", "/sorties/{}/refuse", SRT_A, REFUSE, (403, 403, 403, 403, 200, 404, 404)),
    ("POST", "/sorties/{}/refuse", SRT_B, REFUSE, (403, 403, 403, 404, 404, 403, 200)),
    ("POST", "/sorties/{}/refuse", SRT_NONE, REFUSE, (404, 404, 404, 404, 404, 404, 404)),
    ("POST", "/sorties", None, SORTIE, (201, 201, 201, 403, 403, 403, 403)),
    # ---- collections
    ("GET", "/collections/{}", "sites", None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/collections/{}", "flight_lines", None, (200, 200, 200, 404, 404, 404, 404)),
    ("GET", "/collections/{}", "detections", None, (200, 200, 200, 404, 404, 404, 404)),
    ("GET", "/collections/{}", "nonexistent", None, (404, 404, 404, 404, 404, 404, 404)),
    # ---- the agency's survey collections (flight lines, raw detections)
    ("GET", "/collections/{}/items", "flight_lines", None, (200, 200, 200, 404, 404, 404, 404)),
    ("GET", "/collections/{}/items", "detections", None, (200, 200, 200, 404, 404, 404, 404)),
    ("GET", "/collections/{}/items", "nonexistent", None, (404, 404, 404, 404, 404, 404, 404)),
    ("GET", "/collections/flight_lines/items/{}", "1", None, (200, 200, 200, 404, 404, 404, 404)),
    ("GET", "/collections/detections/items/{}", "1", None, (200, 200, 200, 404, 404, 404, 404)),
    ("GET", "/collections/detections/items/{}", "999", None, (404, 404, 404, 404, 404, 404, 404)),
    # ---- no object
    ("GET", "/", None, None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/conformance", None, None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/collections", None, None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/collections/sites/items", None, None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/releases", None, None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/sorties", None, None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/metrics", None, None, (200, 200, 200, 403, 403, 403, 403)),
    ("GET", "/health", None, None, (200, 200, 200, 200, 200, 200, 200)),
]

FORMATS = ("geojson", "kml", "cot", "stix", "csv")
ROWS = [
    (method, path.replace("*", fmt), obj, body, statuses)
    for method, path, obj, body, statuses in ROWS
    for fmt in (FORMATS if path.endswith("=*") else ("",))
]

CASES = [
    pytest.param(
        method,
        path,
        obj,
        body,
        user,
        status,
        id=f"{method} {path.format(obj) if obj and '{}' in path else path}"
        + (f" [{obj}]" if obj and "{}" not in path else "")
        + f" as {user} -> {status}",
    )
    for method, path, obj, body, statuses in ROWS
    for user, status in zip(USERS_ORDER, statuses, strict=True)
]

# Each route of the app is in the matrix (checked against the OpenAPI document below).
ROUTES = {
    ("GET", "/"),
    ("GET", "/conformance"),
    ("GET", "/collections"),
    ("GET", "/collections/{cid}"),
    ("GET", "/collections/sites/items"),
    ("GET", "/collections/sites/items/{fid}"),
    ("GET", "/collections/{cid}/items"),
    ("GET", "/collections/{cid}/items/{fid}"),
    ("POST", "/releases"),
    ("GET", "/releases"),
    ("GET", "/releases/{release_id}"),
    ("PATCH", "/releases/{release_id}"),
    ("POST", "/releases/{release_id}/withdraw"),
    ("POST", "/releases/{release_id}/acknowledge"),
    ("GET", "/releases/{release_id}/export"),
    ("POST", "/sites/{site_id}/outcomes"),
    ("POST", "/sorties"),
    ("GET", "/sorties"),
    ("GET", "/sorties/{sortie_id}"),
    ("POST", "/sorties/{sortie_id}/approve"),
    ("POST", "/sorties/{sortie_id}/refuse"),
    ("GET", "/metrics"),
    ("GET", "/health"),
}


def org_of(user: str) -> str:
    return USERS[user][0]


def assert_no_leak(user: str, text: str, sent: str) -> None:
    """A partner's response names nothing it may not see, unless it sent that name itself."""
    org = org_of(user)
    if org == AGENCY:
        return
    leaked = sorted(x for x in HIDDEN[org] if x in text and x not in sent)
    assert not leaked, f"{user} ({org}) was shown {leaked}: {text[:500]}"


def template_of(method: str, path: str) -> str:
    """The route template a request path matches (a literal segment beats a parameter)."""
    bare = path.split("?")[0].strip("/").split("/")
    best: tuple[int, str] | None = None
    for m, t in ROUTES:
        parts = t.strip("/").split("/")
        if m != method or len(parts) != len(bare):
            continue
        if all(x == y or x.startswith("{") for x, y in zip(parts, bare, strict=True)):
            literal = sum(not x.startswith("{") for x in parts)
            if best is None or literal > best[0]:
                best = (literal, t)
    if best is None:
        raise AssertionError(f"no route for {method} {path}")
    return best[1]


def exercise(
    api: Api, method: str, path: str, obj: str | None, body: Any, user: str, status: int
) -> None:
    url = path.format(obj) if obj is not None and "{}" in path else path
    if body == "release":
        assert obj is not None
        body = release_to_b(obj)
    if isinstance(body, dict) and body.get("plan_path") == PLAN:
        body = {**body, "plan_path": str(api.seed.plan)}
    before = api.audit_count()
    r = api.call(method, url, user, json=body)
    assert r.status_code == status, f"{method} {url} as {user}: {r.status_code} {r.text[:300]}"
    sent = url + json.dumps(body)
    assert_no_leak(user, r.text, sent)
    if status >= 500:
        raise AssertionError("a 5xx in the matrix")
    entries = api.audit(1)
    template = template_of(method, url)
    if status >= 400:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == status
        if status == 404:  # never more than "not found": existence must not leak
            assert r.json()["detail"] == "not found, or not visible to you"
        assert api.audit_count() == before + 1, "a refusal was not audited"
        e = entries[0]
        assert (e["actor"], e["org"], e["role"]) == (user, org_of(user), USERS[user][1])
        assert e["action"] == f"{method} {template}"
        assert e["outcome"] == "refused"
        assert e["client"] == "198.51.100.7"
        assert e["detail"]["status"] == status
        if obj is not None and "{}" in path:
            assert e["object"].split("/")[-1] == obj
    elif method != "GET" or template.endswith("/export"):
        assert api.audit_count() == before + 1, "a change (or an export) was not audited"
        e = entries[0]
        assert (e["actor"], e["outcome"]) == (user, "ok")
        assert e["action"] == f"{method} {template}"
    else:
        assert api.audit_count() == before, "a plain read was audited"


def changes_something(method: str, status: int) -> bool:
    """A request that succeeds in changing the store gets a fresh copy of it.

    Reads and refusals (which roll back) change nothing but the audit log, so they share one
    copy per back end: the matrix stays independent of the order its cells run in.
    """
    return method != "GET" and status < 400


@pytest.mark.parametrize(("method", "path", "obj", "body", "user", "status"), CASES)
def test_matrix(
    request: pytest.FixtureRequest,
    method: str,
    path: str,
    obj: str | None,
    body: Any,
    user: str,
    status: int,
) -> None:
    api = request.getfixturevalue("api" if changes_something(method, status) else "shared_api")
    exercise(api, method, path, obj, body, user, status)


@pytest.mark.parametrize(("method", "path", "obj", "body", "user", "status"), CASES)
def test_matrix_postgresql(
    request: pytest.FixtureRequest,
    method: str,
    path: str,
    obj: str | None,
    body: Any,
    user: str,
    status: int,
) -> None:
    fresh = changes_something(method, status)
    api = request.getfixturevalue("pg_api" if fresh else "pg_shared_api")
    exercise(api, method, path, obj, body, user, status)


def test_matrix_covers_every_route(api: Api) -> None:
    doc = api.call("GET", "/openapi.json", None).json()
    served = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert served == ROUTES
    covered = {(m, template_of(m, p.format("x") if "{}" in p else p)) for m, p, *_ in ROWS}
    assert covered == ROUTES


VISIBLE = {
    # (sites, releases, sorties) each organisation sees in the lists
    AGENCY: ({S_A, S_B, S_AB, S_C, S_N, S_W}, {R_A, R_B, R_AB, R_W}, {SRT_A, SRT_B}),
    PA: ({S_A, S_AB, S_W}, {R_A, R_AB, R_W}, {SRT_A}),
    PB: ({S_B, S_AB}, {R_B, R_AB}, {SRT_B}),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def any_api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield request.getfixturevalue("api" if request.param == "sqlite" else "pg_api")


@pytest.mark.parametrize("user", USERS_ORDER)
def test_lists_show_exactly_what_was_released(any_api: Api, user: str) -> None:
    sites, releases, sorties = VISIBLE[org_of(user)]
    items = any_api.call("GET", "/collections/sites/items", user).json()
    assert {f["id"] for f in items["features"]} == sites
    assert items["numberMatched"] == len(sites)
    got = any_api.call("GET", "/releases", user).json()
    assert {r["id"] for r in got} == releases
    if org_of(user) != AGENCY:
        assert all(r["recipients"] == [org_of(user)] for r in got)
        assert all(r["officer"] is None for r in got)
        assert all("evidence" not in f["properties"] for f in items["features"])
    assert {s["id"] for s in any_api.call("GET", "/sorties", user).json()} == sorties
    cids = {c["id"] for c in any_api.call("GET", "/collections", user).json()["collections"]}
    assert cids == (
        {"sites", "flight_lines", "detections"} if user in (ANA, REL, ADM) else {"sites"}
    )
    for text in (
        json.dumps(items),
        json.dumps(got),
        any_api.call("GET", "/sorties", user).text,
    ):
        assert_no_leak(user, text, "")


def test_a_token_of_partner_a_on_partner_b_release(api: Api) -> None:
    for method, path, body in (
        ("GET", f"/releases/{R_B}", None),
        ("GET", f"/releases/{R_B}/export?format=stix", None),
        ("PATCH", f"/releases/{R_B}", AMEND),
        ("POST", f"/releases/{R_B}/withdraw", WITHDRAW),
        ("POST", f"/releases/{R_B}/acknowledge", None),
        ("POST", f"/sites/{S_B}/outcomes", OUTCOME),
        ("GET", f"/collections/sites/items/{S_B}", None),
    ):
        r = api.call(method, path, AO, json=body)
        # The same answer as for an id that never existed.
        ghost = api.call(method, path.replace(R_B, R_NONE).replace(S_B, S_NONE), AO, json=body)
        assert r.status_code == ghost.status_code == 404, path
        assert r.json() == ghost.json()
        e = api.audit(2)[1]
        assert (e["actor"], e["outcome"], e["detail"]["status"]) == (AO, "refused", 404)
