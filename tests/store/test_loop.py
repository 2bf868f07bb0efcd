"""Reads on the event loop (vigia.store.loop): the steps a thread runs, on psycopg's own
asynchronous connections to PostgreSQL, with the same rows and a clear way back to a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Float, and_, bindparam, create_engine, event, literal, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from vigia.errors import StoreError
from vigia.store.db import (
    DriverStatement,
    OnConnection,
    Query,
    SessionFactory,
    Steps,
    run_steps,
    session_factory,
)
from vigia.store.loop import RETRY_S, Handoff, LoopConnections, NotOnLoop
from vigia.store.models import Ingest

from .conftest import T0, add_ingests, loop_backends, wait_for_loop_backends

STMT = (
    select(Ingest.file_name, Ingest.n_detections, literal(7))
    .where(
        and_(
            Ingest.ingested_at >= bindparam("since"),
            Ingest.n_lines * bindparam("scale", type_=Float) > bindparam("floor"),
        )
    )
    .order_by(Ingest.id)
)
DRIVER = DriverStatement(STMT)
PARAMS = {"since": T0 + timedelta(hours=1), "scale": Decimal("0.5"), "floor": 0.6}


@pytest.fixture(params=["postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Reads on the event loop are PostgreSQL's alone (SQLite's run on threads)."""
    return str(request.param)


@pytest.fixture()
def pg_store(engine: Engine) -> SessionFactory:
    store = session_factory(engine)
    add_ingests(store)
    return store


def two_reads(floor: float) -> Steps[tuple[list[tuple[Any, ...]], int]]:
    """A read of two statements, the second's values taken from the first's rows."""
    rows = yield Query(DRIVER, {**PARAMS, "floor": floor})
    (n,) = (yield Query(DriverStatement(select(literal(1) + bindparam("n"))), {"n": len(rows)}))[0]
    return [tuple(r) for r in rows], n


def terminate(engine: Engine, pids: list[int]) -> None:
    other = create_engine(engine.url, poolclass=NullPool)
    try:
        with other.connect() as conn:
            for pid in pids:
                assert conn.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    finally:
        other.dispose()


@pytest.fixture()
def loop_reads(pg_store: SessionFactory) -> Iterator[LoopConnections]:
    reads = LoopConnections.of(pg_store, size=2)
    assert reads is not None
    yield reads
    asyncio.run(reads.close())


def test_a_read_on_the_loop_gives_what_it_gives_on_a_thread(
    pg_store: SessionFactory, loop_reads: LoopConnections
) -> None:
    with pg_store() as s:
        on_thread = run_steps(s.connection(), two_reads(0.6))
    assert on_thread == ([("f2.geojson", 4, 7), ("f3.geojson", 6, 7), ("f4.geojson", 8, 7)], 4)

    async def main() -> list[Any]:
        return list(await asyncio.gather(*(loop_reads.run(two_reads(f)) for f in (0.6, 99))))

    assert asyncio.run(main()) == [on_thread, ([], 1)]
    assert loop_reads.served == 2
    assert LoopConnections.of(session_factory(create_engine("sqlite://"))) is None


