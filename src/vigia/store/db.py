"""Engines and sessions: SQLite in the data directory by default, PostgreSQL as the server.

``VIGIA_DATABASE_URL`` picks the back end (``sqlite:///path.db`` or
``postgresql+psycopg://user:password@host/db``; a bare ``postgresql://`` URL is given the
psycopg 3 driver). Unset, the store is ``vigia.db`` in ``VIGIA_DATA_DIR``, in WAL mode with
foreign keys enforced.

Reads use ``with factory() as session:``; writes that belong together go through
:func:`write_session`, one transaction that commits on success and leaves the database as it
was on any error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import URL, Connection, Dialect, Engine
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InvalidRequestError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql.base import Executable

from vigia.errors import ConfigError, StoreError, VigiaError
from vigia.settings import Settings, load_settings

__all__ = [
    "SQLITE_MMAP_BYTES",
    "DriverStatement",
    "OnConnection",
    "Query",
    "SessionFactory",
    "StatementConnections",
    "database_url",
    "describe_url",
    "make_engine",
    "open_store",
    "read_session",
    "run_steps",
    "session_factory",
    "statement_connection",
    "store_error",
    "write_session",
]

SessionFactory = sessionmaker[Session]
T = TypeVar("T")

_WRITE = "vigia_write"
"""Execution option that makes SQLite take its write lock at BEGIN (``BEGIN IMMEDIATE``)."""
_STATEMENTS = "vigia_statements"
"""Execution option of :func:`statement_connection`: SQLite runs each statement on its own."""


def database_url(settings: Settings) -> URL:
    """Return the database URL in force, with the psycopg 3 driver for bare PostgreSQL URLs.

    Parameters
    ----------
    settings : Settings
        Settings (``VIGIA_DATABASE_URL``, ``VIGIA_DATA_DIR``).

    Returns
    -------
    sqlalchemy.engine.URL
        The URL.

    Raises
    ------
    ConfigError
        If the URL cannot be parsed or names a back end Vigía does not support.
    """
    return _parse_url(settings.resolved_database_url)


def _parse_url(text: str | URL) -> URL:
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {text!r} cannot be parsed: {exc}") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"database URL {describe_url(url)}: Vigía stores to sqlite or postgresql only"
        )
    return url


def describe_url(url: str | URL) -> str:
    """Render a database URL with its password hidden (for messages)."""
    return make_url(url).render_as_string(hide_password=True)


SQLITE_MMAP_BYTES: Final = 256 * 2**20
"""How much of a SQLite store's file each connection reads through a memory map (``PRAGMA
mmap_size``) instead of copying pages into its own cache of 2 MB with a read call each. A
partner's box with the service's read cache off, direct ``wrk`` runs (50 clients, 10,000
released sites, a 21 MB file; six 5 s runs each way): 1,374–1,530 requests a second with p99
38–47 ms before, 1,555–1,748 with p99 33–38 ms mapped (a 64 MB page cache instead: 1,522–1,615,
p99 36–41 ms); one box alone on one connection took 0.42 ms of CPU before, 0.35 ms mapped. Pages
still in the write-ahead log are read as before. A file larger than this is mapped up to it.
SQLite's own caveat holds: an I/O error on a mapped page (a failing disk, the file cut short by
another program) stops the process with ``SIGBUS`` rather than raising an error."""


def _sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # The sqlite3 module's own transaction handling defers BEGIN and commits before DDL;
    # SQLAlchemy's recipe hands BEGIN to us so transactions (and migrations) are whole.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    finally:
        cursor.close()


PING_AFTER_IDLE_S: Final = 1.0
"""A PostgreSQL connection idle in the pool longer than this (seconds) is pinged before use."""
_USED = "vigia_used"  # a pooled connection's info key: when it was last connected or returned


def _pg_used(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_USED] = time.monotonic()


def _pinged_when_idle(engine: Engine) -> None:
    """Ping a PostgreSQL connection before use only if it sat idle in the pool.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip per read. A
    connection returned to the pool a moment ago (under load, every one) was just used; one
    idle longer than :data:`PING_AFTER_IDLE_S` is pinged, and replaced if it does not answer
    (the pool checks out another). A server lost in that moment fails the statement, as it
    fails a statement already under way.
    """
    dialect = engine.dialect

    def checkout(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        used = record.info.pop(_USED, None)
        if used is not None and time.monotonic() - used < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"the connection does not answer: {exc}") from exc

    event.listen(engine, "connect", _pg_used)
    event.listen(engine, "checkin", _pg_used)
    event.listen(engine, "checkout", checkout)


def _sqlite_begin(conn: Connection) -> None:
    # A writer takes the write lock at BEGIN, so a read-then-write transaction cannot lose
    # a race to another writer half-way (SQLITE_BUSY_SNAPSHOT in WAL mode).
    options = conn.get_execution_options()
    if options.get(_STATEMENTS, False):
        return  # statement_connection: each statement is a read transaction of its own
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE, False) else "BEGIN")


def make_engine(url: str | URL) -> Engine:
    """Create an engine for a database URL, with Vigía's settings for each back end.

    Parameters
    ----------
    url : str or URL
        ``sqlite:///…`` or ``postgresql[+psycopg]://…``.

    Returns
    -------
    Engine
        The engine (SQLite: WAL mode, foreign keys on, transactions begun by Vigía).

    Raises
    ------
    ConfigError
        If the URL is not a SQLite or PostgreSQL URL.
    """
    parsed = _parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30.0})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(parsed)
    _pinged_when_idle(engine)
    return engine


def session_factory(engine: Engine) -> SessionFactory:
    """Return the session factory for an engine (objects stay readable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


def open_store(
    settings: Settings | None = None, *, url: str | URL | None = None, upgrade: bool = True
) -> SessionFactory:
    """Open the store named by the settings, at the code's schema revision.

    Parameters
    ----------
    settings : Settings, optional
        Settings in force (read from the environment when not given).
    url : str or URL, optional
        A database URL that wins over the settings.
    upgrade : bool
        Apply pending migrations (default). When false, a database behind the code's revision
        is an error.

    Returns
    -------
    SessionFactory
        Sessions on the store.

    Raises
    ------
    StoreError
        If the database cannot be reached or (``upgrade=False``) is not at the head revision.
    """
    from vigia.store import schema

    engine = make_engine(url if url is not None else database_url(settings or load_settings()))
    try:
        head = schema.head_revision()
        current = schema.current_revision(engine)
        if current != head:
            if not upgrade:
                raise StoreError(
                    f"database {describe_url(engine.url)} is at revision {current or 'none'}, "
                    f"the code needs {head}: run `vigia db upgrade`"
                )
            schema.upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return session_factory(engine)


def store_error(exc: Exception, engine_url: URL | None) -> StoreError:
    """Return the :class:`~vigia.errors.StoreError` for a database's error.

    The error is SQLAlchemy's or the driver's own; the message names the database and, for a
    missing table, what to run.

    Parameters
    ----------
    exc : Exception
        The error.
    engine_url : URL or None
        The database's URL (its password hidden in the message).

    Returns
    -------
    StoreError
        The error to raise.
    """
    where = f"database {describe_url(engine_url)}" if engine_url is not None else "database"
    detail = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    message = " ".join(str(detail).split())
    hint = ""
    if "no such table" in message or ("relation" in message and "does not exist" in message):
        hint = " (run `vigia db upgrade`)"
    return StoreError(f"{where}: {message}{hint}")


@contextmanager
def write_session(factory: SessionFactory) -> Iterator[Session]:
    """Open one write transaction: commit when the block ends, roll back on any error.

    On SQLite the transaction takes the write lock when it begins (``BEGIN IMMEDIATE``), so
    that what it read stays true until it commits.

    Parameters
    ----------
    factory : SessionFactory
        From :func:`open_store` or :func:`session_factory`.

    Yields
    ------
    Session
        The session; do not commit it yourself.

    Raises
    ------
    StoreError
        If the database refuses the transaction (the database is as it was).
    """
    with factory() as session:
        try:
            session.connection(execution_options={_WRITE: True})
            yield session
            session.commit()
        except VigiaError:
            session.rollback()
            raise
        except SQLAlchemyError as exc:
            session.rollback()
            raise store_error(exc, _url_of(session)) from exc


@contextmanager
def read_session(factory: SessionFactory) -> Iterator[Session]:
    """Open a session for reading; database errors become :class:`StoreError`.

    Parameters
    ----------
    factory : SessionFactory
        From :func:`open_store` or :func:`session_factory`.

    Yields
    ------
    Session
        The session (rolled back when the block ends).
    """
    with factory() as session:
        try:
            yield session
        except SQLAlchemyError as exc:
            raise store_error(exc, _url_of(session)) from exc


def _url_of(session: Session) -> URL | None:
    bind = session.get_bind()
    return bind.url if isinstance(bind, Engine) else None


@contextmanager
def statement_connection(factory: SessionFactory) -> Iterator[Connection]:
    """Open a connection whose statements each run on their own, outside any transaction.

    For a read that is one statement: it sees one snapshot of the database on every back
    end (as any single statement does), without the round trips or the calls of a
    transaction begun and rolled back around it (SQLite in autocommit mode, PostgreSQL's
    ``AUTOCOMMIT`` isolation level). No ORM session either: Core statements only.

    Parameters
    ----------
    factory : SessionFactory
        From :func:`open_store` or :func:`session_factory`.

    Yields
    ------
    Connection
        The connection (returned to the pool when the block ends).

    Raises
    ------
    StoreError
        If the database refuses a statement.
    """
    engine: Engine = factory.kw["bind"]
    with engine.connect() as conn:
        try:
            if conn.dialect.name == "sqlite":
                # Not the AUTOCOMMIT isolation level: resetting it after use would hand the
                # sqlite3 module its own transaction handling back (see _sqlite_connect).
                yield conn.execution_options(**{_STATEMENTS: True})
            else:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            raise store_error(exc, engine.url) from exc


class DriverStatement:
    """A Core statement compiled once per back end and run on the driver's own cursor.

    For the service's hottest reads (a partner's page, one site): each a single statement,
    whose columns come back as the driver gives them. Through SQLAlchemy's execution (the
    compiled-cache look-up, the execution context, the result object) such a read took, in
    one thread, 0.32 ms for a page of 100 features against 0.22 ms on the cursor
    (PostgreSQL), and 0.029 against 0.006 ms for one site (SQLite); under load, the
    service's threads also wait for one another's hold of the GIL through it.

    Bound values get their types' processing, as SQLAlchemy gives it. A statement that needs
    more of SQLAlchemy (a column whose values it converts, names escaped, values rendered at
    execution) is run through SQLAlchemy, as is any statement on an engine with listeners
    for statements (``before_``/``after_cursor_execute``: tracing, tests that count them), so
    that they hear every one: :meth:`rows` gives the same rows either way. The driver's
    errors are raised as SQLAlchemy's (:class:`~sqlalchemy.exc.DBAPIError`), which
    :func:`statement_connection` and :class:`StatementConnections` turn into a
    :class:`~vigia.errors.StoreError`, and a connection the server dropped is invalidated,
    not handed back to the pool.

    Parameters
    ----------
    stmt : Executable
        A Core statement with named bound parameters.
    """

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        self._plans: dict[str, _DriverPlan | None] = {}

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """Run the statement on ``conn`` with ``params`` and return all its rows.

        Parameters
        ----------
        conn : Connection
            An open connection (in a transaction or not, as the caller keeps it).
        params : mapping
            The bound values by name (those the statement does not carry itself).

        Returns
        -------
        sequence of sequence
            The rows, each indexable as SQLAlchemy's rows are.

        Raises
        ------
        sqlalchemy.exc.DBAPIError
            If the database refuses the statement.
        """
        dialect = conn.dialect
        plan = self._plan(dialect)
        events = conn.dispatch
        if plan is None or events.before_cursor_execute or events.after_cursor_execute:
            # Who listens for statements (tracing, tests that count them) sees this one too.
            return conn.execute(self.stmt, params).all()
        args = plan.args(params)
        dbapi_conn = conn.connection.dbapi_connection
        assert dbapi_conn is not None  # an open connection
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(plan.sql, args)
            return cursor.fetchall()
        except dialect.loaded_dbapi.Error as exc:
            lost = dialect.is_disconnect(exc, dbapi_conn, cursor)
            if lost:
                conn.invalidate(exc)
            raise DBAPIError.instance(
                plan.sql,
                args,
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=dialect,
            ) from exc
        finally:
            cursor.close()

    def driver_call(
        self, dialect: Dialect, params: Mapping[str, Any]
    ) -> tuple[str, tuple[Any, ...] | dict[str, Any]] | None:
        """Return the statement's text and bound values as ``dialect``'s driver takes them.

        ``None`` when the statement needs SQLAlchemy to run it (see the class).

        Raises
        ------
        sqlalchemy.exc.InvalidRequestError
            If a value the statement needs is not given.
        """
        plan = self._plan(dialect)
        return None if plan is None else (plan.sql, plan.args(params))

    def _plan(self, dialect: Dialect) -> _DriverPlan | None:
        try:
            return self._plans[dialect.name]
        except KeyError:
            return self._plans.setdefault(dialect.name, _DriverPlan.of(self.stmt, dialect))


@dataclass(frozen=True)
class Query:
    """A step of a read (:data:`Steps`): run ``statement`` with ``params``; send back its rows.

    Attributes
    ----------
    statement : DriverStatement
        The statement.
    params : mapping
        Its bound values by name.
    """

    statement: DriverStatement
    params: Mapping[str, Any]


@dataclass(frozen=True)
class OnConnection:
    """A step of a read (:data:`Steps`) that needs SQLAlchemy: send back ``fn(connection)``.

    Attributes
    ----------
    fn : callable
        Given an open SQLAlchemy connection, returns what the read is sent.
    """

    fn: Callable[[Connection], Any]


Steps = Generator[Query | OnConnection, Any, T]
"""A read written apart from the connection it runs on: a generator that yields each
statement it needs (:class:`Query`, or :class:`OnConnection` for what only SQLAlchemy runs),
is sent what it read, and returns its answer. :func:`run_steps` runs it on a SQLAlchemy
connection, :class:`vigia.store.loop.LoopConnections` on the event loop: the same read, the
same statements, on either."""


def run_steps(conn: Connection, steps: Steps[T]) -> T:
    """Run a read's steps on a SQLAlchemy connection and return its answer.

    Parameters
    ----------
    conn : Connection
        An open connection.
    steps : Steps
        The read (a generator just made).

    Returns
    -------
    object
        What the read returns.

    Examples
    --------
    >>> from sqlalchemy import bindparam, literal, select
    >>> one = DriverStatement(select(literal(1) + bindparam("x")))
    >>> def read():
    ...     rows = yield Query(one, {"x": 41})
    ...     return rows[0][0]
    >>> with make_engine("sqlite://").connect() as conn:
    ...     run_steps(conn, read())
    42
    """
    try:
        step = next(steps)
        while True:
            got = (
                step.fn(conn)
                if isinstance(step, OnConnection)
                else step.statement.rows(conn, step.params)
            )
            step = steps.send(got)
    except StopIteration as stop:
        answer: T = stop.value
        return answer
    finally:
        steps.close()


@dataclass(frozen=True)
class _DriverPlan:
    """A statement as one back end's driver takes it: its text, its values' order."""

    sql: str
    defaults: dict[str, Any]
    order: tuple[str, ...] | None  # positional drivers (sqlite3): the values' order
    processors: dict[str, Callable[[Any], Any]]  # the bound values' types' processing
    required: frozenset[str]  # values the statement does not carry: the caller must give them

    @classmethod
    def of(cls, stmt: Executable, dialect: Dialect) -> _DriverPlan | None:
        """Compile ``stmt`` for ``dialect``, or ``None`` if it needs SQLAlchemy to run it."""
        compiled = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]
        if compiled.escaped_bind_names or compiled.literal_execute_params:
            return None
        if compiled.post_compile_params:
            return None
        for column in getattr(stmt, "selected_columns", ()):
            if column.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
                return None
        processors = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
        order = tuple(compiled.positiontup) if compiled.positional else None
        required = frozenset(name for name, bind in compiled.binds.items() if bind.required)
        return cls(str(compiled), dict(compiled.params), order, processors, required)

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """Return the bound values as the driver takes them (each type's processing done).

        Raises
        ------
        sqlalchemy.exc.InvalidRequestError
            If a value the statement needs is not given (as SQLAlchemy refuses it).
        """
        if not self.required <= params.keys():
            missing = sorted(self.required - params.keys())
            raise InvalidRequestError(f"a value is required for bind parameter(s) {missing}")
        values = {**self.defaults, **params}
        for name, processor in self.processors.items():
            if values[name] is not None:
                values[name] = processor(values[name])
        if self.order is None:
            return values
        return tuple(values[name] for name in self.order)


