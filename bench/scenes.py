"""Helpers the scene benchmarks share (bench/camouflage.py, bench/heat_camouflage.py).

Distances on the ground, searched area, random places inside a scenario's areas, and the tarp
colour the renderer gives a site (truth side: the benchmarks join it to detections, the detectors
never see it).
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np

from vigia.detect.heat import pixel_area_m2
from vigia.sense.library import tarp_spectra
from vigia.world.sites import Site
from vigia.world.world import World

M_PER_DEG = 111_195.0


def metres(lat: Any, lon: Any, lat0: float, lon0: float) -> Any:
    """Ground distance from (lat0, lon0), m (equirectangular; fine over a few km)."""
    return np.hypot(
        (lat - lat0) * M_PER_DEG, (lon - lon0) * M_PER_DEG * math.cos(math.radians(lat0))
    )


def area_km2(cube: Any) -> float:
    """Ground area a cube covers, km²."""
    return float(np.nansum(pixel_area_m2(cube["lat"].values, cube["lon"].values))) / 1e6


def random_points(world: World, n: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Points spread over the scenario's areas, at least 400 m inside their edges."""
    import shapely
    from shapely.geometry import Point

    planar = [world.frame.geom_to_xy(poly).buffer(-400.0) for _, poly in world.scenario.areas]
    for poly in planar:
        shapely.prepare(poly)
    out: list[tuple[float, float]] = []
    while len(out) < n:
        poly = planar[int(rng.integers(0, len(planar)))]
        minx, miny, maxx, maxy = poly.bounds
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if poly.contains(p):
            lonlat = world.frame.to_lonlat(np.array([[p.x, p.y]]))[0]
            out.append((float(lonlat[0]), float(lonlat[1])))
    return out


def site_seed(world: World, site: Site) -> int:
    """The renderer's per-site seed (mirrors ``vigia.sense.render._site_seed``)."""
    return world.seed * 100_003 + zlib.crc32(site.site_id.encode())


def tarp_colour(world: World, site: Site) -> str:
    """The colour of tarp the renderer gives a site."""
    variant = int(np.random.default_rng(site_seed(world, site)).integers(0, 1_000_000))
    return tarp_spectra()[variant % len(tarp_spectra())].name.split()[0]


def site_id_for_colour(world: World, colour: str, stem: str) -> str:
    """A site id (``stem-k``) whose tarp the renderer draws in the given colour."""
    for k in range(10_000):
        sid = f"{stem}-{k}"
        if tarp_colour(world, Site(sid, "farm_tarp", "x", 0.0, 0.0)) == colour:
            return sid
    raise RuntimeError("no id gives that colour")
