"""The change counter: whether anything in the store changed since a cache was filled.

Triggers (migration 0003) add one to ``change_counter.changes`` in the transaction of every
insert, update or delete of any table but the audit log (of ``api_tokens``: only the columns
that decide authentication). The number is therefore the same in every process reading the
same database, and grows at the commit of any change: a cache filled from reads that began
after the counter read ``n`` is still true while the counter reads ``n``. That is a check
against the database on each use, never a time to live.

:class:`ChangeWatch` reads the counter on a connection of its own, in one statement outside
any transaction (one round trip on PostgreSQL).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Final

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vigia.store.models import ChangeCounter

__all__ = ["CHANGES", "ChangeWatch", "read_changes"]

_READ: Final = "SELECT changes FROM change_counter WHERE id = 1"

CHANGES: Final = (
    select(ChangeCounter.changes).where(ChangeCounter.id == 1).scalar_subquery().label("changes")
)
"""The change counter as a column: added to a read, it tells the count that read saw.

In the same statement as what it is read with, so in the same snapshot on every back end and
isolation level (``NULL`` on a store without the counter's row)."""


def read_changes(session: Session) -> int:
    """Return the store's change counter as the session sees it.

    Parameters
    ----------
    session : Session
        An open session.

    Returns
    -------
    int
        How many changes were committed (it only grows).
    """
    return int(session.scalar(select(CHANGES)) or 0)


def _close(conn: list[Any]) -> None:
    if conn:
        try:
            conn.pop().close()
        except Exception:  # a broken connection: closed as well as it can be
            pass


class ChangeWatch:
    """Read a store's change counter on a connection of its own.

    Parameters
    ----------
    engine : Engine
        The store's engine; a connection is taken from it on first use and kept (out of
        its pool). It is closed by :meth:`close`, or when the watch is collected.

    Examples
    --------
    >>> from vigia.store import make_engine
    >>> engine = make_engine("sqlite:///:memory:")
    >>> ChangeWatch.supports(engine)
    False
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._conn: list[Any] = []  # zero or one DBAPI connection (a list: for the finaliser)
        self._finalizer = weakref.finalize(self, _close, self._conn)

    @staticmethod
    def supports(engine: Engine) -> bool:
        """Whether a second connection sees the same database (not an in-memory SQLite)."""
        if engine.dialect.name != "sqlite":
            return True
        return engine.url.database not in (None, "", ":memory:")

    def changes(self) -> int:
        """Return the change counter now (one statement, outside any transaction).

        Returns
        -------
        int
            The counter.

        Raises
        ------
        Exception
            Whatever the driver raises when the database cannot be read (the connection is
            then dropped, and a new one taken next time).
        """
        with self._lock:
            if not self._conn:
                fairy = self.engine.raw_connection()
                fairy.detach()  # ours now: closing it closes it
                if self.engine.dialect.name == "postgresql":
                    fairy.dbapi_connection.autocommit = True  # type: ignore[union-attr]
                self._conn.append(fairy)
            conn = self._conn[0]
            try:
                cursor = conn.cursor()
                try:
                    cursor.execute(_READ)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            except Exception:
                _close(self._conn)
                raise
        return int(row[0])

    def close(self) -> None:
        """Close the connection (a later :meth:`changes` opens another)."""
        with self._lock:
            _close(self._conn)
