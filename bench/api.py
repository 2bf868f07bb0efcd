"""Benchmark: the sharing service over HTTP, against pygeoapi and a minimal FastAPI app.

    python bench/api.py [--sites 10000] [--requests 500] [--repeat 3]
                        [--backends sqlite,postgresql] [--connections 50] [--duration 4]
                        [--writes 150] [--references memory,db,nocache,nocache2w,pygeoapi]
                        [--pygeoapi-duration 15] [--json PATH]

Needs Debian's ``wrk`` (``apt-get install wrk``) and the ``bench`` extra (pygeoapi).

Made here, the same for both back ends: ``--sites`` sites (seeded, boxes of 100–600 m over
western Mexico) written by :func:`vigia.store.upsert_sites`, confirmed by an analyst (bulk
``UPDATE`` plus the ``start_review``/``confirm`` review decisions: the seeding fast path), then
released by a release officer through :func:`vigia.store.releases.release_sites` in releases of
10 sites to ``partner-a`` (every fifth release also to ``partner-b``), each with its audit
entry, so a partner's reads go through the real ``releases``/``release_recipients`` visibility
join. SQLite is a WAL-mode file in a temporary directory; PostgreSQL a throwaway server
(:class:`vigia.store.pgserver.TemporaryPostgres`, durable: fsync and synchronous commit on).
Then ``ANALYZE`` (SQLite) or ``VACUUM ANALYZE`` (PostgreSQL: what autovacuum does within a
minute or so of the bulk load, done before the first run instead of during one).

Each server runs in its own process under uvicorn, one worker, with the settings ``vigia serve``
uses (:func:`vigia.service.server.server_config`: uvloop and httptools, access log off) for
all alike, on a free port of 127.0.0.1; the event loop and HTTP parser each server ran on are
reported (``servers_ran_on``). The load is Debian's ``wrk`` (one thread, ``--connections``
keep-alive connections), bounded by ``--requests`` per measurement and by ``--duration`` seconds,
whichever comes first; a warm-up of one connection's worth precedes each. Measured, for
Vigía with a ``partner_viewer`` token and with an agency ``analyst`` token (auth, visibility
and audit all on):

* ``items``: ``GET /collections/sites/items?limit=100`` (the first page);
* ``item``:  ``GET /collections/sites/items/{id}``, ids drawn at random;
* ``bbox``:  ``GET /collections/sites/items?bbox=…&limit=100``, 200 seeded boxes of 0.5–2°;
* ``ack`` (write): ``POST /releases/{id}/acknowledge`` by a ``partner_officer``, each a first
  acknowledgement of a different release (10 sites move to ``acknowledged``, one audit entry),
  ``--writes`` per run.

Vigía answers a repeated read from memory after one check of the store's change counter
(:mod:`vigia.service.cache`): the first run of ``item`` and ``bbox`` (500 requests over 500 ids
and 200 boxes) fills that cache, later runs find it filled. So each row also shows its first
run's rate and the best and worst p99 of its runs (on a shared machine one stall of the
server's process lifts a run's p99), and ``vigia-nocache`` (below) measures the full path.

References, started by this script and measured in the same run on the same requests:

* ``vigia-nocache``: Vigía itself with its read cache off (``cache_bytes=0``), partner token:
  every request authenticated against the store and read from it (the token looked up, or,
  accepted before, checked by the change counter read in the page's own statement:
  :class:`vigia.service.auth.Reader`);

* ``vigia-nocache-2w`` (``--references …,nocache2w``): the same full path served by the real
  command line with two worker processes, ``vigia serve --workers 2 --read-cache-mb 0`` (not in
  the default references: the issue compares one worker with one);

* ``fastapi-memory``: a minimal FastAPI app serving the partner's features (fetched from
  Vigía) from memory with orjson, no auth, no database (the issue's reference);
* ``fastapi-db``: a minimal FastAPI app on the same database as Vigía, the same site query
  (:func:`vigia.store.sites.sites_query`) and count, no auth, no audit, no visibility and no
  release markings in the features (so its pages are smaller): the ratio to it is what auth,
  visibility and the release markings cost;
* ``pygeoapi``: pygeoapi (its Starlette app) serving the same features from a GeoJSON file.
  It takes seconds a request (its GeoJSON provider reads the whole file for each), so it gets
  one run per endpoint of ``--pygeoapi-duration`` seconds with no warm-up, after one request
  of each kind alone on one connection.

Every figure is the best of ``--repeat`` runs (highest requests/s; its p50/p99 are shown);
``requests`` and errors (connect, read, write, timeout after 10 s, non-2xx) are summed over all
runs. When a run reaches its count, up to ``--connections`` requests are still in flight: the
server finishes them (a write is done and audited) before the next run starts, uncounted.
BLAS is pinned to one thread (threadpoolctl, and the environment of each server). Whether
reads are audited is measured, not assumed: the audit entries written during the read runs
are counted by action and outcome, and the hash chain is verified after the write runs.
Client and servers share this machine's cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from synthetic import REGION, make_sites

SITES_PER_RELEASE = 10
READS = ("items", "item", "bbox")
PRINCIPALS = ("partner_viewer", "analyst")
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
}
STACKS: dict[str, str] = {}  # server kind: the event loop and HTTP parser it ran on

# ---------------------------------------------------------------- seeding


def make_boxes(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed + 3)
    out = []
    for _ in range(n):
        side = float(rng.uniform(0.5, 2.0))
        x0 = float(rng.uniform(REGION[0], REGION[2] - side))
        y0 = float(rng.uniform(REGION[1], REGION[3] - side))
        out.append(f"{x0:.4f},{y0:.4f},{x0 + side:.4f},{y0 + side:.4f}")
    return out


def seed_store(url: str, n_sites: int, seed: int) -> dict[str, Any]:
    """Fill a new database; return the tokens, site ids and partner-a release ids."""
    from sqlalchemy import insert, text, update

    from vigia.store import make_engine, session_factory, upgrade, upsert_sites, write_session
    from vigia.store.access import add_org, add_user, issue_token, principal_of
    from vigia.store.audit import append_audit
    from vigia.store.models import ReviewDecision, Site
    from vigia.store.releases import release_sites

    now = datetime.now(UTC) - timedelta(hours=1)
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    t = time.perf_counter()
    with write_session(factory) as s:
        add_org(s, "agency", "agency", now=now)
        add_org(s, "partner-a", "partner", now=now)
        add_org(s, "partner-b", "partner", now=now)
        users = {
            "analyst": ("analyst-1", "agency"),
            "release_officer": ("officer-1", "agency"),
            "partner_viewer": ("viewer-a", "partner-a"),
            "partner_officer": ("officer-a", "partner-a"),
        }
        for role, (name, org) in users.items():
            add_user(s, name, org, role, now=now)
        tokens = {
            role: issue_token(s, name, expires=timedelta(days=1), now=now)
            for role, (name, _) in users.items()
            if role != "release_officer"
        }
    ids: list[str] = []
    sites = make_sites(n_sites, seed)
    for k in range(0, len(sites), 1000):
        ids += upsert_sites(factory, sites[k : k + 1000], now=now)
    t_sites = time.perf_counter() - t
    t = time.perf_counter()
    with write_session(factory) as s:  # fast path: confirm in bulk, decisions recorded
        s.execute(update(Site).values(state="confirmed"))
        rows = [
            {
                "site_id": sid,
                "actor": "analyst-1",
                "role": "analyst",
                "action": action,
                "from_state": src,
                "to_state": dst,
                "reason": "bench",
                "detail": {},
                "time": now,
            }
            for sid in ids
            for action, src, dst in (
                ("start_review", "candidate", "in_review"),
                ("confirm", "in_review", "confirmed"),
            )
        ]
        s.execute(insert(ReviewDecision), rows)
    releases_a: list[str] = []
    with write_session(factory) as s:
        officer = principal_of(s, "officer-1")
        for k, start in enumerate(range(0, len(ids), SITES_PER_RELEASE)):
            chunk = ids[start : start + SITES_PER_RELEASE]
            to = ["partner-a", "partner-b"] if k % 5 == 4 else ["partner-a"]
            rid = release_sites(s, officer, chunk, to, tlp="TLP:AMBER", caveats=[], now=now)
            append_audit(
                s,
                actor=officer.user,
                org=officer.org,
                role=officer.role,
                action="POST /releases",
                obj=rid,
                outcome="ok",
                client="127.0.0.1",
                detail={"sites": chunk, "to": to, "tlp": "TLP:AMBER"},
                now=now,
            )
            releases_a.append(rid)
    t_release = time.perf_counter() - t
    if engine.dialect.name == "postgresql":
        # What autovacuum does within a minute or so of a bulk load (it ran 30-60 s after the
        # seeding on a server left alone), before the first run rather than during one: the
        # visibility map set (the box index's scans read no heap; 0.62-0.65 -> 0.50-0.55 ms
        # a bench box, one thread) and the row versions the seeding rewrote gone. The runs
        # measure the store as it stands, not in the minute after 10,000 sites were loaded.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    version = engine.dialect.server_version_info
    engine.dispose()
    return {
        "tokens": tokens,
        "site_ids": ids,
        "releases": releases_a,
        "seed_sites_s": round(t_sites, 1),
        "seed_confirm_release_s": round(t_release, 1),
        "server_version": ".".join(map(str, version or ())),
    }


def audit_head(url: str) -> int:
    """Return the id of the last audit entry (ids have no gaps: see AuditEntry)."""
    from sqlalchemy import func, select

    from vigia.store import make_engine
    from vigia.store.models import AuditEntry

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.max(AuditEntry.id))) or 0)
    finally:
        engine.dispose()


def audit_since(url: str, after: int) -> dict[str, int]:
    """Count the audit entries after entry ``after`` by action and outcome."""
    from sqlalchemy import func, select

    from vigia.store import make_engine
    from vigia.store.models import AuditEntry

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            q = (
                select(AuditEntry.action, AuditEntry.outcome, func.count())
                .where(AuditEntry.id > after)
                .group_by(AuditEntry.action, AuditEntry.outcome)
            )
            return {f"{a} {o}": int(c) for a, o, c in conn.execute(q)}
    finally:
        engine.dispose()


def audit_verify(url: str) -> str:
    from vigia.store import make_engine, read_session, session_factory, verify_audit

    engine = make_engine(url)
    try:
        with read_session(session_factory(engine)) as s:
            verdict = verify_audit(s)
        return "intact" if verdict.ok else f"BROKEN: {verdict}"
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the servers


def run_app(app: Any, port: int) -> None:
    """Serve any of the apps as ``vigia serve`` serves Vigía (access log off), on 127.0.0.1."""
    from vigia.service.server import run_server, server_config, server_stack

    config = server_config(app, port=port, log_level="warning", access_log=False)
    print("STACK " + "+".join(server_stack(config)), flush=True)
    run_server(config)


def serve_vigia(url: str, port: int, cache: bool = True) -> None:
    from vigia.service import create_app
    from vigia.store import make_engine, session_factory

    app = create_app(session_factory(make_engine(url)), **({} if cache else {"cache_bytes": 0}))
    run_app(app, port)


def _page_doc(
    features: list[Any], matched: int, base: str, limit: int, offset: int
) -> dict[str, Any]:
    links = [{"href": f"{base}?offset={offset}&limit={limit}", "rel": "self"}]
    if offset + len(features) < matched:
        links.append({"href": f"{base}?offset={offset + limit}&limit={limit}", "rel": "next"})
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": matched,
        "numberReturned": len(features),
        "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "links": links,
    }


def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in text.split(","))
    return x0, y0, x1, y1


def serve_memory(geojson: Path, port: int) -> None:
    """The issue's reference: features in memory, orjson, no auth, no database."""
    import orjson
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import Response

    features = json.loads(geojson.read_text())["features"]
    by_id = {f["id"]: f for f in features}
    lon = np.array([f["geometry"]["coordinates"][0] for f in features])
    lat = np.array([f["geometry"]["coordinates"][1] for f in features])
    base = "/collections/sites/items"
    app = FastAPI()

    def geojson_response(doc: dict[str, Any]) -> Response:
        return Response(orjson.dumps(doc), media_type="application/geo+json")

    @app.get("/collections/sites/items")
    def items(bbox: str | None = None, limit: int = 100, offset: int = 0) -> Response:
        box = _bbox(bbox)
        if box is None:
            picked, matched = features[offset : offset + limit], len(features)
        else:
            hit = np.flatnonzero(
                (lon >= box[0]) & (lon <= box[2]) & (lat >= box[1]) & (lat <= box[3])
            )
            picked, matched = [features[i] for i in hit[offset : offset + limit]], len(hit)
        return geojson_response(_page_doc(picked, matched, base, limit, offset))

    @app.get("/collections/sites/items/{fid}")
    def item(fid: str) -> Response:
        if fid not in by_id:
            raise HTTPException(404)
        return geojson_response(by_id[fid])

    run_app(app, port)


