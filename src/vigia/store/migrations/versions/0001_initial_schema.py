"""Initial schema: ingests, flight lines, detections, sites, observations, decisions, revisits.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "flight_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=128), nullable=False),
        sa.Column("sensor", sa.String(length=16), nullable=False),
        sa.Column("time_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("footprint", sa.Text(), nullable=False),
        sa.Column("area_km2", sa.Double(), nullable=False),
        sa.Column("pixel_size_m", sa.Double(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("cols", sa.Integer(), nullable=False),
        sa.Column("min_lon", sa.Double(), nullable=False),
        sa.Column("min_lat", sa.Double(), nullable=False),
        sa.Column("max_lon", sa.Double(), nullable=False),
        sa.Column("max_lat", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flight_lines")),
        sa.UniqueConstraint(
            "line_id",
            "sensor",
            "time_start",
            name=op.f("uq_flight_lines_line_id_sensor_time_start"),
        ),
    )
    op.create_table(
        "ingests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=512), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_lines", sa.Integer(), nullable=False),
        sa.Column("n_detections", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingests")),
        sa.UniqueConstraint("sha256", name=op.f("uq_ingests_sha256")),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("site_class", sa.String(length=32), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("min_lon", sa.Double(), nullable=False),
        sa.Column("min_lat", sa.Double(), nullable=False),
        sa.Column("max_lon", sa.Double(), nullable=False),
        sa.Column("max_lat", sa.Double(), nullable=False),
        sa.CheckConstraint(
            "site_class IN ('rural_lab', 'industrial_lab', 'farm_tarp', 'kiln', 'charcoal_pit', "
            "'factory_stack', 'landfill', 'paint_shop', 'unknown')",
            name=op.f("ck_sites_site_class"),
        ),
        sa.CheckConstraint(
            "state IN ('candidate', 'in_review', 'revisit_requested', 'confirmed', 'rejected', "
            "'released', 'acknowledged', 'actioned', 'closed')",
            name=op.f("ck_sites_state"),
        ),
        sa.CheckConstraint("confidence >= 0 AND confidence <= 1", name=op.f("ck_sites_confidence")),
        sa.CheckConstraint(
            "max_lon >= min_lon AND max_lat >= min_lat AND max_lon - min_lon <= 0.1 "
            "AND max_lat - min_lat <= 0.1",
            name=op.f("ck_sites_bbox"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_index(
        "ix_sites_bbox_time",
        "sites",
        ["min_lon", "min_lat", "max_lon", "max_lat", "last_seen", "first_seen"],
        unique=False,
    )
    op.create_index(op.f("ix_sites_state"), "sites", ["state"], unique=False)

    op.create_table(
        "detections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("detection_id", sa.String(length=128), nullable=False),
        sa.Column("ingest_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sensor", sa.String(length=16), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("species", sa.JSON(), nullable=False),
        sa.Column("enhancement_ppm_m", sa.Double(), nullable=True),
        sa.Column("emission_kg_h", sa.Double(), nullable=True),
        sa.Column("emission_kg_h_sigma", sa.Double(), nullable=True),
        sa.Column("delta_t_k", sa.Double(), nullable=True),
        sa.Column("area_m2", sa.Double(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("footprint", sa.Text(), nullable=False),
        sa.Column("min_lon", sa.Double(), nullable=False),
        sa.Column("min_lat", sa.Double(), nullable=False),
        sa.Column("max_lon", sa.Double(), nullable=False),
        sa.Column("max_lat", sa.Double(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('plume', 'thermal', 'tarp', 'clearing')", name=op.f("ck_detections_kind")
        ),
        sa.ForeignKeyConstraint(
            ["ingest_id"], ["ingests.id"], name=op.f("fk_detections_ingest_id_ingests")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["flight_lines.id"], name=op.f("fk_detections_line_id_flight_lines")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detections")),
        sa.UniqueConstraint(
            "ingest_id", "detection_id", name=op.f("uq_detections_ingest_id_detection_id")
        ),
    )
    op.create_index(op.f("ix_detections_line_id"), "detections", ["line_id"], unique=False)
    op.create_index(
        op.f("ix_detections_lon_lat_time"), "detections", ["lon", "lat", "time"], unique=False
    )

    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=False),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_review_decisions_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_decisions")),
    )
    op.create_index(
        op.f("ix_review_decisions_site_id_time"),
        "review_decisions",
        ["site_id", "time"],
        unique=False,
    )

    op.create_table(
        "revisit_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=16), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'planned', 'done')", name=op.f("ck_revisit_requests_status")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_revisit_requests_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revisit_requests")),
    )
    op.create_index(
        op.f("ix_revisit_requests_site_id"), "revisit_requests", ["site_id"], unique=False
    )
    op.create_index(
        op.f("ix_revisit_requests_status_priority"),
        "revisit_requests",
        ["status", "priority"],
        unique=False,
    )

    op.create_table(
        "site_observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=16), nullable=False),
        sa.Column("detection_id", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["detection_id"],
            ["detections.id"],
            name=op.f("fk_site_observations_detection_id_detections"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_observations_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_observations")),
        sa.UniqueConstraint(
            "site_id", "detection_id", name=op.f("uq_site_observations_site_id_detection_id")
        ),
    )
    op.create_index(
        op.f("ix_site_observations_detection_id"),
        "site_observations",
        ["detection_id"],
        unique=False,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_site_observations_detection_id"), table_name="site_observations")

    op.drop_table("site_observations")
    op.drop_index(op.f("ix_revisit_requests_status_priority"), table_name="revisit_requests")
    op.drop_index(op.f("ix_revisit_requests_site_id"), table_name="revisit_requests")

    op.drop_table("revisit_requests")
    op.drop_index(op.f("ix_review_decisions_site_id_time"), table_name="review_decisions")

    op.drop_table("review_decisions")
    op.drop_index(op.f("ix_detections_lon_lat_time"), table_name="detections")
    op.drop_index(op.f("ix_detections_line_id"), table_name="detections")

    op.drop_table("detections")
    op.drop_index(op.f("ix_sites_state"), table_name="sites")
    op.drop_index("ix_sites_bbox_time", table_name="sites")

    op.drop_table("sites")
    op.drop_table("ingests")
    op.drop_table("flight_lines")
