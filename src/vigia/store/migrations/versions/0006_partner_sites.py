"""Partner sites: one row per (partner organisation, site released to it), kept by triggers.

``partner_sites`` (:class:`vigia.store.models.PartnerSite`) holds what a partner's read of the
sites collection needs, so that a page, a box or one site is one indexed read of one table:
which sites the organisation may see (a row exists exactly while some release to it carries
the site), the site's box and times (to filter on), and the Feature as that partner sees it
(``NULL``: rendered from the sharing tables when read).

Triggers keep the rows exact in the transaction of every change, whoever makes it:

* a recipient or a site added to a release adds the rows it makes visible (and marks the
  rows it already had stale: the site now shows one more release); one removed deletes the
  rows nothing else makes visible and marks the rest stale;
* a change to a release's id, marking, caveats, withdrawal or creation time, to a partner's
  outcome at a site, or to a site's rendered, state, box or time columns marks the rows it
  shows in stale (``feature = NULL``); a site's change copies its box and times as well;
* a site or an organisation deleted takes its rows with it.

The store writes each stale row's feature again in the transaction that made it stale
(releases, amendments, withdrawals, acknowledgements, outcomes: :mod:`vigia.store.releases`);
what fusion or a review changes is rendered when read until ``vigia db upgrade`` or fusion's
next refresh writes it. The table moves the change counter as every other (migration 0003).
This migration fills the rows of every release already made, features ``NULL``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP = "UPDATE change_counter SET changes = changes + 1 WHERE id = 1"
_COLUMNS = "org_id, site_id, min_lon, min_lat, max_lon, max_lat, first_seen, last_seen, feature"
_SITE = "s.id, s.min_lon, s.min_lat, s.max_lon, s.max_lat, s.first_seen, s.last_seen, NULL"
_STALE_ON_CONFLICT = "ON CONFLICT (org_id, site_id) DO UPDATE SET feature = NULL"
_STILL_VISIBLE = (
    "EXISTS (SELECT 1 FROM release_sites AS v JOIN release_recipients AS w "
    "ON w.release_id = v.release_id "
    "WHERE v.site_id = partner_sites.site_id AND w.org_id = partner_sites.org_id)"
)
SITE_COLUMNS = (
    "id, lon, lat, state, site_class, confidence, first_seen, last_seen, reasons, "
    "min_lon, min_lat, max_lon, max_lat"
)
"""The columns of ``sites`` a partner's row is rendered or filtered from."""
RELEASE_COLUMNS = "id, tlp, caveats, withdrawn_at, created_at"
"""The columns of ``releases`` a partner's feature shows."""


def _recipient_added(r: str) -> list[str]:
    return [
        f"INSERT INTO partner_sites ({_COLUMNS}) SELECT {r}.org_id, {_SITE} "
        f"FROM release_sites AS rs JOIN sites AS s ON s.id = rs.site_id "
        f"WHERE rs.release_id = {r}.release_id {_STALE_ON_CONFLICT}"
    ]


def _recipient_removed(r: str) -> list[str]:
    sites = f"SELECT site_id FROM release_sites WHERE release_id = {r}.release_id"
    return [
        f"DELETE FROM partner_sites WHERE org_id = {r}.org_id AND site_id IN ({sites}) "
        f"AND NOT {_STILL_VISIBLE}",
        f"UPDATE partner_sites SET feature = NULL WHERE org_id = {r}.org_id "
        f"AND site_id IN ({sites})",
    ]


def _site_added(r: str) -> list[str]:
    return [
        f"INSERT INTO partner_sites ({_COLUMNS}) SELECT rr.org_id, {_SITE} "
        f"FROM release_recipients AS rr JOIN sites AS s ON s.id = {r}.site_id "
        f"WHERE rr.release_id = {r}.release_id {_STALE_ON_CONFLICT}"
    ]


def _site_removed(r: str) -> list[str]:
    orgs = f"SELECT org_id FROM release_recipients WHERE release_id = {r}.release_id"
    return [
        f"DELETE FROM partner_sites WHERE site_id = {r}.site_id AND org_id IN ({orgs}) "
        f"AND NOT {_STILL_VISIBLE}",
        f"UPDATE partner_sites SET feature = NULL WHERE site_id = {r}.site_id "
        f"AND org_id IN ({orgs})",
    ]


def _release_changed() -> list[str]:
    sites = "SELECT site_id FROM release_sites WHERE release_id IN (OLD.id, NEW.id)"
    orgs = "SELECT org_id FROM release_recipients WHERE release_id IN (OLD.id, NEW.id)"
    return [
        f"UPDATE partner_sites SET feature = NULL WHERE site_id IN ({sites}) AND org_id IN ({orgs})"
    ]


def _outcome(r: str) -> list[str]:
    return [
        f"UPDATE partner_sites SET feature = NULL "
        f"WHERE org_id = {r}.org_id AND site_id = {r}.site_id"
    ]


def _site_changed() -> list[str]:
    return [
        "UPDATE partner_sites SET feature = NULL, min_lon = NEW.min_lon, "
        "min_lat = NEW.min_lat, max_lon = NEW.max_lon, max_lat = NEW.max_lat, "
        "first_seen = NEW.first_seen, last_seen = NEW.last_seen WHERE site_id = OLD.id"
    ]


