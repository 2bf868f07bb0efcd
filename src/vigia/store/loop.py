"""A store's reads on the event loop: psycopg's asynchronous connections to PostgreSQL.

The service's hottest reads (a partner's page or site with a kept grant) are each a few
statements that the driver runs (:class:`vigia.store.db.Query` steps). Run on a thread,
each read is handed from the event loop to the thread and back, and the two then take the
GIL from each other for every step of it; on two CPUs shared with PostgreSQL that handing,
not the statement, set how many reads a second the service answered and how long the
slowest waited. :class:`LoopConnections` runs the same steps on the event loop itself, on a
few connections of psycopg's own ``AsyncConnection``, which waits for PostgreSQL's answer as
the loop waits for any socket.

Only what the driver runs goes there: a step only SQLAlchemy runs
(:class:`~vigia.store.db.OnConnection`, or a statement SQLAlchemy must convert), an engine
whose statements are listened to (tracing, tests that count them), or a store that is not
PostgreSQL raises :class:`NotOnLoop`, and the caller reads on a thread as before.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Final, Generic, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from vigia.store.db import OnConnection, SessionFactory, Steps, store_error

__all__ = [
    "APPLICATION_NAME",
    "CONNECT_TIMEOUT_S",
    "LOOP_CONNECTIONS",
    "RETRY_S",
    "Handoff",
    "LoopConnections",
    "NotOnLoop",
]

T = TypeVar("T")

LOOP_CONNECTIONS: Final = 6
"""Connections a service keeps on its event loop; each runs one statement at a time, and a
read waits for the first that is free. Measured with ``bench/api.py`` (50 clients, two CPUs
shared by the service, PostgreSQL and the load), a partner's reads with 3, 6 and 10: one
site 2.9, 3.9 and 3.6 thousand requests a second; boxes 1.30, 1.66 and 1.59 thousand (the
reads on threads: 2.0 and 1.55 thousand). Again with the reads handed out in turn
(:class:`Handoff`; ``wrk`` alone, 5 s runs, two each): one site 4.0, 4.5–4.8 and 4.8–5.0
thousand; boxes 1.58–1.65, 1.92–1.97 and 1.76–1.93 thousand, p99 39–40, 35–39 and 38–50 ms."""

CONNECT_TIMEOUT_S: Final = 10
"""Seconds a connection may take to open, unless the store's URL says (``connect_timeout``):
while a server does not answer, the reads waiting for a connection wait that long, then go
the full way (which answers that the store is unavailable)."""

RETRY_S: Final = 1.0
"""Seconds after a connection failed to open during which the reads waiting for one, and
those that come, go to a thread (:class:`NotOnLoop`) instead of trying again one by one."""

APPLICATION_NAME: Final = "vigia loop reads"
"""The connections' ``application_name`` (PostgreSQL's ``pg_stat_activity``), unless the
store's URL names one."""


class NotOnLoop(Exception):
    """The read needs a thread: a step only SQLAlchemy runs, or the store has no loop reads."""


