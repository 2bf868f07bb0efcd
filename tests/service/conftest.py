"""Service fixtures: a seeded store (agency, two partners, sites, releases, sorties, tokens).

The store is seeded once per session through the store's own functions, into a template
SQLite file; every test gets a copy, so a test that changes something changes only its copy.
The PostgreSQL variant (``pg_client``) seeds a template database on the throwaway server of
``tests/store/conftest.py`` and gives each test a database cloned from it.

Who is who::

    Agencia (agency)   ana.analyst · rick.officer (release_officer) · ada.admin
    Partner-A          pa.viewer (partner_viewer) · pa.officer (partner_officer)
    Partner-B          pb.viewer (partner_viewer) · pb.officer (partner_officer)

What exists (ids fixed by the order of seeding)::

    S_A  SITE-000001  released to A only   (R_A  REL-0001)
    S_B  SITE-000002  released to B only   (R_B  REL-0002)
    S_AB SITE-000003  released to A and B  (R_AB REL-0003)
    S_C  SITE-000004  confirmed, unreleased
    S_N  SITE-000005  candidate, unreleased
    S_W  SITE-000006  released to A, withdrawn (R_W REL-0004)
    SRT_A SRT-0001 submitted to A · SRT_B SRT-0002 submitted to B
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import URL, create_engine, text
from sqlalchemy.engine import Engine

from vigia.detect.detection import write_detections
from vigia.errors import StoreError
from vigia.service import create_app
from vigia.store import SessionFactory, make_engine, session_factory, upgrade
from vigia.store.access import (
    add_org,
    add_user,
    issue_token,
    principal_of,
    revoke_tokens,
    set_user_active,
)
from vigia.store.audit import list_audit
from vigia.store.db import write_session
from vigia.store.ingest import ingest_detections
from vigia.store.pgserver import TemporaryPostgres
from vigia.store.records import SiteRecord
from vigia.store.releases import release_sites, withdraw_release
from vigia.store.review import decide
from vigia.store.sites import upsert_sites
from vigia.store.sorties import submit_sortie

from ..store.conftest import make_detections, make_lines

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SEEDED = NOW - timedelta(days=10)
SEEN = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
CLIENT = ("198.51.100.7", 40404)

AGENCY, PA, PB = "Agencia", "Partner-A", "Partner-B"
ANA, REL, ADM = "ana.analyst", "rick.officer", "ada.admin"
AV, AO, BV, BO = "pa.viewer", "pa.officer", "pb.viewer", "pb.officer"
USERS = {
    ANA: (AGENCY, "analyst"),
    REL: (AGENCY, "release_officer"),
    ADM: (AGENCY, "admin"),
    AV: (PA, "partner_viewer"),
    AO: (PA, "partner_officer"),
    BV: (PB, "partner_viewer"),
    BO: (PB, "partner_officer"),
}
S_A, S_B, S_AB, S_C, S_N, S_W = (f"SITE-{n:06d}" for n in range(1, 7))
S_NONE = "SITE-999999"
R_A, R_B, R_AB, R_W = (f"REL-{n:04d}" for n in range(1, 5))
R_NONE = "REL-9999"
SRT_A, SRT_B = "SRT-0001", "SRT-0002"
SRT_NONE = "SRT-9999"
AREA = {
    "type": "Polygon",
    "coordinates": [
        [[-107.5, 24.9], [-107.2, 24.9], [-107.2, 25.2], [-107.5, 25.2], [-107.5, 24.9]]
    ],
}

# What each organisation may never see in a response body (other than ids it sent itself).
HIDDEN: dict[str, set[str]] = {
    PA: {S_B, S_C, S_N, R_B, SRT_B, PB, BV, BO},
    PB: {S_A, S_C, S_N, S_W, R_A, R_W, SRT_A, PA, AV, AO},
}


@dataclass
class Seed:
    """The seeded template: where it is and the tokens of its users."""

    url: str
    tokens: dict[str, str]
    plan: Path
    extra: dict[str, str] = field(default_factory=dict)


def _site(k: int) -> SiteRecord:
    lon, lat = -107.40 + 0.02 * k, 25.00 + 0.01 * k
    return SiteRecord(
        lon=lon,
        lat=lat,
        bbox=(lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001),
        site_class="rural_lab",
        confidence=0.95,
        first_seen=SEEN + timedelta(hours=k),
        last_seen=SEEN + timedelta(days=3, hours=k),
        reasons=(f"methane plume and thermal anomaly (site {k})",),
        evidence={"passes": {"plume": {"seen": 2, "looked": 3}}, "species": ["CH4"]},
    )


def seed(factory: SessionFactory, plan: Path) -> Seed:
    """Seed a migrated, empty store; return the users' tokens."""
    t = SEEDED
    lines = make_lines(1, start=SEEN)
    detections = plan.parent / "detections.geojson"
    write_detections(detections, make_detections(8, lines, start=SEEN), lines, source="tests")
    ingest_detections(factory, detections, now=t)
    with write_session(factory) as s:
        add_org(s, AGENCY, "agency", country="MEX", now=t)
        add_org(s, PA, "partner", country="MEX", now=t)
        add_org(s, PB, "partner", country="GTM", now=t)
        for name, (org, role) in USERS.items():
            add_user(s, name, org, role, now=t)
        add_user(s, "gone", PA, "partner_viewer", now=t)
    ids = upsert_sites(factory, [_site(k) for k in range(1, 7)], now=t)
    assert ids == [S_A, S_B, S_AB, S_C, S_N, S_W]
    for sid in (S_A, S_B, S_AB, S_C, S_W):
        decide(factory, sid, "confirm", analyst=ANA, reason="lab seen twice", now=t)
    with write_session(factory) as s:
        rel = principal_of(s, REL)
        assert release_sites(s, rel, [S_A], [PA], tlp="TLP:AMBER", caveats=[], now=t) == R_A
        assert release_sites(s, rel, [S_B], [PB], tlp="TLP:AMBER", caveats=[], now=t) == R_B
        assert (
            release_sites(
                s, rel, [S_AB], [PA, PB], tlp="TLP:GREEN", caveats=["no foreign release"], now=t
            )
            == R_AB
        )
        assert release_sites(s, rel, [S_W], [PA], tlp="TLP:RED", caveats=[], now=t) == R_W
        withdraw_release(s, rel, R_W, reason="wrong coordinates", now=t)
        adm = principal_of(s, ADM)
        for org, want in ((PA, SRT_A), (PB, SRT_B)):
            got = submit_sortie(
                s, adm, name=f"sortie over {org}", partner_org=org, plan_path=plan, area=AREA, now=t
            )
            assert got == want
    tokens: dict[str, str] = {}
    extra: dict[str, str] = {}
    with write_session(factory) as s:
        for name in USERS:
            tokens[name] = issue_token(
                s, name, expires=timedelta(days=30), now=NOW - timedelta(days=1)
            )
        extra["expired"] = issue_token(
            s, AO, expires=timedelta(hours=1), now=NOW - timedelta(hours=2)
        )
        extra["revoked"] = issue_token(s, AO, expires=None, now=NOW - timedelta(days=1))
        revoke_tokens(s, token=extra["revoked"], now=NOW - timedelta(hours=1))
        extra["disabled"] = issue_token(s, "gone", expires=None, now=NOW - timedelta(days=1))
        set_user_active(s, "gone", False)
    return Seed(url="", tokens=tokens, plan=plan, extra=extra)


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    """The seeded SQLite template (copied for each test)."""
    root = tmp_path_factory.mktemp("service-seed")
    plan = root / "plan.geojson"
    plan.write_text('{"type": "FeatureCollection", "features": []}\n')
    url = f"sqlite:///{root / 'vigia.db'}"
    engine = make_engine(url)
    upgrade(engine)
    out = seed(session_factory(engine), plan)
    engine.dispose()
    out.url = url
    return out


