"""Polyethylene tarps against the methane detector: how many tarp pixels become plume.

    python bench/tarp_methane.py [--scenes 3] [--first-seed 0] [--scenarios sinaloa,central]

Polyethylene absorbs at 1.73 µm and 2.31 µm (C–H overtones; Garaba & Dierssen 2018), where
a 2.3 µm methane filter looks. For each scenario and seed one VSWIR line (AVIRIS-NG class, 6 m
GSD at 6 km) is rendered over ground holding ``--tarps`` tarps of 50–800 m² (the simulator's
parametric blue, green and black polyethylene spectra, :func:`vigia.sense.library.tarp_spectra`,
variant chosen by the simulator), with no methane, and the same number of 20 kg/h methane
sources, 2 m high, half of them under a tarp of their own (a lab hidden under a cover). The
detector (:func:`vigia.detect.methane.retrieve_methane` and :func:`methane_plumes`, given the
true wind) never sees the truth; this script joins its plumes to it:

* tarp pixels: pixel centres inside a tarp square without methane (truth < 1 ppm·m);
  flagged: inside a detected plume (goal: < 1 % of tarp pixels);
* candidates: tarp pixels whose per-pixel significance exceeds 3 (what the witnesses must
  catch);
* sources found under a tarp and in the open (the cost of suppression on real plumes).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from datetime import timedelta
from typing import Any

import numpy as np

from vigia.detect.methane import methane_plumes, retrieve_methane
from vigia.detect.plumes import PixelGrid, Wind
from vigia.platform import load_platform
from vigia.sense.render import render_line
from vigia.world.scenario import load_scenario
from vigia.world.sites import Site
from vigia.world.world import World, build_world, solar_elevation

GSD_M = 6.0


def daylight_time(world: World, k: int) -> Any:
    """The k-th hour of the scenario window with the sun above 30° and a 2–6 m/s wind."""
    sc = world.scenario
    anchor = sc.areas[0][1].centroid
    t = sc.window_start
    found = 0
    while t < sc.window_end:
        if solar_elevation(anchor.x, anchor.y, t) > 30 and 2.0 <= world.wind_at(t).speed_m_s <= 6.0:
            if found == k:
                return t
            found += 1
        t += timedelta(hours=1)
    raise RuntimeError("no daylight hour with a moderate wind in the scenario window")


def scene(name: str, seed: int, rows: int, cols: int, n_tarps: int, rate: float) -> dict[str, Any]:
    """Render one line with tarps and methane sources; return cube, truth, tarps and sources."""
    world = build_world(load_scenario(name), seed=seed)
    when = daylight_time(world, seed)
    anchor = world.scenario.areas[0][1].centroid
    rng = np.random.default_rng([seed, len(name), 7])
    lon0 = float(anchor.x) + rng.uniform(-0.02, 0.02)
    lat0 = float(anchor.y) + rng.uniform(-0.02, 0.02)
    dlat = GSD_M / 111_320.0
    dlon = GSD_M / (111_320.0 * math.cos(math.radians(lat0)))
    area = world.scenario.areas[0][0]
    sites: list[Site] = []
    # Tarps without methane, and methane sources (half under their own tarp), on a grid of
    # slots along the line so that no plume reaches another slot's tarp.
    n_src = n_tarps
    slots = n_tarps + n_src
    order = rng.permutation(slots)
    for k, slot in enumerate(order):
        row = (slot + 0.5) / slots * rows
        col = rng.uniform(-0.3, 0.3) * cols
        lon, lat = lon0 + col * dlon, lat0 + row * dlat
        cover = float(rng.uniform(50.0, 800.0))
        if k < n_tarps:
            sites.append(
                Site(
                    f"tarp-{seed}-{k}",
                    "farm_tarp",
                    area,
                    lon,
                    lat,
                    camouflage="tarp",
                    cover_area_m2=cover,
                )
            )
        else:
            hidden = (k - n_tarps) % 2 == 0
            sites.append(
                Site(
                    f"src-{seed}-{k}",
                    "factory_stack",
                    area,
                    lon,
                    lat,
                    emissions_kg_h={"CH4": rate},
                    source_height_m=2.0,
                    camouflage="tarp" if hidden else "none",
                    cover_area_m2=cover if hidden else 0.0,
                )
            )
    w2 = dataclasses.replace(world, sites=tuple(sites))
    r = render_line(
        w2,
        (lon0, lat0),
        (lon0, lat0 + 1.2 * rows * dlat),
        line_id=f"TARP-{name}-{seed}",
        time=when,
        instrument="vswir",
        platform=load_platform("mq9"),
        sensor_name="avirisng",
        altitude_m=6000.0,
        max_frames=rows,
        crosstrack_pixels=cols,
        seed=seed,
    )
    return {
        "cube": r.cube,
        "truth": r.truth["ch4"].values,
        "sites": sites,
        "wind": world.wind_at(when),
    }


def tarp_mask(grid: PixelGrid, site: Site) -> np.ndarray:
    """Pixels whose centre lies inside the site's (axis-aligned, east/north) tarp square."""
    lat0 = float(np.median(grid.lat))
    x = np.radians(grid.lon - site.lon) * 6_371_008.8 * math.cos(math.radians(lat0))
    y = np.radians(grid.lat - site.lat) * 6_371_008.8
    half = math.sqrt(site.cover_area_m2) / 2.0
    return (np.abs(x) <= half) & (np.abs(y) <= half)


