"""Benchmark: detection probability and false alarms of the heat, tarp and branch detectors.

    python bench/heat_camouflage.py [--seeds 0 1 2] [--scenarios sinaloa central] [--quick]
                                    [--json PATH]

Everything is simulated (``vigia.sense.render``) and scored against the simulator's truth, which
only this script reads. Four parts, one BLAS thread:

1. **Heat sweep.** A hot source of set temperature and area implanted alone at random places
   of each scenario's world (seeded), one small LWIR line (HyTES class, 6 km, ~10 m GSD) over
   each, at local noon (sun-warmed clutter at its worst): PD of a ``fire`` label within 1.5
   pixels, and the power estimate against the source's own ``σ A (T⁴ − T_b⁴)`` and against
   what the renderer put in the pixels (it gives every pixel within 0.75 GSD of the source the
   full share A / GSD², so a source's radiance is counted ~1.8 times on average).
2. **Scenario sites.** Every site with heat (labs, kilns, charcoal pits, stacks) and every site
   with a tarp or branches, each under its own small line: PD by kind, and false alarms
   (objects farther than 40 m from any site that could explain them) per km².
3. **Heat-free scenes.** Lines over each world with its sites removed: fire-labelled objects
   and warm-surface objects per km².
4. **Tarp sweep.** Tarps of set area and colour implanted alone: PD by area and colour, and the
   pixel false-alarm rate by land-cover class (dominant class of the pixel from truth), for
   green canopy, roofs and roads in particular.

Numbers are printed as tables. Thresholds were set on seeds 0–2; run ``--seeds 3 4 5`` to see
them on scenes they were not set on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from scenes import M_PER_DEG, area_km2, metres, random_points, site_id_for_colour, tarp_colour
from vigia.detect.camouflage import detect_camouflage
from vigia.detect.heat import detect_heat
from vigia.memory import tune_for_arrays
from vigia.platform import load_platform
from vigia.sense.render import render_line
from vigia.world.landcover import LAND_COVER_CLASSES
from vigia.world.scenario import load_scenario
from vigia.world.sites import Site
from vigia.world.world import World, build_world

NOON = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)  # ~local solar noon over Mexico's west
PLATFORM = load_platform("mq9")
SIGMA = 5.670374419e-8


def line_over(world: World, lon: float, lat: float, instrument: str, size: int, seed: int) -> Any:
    """A line flown north with the point in its middle: size × size pixels."""
    gsd = PLATFORM.sensor("hytes" if instrument == "lwir" else "avirisng").gsd_m(6000.0)
    half = size * gsd / 2.0 / M_PER_DEG
    return render_line(
        world,
        (lon, lat - half),
        (lon, lat + half),
        line_id=f"B-{instrument}",
        time=NOON,
        instrument=instrument,  # type: ignore[arg-type]
        platform=PLATFORM,
        sensor_name="hytes" if instrument == "lwir" else "avirisng",
        altitude_m=6000.0,
        max_frames=size,
        crosstrack_pixels=size,
        seed=seed,
    )


def rendered_power(world: World, cube: Any, site: Site, t_bg: float) -> float:
    # What the renderer put in the pixels: full share A / GSD² in every pixel ≤ 0.75 GSD away.
    gsd = PLATFORM.sensor("hytes").gsd_m(6000.0)
    xy = world.frame.to_xy(
        np.column_stack([cube["lon"].values.ravel(), cube["lat"].values.ravel()])
    )
    sxy = world.frame.to_xy(np.array([[site.lon, site.lat]]))[0]
    d = np.hypot(xy[:, 0] - sxy[0], xy[:, 1] - sxy[1])
    from vigia.detect.heat import pixel_area_m2

    a_pix = pixel_area_m2(cube["lat"].values, cube["lon"].values).ravel()
    share = min(1.0, site.heat_area_m2 / gsd**2)
    return float(np.sum((d <= 0.75 * gsd) * share * a_pix) * SIGMA * (site.heat_k**4 - t_bg**4))


# ------------------------------------------------------------------------------- parts


def heat_sweep(scenarios: list[str], seeds: list[int], per_cell: int) -> dict[str, Any]:
    temps = [400.0, 500.0, 650.0, 800.0, 1100.0]
    areas = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    hits: dict[tuple[float, float], list[int]] = defaultdict(list)
    ratio_phys: dict[float, list[float]] = defaultdict(list)
    ratio_rend: dict[float, list[float]] = defaultdict(list)
    for scn in scenarios:
        for seed in seeds:
            world = build_world(load_scenario(scn), seed=seed)
            rng = np.random.default_rng(1000 + seed)
            points = random_points(world, len(temps) * len(areas) * per_cell, rng)
            k = 0
            for t in temps:
                for a in areas:
                    for _ in range(per_cell):
                        lon, lat = points[k]
                        k += 1
                        site = Site(f"h{k}", "kiln", "x", lon, lat, heat_k=t, heat_area_m2=a)
                        w = dataclasses.replace(world, sites=(site,))
                        r = line_over(w, lon, lat, "lwir", 40, seed=k)
                        res = detect_heat(r.cube)
                        d_px = metres(r.cube["lat"].values, r.cube["lon"].values, lat, lon)
                        near = [o for o in res.fires if d_px[o.rows, o.cols].min() <= 15.0]
                        hits[(t, a)].append(int(bool(near)))
                        if near:
                            o = near[0]
                            tb = o.background_temperature_k
                            phys = SIGMA * a * (t**4 - tb**4)
                            ratio_phys[t].append(o.power_w / phys)
                            ratio_rend[t].append(o.power_w / rendered_power(w, r.cube, site, tb))
    return {
        "temps": temps,
        "areas": areas,
        "pd": {f"{t:.0f}K/{a}m2": float(np.mean(v)) for (t, a), v in hits.items()},
        "n": {f"{t:.0f}K/{a}m2": len(v) for (t, a), v in hits.items()},
        "power_ratio_physical_median": {
            f"{t:.0f}": float(np.median(v)) for t, v in ratio_phys.items()
        },
        "power_ratio_rendered_median": {
            f"{t:.0f}": float(np.median(v)) for t, v in ratio_rend.items()
        },
        "power_ratio_rendered_iqr": {
            f"{t:.0f}": [float(np.percentile(v, 25)), float(np.percentile(v, 75))]
            for t, v in ratio_rend.items()
        },
    }


def scenario_sites(scenarios: list[str], seeds: list[int], limit: int) -> dict[str, Any]:
    heat_hits: dict[str, list[int]] = defaultdict(list)
    heat_fa, heat_km2 = 0, 0.0
    tarp_hits: dict[str, list[int]] = defaultdict(list)
    tarp_fa, branch_fa, vs_km2 = 0, 0, 0.0
    branch_hits: dict[str, list[int]] = defaultdict(list)
    for scn in scenarios:
        for seed in seeds:
            world = build_world(load_scenario(scn), seed=seed)
            heat_sites = [s for s in world.sites if s.heat_k is not None][:limit]
            for i, s in enumerate(heat_sites):
                r = line_over(world, s.lon, s.lat, "lwir", 40, seed=i)
                res = detect_heat(r.cube)
                lat, lon = r.cube["lat"].values, r.cube["lon"].values
                d = metres(lat, lon, s.lat, s.lon)
                hit = any(d[o.rows, o.cols].min() <= 15.0 for o in res.fires)
                heat_hits[s.kind].append(int(hit))
                for o in res.fires:
                    if all(
                        metres(o.lat, o.lon, q.lat, q.lon) > 40.0
                        for q in world.sites
                        if q.heat_k is not None
                    ):
                        heat_fa += 1
                heat_km2 += area_km2(r.cube)
            cover_sites = [s for s in world.sites if s.camouflage in ("tarp", "branches")][:limit]
            for i, s in enumerate(cover_sites):
                r = line_over(world, s.lon, s.lat, "vswir", 64, seed=i)
                res = detect_camouflage(r.cube)
                lat, lon = r.cube["lat"].values, r.cube["lon"].values
                d = metres(lat, lon, s.lat, s.lon)
                reach = math.sqrt(s.cover_area_m2) / 2.0 + 6.0
                if s.camouflage == "tarp":
                    hit = any(d[o.rows, o.cols].min() <= reach for o in res.tarps.objects)
                    tarp_hits[f"{s.kind}/{tarp_colour(world, s)}"].append(int(hit))
                else:
                    reach_b = max(reach, s.clearing_radius_m) + 6.0
                    hit = any(d[o.rows, o.cols].min() <= reach_b for o in res.branches.objects)
                    branch_hits[s.kind].append(int(hit))
                for o in res.tarps.objects:
                    if all(
                        metres(o.lat, o.lon, q.lat, q.lon) > math.sqrt(q.cover_area_m2) / 2 + 40
                        for q in world.sites
                        if q.camouflage == "tarp"
                    ):
                        tarp_fa += 1
                for o in res.branches.objects:
                    if all(
                        metres(o.lat, o.lon, q.lat, q.lon)
                        > max(math.sqrt(q.cover_area_m2) / 2, q.clearing_radius_m) + 40
                        for q in world.sites
                        if q.camouflage in ("branches", "tarp") or q.clearing_radius_m > 0
                    ):
                        branch_fa += 1
                vs_km2 += area_km2(r.cube)
    return {
        "heat_pd": {k: float(np.mean(v)) for k, v in heat_hits.items()},
        "heat_n": {k: len(v) for k, v in heat_hits.items()},
        "heat_false_fires_per_km2": heat_fa / max(heat_km2, 1e-9),
        "heat_km2": heat_km2,
        "tarp_pd": {k: float(np.mean(v)) for k, v in sorted(tarp_hits.items())},
        "tarp_n": {k: len(v) for k, v in sorted(tarp_hits.items())},
        "tarp_false_objects_per_km2": tarp_fa / max(vs_km2, 1e-9),
        "branch_pd": {k: float(np.mean(v)) for k, v in branch_hits.items()},
        "branch_n": {k: len(v) for k, v in branch_hits.items()},
        "branch_false_objects_per_km2": branch_fa / max(vs_km2, 1e-9),
        "vswir_km2": vs_km2,
    }


def heat_free(scenarios: list[str], seeds: list[int], lines: int) -> dict[str, Any]:
    fires, warm, km2 = 0, 0, 0.0
    for scn in scenarios:
        for seed in seeds:
            world = build_world(load_scenario(scn), seed=seed)
            empty = dataclasses.replace(world, sites=())
            rng = np.random.default_rng(2000 + seed)
            for k, (lon, lat) in enumerate(random_points(world, lines, rng)):
                r = line_over(empty, lon, lat, "lwir", 128, seed=k)
                res = detect_heat(r.cube)
                fires += len(res.fires)
                warm += len(res.objects) - len(res.fires)
                km2 += area_km2(r.cube)
    return {"false_fires_per_km2": fires / km2, "warm_surfaces_per_km2": warm / km2, "km2": km2}


def tarp_sweep(scenarios: list[str], seeds: list[int], per_cell: int) -> dict[str, Any]:
    areas = [10.0, 20.0, 40.0, 80.0, 160.0, 320.0]
    colours = ["blue", "green", "black"]
    hits: dict[tuple[str, float], list[int]] = defaultdict(list)
    area_err: dict[str, list[float]] = defaultdict(list)
    flagged: dict[str, int] = defaultdict(int)
    pixels: dict[str, int] = defaultdict(int)
    for scn in scenarios:
        for seed in seeds:
            world = build_world(load_scenario(scn), seed=seed)
            rng = np.random.default_rng(3000 + seed)
            points = random_points(world, len(areas) * len(colours) * per_cell, rng)
            k = 0
            for colour in colours:
                sid = site_id_for_colour(world, colour, f"t{seed}{colour}")
                for a in areas:
                    for _ in range(per_cell):
                        lon, lat = points[k]
                        k += 1
                        site = Site(
                            sid, "farm_tarp", "x", lon, lat, camouflage="tarp", cover_area_m2=a
                        )
                        w = dataclasses.replace(world, sites=(site,))
                        r = line_over(w, lon, lat, "vswir", 48, seed=k)
                        res = detect_camouflage(r.cube).tarps
                        la, lo = r.cube["lat"].values, r.cube["lon"].values
                        d = metres(la, lo, lat, lon)
                        reach = math.sqrt(a) / 2.0 + 6.0
                        near = [o for o in res.objects if d[o.rows, o.cols].min() <= reach]
                        hits[(colour, a)].append(int(bool(near)))
                        if near:
                            area_err[colour].append(near[0].area_m2 / a - 1.0)
                        # Pixel false alarms by land-cover class, away from the tarp.
                        xy = w.frame.to_xy(np.column_stack([lo.ravel(), la.ravel()]))
                        fr = w.land_cover.fractions(xy[:, 0], xy[:, 1])
                        cls = np.asarray(LAND_COVER_CLASSES)[np.argmax(fr, axis=-1)]
                        away = d.ravel() > reach + 12.0
                        hot = np.nan_to_num(res.score.ravel()) >= 0.3
                        for c in LAND_COVER_CLASSES:
                            sel = away & (cls == c)
                            pixels[c] += int(sel.sum())
                            flagged[c] += int((sel & hot).sum())
    return {
        "areas": areas,
        "pd": {f"{c}/{a:.0f}m2": float(np.mean(v)) for (c, a), v in hits.items()},
        "n": {f"{c}/{a:.0f}m2": len(v) for (c, a), v in hits.items()},
        "area_error_median": {c: float(np.median(v)) for c, v in area_err.items()},
        "pixel_false_alarm_rate": {
            c: (flagged[c] / pixels[c] if pixels[c] else float("nan")) for c in LAND_COVER_CLASSES
        },
        "pixels": dict(pixels),
    }


def main() -> None:
    """Run the benchmark and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--scenarios", nargs="+", default=["sinaloa", "central"])
    ap.add_argument("--quick", action="store_true", help="fewer placements and sites")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    per_cell = 1 if args.quick else 3
    limit = 6 if args.quick else 1000
    t0 = time.perf_counter()
    with threadpool_limits(1):
        out = {
            "heat_sweep": heat_sweep(args.scenarios, args.seeds, per_cell),
            "sites": scenario_sites(args.scenarios, args.seeds, limit),
            "heat_free": heat_free(args.scenarios, args.seeds, 2 if args.quick else 4),
            "tarp_sweep": tarp_sweep(args.scenarios, args.seeds, per_cell),
        }
    out["wall_s"] = time.perf_counter() - t0
    print_tables(out, args)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def print_tables(out: dict[str, Any], args: argparse.Namespace) -> None:
    hs = out["heat_sweep"]
    print(
        f"Heat and camouflage detectors — scenarios {args.scenarios}, seeds {args.seeds}, "
        f"{out['wall_s']:.0f} s"
    )
    print("\n1. Heat sweep: PD of a 'fire' label (source alone, noon, HyTES class at 6 km)")
    print(
        "   T \\ A m²  "
        + "".join(f"{a:>7}" for a in hs["areas"])
        + "   power est./physical, est./rendered (IQR)"
    )
    for t in hs["temps"]:
        row = "".join(f"{hs['pd'][f'{t:.0f}K/{a}m2']:7.2f}" for a in hs["areas"])
        key = f"{t:.0f}"
        ph = hs["power_ratio_physical_median"].get(key, float("nan"))
        rd = hs["power_ratio_rendered_median"].get(key, float("nan"))
        iqr = hs["power_ratio_rendered_iqr"].get(key, [float("nan")] * 2)
        print(f"   {t:6.0f} K  {row}   {ph:5.2f}, {rd:5.2f} ({iqr[0]:.2f}–{iqr[1]:.2f})")
    n = next(iter(hs["n"].values()))
    print(f"   ({n} placements per cell)")
    st = out["sites"]
    print("\n2. Scenario sites (each under its own line)")
    for k, v in st["heat_pd"].items():
        print(f"   heat  {k:16s} PD {v:5.2f}  (n = {st['heat_n'][k]})")
    print(
        f"   heat  false fires {st['heat_false_fires_per_km2']:.2f} per km² over "
        f"{st['heat_km2']:.1f} km²"
    )
    for k, v in st["tarp_pd"].items():
        print(f"   tarp  {k:22s} PD {v:5.2f}  (n = {st['tarp_n'][k]})")
    print(
        f"   tarp  false objects {st['tarp_false_objects_per_km2']:.2f} per km² over "
        f"{st['vswir_km2']:.1f} km²"
    )
    for k, v in st["branch_pd"].items():
        print(f"   branches {k:13s} PD {v:5.2f}  (n = {st['branch_n'][k]})")
    print(f"   branches/clearing false objects {st['branch_false_objects_per_km2']:.2f} per km²")
    hf = out["heat_free"]
    print(
        f"\n3. Heat-free scenes ({hf['km2']:.1f} km², noon): false fires "
        f"{hf['false_fires_per_km2']:.2f} per km², warm-surface objects "
        f"{hf['warm_surfaces_per_km2']:.1f} per km²"
    )
    ts = out["tarp_sweep"]
    print("\n4. Tarp sweep: PD (tarp alone, AVIRIS-NG class at 6 km, 36 m² pixels)")
    print(
        "   colour \\ A m² " + "".join(f"{a:>7.0f}" for a in ts["areas"]) + "   area error (median)"
    )
    for c in ("blue", "green", "black"):
        row = "".join(f"{ts['pd'][f'{c}/{a:.0f}m2']:7.2f}" for a in ts["areas"])
        print(f"   {c:14s}{row}   {ts['area_error_median'].get(c, float('nan')):+.0%}")
    print("   pixel false-alarm rate (score ≥ 0.3) by dominant land cover:")
    for c, v in ts["pixel_false_alarm_rate"].items():
        print(f"     {c:12s} {v:.1e}  ({ts['pixels'][c]} px)")


if __name__ == "__main__":
    tune_for_arrays()  # as the CLI does (vigia.memory)
    main()
