"""The change counter: one row that triggers bump in the transaction of every change.

Every insert, update or delete of a table (the audit log aside: it only grows, and nothing
cached is read from it) adds one to ``change_counter.changes``; of ``api_tokens``, only the
columns that decide authentication count (a token's ``last_used_at`` does not). A cache of
reads is then checked with one query (:mod:`vigia.store.changes`).

SQLite runs one writer at a time: plain row triggers. PostgreSQL runs writers side by side,
so its triggers are deferred to the commit and bump once per transaction: the counter's row
lock is the last lock a writer takes, held only while it commits, so it serialises commits
alone (as the audit log's lock already does) and cannot close a deadlock.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables at this revision, but the audit log; a later table needs its own triggers.
WATCHED: tuple[str, ...] = (
    "ingests",
    "flight_lines",
    "detections",
    "sites",
    "site_observations",
    "review_decisions",
    "revisit_requests",
    "organisations",
    "users",
    "releases",
    "release_sites",
    "release_recipients",
    "outcomes",
    "sorties",
)
TOKEN_COLUMNS = "user_id, token_hash, expires_at, revoked_at"
_BUMP = "UPDATE change_counter SET changes = changes + 1 WHERE id = 1"
_COUNTED = "vigia.change_counted"  # PostgreSQL: set (transaction-local) once bumped


def _sqlite_triggers() -> list[tuple[str, str]]:
    out = []
    for table in (*WATCHED, "api_tokens"):
        for event in ("INSERT", "UPDATE", "DELETE"):
            name = f"change_counter_{table}_{event.lower()}"
            what = event
            if table == "api_tokens" and event == "UPDATE":
                what = f"UPDATE OF {TOKEN_COLUMNS}"
            out.append((name, f"CREATE TRIGGER {name} AFTER {what} ON {table} BEGIN {_BUMP}; END"))
    return out


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_change_counter_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_counter")),
    )
    op.execute("INSERT INTO change_counter (id, changes) VALUES (1, 0)")
    if op.get_bind().dialect.name == "sqlite":
        for _, create in _sqlite_triggers():
            op.execute(create)
        return
    op.execute(
        "CREATE FUNCTION change_counter_bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF current_setting('{_COUNTED}', true) IS DISTINCT FROM '1' THEN {_BUMP}; "
        f"PERFORM set_config('{_COUNTED}', '1', true); END IF; RETURN NULL; END $$"
    )
    for table in (*WATCHED, "api_tokens"):
        update = f"UPDATE OF {TOKEN_COLUMNS}" if table == "api_tokens" else "UPDATE"
        op.execute(
            f"CREATE CONSTRAINT TRIGGER change_counter_{table} "
            f"AFTER INSERT OR {update} OR DELETE ON {table} DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION change_counter_bump()"
        )
        op.execute(
            f"CREATE TRIGGER change_counter_{table}_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION change_counter_bump()"
        )


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "sqlite":
        for name, _ in _sqlite_triggers():
            op.execute(f"DROP TRIGGER {name}")
    else:
        for table in (*WATCHED, "api_tokens"):
            op.execute(f"DROP TRIGGER change_counter_{table} ON {table}")
            op.execute(f"DROP TRIGGER change_counter_{table}_truncate ON {table}")
        op.execute("DROP FUNCTION change_counter_bump()")
    op.drop_table("change_counter")
