"""Scoring detections against ground truth: the one place where truth meets detections.

Each line a detector searched (the detection file's ``lines``) is matched with the truth sites
whose source lies inside its footprint. For every such (site, line) pair the truth says what
the line could show — a plume of each species the site emitted at that moment, heat, a tarp,
cut branches or a clearing — and a detection of that kind on that line within a distance gate
of the source counts as a hit. Detections matched to no site are false detections, counted per
100 km² searched; detections matched to a decoy are kept apart as confusion with decoys. A plume
matched to no site but lying in the true path of a site's gas on that overpass (the truth's
wind, downwind within the reach its emission keeps a mean column of ``PIECE_FLOOR_PPM_M``) is a
**downwind piece**: real gas the detector placed away from its source. It is counted apart, as
neither a hit nor a false detection (the methane benchmark's rule: a plume over true
enhancement is not false).

Probability of detection against emission rate is fitted per species with a logistic model in
log10(rate) (maximum likelihood, SciPy), whose 50 % and 90 % points are the detection limits
(as airborne methane surveys report them: Ayasse et al. 2023, AMT 16:6065).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from scipy.optimize import minimize
from shapely.geometry import Point, shape

from vigia.detect.detection import Detection, SearchedLine
from vigia.detect.plumes import MOLAR_MASS_KG_MOL
from vigia.errors import InputError
from vigia.geo import LocalFrame
from vigia.sense.render import RENDERED_SPECIES

__all__ = [
    "UNSCORED_REASON",
    "Evaluation",
    "Expected",
    "PdFit",
    "evaluate",
    "expected_signals",
    "fit_pd",
    "unscored_text",
]

# Species a VSWIR line can show (the 1.65 and 2.3 µm bands); an LWIR line shows the others the
# simulated LWIR renders. A species neither renders (CO2) is not scored: no cube shows it.
VSWIR_SPECIES = frozenset({"CH4"})
LWIR_SPECIES = RENDERED_SPECIES["lwir"] - VSWIR_SPECIES
UNSCORED_REASON = "no simulated instrument renders it: the truth holds it, no cube shows it"
# Gate on the distance from a detection to a site's source, in pixels of the line and metres
# (whichever is larger): plumes are located by their upwind end, a few pixels uncertain.
GATE_PIXELS = 5.0
GATE_M = 40.0
#: Mean plume column (ppm·m) down to which a site's gas counts as there (the methane benchmark
#: calls a plume over true enhancement of 5 ppm·m or more not false).
PIECE_FLOOR_PPM_M = 5.0
#: Farthest downwind a piece is looked for, m, and the half-angle of the path (tan 30°).
PIECE_MAX_M = 3000.0
_PIECE_TAN = 0.58
#: Horizontal spread σ_y / distance of a plume (Briggs, classes C–D).
_SPREAD = 0.12
#: Moles of air per m³ at 1 atm and 293 K (ideal gas): ppm·m × 1e-6 × this × M is kg/m².
_AIR_MOL_M3 = 101_325.0 / (8.314 * 293.0)


@dataclass(frozen=True)
class Expected:
    """One signal a line could show at one site (from the truth)."""

    site_id: str
    site_kind: str
    is_lab: bool
    line_id: str
    sensor: str
    kind: str  # plume, thermal, tarp, clearing
    species: str | None
    rate_kg_h: float | None
    wind_speed_m_s: float | None
    detected: bool = False
    detection_id: str | None = None
    location_error_m: float | None = None
    location_error_px: float | None = None
    emission_kg_h: float | None = None
    emission_kg_h_sigma: float | None = None


@dataclass(frozen=True)
class PdFit:
    """Logistic fit of detection against log10 emission rate for one species."""

    species: str
    n: int
    n_detected: int
    limit50_kg_h: float | None
    limit90_kg_h: float | None
    a: float
    b: float
    bins: list[dict[str, float]] = field(default_factory=list)

    def pd(self, rate_kg_h: float) -> float:
        """Fitted probability of detection at an emission rate."""
        z = self.a + self.b * math.log10(max(rate_kg_h, 1e-12))
        return 1.0 / (1.0 + math.exp(-z))


@dataclass
class Evaluation:
    """Scores of one detection file against one truth file."""

    expected: list[Expected]
    false_detections: list[str]
    area_km2: dict[str, float]
    pd_fits: dict[str, PdFit]
    confusion: dict[str, dict[str, int]]
    kinds: dict[str, dict[str, float]]
    matched: dict[str, str]
    kind_of: dict[str, str]
    #: Plume id → the site whose gas it lies in, downwind of the source (neither hit nor false).
    downwind_pieces: dict[str, str] = field(default_factory=dict)
    #: Emissions of searched, active sites that no simulated instrument renders (site id,
    #: species, rate): in the truth, in no cube, so neither hit nor miss.
    unscored: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Return the headline figures as plain data (the ``--json`` output)."""
        plumes = [e for e in self.expected if e.kind == "plume"]
        loc_m = [e.location_error_m for e in self.expected if e.location_error_m is not None]
        loc_px = [e.location_error_px for e in self.expected if e.location_error_px is not None]
        rate_err = [
            100.0 * (e.emission_kg_h - e.rate_kg_h) / e.rate_kg_h
            for e in plumes
            if e.emission_kg_h is not None and e.rate_kg_h
        ]
        # How often the stated one-sigma uncertainty covers the error (68 % and 95 % of the
        # detections within 1 and 2 sigma if it is right).
        z = [
            abs(e.emission_kg_h - e.rate_kg_h) / e.emission_kg_h_sigma
            for e in plumes
            if e.emission_kg_h is not None and e.rate_kg_h and e.emission_kg_h_sigma
        ]
        total_area = self.area_km2.get("all", 0.0)
        false_by_kind = Counter(self.kind_of[i] for i in self.false_detections)
        return {
            "searched_km2": {k: round(v, 3) for k, v in self.area_km2.items()},
            "expected_signals": len(self.expected),
            "detected_signals": sum(e.detected for e in self.expected),
            "by_kind": self.kinds,
            "pd_by_species": {
                s: {
                    "n": f.n,
                    "detected": f.n_detected,
                    "limit50_kg_h": f.limit50_kg_h,
                    "limit90_kg_h": f.limit90_kg_h,
                    "bins": f.bins,
                }
                for s, f in sorted(self.pd_fits.items())
            },
            "false_detections": len(self.false_detections),
            "false_per_100km2": (
                round(100.0 * len(self.false_detections) / total_area, 3) if total_area else None
            ),
            "false_per_100km2_by_kind": {
                k: round(100.0 * n / total_area, 3) for k, n in sorted(false_by_kind.items())
            }
            if total_area
            else {},
            "downwind_pieces": len(self.downwind_pieces),
            "median_location_error_m": _median(loc_m),
            "median_location_error_px": _median(loc_px),
            "median_emission_error_pct": _median(rate_err),
            "median_abs_emission_error_pct": _median([abs(v) for v in rate_err]),
            # The tail: a median hides the few rates far off.
            "p90_abs_emission_error_pct": (
                round(float(np.percentile([abs(v) for v in rate_err], 90)), 3) if rate_err else None
            ),
            "emission_sigma_coverage": {
                "n": len(z),
                "within_1_sigma": round(sum(v < 1.0 for v in z) / len(z), 3) if z else None,
                "within_2_sigma": round(sum(v < 2.0 for v in z) / len(z), 3) if z else None,
            },
            "confusion_with_sites": self.confusion,
            "unscored_plumes": {"reason": UNSCORED_REASON, "plumes": self.unscored},
        }