def fixed_clock() -> datetime:
    return NOW


@dataclass
class Api:
    """A test client on a fresh copy of the seeded store, with the store to inspect."""

    client: TestClient
    factory: SessionFactory
    seed: Seed

    def headers(self, user: str) -> dict[str, str]:
        token = self.seed.tokens.get(user) or self.seed.extra[user]
        return {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, user: str | None, json: Any = None, **kw: Any) -> Any:
        headers = self.headers(user) if user else {}
        headers.update(kw.pop("headers", {}))
        return self.client.request(method, path, headers=headers, json=json, **kw)

    def audit(self, n: int = 1) -> list[dict[str, Any]]:
        """The last ``n`` audit entries, newest first."""
        with self.factory() as s:
            return list_audit(s, limit=n)

    def audit_count(self) -> int:
        with self.factory() as s:
            return len(list_audit(s, limit=1_000_000))


def _api(url: str | URL, seeded: Seed, max_body_bytes: int = 1_000_000) -> Iterator[Api]:
    engine: Engine = make_engine(url)
    factory = session_factory(engine)
    app = create_app(
        factory, clock=fixed_clock, max_body_bytes=max_body_bytes, plans_dir=seeded.plan.parent
    )
    with TestClient(app, client=CLIENT) as client:
        yield Api(client, factory, seeded)
    engine.dispose()


