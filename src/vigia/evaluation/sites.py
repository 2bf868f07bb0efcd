"""Sites against truth: recall, precision, location error and class, fused and pass by pass.

A truth site counts as **observable** when a searched line covered it and it showed something
that line's instrument can see (a plume while emitting, heat, a tarp, a clearing; the same
rule as :mod:`vigia.evaluation.scores`). A fused site is **reported** when its confidence
reaches ``report_at``. A reported site matches the nearest observable truth site within
``gate_m``; each truth site is matched at most once (the most confident site wins).

The single-pass baseline fuses each pass (one line, both instruments) on its own, as if Vigía
had flown once; its figures pool every pass. Fusion must beat it: more of what is there, fewer
false sites, closer positions, better classes.

Pooling passes counts a true site once for every pass that found it and a false one once, so
the two are also compared where that does not matter: at equal recall and over every
confidence threshold (precision–recall curve, average precision; :func:`compare_rankings`).

A matched site's emission rate of each species (one pass's, or combined over the passes,
:mod:`vigia.fuse.emission`) is scored against the truth site's rate while venting
(:func:`emission_errors`, :func:`median_emission_error`).
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

__all__ = [
    "average_precision",
    "compare_rankings",
    "emission_errors",
    "evaluate_sites",
    "median_emission_error",
    "operating_points",
    "precision_at_recall",
    "site_scores",
]

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
            out[str(props["site_id"])] = {
                "lon": lon,
                "lat": lat,
                "kind": props["kind"],
                "emissions_kg_h": dict(props.get("emissions_kg_h") or {}),
            }
    return out


def _ranked(
    sites: Sequence[FusedSite],
    observable: dict[str, dict[str, Any]],
    gate_m: float,
) -> list[tuple[FusedSite, str | None, float]]:
    """Every site, most confident first, with the truth site it matches (greedy, in that order).

    Greedy in confidence order, so the matches of the sites at or above any confidence are the
    same as when only those sites are reported: one ranking gives every operating point.
    """
    ranked = sorted(sites, key=lambda s: (-s.confidence, s.key))
    taken: set[str] = set()
    out: list[tuple[FusedSite, str | None, float]] = []
    for s in ranked:
        best = None
        for sid, t in observable.items():
            if sid in taken:
                continue
            d = distance_m(s.lon, s.lat, t["lon"], t["lat"])
            if d <= gate_m and (best is None or d < best[0]):
                best = (d, sid)
        if best is not None:
            taken.add(best[1])
            out.append((s, best[1], best[0]))
        else:
            out.append((s, None, float("nan")))
    return out


def operating_points(
    ranking: Sequence[tuple[float, bool]], n_observable: int
) -> list[dict[str, float]]:
    """Precision and recall at every confidence threshold of a ranking.

    Parameters
    ----------
    ranking : sequence of (float, bool)
        Each site's confidence and whether it matched a truth site (as ranked by
        :func:`_ranked`; rankings of several scenes or passes may be concatenated).
    n_observable : int
        Truth sites that could have been found.

    Returns
    -------
    list of dict
        One point per distinct confidence, most confident first: ``confidence`` (sites at or
        above it are reported), ``reported``, ``matched``, ``precision``, ``recall``.
    """
    pts: list[dict[str, float]] = []
    rep = hit = 0
    items = sorted(ranking, key=lambda r: -r[0])
    for i, (c, m) in enumerate(items):
        rep += 1
        hit += int(m)
        if i + 1 < len(items) and items[i + 1][0] == c:
            continue  # a tie is one operating point
        pts.append(
            {
                "confidence": c,
                "reported": rep,
                "matched": hit,
                "precision": hit / rep,
                "recall": hit / n_observable if n_observable else float("nan"),
            }
        )
    return pts


def average_precision(ranking: Sequence[tuple[float, bool]], n_observable: int) -> float | None:
    """Area under the precision–recall curve of a ranking (all-point interpolated).

    Precision at each recall is the best precision at that recall or more (PASCAL VOC's
    all-point interpolation); recall a ranking never reaches adds nothing.

    Parameters
    ----------
    ranking : sequence of (float, bool)
        Each site's confidence and whether it matched.
    n_observable : int
        Truth sites that could have been found.

    Returns
    -------
    float or None
        Average precision, 0–1; ``None`` when nothing was observable.

    Examples
    --------
    >>> average_precision([(0.9, True), (0.8, False), (0.7, True)], 2)
    0.8333333333333333
    """
    if n_observable == 0:
        return None
    pts = operating_points(ranking, n_observable)
    ap = 0.0
    prev_recall = 0.0
    for i, p in enumerate(pts):
        best = max(q["precision"] for q in pts[i:])
        ap += (p["recall"] - prev_recall) * best
        prev_recall = p["recall"]
    return ap


def precision_at_recall(
    ranking: Sequence[tuple[float, bool]], n_observable: int, recall: float
) -> dict[str, float] | None:
    """Return the most precise operating point of a ranking that finds at least ``recall``.

    Parameters
    ----------
    ranking : sequence of (float, bool)
        Each site's confidence and whether it matched.
    n_observable : int
        Truth sites that could have been found.
    recall : float
        Recall to reach.

    Returns
    -------
    dict or None
        The point (see :func:`operating_points`), or ``None`` if no threshold reaches it.
    """
    ok = [p for p in operating_points(ranking, n_observable) if p["recall"] >= recall - 1e-12]
    return max(ok, key=lambda p: (p["precision"], p["confidence"])) if ok else None


def emission_errors(
    matches: Sequence[tuple[FusedSite, str]], emissions: dict[str, dict[str, float]]
) -> list[list[Any]]:
    """Pair matched sites' emission rates with their truth sites' rates.

    Parameters
    ----------
    matches : sequence of (FusedSite, str)
        Sites and the truth site id each matched.
    emissions : dict
        Truth site id → species → emission rate while venting, kg/h.

    Returns
    -------
    list of list
        ``[truth site id, species, rate, sigma, truth rate, passes, pass rates]`` for every
        species a site measured and its truth site emits (kg/h; pass rates: each pass's own
        rate, ``emission_kg_h``, of the detections combined).
    """
    out: list[list[Any]] = []
    for s, sid in matches:
        by_id = {d.id: d for d in s.detections}
        for e in s.emissions:
            q = emissions.get(sid, {}).get(e.species)
            if q:
                own = [by_id[i].emission_kg_h for i in e.detection_ids]
                out.append(
                    [
                        sid,
                        e.species,
                        round(e.rate_kg_h, 3),
                        round(e.sigma_kg_h, 3),
                        q,
                        e.passes,
                        [None if x is None else round(x, 3) for x in own],
                    ]
                )
    return out


def median_emission_error(rates: Sequence[Sequence[Any]], *, passes: bool = False) -> float | None:
    """Median |rate / truth − 1| of :func:`emission_errors`' rows (None without any).

    With ``passes``, of each pass's own rate in those rows instead of the combined one.
    """
    if passes:
        errs = [abs(float(x) / float(r[4]) - 1.0) for r in rates for x in r[6] if x is not None]
    else:
        errs = [abs(float(r[2]) / float(r[4]) - 1.0) for r in rates]
    return round(float(np.median(errs)), 3) if errs else None


def _summary(
    ranked: list[tuple[FusedSite, str | None, float]],
    n_observable: int,
    kinds: dict[str, str],
    report_at: float,
    emissions: dict[str, dict[str, float]],
) -> dict[str, Any]:
    reported = [r for r in ranked if r[0].confidence >= report_at]
    matches = [(s, sid, d) for s, sid, d in reported if sid is not None]
    rates = emission_errors([(s, sid) for s, sid, _ in matches], emissions)
    n_reported = len(reported)
    errors = [m[2] for m in matches]
    right = [s.classification.site_class == kinds[sid] for s, sid, _ in matches]
    lab = [s.classification.is_lab == kinds[sid].endswith("_lab") for s, sid, _ in matches]
    n_hit = len(matches)
    ranking = [(round(float(s.confidence), 4), sid is not None) for s, sid, _ in ranked]
    ap = average_precision(ranking, n_observable)
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
        "average_precision": None if ap is None else round(ap, 3),
        "ranking": [[c, m] for c, m in ranking],
        "classes": [[sid, s.classification.site_class == kinds[sid]] for s, sid, _ in matches],
        "location_errors_m": [round(e, 2) for e in errors],
        "emission_rates": rates,
        "median_emission_error": median_emission_error(rates),
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
        truth kind), ``lab_accuracy`` (lab or not, right), ``false_sites``,
        ``average_precision`` (over every confidence threshold, :func:`average_precision`)
        and ``ranking`` (``[confidence, matched]`` of every site, most confident first, at
        any confidence: what the precision–recall curve is drawn from) and ``classes``
        (``[truth site id, class right]`` of every reported match), ``location_errors_m`` (of
        every reported match), ``emission_rates`` (:func:`emission_errors` of every reported
        match; ``observable`` entries may hold the truth's ``emissions_kg_h``) and
        ``median_emission_error``.
    """
    kinds = {sid: str(t["kind"]) for sid, t in observable.items()}
    emissions = {sid: dict(t.get("emissions_kg_h") or {}) for sid, t in observable.items()}
    return _summary(
        _ranked(sites, observable, gate_m), len(observable), kinds, report_at, emissions
    )


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
    n_obs = 0
    ranked: list[tuple[FusedSite, str | None, float]] = []
    kinds: dict[str, str] = {}
    emissions: dict[str, dict[str, float]] = {}
    for p in passes:
        p_lines = [ln for ln in lines if ln.line_id == p]
        p_obs = _observable(truth, p_lines)
        p_sites = fuse([d for d in detections if d.line_id == p], p_lines, at)
        ranked.extend(_ranked(p_sites, p_obs, GATE_M))
        n_obs += len(p_obs)
        kinds.update({sid: str(t["kind"]) for sid, t in p_obs.items()})
        emissions.update({sid: dict(t["emissions_kg_h"]) for sid, t in p_obs.items()})
    ranked.sort(key=lambda r: -r[0].confidence)
    single = _summary(ranked, n_obs, kinds, report_at, emissions)
    return {
        "fused": fused,
        "single_pass": single,
        "passes": len(passes),
        "report_at": report_at,
        "comparison": compare_rankings(single, fused, report_at),
    }