def unscored_text(summary: dict[str, Any]) -> str | None:
    """Say which emissions an evaluation left unscored and why, or ``None`` when none.

    Parameters
    ----------
    summary : dict
        :meth:`Evaluation.summary`.

    Returns
    -------
    str or None
        For example ``"not scored: CO2 of 1 site (no simulated instrument renders it: …)"``.

    Examples
    --------
    >>> unscored_text({"unscored_plumes": {"reason": "unseen", "plumes": [
    ...     {"site_id": "s1", "species": "CO2", "rate_kg_h": 300.0}]}})
    'not scored: CO2 of 1 site (unseen)'
    """
    block = summary.get("unscored_plumes") or {}
    plumes = block.get("plumes") or []
    if not plumes:
        return None
    by_species = Counter(str(p["species"]) for p in plumes)
    what = ", ".join(
        f"{sp} of {n} site{'s' if n != 1 else ''}" for sp, n in sorted(by_species.items())
    )
    return f"not scored: {what} ({block.get('reason', '')})"


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 3) if values else None


def fit_pd(species: str, rates: list[float], hits: list[bool]) -> PdFit:
    """Fit probability of detection against log10(rate) by logistic maximum likelihood.

    Parameters
    ----------
    species : str
        Species name (for the record).
    rates : list of float
        Emission rate of each opportunity, kg/h (> 0).
    hits : list of bool
        Whether each was detected.

    Returns
    -------
    PdFit
        The fit, its 50 % and 90 % limits (None when the data do not bracket them: all hits
        or all misses, or a non-increasing fit) and binned rates of detection (half-decade bins).

    Examples
    --------
    >>> f = fit_pd("CH4", [1, 2, 5, 10, 20, 50, 100] * 3, [0, 0, 0, 1, 1, 1, 1] * 3)
    >>> 5 < f.limit50_kg_h < 10
    True
    """
    x = np.log10(np.maximum(np.asarray(rates, dtype=np.float64), 1e-12))
    y = np.asarray(hits, dtype=np.float64)
    n, k = int(y.size), int(y.sum())
    bins: list[dict[str, float]] = []
    if n:
        edges = np.arange(math.floor(x.min() * 2) / 2, x.max() + 0.5, 0.5)
        for lo in edges:
            sel = (x >= lo) & (x < lo + 0.5)
            if sel.any():
                bins.append(
                    {
                        "rate_lo_kg_h": round(10**lo, 4),
                        "rate_hi_kg_h": round(10 ** (lo + 0.5), 4),
                        "n": int(sel.sum()),
                        "pd": round(float(y[sel].mean()), 3),
                    }
                )
    if n == 0 or k in (0, n):
        return PdFit(species, n, k, None, None, 0.0, 0.0, bins)

    def nll(p: np.ndarray[Any, np.dtype[np.float64]]) -> float:
        z = p[0] + p[1] * x
        # log(1 + e^z) − y z, stably; a weak ridge keeps separable data finite.
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 1e-3 * p[1] ** 2)

    res = minimize(nll, np.array([0.0, 1.0]), method="BFGS")
    a, b = float(res.x[0]), float(res.x[1])
    if b <= 0:
        return PdFit(species, n, k, None, None, a, b, bins)
    lim50 = 10 ** (-a / b)
    lim90 = 10 ** ((math.log(9.0) - a) / b)
    return PdFit(species, n, k, round(lim50, 4), round(lim90, 4), a, b, bins)