@pytest.fixture()
def api(seeded: Seed, tmp_path: Path) -> Iterator[Api]:
    """The service on a fresh copy of the seeded SQLite store."""
    path = tmp_path / "vigia.db"
    shutil.copy(seeded.url.removeprefix("sqlite:///"), path)
    yield from _api(f"sqlite:///{path}", seeded)


@pytest.fixture(scope="module")
def shared_api(seeded: Seed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One copy of the seeded SQLite store for a module's reads and refusals.

    Only for requests that change nothing but the audit log (reads, and refusals, which roll
    back), so that no test depends on another's order.
    """
    path = tmp_path_factory.mktemp("shared") / "vigia.db"
    shutil.copy(seeded.url.removeprefix("sqlite:///"), path)
    yield from _api(f"sqlite:///{path}", seeded)


@pytest.fixture()
def small_api(seeded: Seed, tmp_path: Path) -> Iterator[Api]:
    """The service with a 2 kB body limit."""
    path = tmp_path / "vigia.db"
    shutil.copy(seeded.url.removeprefix("sqlite:///"), path)
    yield from _api(f"sqlite:///{path}", seeded, max_body_bytes=2048)


_pg_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[TemporaryPostgres]:
    """A throwaway PostgreSQL server (as in tests/store/conftest.py): fail, never skip."""
    server = TemporaryPostgres(durable=False)
    try:
        server.__enter__()
        problem = ""
    except StoreError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(
            f"the PostgreSQL service tests need a PostgreSQL server: {problem}", pytrace=False
        )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Seed:
    """The seeded template database on the throwaway PostgreSQL server."""
    pg: TemporaryPostgres = request.getfixturevalue("postgres")
    root = tmp_path_factory.mktemp("service-pg-seed")
    plan = root / "plan.geojson"
    plan.write_text('{"type": "FeatureCollection", "features": []}\n')
    url = pg.create_database("service_template")
    engine = make_engine(url)
    upgrade(engine)
    out = seed(session_factory(engine), plan)
    engine.dispose()
    out.url = "service_template"
    return out


def _drop(pg: TemporaryPostgres, url: URL) -> None:
    """Drop a test's database (hundreds of them would fill the disk)."""
    assert pg.url is not None
    engine = create_engine(pg.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {url.database}"))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def pg_shared_api(request: pytest.FixtureRequest, pg_seeded: Seed) -> Iterator[Api]:
    """One clone of the seeded PostgreSQL database for a module's reads and refusals."""
    pg: TemporaryPostgres = request.getfixturevalue("postgres")
    url = pg.create_database(f"service_{next(_pg_names)}", template=pg_seeded.url)
    yield from _api(url, pg_seeded)
    _drop(pg, url)


@pytest.fixture()
def pg_api(request: pytest.FixtureRequest, pg_seeded: Seed) -> Iterator[Api]:
    """The service on a fresh clone of the seeded PostgreSQL database."""
    pg: TemporaryPostgres = request.getfixturevalue("postgres")
    url = pg.create_database(f"service_{next(_pg_names)}", template=pg_seeded.url)
    yield from _api(url, pg_seeded)
    _drop(pg, url)
