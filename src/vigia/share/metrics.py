"""Agency metrics from released sites' timelines: delays, hit rate, response rate, totals seized.

Each released site has a timeline (first detection, confirmation, release, the partner's
acknowledgement and action, the outcome reported). The metrics answer how fast Vigía gets a site
to the partner, how fast the partner responds and acts, and how often acting on a release finds
a lab:

- **hit rate** = released sites actioned *with findings* (``dismantled`` or ``seizure``) /
  released sites;
- **partner response rate** = acknowledged / released;
- delays as median and 90th percentile in hours, over the sites that reached the later step;
- totals seized per item in canonical units (kg, L, count; a precursor may appear in both kg
  and L).

Rates and delays are ``None`` when nothing was released or nothing reached the step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from vigia.errors import InputError
from vigia.share.units import FINDINGS, OUTCOMES, Quantity

__all__ = ["Delay", "Metrics", "SiteTimeline", "agency_metrics", "format_metrics"]


@dataclass(frozen=True)
class SiteTimeline:
    """What happened to one released site, from first detection to the partner's outcome.

    Attributes
    ----------
    site_id : str
        The site.
    first_detected : datetime
        Time of the site's first detection (UTC, timezone-aware).
    confirmed_at : datetime
        When an analyst confirmed it.
    released_at : datetime
        When it was released to the partner.
    acknowledged_at : datetime or None
        When the partner acknowledged the release.
    actioned_at : datetime or None
        When the partner acted on it (went to the site).
    outcome : str or None
        One of :data:`vigia.share.units.OUTCOMES` once reported; set only with ``actioned_at``.
    quantities : tuple of Quantity
        What a ``seizure`` seized, normalised (:func:`vigia.share.units.normalise_outcome`).
    partner : str
        The partner organisation it was released to (``""`` when not given).

    Raises
    ------
    InputError
        A naive time, times out of order (release before first detection, acknowledgement or
        action before release), an unknown outcome, an outcome without an action time, or
        quantities on anything but a seizure.
    """

    site_id: str
    first_detected: datetime
    confirmed_at: datetime
    released_at: datetime
    acknowledged_at: datetime | None = None
    actioned_at: datetime | None = None
    outcome: str | None = None
    quantities: tuple[Quantity, ...] = ()
    partner: str = ""

    def __post_init__(self) -> None:
        where = f"site {self.site_id}"
        times = {
            "first_detected": self.first_detected,
            "confirmed_at": self.confirmed_at,
            "released_at": self.released_at,
            "acknowledged_at": self.acknowledged_at,
            "actioned_at": self.actioned_at,
        }
        for name, t in times.items():
            if t is not None and t.utcoffset() is None:
                raise InputError(f"{where}: {name} {t.isoformat()} has no time zone")
        if self.released_at < self.first_detected:
            raise InputError(f"{where}: released before it was first detected")
        for name in ("acknowledged_at", "actioned_at"):
            t = times[name]
            if t is not None and t < self.released_at:
                raise InputError(f"{where}: {name} {t.isoformat()} is before the release")
        if self.outcome is not None:
            if self.outcome not in OUTCOMES:
                raise InputError(
                    f"{where}: outcome {self.outcome!r} unknown; outcomes: {', '.join(OUTCOMES)}"
                )
            if self.actioned_at is None:
                raise InputError(f"{where}: outcome {self.outcome!r} without an action time")
        if self.quantities and self.outcome != "seizure":
            raise InputError(f"{where}: quantities on outcome {self.outcome!r}, not a seizure")


@dataclass(frozen=True)
class Delay:
    """A delay over the sites that reached a step, hours.

    Attributes
    ----------
    n : int
        Sites that reached the step.
    median_h, p90_h : float or None
        Median and 90th percentile, hours (``None`` when ``n`` is 0).
    """

    n: int
    median_h: float | None
    p90_h: float | None

    @classmethod
    def of_hours(cls, hours: Sequence[float]) -> Delay:
        """Summarise delays given in hours."""
        if not hours:
            return cls(0, None, None)
        h = np.asarray(hours, dtype=float)
        return cls(len(hours), float(np.median(h)), float(np.percentile(h, 90.0)))

    def to_dict(self) -> dict[str, Any]:
        """Return the delay as JSON-ready values."""
        return {"n": self.n, "median_h": self.median_h, "p90_h": self.p90_h}


@dataclass(frozen=True)
class Metrics:
    """The agency's metrics over a set of released sites.

    Attributes
    ----------
    released, acknowledged, actioned, with_findings : int
        Sites released, acknowledged by the partner, actioned, and actioned with findings.
    outcomes : dict of str to int
        Sites per reported outcome (every outcome listed, zeros included).
    detection_to_release, release_to_acknowledgement, release_to_action : Delay
        Delays, hours.
    hit_rate : float or None
        ``with_findings / released``.
    response_rate : float or None
        ``acknowledged / released``.
    seized : tuple of (item, unit, total)
        Totals seized per item and canonical unit, sorted.
    by_partner : dict of str to Metrics
        The same metrics per partner organisation (empty inside a per-partner entry).
    """

    released: int
    acknowledged: int
    actioned: int
    with_findings: int
    outcomes: dict[str, int]
    detection_to_release: Delay
    release_to_acknowledgement: Delay
    release_to_action: Delay
    hit_rate: float | None
    response_rate: float | None
    seized: tuple[tuple[str, str, float], ...]
    by_partner: dict[str, Metrics] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the metrics as JSON-ready values."""
        return {
            "released": self.released,
            "acknowledged": self.acknowledged,
            "actioned": self.actioned,
            "with_findings": self.with_findings,
            "outcomes": dict(self.outcomes),
            "detection_to_release": self.detection_to_release.to_dict(),
            "release_to_acknowledgement": self.release_to_acknowledgement.to_dict(),
            "release_to_action": self.release_to_action.to_dict(),
            "hit_rate": self.hit_rate,
            "response_rate": self.response_rate,
            "seized": [{"item": i, "unit": u, "total": t} for i, u, t in self.seized],
            "by_partner": {k: v.to_dict() for k, v in sorted(self.by_partner.items())},
        }


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600.0


