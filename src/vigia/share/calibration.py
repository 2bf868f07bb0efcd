"""Calibrating site confidence on partner outcomes, and measuring how well it predicts.

Partner outcomes are the only ground truth a deployment ever gets. Each released site with an
outcome gives a pair (raw confidence ``p``, label ``y``) and a calibrator maps ``p`` to the
frequency at which sites of that confidence turned out to be labs.

**Label convention** (:func:`outcome_label`). The label means *a lab was there when it was
flown*:

- ``dismantled`` and ``seizure`` → 1 (the partner found a lab);
- ``nothing_found`` → 0;
- ``inactive`` → **excluded** by default. The partner found a site that was not operating: a
  lab that moved on or paused between the flight and the raid, or remains that were never what
  the detection saw. Counting it as 0 would punish detections that were right but reached the
  partner late (the partner's delay, not the confidence, decided it); counting it as 1 would
  reward old or ambiguous evidence. It is censored, not a label; metrics still count it.
  ``inactive="negative"`` or ``"positive"`` override this for a sensitivity check.

**Methods.** Isotonic regression (:func:`scipy.optimize.isotonic_regression`; Zadrozny & Elkan
2002) is the non-parametric choice and needs many outcomes; Platt scaling (Platt 1999), a
logistic curve on ``logit(p)``, has two parameters and works with few. Our Platt fit carries a
Gaussian prior centred on the identity (slope 1, intercept 0; precision :data:`PLATT_PRIOR`) so
that a handful of outcomes, or outcomes all of one label, move the raw confidence only a little
instead of sending it to 0 or 1. ``method="auto"`` uses Platt below :data:`AUTO_ISOTONIC_FROM`
outcomes and isotonic from there (isotonic step functions are too noisy below ~50 points;
Niculescu-Mizil & Caruana 2005). Both are monotone non-decreasing, so calibration never
reorders sites; both clip to ``[EPS, 1 − EPS]``.

**Prospective evaluation** (:func:`prospective_evaluation`) answers "how well does the
calibrated confidence predict the *next* outcomes": outcomes in time order, each scored by a
calibrator fitted only on the outcomes before it (rolling origin), raw against calibrated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import isotonic_regression, minimize
from scipy.special import expit, logit

from vigia.errors import InputError
from vigia.share.units import OUTCOMES

__all__ = [
    "AUTO_ISOTONIC_FROM",
    "EPS",
    "PLATT_PRIOR",
    "Calibrator",
    "ProspectiveEvaluation",
    "Reliability",
    "Scores",
    "brier",
    "expected_calibration_error",
    "fit_calibrator",
    "log_loss",
    "outcome_label",
    "outcome_labels",
    "prospective_evaluation",
    "reliability",
    "scores",
]

EPS: Final = 1e-3
"""Calibrated probabilities are clipped to ``[EPS, 1 − EPS]`` (finite log loss)."""

PLATT_PRIOR: Final = 1.0
"""Precision of the Platt prior on (slope − 1, intercept): about one pseudo-outcome's weight."""

AUTO_ISOTONIC_FROM: Final = 50
"""``method="auto"`` fits isotonic regression from this many outcomes, Platt below."""

Method = Literal["isotonic", "platt", "auto"]
InactiveAs = Literal["exclude", "negative", "positive"]


def outcome_label(outcome: str, *, inactive: InactiveAs = "exclude") -> int | None:
    """Map a partner outcome to a calibration label.

    Parameters
    ----------
    outcome : str
        One of :data:`vigia.share.units.OUTCOMES`.
    inactive : {"exclude", "negative", "positive"}
        What an ``inactive`` outcome counts as (see the module notes; default excluded).

    Returns
    -------
    int or None
        1 for ``dismantled`` and ``seizure``, 0 for ``nothing_found``, ``None`` when excluded.

    Raises
    ------
    InputError
        An unknown outcome or ``inactive`` choice.

    Examples
    --------
    >>> [outcome_label(o) for o in ("dismantled", "nothing_found", "inactive", "seizure")]
    [1, 0, None, 1]
    """
    if outcome not in OUTCOMES:
        raise InputError(f"outcome {outcome!r}: unknown; outcomes: {', '.join(OUTCOMES)}")
    if outcome in ("dismantled", "seizure"):
        return 1
    if outcome == "nothing_found":
        return 0
    choices = {"exclude": None, "negative": 0, "positive": 1}
    if inactive not in choices:
        raise InputError(f"inactive={inactive!r}: choose one of {', '.join(choices)}")
    return choices[inactive]


