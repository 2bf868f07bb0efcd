"""How sure Vigía is that a site is real: evidence in log-odds, repeats, misses and age.

Evidence is counted once per **pass**: one flight line over the place, with whichever
instruments imaged it (detections of one kind from the same pass, by one or both instruments,
are not independent; the strongest counts). Each pass adds, for each kind of detection, the
log-likelihood ratio of what it showed:

* a detection of kind k with score s adds ``s × W[k]``, ``W`` the log-likelihood ratio of a
  sure detection of that kind (a methane or solvent plume or a fire is rarely false; a
  clearing often is: natural glades look like one);
* a pass that could have shown k (an instrument that sees k searched the place) but did
  not, where k was seen on another pass, adds ``MISS[k]`` = log(1 − P_repeat[k]): a tarp or
  clearing persists (a miss is telling), a lab vents and cooks intermittently (a missed plume
  or fire says little).

Older passes weigh less: each contribution is multiplied by ``exp(−age / TAU)``, so a site not
seen for weeks fades towards the prior. Confidence is the logistic of the prior log-odds plus
the sum. The weights are set from the detectors' measured behaviour (false alarms per 100 km²,
PD; see the notes of the detection issue) and are the starting point that partner outcomes
recalibrate; they are stated here, not fitted to the simulator.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from vigia.detect.detection import Detection, SearchedLine

__all__ = [
    "MISS",
    "PRIOR_LOG_ODDS",
    "TAU",
    "Look",
    "SiteEvidence",
    "W",
    "looks_at",
    "site_evidence",
]

#: Log-likelihood ratio of a sure detection of each kind (score 1).
W: Final[Mapping[str, float]] = {
    "plume": 3.0,  # a gas plume confirmed by its witness bands or identified by species
    "thermal": 2.5,  # a contextual fire: sun-warmed ground is told apart by the split test
    "tarp": 2.0,  # polyethylene by its C-H bands; farm tarps are real tarps (class tells)
    "clearing": 0.8,  # natural glades and bare patches pass the test too
}
#: Log-odds added by a look that could have seen a kind already seen elsewhere and did not.
MISS: Final[Mapping[str, float]] = {
    "plume": math.log(1.0 - 0.3),  # venting a third of the time or less
    "thermal": math.log(1.0 - 0.4),  # fires are lit for cooks
    "tarp": math.log(1.0 - 0.85),  # a tarp stays; the detector finds most
    "clearing": math.log(1.0 - 0.6),
}
#: Log-odds before any evidence (about 0.18: most candidate places are nothing).
PRIOR_LOG_ODDS: Final = -1.5
#: Time constant of the fading of old evidence.
TAU: Final = timedelta(days=14)
#: What each instrument can show.
_KINDS_BY_SENSOR: Final[Mapping[str, tuple[str, ...]]] = {
    "vswir": ("plume", "tarp", "clearing"),
    "lwir": ("plume", "thermal"),
}


@dataclass(frozen=True)
class Look:
    """One pass over a place (a line, one or both instruments), and what it showed there.

    Attributes
    ----------
    line_id : str
        The line.
    sensors : tuple of str
        The instruments that imaged the place on it.
    time : datetime
        When (UTC).
    seen : dict of str to float
        Kind → best score of the detections of that kind at the place.
    species : tuple of str
        Gas species identified at the place on this look.
    """

    line_id: str
    sensors: tuple[str, ...]
    time: datetime
    seen: dict[str, float]
    species: tuple[str, ...]


@dataclass(frozen=True)
class SiteEvidence:
    """A site's evidence and the confidence it gives.

    Attributes
    ----------
    looks : tuple of Look
        Every pass over the place, oldest first.
    log_odds : float
        Prior plus the faded evidence.
    confidence : float
        Logistic of ``log_odds``, in (0, 1).
    first_seen, last_seen : datetime
        First and last pass with a detection.
    counts : dict of str to tuple of int
        Kind → (passes that showed it, passes that could have).
    reasons : tuple of str
        The evidence in words ("plume on 3 of 4 passes, tarp on 2 of 2, ...").
    """

    looks: tuple[Look, ...]
    log_odds: float
    confidence: float
    first_seen: datetime
    last_seen: datetime
    counts: dict[str, tuple[int, int]]
    reasons: tuple[str, ...]


def _parse(t: str) -> datetime | None:
    return datetime.fromisoformat(t.replace("Z", "+00:00")) if t else None


def looks_at(
    lon: float,
    lat: float,
    members: Sequence[Detection],
    lines: Sequence[SearchedLine],
    footprints: Sequence[BaseGeometry] | None = None,
) -> list[Look]:
    """Every pass over a place: the lines whose footprint holds it, with what they showed there.

    Parameters
    ----------
    lon, lat : float
        The place, degrees.
    members : sequence of Detection
        The detections associated with it.
    lines : sequence of SearchedLine
        Every line searched (one entry per line and instrument).
    footprints : sequence of shapely geometries, optional
        The lines' footprints, in the same order (parsed once by a caller with many places).

    Returns
    -------
    list of Look
        Oldest first; a pass known only by its detections (its line not listed) is kept too.
    """
    here = Point(lon, lat)
    dets_of: dict[str, list[Detection]] = defaultdict(list)
    sensors: dict[str, set[str]] = defaultdict(set)
    times: dict[str, datetime] = {}
    for d in members:
        dets_of[d.line_id].append(d)
        sensors[d.line_id].add(d.sensor)
    shapes = footprints if footprints is not None else [shape(ln.footprint) for ln in lines]
    for ln, fp in zip(lines, shapes, strict=True):
        if ln.sensor in sensors.get(ln.line_id, ()) or fp.covers(here):
            sensors[ln.line_id].add(ln.sensor)
            t = _parse(ln.time_start)
            if t is not None:
                times[ln.line_id] = min(t, times.get(ln.line_id, t))
    out = []
    for line_id, instruments in sensors.items():
        dets = dets_of.get(line_id, [])
        seen: dict[str, float] = {}
        species: set[str] = set()
        for d in dets:
            seen[d.kind] = max(seen.get(d.kind, 0.0), d.score)
            species.update(d.species)
        t = times.get(line_id) or min((d.time for d in dets), default=None)
        if t is None:
            continue
        out.append(Look(line_id, tuple(sorted(instruments)), t, seen, tuple(sorted(species))))
    out.sort(key=lambda lk: (lk.time, lk.line_id))
    return out


def site_evidence(looks: Sequence[Look], now: datetime) -> SiteEvidence:
    """Combine a site's looks into confidence and reasons.

    Parameters
    ----------
    looks : sequence of Look
        From :func:`looks_at`; at least one with a detection.
    now : datetime
        When the confidence is evaluated (UTC): older looks fade.

    Returns
    -------
    SiteEvidence

    Examples
    --------
    >>> from datetime import UTC
    >>> t = datetime(2025, 3, 4, tzinfo=UTC)
    >>> e = site_evidence([Look("L1", ("lwir",), t, {"thermal": 1.0}, ())], t)
    >>> round(e.confidence, 2)
    0.73
    """
    seen_kinds = {k for lk in looks for k in lk.seen}
    total = PRIOR_LOG_ODDS
    counts: dict[str, list[int]] = {k: [0, 0] for k in seen_kinds}
    for lk in looks:
        fade = math.exp(-max((now - lk.time).total_seconds(), 0.0) / TAU.total_seconds())
        visible = {k for sensor in lk.sensors for k in _KINDS_BY_SENSOR.get(sensor, ())}
        for kind in sorted(visible & seen_kinds):
            counts[kind][1] += 1
            if kind in lk.seen:
                counts[kind][0] += 1
                total += fade * lk.seen[kind] * W[kind]
            else:
                total += fade * MISS[kind]
    hits = [lk.time for lk in looks if lk.seen]
    first, last = (min(hits), max(hits)) if hits else (now, now)
    species = sorted({s for lk in looks for s in lk.species})
    reasons = [
        f"{kind} on {n} of {m} pass{'es' if m != 1 else ''}"
        for kind, (n, m) in sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    ]
    if species:
        reasons.append("species " + ", ".join(species))
    age = now - last
    if age > timedelta(days=1):
        reasons.append(f"last seen {age.days} days ago")
    confidence = 1.0 / (1.0 + math.exp(-total))
    return SiteEvidence(
        looks=tuple(looks),
        log_odds=total,
        confidence=confidence,
        first_seen=first,
        last_seen=last,
        counts={k: (v[0], v[1]) for k, v in counts.items()},
        reasons=tuple(reasons),
    )