class StatementConnections:
    """Connections like :func:`statement_connection`'s, kept open, one a thread that reads.

    A service's site reads are each one statement on a connection outside any transaction.
    Taking that connection from the pool and giving it back (SQLAlchemy's checkout, reset
    and check-in) cost more on SQLite than the statement itself, and on PostgreSQL a fifth
    of the server's time on one site. Each thread that reads here keeps its own connection
    open between reads instead. Each statement still runs on its own (SQLite: no
    transaction is begun, a read lock lasts while its statement runs; PostgreSQL:
    ``AUTOCOMMIT``, never idle in a transaction), so what it reads is what the store holds
    then, as on a connection just opened.

    Each thread holds one of the pool's connections for as long as it lives: read here from
    no more threads than the pool lends (:func:`vigia.service.deps.read_threads` gives the
    service's readers as many as the pool keeps; other work then takes its overflow, which
    the pool keeps once returned).

    A connection on which a statement failed, or out of whose block any other exception
    escaped, is closed and opened again by the thread's next read. An error of Vigía's own
    (a site not found, a bad parameter: a :class:`~vigia.errors.VigiaError` other than
    :class:`~vigia.errors.StoreError`) keeps it: such errors are raised on what a statement
    read whole, and a client asking for sites that do not exist must not make the service
    open a database connection for each request. :meth:`close` closes them all (a service
    shutting down); a thread's next read opens its connection again.

    Parameters
    ----------
    factory : SessionFactory
        The store.
    """

    def __init__(self, factory: SessionFactory) -> None:
        self._engine: Engine = factory.kw["bind"]
        sqlite = self._engine.dialect.name == "sqlite"
        # Not the AUTOCOMMIT level on SQLite: see statement_connection.
        self._options = {_STATEMENTS: True} if sqlite else {"isolation_level": "AUTOCOMMIT"}
        self._local = threading.local()
        self._open: set[Connection] = set()
        self._lock = threading.Lock()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Yield this thread's statement connection (as :func:`statement_connection` yields).

        Raises
        ------
        StoreError
            If the database refuses a statement.
        """
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._engine.connect().execution_options(**self._options)
            self._local.conn = conn
            with self._lock:
                self._open.add(conn)
        try:
            yield conn
        except SQLAlchemyError as exc:
            self._drop(conn)
            raise store_error(exc, self._engine.url) from exc
        except VigiaError as exc:
            if isinstance(exc, StoreError):
                self._drop(conn)
            raise
        except BaseException:
            self._drop(conn)
            raise

    def _drop(self, conn: Connection) -> None:
        self._local.conn = None
        with self._lock:
            self._open.discard(conn)
        conn.close()

    def close(self) -> None:
        """Close every kept connection (each thread opens its own again when it next reads)."""
        with self._lock:
            kept, self._open = self._open, set()
        for conn in kept:
            conn.close()
