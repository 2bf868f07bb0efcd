"""The store: detections, sites and their review in SQLite or PostgreSQL.

Open it with :func:`open_store` (settings from ``VIGIA_DATABASE_URL`` / ``VIGIA_DATA_DIR``),
take detection files in with :func:`ingest_detections`, and let fusion and review read and
write sites through the functions of :mod:`vigia.store.sites`. Sharing with partners lives in
:mod:`vigia.store.access` (organisations, users, tokens), :mod:`vigia.store.releases`,
:mod:`vigia.store.sorties`, the agency's :mod:`vigia.store.survey` (flight lines and raw
detections) and the hash-chained :mod:`vigia.store.audit`. Schema revisions
are Alembic migrations shipped in the package (:mod:`vigia.store.schema`, ``vigia db upgrade``).
"""

from vigia.store.access import Principal, authenticate, principal_of
from vigia.store.audit import AuditVerdict, append_audit, verify_audit
from vigia.store.db import (
    SessionFactory,
    database_url,
    make_engine,
    open_store,
    read_session,
    session_factory,
    write_session,
)
from vigia.store.ingest import IngestResult, file_sha256, ingest_detections
from vigia.store.records import (
    ObservationRecord,
    SiteDetail,
    SiteRecord,
    StoredDecision,
    StoredDetection,
    StoredObservation,
    StoredRevisit,
    StoredSite,
)
from vigia.store.schema import current_revision, downgrade, head_revision, upgrade
from vigia.store.sites import (
    add_revisit_request,
    apply_transition,
    get_detections,
    get_site,
    list_open_revisits,
    list_sites,
    set_revisit_status,
    sites_query,
    unassociated_detections,
    upsert_sites,
)

__all__ = [
    "AuditVerdict",
    "IngestResult",
    "ObservationRecord",
    "Principal",
    "SessionFactory",
    "SiteDetail",
    "SiteRecord",
    "StoredDecision",
    "StoredDetection",
    "StoredObservation",
    "StoredRevisit",
    "StoredSite",
    "add_revisit_request",
    "append_audit",
    "apply_transition",
    "authenticate",
    "current_revision",
    "database_url",
    "downgrade",
    "file_sha256",
    "get_detections",
    "get_site",
    "head_revision",
    "ingest_detections",
    "list_open_revisits",
    "list_sites",
    "make_engine",
    "open_store",
    "principal_of",
    "read_session",
    "session_factory",
    "set_revisit_status",
    "sites_query",
    "unassociated_detections",
    "upgrade",
    "upsert_sites",
    "verify_audit",
    "write_session",
]
