"""The change counter: every committed change moves it, in the change's own transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from vigia.store import SessionFactory, read_session, write_session
from vigia.store.access import add_org, add_user, authenticate, issue_token, revoke_tokens
from vigia.store.changes import ChangeWatch, read_changes
from vigia.store.models import Base

from .conftest import T0

UNWATCHED = {"audit_log", "change_counter"}


def changes(store: SessionFactory) -> int:
    with read_session(store) as s:
        return read_changes(s)


def triggered_tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            q = "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'"
        else:
            q = "SELECT event_object_table FROM information_schema.triggers"
        return {str(name) for (name,) in conn.execute(text(q))}


def test_every_table_but_the_audit_log_moves_the_counter(engine: Engine) -> None:
    assert triggered_tables(engine) == set(Base.metadata.tables) - UNWATCHED


def test_a_change_moves_the_counter_and_a_rolled_back_one_does_not(
    store: SessionFactory,
) -> None:
    start = changes(store)
    with write_session(store) as s:
        add_org(s, "Agencia", "agency", now=T0)
    after = changes(store)
    assert after > start
    with pytest.raises(RuntimeError):
        with write_session(store) as s:
            add_org(s, "Partner", "partner", now=T0)
            raise RuntimeError("half-way")
    assert changes(store) == after


def test_a_change_made_outside_the_store_functions_moves_it_too(
    store: SessionFactory, engine: Engine
) -> None:
    with write_session(store) as s:
        add_org(s, "Agencia", "agency", now=T0)
    start = changes(store)
    with engine.begin() as conn:
        conn.execute(text("UPDATE organisations SET country = 'MEX'"))
    assert changes(store) > start


def test_revoking_a_token_moves_it_and_recording_its_use_does_not(
    store: SessionFactory,
) -> None:
    with write_session(store) as s:
        add_org(s, "Agencia", "agency", now=T0)
        add_user(s, "ana", "Agencia", "analyst", now=T0)
        token = issue_token(s, "ana", expires=timedelta(days=1), now=T0)
    start = changes(store)
    with write_session(store) as s:  # records the token's last use
        authenticate(s, token, now=T0 + timedelta(hours=1))
    assert changes(store) == start
    with write_session(store) as s:
        revoke_tokens(s, token=token, now=T0 + timedelta(hours=2))
    assert changes(store) > start


def test_a_watch_reads_what_sessions_read_and_closes(store: SessionFactory) -> None:
    engine = store.kw["bind"]
    watch = ChangeWatch(engine)
    try:
        assert watch.changes() == changes(store)
        with write_session(store) as s:
            add_org(s, "Agencia", "agency", now=T0)
        assert watch.changes() == changes(store)
    finally:
        watch.close()
    assert watch.changes() == changes(store)  # a new connection
    watch.close()