def evaluate(sc: dict[str, Any]) -> dict[str, Any]:
    """Detect, then count flagged tarp pixels and found sources."""
    cube = sc["cube"]
    lat, lon = cube["lat"].values, cube["lon"].values
    grid = PixelGrid.from_lonlat(lat, lon)
    res = retrieve_methane(cube)
    wind = Wind(sc["wind"].speed_m_s, sc["wind"].from_deg)
    plumes = methane_plumes(res, lat, lon, wind=wind)
    in_plume = np.zeros(lat.shape, dtype=bool)
    for p in plumes:
        in_plume[p.rows, p.cols] = True
    truth = sc["truth"]
    tarp_px = flagged = cand = 0
    found = {"hidden": [0, 0], "open": [0, 0]}
    for s in sc["sites"]:
        m = tarp_mask(grid, s) if s.cover_area_m2 > 0 else np.zeros(lat.shape, dtype=bool)
        if not s.emissions_kg_h:
            m &= truth < 1.0
            tarp_px += int(m.sum())
            flagged += int((m & in_plume).sum())
            cand += int((m & (np.nan_to_num(res.score) > 3.0)).sum())
            continue
        d = (lat - s.lat) ** 2 + ((lon - s.lon) * math.cos(math.radians(s.lat))) ** 2
        r0, c0 = np.unravel_index(int(np.argmin(d)), d.shape)
        hit = any(
            np.min(np.hypot(p.rows - r0, p.cols - c0)) <= 3.0
            or math.hypot(p.source_pixel[0] - r0, p.source_pixel[1] - c0) <= 10.0
            for p in plumes
        )
        key = "hidden" if s.cover_area_m2 > 0 else "open"
        found[key][0] += int(hit)
        found[key][1] += 1
    return {
        "tarp_pixels": tarp_px,
        "flagged": flagged,
        "candidates": cand,
        "found": found,
        "plumes": len(plumes),
    }


def main() -> None:
    """Run the scenes and print the tarp table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--cols", type=int, default=200)
    ap.add_argument("--tarps", type=int, default=8)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--scenarios", type=str, default="sinaloa,central")
    args = ap.parse_args()
    t0 = time.perf_counter()
    total: dict[str, Any] = {
        "tarp_pixels": 0,
        "flagged": 0,
        "candidates": 0,
        "found": {"hidden": [0, 0], "open": [0, 0]},
    }
    for name in args.scenarios.split(","):
        for seed in range(args.first_seed, args.first_seed + args.scenes):
            sc = scene(name, seed, args.rows, args.cols, args.tarps, args.rate)
            out = evaluate(sc)
            for k in ("tarp_pixels", "flagged", "candidates"):
                total[k] += out[k]
            for k in ("hidden", "open"):
                for i in range(2):
                    total["found"][k][i] += out["found"][k][i]
            print(
                f"  {name} seed {seed}: {out['tarp_pixels']} tarp pixels, {out['candidates']} "
                f"candidates (score > 3), {out['flagged']} in plumes; sources found: hidden "
                f"{out['found']['hidden'][0]}/{out['found']['hidden'][1]}, open "
                f"{out['found']['open'][0]}/{out['found']['open'][1]}",
                flush=True,
            )
    n = max(total["tarp_pixels"], 1)
    print(f"Tarps vs methane — {time.perf_counter() - t0:.0f} s")
    print(
        f"  tarp pixels {total['tarp_pixels']}: candidates {total['candidates'] / n:.1%}, "
        f"flagged as plume {total['flagged']} = {total['flagged'] / n:.2%} (goal < 1 %)"
    )
    fh, fo = total["found"]["hidden"], total["found"]["open"]
    print(
        f"  {args.rate:g} kg/h sources found: under a tarp {fh[0]}/{fh[1]}, "
        f"in the open {fo[0]}/{fo[1]}"
    )


if __name__ == "__main__":
    main()
