"""Benchmark: how well land use is read from VSWIR cubes (vigia.detect.landuse), against truth.

    python bench/landuse.py [--seeds 3 4 5] [--scenarios sinaloa central] [--lines 4]
                            [--size 96] [--json PATH]

Everything is simulated (``vigia.sense.render``, AVIRIS-NG class at 6 km, 6 m pixels, local
noon) and scored against the simulator's land-cover fields, which only this script reads.

1. **Pixels.** ``--lines`` lines of ``--size`` × ``--size`` pixels per world at random places
   in its areas; each pixel whose dominant true land-cover class covers at least 80 % of it
   (a pure pixel) is classified by :func:`vigia.detect.landuse.classify_reflectance` and
   compared with the true class's group (vegetation, open, built, water): a confusion matrix
   and the accuracy of each group.
2. **Around sites.** For every site of the world, a line centred on it and the built share
   :func:`vigia.detect.landuse.land_use_around` reads there, by site kind: the evidence the
   site classifier uses (built-up from 0.2).

The library the pixels are matched to is the simulator's own land-cover library, so this
measures the method on scenes drawn from it (noise, mixing, shade, sites), not its transfer to
other surfaces. One BLAS thread.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from vigia.detect.camouflage import atmospheric_correction
from vigia.detect.landuse import (
    LAND_USES,
    LandUseParams,
    classify_reflectance,
    land_use_around,
    library_bins,
)
from vigia.detect.line import check_cube
from vigia.fuse.classify import BUILT_UP_SHARE
from vigia.platform import load_platform
from vigia.sense.render import render_line
from vigia.world.landcover import LAND_COVER_CLASSES
from vigia.world.scenario import load_scenario
from vigia.world.world import World, build_world

NOON = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)
PLATFORM = load_platform("mq9")
GROUP = {
    "tree_canopy": "vegetation",
    "shrub": "vegetation",
    "crops": "vegetation",
    "dry_grass": "open",
    "bare_soil": "open",
    "road": "built",
    "roof": "built",
    "water": "water",
}


def _render(world: World, lon: float, lat: float, size: int, seed: int) -> Any:
    gsd = PLATFORM.sensor("avirisng").gsd_m(6000.0)
    half = size * gsd / 2.0 / 111_195.0
    return render_line(
        world,
        (lon, lat - half),
        (lon, lat + half),
        line_id="B-LU",
        time=NOON,
        instrument="vswir",
        platform=PLATFORM,
        sensor_name="avirisng",
        altitude_m=6000.0,
        max_frames=size,
        crosstrack_pixels=size,
        seed=seed,
    ).cube.load()


def _pixels(world: World, cube: Any, conf: np.ndarray) -> None:
    corr = atmospheric_correction(cube)
    wl = np.asarray(cube["wavelengths"].values, dtype=np.float64)
    fwhm = np.asarray(cube["fwhm"].values, dtype=np.float64)
    good = np.asarray(cube["good_wavelengths"].values) > 0
    good &= corr.gain > 1e-3 * float(np.max(corr.gain))
    p = LandUseParams()
    bins = library_bins(wl, fwhm, good, p)
    rad = np.asarray(cube["radiance"].isel(bands=bins.bands).values, dtype=np.float64)
    refl = corr.apply(rad, bins.bands).reshape(-1, bins.bands.size)
    got = classify_reflectance(refl, bins, p.max_angle_deg)
    lon, lat = cube["lon"].values.ravel(), cube["lat"].values.ravel()
    xy = world.frame.to_xy(np.column_stack([lon, lat]))
    fr = world.land_cover.fractions(xy[:, 0], xy[:, 1])
    pure = fr.max(axis=-1) >= 0.8
    truth = np.array([LAND_USES.index(GROUP[c]) for c in LAND_COVER_CLASSES])[fr.argmax(axis=-1)]
    for t, g in zip(truth[pure], got[pure], strict=True):
        conf[t, g if g >= 0 else len(LAND_USES)] += 1


def main() -> None:
    """Score pixels and sites of each world; print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    ap.add_argument("--scenarios", nargs="+", default=["sinaloa", "central"])
    ap.add_argument("--lines", type=int, default=4)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    conf = np.zeros((len(LAND_USES), len(LAND_USES) + 1), dtype=np.int64)
    built_by_kind: dict[str, list[float]] = defaultdict(list)
    with threadpool_limits(1):
        for scenario in args.scenarios:
            sc = load_scenario(scenario)
            for seed in args.seeds:
                world = build_world(sc, seed=seed)
                rng = np.random.default_rng(1000 + seed)
                polys = [p for _, p in sc.areas]
                for k in range(args.lines):
                    poly = polys[k % len(polys)]
                    x0, y0, x1, y1 = poly.bounds
                    lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
                    _pixels(world, _render(world, lon, lat, args.size, seed + k), conf)
                for i, site in enumerate(world.sites):
                    cube = _render(world, site.lon, site.lat, 48, seed + 100 + i)
                    shares = land_use_around(cube, check_cube(cube, "B-LU"), [(site.lon, site.lat)])
                    if shares[0] is not None:
                        built_by_kind[site.kind].append(float(shares[0]["built"]))
                print(f"  {scenario} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    names = [*LAND_USES, "unmatched"]
    print("\nPure pixels (dominant true class ≥ 80 %), rows truth, columns read:")
    print("            " + "".join(f"{n:>11}" for n in names) + "   accuracy")
    acc = {}
    for i, g in enumerate(LAND_USES):
        n = int(conf[i].sum())
        acc[g] = round(float(conf[i, i] / n), 3) if n else None
        print(f"  {g:10}" + "".join(f"{int(v):11d}" for v in conf[i]) + f"   {acc[g] or '–'}")
    total = int(conf[:, : len(LAND_USES)].trace()) / max(int(conf.sum()), 1)
    print(f"  overall accuracy {total:.3f} over {int(conf.sum())} pixels")
    print(f"\nBuilt share within 50 m of each site (built-up from {BUILT_UP_SHARE}):")
    kinds = {}
    for kind, vals in sorted(built_by_kind.items()):
        v = np.array(vals)
        kinds[kind] = {
            "n": int(v.size),
            "median": round(float(np.median(v)), 3),
            "built_up_share_of_sites": round(float(np.mean(v >= BUILT_UP_SHARE)), 3),
        }
        print(
            f"  {kind:15} n {v.size:3d}  median {np.median(v):.2f}  "
            f"built-up {np.mean(v >= BUILT_UP_SHARE):.2f}"
        )
    print(f"({time.perf_counter() - t0:.0f} s; simulated scenes, modelled data)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "seeds": args.seeds,
                    "scenarios": args.scenarios,
                    "confusion": conf.tolist(),
                    "columns": names,
                    "accuracy": acc,
                    "overall_accuracy": round(total, 3),
                    "built_by_kind": kinds,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