def _active(props: dict[str, Any], line_id: str) -> tuple[bool, dict[str, Any] | None]:
    for o in props.get("overpasses", []):
        if o.get("line_id") == line_id:
            return bool(o.get("active")), o
    return False, None


def _downwind_of(d: Detection, sites: list[dict[str, Any]], pixel_m: float) -> str | None:
    # The site (id) in whose true path of gas the plume d lies on its overpass, if any.
    for f in sites:
        props = f["properties"]
        active, overpass = _active(props, d.line_id)
        if not active or overpass is None:
            continue
        speed, wind_from = overpass.get("wind_speed_m_s"), overpass.get("wind_from_deg")
        if not speed or speed <= 0 or wind_from is None:
            continue
        lon, lat = (float(v) for v in f["geometry"]["coordinates"][:2])
        xy = LocalFrame.around(lon, lat).to_xy(np.array([[d.lon, d.lat], [lon, lat]]))
        x, y = xy[0] - xy[1]
        to = math.radians(float(wind_from) + 180.0)
        along = x * math.sin(to) + y * math.cos(to)
        across = abs(-x * math.cos(to) + y * math.sin(to))
        if along <= 0.0 or across > 3.0 * pixel_m + _PIECE_TAN * along:
            continue
        for species in set(d.species) & set(props.get("emissions_kg_h") or {}):
            rate = float(props["emissions_kg_h"][species] or 0.0) / 3600.0  # kg/s
            molar = MOLAR_MASS_KG_MOL.get(species)
            if rate <= 0.0 or molar is None:
                continue
            # Mean centreline column Q / (√(2π) σ_y u) at PIECE_FLOOR_PPM_M, as kg/m².
            floor = PIECE_FLOOR_PPM_M * 1e-6 * _AIR_MOL_M3 * molar
            reach = rate / (math.sqrt(2.0 * math.pi) * _SPREAD * float(speed) * floor)
            if along <= min(reach, PIECE_MAX_M):
                return str(props["site_id"])
    return None


