"""``vigia serve`` under real uvicorn, on a free port, spoken to over real HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vigia.store import make_engine, session_factory
from vigia.store.access import issue_token, revoke_tokens
from vigia.store.audit import list_audit
from vigia.store.db import write_session

from .conftest import AO, BO, R_A, S_A, Seed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _vigia_serve(
    data: Path, log: Path, *options: str, log_level: str | None = None
) -> Iterator[str]:
    """Run ``vigia serve`` on ``data`` with its output in ``log``; yield its base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIA_")}
    env["VIGIA_DATA_DIR"] = str(data)
    if log_level:
        env["VIGIA_LOG_LEVEL"] = log_level
    cmd = [sys.executable, "-m", "vigia.cli.main", "serve", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port), *options], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for the server to listen
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"vigia serve did not come up: {log.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def data_dir(seeded: Seed, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(seeded.url.removeprefix("sqlite:///"), data / "vigia.db")
    # The server runs on the real clock: tokens valid now.
    engine = make_engine(f"sqlite:///{data / 'vigia.db'}")
    with write_session(session_factory(engine)) as s:
        tokens = {u: issue_token(s, u, expires=None, now=datetime.now(UTC)) for u in (AO, BO)}
    engine.dispose()
    return data, tokens


@pytest.fixture()
def served(
    data_dir: tuple[Path, dict[str, str]], tmp_path: Path
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    data, tokens = data_dir
    with _vigia_serve(data, tmp_path / "serve.log") as base:
        yield base, data, tokens


def _get(url: str, token: str | None) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def test_vigia_serve_answers_over_http(served: tuple[str, Path, dict[str, str]]) -> None:
    base, data, tokens = served
    status, headers, doc = _get(f"{base}/collections/sites/items?limit=10", tokens[AO])
    assert status == 200
    assert headers["content-type"] == "application/geo+json"
    assert S_A in {f["id"] for f in doc["features"]}
    assert all(link["href"].startswith(base) for link in doc["links"])
    status, headers, doc = _get(f"{base}/releases/{R_A}", tokens[BO])
    assert status == 404 and doc["status"] == 404
    status, headers, doc = _get(f"{base}/releases", None)
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert "server" not in {k.lower() for k in headers}
    status, _, doc = _get(f"{base}/openapi.json", None)
    assert status == 200 and "bearer" in doc["components"]["securitySchemes"]
    engine = make_engine(f"sqlite:///{data / 'vigia.db'}")
    try:
        with session_factory(engine)() as s:
            entries = list_audit(s, limit=2)
    finally:
        engine.dispose()
    assert [e["detail"]["status"] for e in entries] == [401, 404]
    assert all(e["client"] == "127.0.0.1" for e in entries)


def test_vigia_serve_runs_on_uvloop_and_httptools_without_an_access_log(
    data_dir: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    data, tokens = data_dir
    log = tmp_path / "serve.log"
    with _vigia_serve(data, log) as base:
        assert _get(f"{base}/collections/sites/items?limit=10", tokens[AO])[0] == 200
    out = log.read_text()
    assert "(uvloop, httptools; access log off)" in out.splitlines()[0]
    assert "GET /collections/sites/items" not in out


def test_vigia_serve_access_log_writes_a_line_per_request_when_asked(
    data_dir: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    data, tokens = data_dir
    log = tmp_path / "serve.log"
    with _vigia_serve(data, log, "--access-log", "--no-access-log", "--access-log") as base:
        assert _get(f"{base}/collections/sites/items?limit=10", tokens[AO])[0] == 200
        assert _get(f"{base}/releases/{R_A}", tokens[BO])[0] == 404
    out = log.read_text()
    assert "access log on" in out.splitlines()[0]
    assert '"GET /collections/sites/items?limit=10 HTTP/1.1" 200' in out
    assert f'"GET /releases/{R_A} HTTP/1.1" 404' in out


def _started_workers(log_text: str) -> set[str]:
    """The process ids of the uvicorn servers a ``vigia serve`` log says have started."""
    return set(re.findall(r"Started server process \[(\d+)\]", log_text))


def test_vigia_serve_with_workers_serves_from_each_and_a_revocation_reaches_all(
    data_dir: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    data, tokens = data_dir
    log = tmp_path / "serve.log"
    url = "/collections/sites/items?limit=10"
    with _vigia_serve(data, log, "--workers", "2", log_level="info") as base:
        # The first worker to listen lets _vigia_serve go on; on a loaded machine the
        # second may still be starting: wait for both (uvicorn logs each one's start).
        deadline = time.monotonic() + 60
        while len(_started_workers(log.read_text())) < 2:
            if time.monotonic() > deadline:
                pytest.fail(f"the second worker did not start: {log.read_text()}")
            time.sleep(0.1)
        # Every worker answers and caches the page for this token.
        for _ in range(40):
            assert _get(f"{base}{url}", tokens[AO])[0] == 200
        engine = make_engine(f"sqlite:///{data / 'vigia.db'}")
        try:
            with write_session(session_factory(engine)) as s:
                assert revoke_tokens(s, token=tokens[AO], now=datetime.now(UTC)) == 1
        finally:
            engine.dispose()
        # Revoked through the store by another process: refused by whichever worker answers.
        assert {_get(f"{base}{url}", tokens[AO])[0] for _ in range(40)} == {401}
    out = log.read_text()
    assert "; 2 workers)" in out.splitlines()[0]
    # uvicorn's supervisor and its two workers, each on its own process.
    assert len(_started_workers(out)) == 2


def test_vigia_serve_with_the_read_cache_off_says_so_and_serves(
    data_dir: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    data, tokens = data_dir
    log = tmp_path / "serve.log"
    with _vigia_serve(data, log, "--read-cache-mb", "0") as base:
        assert _get(f"{base}/collections/sites/items?limit=10", tokens[AO])[0] == 200
    assert "; read cache off)" in log.read_text().splitlines()[0]
