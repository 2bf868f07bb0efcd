"""Schema revisions: Alembic migrations shipped inside the package, run without an ini file.

The migration scripts live in ``vigia/store/migrations`` (packaged in the wheel), so that
``vigia db upgrade`` works wherever Vigía is installed. A developer who changes
:mod:`vigia.store.models` writes a revision there; :func:`alembic_config` gives the
configuration for Alembic's own commands, e.g.
``alembic.command.revision(alembic_config(), "add x", autogenerate=True)`` with a connection
in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from vigia.errors import StoreError

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic configuration for Vigía's migrations (no ini file needed).

    Parameters
    ----------
    connection : Connection, optional
        The connection the migrations run on (``env.py`` reads it from ``attributes``).

    Returns
    -------
    alembic.config.Config
        The configuration.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """Return the newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships its revisions
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """Return the database's revision, ``None`` for a database never migrated.

    Raises
    ------
    StoreError
        If the database cannot be reached.
    """
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise _error(engine, "cannot read the schema revision", exc) from exc


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply migrations up to a revision, in one transaction.

    Parameters
    ----------
    engine : Engine
        The database.
    revision : str
        Target revision (default the newest).

    Returns
    -------
    str or None
        The revision the database is at afterwards.

    Raises
    ------
    StoreError
        If a migration fails (the database stays at the revision it had).
    """
    return _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> str | None:
    """Revert migrations down to a revision (``"base"`` for an empty database).

    Parameters
    ----------
    engine : Engine
        The database.
    revision : str
        Target revision.

    Returns
    -------
    str or None
        The revision the database is at afterwards.

    Raises
    ------
    StoreError
        If a migration fails (the database stays at the revision it had).
    """
    return _run(engine, "downgrade", revision)


def _run(engine: Engine, direction: str, revision: str) -> str | None:
    try:
        with engine.begin() as conn:
            cfg = alembic_config(conn)
            if direction == "upgrade":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise _error(engine, f"{direction} to {revision} failed", exc) from exc
    return current_revision(engine)


def _error(engine: Engine, what: str, exc: SQLAlchemyError) -> StoreError:
    url = engine.url.render_as_string(hide_password=True)
    return StoreError(f"database {url}: {what}: {' '.join(str(exc).split())}")