def test_what_only_sqlalchemy_runs_goes_back_to_a_thread(
    pg_store: SessionFactory, loop_reads: LoopConnections
) -> None:
    def sqlalchemy_step() -> Steps[int]:
        got = yield OnConnection(lambda c: c.scalar(text("SELECT 5")))
        return int(got)

    with pytest.raises(NotOnLoop):
        asyncio.run(loop_reads.run(sqlalchemy_step()))
    with pg_store() as s:  # the same steps, on a thread
        assert run_steps(s.connection(), sqlalchemy_step()) == 5

    engine: Engine = pg_store.kw["bind"]
    heard: list[str] = []

    def hear(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        heard.append(statement)

    event.listen(engine, "after_cursor_execute", hear)
    try:  # a listener for statements hears them on a thread, not on the loop
        with pytest.raises(NotOnLoop):
            asyncio.run(loop_reads.run(two_reads(0.6)))
        with pg_store() as s:
            run_steps(s.connection(), two_reads(0.6))
    finally:
        event.remove(engine, "after_cursor_execute", hear)
    assert len(heard) == 2
    assert loop_reads.handed_on == 2 and loop_reads.served == 0


def test_no_more_connections_than_its_size_and_they_close(
    pg_store: SessionFactory, loop_reads: LoopConnections
) -> None:
    async def main() -> tuple[list[Any], list[int]]:
        got = await asyncio.gather(*(loop_reads.run(two_reads(0.6)) for _ in range(40)))
        opened = await asyncio.to_thread(loop_backends, pg_store)
        await loop_reads.close()
        return list(got), opened

    got, opened = asyncio.run(main())
    assert len(set(map(repr, got))) == 1 and got[0][1] == 4
    assert 1 <= len(opened) <= 2
    assert wait_for_loop_backends(pg_store, 0) == []


def test_reads_waiting_for_a_connection_are_served_in_the_order_they_came(
    pg_store: SessionFactory,
) -> None:
    """A read that asks as a connection is given back does not take it from those waiting.

    Each read runs two statements, and each of the first ten, as it ends, starts another.
    With a queue that lets whoever asks as a connection comes back take it before the read
    woken for it runs, every other read lost its turn (r0, r2, r4, …, r1, r3, …).
    """
    reads = LoopConnections.of(pg_store, size=1)
    assert reads is not None
    done: list[str] = []
    later: list[asyncio.Future[None]] = []

    async def read(name: str, then: str | None) -> None:
        await reads.run(two_reads(0.6))
        done.append(name)
        if then is not None:
            later.append(asyncio.ensure_future(read(then, None)))

    async def main() -> None:
        await reads.run(two_reads(0.6))  # the one connection opened
        first = [asyncio.ensure_future(read(f"r{i}", f"n{i}")) for i in range(10)]
        await asyncio.gather(*first)
        await asyncio.gather(*later)
        await reads.close()

    asyncio.run(main())
    assert done == [f"r{i}" for i in range(10)] + [f"n{i}" for i in range(10)]


def test_a_handoff_serves_its_waiters_in_turn_and_passes_on_what_a_cancelled_one_got() -> None:
    async def main() -> tuple[list[str], str, str, bool, bool]:
        q: Handoff[str] = Handoff()
        waiters = [asyncio.ensure_future(q.get()) for _ in range(3)]
        await asyncio.sleep(0)
        q.put_nowait("a")  # handed to the first waiter...
        waiters[0].cancel()  # ...cancelled before it ran: "a" goes to the next in line
        await asyncio.sleep(0)
        q.put_nowait("b")
        q.put_nowait("c")  # nobody waits: kept
        got = [await w for w in waiters[1:]]
        kept = await q.get()
        lone = asyncio.ensure_future(q.get())
        await asyncio.sleep(0)
        lone.cancel()
        await asyncio.sleep(0)
        q.put_nowait("d")  # the cancelled waiter is passed over: "d" is kept
        return got, kept, await q.get(), waiters[0].cancelled(), q.empty()

    assert asyncio.run(main()) == (["a", "b"], "c", "d", True, True)


def test_a_failed_read_is_a_store_error_and_its_connection_is_replaced(
    pg_store: SessionFactory, loop_reads: LoopConnections
) -> None:
    broken = DriverStatement(text("SELECT * FROM no_such_table WHERE 1 = :x"))

    def fails() -> Steps[None]:
        yield Query(broken, {"x": 1})

    def unbound() -> Steps[None]:
        yield Query(DRIVER, {"since": T0, "scale": 1.0})

    async def main() -> None:
        await loop_reads.run(two_reads(0.6))
        first = await asyncio.to_thread(loop_backends, pg_store)
        assert len(first) == 1
        with pytest.raises(StoreError, match="no_such_table"):
            await loop_reads.run(fails())
        with pytest.raises(StoreError, match="floor"):  # a value missing: refused, not NULL
            await loop_reads.run(unbound())
        assert (await loop_reads.run(two_reads(0.6)))[1] == 4
        opened = await asyncio.to_thread(loop_backends, pg_store)
        await asyncio.to_thread(terminate, pg_store.kw["bind"], opened)
        with pytest.raises(StoreError):  # the server ended it between two reads
            await loop_reads.run(two_reads(0.6))
        assert (await loop_reads.run(two_reads(0.6)))[1] == 4  # the next read opens another
        now = await asyncio.to_thread(loop_backends, pg_store)
        assert len(now) == 1 and now[0] not in first

    asyncio.run(main())


def test_a_cancelled_read_drops_its_connection_and_a_new_loop_opens_its_own(
    pg_store: SessionFactory, loop_reads: LoopConnections
) -> None:
    slow = DriverStatement(select(func_sleep()))

    def sleeps() -> Steps[None]:
        yield Query(slow, {})

    async def main() -> list[int]:
        task = asyncio.create_task(loop_reads.run(sleeps()))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Many at once: reads wait for a connection (what waits is bound to this loop).
        got = await asyncio.gather(*(loop_reads.run(two_reads(0.6)) for _ in range(20)))
        return [n for _, n in got]

    assert asyncio.run(main()) == [4] * 20
    first = wait_for_loop_backends(pg_store, 2)
    assert len(first) == 2  # the cancelled read's connection closed, another opened
    assert asyncio.run(main()) == [4] * 20  # another loop: its own connections
    again = wait_for_loop_backends(pg_store, 2)
    assert len(again) == 2 and not set(again) & set(first)


def func_sleep() -> Any:
    from sqlalchemy import func

    return func.pg_sleep(3)


def test_a_server_that_does_not_answer_sends_the_reads_to_a_thread_for_a_while(
    pg_store: SessionFactory,
) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine: Engine = pg_store.kw["bind"]
    down = create_engine(engine.url.set(host="127.0.0.1", port=port), poolclass=NullPool)
    reads = LoopConnections.of(session_factory(down), size=2)
    assert reads is not None

    async def main() -> list[str]:
        with pytest.raises(StoreError, match=str(port)):  # the first tries, and says where
            await reads.run(two_reads(0.6))
        got = await asyncio.gather(
            *(reads.run(two_reads(0.6)) for _ in range(10)), return_exceptions=True
        )
        await asyncio.sleep(RETRY_S)
        try:
            await reads.run(two_reads(0.6))
        except StoreError:  # after a while, it is tried again
            got.append(StoreError("tried again"))
        return [type(g).__name__ for g in got]

    try:
        assert asyncio.run(main()) == ["NotOnLoop"] * 10 + ["StoreError"]
    finally:
        down.dispose()
