"""Store fixtures: every store test runs on SQLite and on a throwaway PostgreSQL server.

The PostgreSQL server (Debian's ``postgresql``, started by :class:`TemporaryPostgres`) is
started once per session, only when a PostgreSQL test runs. If it cannot start, those tests
fail with the reason: they never skip.
"""

import itertools
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import URL, func, select, text
from sqlalchemy.engine import Engine

from vigia.detect.detection import Detection, SearchedLine, write_detections
from vigia.errors import StoreError
from vigia.store import SessionFactory, make_engine, session_factory, upgrade, write_session
from vigia.store.loop import APPLICATION_NAME
from vigia.store.models import Base, Ingest
from vigia.store.pgserver import TemporaryPostgres

BACKENDS = ["sqlite", "postgresql"]
T0 = datetime(2025, 3, 4, 18, 0, tzinfo=UTC)
_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[TemporaryPostgres]:
    server = TemporaryPostgres(durable=False)
    try:
        server.__enter__()
        problem = ""
    except StoreError as exc:
        problem = str(exc)
    if problem:  # fail, never skip: CI must not pass without the PostgreSQL half
        pytest.fail(
            f"the PostgreSQL store tests need a PostgreSQL server: {problem}", pytrace=False
        )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def migrated_templates(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str, TemporaryPostgres | None], str]:
    """Upgrade one database per back end once; each test gets a copy."""
    made: dict[str, str] = {}

    def template(backend: str, pg: TemporaryPostgres | None) -> str:
        if backend not in made:
            if backend == "sqlite":
                url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'vigia.db'}"
                made[backend] = url
            else:
                assert pg is not None
                url = pg.create_database("vigia_template").render_as_string(hide_password=False)
                made[backend] = "vigia_template"
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
        return made[backend]

    return template


def _fresh_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, template: str | None
) -> URL | str:
    if backend == "sqlite":
        path = tmp_path / "vigia.db"
        if template is not None:
            shutil.copy(template.removeprefix("sqlite:///"), path)
        return f"sqlite:///{path}"
    pg: TemporaryPostgres = request.getfixturevalue("postgres")
    return pg.create_database(f"test_{next(_names)}", template=template)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def empty_engine(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with no tables, on each back end."""
    engine = make_engine(_fresh_url(backend, request, tmp_path, None))
    yield engine
    engine.dispose()


@pytest.fixture()
def engine(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_templates: Callable[[str, TemporaryPostgres | None], str],
) -> Iterator[Engine]:
    """A database at the head revision, on each back end."""
    pg = request.getfixturevalue("postgres") if backend == "postgresql" else None
    template = migrated_templates(backend, pg)
    engine = make_engine(_fresh_url(backend, request, tmp_path, template))
    yield engine
    engine.dispose()


@pytest.fixture()
def store(engine: Engine) -> SessionFactory:
    return session_factory(engine)


def add_ingests(store: SessionFactory, n: int = 5) -> None:
    """Add ``n`` ingest records, the k-th at ``T0 + k`` hours with k lines and 2k detections."""
    with write_session(store) as s:
        for k in range(n):
            s.add(
                Ingest(
                    sha256=f"{k:064d}",
                    file_name=f"f{k}.geojson",
                    ingested_at=T0 + timedelta(hours=k),
                    n_lines=k,
                    n_detections=2 * k,
                )
            )


def loop_backends(store: SessionFactory) -> list[int]:
    """The PostgreSQL backends of the loop's connections (vigia.store.loop), process ids."""
    sql = text("SELECT pid FROM pg_stat_activity WHERE application_name = :n ORDER BY pid")
    with store() as s:
        return [int(p) for p in s.execute(sql, {"n": APPLICATION_NAME}).scalars()]


def wait_for_loop_backends(store: SessionFactory, n: int) -> list[int]:
    """:func:`loop_backends`, once there are ``n`` of them or after 5 s (backends end late)."""
    deadline = time.monotonic() + 5
    while len(pids := loop_backends(store)) != n and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


def row_counts(store: SessionFactory) -> dict[str, int]:
    """Rows in every table: a snapshot to show that a refused write changed nothing."""
    with store() as s:
        return {
            t.name: int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
            if t.name != "change_counter"  # always one row (tests/store/test_changes.py)
        }


def square(lon: float, lat: float, half: float = 2e-4) -> dict[str, object]:
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def make_lines(n: int = 2, start: datetime = T0) -> list[SearchedLine]:
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return [
        SearchedLine(
            line_id=f"L{k:03d}",
            sensor=sensor,
            time_start=(start + timedelta(minutes=10 * k)).strftime(iso),
            time_end=(start + timedelta(minutes=10 * k + 5)).strftime(iso),
            footprint=square(-107.3 + 0.05 * k, 25.0, 0.02),
            area_km2=16.0,
            pixel_size_m=5.0,
            shape=(800, 600),
        )
        for k in range(n)
        for sensor in ("vswir", "lwir")
    ]


def make_detections(
    n: int, lines: list[SearchedLine], seed: int = 0, start: datetime = T0
) -> list[Detection]:
    rng = np.random.default_rng(seed)
    kinds = ["plume", "thermal", "tarp", "clearing"]
    out = []
    for i in range(n):
        line = lines[i % len(lines)]
        lon = -107.3 + float(rng.uniform(-0.02, 0.1))
        lat = 25.0 + float(rng.uniform(-0.02, 0.02))
        kind = kinds[i % 4]
        out.append(
            Detection(
                id=f"{line.line_id}-{line.sensor}-{i:06d}",
                kind=kind,  # type: ignore[arg-type]
                line_id=line.line_id,
                sensor=line.sensor,
                time=start + timedelta(seconds=i),
                lon=lon,
                lat=lat,
                score=float(rng.uniform(0.3, 1.0)),
                species=["CH4"] if kind == "plume" else [],
                enhancement_ppm_m=float(rng.uniform(100, 900)) if kind == "plume" else None,
                emission_kg_h=float(rng.uniform(1, 50)) if kind == "plume" else None,
                delta_t_k=float(rng.uniform(2, 30)) if kind == "thermal" else None,
                area_m2=100.0,
                pixel_row=i % 800,
                pixel_col=i % 600,
                n_pixels=4,
                footprint=square(lon, lat),
                reasons=["test"],
            )
        )
    return out


@pytest.fixture()
def detection_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a detection file of ``n`` detections over ``n_lines`` lines per sensor."""

    def make(
        n: int = 20, name: str = "detections.geojson", seed: int = 0, n_lines: int = 2
    ) -> Path:
        lines = make_lines(n_lines)
        return write_detections(
            tmp_path / name, make_detections(n, lines, seed), lines, source="tests/store"
        )

    return make
