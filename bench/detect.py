"""Benchmark: Vigía's methane filter against SPy's matched filter, mag1c and one read pass.

    python bench/detect.py [--repeat 3] [--threshold 500] [--cache DIR] [--json PATH]
                           [--scenes 4]

mag1c needs torch (a CPU build is enough): ``pip install -e .[reference]`` where pip finds a
CPU wheel of torch 2.13.0 (this machine's /opt/wheels), else
``pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu`` then
``pip install mag1c==1.2.0`` (PyPI's Linux torch pulls the multi-GB CUDA build).

A 512 × 512 VSWIR cube with 285 bands (an EMIT-like 7.5 nm band set made from the AVIRIS-NG
class profile) is rendered over plume-free ground of the Sinaloa scenario; eight turbulent
Gaussian plumes of known column (:func:`vigia.sense.plume.column_ppm_m`, 50–800 kg/h at
4 m/s) are implanted by Beer–Lambert. Every method reads the same cube in the same run, with
one BLAS (and torch) thread; times are the best of ``--repeat`` runs, peak memory the peak of
traced allocations (tracemalloc; torch's own allocator is not traced, so mag1c's is a lower
bound).

Quality, the same for every method, from its enhancement map (ppm·m) and a common threshold
T (``--threshold``):

* recall: share of plumes with at least 5 of their pixels of truth ≥ T above T;
* false-alarm rate: share of pixels with no plume within 3 pixels (truth < 1 ppm·m) above T;
* bias: Σ estimate / Σ truth − 1 over the pixels of truth ≥ T.

Vigía's map is its sparse map (``sparse_enhancement``: the enhancement inside the regions its
CFAR test finds, 0 elsewhere), the product comparable with mag1c's sparse, non-negative one;
the quality of its dense, unbiased map is printed beside it. "Vigía" runs in the same
2122–2488 nm window as the references (mag1c's default); "Vigía default" with its default
settings (1500–2488 nm, methane's 1.65 µm band too), timed and scored the same way.

Quality is also scored (not timed) on ``--scenes`` − 1 more cubes (default 3): scene k draws
the Sinaloa world with seed k, renders with seed 11 + k and implants the same eight rates with
seed k, so the line crosses other fields, water and roofs and the plumes blow other ways. Each
method's worst over the scenes is printed beside its row per scene, and the targets are
checked against the worst: one scene's figures can flatter a detector.

Vigía's full detector (the plume-shaped spatial matched filter, witness test,
:func:`methane_plumes`) is scored too: plumes found, false plumes. The implanted plumes blow
in random directions, so it runs without a wind (it scans every direction). mag1c needs
torch; when it is missing the bench says so and goes on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage
from threadpoolctl import threadpool_limits

from vigia.detect.methane import MethaneSettings, matched_filter, methane_plumes
from vigia.detect.plumes import PixelGrid
from vigia.memory import tune_for_arrays
from vigia.platform import load_platform
from vigia.sense.gas import ch4_unit_absorption
from vigia.sense.plume import Turbulence, column_ppm_m
from vigia.sense.render import render_line
from vigia.world.scenario import load_scenario
from vigia.world.world import build_world

NOON = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)
WINDOW = (2122.0, 2488.0)
# Vigía in the references' window: no 1.65/1.73 µm witness there.
WINDOWED = MethaneSettings(window_nm=WINDOW, witness_split_nm=None)
RATES_KG_H = (50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 800.0)
WIND_M_S = 4.0


def emit_like_platform() -> Any:
    """The MQ-9 profile with a 285-band, ~7.5 nm, 8.5 nm FWHM VSWIR spectrometer."""
    platform = load_platform("mq9")
    emit = dataclasses.replace(
        platform.sensor("avirisng"), bands=285, spectral_sampling_nm=7.4, fwhm_nm=8.5
    )
    sensors = tuple(emit if s.name == "avirisng" else s for s in platform.sensors)
    return dataclasses.replace(platform, sensors=sensors)


def background(
    size: int, cache: Path | None, world_seed: int = 0, render_seed: int = 11
) -> xr.Dataset:
    """Render (or read from the cache) a plume-free size × size cube over Sinaloa."""
    name = f"bench_detect_{size}.nc"
    if (world_seed, render_seed) != (0, 11):
        name = f"bench_detect_{size}_w{world_seed}_r{render_seed}.nc"
    path = None if cache is None else cache / name
    if path is not None and path.exists():
        return xr.load_dataset(path)
    world = build_world(load_scenario("sinaloa"), seed=world_seed)
    world = dataclasses.replace(world, sites=())
    anchor = world.scenario.areas[0][1].centroid
    lon, lat = float(anchor.x), float(anchor.y)
    r = render_line(
        world,
        (lon, lat),
        (lon, lat + 0.05),
        line_id="BENCH-DETECT",
        time=NOON,
        instrument="vswir",
        platform=emit_like_platform(),
        sensor_name="avirisng",
        altitude_m=6000.0,
        max_frames=size,
        crosstrack_pixels=size,
        seed=render_seed,
    )
    cube = r.cube.load()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        cube.to_netcdf(path)
    return cube


def implant(cube: xr.Dataset, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Implant the bench's plumes; return radiance, truth (ppm·m) and the plume list."""
    grid = PixelGrid.from_lonlat(cube["lat"].values, cube["lon"].values)
    rows, cols = grid.x_m.shape
    rng = np.random.default_rng(seed)
    truth = np.zeros((rows, cols))
    plumes = []
    for i, rate in enumerate(RATES_KG_H):
        r0 = int((i // 2 + 0.5) * rows / 4 - rows / 16)
        c0 = int((i % 2 + 0.5) * cols / 2 - cols / 8)
        wind_from = float(rng.uniform(0.0, 360.0))
        col = column_ppm_m(
            grid.x_m,
            grid.y_m,
            emission_rate_kg_s=rate / 3600.0,
            wind_speed_m_s=WIND_M_S,
            wind_from_deg=wind_from,
            stability="C",
            molar_mass_kg_mol=0.016043,
            source_xy_m=(float(grid.x_m[r0, c0]), float(grid.y_m[r0, c0])),
            turbulence=Turbulence(),
            seed=seed * 100 + i,
        )
        col = np.where(
            np.hypot(grid.x_m - grid.x_m[r0, c0], grid.y_m - grid.y_m[r0, c0]) < 600, col, 0
        )
        truth += col
        plumes.append({"rate_kg_h": rate, "source": (r0, c0), "wind_from_deg": wind_from})
    k = ch4_unit_absorption(cube["wavelengths"].values, cube["fwhm"].values)
    rad = cube["radiance"].values * np.exp(-k[None, None, :] * truth[..., None]).astype(np.float32)
    return rad.astype(np.float32), truth, plumes


def quality(
    est: np.ndarray, truth: np.ndarray, threshold: float, n_plumes: int, labels: np.ndarray
) -> dict[str, float]:
    """Recall, false-alarm rate and bias of one enhancement map (definitions in the notes)."""
    hit = np.nan_to_num(est, nan=-np.inf) > threshold
    strong = truth >= threshold
    found = 0
    for i in range(1, n_plumes + 1):
        mine = strong & (labels == i)
        if mine.sum() >= 5 and (hit & mine).sum() >= 5:
            found += 1
    counted = sum(1 for i in range(1, n_plumes + 1) if (strong & (labels == i)).sum() >= 5)
    clear = ~ndimage.binary_dilation(truth >= 1.0, iterations=3)
    fa = float(hit[clear].mean())
    bias = float(np.nansum(est[strong]) / truth[strong].sum() - 1.0)
    return {
        "recall": found / max(counted, 1),
        "plumes_counted": counted,
        "false_alarm_rate": fa,
        "bias": bias,
    }


def plume_labels(cube: xr.Dataset, truth: np.ndarray, plumes: list[dict[str, Any]]) -> np.ndarray:
    """Label each implanted plume's pixels (truth ≥ 1 ppm·m within 600 m of its source)."""
    grid = PixelGrid.from_lonlat(cube["lat"].values, cube["lon"].values)
    labels = np.zeros(truth.shape, dtype=np.int32)
    for i, p in enumerate(plumes):
        r0, c0 = p["source"]
        near = np.hypot(grid.x_m - grid.x_m[r0, c0], grid.y_m - grid.y_m[r0, c0]) < 600
        labels[near & (truth >= 1.0) & (labels == 0)] = i + 1
    return labels


def scene_methods(
    rad: np.ndarray, wl: np.ndarray, fwhm: np.ndarray
) -> dict[str, Callable[[], np.ndarray]]:
    """Every method's map of one cube (Vigía's sparse maps, SPy, mag1c when installed)."""
    methods: dict[str, Callable[[], np.ndarray]] = {
        "Vigía": lambda: matched_filter(rad, wl, fwhm, settings=WINDOWED).sparse_enhancement,
        "Vigía default": lambda: matched_filter(rad, wl, fwhm).sparse_enhancement,
    }
    methods.update(spy_methods(rad, wl, fwhm))
    m1 = mag1c_method(rad, wl, fwhm)
    if m1 is not None:
        methods["mag1c (core, CPU)"] = m1
    return methods


def other_scene(size: int, cache: Path | None, k: int, threshold: float) -> dict[str, Any]:
    """Quality of every method on scene ``k`` (k ≥ 1): another world, render and plume seed.

    Scene 0 is the timed one (world 0, render seed 11, plumes seed 0); scene k draws the
    Sinaloa world with seed k (its land cover: other fields, water, roofs under the line),
    renders with seed 11 + k and implants the same eight rates with seed k (other wind
    directions and turbulence).
    """
    cube = background(size, cache, world_seed=k, render_seed=11 + k)
    rad, truth, plumes = implant(cube, seed=k)
    labels = plume_labels(cube, truth, plumes)
    wl, fwhm = cube["wavelengths"].values, cube["fwhm"].values
    out: dict[str, Any] = {"scene": k}
    for name, fn in scene_methods(rad, wl, fwhm).items():
        est = np.asarray(fn(), dtype=np.float64)
        out[name] = quality(est, truth, threshold, len(plumes), labels)
    return out


def _q(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("recall", "plumes_counted", "false_alarm_rate", "bias")
    return {k: row[k] for k in keys}


def _worst(scenes: list[dict[str, Any]], method: str) -> dict[str, float]:
    """A method's least recall, highest false-alarm rate and largest |bias| over scenes."""
    qs = [sc[method] for sc in scenes if method in sc]
    return {
        "recall": min(q["recall"] for q in qs),
        "false_alarm_rate": max(q["false_alarm_rate"] for q in qs),
        "bias": max((q["bias"] for q in qs), key=abs),
    }


def print_scenes(scenes: list[dict[str, Any]]) -> None:
    """Print each method's quality on every scene, then its worst over them."""
    methods = [k for k in scenes[0] if k != "scene"]
    print(
        f"  Quality on {len(scenes)} scenes (scene 0 is the timed one; others: another "
        f"world, render and plume seed each), recall / FA / bias per scene, then the worst:"
    )
    for name in methods:
        cells = [
            f"{sc[name]['recall']:.2f}/{sc[name]['false_alarm_rate']:.0e}/{sc[name]['bias']:+.0%}"
            for sc in scenes
            if name in sc
        ]
        w = _worst(scenes, name)
        print(
            f"  {name:18} {'  '.join(cells)}   worst: recall {w['recall']:.2f}, "
            f"FA {w['false_alarm_rate']:.1e}, bias {w['bias']:+.1%}"
        )


def timed(fn: Callable[[], np.ndarray], repeat: int) -> tuple[float, int, np.ndarray]:
    """Best wall time of ``repeat`` runs, peak traced memory of one, and the result."""
    best = math.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out is not None
    return best, peak, out


def spy_methods(
    rad: np.ndarray, wl: np.ndarray, fwhm: np.ndarray
) -> dict[str, Callable[[], np.ndarray]]:
    """SPy's matched filter, global and per column, on the window (target: 1000 ppm·m)."""
    import spectral

    idx = np.flatnonzero((wl >= WINDOW[0]) & (wl <= WINDOW[1]))
    k = ch4_unit_absorption(wl[idx], fwhm[idx])
    ref = 1000.0

    def global_() -> np.ndarray:
        x = rad[:, :, idx]
        stats = spectral.calc_stats(x)
        target = stats.mean * (1.0 - k * ref)
        return np.asarray(spectral.matched_filter(x, target, stats), dtype=np.float64) * ref

    def per_column() -> np.ndarray:
        x = rad[:, :, idx]
        out = np.empty(x.shape[:2])
        for j in range(x.shape[1]):
            col = x[:, j : j + 1, :]
            stats = spectral.calc_stats(col)
            target = stats.mean * (1.0 - k * ref)
            out[:, j] = np.asarray(spectral.matched_filter(col, target, stats)).reshape(-1) * ref
        return out

    return {"SPy global": global_, "SPy per column": per_column}


def mag1c_method(
    rad: np.ndarray, wl: np.ndarray, fwhm: np.ndarray
) -> Callable[[], np.ndarray] | None:
    """mag1c's core (acrwl1mf) column by column as its CLI runs it, or None if absent."""
    try:
        setattr(np, "int", int)  # noqa: B010  # mag1c 1.2 uses np.int, gone in NumPy 2
        import torch
        from mag1c import mag1c as m1
    except ImportError:
        return None
    torch.set_num_threads(1)

    # mag1c 1.2 calls torch.cholesky, which recent torch removed: the same factor.
    def _cholesky(a: Any, upper: bool = False) -> Any:
        low = torch.linalg.cholesky(a)
        return low.mH if upper else low

    torch.cholesky = _cholesky
    idx = np.flatnonzero((wl >= WINDOW[0]) & (wl <= WINDOW[1]) & m1.get_mask_bad_bands(wl))
    template = torch.from_numpy(m1.generate_template_from_bands(wl[idx], fwhm[idx])[:, 1].copy())

    def run() -> np.ndarray:
        x = rad[:, :, idx].astype(np.float64)
        out = np.empty(x.shape[:2])
        for j in range(x.shape[1]):
            col = torch.from_numpy(np.ascontiguousarray(x[:, j, :]))[None]
            keep = torch.ones((1, x.shape[0]), dtype=torch.bool)  # as its CLI passes it
            mf, _ = m1.acrwl1mf(col, template, 30, False, False, False, 1.0, 0.0, keep)
            out[:, j] = mf[0, :, 0].numpy()
        return out

    return run


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threshold", type=float, default=500.0)
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--scenes",
        type=int,
        default=4,
        help="scenes scored (the timed one and scenes 1…N−1 of other seeds; default 4)",
    )
    args = ap.parse_args()
    if args.scenes < 1:
        ap.error("--scenes must be 1 or more")
    cube = background(args.size, args.cache)
    wl = cube["wavelengths"].values
    fwhm = cube["fwhm"].values
    rad, truth, plumes = implant(cube)
    lat, lon = cube["lat"].values, cube["lon"].values
    labels = plume_labels(cube, truth, plumes)
    idx = np.flatnonzero((wl >= WINDOW[0]) & (wl <= WINDOW[1]))
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    results: list[dict[str, Any]] = []
    with threadpool_limits(1):
        t_read, _, _ = timed(lambda: np.asarray(rad.sum()), args.repeat)
        t_window, _, _ = timed(lambda: np.ascontiguousarray(rad[:, :, lo:hi]), args.repeat)

        dense: dict[str, np.ndarray] = {}

        def vigia(settings: MethaneSettings | None, name: str) -> Callable[[], np.ndarray]:
            def run() -> np.ndarray:
                res = matched_filter(rad, wl, fwhm, settings=settings)
                dense[name] = res.enhancement.astype(np.float64)
                return res.sparse_enhancement.astype(np.float64)

            return run

        methods: dict[str, Callable[[], np.ndarray]] = {
            "Vigía": vigia(WINDOWED, "Vigía"),
            "Vigía default": vigia(None, "Vigía default"),
        }
        methods.update(spy_methods(rad, wl, fwhm))
        for name, fn in methods.items():
            t, peak, est = timed(fn, args.repeat)
            q = quality(est, truth, args.threshold, len(plumes), labels)
            row = {"method": name, "time_s": t, "peak_bytes": peak, **q}
            if name in dense:
                row["dense"] = quality(dense[name], truth, args.threshold, len(plumes), labels)
            results.append(row)
        m1 = mag1c_method(rad, wl, fwhm)
        if m1 is not None:
            t, peak, est = timed(m1, 1)
            q = quality(est, truth, args.threshold, len(plumes), labels)
            results.append({"method": "mag1c (core, CPU)", "time_s": t, "peak_bytes": peak, **q})
        t0 = time.perf_counter()
        res = matched_filter(rad, wl, fwhm)
        found = methane_plumes(res, lat, lon, wind=None)
        t_detector = time.perf_counter() - t0
        scenes: list[dict[str, Any]] = [{"scene": 0, **{r["method"]: _q(r) for r in results}}]
        for k in range(1, args.scenes):
            scenes.append(other_scene(args.size, args.cache, k, args.threshold))
    hits: set[int] = set()
    false = 0
    mask = np.zeros(truth.shape, dtype=bool)
    for p in found:
        mask[p.rows, p.cols] = True
        lab = labels[p.rows, p.cols]
        lab = lab[lab > 0]
        if lab.size:
            hits.add(int(np.bincount(lab).argmax()))
        else:
            false += 1
    clear = ~ndimage.binary_dilation(truth >= 1.0, iterations=3)
    print(
        f"Methane filter benchmark — {rad.shape[0]}×{rad.shape[1]} px, {rad.shape[2]} bands "
        f"({idx.size} in {WINDOW[0]:.0f}–{WINDOW[1]:.0f} nm), 1 thread, best of {args.repeat}; "
        f"threshold {args.threshold:.0f} ppm·m"
    )
    print(
        f"  one read pass over the cube: {t_read * 1e3:.1f} ms "
        f"({rad.nbytes / t_read / 1e9:.1f} GB/s); copying the window out: {t_window * 1e3:.1f} ms"
    )
    vig = results[0]
    for r in results:
        print(
            f"  {r['method']:18} {r['time_s']:7.3f} s ({r['time_s'] / t_read:5.0f}× read, "
            f"{r['time_s'] / vig['time_s']:5.2f}× Vigía)  peak {r['peak_bytes'] / 2**20:6.1f} MiB"
            f"  recall {r['recall']:.2f} of {r['plumes_counted']}  FA {r['false_alarm_rate']:.1e}"
            f"  bias {r['bias']:+.1%}"
        )
        if "dense" in r:
            d = r["dense"]
            print(
                f"  {'':18} (its dense map: recall {d['recall']:.2f}  FA "
                f"{d['false_alarm_rate']:.1e}  bias {d['bias']:+.1%})"
            )
    print_scenes(scenes)
    worst = _worst(scenes, "Vigía")
    if m1 is None:
        print("  mag1c not installed: skipped (see the module notes to install it)")
    else:
        m = results[-1]
        least = min(sc[m["method"]]["recall"] for sc in scenes)
        print(
            f"  Vigía is {m['time_s'] / vig['time_s']:.1f}× faster than mag1c (target ≥ 25×); "
            f"over the {len(scenes)} scenes: least recall {worst['recall']:.2f} vs mag1c's "
            f"{least:.2f} (target: mag1c's or better), highest FA "
            f"{worst['false_alarm_rate']:.1e} (target ≤ 1e-4), worst bias {worst['bias']:+.1%} "
            f"(target |bias| ≤ 10 %)"
        )
    spy_col = next(r for r in results if r["method"] == "SPy per column")
    print(f"  Vigía / SPy per column time: {vig['time_s'] / spy_col['time_s']:.2f} (target ≤ 1)")
    print(
        f"  Vigía detector (default filter, plume matched filter in every direction, witness; "
        f"{t_detector:.2f} s): "
        f"{len(hits)}/{len(plumes)} plumes found, {false} false plumes, "
        f"pixel false-alarm rate {mask[clear].mean():.1e}"
    )
    if args.json:
        summary = {
            "results": results,
            "read_s": t_read,
            "plumes_found": len(hits),
            "false_plumes": false,
            "detector_pixel_false_alarm_rate": float(mask[clear].mean()),
            "scenes": scenes,
        }
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    tune_for_arrays()  # as the CLI does (vigia.memory)
    main()