def outcome_labels(
    outcomes: Sequence[str], *, inactive: InactiveAs = "exclude"
) -> tuple[NDArray[np.bool_], NDArray[np.int8]]:
    """Labels of many outcomes, with a mask of those that count.

    Parameters
    ----------
    outcomes : sequence of str
        Partner outcomes.
    inactive : {"exclude", "negative", "positive"}
        See :func:`outcome_label`.

    Returns
    -------
    used : (n,) bool
        True where the outcome gives a label.
    y : (used.sum(),) int8
        The labels of the outcomes used, in order.
    """
    labels = [outcome_label(o, inactive=inactive) for o in outcomes]
    used = np.array([v is not None for v in labels], dtype=bool)
    y = np.array([v for v in labels if v is not None], dtype=np.int8)
    return used, y


def _pairs(p: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    pa = np.asarray(p, dtype=float).ravel()
    ya = np.asarray(y, dtype=float).ravel()
    if pa.shape != ya.shape:
        raise InputError(f"{pa.size} confidences but {ya.size} labels")
    if not np.all(np.isfinite(pa)) or np.any((pa < 0.0) | (pa > 1.0)):
        raise InputError("confidences must be finite and in [0, 1]")
    if np.any((ya != 0.0) & (ya != 1.0)):
        raise InputError("labels must be 0 or 1")
    return pa, ya


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = logit(np.clip(p, 1e-6, 1.0 - 1e-6))
    return out


@dataclass(frozen=True, eq=False)
class Calibrator:
    """A fitted map from raw site confidence to calibrated probability.

    Attributes
    ----------
    method : str
        ``"isotonic"``, ``"platt"`` or ``"identity"`` (nothing to fit on).
    n : int
        Outcomes it was fitted on.
    n_positive : int
        Of which labelled 1.
    slope, intercept : float
        Platt parameters: ``q = expit(slope · logit(p) + intercept)`` (1 and 0 otherwise).
    knots_p, knots_q : tuple of float
        Isotonic fit: calibrated value ``knots_q[i]`` at raw confidence ``knots_p[i]``;
        linear in between, flat outside (empty otherwise).

    Examples
    --------
    >>> c = fit_calibrator([0.2, 0.4, 0.6, 0.8], [0, 0, 1, 1], method="isotonic")
    >>> c([0.1, 0.5, 0.9]).round(3).tolist()
    [0.001, 0.5, 0.999]
    """

    method: str
    n: int
    n_positive: int
    slope: float = 1.0
    intercept: float = 0.0
    knots_p: tuple[float, ...] = field(default=())
    knots_q: tuple[float, ...] = field(default=())

    def __call__(self, p: ArrayLike) -> NDArray[np.float64]:
        """Calibrate raw confidences ``p`` (any shape, in [0, 1]); same shape out."""
        pa = np.asarray(p, dtype=float)
        if self.method == "isotonic":
            q = np.interp(pa, np.asarray(self.knots_p), np.asarray(self.knots_q))
        elif self.method == "platt":
            q = expit(self.slope * _logit(pa) + self.intercept)
        else:
            q = pa
        out: NDArray[np.float64] = np.clip(q, EPS, 1.0 - EPS)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the calibrator as JSON-ready values."""
        return {
            "method": self.method,
            "n": self.n,
            "n_positive": self.n_positive,
            "slope": self.slope,
            "intercept": self.intercept,
            "knots_p": list(self.knots_p),
            "knots_q": list(self.knots_q),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        """Rebuild a calibrator written by :meth:`to_dict`."""
        return cls(
            method=str(d["method"]),
            n=int(d["n"]),
            n_positive=int(d["n_positive"]),
            slope=float(d.get("slope", 1.0)),
            intercept=float(d.get("intercept", 0.0)),
            knots_p=tuple(float(v) for v in d.get("knots_p", ())),
            knots_q=tuple(float(v) for v in d.get("knots_q", ())),
        )


def _fit_isotonic(p: NDArray[np.float64], y: NDArray[np.float64]) -> Calibrator:
    # Ties in p are pooled first (one point per distinct confidence, weighted by its count).
    xs, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    w = counts.astype(float)
    means = np.bincount(inverse, weights=y) / w
    fit = isotonic_regression(means, weights=w, increasing=True)
    # One knot per fitted block, at the block's mean confidence, linear in between ("centred
    # isotonic regression", Oron & Flournoy 2017): less biased than the raw step function.
    starts = np.asarray(fit.blocks[:-1])
    knot_p = np.add.reduceat(xs * w, starts) / np.add.reduceat(w, starts)
    knot_q = np.asarray(fit.x)[starts]
    return Calibrator(
        "isotonic",
        n=int(p.size),
        n_positive=int(y.sum()),
        knots_p=tuple(float(v) for v in knot_p),
        knots_q=tuple(float(v) for v in np.clip(knot_q, EPS, 1.0 - EPS)),
    )


def _fit_platt(p: NDArray[np.float64], y: NDArray[np.float64]) -> Calibrator:
    z = _logit(p)

    def objective(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        a, b = theta
        s = a * z + b
        # Negative log-likelihood of Bernoulli(expit(s)), written stably: log(1 + e^s) - y s.
        nll = float(np.sum(np.logaddexp(0.0, s) - y * s))
        r = expit(s) - y
        prior = 0.5 * PLATT_PRIOR * ((a - 1.0) ** 2 + b**2)
        grad = np.array(
            [np.sum(r * z) + PLATT_PRIOR * (a - 1.0), np.sum(r) + PLATT_PRIOR * b], dtype=float
        )
        return nll + prior, grad

    # Slope ≥ 0 keeps the map non-decreasing: calibration must not reorder sites.
    res = minimize(
        objective,
        np.array([1.0, 0.0]),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None), (None, None)],
    )
    a, b = (float(v) for v in res.x)
    return Calibrator("platt", n=int(p.size), n_positive=int(y.sum()), slope=a, intercept=b)


def fit_calibrator(p: ArrayLike, y: ArrayLike, method: Method = "auto") -> Calibrator:
    """Fit a calibrator of site confidence on outcomes.

    Parameters
    ----------
    p : (n,) array_like of float
        Raw confidences of released sites with an outcome, in [0, 1].
    y : (n,) array_like of {0, 1}
        Their labels (:func:`outcome_labels`).
    method : {"auto", "isotonic", "platt"}
        ``"auto"``: Platt below :data:`AUTO_ISOTONIC_FROM` outcomes, isotonic from there.

    Returns
    -------
    Calibrator
        Monotone non-decreasing; the identity when there is no outcome.

    Raises
    ------
    InputError
        Mismatched lengths, confidences outside [0, 1], labels other than 0 and 1, or an
        unknown method.
    """
    pa, ya = _pairs(p, y)
    if method not in ("auto", "isotonic", "platt"):
        raise InputError(f"method {method!r}: choose auto, isotonic or platt")
    if pa.size == 0:
        return Calibrator("identity", n=0, n_positive=0)
    if method == "auto":
        method = "isotonic" if pa.size >= AUTO_ISOTONIC_FROM else "platt"
    return _fit_isotonic(pa, ya) if method == "isotonic" else _fit_platt(pa, ya)


@dataclass(frozen=True, eq=False)
class Reliability:
    """A reliability diagram's numbers: equal-width confidence bins over [0, 1].

    Attributes
    ----------
    edges : (bins + 1,) float
        Bin edges.
    mean_predicted : (bins,) float
        Mean confidence in each bin (NaN when empty).
    observed : (bins,) float
        Fraction labelled 1 in each bin (NaN when empty).
    counts : (bins,) int
        Outcomes in each bin.
    """

    edges: NDArray[np.float64]
    mean_predicted: NDArray[np.float64]
    observed: NDArray[np.float64]
    counts: NDArray[np.int64]

    def to_dict(self) -> dict[str, Any]:
        """Return the bins as JSON-ready values (``None`` for empty bins)."""

        def clean(a: NDArray[np.float64]) -> list[float | None]:
            return [None if np.isnan(v) else float(v) for v in a]

        return {
            "edges": [float(v) for v in self.edges],
            "mean_predicted": clean(self.mean_predicted),
            "observed": clean(self.observed),
            "counts": [int(v) for v in self.counts],
        }


def reliability(p: ArrayLike, y: ArrayLike, bins: int = 10) -> Reliability:
    """Bin outcomes by confidence: mean confidence against observed frequency.

    Parameters
    ----------
    p : (n,) array_like of float
        Confidences, in [0, 1].
    y : (n,) array_like of {0, 1}
        Labels.
    bins : int
        Number of equal-width bins on [0, 1] (the last one closed).

    Returns
    -------
    Reliability
        Edges, mean predicted, observed frequency and counts per bin.
    """
    if bins < 1:
        raise InputError(f"bins={bins}: at least one bin is needed")
    pa, ya = _pairs(p, y)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(pa, edges[1:-1], right=False), 0, bins - 1)
    counts = np.bincount(idx, minlength=bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(idx, weights=pa, minlength=bins) / counts
        obs = np.bincount(idx, weights=ya, minlength=bins) / counts
    return Reliability(edges, mean_p, obs, counts)


def brier(p: ArrayLike, y: ArrayLike) -> float:
    """Compute the Brier score: mean squared difference of confidence and label.

    Parameters
    ----------
    p : (n,) array_like of float
        Confidences, in [0, 1].
    y : (n,) array_like of {0, 1}
        Labels.

    Returns
    -------
    float
        In [0, 1], lower is better; NaN when empty.

    Examples
    --------
    >>> brier([0.9, 0.2], [1, 0])
    0.025
    """
    pa, ya = _pairs(p, y)
    return float(np.mean((pa - ya) ** 2)) if pa.size else float("nan")


def log_loss(p: ArrayLike, y: ArrayLike) -> float:
    """Compute the mean negative log-likelihood of the labels.

    Parameters
    ----------
    p : (n,) array_like of float
        Confidences, in [0, 1] (clipped to ``[EPS, 1 − EPS]``).
    y : (n,) array_like of {0, 1}
        Labels.

    Returns
    -------
    float
        Nats per outcome, lower is better; NaN when empty.
    """
    pa, ya = _pairs(p, y)
    if not pa.size:
        return float("nan")
    q = np.clip(pa, EPS, 1.0 - EPS)
    return float(-np.mean(ya * np.log(q) + (1.0 - ya) * np.log1p(-q)))


def expected_calibration_error(p: ArrayLike, y: ArrayLike, bins: int = 10) -> float:
    """Compute the expected calibration error over equal-width bins.

    Parameters
    ----------
    p : (n,) array_like of float
        Confidences, in [0, 1].
    y : (n,) array_like of {0, 1}
        Labels.
    bins : int
        Number of bins (:func:`reliability`).

    Returns
    -------
    float
        Count-weighted mean of |observed frequency − mean confidence|; NaN when empty.
    """
    r = reliability(p, y, bins)
    n = int(r.counts.sum())
    if not n:
        return float("nan")
    full = r.counts > 0
    gaps = np.abs(r.observed[full] - r.mean_predicted[full])
    return float(np.sum(r.counts[full] * gaps) / n)


@dataclass(frozen=True)
class Scores:
    """Brier score, log loss (nats) and expected calibration error of some predictions."""

    n: int
    brier: float
    log_loss: float
    ece: float

    def to_dict(self) -> dict[str, Any]:
        """Return the scores as JSON-ready values (``None`` for NaN)."""
        return {
            "n": self.n,
            **{
                k: (None if np.isnan(v) else v)
                for k, v in (("brier", self.brier), ("log_loss", self.log_loss), ("ece", self.ece))
            },
        }


def scores(p: ArrayLike, y: ArrayLike, bins: int = 10) -> Scores:
    """Score predictions of labels: Brier score, log loss and expected calibration error.

    Parameters
    ----------
    p : (n,) array_like of float
        Confidences, in [0, 1].
    y : (n,) array_like of {0, 1}
        Labels.
    bins : int
        Bins of the expected calibration error.

    Returns
    -------
    Scores
        The three scores (NaN when empty) and ``n``.
    """
    pa, ya = _pairs(p, y)
    return Scores(
        int(pa.size), brier(pa, ya), log_loss(pa, ya), expected_calibration_error(pa, ya, bins)
    )


@dataclass(frozen=True, eq=False)
class ProspectiveEvaluation:
    """Raw against calibrated confidence on outcomes each predicted before it was known.

    Attributes
    ----------
    min_train : int
        Outcomes fitted on before the first one scored.
    method : str
        The method asked for (``"auto"`` switches as the history grows).
    raw, calibrated : Scores
        Scores of the raw and the calibrated confidences on the scored outcomes.
    p_raw, p_calibrated : (n_scored,) float
        The predictions scored, in time order.
    y : (n_scored,) float
        Their labels.
    final : Calibrator
        The calibrator fitted on every outcome (the one to use next).
    """

    min_train: int
    method: str
    raw: Scores
    calibrated: Scores
    p_raw: NDArray[np.float64]
    p_calibrated: NDArray[np.float64]
    y: NDArray[np.float64]
    final: Calibrator

    def to_dict(self) -> dict[str, Any]:
        """Return the evaluation as JSON-ready values (without the per-outcome arrays)."""
        return {
            "min_train": self.min_train,
            "method": self.method,
            "raw": self.raw.to_dict(),
            "calibrated": self.calibrated.to_dict(),
            "final": self.final.to_dict(),
        }


def prospective_evaluation(
    times: Sequence[datetime],
    p: ArrayLike,
    y: ArrayLike,
    *,
    min_train: int = 20,
    method: Method = "auto",
    bins: int = 10,
) -> ProspectiveEvaluation:
    """Score calibration as it would have run: each outcome predicted from earlier ones only.

    Outcomes are put in time order (ties keep their given order). For every outcome from the
    ``min_train``-th on, a calibrator is fitted on the outcomes strictly before it in that order
    and predicts it (a rolling-origin evaluation, refitted at each step); raw and calibrated
    predictions of those held-out *next* outcomes are scored alike.

    Parameters
    ----------
    times : sequence of datetime
        When each outcome was reported (timezone-aware).
    p : (n,) array_like of float
        Raw confidences at release, in [0, 1].
    y : (n,) array_like of {0, 1}
        Labels (:func:`outcome_labels`).
    min_train : int
        Outcomes needed before the first prediction (≥ 1).
    method : {"auto", "isotonic", "platt"}
        Calibration method (see :func:`fit_calibrator`).
    bins : int
        Bins of the expected calibration error.

    Returns
    -------
    ProspectiveEvaluation
        Scores of raw and calibrated confidence on the scored outcomes (``n`` 0 and NaN scores
        when there are not more than ``min_train`` outcomes), and the calibrator fitted on all.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> t0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
    >>> ev = prospective_evaluation([t0 + timedelta(days=i) for i in range(4)],
    ...                             [0.9, 0.9, 0.9, 0.9], [1, 0, 0, 0], min_train=2)
    >>> (ev.raw.n, ev.calibrated.brier < ev.raw.brier)
    (2, True)
    """
    pa, ya = _pairs(p, y)
    if len(times) != pa.size:
        raise InputError(f"{len(times)} times but {pa.size} outcomes")
    if min_train < 1:
        raise InputError(f"min_train={min_train}: at least one outcome must come first")
    if any(t.utcoffset() is None for t in times):
        raise InputError("outcome times must be timezone-aware (UTC)")
    order = sorted(range(pa.size), key=lambda i: times[i])
    ps, ys = pa[order], ya[order]
    preds = [
        float(fit_calibrator(ps[:k], ys[:k], method)(ps[k])) for k in range(min_train, ps.size)
    ]
    held_p = ps[min_train:]
    held_y = ys[min_train:]
    q = np.asarray(preds, dtype=float)
    return ProspectiveEvaluation(
        min_train=min_train,
        method=method,
        raw=scores(held_p, held_y, bins),
        calibrated=scores(q, held_y, bins),
        p_raw=held_p,
        p_calibrated=q,
        y=held_y,
        final=fit_calibrator(pa, ya, method),
    )
