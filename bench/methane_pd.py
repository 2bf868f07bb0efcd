"""Probability of detection of methane sources versus emission rate, on rendered scenes.

    python bench/methane_pd.py [--scenes 3] [--first-seed 0] [--rows 1000] [--cols 200]
                               [--altitude 6000] [--clutter-lag-m M] [--min-peak-z Z]
                               [--false-plumes-per-100km2 R] [--json PATH]

Development used world seeds 0–2; report held-out seeds too (``--first-seed 3 --scenes 6``).

For each scenario (Sinaloa, rural; central Mexico, industrial) and each of ``--scenes``
world seeds, one VSWIR line (AVIRIS-NG class, 1 mrad IFOV: 6 m GSD at the platform's default
6 km, 3 m at ``--altitude 3000``) is rendered by
:func:`vigia.sense.render.render_line` over ground holding only test sources: one per emission
rate in ``--rates``, 2 m high, spread along the line, at a daylight hour whose wind is
3–5 m/s. Plumes are the simulator's (Gaussian plume with turbulent structure). The detector
(:func:`vigia.detect.methane.retrieve_methane` and :func:`methane_plumes`, given the true
wind) never sees the truth; this script joins its plumes to the sources:

* a source is detected if a plume reaches within 3 px of it or puts its source within 10 px;
* location error: pixels from the plume's source to the true one (best plume per source);
* emission error: estimated / true − 1; and how often the stated sigma covers it;
* a false plume reaches no source and covers no pixel of true enhancement ≥ 5 ppm·m;
* **clairvoyant SNR** (an upper bound, not a detector): the matched filter of the source's
  own true enhancement (its own plume alone, as the renderer draws it, ≥ 1 ppm·m within
  60 px; before 2026-12-06 the line's whole truth, which lent a source its neighbours' gas),
  correlated with the retrieved map
  weighted by 1/σ² at the true place, made CFAR by the median and MAD of the same template at
  every place of the line, as the kernel detector's statistic is. A detector that knew each
  plume's exact shape, place and direction could do no better on this map; one that searches
  shapes, places and directions with ≤ 1 false plume per 100 km² needs it above ~5.7
  (``vigia.detect.plumes.kernel_threshold`` for its 60 kernels).
  The bound is the white-noise filter's: with ``--clutter-lag-m`` the detector whitens busy
  ground by its clutter model and may pass it. Below 5 m pixels (``--altitude`` under ~5000)
  the detector's defaults also ask a plume for a pixel of 4.26σ on its own (a seed) and set
  its threshold for 4 false plumes per 100 km² of white noise; the bound asks for neither.
  ``--min-peak-z`` and ``--false-plumes-per-100km2`` (or ``--clutter-lag-m``) replace those
  defaults with the plain ones plus what is given.

Goals: PD ≥ 0.9 for sources ≥ 10 kg/h, ≤ 1 false plume per 100 km², median location error
≤ 2 px, median |emission error| ≤ 25 %. BLAS runs on one thread (threadpoolctl).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from scipy import fft as sp_fft
from threadpoolctl import threadpool_limits

from vigia.detect.methane import methane_plumes, retrieve_methane
from vigia.detect.plumes import PixelGrid, SegmentationSettings, Wind
from vigia.memory import tune_for_arrays
from vigia.platform import load_platform
from vigia.sense.render import _subpixel_points, render_line, site_columns
from vigia.world.scenario import load_scenario
from vigia.world.sites import Site
from vigia.world.world import World, build_world, solar_elevation

RATES = (2.5, 5.0, 10.0, 20.0, 40.0, 80.0)


def daylight_times(world: World, n: int) -> list[Any]:
    """Hours of the scenario window with the sun above 30° and a 3–5 m/s wind."""
    sc = world.scenario
    anchor = sc.areas[0][1].centroid
    out = []
    t = sc.window_start
    while t < sc.window_end and len(out) < n:
        if solar_elevation(anchor.x, anchor.y, t) > 30 and 3.0 <= world.wind_at(t).speed_m_s <= 5.0:
            out.append(t)
        t += timedelta(hours=1)
    return out


def scene(
    name: str,
    seed: int,
    rows: int,
    cols: int,
    rates: tuple[float, ...],
    altitude_m: float = 6000.0,
) -> dict[str, Any]:
    """Render one line with test sources; return cube, truth and the sources."""
    platform = load_platform("mq9")
    gsd = altitude_m * platform.sensor("avirisng").ifov_mrad * 1e-3
    world = build_world(load_scenario(name), seed=seed)
    when = daylight_times(world, seed + 1)[seed]
    anchor = world.scenario.areas[0][1].centroid
    rng = np.random.default_rng([seed, len(name)])
    lon0, lat0 = (
        float(anchor.x) + rng.uniform(-0.02, 0.02),
        float(anchor.y) + rng.uniform(-0.02, 0.02),
    )
    dlat = rows * gsd / 111_320.0
    dlon = gsd / (111_320.0 * math.cos(math.radians(lat0)))
    order = rng.permutation(len(rates))
    sites = []
    for k, i in enumerate(order):
        frac = (k + 0.5) / len(rates)
        col = rng.uniform(-0.3, 0.3) * cols
        sites.append(
            Site(
                f"pd-{seed}-{k}",
                "factory_stack",
                world.scenario.areas[0][0],
                lon0 + col * dlon,
                lat0 + frac * dlat,
                emissions_kg_h={"CH4": float(rates[i])},
                source_height_m=2.0,
            )
        )
    w2 = dataclasses.replace(world, sites=tuple(sites))
    r = render_line(
        w2,
        (lon0, lat0),
        (lon0, lat0 + 1.2 * dlat),
        line_id=f"PD-{name}-{seed}",
        time=when,
        instrument="vswir",
        platform=platform,
        sensor_name="avirisng",
        altitude_m=altitude_m,
        max_frames=rows,
        crosstrack_pixels=cols,
        seed=seed,
    )
    # Each source's own column on the line's pixels (the renderer's plume, same seed): the
    # clairvoyant template of one source must not hold another source's gas.
    lat, lon = r.cube["lat"].values, r.cube["lon"].values
    xy = w2.frame.to_xy(np.column_stack([lon.ravel(), lat.ravel()]))
    x, y = xy[:, 0].reshape(lat.shape), xy[:, 1].reshape(lat.shape)
    points = _subpixel_points(x, y, gsd)  # the renderer's pixel footprints
    wind = world.wind_at(when)
    own = [
        site_columns(
            w2, site, tuple(w2.frame.to_xy(np.array([[site.lon, site.lat]]))[0]), when, points
        )["CH4"]
        for site in sites
    ]
    return {
        "cube": r.cube,
        "truth": r.truth["ch4"].values,
        "own_truth": own,
        "sites": sites,
        "wind": wind,
    }


def clairvoyant_snr(
    e: np.ndarray, sd: np.ndarray, truth: np.ndarray, src: tuple[int, int], radius: int = 60
) -> float:
    """CFAR matched-filter statistic of a source's true enhancement on the retrieved map."""
    r0, c0 = src
    rs = slice(max(0, r0 - radius), r0 + radius + 1)
    cs = slice(max(0, c0 - radius), c0 + radius + 1)
    on = truth[rs, cs] >= 1.0
    if not on.any():
        return math.nan
    rr, cc = np.nonzero(on)
    top, left = rs.start + int(rr.min()), cs.start + int(cc.min())
    h = np.where(on, truth[rs, cs], 0.0)[rr.min() : rr.max() + 1, cc.min() : cc.max() + 1]
    ok = np.isfinite(e) & np.isfinite(sd) & (sd > 0)
    w = np.where(ok, 1.0 / np.where(ok, sd, 1.0) ** 2, 0.0)
    y = np.where(ok, e, 0.0) * w
    kr, kc = h.shape
    f = [sp_fft.next_fast_len(n, real=True) for n in (e.shape[0] + kr - 1, e.shape[1] + kc - 1)]
    hf = h[::-1, ::-1]
    num = sp_fft.irfft2(sp_fft.rfft2(y, f) * sp_fft.rfft2(hf, f), f)
    den = sp_fft.irfft2(sp_fft.rfft2(w, f) * sp_fft.rfft2(hf * hf, f), f)
    # The template anchored at its top-left corner: full-correlation index p + (k − 1).
    num = num[kr - 1 : kr - 1 + e.shape[0], kc - 1 : kc - 1 + e.shape[1]]
    den = den[kr - 1 : kr - 1 + e.shape[0], kc - 1 : kc - 1 + e.shape[1]]
    # Places where the template lies as fully on the map as at the source.
    full = den > 0.8 * float(den[top, left])
    t = np.where(full, num / np.sqrt(np.where(full, den, 1.0)), np.nan)
    vals = t[full]
    med = float(np.median(vals))
    mad = 1.4826 * float(np.median(np.abs(vals - med)))
    return (float(t[top, left]) - med) / mad if mad > 0 else math.nan