def _metrics(timelines: Sequence[SiteTimeline]) -> Metrics:
    n = len(timelines)
    acked = [t for t in timelines if t.acknowledged_at is not None]
    actioned = [t for t in timelines if t.actioned_at is not None]
    hits = sum(1 for t in actioned if t.outcome in FINDINGS)
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for t in timelines:
        if t.outcome is not None:
            outcomes[t.outcome] += 1
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for t in timelines:
        for q in t.quantities:
            totals[(q.item, q.unit)] += q.amount
    return Metrics(
        released=n,
        acknowledged=len(acked),
        actioned=len(actioned),
        with_findings=hits,
        outcomes=outcomes,
        detection_to_release=Delay.of_hours(
            [_hours(t.first_detected, t.released_at) for t in timelines]
        ),
        release_to_acknowledgement=Delay.of_hours(
            [_hours(t.released_at, t.acknowledged_at) for t in acked if t.acknowledged_at]
        ),
        release_to_action=Delay.of_hours(
            [_hours(t.released_at, t.actioned_at) for t in actioned if t.actioned_at]
        ),
        hit_rate=hits / n if n else None,
        response_rate=len(acked) / n if n else None,
        seized=tuple((i, u, v) for (i, u), v in sorted(totals.items())),
    )


def agency_metrics(timelines: Iterable[SiteTimeline], *, by_partner: bool = True) -> Metrics:
    """Compute the agency's metrics over released sites.

    Parameters
    ----------
    timelines : iterable of SiteTimeline
        One per released site (a site released to two partners appears once per partner).
    by_partner : bool
        Also compute the metrics of each partner organisation.

    Returns
    -------
    Metrics
        Counts, delays (hours), hit rate, response rate and totals seized; rates and delays
        ``None`` when there is nothing to measure (no crash on empty input).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
    >>> m = agency_metrics([SiteTimeline("S1", t0, t0, t0)])
    >>> (m.released, m.hit_rate, m.response_rate)
    (1, 0.0, 0.0)
    >>> agency_metrics([]).hit_rate is None
    True
    """
    items = list(timelines)
    overall = _metrics(items)
    if not by_partner:
        return overall
    groups: dict[str, list[SiteTimeline]] = defaultdict(list)
    for t in items:
        groups[t.partner].append(t)
    per = {k: _metrics(v) for k, v in sorted(groups.items())}
    return Metrics(**{**overall.__dict__, "by_partner": per})


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f} %"


def _delay(d: Delay) -> str:
    if d.median_h is None or d.p90_h is None:
        return "– (n 0)"
    return f"median {d.median_h:.1f} h, p90 {d.p90_h:.1f} h (n {d.n})"


def _rows(name: str, m: Metrics) -> list[list[str]]:
    return [
        [name, "released", str(m.released)],
        ["", "acknowledged", str(m.acknowledged)],
        ["", "actioned", str(m.actioned)],
        ["", "with findings", str(m.with_findings)],
        ["", "hit rate", _pct(m.hit_rate)],
        ["", "response rate", _pct(m.response_rate)],
        ["", "detection → release", _delay(m.detection_to_release)],
        ["", "release → acknowledgement", _delay(m.release_to_acknowledgement)],
        ["", "release → action", _delay(m.release_to_action)],
        ["", "outcomes", ", ".join(f"{k} {v}" for k, v in m.outcomes.items())],
        *(["", f"seized {i}", f"{t:,.6g} {u}"] for i, u, t in m.seized),
    ]


def format_metrics(m: Metrics) -> str:
    """Format metrics as a small text table for the terminal.

    Parameters
    ----------
    m : Metrics
        What :func:`agency_metrics` returned.

    Returns
    -------
    str
        Three columns (scope, metric, value): all partners, then each partner.
    """
    rows = _rows("all partners", m)
    for name, pm in sorted(m.by_partner.items()):
        if len(m.by_partner) > 1 or name:
            rows += _rows(name or "(no partner)", pm)
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows)