def serve_db(url: str, port: int) -> None:
    """The same database and site query as Vigía, with no auth, audit or visibility."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import JSONResponse
    from sqlalchemy import func, select

    from vigia.store import make_engine, read_session, session_factory, sites_query
    from vigia.store.models import Site

    factory = session_factory(make_engine(url))
    base = "/collections/sites/items"
    app = FastAPI()

    def feature(s: Site) -> dict[str, Any]:
        return {
            "type": "Feature",
            "id": s.id,
            "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
            "properties": {
                "state": s.state,
                "class": s.site_class,
                "confidence": round(s.confidence, 4),
                "first_seen": s.first_seen.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "last_seen": s.last_seen.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reasons": list(s.reasons),
            },
        }

    class GeoJSON(JSONResponse):
        media_type = "application/geo+json"

    @app.get("/collections/sites/items")
    def items(bbox: str | None = None, limit: int = 100, offset: int = 0) -> GeoJSON:
        q = sites_query(bbox=_bbox(bbox))
        with read_session(factory) as s:
            matched = int(s.scalar(select(func.count()).select_from(q.order_by(None).subquery())))
            page = [feature(x) for x in s.scalars(q.limit(limit).offset(offset))]
        return GeoJSON(_page_doc(page, matched, base, limit, offset))

    @app.get("/collections/sites/items/{fid}")
    def item(fid: str) -> GeoJSON:
        with read_session(factory) as s:
            site = s.get(Site, fid)
            if site is None:
                raise HTTPException(404)
            return GeoJSON(feature(site))

    run_app(app, port)


def pygeoapi_config(geojson: Path, port: int, work: Path) -> dict[str, str]:
    """Write pygeoapi's configuration and OpenAPI document; return its environment."""
    import yaml

    contact = dict.fromkeys(
        ("name", "position", "address", "city", "stateorprovince", "postalcode", "country"),
        "bench",
    )
    config = {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": f"http://127.0.0.1:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "language": "en-US",
            "limits": {"default_items": 100, "max_items": 1000},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "-"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "bench",
                "description": "bench",
                "keywords": ["bench"],
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": "https://example.org",
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "bench", "url": "https://example.org"},
            "contact": contact
            | {
                "email": "bench@example.org",
                "url": "https://example.org",
                "role": "pointOfContact",
            },
        },
        "resources": {
            "sites": {
                "type": "collection",
                "title": "Sites",
                "description": "Sites released to partner-a",
                "keywords": ["sites"],
                "links": [],
                "extents": {
                    "spatial": {
                        "bbox": [-180, -90, 180, 90],
                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                    }
                },
                "providers": [
                    {"type": "feature", "name": "GeoJSON", "data": str(geojson), "id_field": "id"}
                ],
            }
        },
    }
    cfg, openapi = work / "pygeoapi.yml", work / "pygeoapi-openapi.yml"
    cfg.write_text(yaml.safe_dump(config))
    env = os.environ | {"PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi)}
    exe = shutil.which("pygeoapi") or "pygeoapi"
    subprocess.run(
        [exe, "openapi", "generate", str(cfg), "--output-file", str(openapi)],
        env=env,
        check=True,
        capture_output=True,
    )
    return {"PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi)}


def serve_pygeoapi(port: int) -> None:
    from pygeoapi.starlette_app import APP

    run_app(APP, port)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(kind: str, work: Path, **opts: str) -> Iterator[str]:
    """Run one server in its own process; yield its base URL once it answers."""
    import httpx

    port = free_port()
    env = os.environ | THREAD_ENV
    if kind == "pygeoapi":
        env |= pygeoapi_config(Path(opts["geojson"]), port, work)
    if kind.startswith("vigia-serve"):  # the real command line: vigia serve [options]
        env |= {"VIGIA_DATABASE_URL": opts["url"], "VIGIA_DATA_DIR": str(work)}
        cmd = [sys.executable, "-m", "vigia.cli.main", "serve", "--port", str(port)]
        cmd += opts["options"].split()
    else:
        cmd = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
        for key, value in opts.items():
            cmd += [f"--{key}", value]
    log = (work / f"server-{kind}-{port}.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} server exited: {(work / log.name).read_text()[-2000:]}")
            try:
                httpx.get(f"{base}/health", timeout=2)  # any answer will do
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} server did not start in 60 s") from None
                time.sleep(0.2)
        for line in (work / log.name).read_text().splitlines():
            if line.startswith("STACK "):
                STACKS[kind] = line.removeprefix("STACK ")
            elif line.startswith("vigia: serving "):  # (uvloop, httptools; ...)
                loop, _, rest = line.partition("(")[2].partition(", ")
                STACKS[kind] = f"{loop}+{rest.partition(';')[0]}"
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# ---------------------------------------------------------------- the load

LUA = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } wrk_timeval;
int gettimeofday(wrk_timeval *tv, void *tz);
]]
local tv = ffi.new("wrk_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end
local paths = {%(paths)s}
local method = "%(method)s"
local limit = %(limit)d
local i, n, t0 = 0, 0, nil
%(auth)s
request = function()
  if t0 == nil then t0 = now_us() end
  i = i + 1
  return wrk.format(method, paths[((i - 1) %% #paths) + 1])
end
response = function(status, headers, body)
  n = n + 1
  if n == limit then
    io.write(string.format("WRKSTOP %%d %%d\\n", n, now_us() - t0))
    io.stdout:flush()
    wrk.thread:stop()
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"bytes\\": %%d, " ..
    "\\"p50_us\\": %%d, \\"p99_us\\": %%d, \\"errors\\": %%d}\\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def wrk(
    base: str,
    paths: list[str],
    *,
    work: Path,
    requests: int,
    connections: int,
    duration: float,
    token: str | None = None,
    method: str = "GET",
    drain: bool = True,
) -> dict[str, Any]:
    """Run wrk once; return requests/s, p50 and p99 (ms) and the error count."""
    import httpx

    script = work / "load.lua"
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    if method == "POST":
        auth += '\nwrk.headers["Content-Length"] = "0"'
    script.write_text(
        LUA
        % {
            "paths": ", ".join(json.dumps(p) for p in paths),
            "method": method,
            "limit": requests,
            "auth": auth,
        }
    )
    conns = max(1, min(connections, requests))
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{duration:g}s", "--timeout", "10s"]
    # wrk sleeps the whole -d even when the script stops its thread at the request count;
    # SIGINT ends that sleep, and wrk still reports. The rate is taken over the script's own
    # clock, from its first request to its last counted response.
    proc = subprocess.Popen(
        [*cmd, "-s", str(script), base], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert proc.stdout is not None
    elapsed_us: int | None = None
    out: dict[str, Any] = {}
    for line in proc.stdout:
        if line.startswith("WRKSTOP "):
            elapsed_us = int(line.split()[2])
            proc.send_signal(signal.SIGINT)
        elif line.startswith("WRKJSON "):
            out = json.loads(line.removeprefix("WRKJSON "))
    if proc.wait() != 0 or not out:
        raise RuntimeError(f"wrk failed on {base}{paths[0]}")
    if drain:  # let the server finish the requests still in flight before the next run
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(
                base + (paths[0] if method == "GET" else "/health"), headers=headers, timeout=120
            )
    seconds = (elapsed_us if elapsed_us is not None else out["duration_us"]) / 1e6
    return {
        "requests": out["requests"],
        "rps": round(out["requests"] / seconds, 1),
        "p50_ms": round(out["p50_us"] / 1000, 2),
        "p99_ms": round(out["p99_us"] / 1000, 2),
        "errors": out["errors"],
        "kb_per_request": round(out["bytes"] / max(1, out["requests"]) / 1024, 1),
    }


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = dict(max(runs, key=lambda r: r["rps"]))
    best["first_rps"] = runs[0]["rps"]
    best["worst_p99_ms"] = max(r["p99_ms"] for r in runs)
    best["best_p99_ms"] = min(r["p99_ms"] for r in runs)
    best["errors"] = sum(r["errors"] for r in runs)
    best["requests"] = sum(r["requests"] for r in runs)
    best["runs"] = len(runs)
    return best


def read_paths(site_ids: list[str], boxes: list[str], seed: int, suffix: str = "") -> dict:
    rng = np.random.default_rng(seed + 4)
    picked = rng.choice(len(site_ids), size=min(500, len(site_ids)), replace=False)
    amp = "&" if suffix else ""
    return {
        "items": [f"/collections/sites/items?limit=100{amp}{suffix}"],
        "item": [
            f"/collections/sites/items/{site_ids[i]}{'?' + suffix if suffix else ''}"
            for i in picked
        ],
        "bbox": [f"/collections/sites/items?bbox={b}&limit=100{amp}{suffix}" for b in boxes],
    }


def measure(
    base: str,
    paths: dict[str, list[str]],
    args: argparse.Namespace,
    work: Path,
    *,
    repeat: int | None = None,
    duration: float | None = None,
    warm_up: bool = True,
    **kw: Any,
) -> dict[str, dict[str, Any]]:
    out = {}
    for name, p in paths.items():
        load = {
            "work": work,
            "connections": args.connections,
            "duration": duration or args.duration,
        }
        if warm_up:
            wrk(base, p, requests=args.connections, **load, **kw)
        runs = [
            wrk(base, p, requests=args.requests, **load, **kw) for _ in range(repeat or args.repeat)
        ]
        out[name] = best_of(runs)
        r = out[name]
        print(
            f"  {name:6s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms  "
            f"p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}",
            flush=True,
        )
    return out


def one_request(base: str, paths: dict[str, list[str]]) -> dict[str, float]:
    """Time one request of each kind, alone on one connection (seconds)."""
    import httpx

    out = {}
    with httpx.Client(timeout=120) as client:
        for name, p in paths.items():
            t = time.perf_counter()
            client.get(base + p[0]).raise_for_status()
            out[name] = round(time.perf_counter() - t, 2)
    return out


def fetch_features(base: str, token: str, path: Path) -> int:
    """Write the partner's view of every site, paged from Vigía, as one GeoJSON file."""
    import httpx

    features: list[Any] = []
    url: str | None = f"{base}/collections/sites/items?limit=1000"
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        while url is not None:
            r = client.get(url)
            r.raise_for_status()
            doc = r.json()
            features += doc["features"]
            url = next((x["href"] for x in doc["links"] if x["rel"] == "next"), None)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return len(features)


# ---------------------------------------------------------------- the run


def run_backend(
    name: str, url: str, args: argparse.Namespace, work: Path, boxes: list[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    print(f"[{name}] seeding {args.sites} sites ...", flush=True)
    seeded = seed_store(url, args.sites, args.seed)
    print(
        f"[{name}] seeded: sites {seeded['seed_sites_s']} s, confirm + "
        f"{len(seeded['releases'])} releases {seeded['seed_confirm_release_s']} s",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    info: dict[str, Any] = {k: v for k, v in seeded.items() if k.startswith("seed_")}
    info["server_version"] = seeded["server_version"]
    paths = read_paths(seeded["site_ids"], boxes, args.seed)
    tokens = seeded["tokens"]
    with server("vigia", work, url=url) as base:
        geojson = work / "sites.geojson"
        if not geojson.exists():
            n = fetch_features(base, tokens["partner_viewer"], geojson)
            print(f"[{name}] {n} features (partner-a's view) written for the references")
        before = audit_head(url)
        for principal in PRINCIPALS:
            print(f"[{name}] vigia as {principal}", flush=True)
            got = measure(base, paths, args, work, token=tokens[principal])
            rows += [
                {"server": "vigia", "backend": name, "principal": principal, "endpoint": e} | r
                for e, r in got.items()
            ]
        info["audit_entries_by_reads"] = audit_since(url, before)
        releases = seeded["releases"]
        # Each run acknowledges releases of its own slice, never one acknowledged before;
        # the slice has room for the requests still in flight when wrk stops counting.
        per_run = min(args.writes, len(releases) // (args.repeat + 1) - args.connections)
        if args.writes > 0 and per_run < 1:
            print(f"[{name}] too few releases for the write runs: --sites too small, skipped")
        elif args.writes > 0:
            print(f"[{name}] vigia writes as partner_officer", flush=True)
            size = per_run + args.connections
            runs = []
            before = audit_head(url)
            for k in range(args.repeat + 1):  # the first is the warm-up
                r = wrk(
                    base,
                    [f"/releases/{rid}/acknowledge" for rid in releases[k * size : (k + 1) * size]],
                    work=work,
                    requests=per_run if k else args.connections,
                    connections=args.connections,
                    duration=args.duration,
                    token=tokens["partner_officer"],
                    method="POST",
                )
                if k:
                    runs.append(r)
            info["audit_entries_by_acks"] = audit_since(url, before)
            r = best_of(runs)
            print(
                f"  ack    {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                f"p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}",
                flush=True,
            )
            rows.append(
                {
                    "server": "vigia",
                    "backend": name,
                    "principal": "partner_officer",
                    "endpoint": "ack",
                }
                | r
            )
    info["audit_chain"] = audit_verify(url)
    if "nocache" in args.references:
        print(f"[{name}] vigia-nocache (read cache off) as partner_viewer", flush=True)
        with server("vigia-nocache", work, url=url) as base:
            got = measure(base, paths, args, work, token=tokens["partner_viewer"])
        rows += [
            {
                "server": "vigia-nocache",
                "backend": name,
                "principal": "partner_viewer",
                "endpoint": e,
            }
            | r
            for e, r in got.items()
        ]
    if "nocache2w" in args.references:
        print(f"[{name}] vigia serve --workers 2 --read-cache-mb 0 as partner_viewer", flush=True)
        opts = "--workers 2 --read-cache-mb 0"
        with server("vigia-serve-nocache-2w", work, url=url, options=opts) as base:
            got = measure(base, paths, args, work, token=tokens["partner_viewer"])
        rows += [
            {
                "server": "vigia-nocache-2w",
                "backend": name,
                "principal": "partner_viewer",
                "endpoint": e,
            }
            | r
            for e, r in got.items()
        ]
    if "db" in args.references:
        print(f"[{name}] fastapi-db (same database, no auth/audit/visibility)", flush=True)
        with server("db", work, url=url) as base:
            got = measure(base, paths, args, work)
        rows += [
            {"server": "fastapi-db", "backend": name, "principal": "-", "endpoint": e} | r
            for e, r in got.items()
        ]
    return rows, info


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    refs = {
        (r["server"], r["backend"], r["endpoint"]): r
        for r in rows
        if not r["server"].startswith("vigia")
    }
    out = []
    for r in rows:
        if not r["server"].startswith("vigia") or r["endpoint"] not in READS:
            continue
        keys = ("server", "backend", "principal", "endpoint", "rps", "p99_ms")
        row = {k: r[k] for k in keys}
        for ref, backend in (
            ("fastapi-memory", "-"),
            ("fastapi-db", r["backend"]),
            ("pygeoapi", "-"),
        ):
            other = refs.get((ref, backend, r["endpoint"]))
            if other is None:
                continue
            row[f"rps/{ref}"] = round(r["rps"] / other["rps"], 2) if other["rps"] else None
            row[f"p99/{ref}"] = round(r["p99_ms"] / other["p99_ms"], 2) if other["p99_ms"] else None
        out.append(row)
    return out


def table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    cells = [["-" if r.get(k) is None else str(r[k]) for k, _ in cols] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(cols)]
    lines = ["  ".join(h.rjust(w) for (_, h), w in zip(cols, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(cell, widths, strict=True)) for cell in cells]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=500, help="per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds, per measurement")
    parser.add_argument(
        "--pygeoapi-duration", type=float, default=15.0, help="seconds, one run per endpoint"
    )
    parser.add_argument("--writes", type=int, default=150, help="acknowledgements per run")
    parser.add_argument("--references", default="memory,db,nocache,pygeoapi")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--geojson", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        if args.serve is not None:
            if args.serve == "vigia":
                serve_vigia(args.url, args.port)
            elif args.serve == "vigia-nocache":
                serve_vigia(args.url, args.port, cache=False)
            elif args.serve == "db":
                serve_db(args.url, args.port)
            elif args.serve == "memory":
                serve_memory(args.geojson, args.port)
            else:
                serve_pygeoapi(args.port)
            return
        if shutil.which("wrk") is None:
            sys.exit("bench/api.py needs Debian's wrk on PATH: apt-get install wrk")
        run(args)


def run(args: argparse.Namespace) -> None:
    from sqlalchemy import URL

    from vigia.store.pgserver import TemporaryPostgres

    backends = [b for b in args.backends.split(",") if b]
    args.references = [r for r in args.references.split(",") if r]
    boxes = make_boxes(200, args.seed)
    rows: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vigia-bench-api-") as tmp:
        work = Path(tmp)
        for name in backends:
            if name == "sqlite":
                url = f"sqlite:///{work / 'vigia.db'}"
                got, info[name] = run_backend(name, url, args, work, boxes)
                info[name]["server_version"] = sqlite3.sqlite_version
            elif name == "postgresql":
                with TemporaryPostgres(durable=True) as pg:
                    pg_url: URL = pg.create_database("bench")
                    url = pg_url.render_as_string(hide_password=False)
                    got, info[name] = run_backend(name, url, args, work, boxes)
            else:
                sys.exit(f"unknown back end {name!r}: sqlite or postgresql")
            rows += got
        geojson = work / "sites.geojson"
        ids = [f["id"] for f in json.loads(geojson.read_text())["features"]]
        if "memory" in args.references:
            print("fastapi-memory (features in memory, orjson, no auth, no database)", flush=True)
            with server("memory", work, geojson=str(geojson)) as base:
                got_ref = measure(base, read_paths(ids, boxes, args.seed), args, work)
            rows += [
                {"server": "fastapi-memory", "backend": "-", "principal": "-", "endpoint": e} | r
                for e, r in got_ref.items()
            ]
        if "pygeoapi" in args.references:
            import pygeoapi

            info["pygeoapi"] = pygeoapi.__version__
            print(f"pygeoapi {pygeoapi.__version__} (GeoJSON file provider, no auth)", flush=True)
            pga_paths = read_paths(ids, boxes, args.seed, "f=json")
            with server("pygeoapi", work, geojson=str(geojson)) as base:
                info["pygeoapi_one_request_s"] = one_request(base, pga_paths)
            print(f"  one request at a time: {info['pygeoapi_one_request_s']} s", flush=True)
            got_ref = {}
            for name, p in pga_paths.items():
                # Seconds a request: one run each, long enough for 50 clients to be served,
                # on a new server each (draining 50 requests in flight would take longer).
                with server("pygeoapi", work, geojson=str(geojson)) as base:
                    got_ref |= measure(
                        base,
                        {name: p},
                        args,
                        work,
                        repeat=1,
                        duration=args.pygeoapi_duration,
                        warm_up=False,
                        drain=False,
                    )
            rows += [
                {"server": "pygeoapi", "backend": "-", "principal": "-", "endpoint": e} | r
                for e, r in got_ref.items()
            ]

    print()
    print(
        table(
            rows,
            [
                ("server", "server"),
                ("backend", "back end"),
                ("principal", "token"),
                ("endpoint", "endpoint"),
                ("rps", "req/s"),
                ("p50_ms", "p50 ms"),
                ("p99_ms", "p99 ms"),
                ("first_rps", "1st run req/s"),
                ("best_p99_ms", "best p99 ms"),
                ("worst_p99_ms", "worst p99 ms"),
                ("errors", "errors"),
                ("requests", "requests, all runs"),
                ("kb_per_request", "KiB/resp"),
            ],
        )
    )
    rat = ratios(rows)
    print()
    print("Vigía / reference (req/s ratio: above 1 is faster; p99 ratio: above 1 is slower)")
    ref_cols = [
        (f"{m}/{ref}", f"{m} /{short}")
        for ref, short in (("fastapi-memory", "mem"), ("fastapi-db", "db"), ("pygeoapi", "pga"))
        for m in ("rps", "p99")
        if ref in {r["server"] for r in rows}
    ]
    print(
        table(
            rat,
            [
                ("server", "server"),
                ("backend", "back end"),
                ("principal", "token"),
                ("endpoint", "endpoint"),
                ("rps", "req/s"),
                ("p99_ms", "p99 ms"),
                *ref_cols,
            ],
        )
    )
    import fastapi
    import uvicorn

    env = {
        "python": platform.python_version(),
        "fastapi": fastapi.__version__,
        "uvicorn": uvicorn.__version__,
        "servers_ran_on": STACKS,
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1],
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    print()
    for name, facts in info.items():
        print(f"{name}: {facts}")
    print(
        f"{args.sites} sites, {args.connections} connections, up to {args.requests} requests "
        f"or {args.duration:g} s per run, best of {args.repeat}; {env}"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"json": str(args.json)},
                    "env": env,
                    "info": info,
                    "results": rows,
                    "ratios": rat,
                },
                indent=1,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
