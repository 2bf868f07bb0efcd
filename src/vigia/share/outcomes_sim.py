"""Partner outcomes **simulated** from the demo world's truth (labelled simulated everywhere).

The demo has no partner in the field, so what a partner would report of a released site is drawn
from what the simulated world holds there. Every number below is a **modelling assumption**
(parametric, chosen to look plausible), not taken from data on real operations:

- a partner acknowledges most releases within hours and acts within days (log-normal delays);
  a few releases are never acknowledged, a few acknowledged ones not acted on yet;
- an operating lab may move on before the raid: an exponential hazard with mean
  :data:`ABANDON_MEAN_H` over the delay from release to action turns it into ``inactive`` (or
  ``nothing_found`` when nothing is left);
- a lab still there is mostly ``dismantled`` or a ``seizure`` (quantities drawn per lab kind,
  reported in mixed units, lb and US gallons among them, so normalisation is exercised);
- a decoy (kiln, charcoal pit, farm tarp ...) or a false site (no truth site within the gate)
  mostly gives ``nothing_found``.

Truth reaches this module only through the truth file, exactly as it reaches the evaluation;
:func:`match_truth` pairs stored sites with truth sites by the evaluation's rule (nearest within
:data:`vigia.evaluation.sites.GATE_M`, each truth site at most once, sites in the order given).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np

from vigia.errors import InputError
from vigia.evaluation.sites import GATE_M
from vigia.fuse.association import distance_m
from vigia.world.sites import LAB_KINDS, SITE_KINDS

__all__ = [
    "ABANDON_MEAN_H",
    "ACK_MEDIAN_H",
    "ACTION_MEDIAN_H",
    "SOURCE",
    "SimulatedOutcome",
    "TruthMatch",
    "match_truth",
    "simulate_outcome",
    "simulate_site_outcomes",
]

SOURCE: Final = "partner outcomes simulated from the demo world's truth (modelled, not reported)"
"""The label every simulated outcome, table and figure carries."""

# --- Modelled parameters (assumptions, not data) --------------------------------------------
P_NO_ACK: Final = 0.08
"""Probability that a partner never acknowledges a release."""
ACK_MEDIAN_H: Final = 6.0
"""Median delay from release to acknowledgement, hours (log-normal)."""
ACK_SPREAD: Final = 2.5
"""Multiplicative 1-sigma spread of the acknowledgement delay."""
P_NOT_ACTIONED: Final = 0.1
"""Probability that an acknowledged release is not acted on (yet)."""
ACTION_MEDIAN_H: Final = 60.0
"""Median delay from release to action, hours (log-normal; never before acknowledgement)."""
ACTION_SPREAD: Final = 2.0
"""Multiplicative 1-sigma spread of the action delay."""
ABANDON_MEAN_H: Final = 24.0 * 21
"""Mean time for an operating lab to move on, hours (exponential hazard over the action delay)."""

LAB_PRESENT_OUTCOMES: Final[dict[str, float]] = {
    "dismantled": 0.45,
    "seizure": 0.45,
    "nothing_found": 0.10,
}
"""Outcome probabilities at an operating lab still there (a raid may miss it)."""
LAB_GONE_OUTCOMES: Final[dict[str, float]] = {"inactive": 0.75, "nothing_found": 0.25}
"""Outcome probabilities at a lab that moved on or was not operating."""
DECOY_OUTCOMES: Final[dict[str, float]] = {"nothing_found": 0.93, "inactive": 0.07}
"""Outcome probabilities at a decoy (a kiln, charcoal pit, farm tarp ...)."""
FALSE_SITE_OUTCOMES: Final[dict[str, float]] = {"nothing_found": 1.0}
"""Outcome probabilities where the truth holds nothing."""

SEIZURE_ITEMS: Final[dict[str, tuple[tuple[str, float, float], ...]]] = {
    # (item, median in kg / L / count, multiplicative spread)
    "rural_lab": (("powder", 12.0, 2.5), ("precursor", 150.0, 2.5), ("equipment", 6.0, 2.0)),
    "industrial_lab": (
        ("powder", 60.0, 2.5),
        ("pills", 20000.0, 3.0),
        ("precursor", 800.0, 2.5),
        ("equipment", 20.0, 2.0),
    ),
}
"""What a seizure at each lab kind holds (each item listed with probability :data:`P_ITEM`)."""
P_ITEM: Final = 0.7
"""Probability that a seizure lists each item of its kind (at least one is always listed)."""
P_IMPERIAL: Final = 0.35
"""Probability that an amount is reported in lb or US gallons rather than kg or L."""
P_PRECURSOR_BY_MASS: Final = 0.3
"""Probability that a precursor is reported by mass (kg or lb) rather than volume."""
_LB_PER_KG: Final = 1.0 / 0.45359237
_GAL_PER_L: Final = 1.0 / 3.785411784
_KG_PER_L_PRECURSOR: Final = 0.9  # typical solvent density, to state a precursor by mass


@dataclass(frozen=True)
class SimulatedOutcome:
    """What the simulated partner reports of one released site.

    Attributes
    ----------
    outcome : str or None
        One of :data:`vigia.share.units.OUTCOMES`, ``None`` when not actioned.
    quantities : tuple of dict
        Raw ``{"item", "amount", "unit"}`` as an officer would type them (seizures only).
    delay_hours_ack, delay_hours_action : float or None
        Hours from release to acknowledgement and to action (``None`` when it did not happen).
    acknowledged_at, actioned_at : datetime or None
        The same as times (UTC).
    note : str
        Free text, saying it is simulated and from what truth.
    source : str
        :data:`SOURCE`.
    """

    outcome: str | None
    quantities: tuple[dict[str, Any], ...]
    delay_hours_ack: float | None
    delay_hours_action: float | None
    acknowledged_at: datetime | None
    actioned_at: datetime | None
    note: str
    source: str = SOURCE


def _lognormal(rng: np.random.Generator, median: float, spread: float) -> float:
    return float(median * math.exp(rng.normal(0.0, math.log(spread))))


def _choice(rng: np.random.Generator, probs: Mapping[str, float]) -> str:
    keys = list(probs)
    w = np.array([probs[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]


def _reported(rng: np.random.Generator, item: str, canonical: float) -> dict[str, Any]:
    # The canonical amount (kg, L or count) as an officer would write it.
    imperial = bool(rng.random() < P_IMPERIAL)
    if item in ("pills", "equipment"):
        step = 10 if item == "pills" else 1
        n = max(1, round(canonical / step)) * step
        unit = str(rng.choice(["pills", "tablets"])) if item == "pills" else "units"
        return {"item": item, "amount": float(n), "unit": unit}
    if item == "precursor" and rng.random() >= P_PRECURSOR_BY_MASS:
        if imperial:
            return {
                "item": item,
                "amount": float(max(1, round(canonical * _GAL_PER_L))),
                "unit": "gal",
            }
        return {"item": item, "amount": float(max(1, round(canonical))), "unit": "L"}
    kg = canonical * (_KG_PER_L_PRECURSOR if item == "precursor" else 1.0)
    if imperial:
        return {"item": item, "amount": float(max(1, round(kg * _LB_PER_KG))), "unit": "lb"}
    return {"item": item, "amount": max(0.1, round(kg, 1)), "unit": "kg"}


def _seizure(rng: np.random.Generator, kind: str) -> tuple[dict[str, Any], ...]:
    model = SEIZURE_ITEMS[kind]
    listed = [m for m in model if rng.random() < P_ITEM] or [model[int(rng.integers(len(model)))]]
    return tuple(_reported(rng, item, _lognormal(rng, med, spread)) for item, med, spread in listed)


def simulate_outcome(
    truth_kind: str | None,
    active: bool,
    rng: np.random.Generator,
    *,
    released_at: datetime,
) -> SimulatedOutcome:
    """Simulate what a partner reports of a released site, from what the truth holds there.

    Parameters
    ----------
    truth_kind : str or None
        Kind of the matched truth site (:data:`vigia.world.sites.SITE_KINDS`); ``None`` for a
        false site (nothing in the truth within the gate).
    active : bool
        Whether the truth site was operating during the surveyed window.
    rng : numpy.random.Generator
        Seeded generator (the only source of randomness).
    released_at : datetime
        Time of the release (timezone-aware UTC).

    Returns
    -------
    SimulatedOutcome
        Outcome (``None`` when the partner did not act), raw quantities, delays and a note
        that says it is simulated.

    Raises
    ------
    InputError
        An unknown kind or a naive release time.
    """
    if truth_kind is not None and truth_kind not in SITE_KINDS:
        raise InputError(f"truth kind {truth_kind!r}: unknown; kinds: {', '.join(SITE_KINDS)}")
    if released_at.utcoffset() is None:
        raise InputError(f"released_at {released_at.isoformat()} has no time zone")
    what = "no truth site" if truth_kind is None else f"truth: {truth_kind}"
    what += ", operating" if truth_kind is not None and active else ""
    if rng.random() < P_NO_ACK:
        return SimulatedOutcome(
            None, (), None, None, None, None, f"SIMULATED ({what}): never acknowledged"
        )
    ack = _lognormal(rng, ACK_MEDIAN_H, ACK_SPREAD)
    acked = released_at + timedelta(hours=ack)
    if rng.random() < P_NOT_ACTIONED:
        return SimulatedOutcome(
            None, (), ack, None, acked, None, f"SIMULATED ({what}): acknowledged, not actioned"
        )
    act = max(ack, _lognormal(rng, ACTION_MEDIAN_H, ACTION_SPREAD))
    acted = released_at + timedelta(hours=act)
    quantities: tuple[dict[str, Any], ...] = ()
    if truth_kind is None:
        outcome = _choice(rng, FALSE_SITE_OUTCOMES)
    elif truth_kind not in LAB_KINDS:
        outcome = _choice(rng, DECOY_OUTCOMES)
    elif active and rng.random() >= 1.0 - math.exp(-act / ABANDON_MEAN_H):
        outcome = _choice(rng, LAB_PRESENT_OUTCOMES)
        if outcome == "seizure":
            quantities = _seizure(rng, truth_kind)
    else:
        outcome = _choice(rng, LAB_GONE_OUTCOMES)
        what += ", moved on before the raid" if active else ""
    return SimulatedOutcome(
        outcome, quantities, ack, act, acked, acted, f"SIMULATED ({what}): {outcome}"
    )


@dataclass(frozen=True)
class TruthMatch:
    """The truth site a stored site stands on.

    Attributes
    ----------
    site_id : str
        Truth site id.
    kind : str
        Its kind (:data:`vigia.world.sites.SITE_KINDS`).
    lon, lat : float
        Its source point, degrees.
    distance_m : float
        Distance from the stored site, m.
    active : bool
        Whether it operated during the surveyed window (the truth lists active periods).
    """

    site_id: str
    kind: str
    lon: float
    lat: float
    distance_m: float
    active: bool


def _truth_sites(truth: Mapping[str, Any]) -> list[TruthMatch]:
    out = []
    for f in truth.get("features", []):
        props = f.get("properties", {})
        if "site_id" not in props or "kind" not in props:
            continue
        lon, lat = (float(v) for v in f["geometry"]["coordinates"][:2])
        periods = props.get("active_periods")
        active = bool(periods) if periods is not None else str(props["kind"]) in LAB_KINDS
        out.append(TruthMatch(str(props["site_id"]), str(props["kind"]), lon, lat, 0.0, active))
    return out


def match_truth(
    points: Sequence[tuple[float, float]],
    truth: Mapping[str, Any],
    *,
    gate_m: float = GATE_M,
) -> list[TruthMatch | None]:
    """Pair stored sites with truth sites: nearest within the gate, each truth site once.

    The evaluation's rule (:mod:`vigia.evaluation.sites`), over every truth site: sites are
    taken in the order given (put the most confident first, as the evaluation does).

    Parameters
    ----------
    points : sequence of (lon, lat)
        Stored sites' locations, degrees.
    truth : mapping
        The simulator's ``truth.geojson``.
    gate_m : float
        Largest distance of a match, m.

    Returns
    -------
    list of TruthMatch or None
        One per point, ``None`` where nothing in the truth lies within the gate.
    """
    sites = _truth_sites(truth)
    taken: set[str] = set()
    out: list[TruthMatch | None] = []
    for lon, lat in points:
        best: TruthMatch | None = None
        for t in sites:
            if t.site_id in taken:
                continue
            d = distance_m(lon, lat, t.lon, t.lat)
            if d <= gate_m and (best is None or d < best.distance_m):
                best = TruthMatch(t.site_id, t.kind, t.lon, t.lat, d, t.active)
        if best is not None:
            taken.add(best.site_id)
        out.append(best)
    return out


def simulate_site_outcomes(
    sites: Sequence[tuple[str, float, float, datetime]],
    truth: Mapping[str, Any],
    *,
    seed: int = 0,
    gate_m: float = GATE_M,
) -> list[tuple[TruthMatch | None, SimulatedOutcome]]:
    """Match released sites to the truth and simulate each one's partner outcome.

    Parameters
    ----------
    sites : sequence of (key, lon, lat, released_at)
        Released sites, most confident first; ``key`` (the site id, or site and partner)
        seeds each site's draw, so one site's outcome does not depend on the others.
    truth : mapping
        The simulator's ``truth.geojson``.
    seed : int
        Seed of the simulation.
    gate_m : float
        Largest distance of a match, m.

    Returns
    -------
    list of (TruthMatch or None, SimulatedOutcome)
        One per site, in order.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 3, 1, tzinfo=timezone.utc)
    >>> [(m, o.note.startswith("SIMULATED")) for m, o in simulate_site_outcomes(
    ...     [("S1", -107.0, 25.0, t)], {"features": []})]
    [(None, True)]
    """
    matches = match_truth([(lon, lat) for _, lon, lat, _ in sites], truth, gate_m=gate_m)
    out = []
    for (key, _, _, released), m in zip(sites, matches, strict=True):
        rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
        kind = None if m is None else m.kind
        out.append(
            (m, simulate_outcome(kind, m is not None and m.active, rng, released_at=released))
        )
    return out