def expected_signals(props: dict[str, Any], line: SearchedLine) -> list[Expected]:
    """List what a line could show of a truth site: plumes per species, heat, cover.

    Parameters
    ----------
    props : dict
        The site's properties in the truth file.
    line : SearchedLine
        The line (its sensor decides what it can see; its id picks the overpass).

    Returns
    -------
    list of Expected
        One per signal; empty when the line could show nothing of the site. A species that
        no simulated instrument renders (:data:`vigia.sense.render.RENDERED_SPECIES`) is not
        a signal of any line (:func:`evaluate` lists it apart).
    """
    active, overpass = _active(props, line.line_id)
    wind = None if overpass is None else overpass.get("wind_speed_m_s")
    base = dict(
        site_id=str(props["site_id"]),
        site_kind=str(props["kind"]),
        is_lab=bool(props.get("is_lab", False)),
        line_id=line.line_id,
        sensor=line.sensor,
        wind_speed_m_s=wind,
    )
    out: list[Expected] = []
    if active:
        shown = VSWIR_SPECIES if line.sensor == "vswir" else LWIR_SPECIES
        for species, rate in sorted(props.get("emissions_kg_h", {}).items()):
            if species in shown and rate > 0:
                out.append(Expected(**base, kind="plume", species=species, rate_kg_h=rate))  # type: ignore[arg-type]
    if line.sensor == "lwir" and props.get("heat_k") is not None and props.get("heat_area_m2", 0):
        out.append(Expected(**base, kind="thermal", species=None, rate_kg_h=None))  # type: ignore[arg-type]
    if line.sensor == "vswir":
        if props.get("camouflage") == "tarp":
            out.append(Expected(**base, kind="tarp", species=None, rate_kg_h=None))  # type: ignore[arg-type]
        if props.get("camouflage") == "branches" or props.get("clearing_radius_m", 0) > 0:
            out.append(Expected(**base, kind="clearing", species=None, rate_kg_h=None))  # type: ignore[arg-type]
    return out


