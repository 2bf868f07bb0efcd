"""The read cache: the same answers as without it, and every change seen on the next request.

Repeated site reads are answered from memory after one check of the store's change counter
(:mod:`vigia.service.cache`). Nothing about who sees what may differ from the full path: a
revoked, expired or disabled token is refused (and audited) on the very next request, a new
release shows at once, one organisation never gets another's cached page, and a change made
by another process counts as much as one made through this one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from vigia.service import create_app
from vigia.store import make_engine, session_factory, write_session
from vigia.store.access import ApiToken, issue_token, principal_of, revoke_tokens, set_user_active
from vigia.store.releases import release_sites

from .conftest import AV, BV, CLIENT, NOW, PA, REL, S_A, S_AB, S_B, S_C, Api
from .test_security_matrix import VISIBLE
from .test_tokens import assert_refused

ITEMS = "/collections/sites/items"
READS = [
    ITEMS,
    f"{ITEMS}?limit=1",
    f"{ITEMS}?limit=2&offset=1",
    f"{ITEMS}?bbox=-107.5,24.9,-107.2,25.2",
    f"{ITEMS}/{S_A}",
    f"{ITEMS}/{S_AB}",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield request.getfixturevalue("api" if request.param == "sqlite" else "pg_api")


class Statements:
    """Count the statements the app's engine runs (the counter check runs outside it)."""

    def __init__(self, api: Api) -> None:
        self.n = 0
        self.texts: list[str] = []
        event.listen(api.factory.kw["bind"], "before_cursor_execute", self.count)

    def count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.n += 1
        self.texts.append(statement)


def test_a_repeated_read_is_the_same_answer_without_reading_the_store(any_api: Api) -> None:
    plain = create_app(any_api.factory, clock=lambda: NOW, cache_bytes=0)
    statements = Statements(any_api)
    with TestClient(plain, client=CLIENT) as uncached:
        for user in ("ana.analyst", AV, BV):
            for path in READS:
                first = any_api.call("GET", path, user)
                before = statements.n
                again = any_api.call("GET", path, user)
                if first.status_code == 200:
                    assert statements.n == before, f"{path} as {user} read the store again"
                assert again.status_code == first.status_code
                assert again.content == first.content
                assert again.headers["content-type"] == first.headers["content-type"]
                assert again.headers["content-length"] == str(len(again.content))
                other = uncached.get(path, headers=any_api.headers(user))
                assert other.status_code == first.status_code
                assert other.content == first.content


def test_an_organisation_never_gets_another_organisations_page(any_api: Api) -> None:
    for _ in range(2):
        got = any_api.call("GET", ITEMS, AV).json()
        assert {f["id"] for f in got["features"]} == VISIBLE[PA][0]
    got = any_api.call("GET", ITEMS, BV).json()
    assert {f["id"] for f in got["features"]} == VISIBLE["Partner-B"][0]
    assert any_api.call("GET", f"{ITEMS}/{S_B}", AV).status_code == 404
    assert any_api.call("GET", f"{ITEMS}/{S_B}", BV).status_code == 200
    assert any_api.call("GET", f"{ITEMS}/{S_B}", AV).status_code == 404


def test_a_url_not_read_before_asks_the_store_for_the_page_but_not_who_the_token_is(
    any_api: Api,
) -> None:
    plain = create_app(any_api.factory, clock=lambda: NOW, cache_bytes=0)
    assert any_api.call("GET", ITEMS, AV).status_code == 200
    statements = Statements(any_api)
    with TestClient(plain, client=CLIENT) as uncached:
        for path in READS[1:]:
            before = len(statements.texts)
            got = any_api.call("GET", path, AV)
            read = statements.texts[before:]
            assert read, f"{path} was not read from the store"
            assert not [t for t in read if "api_tokens" in t], f"{path} authenticated again"
            other = uncached.get(path, headers=any_api.headers(AV))
            assert (got.status_code, got.content) == (other.status_code, other.content)