def evaluate(
    sc: dict[str, Any], segmentation: SegmentationSettings | None = None
) -> tuple[list[dict[str, Any]], int, float]:
    """Detect and join to truth; return per-source rows, false plumes and area (km²)."""
    cube = sc["cube"]
    lat, lon = cube["lat"].values, cube["lon"].values
    res = retrieve_methane(cube)
    wind = Wind(sc["wind"].speed_m_s, sc["wind"].from_deg)
    plumes = methane_plumes(res, lat, lon, wind=wind, segmentation=segmentation)
    grid = PixelGrid.from_lonlat(lat, lon)
    truth = sc["truth"]
    src_px = []
    for s in sc["sites"]:
        d = (lat - s.lat) ** 2 + ((lon - s.lon) * math.cos(math.radians(s.lat))) ** 2
        src_px.append(np.unravel_index(int(np.argmin(d)), d.shape))
    matched: dict[int, list[Any]] = {i: [] for i in range(len(src_px))}
    false = 0
    for p in plumes:
        hit = None
        for i, (r0, c0) in enumerate(src_px):
            near = np.min(np.hypot(p.rows - r0, p.cols - c0)) <= 3.0
            close = math.hypot(p.source_pixel[0] - r0, p.source_pixel[1] - c0) <= 10.0
            if near or close:
                hit = i
                break
        if hit is None:
            if not np.any(truth[p.rows, p.cols] >= 5.0):
                false += 1
        else:
            matched[hit].append(p)
    rows = []
    for i, s in enumerate(sc["sites"]):
        q = s.emissions_kg_h["CH4"]
        best = max(matched[i], key=lambda p: p.score) if matched[i] else None
        r0, c0 = src_px[i]
        on_line = 0 <= r0 < truth.shape[0] and 0 < c0 < truth.shape[1] - 1
        rows.append(
            {
                "rate_kg_h": q,
                "in_swath": bool(on_line and np.any(truth >= 1.0)),
                "detected": best is not None,
                "location_error_px": None
                if best is None
                else math.hypot(best.source_pixel[0] - r0, best.source_pixel[1] - c0),
                "emission_kg_h": None if best is None else best.emission_kg_h,
                "emission_kg_h_sigma": None if best is None else best.emission_kg_h_sigma,
                "source_in_view": None if best is None else best.source_in_view,
                "emission_error": None
                if best is None or best.emission_kg_h is None
                else best.emission_kg_h / q - 1.0,
                "clairvoyant_snr": clairvoyant_snr(
                    res.enhancement, res.sigma, sc["own_truth"][i], (r0, c0)
                )
                if on_line
                else math.nan,
            }
        )
    area_km2 = float(grid.area_m2.sum()) / 1e6
    return rows, false, area_km2


