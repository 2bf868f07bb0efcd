"""Sites against truth: recall, precision, location error and class, fused and pass by pass.

A truth site counts as **observable** when a searched line covered it and it showed something
that line's instrument can see (a plume while emitting, heat, a tarp, a clearing; the same
rule as :mod:`vigia.evaluation.scores`). A fused site is **reported** when its confidence
reaches ``report_at``. A reported site matches the nearest observable truth site within
``gate_m``; each truth site is matched at most once (the most confident site wins).

The single-pass baseline fuses each pass (one line, both instruments) on its own, as if Vigía
had flown once; its figures pool every pass. Fusion must beat it: more of what is there, fewer
false sites, closer positions, better classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from shapely.geometry import Point, shape

from vigia.detect.detection import Detection, SearchedLine
from vigia.evaluation.scores import expected_signals
from vigia.fuse.association import distance_m
from vigia.fuse.sites import FusedSite, fuse

__all__ = ["evaluate_sites", "site_scores"]

GATE_M = 60.0


def _observable(truth: dict[str, Any], lines: Sequence[SearchedLine]) -> dict[str, dict[str, Any]]:
    shapes = [(ln, shape(ln.footprint)) for ln in lines]
    out = {}
    for f in truth.get("features", []):
        props = f.get("properties", {})
        if "site_id" not in props:
            continue
        lon, lat = (float(v) for v in f["geometry"]["coordinates"][:2])
        here = Point(lon, lat)
        if any(fp.covers(here) and expected_signals(props, ln) for ln, fp in shapes):
            out[str(props["site_id"])] = {"lon": lon, "lat": lat, "kind": props["kind"]}
    return out


def _match(
    sites: Sequence[FusedSite],
    observable: dict[str, dict[str, Any]],
    report_at: float,
    gate_m: float,
) -> tuple[int, list[tuple[FusedSite, str, float]]]:
    reported = sorted(
        (s for s in sites if s.confidence >= report_at), key=lambda s: (-s.confidence, s.key)
    )
    taken: set[str] = set()
    matches = []
    for s in reported:
        best = None
        for sid, t in observable.items():
            if sid in taken:
                continue
            d = distance_m(s.lon, s.lat, t["lon"], t["lat"])
            if d <= gate_m and (best is None or d < best[0]):
                best = (d, sid)
        if best is not None:
            taken.add(best[1])
            matches.append((s, best[1], best[0]))
    return len(reported), matches


def _summary(
    n_reported: int,
    n_observable: int,
    matches: list[tuple[FusedSite, str, float]],
    kinds: dict[str, str],
) -> dict[str, Any]:
    errors = [m[2] for m in matches]
    right = [s.classification.site_class == kinds[sid] for s, sid, _ in matches]
    lab = [s.classification.is_lab == kinds[sid].endswith("_lab") for s, sid, _ in matches]
    n_hit = len(matches)
    return {
        "reported": n_reported,
        "matched": n_hit,
        "observable": n_observable,
        "false_sites": n_reported - n_hit,
        "recall": round(n_hit / n_observable, 3) if n_observable else None,
        "precision": round(n_hit / n_reported, 3) if n_reported else None,
        "median_location_error_m": round(float(np.median(errors)), 2) if errors else None,
        "class_accuracy": round(float(np.mean(right)), 3) if right else None,
        "lab_accuracy": round(float(np.mean(lab)), 3) if lab else None,
    }


def site_scores(
    sites: Sequence[FusedSite],
    observable: dict[str, dict[str, Any]],
    *,
    report_at: float = 0.5,
    gate_m: float = GATE_M,
) -> dict[str, Any]:
    """Score fused sites against the observable truth sites.

    Parameters
    ----------
    sites : sequence of FusedSite
        Fused sites.
    observable : dict
        ``site_id → {"lon", "lat", "kind"}`` of the truth sites the lines could show.
    report_at : float
        Confidence from which a site is reported.
    gate_m : float
        Largest distance of a match, m.

    Returns
    -------
    dict
        ``reported``, ``matched``, ``observable``, ``recall``, ``precision``,
        ``median_location_error_m``, ``class_accuracy`` (matched sites whose class is the
        truth kind), ``lab_accuracy`` (lab or not, right), ``false_sites``.
    """
    n_rep, matches = _match(sites, observable, report_at, gate_m)
    kinds = {sid: str(t["kind"]) for sid, t in observable.items()}
    return _summary(n_rep, len(observable), matches, kinds)


def evaluate_sites(
    truth: dict[str, Any],
    detections: Sequence[Detection],
    lines: Sequence[SearchedLine],
    now: datetime | None = None,
    *,
    report_at: float = 0.5,
) -> dict[str, Any]:
    """Sites from all passes fused, and from each pass alone, against the truth.

    Parameters
    ----------
    truth : dict
        The simulator's ``truth.geojson``.
    detections : sequence of Detection
        Every detection.
    lines : sequence of SearchedLine
        Every searched line.
    now : datetime, optional
        Time of the confidences (default: the last line's end).
    report_at : float
        Confidence from which a site is reported.

    Returns
    -------
    dict
        ``{"fused": scores, "single_pass": scores, "passes": n, "report_at": ...}`` with the
        scores of :func:`site_scores` (single pass: every pass fused alone, pooled).
    """
    ends = [
        datetime.fromisoformat(ln.time_end.replace("Z", "+00:00")) for ln in lines if ln.time_end
    ]
    at = now or (max(ends) if ends else max((d.time for d in detections), default=None))
    if at is None:
        return {"fused": None, "single_pass": None, "passes": 0, "report_at": report_at}
    observable = _observable(truth, lines)
    fused = site_scores(fuse(detections, lines, at), observable, report_at=report_at)
    passes = sorted({ln.line_id for ln in lines})
    n_rep = n_obs = 0
    matches: list[tuple[FusedSite, str, float]] = []
    kinds: dict[str, str] = {}
    for p in passes:
        p_lines = [ln for ln in lines if ln.line_id == p]
        p_obs = _observable(truth, p_lines)
        p_sites = fuse([d for d in detections if d.line_id == p], p_lines, at)
        r, m = _match(p_sites, p_obs, report_at, GATE_M)
        n_rep += r
        n_obs += len(p_obs)
        matches.extend(m)
        kinds.update({sid: str(t["kind"]) for sid, t in p_obs.items()})
    single = _summary(n_rep, n_obs, matches, kinds)
    return {"fused": fused, "single_pass": single, "passes": len(passes), "report_at": report_at}