class Handoff(Generic[T]):
    """A first-come, first-served queue: an item put is handed to the longest waiter.

    :class:`asyncio.Queue` wakes its first waiter when an item is put, but leaves the item in
    the queue until the waiter runs; a ``get`` made in between (a read that came in meanwhile,
    or one asking again for its next statement) takes it, and the woken waiter goes to the back
    of the line to wait again. Under load some reads lost their turn over and over: with the
    loop's connections behind such a queue, the slowest 1 % of a partner's boxes waited 63–69
    ms (``wrk``, 50 clients, PostgreSQL; 43–57 ms here, handed in turn).

    Examples
    --------
    >>> async def main() -> list[str]:
    ...     q: Handoff[str] = Handoff()
    ...     first = asyncio.ensure_future(q.get())
    ...     await asyncio.sleep(0)  # first is waiting
    ...     q.put_nowait("a")  # handed to first, not left for a later get
    ...     q.put_nowait("b")
    ...     return [await q.get(), await first]
    >>> asyncio.run(main())
    ['b', 'a']
    """

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._waiters: deque[asyncio.Future[T]] = deque()

    def empty(self) -> bool:
        """Return whether no item waits to be taken."""
        return not self._items

    def put_nowait(self, item: T) -> None:
        """Hand ``item`` to the longest waiter, or keep it for the next ``get``."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # not cancelled
                waiter.set_result(item)
                return
        self._items.append(item)

    async def get(self) -> T:
        """Take the first item kept, or wait in line for one."""
        if self._items:  # items are kept only while nobody waits
            return self._items.popleft()
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed, then cancelled: pass it on
                self.put_nowait(waiter.result())
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise


class LoopConnections:
    """PostgreSQL connections on the event loop, for reads written as steps.

    The connections are opened when first read on (as SQLAlchemy's dialect connects, with
    its adapters, in ``AUTOCOMMIT``: each statement on its own, as on
    :class:`~vigia.store.db.StatementConnections`), on the running loop; a loop other than
    theirs (a second test client of the same app) makes them be dropped and opened again. A
    connection on which a statement failed, or a read was cancelled, is closed; the next read
    opens another. Reads wait for whichever connection is free first, in turn. For
    :data:`RETRY_S` after a connection failed to open, reads go to a thread instead of each
    trying again in turn while the server does not answer.

    Parameters
    ----------
    engine : Engine
        The store's engine (PostgreSQL with psycopg).
    size : int
        How many connections to keep.
    """

    def __init__(self, engine: Engine, size: int = LOOP_CONNECTIONS) -> None:
        self._engine = engine
        self._size = size
        self._open: set[Any] = set()  # psycopg.AsyncConnection
        self._count = 0  # open, or opening
        self._retry_at = 0.0  # time.monotonic() before which no connection is opened
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: Handoff[Any] = Handoff()
        self.served = 0
        """Reads answered here."""
        self.handed_on = 0
        """Reads handed to a thread (:class:`NotOnLoop` raised)."""

    @classmethod
    def of(cls, factory: SessionFactory, size: int = LOOP_CONNECTIONS) -> LoopConnections | None:
        """Return loop connections for a store, or ``None`` if it is not PostgreSQL with psycopg.

        Parameters
        ----------
        factory : SessionFactory
            The store.
        size : int
            How many connections to keep.

        Returns
        -------
        LoopConnections or None
            The connections (none opened yet).
        """
        engine = factory.kw.get("bind")
        if not isinstance(engine, Engine) or engine.dialect.name != "postgresql":
            return None
        if engine.dialect.driver != "psycopg":
            return None
        return cls(engine, size)

    async def run(self, steps: Steps[T]) -> T:
        """Run a read's steps on the loop's connections and return its answer.

        Parameters
        ----------
        steps : Steps
            The read (a generator just made).

        Returns
        -------
        object
            What the read returns.

        Raises
        ------
        NotOnLoop
            If a step needs SQLAlchemy, or the engine's statements are listened to: run the
            read on a thread (:func:`vigia.store.db.run_steps`) instead.
        StoreError
            If PostgreSQL cannot be reached or refuses a statement.
        """
        engine = self._engine
        events = engine.dispatch
        try:
            if events.before_cursor_execute or events.after_cursor_execute:
                raise NotOnLoop("the engine's statements are listened to")
            step = next(steps)
            while True:
                if isinstance(step, OnConnection):
                    raise NotOnLoop("a step only SQLAlchemy runs")
                try:
                    call = step.statement.driver_call(engine.dialect, step.params)
                except SQLAlchemyError as exc:  # a value missing: as on a thread
                    raise store_error(exc, self._engine.url) from exc
                if call is None:
                    raise NotOnLoop("a statement SQLAlchemy runs")
                step = steps.send(await self._fetch(*call))
        except StopIteration as stop:
            self.served += 1
            answer: T = stop.value
            return answer
        except NotOnLoop:
            self.handed_on += 1
            raise
        finally:
            steps.close()

    async def _fetch(self, sql: str, args: Any) -> list[tuple[Any, ...]]:
        conn = await self._acquire()
        try:
            cursor = await conn.execute(sql, args)
            rows: list[tuple[Any, ...]] = await cursor.fetchall()
        except BaseException as exc:  # a refusal, the server gone, a cancelled read
            self._drop(conn)
            if isinstance(exc, self._engine.dialect.loaded_dbapi.Error):
                raise store_error(exc, self._engine.url) from exc
            raise
        self._idle.put_nowait(conn)
        return rows

    async def _acquire(self) -> Any:
        """Take an idle connection, or open one while fewer than ``size`` are, or wait.

        One queue for all: a read waits for whichever connection is free first, in turn
        (:class:`Handoff`; with a queue a connection, the reads behind a slow statement wait
        for it while others are idle). A ``None`` in the queue is leave to open one (one was
        dropped, or failed to open).
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # opened on another loop: unusable here
            self._abandon()
            self._loop, self._idle = loop, Handoff()
        taken = not (self._idle.empty() and self._count < self._size)
        conn = await self._idle.get() if taken else None
        if conn is not None and not conn.closed:
            return conn
        if time.monotonic() < self._retry_at:  # a connection just failed to open
            if taken:
                self._idle.put_nowait(conn)  # the next read waiting learns it too
            raise NotOnLoop("the database did not answer a connection just now")
        if conn in self._open:  # closed while idle: another opens in its place
            self._open.discard(conn)
            self._count -= 1
        self._count += 1  # counted while it opens, so that no more than size are opened
        try:
            conn = await self._connect()
        except BaseException as exc:
            self._count -= 1
            if isinstance(exc, Exception):  # not a read cancelled while it waited
                self._retry_at = time.monotonic() + RETRY_S
            self._idle.put_nowait(None)  # wakes a read waiting for a connection
            raise
        self._open.add(conn)
        return conn

    async def _connect(self) -> Any:
        dialect = self._engine.dialect
        driver = dialect.loaded_dbapi
        cargs, cparams = dialect.create_connect_args(self._engine.url)
        cparams.setdefault("application_name", APPLICATION_NAME)
        cparams.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        try:
            return await driver.AsyncConnection.connect(*cargs, autocommit=True, **cparams)
        except driver.Error as exc:
            raise store_error(exc, self._engine.url) from exc

    def _drop(self, conn: Any) -> None:
        if conn in self._open:
            self._open.discard(conn)
            self._count -= 1
            self._idle.put_nowait(None)  # another may be opened in its place
        conn.pgconn.finish()  # what psycopg's close does, without awaiting: the socket closes

    def _abandon(self) -> None:
        for conn in self._open:
            conn.pgconn.finish()
        self._open, self._count = set(), 0

    async def close(self) -> None:
        """Close every connection (a service shutting down; a later read opens them again)."""
        kept, self._open, self._count = self._open, set(), 0
        self._idle = Handoff()
        for conn in kept:
            await conn.close()