def main() -> None:
    """Run the scenes and print the PD table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--cols", type=int, default=200)
    ap.add_argument("--rates", type=str, default=",".join(str(r) for r in RATES))
    ap.add_argument("--scenarios", type=str, default="sinaloa,central")
    ap.add_argument("--altitude", type=float, default=6000.0, help="above ground, m")
    ap.add_argument(
        "--clutter-lag-m",
        type=float,
        help="whiten the kernel detector's statistic by a clutter model of this correlation "
        "length on busy ground (SegmentationSettings.clutter_lag_m; default: off)",
    )
    ap.add_argument(
        "--min-peak-z",
        type=float,
        help="drop plumes whose most significant pixel is below this, σ "
        "(SegmentationSettings.min_peak_z; default: off; 4.26 is the seed of pfa 1e-5)",
    )
    ap.add_argument(
        "--false-plumes-per-100km2",
        type=float,
        help="the kernel detector's false-plume budget in white noise, which sets its "
        "threshold (SegmentationSettings.false_plumes_per_100km2)",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    # Without any of these, the detector's defaults for the line's pixel size
    # (SegmentationSettings.for_pixel_size); with any, those given on the plain defaults.
    given = {
        "clutter_lag_m": args.clutter_lag_m,
        "min_peak_z": args.min_peak_z,
        "false_plumes_per_100km2": args.false_plumes_per_100km2,
    }
    chosen = {k: v for k, v in given.items() if v is not None}
    seg = dataclasses.replace(SegmentationSettings(), **chosen) if chosen else None
    rates = tuple(float(r) for r in args.rates.split(","))
    all_rows: list[dict[str, Any]] = []
    false = 0
    area = 0.0
    t0 = time.perf_counter()
    for name in args.scenarios.split(","):
        for seed in range(args.first_seed, args.first_seed + args.scenes):
            sc = scene(name, seed, args.rows, args.cols, rates, args.altitude)
            with threadpool_limits(1):
                rows, f, a = evaluate(sc, seg)
            for r in rows:
                r["scenario"] = name
                r["seed"] = seed
                r["wind_m_s"] = sc["wind"].speed_m_s
            all_rows += rows
            false += f
            area += a
            n_det = sum(r["detected"] for r in rows)
            print(
                f"  {name} seed {seed}: wind {sc['wind'].speed_m_s:.1f} m/s, "
                f"{n_det}/{len(rows)} detected, {f} false plumes ({a:.1f} km²)",
                flush=True,
            )
    print(
        f"Methane PD — {len(all_rows)} sources, {area:.1f} km², altitude {args.altitude:g} m, "
        f"{time.perf_counter() - t0:.0f} s"
    )
    print(
        "  rate kg/h   PD      n   median loc err px   median |emission err|   median emission err"
        "   clairvoyant SNR (median, share ≥ 5.7)"
    )
    for q in rates:
        sel = [r for r in all_rows if r["rate_kg_h"] == q]
        det = [r for r in sel if r["detected"]]
        loc = [r["location_error_px"] for r in det]
        em = [r["emission_error"] for r in det if r["emission_error"] is not None]
        snr = np.array([r["clairvoyant_snr"] for r in sel], dtype=float)
        print(
            f"  {q:8.1f}  {len(det) / max(len(sel), 1):5.2f}  {len(sel):5d}   "
            f"{np.median(loc) if loc else math.nan:8.1f}            "
            f"{np.median(np.abs(em)) if em else math.nan:8.1%}               "
            f"{np.median(em) if em else math.nan:+8.1%}               "
            f"{np.nanmedian(snr) if np.isfinite(snr).any() else math.nan:5.1f}  "
            f"{np.mean(snr >= 5.7):4.2f}"
        )
    det = [r for r in all_rows if r["detected"] and r["rate_kg_h"] >= 10]
    n_big = max(1, sum(r["rate_kg_h"] >= 10 for r in all_rows))
    em = [abs(r["emission_error"]) for r in det if r["emission_error"] is not None]
    loc = [r["location_error_px"] for r in det]
    print(
        f"  sources ≥ 10 kg/h: PD {len(det) / n_big:.2f}, "
        f"median location error {np.median(loc) if loc else math.nan:.1f} px, "
        f"median |emission error| {np.median(em) if em else math.nan:.0%} "
        f"(90th percentile {np.percentile(em, 90) if em else math.nan:.0%}; "
        f"{sum(r['emission_kg_h'] < 0 for r in det if r['emission_kg_h'] is not None)} "
        "rates below zero)"
    )
    snr_big = np.array([r["clairvoyant_snr"] for r in all_rows if r["rate_kg_h"] >= 10])
    print(
        f"  clairvoyant bound: {np.mean(snr_big >= 5.7):.2f} of sources ≥ 10 kg/h reach an SNR "
        "of 5.7 even for a detector that knew each plume's shape and place"
    )
    z = np.array(
        [
            (r["emission_kg_h"] - r["rate_kg_h"]) / r["emission_kg_h_sigma"]
            for r in det
            if r["emission_kg_h"] is not None and r["emission_kg_h_sigma"]
        ]
    )
    if z.size:
        print(
            f"  stated emission sigma: |error| < 1σ for {np.mean(np.abs(z) < 1):.0%} and < 2σ "
            f"for {np.mean(np.abs(z) < 2):.0%} of them (68 % and 95 % if it is right)"
        )
    unseen = sum(not r["source_in_view"] for r in det)
    print(
        f"  of those detected, {unseen} of {len(det)} say their source was not in view "
        "(such plumes only support sites, never make one)"
    )
    print(f"  false plumes: {false} in {area:.1f} km² = {100 * false / area:.1f} per 100 km²")
    if args.json:
        args.json.write_text(
            json.dumps({"rows": all_rows, "false_plumes": false, "area_km2": area}, indent=2)
        )


if __name__ == "__main__":
    tune_for_arrays()  # as the CLI does (vigia.memory)
    main()
