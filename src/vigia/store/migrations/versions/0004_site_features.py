"""Site features: each site's partner-facing GeoJSON, rendered once, with what keeps it fresh.

``site_features`` holds the parts of a site's Feature that are the same for every partner
(:class:`vigia.store.models.SiteFeature`). A trigger deletes a site's row in the transaction of
any change to the columns those parts come from, or of the site's deletion, so that a row
that is there is never stale (whoever changes the site, through the store or not). The table
moves the change counter as every other (migration 0003).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENDERED_FROM = "id, lon, lat, site_class, confidence, first_seen, last_seen, reasons"
"""The columns of ``sites`` a stored feature is rendered from."""
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
            f"CREATE TRIGGER site_features_stale_update AFTER UPDATE OF {RENDERED_FROM} "
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
        f"CREATE TRIGGER site_features_stale_update AFTER UPDATE OF {RENDERED_FROM} ON sites "
        "FOR EACH ROW EXECUTE FUNCTION site_features_stale()"
    )
    op.execute(
        "CREATE TRIGGER site_features_stale_delete BEFORE DELETE ON sites "
        "FOR EACH ROW EXECUTE FUNCTION site_features_stale()"
    )


def downgrade() -> None:
    """Revert this revision."""
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
