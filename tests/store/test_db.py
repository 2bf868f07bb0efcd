"""Engines, settings and transactions."""

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from vigia.errors import ConfigError, StoreError
from vigia.settings import load_settings
from vigia.store import (
    SessionFactory,
    current_revision,
    database_url,
    head_revision,
    list_sites,
    make_engine,
    open_store,
    write_session,
)
from vigia.store.db import SQLITE_MMAP_BYTES
from vigia.store.models import Ingest

from .conftest import T0, add_ingests, row_counts


def test_the_default_store_is_sqlite_in_the_data_directory_in_wal_mode_with_foreign_keys_mapped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VIGIA_DATABASE_URL", raising=False)
    monkeypatch.setenv("VIGIA_DATA_DIR", str(tmp_path / "data"))
    url = database_url(load_settings())
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(tmp_path / "data" / "vigia.db")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == SQLITE_MMAP_BYTES
    engine.dispose()


def test_the_database_url_setting_picks_the_back_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIA_DATABASE_URL", "postgresql://vigia:pw@db.example/vigia")
    assert database_url(load_settings()).drivername == "postgresql+psycopg"
    monkeypatch.setenv("VIGIA_DATABASE_URL", "mysql://vigia@db.example/vigia")
    with pytest.raises(ConfigError, match="sqlite or postgresql only"):
        database_url(load_settings())
    monkeypatch.setenv("VIGIA_DATABASE_URL", "::not a url::")
    with pytest.raises(ConfigError, match="cannot be parsed"):
        database_url(load_settings())


def test_a_store_behind_the_code_is_upgraded_or_refused(empty_engine: Engine) -> None:
    with pytest.raises(StoreError, match="run `vigia db upgrade`"):
        open_store(url=empty_engine.url, upgrade=False)
    assert current_revision(empty_engine) is None
    store = open_store(url=empty_engine.url)
    assert current_revision(empty_engine) == head_revision()
    assert list_sites(store) == []
    store.kw["bind"].dispose()


def test_a_write_block_that_fails_leaves_the_database_as_it_was(store: SessionFactory) -> None:
    with pytest.raises(RuntimeError, match="half-way"):
        with write_session(store) as s:
            s.add(Ingest(sha256="0" * 64, file_name="x", ingested_at=T0, n_lines=0, n_detections=0))
            s.flush()
            raise RuntimeError("half-way")
    assert sum(row_counts(store).values()) == 0


def test_a_naive_time_never_reaches_the_database(store: SessionFactory, engine: Engine) -> None:
    with pytest.raises(StoreError, match="naive datetime"):
        with write_session(store) as s:
            s.add(
                Ingest(
                    sha256="1" * 64,
                    file_name="x",
                    ingested_at=datetime(2025, 3, 4, 12),
                    n_lines=0,
                    n_detections=0,
                )
            )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ingests")).scalar() == 0


