"""The tables: what Vigía keeps of the detections it ingests and the sites it finds.

Geometry is GeoJSON text (RFC 7946, lon/lat) beside bounding-box columns ``min_lon, min_lat,
max_lon, max_lat`` in degrees, so that spatial filters are plain B-tree range scans on SQLite
and PostgreSQL alike (no SpatiaLite or PostGIS to install). A site's box spans at most
:data:`MAX_SITE_SPAN_DEG` in each axis (a check constraint): that bound turns "boxes that meet
this box" into a two-sided range on the leading column of ``ix_sites_bbox_time``.

Times are timezone-aware UTC ``datetime`` in Python; :class:`UTCDateTime` stores them as
``timestamptz`` on PostgreSQL and as naive UTC on SQLite, and gives them back aware.

Every change to these models needs an Alembic revision in ``vigia/store/migrations/versions``;
a test checks that the two agree on both back ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from vigia.lifecycle import STATES
from vigia.world.sites import SITE_KINDS

__all__ = [
    "AGENCY_ROLES",
    "AUDIT_OUTCOMES",
    "MAX_SITE_SPAN_DEG",
    "ORG_KINDS",
    "PARTNER_ROLES",
    "REVISIT_STATUSES",
    "SITE_CLASSES",
    "SORTIE_STATUSES",
    "TLP_MARKINGS",
    "USER_ROLES",
    "ApiToken",
    "AuditEntry",
    "Base",
    "ChangeCounter",
    "DetectionRow",
    "FlightLine",
    "Ingest",
    "Organisation",
    "Outcome",
    "PartnerSite",
    "Release",
    "ReleaseRecipient",
    "ReleaseSite",
    "ReviewDecision",
    "RevisitRequest",
    "Site",
    "SiteObservation",
    "SortieRequest",
    "UTCDateTime",
    "User",
]

MAX_SITE_SPAN_DEG = 0.1
"""Largest extent of a site's bounding box in longitude and in latitude, degrees (~11 km)."""