@pytest.mark.parametrize("how", ["revoke", "disable"])
@pytest.mark.parametrize("next_read", [ITEMS, f"{ITEMS}/{S_A}"], ids=["same URL", "new URL"])
def test_a_revoked_token_is_refused_on_the_next_request_and_audited(
    any_api: Api, how: str, next_read: str
) -> None:
    for _ in range(2):
        assert any_api.call("GET", ITEMS, AV).status_code == 200
    # Another process: an engine of its own on the same database.
    other = make_engine(any_api.factory.kw["bind"].url)
    try:
        with write_session(session_factory(other)) as s:
            if how == "revoke":
                revoke_tokens(s, token=any_api.seed.tokens[AV], now=NOW)
            else:
                set_user_active(s, AV, False)
    finally:
        other.dispose()
    before = any_api.audit_count()
    r = any_api.call("GET", next_read, AV)
    entry = assert_refused(any_api, r, 401, before)
    assert entry["detail"]["reason"] == ("revoked" if how == "revoke" else "disabled")


def test_a_new_release_shows_on_the_next_request(any_api: Api) -> None:
    for _ in range(2):
        assert any_api.call("GET", f"{ITEMS}/{S_C}", AV).status_code == 404
        ids = {f["id"] for f in any_api.call("GET", ITEMS, AV).json()["features"]}
        assert S_C not in ids
    with write_session(any_api.factory) as s:
        release_sites(s, principal_of(s, REL), [S_C], [PA], tlp="TLP:AMBER", caveats=[], now=NOW)
    assert any_api.call("GET", f"{ITEMS}/{S_C}", AV).status_code == 200
    ids = {f["id"] for f in any_api.call("GET", ITEMS, AV).json()["features"]}
    assert S_C in ids


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_expiry_and_last_use_are_decided_at_each_request(api: Api) -> None:
    clock = Clock(NOW)
    with write_session(api.factory) as s:
        token = issue_token(s, AV, expires=timedelta(minutes=3), now=NOW)
    headers = {"Authorization": f"Bearer {token}"}

    def last_used() -> datetime | None:
        with api.factory() as s:
            return s.query(ApiToken.last_used_at).filter(ApiToken.prefix == token[:12]).scalar()

    app = create_app(api.factory, clock=clock)
    with TestClient(app, client=CLIENT) as client:
        first = client.get(ITEMS, headers=headers)
        assert first.status_code == 200
        assert first.json()["timeStamp"] == "2026-06-01T12:00:00Z"
        assert last_used() == NOW
        clock.now = NOW + timedelta(seconds=30)
        page = client.get(ITEMS, headers=headers)
        assert page.json()["timeStamp"] == "2026-06-01T12:00:30Z"  # the time of the answer
        assert last_used() == NOW
        clock.now = NOW + timedelta(seconds=90)  # a minute on: the use is recorded
        assert client.get(ITEMS, headers=headers).status_code == 200
        assert last_used() == NOW + timedelta(seconds=90)
        clock.now = NOW + timedelta(minutes=3)  # expired, though nothing changed in the store
        before = api.audit_count()
        r = client.get(ITEMS, headers=headers)
        assert assert_refused(api, r, 401, before)["detail"]["reason"] == "expired"


def test_requests_share_only_a_counter_read_begun_after_they_came() -> None:
    from vigia.service.cache import _Reads

    counter, calls = [0], []
    started, gate = threading.Event(), threading.Event()

    def read() -> int:
        value = counter[0]  # what the database holds when the read begins
        calls.append(value)
        started.set()
        gate.wait(10)
        return value

    reads = _Reads(read)

    async def main() -> tuple[int | None, ...]:
        first = asyncio.ensure_future(reads.read())
        await asyncio.sleep(0)
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        counter[0] = 1  # a change commits while the first read is under way
        later = [asyncio.ensure_future(reads.read()) for _ in range(3)]
        await asyncio.sleep(0)
        gate.set()
        return tuple([await first] + [await x for x in later])

    assert asyncio.run(main()) == (0, 1, 1, 1)
    assert calls == [0, 1]  # the three later requests shared one read
