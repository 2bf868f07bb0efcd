"""Drop ``site_features``: written at every release since 0004, read by nothing since 0006.

Migration 0004 stored the partner-independent parts of each released site's Feature, which
partner pages joined with the partner's own parts. Since 0006 a partner's read is one read of
``partner_sites``, which holds the whole Feature as that partner sees it, and nothing reads
``site_features`` any more; its rows, and the triggers that delete them whenever a site
changes (and move the change counter), were work for every release and every fusion update.
This migration drops the table and its triggers. Its downgrade makes them again, empty (no
reader needs the rows).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As migration 0004 made them (a migration does not import another: each stays as it ran).
_RENDERED_FROM = "id, lon, lat, site_class, confidence, first_seen, last_seen, reasons"
_BUMP = "UPDATE change_counter SET changes = changes + 1 WHERE id = 1"
_STALE = "DELETE FROM site_features WHERE site_id = OLD.id"


def _sqlite_triggers() -> list[tuple[str, str]]:
    out = []
    for event in ("INSERT", "UPDATE", "DELETE"):
        name = f"change_counter_site_features_{event.lower()}"
        out.append(
            (name, f"CREATE TRIGGER {name} AFTER {event} ON site_features BEGIN {_BUMP}; END")
        )
    out += [
        (
            "site_features_stale_update",
            f"CREATE TRIGGER site_features_stale_update AFTER UPDATE OF {_RENDERED_FROM} "
            f"ON sites BEGIN {_STALE}; END",
        ),
        (
            "site_features_stale_delete",
            f"CREATE TRIGGER site_features_stale_delete BEFORE DELETE ON sites BEGIN {_STALE}; END",
        ),
    ]
    return out


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name == "sqlite":
        for name, _ in _sqlite_triggers():
            op.execute(f"DROP TRIGGER {name}")
    else:
        op.execute("DROP TRIGGER site_features_stale_update ON sites")
        op.execute("DROP TRIGGER site_features_stale_delete ON sites")
        op.execute("DROP FUNCTION site_features_stale()")
        op.execute("DROP TRIGGER change_counter_site_features ON site_features")
        op.execute("DROP TRIGGER change_counter_site_features_truncate ON site_features")
    op.drop_table("site_features")


def downgrade() -> None:
    """Revert this revision (the table comes back empty)."""
    op.create_table(
        "site_features",
        sa.Column("site_id", sa.String(length=16), nullable=False),
        sa.Column("head", sa.Text(), nullable=False),
        sa.Column("middle", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_features_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_features")),
    )
    if op.get_bind().dialect.name == "sqlite":
        for _, create in _sqlite_triggers():
            op.execute(create)
        return
    op.execute(
        "CREATE CONSTRAINT TRIGGER change_counter_site_features "
        "AFTER INSERT OR UPDATE OR DELETE ON site_features DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION change_counter_bump()"
    )
    op.execute(
        "CREATE TRIGGER change_counter_site_features_truncate AFTER TRUNCATE ON site_features "
        "FOR EACH STATEMENT EXECUTE FUNCTION change_counter_bump()"
    )
    op.execute(
        "CREATE FUNCTION site_features_stale() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"{_STALE}; RETURN OLD; END $$"
    )
    op.execute(
        f"CREATE TRIGGER site_features_stale_update AFTER UPDATE OF {_RENDERED_FROM} ON sites "
        "FOR EACH ROW EXECUTE FUNCTION site_features_stale()"
    )
    op.execute(
        "CREATE TRIGGER site_features_stale_delete BEFORE DELETE ON sites "
        "FOR EACH ROW EXECUTE FUNCTION site_features_stale()"
    )
