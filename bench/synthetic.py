"""Synthetic stored sites for the load benchmarks (bench/store.py, bench/api.py).

Parametric, from no detector: boxes of 100–600 m spread uniformly over a region of Mexico,
first seen within 60 days of :data:`T0`, seen for up to 10 days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from vigia.store import SiteRecord

T0 = datetime(2025, 3, 1, tzinfo=UTC)
REGION = (-110.0, 18.0, -100.0, 30.0)
CLASSES = ("rural_lab", "industrial_lab", "kiln", "landfill", "unknown")


def make_sites(n: int, rng_seed: int) -> list[SiteRecord]:
    """Return ``n`` random sites drawn with ``numpy.random.default_rng(rng_seed)``."""
    rng = np.random.default_rng(rng_seed)
    out = []
    for _ in range(n):
        lon = float(rng.uniform(REGION[0], REGION[2]))
        lat = float(rng.uniform(REGION[1], REGION[3]))
        half = float(rng.uniform(0.0005, 0.003))
        first = T0 + timedelta(hours=float(rng.uniform(0, 24 * 60)))
        out.append(
            SiteRecord(
                lon=lon,
                lat=lat,
                bbox=(lon - half, lat - half, lon + half, lat + half),
                site_class=str(rng.choice(CLASSES)),
                confidence=float(rng.uniform(0, 1)),
                first_seen=first,
                last_seen=first + timedelta(hours=float(rng.uniform(0, 24 * 10))),
                reasons=("bench",),
                evidence={"detections": int(rng.integers(1, 20))},
            )
        )
    return out