def evaluate(
    truth: dict[str, Any], detections: list[Detection], lines: list[SearchedLine]
) -> Evaluation:
    """Score detections against the truth of the world they were made in.

    Parameters
    ----------
    truth : dict
        The simulator's ``truth.geojson`` (sites with kinds, emissions, overpasses).
    detections : list of Detection
        A detection file's detections.
    lines : list of SearchedLine
        The lines those detections were searched on.

    Returns
    -------
    Evaluation
        Per-signal outcomes, false detections, PD fits per species, confusion with decoys.

    Raises
    ------
    InputError
        If the truth is not a FeatureCollection of sites, or no line was searched.
    """
    if truth.get("type") != "FeatureCollection":
        raise InputError("the truth is not a GeoJSON FeatureCollection")
    if not lines:
        raise InputError("the detection file lists no searched line: nothing to score")
    sites = [f for f in truth.get("features", []) if "site_id" in f.get("properties", {})]
    by_line: dict[tuple[str, str], SearchedLine] = {(ln.line_id, ln.sensor): ln for ln in lines}
    expected: list[Expected] = []
    site_points = {
        str(f["properties"]["site_id"]): (
            float(f["geometry"]["coordinates"][0]),
            float(f["geometry"]["coordinates"][1]),
        )
        for f in sites
    }
    site_props = {str(f["properties"]["site_id"]): f["properties"] for f in sites}
    rendered = set().union(*RENDERED_SPECIES.values())
    unscored: dict[tuple[str, str], dict[str, Any]] = {}
    for ln in lines:
        fp = shape(ln.footprint)
        for f in sites:
            lon, lat = site_points[str(f["properties"]["site_id"])]
            if fp.covers(Point(lon, lat)):
                expected.extend(expected_signals(f["properties"], ln))
                if _active(f["properties"], ln.line_id)[0]:
                    for species, rate in f["properties"].get("emissions_kg_h", {}).items():
                        if species not in rendered and rate > 0:
                            sid = str(f["properties"]["site_id"])
                            unscored[sid, species] = {
                                "site_id": sid,
                                "species": species,
                                "rate_kg_h": float(rate),
                            }
    # Match each detection to the nearest site on its line within the gate.
    matched: dict[str, str] = {}
    distances: dict[str, tuple[float, float]] = {}
    false: list[str] = []
    pieces: dict[str, str] = {}
    for d in detections:
        searched = by_line.get((d.line_id, d.sensor))
        if searched is None:
            continue  # made on a line the file does not list: cannot be scored
        frame = LocalFrame.around(d.lon, d.lat)
        here = frame.to_xy(np.array([[d.lon, d.lat]]))[0]
        pixel = searched.pixel_size_m
        gate = max(GATE_PIXELS * pixel, GATE_M)
        best: tuple[float, str] | None = None
        for sid, (lon, lat) in site_points.items():
            if abs(lon - d.lon) > 0.01 or abs(lat - d.lat) > 0.01:
                continue
            p = frame.to_xy(np.array([[lon, lat]]))[0]
            dist = float(np.hypot(*(p - here)))
            if dist <= gate and (best is None or dist < best[0]):
                best = (dist, sid)
        if best is None:
            piece = _downwind_of(d, sites, pixel) if d.kind == "plume" else None
            if piece is None:
                false.append(d.id)
            else:
                pieces[d.id] = piece
        else:
            matched[d.id] = best[1]
            distances[d.id] = (best[0], best[0] / pixel)
    det_by_id = {d.id: d for d in detections}
    scored: list[Expected] = []
    for e in expected:
        candidates = [
            det_by_id[i]
            for i, sid in matched.items()
            if sid == e.site_id
            and det_by_id[i].line_id == e.line_id
            and det_by_id[i].sensor == e.sensor
            and det_by_id[i].kind == e.kind
            and (e.species is None or e.species in det_by_id[i].species)
        ]
        if candidates:
            hit = max(candidates, key=lambda d: d.score)
            dm, dpx = distances[hit.id]
            emission = emission_sd = None
            if e.kind == "plume" and hit.emission_kg_h is not None and len(hit.species) == 1:
                emission, emission_sd = hit.emission_kg_h, hit.emission_kg_h_sigma
            scored.append(
                Expected(
                    **{
                        **e.__dict__,
                        "detected": True,
                        "detection_id": hit.id,
                        "location_error_m": round(dm, 2),
                        "location_error_px": round(dpx, 3),
                        "emission_kg_h": emission,
                        "emission_kg_h_sigma": emission_sd,
                    }
                )
            )
        else:
            scored.append(e)
    # PD per species against rate.
    rates: dict[str, list[float]] = defaultdict(list)
    hits: dict[str, list[bool]] = defaultdict(list)
    for e in scored:
        if e.kind == "plume" and e.species and e.rate_kg_h:
            rates[e.species].append(e.rate_kg_h)
            hits[e.species].append(e.detected)
    fits = {s: fit_pd(s, rates[s], hits[s]) for s in rates}
    # Confusion: which site kinds each detection kind landed on (decoys included).
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for did, sid in matched.items():
        confusion[det_by_id[did].kind][str(site_props[sid]["kind"])] += 1
    for did in false:
        confusion[det_by_id[did].kind]["none"] += 1
    kinds: dict[str, dict[str, float]] = {}
    for kind in ("plume", "thermal", "tarp", "clearing"):
        sel = [e for e in scored if e.kind == kind]
        if sel:
            kinds[kind] = {
                "expected": len(sel),
                "detected": sum(e.detected for e in sel),
                "pd": round(sum(e.detected for e in sel) / len(sel), 3),
            }
    area: dict[str, float] = {}
    for sensor in [*sorted({ln.sensor for ln in lines}), "all"]:
        union = shapely.union_all(
            [shape(ln.footprint) for ln in lines if sensor in ("all", ln.sensor)]
        )
        c = union.centroid
        area[sensor] = float(LocalFrame.around(c.x, c.y).geom_to_xy(union).area / 1e6)
    return Evaluation(
        expected=scored,
        false_detections=false,
        area_km2=dict(area),
        pd_fits=fits,
        confusion={k: dict(v) for k, v in confusion.items()},
        kinds=kinds,
        matched=matched,
        kind_of={d.id: d.kind for d in detections},
        downwind_pieces=pieces,
        unscored=[unscored[k] for k in sorted(unscored)],
    )