def compare_rankings(
    single: dict[str, Any], fused: dict[str, Any], report_at: float
) -> dict[str, Any] | None:
    """Fused against single-pass sites at the same recall, and over all thresholds.

    Single-pass scoring counts a true site once for every pass that found it, a false site
    once for the pass that made it, so precision at one fixed confidence favours the single
    passes whenever fusion also finds more. The fair comparison is at equal recall: the most
    precise fused threshold that finds at least what the single passes found at
    ``report_at``, and the area under each precision–recall curve.

    Parameters
    ----------
    single, fused : dict
        Scores of :func:`site_scores` (with ``ranking``); rankings of several runs may be
        pooled by concatenating them and summing ``observable``.
    report_at : float
        The single passes' reporting confidence.

    Returns
    -------
    dict or None
        ``single_recall``, ``single_precision`` (at ``report_at``), ``fused_at_that_recall``
        (a point of :func:`operating_points`, or ``None`` if fusion never reaches that
        recall), ``single_average_precision``, ``fused_average_precision``, and class
        accuracy on the same truth sites (``sites_found_by_both``; fused sites against every
        single-pass sighting of them: ``fused_class_accuracy_on_them``,
        ``single_class_accuracy_on_them``); ``None`` when nothing was observable.
    """
    s_rank = [(float(c), bool(m)) for c, m in single["ranking"]]
    f_rank = [(float(c), bool(m)) for c, m in fused["ranking"]]
    n_s, n_f = int(single["observable"]), int(fused["observable"])
    if not n_s or not n_f:
        return None
    at = [m for c, m in s_rank if c >= report_at]
    s_recall = sum(at) / n_s
    point = precision_at_recall(f_rank, n_f, s_recall)
    sap, fap = average_precision(s_rank, n_s), average_precision(f_rank, n_f)
    both = {str(t) for t, _ in fused.get("classes", [])} & {
        str(t) for t, _ in single.get("classes", [])
    }
    f_right = [bool(r) for t, r in fused.get("classes", []) if str(t) in both]
    s_right = [bool(r) for t, r in single.get("classes", []) if str(t) in both]
    return {
        "sites_found_by_both": len(both),
        "fused_class_accuracy_on_them": round(sum(f_right) / len(f_right), 3) if f_right else None,
        "single_class_accuracy_on_them": round(sum(s_right) / len(s_right), 3) if s_right else None,
        "single_recall": round(s_recall, 3),
        "single_precision": round(sum(at) / len(at), 3) if at else None,
        "fused_at_that_recall": None
        if point is None
        else {k: (round(v, 4) if isinstance(v, float) else v) for k, v in point.items()},
        "single_average_precision": None if sap is None else round(sap, 3),
        "fused_average_precision": None if fap is None else round(fap, 3),
    }