def test_a_postgresql_connection_is_pinged_only_after_sitting_idle(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No round trip per read under load; an idle connection that died is replaced."""
    import time as clock

    from vigia.store import db

    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    pings: list[int] = []
    do_ping = engine.dialect.do_ping

    def ping(dbapi_connection: object) -> bool:
        pings.append(1)
        return do_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", ping)
    engine.dispose()
    for _ in range(20):
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT 1")) == 1
    assert pings == []  # each returned a moment before it was taken again
    now = [clock.monotonic()]
    monkeypatch.setattr(db.time, "monotonic", lambda: now[0])
    now[0] += db.PING_AFTER_IDLE_S + 1
    with engine.connect() as conn:  # idle (by the clock): pinged first
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
    assert pings == [1]
    now[0] += db.PING_AFTER_IDLE_S + 1
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    other = create_engine(engine.url, poolclass=NullPool)
    try:  # the server ends that connection while it sits idle in the pool
        with other.connect() as conn:
            assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        other.dispose()
    with engine.connect() as conn:  # the ping fails, a new connection answers
        assert conn.scalar(text("SELECT pg_backend_pid()")) != pid


def test_statement_reads_keep_a_connection_a_thread_and_see_every_commit(
    store: SessionFactory,
) -> None:
    """Each thread reads on its own kept connection, never on a stale snapshot or in a
    transaction left open; a failed read closes its connection (a site not found does not),
    ``close`` closes them all, and the next read opens one again."""
    import threading

    from vigia.errors import NotFoundError
    from vigia.store.db import StatementConnections

    pool = store.kw["bind"].pool
    kept = StatementConnections(store)
    count = text("SELECT count(*) FROM ingests")

    def read() -> tuple[int, int]:
        with kept.connect() as conn:
            n = int(conn.scalar(count) or 0)
            dbapi: Any = conn.connection.dbapi_connection
            if hasattr(dbapi, "in_transaction"):  # sqlite3
                assert not dbapi.in_transaction
            else:  # psycopg
                assert dbapi.info.transaction_status.name == "IDLE"
            return id(dbapi), n

    def ingest(k: int) -> None:
        with write_session(store) as s:
            s.add(
                Ingest(
                    sha256=f"{k:064d}",
                    file_name=f"{k}.geojson",
                    ingested_at=T0,
                    n_lines=1,
                    n_detections=0,
                )
            )

    first, n0 = read()
    ingest(1)  # a commit between two reads of one kept connection
    again, n1 = read()
    assert n1 == n0 + 1
    other: list[tuple[int, int]] = []
    thread = threading.Thread(target=lambda: other.append(read()))
    thread.start()
    thread.join()
    assert other[0][1] == n1
    assert again == first  # kept
    assert other[0][0] != first  # each thread its own
    assert pool.checkedout() == 2
    with pytest.raises(NotFoundError), kept.connect():
        raise NotFoundError("site S not found")  # a site not found: the connection is kept
    assert read()[0] == first
    with pytest.raises(RuntimeError), kept.connect():
        raise RuntimeError("a read that failed half-way")
    assert pool.checkedout() == 1  # its connection closed
    ingest(2)
    assert read()[1] == n1 + 1  # a new one opened
    with pytest.raises(StoreError, match="no_such_table"), kept.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert read()[1] == n1 + 1
    kept.close()
    assert pool.checkedout() == 0
    assert read()[1] == n1 + 1  # opened again
    kept.close()


def test_a_driver_statement_reads_the_rows_sqlalchemy_reads_and_fails_as_it_fails(
    store: SessionFactory,
) -> None:
    """The service's hottest reads run on the driver's cursor: same rows, bound values
    processed by their types, the errors a StoreError that drops the kept connection (a
    lost server connection invalidated), and whoever listens for statements still hears them."""
    from datetime import timedelta
    from decimal import Decimal

    from sqlalchemy import Float, and_, bindparam, event, literal, select

    from vigia.store.db import DriverStatement, StatementConnections, _DriverPlan

    engine: Engine = store.kw["bind"]
    add_ingests(store)
    stmt = (
        select(Ingest.file_name, Ingest.n_detections, literal(7))
        .where(
            and_(
                Ingest.ingested_at >= bindparam("since"),  # SQLite: stored as text, processed
                Ingest.n_lines * bindparam("scale", type_=Float) > bindparam("floor"),
                Ingest.file_name != bindparam("skip"),
            )
        )
        .order_by(Ingest.id)
    )
    driver = DriverStatement(stmt)
    assert _DriverPlan.of(stmt, engine.dialect) is not None  # the driver's path, not the fallback
    params = {
        "since": T0 + timedelta(hours=1),
        "scale": Decimal("0.5"),
        "floor": 0.6,
        "skip": "f3.geojson",
    }
    kept = StatementConnections(store)
    with kept.connect() as conn:
        rows = driver.rows(conn, params)
        assert [tuple(r) for r in rows] == [("f2.geojson", 4, 7), ("f4.geojson", 8, 7)]
        assert [tuple(r) for r in rows] == [tuple(r) for r in conn.execute(stmt, params).all()]
        assert driver.rows(conn, {**params, "floor": 99.0}) == []
        dbapi: Any = conn.connection.dbapi_connection  # no transaction left open
        if hasattr(dbapi, "in_transaction"):  # sqlite3
            assert not dbapi.in_transaction
        else:  # psycopg
            assert dbapi.info.transaction_status.name == "IDLE"
    with pytest.raises(StoreError, match="skip"), kept.connect() as conn:
        driver.rows(conn, {k: v for k, v in params.items() if k != "skip"})  # not NULL
    heard: list[str] = []

    def hear(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        heard.append(statement)

    event.listen(engine, "before_cursor_execute", hear)
    with kept.connect() as conn:  # a listener for statements: run where it hears them
        assert len(driver.rows(conn, params)) == 2
    assert len(heard) == 1 and "ingests" in heard[0]
    event.remove(engine, "before_cursor_execute", hear)
    event.listen(engine, "after_cursor_execute", hear)  # a listener after it, alone
    with kept.connect() as conn:
        assert len(driver.rows(conn, params)) == 2
    assert len(heard) == 2
    event.remove(engine, "after_cursor_execute", hear)
    broken = DriverStatement(text("SELECT * FROM no_such_table WHERE 1 = :x"))
    with kept.connect() as first:
        pass
    with pytest.raises(StoreError, match="no_such_table"), kept.connect() as conn:
        broken.rows(conn, {"x": 1})
    with kept.connect() as conn:  # the failed read's connection was dropped
        assert conn is not first and first.closed
        assert len(driver.rows(conn, params)) == 2
        if engine.dialect.name != "postgresql":
            kept.close()
            return
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    other = create_engine(engine.url, poolclass=NullPool)
    try:  # the server ends the kept connection between two reads
        with other.connect() as conn:
            assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        other.dispose()
    lost: list[BaseException | None] = []
    event.listen(engine, "invalidate", lambda _dbapi, _record, exc: lost.append(exc))
    with pytest.raises(StoreError), kept.connect() as conn:
        driver.rows(conn, params)
    assert len(lost) == 1  # not handed back to the pool
    with kept.connect() as conn:  # the next read opens a connection that answers
        assert conn.scalar(text("SELECT pg_backend_pid()")) != pid
        assert len(driver.rows(conn, params)) == 2
    kept.close()
