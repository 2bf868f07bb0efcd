"""Benchmark: the store on SQLite and PostgreSQL, in the same run.

    python bench/store.py [--detections 100000] [--files 10] [--sites 10000] [--queries 1000]
                          [--seed 0] [--json PATH]

Made here, the same for both back ends: ``--files`` detection files holding ``--detections``
detections in all (seeded; 3 flight lines × 2 sensors per file, spread over western Mexico),
and ``--sites`` sites with boxes of 100–600 m and first/last seen spread over 60 days.

Measured per back end, each on a new database at the head revision:

* ingest: detections per second through :func:`vigia.store.ingest_detections` (reading,
  validating and writing each file in one transaction), over all files;
* upsert: sites per second through :func:`vigia.store.upsert_sites`, 1000 per call;
* query: latency of :func:`vigia.store.list_sites` with a box (0.05–0.5° a side) and a time
  range (1–14 days), ``--queries`` random ones after ``ANALYZE``: p50 and p99 in ms, and the
  mean number of sites found.

SQLite is a WAL-mode file in a temporary directory; PostgreSQL is a throwaway server
(:class:`vigia.store.pgserver.TemporaryPostgres`, durable: fsync and synchronous commit on)
on 127.0.0.1. Both run on this machine, so the numbers include a client and a server sharing
its cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy
from sqlalchemy import text

from synthetic import REGION, T0
from synthetic import make_sites as synthetic_sites
from vigia.detect.detection import Detection, SearchedLine, write_detections
from vigia.store import (
    SessionFactory,
    SiteRecord,
    ingest_detections,
    list_sites,
    make_engine,
    session_factory,
    upgrade,
    upsert_sites,
)
from vigia.store.pgserver import TemporaryPostgres

ISO = "%Y-%m-%dT%H:%M:%SZ"


def square(lon: float, lat: float, half: float) -> dict[str, Any]:
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def make_files(out: Path, n: int, files: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    kinds = ("plume", "thermal", "tarp", "clearing")
    paths = []
    per_file = [n // files + (1 if k < n % files else 0) for k in range(files)]
    for f, count in enumerate(per_file):
        start = T0 + timedelta(days=f)
        lines = []
        centres = []
        for k in range(3):
            lon = float(rng.uniform(REGION[0] + 0.5, REGION[2] - 0.5))
            lat = float(rng.uniform(REGION[1] + 0.5, REGION[3] - 0.5))
            centres.append((lon, lat))
            for sensor in ("vswir", "lwir"):
                lines.append(
                    SearchedLine(
                        line_id=f"F{f:03d}L{k}",
                        sensor=sensor,  # type: ignore[arg-type]
                        time_start=(start + timedelta(minutes=20 * k)).strftime(ISO),
                        time_end=(start + timedelta(minutes=20 * k + 15)).strftime(ISO),
                        footprint=square(lon, lat, 0.1),
                        area_km2=480.0,
                        pixel_size_m=5.0,
                        shape=(4000, 1200),
                    )
                )
        detections = []
        for i in range(count):
            line = lines[i % len(lines)]
            lon0, lat0 = centres[(i % len(lines)) // 2]
            lon = lon0 + float(rng.uniform(-0.1, 0.1))
            lat = lat0 + float(rng.uniform(-0.1, 0.1))
            kind = kinds[i % 4]
            detections.append(
                Detection(
                    id=f"{line.line_id}-{line.sensor}-{i:07d}",
                    kind=kind,  # type: ignore[arg-type]
                    line_id=line.line_id,
                    sensor=line.sensor,
                    time=start + timedelta(seconds=i % 3600),
                    lon=lon,
                    lat=lat,
                    score=float(rng.uniform(0.2, 1.0)),
                    species=["CH4"] if kind == "plume" else [],
                    enhancement_ppm_m=float(rng.uniform(100, 900)) if kind == "plume" else None,
                    emission_kg_h=float(rng.uniform(1, 80)) if kind == "plume" else None,
                    delta_t_k=float(rng.uniform(2, 30)) if kind == "thermal" else None,
                    area_m2=150.0,
                    pixel_row=i % 4000,
                    pixel_col=i % 1200,
                    n_pixels=6,
                    footprint=square(lon, lat, 3e-4),
                    reasons=["bench"],
                )
            )
        paths.append(
            write_detections(out / f"detections_{f:03d}.geojson", detections, lines, "bench")
        )
    return paths


def make_sites(n: int, seed: int) -> list[SiteRecord]:
    return synthetic_sites(n, seed + 1)


def make_queries(
    n: int, seed: int
) -> list[tuple[tuple[float, float, float, float], datetime, datetime]]:
    rng = np.random.default_rng(seed + 2)
    out = []
    for _ in range(n):
        side = float(rng.uniform(0.05, 0.5))
        x0 = float(rng.uniform(REGION[0], REGION[2] - side))
        y0 = float(rng.uniform(REGION[1], REGION[3] - side))
        start = T0 + timedelta(days=float(rng.uniform(0, 60)))
        out.append(
            (
                (x0, y0, x0 + side, y0 + side),
                start,
                start + timedelta(days=float(rng.uniform(1, 14))),
            )
        )
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def run_backend(
    name: str,
    url: str | sqlalchemy.URL,
    files: list[Path],
    sites: list[SiteRecord],
    queries: list[tuple[tuple[float, float, float, float], datetime, datetime]],
) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    store: SessionFactory = session_factory(engine)
    n_det = 0
    t_ingest = 0.0
    for path in files:
        dt, result = timed(lambda p=path: ingest_detections(store, p))
        t_ingest += dt
        n_det += result.n_detections
    t_upsert = 0.0
    for start in range(0, len(sites), 1000):
        dt, _ = timed(lambda s=start: upsert_sites(store, sites[s : s + 1000]))
        t_upsert += dt
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    latencies, hits = [], []
    for bbox, start, end in queries:
        dt, found = timed(lambda b=bbox, s=start, e=end: list_sites(store, bbox=b, start=s, end=e))
        latencies.append(dt * 1000.0)
        hits.append(len(found))
    version = engine.dialect.server_version_info
    engine.dispose()
    return {
        "backend": name,
        "server_version": ".".join(map(str, version or ())),
        "detections": n_det,
        "ingest_s": round(t_ingest, 2),
        "ingest_per_s": round(n_det / t_ingest),
        "sites": len(sites),
        "upsert_sites_per_s": round(len(sites) / t_upsert),
        "queries": len(queries),
        "query_p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "query_p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "mean_sites_found": round(float(np.mean(hits)), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detections", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vigia-bench-store-") as tmp:
        work = Path(tmp)
        t, files = timed(lambda: make_files(work, args.detections, args.files, args.seed))
        print(f"made {args.files} detection files ({args.detections} detections) in {t:.1f} s")
        sites = make_sites(args.sites, args.seed)
        queries = make_queries(args.queries, args.seed)
        rows = [run_backend("sqlite", f"sqlite:///{work / 'vigia.db'}", files, sites, queries)]
        with TemporaryPostgres(durable=True) as pg:
            rows.append(
                run_backend("postgresql", pg.create_database("bench"), files, sites, queries)
            )
    rows[0]["server_version"] = sqlite3.sqlite_version

    cols = [
        ("backend", "back end"),
        ("server_version", "version"),
        ("ingest_per_s", "ingest det/s"),
        ("upsert_sites_per_s", "upsert sites/s"),
        ("query_p50_ms", "bbox+time p50 ms"),
        ("query_p99_ms", "p99 ms"),
        ("mean_sites_found", "sites/query"),
    ]
    widths = [max(len(h), *(len(str(r[k])) for r in rows)) for k, h in cols]
    print("  ".join(h.rjust(w) for (_, h), w in zip(cols, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[k]).rjust(w) for (k, _), w in zip(cols, widths, strict=True)))
    env = {
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(
        f"{args.detections} detections in {args.files} files, {args.sites} sites, "
        f"{args.queries} queries; {env}"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": str(args.json)}, "env": env, "results": rows},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
