"""The sites collection without the read cache: the answers the views give, auth on every read.

:func:`vigia.store.releases.list_visible_feature_json` writes a partner's features from stored
parts; the page must be, byte for byte, what the views' features (``SiteView.to_feature``)
make when written by orjson, and the token is checked on every request
(:class:`vigia.service.auth.Reader`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from vigia.service import create_app
from vigia.store import read_session, write_session
from vigia.store.access import ApiToken, principal_of, revoke_tokens, set_user_active
from vigia.store.loop import LOOP_CONNECTIONS
from vigia.store.records import BBox
from vigia.store.releases import get_visible_site, list_visible_sites

from ..store.conftest import loop_backends, wait_for_loop_backends
from .conftest import AV, BV, CLIENT, NOW, S_A, S_B, Api
from .test_cache import Statements
from .test_tokens import assert_refused

ITEMS = "/collections/sites/items"
WINDOWS: list[tuple[str, dict[str, Any]]] = [
    ("", {}),
    ("?limit=1", {"limit": 1}),
    ("?limit=2&offset=1", {"limit": 2, "offset": 1}),
    ("?limit=1&offset=50", {"limit": 1, "offset": 50}),
    ("?bbox=-107.5,24.9,-107.2,25.2", {"bbox": (-107.5, 24.9, -107.2, 25.2)}),
    ("?bbox=-107.5,24.9,-107.2,25.2&limit=1&offset=1", {"bbox": (-107.5, 24.9, -107.2, 25.2)}),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def uncached(request: pytest.FixtureRequest) -> Iterator[tuple[Api, TestClient]]:
    api: Api = request.getfixturevalue("api" if request.param == "sqlite" else "pg_api")
    app = create_app(api.factory, clock=lambda: NOW, cache_bytes=0)
    with TestClient(app, client=CLIENT) as client:
        yield api, client


def views(api: Api, user: str, **window: Any) -> tuple[list[dict[str, Any]], int]:
    with read_session(api.factory) as s:
        p = principal_of(s, user)
        page, total = list_visible_sites(s, p, **window)
    return [v.to_feature() for v in page], total


@pytest.mark.parametrize("user", ["ana.analyst", AV, BV])
def test_a_page_is_the_views_features_as_orjson_writes_them(
    uncached: tuple[Api, TestClient], user: str
) -> None:
    api, client = uncached
    for query, window in WINDOWS:
        box: BBox | None = window.get("bbox")
        r = client.get(ITEMS + query, headers=api.headers(user))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/geo+json"
        doc = r.json()
        assert r.content == orjson.dumps(doc)  # compact, keys in the order written
        limit = int(query.partition("limit=")[2].partition("&")[0] or 100)
        offset = int(query.partition("offset=")[2].partition("&")[0] or 0)
        features, total = views(api, user, bbox=box, limit=limit, offset=offset)
        assert doc["features"] == features, (user, query)
        assert (doc["numberMatched"], doc["numberReturned"]) == (total, len(features))
        rels = [link["rel"] for link in doc["links"]]
        assert ("next" in rels) == (offset + len(features) < total)
        assert ("prev" in rels) == (offset > 0)


def test_one_site_is_its_views_feature_and_an_invisible_one_is_404(
    uncached: tuple[Api, TestClient],
) -> None:
    api, client = uncached
    r = client.get(f"{ITEMS}/{S_A}", headers=api.headers(AV))
    assert r.status_code == 200
    got = r.json()
    links = got.pop("links")
    with read_session(api.factory) as s:
        assert got == get_visible_site(s, principal_of(s, AV), S_A).to_feature()
    assert [link["rel"] for link in links] == ["self", "collection"]
    before = api.audit_count()
    r = client.get(f"{ITEMS}/{S_B}", headers=api.headers(AV))
    entry = assert_refused(api, r, 404, before, actor=AV)
    assert entry["action"] == "GET /collections/sites/items/{fid}"


def test_every_read_checks_the_token_and_records_its_use(
    uncached: tuple[Api, TestClient],
) -> None:
    api, client = uncached
    assert client.get(ITEMS, headers=api.headers(AV)).status_code == 200
    with read_session(api.factory) as s:
        used = {t.last_used_at for t in s.query(ApiToken)} - {None}
    assert NOW in used  # the first use was written (in a write of its own)
    with write_session(api.factory) as s:
        revoke_tokens(s, token=api.seed.tokens[AV], now=NOW)
    for path in (ITEMS, f"{ITEMS}/{S_A}", f"{ITEMS}?bbox=-108,24,-107,26"):
        before = api.audit_count()
        r = client.get(path, headers=api.headers(AV))
        assert assert_refused(api, r, 401, before)["detail"]["reason"] == "revoked"


def test_the_total_follows_a_new_release_and_a_change_made_by_another_engine(
    uncached: tuple[Api, TestClient],
) -> None:
    from vigia.store import make_engine, session_factory
    from vigia.store.releases import release_sites

    from .conftest import PA, REL, S_C

    api, client = uncached
    page = f"{ITEMS}?limit=1"  # a full page: the total is counted, not told by the page
    first = client.get(page, headers=api.headers(AV)).json()["numberMatched"]
    assert client.get(page, headers=api.headers(AV)).json()["numberMatched"] == first
    other = make_engine(api.factory.kw["bind"].url)
    try:
        with write_session(session_factory(other)) as s:
            release_sites(
                s, principal_of(s, REL), [S_C], [PA], tlp="TLP:CLEAR", caveats=[], now=NOW
            )
    finally:
        other.dispose()
    assert client.get(page, headers=api.headers(AV)).json()["numberMatched"] == first + 1


@pytest.mark.parametrize("how", ["revoke", "disable"])
def test_a_token_accepted_before_reads_in_one_statement_until_the_store_changes(
    uncached: tuple[Api, TestClient], how: str
) -> None:
    from vigia.store import make_engine, session_factory

    api, client = uncached
    reads = [ITEMS, f"{ITEMS}/{S_A}", f"{ITEMS}?bbox=-108,24,-107,26", f"{ITEMS}?limit=1"]
    first = {path: client.get(path, headers=api.headers(AV)).content for path in reads}
    statements = Statements(api)
    for path in reads:  # the token was accepted at the count the store still reads
        before = len(statements.texts)
        r = client.get(path, headers=api.headers(AV))
        assert (r.status_code, r.content) == (200, first[path])
        read = statements.texts[before:]
        assert len(read) == 1, read  # the page (or site) and the change counter, no BEGIN
        assert "api_tokens" not in read[0] and "change_counter" in read[0]
    # Another process changes what decides authentication: refused on the next request,
    # whatever it asks (a bad box too: 401 before 422), and audited.
    other = make_engine(api.factory.kw["bind"].url)
    try:
        with write_session(session_factory(other)) as s:
            if how == "revoke":
                revoke_tokens(s, token=api.seed.tokens[AV], now=NOW)
            else:
                set_user_active(s, AV, False)
    finally:
        other.dispose()
    for path in [*reads, f"{ITEMS}?bbox=1,2,3", f"{ITEMS}/{S_B}"]:
        before = api.audit_count()
        r = client.get(path, headers=api.headers(AV))
        entry = assert_refused(api, r, 401, before)
        assert entry["detail"]["reason"] == ("revoked" if how == "revoke" else "disabled")


def test_refusals_after_a_token_was_accepted_are_answered_and_audited_as_before(
    uncached: tuple[Api, TestClient],
) -> None:
    api, client = uncached
    assert client.get(ITEMS, headers=api.headers(AV)).status_code == 200
    before = api.audit_count()
    r = client.get(f"{ITEMS}?bbox=1,2,3", headers=api.headers(AV))
    assert assert_refused(api, r, 422, before, actor=AV)["detail"]["status"] == 422
    before = api.audit_count()
    r = client.get(f"{ITEMS}/{S_B}", headers=api.headers(AV))  # another partner's site
    assert assert_refused(api, r, 404, before, actor=AV)["detail"]["status"] == 404
    # An empty page is read the full way (no row tells the count), and is the same page.
    r = client.get(f"{ITEMS}?bbox=10,10,11,11", headers=api.headers(AV))
    assert r.status_code == 200 and r.json()["features"] == []


def test_reads_get_a_thread_a_cpu_on_sqlite_and_one_a_pooled_connection_on_a_server(
    uncached: tuple[Api, TestClient],
) -> None:
    import os

    from vigia.service.deps import READ_THREADS, read_threads

    api, client = uncached
    on_sqlite = api.factory.kw["bind"].dialect.name == "sqlite"
    pool_size = api.factory.kw["bind"].pool.size()
    expected = max(2, os.cpu_count() or 1) if on_sqlite else pool_size
    assert read_threads(api.factory) == expected
    assert on_sqlite or pool_size == READ_THREADS  # SQLAlchemy's default
    readers = client.app.state.vigia.readers  # type: ignore[attr-defined]
    assert readers._max_workers == expected


FAST_READS = [
    ITEMS,
    f"{ITEMS}?limit=1",
    f"{ITEMS}?limit=2&offset=1",
    f"{ITEMS}?offset=1&limit=0002",
    f"{ITEMS}?bbox=-107.5,24.9,-107.2,25.2&limit=1&offset=1",
    f"{ITEMS}?datetime=2020-01-01T00:00:00Z/..",
    f"{ITEMS}?bbox=-108,24,-107,26&datetime=../2100-01-01T00:00:00Z",
    f"{ITEMS}/{S_A}",
    f"{ITEMS}/{S_B}",
]
FULL_WAY = [  # what the route alone answers (or refuses): never before routing
    f"{ITEMS}?limit=0",
    f"{ITEMS}?limit=1001",
    f"{ITEMS}?limit=+1",
    f"{ITEMS}?limit=1&limit=2",
    f"{ITEMS}?offset=-1",
    f"{ITEMS}?bbox=1,2,3",
    f"{ITEMS}?bbox=" + "1" * 201,
    f"{ITEMS}?datetime=yesterday",
    f"{ITEMS}?other=1",
    f"{ITEMS}?bbox=10,10,11,11",
    f"{ITEMS}/{S_A}?x=1",
    f"{ITEMS}/",
    f"{ITEMS}/SITE-999999",
]


@pytest.mark.parametrize("user", ["ana.analyst", AV, BV])
def test_a_read_with_a_kept_grant_before_routing_is_the_routes_answer_byte_for_byte(
    uncached: tuple[Api, TestClient], user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vigia.service.reads.SiteReads answers only what the route would, and the same bytes."""
    from vigia.service import reads

    api, client = uncached
    grants = client.app.state.vigia.grants  # type: ignore[attr-defined]
    answered: list[bool] = []
    where: list[str] = []
    kept, kept_on_loop = reads.read_kept, reads.read_kept_on_loop

    def spy(*args: Any) -> Any:
        answer = kept(*args)
        answered.append(answer is not None)
        where.append("thread")
        return answer

    async def loop_spy(*args: Any) -> Any:
        answer = await kept_on_loop(*args)  # NotOnLoop: not answered here
        answered.append(answer is not None)
        where.append("loop")
        return answer

    monkeypatch.setattr(reads, "read_kept", spy)
    monkeypatch.setattr(reads, "read_kept_on_loop", loop_spy)
    # A partner's reads run on the event loop on PostgreSQL; the agency's, and SQLite's, on
    # a reader thread (vigia.store.loop).
    on_loop = api.factory.kw["bind"].dialect.name == "postgresql" and user != "ana.analyst"
    for path in FAST_READS + FULL_WAY:
        grants.clear()  # the full way: the route, its token looked up
        first = client.get(path, headers=api.headers(user), follow_redirects=False)
        answered.clear()
        where.clear()
        again = client.get(path, headers=api.headers(user), follow_redirects=False)
        assert (again.status_code, again.content) == (first.status_code, first.content), path
        assert again.headers == first.headers, path
        before_routing = bool(answered) and answered[0]
        visible = first.status_code == 200 and (path in FAST_READS)
        assert before_routing == (visible and path != f"{ITEMS}?bbox=10,10,11,11"), path
        if before_routing:
            assert where == ["loop" if on_loop else "thread"], path


def test_the_reads_kept_connections_close_when_the_service_shuts_down(
    uncached: tuple[Api, TestClient],
) -> None:
    api, _ = uncached
    app = create_app(api.factory, clock=lambda: NOW, cache_bytes=0)
    pool = api.factory.kw["bind"].pool
    before = pool.checkedout()
    # On PostgreSQL a partner's reads run on the event loop's own connections; the agency's
    # on a reader thread.
    on_loop = api.factory.kw["bind"].dialect.name == "postgresql"
    with TestClient(app, client=CLIENT) as client:
        for _ in range(3):  # the first accepts the token, the next read with its kept grant
            assert client.get(ITEMS, headers=api.headers(AV)).status_code == 200
            assert client.get(ITEMS, headers=api.headers("ana.analyst")).status_code == 200
        assert pool.checkedout() > before  # a reader thread keeps its connection
        if on_loop:
            assert 1 <= len(loop_backends(api.factory)) <= LOOP_CONNECTIONS
    assert pool.checkedout() == before
    if on_loop:
        assert wait_for_loop_backends(api.factory, 0) == []