SITE_CLASSES: tuple[str, ...] = (*SITE_KINDS, "unknown")
REVISIT_STATUSES: tuple[str, ...] = ("open", "planned", "done")
ORG_KINDS: tuple[str, ...] = ("agency", "partner")
AGENCY_ROLES: tuple[str, ...] = ("analyst", "release_officer", "admin")
PARTNER_ROLES: tuple[str, ...] = ("partner_viewer", "partner_officer")
USER_ROLES: tuple[str, ...] = (*AGENCY_ROLES, *PARTNER_ROLES)
TLP_MARKINGS: tuple[str, ...] = (
    "TLP:RED",
    "TLP:AMBER+STRICT",
    "TLP:AMBER",
    "TLP:GREEN",
    "TLP:CLEAR",
)
"""TLP 2.0 labels (FIRST, https://www.first.org/tlp/), most restrictive first."""
SORTIE_STATUSES: tuple[str, ...] = ("submitted", "approved", "refused")
AUDIT_OUTCOMES: tuple[str, ...] = ("ok", "refused", "error")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every back end (naive UTC inside SQLite)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive times and store UTC (naive on SQLite, which has no time zones)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: Vigía stores UTC-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Give back an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with constraint names fixed (Alembic needs them to alter tables)."""

    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: sa.JSON(),
        float: sa.Double(),
    }


class _BBox:
    """Bounding-box columns, degrees (WGS84)."""

    min_lon: Mapped[float]
    min_lat: Mapped[float]
    max_lon: Mapped[float]
    max_lat: Mapped[float]


class Ingest(Base):
    """One detection file taken into the store (idempotent by the file's SHA-256)."""

    __tablename__ = "ingests"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    file_name: Mapped[str] = mapped_column(sa.String(512))
    ingested_at: Mapped[datetime]
    n_lines: Mapped[int]
    n_detections: Mapped[int]


class FlightLine(Base, _BBox):
    """A line a sensor imaged and the detectors searched."""

    __tablename__ = "flight_lines"
    __table_args__ = (sa.UniqueConstraint("line_id", "sensor", "time_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[str] = mapped_column(sa.String(128))
    sensor: Mapped[str] = mapped_column(sa.String(16))
    time_start: Mapped[datetime | None]
    time_end: Mapped[datetime | None]
    footprint: Mapped[str] = mapped_column(sa.Text)
    area_km2: Mapped[float]
    pixel_size_m: Mapped[float]
    rows: Mapped[int]
    cols: Mapped[int]


class DetectionRow(Base, _BBox):
    """One detection of one ingest; the box is its footprint's, ``lon, lat`` its source point."""

    __tablename__ = "detections"
    __table_args__ = (
        sa.UniqueConstraint("ingest_id", "detection_id"),
        sa.Index(None, "lon", "lat", "time"),
        sa.CheckConstraint(_in("kind", ("plume", "thermal", "tarp", "clearing")), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    detection_id: Mapped[str] = mapped_column(sa.String(128))
    ingest_id: Mapped[int] = mapped_column(sa.ForeignKey("ingests.id"))
    line_id: Mapped[int] = mapped_column(sa.ForeignKey("flight_lines.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    sensor: Mapped[str] = mapped_column(sa.String(16))
    time: Mapped[datetime]
    lon: Mapped[float]
    lat: Mapped[float]
    score: Mapped[float]
    species: Mapped[list[str]] = mapped_column(sa.JSON)
    enhancement_ppm_m: Mapped[float | None]
    emission_kg_h: Mapped[float | None]
    emission_kg_h_sigma: Mapped[float | None]
    delta_t_k: Mapped[float | None]
    area_m2: Mapped[float]
    properties: Mapped[dict[str, Any]]
    footprint: Mapped[str] = mapped_column(sa.Text)

    line: Mapped[FlightLine] = relationship()


class Site(Base, _BBox):
    """A place that fused detections point at, and where it stands in review."""

    __tablename__ = "sites"
    __table_args__ = (
        sa.Index(
            "ix_sites_bbox_time",
            "min_lon",
            "min_lat",
            "max_lon",
            "max_lat",
            "last_seen",
            "first_seen",
            "id",  # a box query finds the ids of the sites it keeps in the index alone
        ),
        sa.CheckConstraint(_in("state", STATES), name="state"),
        sa.CheckConstraint(_in("site_class", SITE_CLASSES), name="site_class"),
        sa.CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence"),
        sa.CheckConstraint(
            f"max_lon >= min_lon AND max_lat >= min_lat AND max_lon - min_lon <= "
            f"{MAX_SITE_SPAN_DEG} AND max_lat - min_lat <= {MAX_SITE_SPAN_DEG}",
            name="bbox",
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    lon: Mapped[float]
    lat: Mapped[float]
    state: Mapped[str] = mapped_column(sa.String(32), index=True)
    site_class: Mapped[str] = mapped_column(sa.String(32))
    confidence: Mapped[float]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    reasons: Mapped[list[str]] = mapped_column(sa.JSON)
    evidence: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    observations: Mapped[list[SiteObservation]] = relationship(
        back_populates="site", order_by="SiteObservation.id"
    )
    decisions: Mapped[list[ReviewDecision]] = relationship(order_by="ReviewDecision.id")
    revisits: Mapped[list[RevisitRequest]] = relationship(order_by="RevisitRequest.id")


class PartnerSite(Base):
    """A site a partner organisation may see, with its Feature as that partner sees it.

    One row per (partner organisation, site that some release to it carries), and only
    those: triggers insert and delete the rows in the transaction of every change to
    ``release_sites`` and ``release_recipients`` (migration 0006), whoever makes it. The box
    and time columns are the site's, copied by a trigger whenever the site's change; the
    partner's pages filter and order on them here. ``feature`` is the partner's GeoJSON
    Feature as :mod:`vigia.store.releases` renders it (state, marking, caveats and releases
    as that partner sees them), written in the transaction of the release, amendment,
    withdrawal, acknowledgement or outcome that changed it; a trigger sets it ``NULL`` in
    the transaction of any change to what it was rendered from (the site, a release
    carrying it, its recipients' acknowledgements, the partner's outcomes), and a row
    without one is rendered from those tables, so a stored feature is never stale.
    """

    __tablename__ = "partner_sites"
    __table_args__ = (
        sa.Index(
            "ix_partner_sites_box",
            "org_id",
            "min_lon",
            "min_lat",
            "max_lon",
            "max_lat",
            "last_seen",
            "first_seen",
            "site_id",
        ),
    )

    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"), primary_key=True, index=True)
    min_lon: Mapped[float]
    min_lat: Mapped[float]
    max_lon: Mapped[float]
    max_lat: Mapped[float]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    feature: Mapped[str | None] = mapped_column(sa.Text)


class SiteObservation(Base):
    """A detection that fusion associated with a site."""

    __tablename__ = "site_observations"
    __table_args__ = (sa.UniqueConstraint("site_id", "detection_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"))
    detection_id: Mapped[int] = mapped_column(sa.ForeignKey("detections.id"), index=True)
    distance_m: Mapped[float]

    site: Mapped[Site] = relationship(back_populates="observations")
    detection: Mapped[DetectionRow] = relationship()


class ReviewDecision(Base):
    """One lifecycle transition of a site: who, in what role, did what, when and why."""

    __tablename__ = "review_decisions"
    __table_args__ = (sa.Index(None, "site_id", "time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"))
    actor: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[str] = mapped_column(sa.String(32))
    action: Mapped[str] = mapped_column(sa.String(32))
    from_state: Mapped[str] = mapped_column(sa.String(32))
    to_state: Mapped[str] = mapped_column(sa.String(32))
    reason: Mapped[str] = mapped_column(sa.Text)
    detail: Mapped[dict[str, Any]]
    time: Mapped[datetime]


class RevisitRequest(Base):
    """A request to image a site again."""

    __tablename__ = "revisit_requests"
    __table_args__ = (
        sa.Index(None, "status", "priority"),
        sa.CheckConstraint(_in("status", REVISIT_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    lon: Mapped[float]
    lat: Mapped[float]
    reason: Mapped[str] = mapped_column(sa.Text)
    priority: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16))
    requested_at: Mapped[datetime]


class Organisation(Base):
    """A tenant: the originating agency or a partner authority."""

    __tablename__ = "organisations"
    __table_args__ = (sa.CheckConstraint(_in("kind", ORG_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    country: Mapped[str | None] = mapped_column(sa.String(3))
    created_at: Mapped[datetime]


class User(Base):
    """A person (or the demo's automatic policy) who belongs to one organisation in one role."""

    __tablename__ = "users"
    __table_args__ = (sa.CheckConstraint(_in("role", USER_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(32))
    active: Mapped[bool]
    created_at: Mapped[datetime]

    org: Mapped[Organisation] = relationship()


class ApiToken(Base):
    """An API token: only its SHA-256 is kept (the token itself is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class Release(Base):
    """Sites released to partner organisations under a TLP marking and caveats."""

    __tablename__ = "releases"
    __table_args__ = (sa.CheckConstraint(_in("tlp", TLP_MARKINGS), name="tlp"),)

    id: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    officer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    tlp: Mapped[str] = mapped_column(sa.String(32))
    caveats: Mapped[list[str]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime]
    amended_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    withdraw_reason: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[int]


class ReleaseSite(Base):
    """A site a release carries."""

    __tablename__ = "release_sites"

    release_id: Mapped[str] = mapped_column(sa.ForeignKey("releases.id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"), primary_key=True, index=True)


class ReleaseRecipient(Base):
    """An organisation a release goes to, and when one of its officers acknowledged it."""

    __tablename__ = "release_recipients"

    release_id: Mapped[str] = mapped_column(sa.ForeignKey("releases.id"), primary_key=True)
    org_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id"), primary_key=True, index=True
    )
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class Outcome(Base):
    """What a partner found when it acted on a released site (quantities normalised)."""

    __tablename__ = "outcomes"
    __table_args__ = (sa.Index(None, "site_id", "reported_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[str] = mapped_column(sa.ForeignKey("releases.id"), index=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    reporter_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    outcome: Mapped[str] = mapped_column(sa.String(32))
    quantities: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    observed_at: Mapped[datetime]
    reported_at: Mapped[datetime]
    text: Mapped[str] = mapped_column(sa.Text)


class SortieRequest(Base):
    """A planned sortie submitted to the partner over whose territory it flies."""

    __tablename__ = "sorties"
    __table_args__ = (sa.CheckConstraint(_in("status", SORTIE_STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    plan_sha256: Mapped[str] = mapped_column(sa.String(64))
    plan_path: Mapped[str] = mapped_column(sa.Text)
    area: Mapped[dict[str, Any]]
    submitted_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(sa.String(16))
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(sa.Text)


class AuditEntry(Base):
    """One entry of the hash-chained audit log (see :mod:`vigia.store.audit`).

    Ids are given by the appender (the last id + 1, under a lock), never by a sequence, so the
    chain has no gaps unless a row was deleted.
    """

    __tablename__ = "audit_log"
    __table_args__ = (sa.CheckConstraint(_in("outcome", AUDIT_OUTCOMES), name="outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    time: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(128))
    org: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[str] = mapped_column(sa.String(32))
    action: Mapped[str] = mapped_column(sa.String(64))
    object: Mapped[str] = mapped_column(sa.String(256))
    client: Mapped[str | None] = mapped_column(sa.String(256))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class ChangeCounter(Base):
    """One row counting the changes committed to the store (everything but the audit log).

    Database triggers (revision 0003) add one in the transaction of every insert, update or
    delete of another table (of ``api_tokens``, of the columns that decide authentication:
    not ``last_used_at``), so that a process that cached something it read can tell, with one
    cheap query, whether it still holds (:mod:`vigia.store.changes`).
    """

    __tablename__ = "change_counter"
    __table_args__ = (sa.CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    changes: Mapped[int] = mapped_column(sa.BigInteger)
