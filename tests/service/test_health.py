"""``/health`` and ``/openapi.json``: served without a token."""

from __future__ import annotations

from pathlib import Path

from .conftest import Api


def test_health_needs_no_token(api: Api) -> None:
    r = api.call("GET", "/health", None)
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_openapi_declares_bearer_and_problems(api: Api) -> None:
    doc = api.call("GET", "/openapi.json", None).json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from `vigia token issue USER`.",
    }
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path != "/health":
                assert op["security"] == [{"bearer": []}], (method, path)
                assert "401" in op["responses"], (method, path)
            for status, resp in op["responses"].items():
                if int(status) >= 400:
                    assert list(resp["content"]) == ["application/problem+json"], (path, status)


def test_an_unreachable_store_is_a_bare_503(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from vigia.service import create_app
    from vigia.store import make_engine, session_factory

    (tmp_path / "not-a-database").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path / 'not-a-database'}")
    with TestClient(create_app(session_factory(engine))) as client:
        for path in ("/health", "/releases"):
            r = client.get(path, headers={"Authorization": "Bearer vga_" + "0" * 43})
            assert r.status_code == 503, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert "not-a-database" not in r.text and "sqlite" not in r.text.lower()
    engine.dispose()


def test_a_deeply_nested_body_is_refused_not_a_500(api: Api) -> None:
    from .conftest import REL

    before = api.audit_count()
    r = api.client.post(
        "/releases",
        content=b"[" * 200_000,
        headers={**api.headers(REL), "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422), r.text
    assert api.audit_count() == before + 1
