"""Refused requests: bad tokens, oversized and malformed bodies, each answered and audited.

Every refusal must answer the right status with a problem document and append one audit
entry (outcome ``refused``) in its own transaction: the refused request changed nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import AO, PB, R_A, REL, S_C, Api

PROTECTED = [
    ("GET", "/releases", None),
    ("GET", f"/releases/{R_A}", None),
    ("POST", f"/releases/{R_A}/acknowledge", None),
    ("POST", "/releases", {"site_ids": [S_C], "to_orgs": [PB], "tlp": "TLP:AMBER"}),
    ("GET", "/collections/sites/items", None),
]


def assert_refused(api: Api, r: Any, status: int, before: int, *, actor: str = "anonymous") -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"]
    assert "Traceback" not in r.text
    assert api.audit_count() == before + 1
    entry = api.audit(1)[0]
    assert entry["outcome"] == "refused"
    assert entry["actor"] == actor
    assert entry["client"] == "198.51.100.7"
    assert entry["detail"]["status"] == status
    return entry


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize(
    ("credentials", "reason"),
    [
        (None, "missing"),
        ("expired", "expired"),
        ("revoked", "revoked"),
        ("disabled", "disabled"),
        ("Bearer vga_" + "x" * 43, "unknown"),
        ("Bearer not-a-vigia-token", "malformed"),
        ("Bearer", "malformed"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Bearer two words", "malformed"),
    ],
)
def test_bad_credentials_answer_401_and_are_audited(
    api: Api, method: str, path: str, body: Any, credentials: str | None, reason: str
) -> None:
    headers = {}
    if credentials in ("expired", "revoked", "disabled"):
        headers = api.headers(credentials)
    elif credentials is not None:
        headers = {"Authorization": credentials}
    before = api.audit_count()
    r = api.client.request(method, path, headers=headers, json=body)
    entry = assert_refused(api, r, 401, before)
    assert r.headers["www-authenticate"].startswith("Bearer")
    if reason != "missing":
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert entry["detail"]["reason"] == reason
    assert entry["action"].startswith(method + " ")
    assert "vga_" not in str(entry), "a token (or a piece of one) went into the audit log"


def test_a_token_works_until_revoked(api: Api) -> None:
    assert api.call("GET", "/releases", AO).status_code == 200
    from vigia.store.access import revoke_tokens
    from vigia.store.db import write_session

    from .conftest import NOW

    with write_session(api.factory) as s:
        revoke_tokens(s, token=api.seed.tokens[AO], now=NOW)
    before = api.audit_count()
    r = api.call("GET", "/releases", AO)
    assert assert_refused(api, r, 401, before)["detail"]["reason"] == "revoked"


def test_malformed_json_is_422_and_audited_under_the_caller(api: Api) -> None:
    before = api.audit_count()
    r = api.client.post(
        "/releases",
        content=b'{"site_ids": [',
        headers={**api.headers(REL), "Content-Type": "application/json"},
    )
    entry = assert_refused(api, r, 422, before, actor=REL)
    assert entry["action"] == "POST /releases"
    assert r.json()["errors"][0]["type"] == "json_invalid"


def test_malformed_json_without_a_token_is_401_not_422(api: Api) -> None:
    before = api.audit_count()
    r = api.client.post(
        "/releases", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert assert_refused(api, r, 401, before)["detail"]["reason"] == "missing"


@pytest.mark.parametrize(
    "body",
    [
        {"site_ids": [], "to_orgs": [PB], "tlp": "TLP:AMBER"},
        {"site_ids": [S_C], "to_orgs": [PB], "tlp": "TLP:PURPLE"},
        {"site_ids": [S_C], "to_orgs": [PB], "tlp": "TLP:AMBER", "surprise": 1},
        {"site_ids": S_C, "to_orgs": [PB], "tlp": "TLP:AMBER"},
        ["not", "an", "object"],
    ],
)
def test_invalid_bodies_are_422_and_audited(api: Api, body: Any) -> None:
    before = api.audit_count()
    r = api.call("POST", "/releases", REL, json=body)
    assert_refused(api, r, 422, before, actor=REL)
    assert r.json()["errors"]


def test_a_body_over_the_limit_is_413_by_content_length(small_api: Api) -> None:
    api = small_api
    before = api.audit_count()
    body = {"site_ids": [S_C], "to_orgs": [PB], "tlp": "TLP:AMBER", "caveats": ["x" * 900] * 3}
    r = api.call("POST", "/releases", REL, json=body)
    entry = assert_refused(api, r, 413, before, actor=REL)
    # Refused before anything read the body: the route and the caller are still named.
    assert entry["action"] == "POST /releases"


def test_a_chunked_body_over_the_limit_is_413_by_counting(small_api: Api) -> None:
    api = small_api

    def chunks() -> Iterator[bytes]:
        yield b'{"reason": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    before = api.audit_count()
    r = api.client.post(
        f"/releases/{R_A}/withdraw",
        content=chunks(),
        headers={**api.headers(REL), "Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in r.request.headers}
    entry = assert_refused(api, r, 413, before, actor=REL)
    assert entry["action"] == "POST /releases/{release_id}/withdraw"
    assert entry["object"] == R_A
    # Nothing was withdrawn.
    assert api.call("GET", f"/releases/{R_A}", REL).json()["withdrawn"] is False


def test_an_oversized_body_without_a_token_is_413_and_audited_anonymous(small_api: Api) -> None:
    before = small_api.audit_count()
    r = small_api.client.post("/releases", content=b"x" * 5000)
    assert_refused(small_api, r, 413, before)


def test_a_chunked_body_under_the_limit_goes_through(small_api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"reason": '
        yield b'"wrong place"}'

    r = small_api.client.post(
        f"/releases/{R_A}/withdraw",
        content=chunks(),
        headers={**small_api.headers(REL), "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["withdraw_reason"] == "wrong place"


def test_a_refusal_rolls_back_and_audits_apart(api: Api) -> None:
    """A refused change leaves the store as it was; only the refusal's audit entry is new."""
    before = api.call("GET", f"/releases/{R_A}", REL).json()
    n = api.audit_count()
    r = api.call("PATCH", f"/releases/{R_A}", AO, json={"caveats": ["mine now"]})
    assert r.status_code == 403
    assert api.call("GET", f"/releases/{R_A}", REL).json() == before
    assert api.audit_count() == n + 1


def test_unknown_routes_and_methods_are_refused_and_audited(api: Api) -> None:
    before = api.audit_count()
    r = api.call("GET", "/admin/secrets", AO)
    assert_refused(api, r, 404, before)
    before = api.audit_count()
    r = api.call("DELETE", f"/releases/{R_A}", REL)
    assert_refused(api, r, 405, before)
    assert "allow" in {k.lower() for k in r.headers}


def test_an_unexpected_error_is_a_bare_500_and_audited(api: Api) -> None:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/vigia")

    api.client.app.include_router(router)  # type: ignore[attr-defined]
    before = api.audit_count()
    r = api.client.get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "secret" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
    assert api.audit_count() == before + 1
    assert api.audit(1)[0]["outcome"] == "error"