# (trigger name, table, SQLite event, statements) for each row trigger.
def _triggers() -> list[tuple[str, str, str, list[str]]]:
    return [
        ("partner_sites_recipient_insert", "release_recipients", "AFTER INSERT",
         _recipient_added("NEW")),
        ("partner_sites_recipient_update", "release_recipients", "AFTER UPDATE",
         _recipient_removed("OLD") + _recipient_added("NEW")),
        ("partner_sites_recipient_delete", "release_recipients", "AFTER DELETE",
         _recipient_removed("OLD")),
        ("partner_sites_site_insert", "release_sites", "AFTER INSERT", _site_added("NEW")),
        ("partner_sites_site_update", "release_sites", "AFTER UPDATE",
         _site_removed("OLD") + _site_added("NEW")),
        ("partner_sites_site_delete", "release_sites", "AFTER DELETE", _site_removed("OLD")),
        ("partner_sites_release_update", "releases", f"AFTER UPDATE OF {RELEASE_COLUMNS}",
         _release_changed()),
        ("partner_sites_outcome_insert", "outcomes", "AFTER INSERT", _outcome("NEW")),
        ("partner_sites_outcome_update", "outcomes", "AFTER UPDATE",
         _outcome("OLD") + _outcome("NEW")),
        ("partner_sites_outcome_delete", "outcomes", "AFTER DELETE", _outcome("OLD")),
        ("partner_sites_sites_update", "sites", f"AFTER UPDATE OF {SITE_COLUMNS}",
         _site_changed()),
        ("partner_sites_sites_delete", "sites", "BEFORE DELETE",
         ["DELETE FROM partner_sites WHERE site_id = OLD.id"]),
        ("partner_sites_org_delete", "organisations", "BEFORE DELETE",
         ["DELETE FROM partner_sites WHERE org_id = OLD.id"]),
    ]  # fmt: skip


def _sqlite_triggers() -> list[tuple[str, str]]:
    out = []
    for event in ("INSERT", "UPDATE", "DELETE"):
        name = f"change_counter_partner_sites_{event.lower()}"
        out.append(
            (name, f"CREATE TRIGGER {name} AFTER {event} ON partner_sites BEGIN {_BUMP}; END")
        )
    for name, table, event, statements in _triggers():
        body = "".join(f"{s}; " for s in statements)
        out.append((name, f"CREATE TRIGGER {name} {event} ON {table} BEGIN {body}END"))
    return out


def _backfill() -> str:
    return (
        f"INSERT INTO partner_sites ({_COLUMNS}) SELECT DISTINCT rr.org_id, {_SITE} "
        "FROM release_sites AS rs JOIN release_recipients AS rr ON rr.release_id = rs.release_id "
        "JOIN sites AS s ON s.id = rs.site_id"
    )


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "partner_sites",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=16), nullable=False),
        sa.Column("min_lon", sa.Double(), nullable=False),
        sa.Column("min_lat", sa.Double(), nullable=False),
        sa.Column("max_lon", sa.Double(), nullable=False),
        sa.Column("max_lat", sa.Double(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feature", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_partner_sites_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_partner_sites_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("org_id", "site_id", name=op.f("pk_partner_sites")),
    )
    op.create_index(
        "ix_partner_sites_box",
        "partner_sites",
        [
            "org_id",
            "min_lon",
            "min_lat",
            "max_lon",
            "max_lat",
            "last_seen",
            "first_seen",
            "site_id",
        ],
        unique=False,
    )
    # A site's rows, found by its id (a site's change, the rows a change made stale).
    op.create_index(op.f("ix_partner_sites_site_id"), "partner_sites", ["site_id"], unique=False)
    op.execute(_backfill())
    if op.get_bind().dialect.name == "sqlite":
        for _, create in _sqlite_triggers():
            op.execute(create)
        return
    op.execute(
        "CREATE CONSTRAINT TRIGGER change_counter_partner_sites "
        "AFTER INSERT OR UPDATE OR DELETE ON partner_sites DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION change_counter_bump()"
    )
    op.execute(
        "CREATE TRIGGER change_counter_partner_sites_truncate AFTER TRUNCATE ON partner_sites "
        "FOR EACH STATEMENT EXECUTE FUNCTION change_counter_bump()"
    )
    for name, table, event, statements in _triggers():
        body = "".join(f"{s}; " for s in statements)
        returns = "OLD" if event.startswith("BEFORE") else "NULL"
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{body}RETURN {returns}; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
        )


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "sqlite":
        for name, _ in _sqlite_triggers():
            op.execute(f"DROP TRIGGER {name}")
    else:
        for name, table, _, _ in _triggers():
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}()")
        op.execute("DROP TRIGGER change_counter_partner_sites ON partner_sites")
        op.execute("DROP TRIGGER change_counter_partner_sites_truncate ON partner_sites")
    op.drop_index(op.f("ix_partner_sites_site_id"), table_name="partner_sites")
    op.drop_index("ix_partner_sites_box", table_name="partner_sites")
    op.drop_table("partner_sites")
