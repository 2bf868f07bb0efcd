"""What partner outcomes teach: the pairs (confidence at release, outcome) calibration learns from.

Outcomes are the only ground truth a deployment gets (:mod:`vigia.share.calibration`). Each
stored outcome is paired with its site's fused confidence and labelled by
:func:`vigia.share.calibration.outcome_labels` (findings 1, nothing found 0, ``inactive`` left
out by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigia.share.calibration import (
    InactiveAs,
    ProspectiveEvaluation,
    Reliability,
    outcome_labels,
    prospective_evaluation,
    reliability,
)
from vigia.store.access import Principal
from vigia.store.models import Site
from vigia.store.releases import list_outcomes

__all__ = ["OutcomeCalibration", "OutcomePairs", "calibrate_on_outcomes", "outcome_pairs"]


@dataclass(frozen=True)
class OutcomePairs:
    """Labelled outcomes in time order, with the confidence their sites had.

    Attributes
    ----------
    site_ids : tuple of str
        The site of each labelled outcome.
    confidence : (n,) float
        The site's fused confidence (as stored now).
    label : (n,) float
        1 findings, 0 nothing found.
    reported_at : tuple of datetime
        When each outcome was reported (UTC).
    outcomes : int
        Outcomes stored, labelled or not.
    """

    site_ids: tuple[str, ...]
    confidence: NDArray[np.float64]
    label: NDArray[np.float64]
    reported_at: tuple[datetime, ...]
    outcomes: int


def outcome_pairs(session: Session, *, inactive: InactiveAs = "exclude") -> OutcomePairs:
    """Pair every stored outcome with its site's confidence, oldest first.

    Parameters
    ----------
    session : Session
        An open session.
    inactive : {"exclude", "negative", "positive"}
        What an ``inactive`` outcome counts as.

    Returns
    -------
    OutcomePairs
        The labelled outcomes.
    """
    every = list_outcomes(session, Principal.local_operator())
    outcomes = sorted(every, key=lambda o: (o.reported_at, o.id))
    ids = sorted({o.site_id for o in outcomes})
    confidence = {
        row[0]: row[1]
        for row in session.execute(select(Site.id, Site.confidence).where(Site.id.in_(ids)))
    }
    used, y = outcome_labels([o.outcome for o in outcomes], inactive=inactive)
    kept = [o for o, u in zip(outcomes, used, strict=True) if u]
    return OutcomePairs(
        site_ids=tuple(o.site_id for o in kept),
        confidence=np.array([float(confidence[o.site_id]) for o in kept], dtype=np.float64),
        label=np.asarray(y, dtype=np.float64),
        reported_at=tuple(o.reported_at for o in kept),
        outcomes=len(outcomes),
    )


@dataclass(frozen=True)
class OutcomeCalibration:
    """Site confidence calibrated on partner outcomes, and how well it predicted the next ones.

    Attributes
    ----------
    pairs : OutcomePairs
        What it learnt from.
    evaluation : ProspectiveEvaluation
        Raw against calibrated confidence on each outcome predicted from the earlier ones only,
        and the calibrator fitted on all (``evaluation.final``).
    raw, calibrated : Reliability
        Reliability of the raw and of the (finally) calibrated confidence on all outcomes.
    """

    pairs: OutcomePairs
    evaluation: ProspectiveEvaluation
    raw: Reliability
    calibrated: Reliability

    def summary(self) -> dict[str, object]:
        """Return JSON-ready numbers: counts, scores of raw and calibrated, the calibrator."""
        return {
            "outcomes": self.pairs.outcomes,
            "labelled": len(self.pairs.site_ids),
            **self.evaluation.to_dict(),
        }


def calibrate_on_outcomes(pairs: OutcomePairs, *, min_train: int = 20) -> OutcomeCalibration | None:
    """Calibrate confidence on labelled outcomes (None when there is none).

    Parameters
    ----------
    pairs : OutcomePairs
        Labelled outcomes (:func:`outcome_pairs`).
    min_train : int
        Outcomes fitted on before the first one is predicted and scored.

    Returns
    -------
    OutcomeCalibration or None
        The calibration, or None without a labelled outcome.
    """
    if not pairs.site_ids:
        return None
    ev = prospective_evaluation(
        pairs.reported_at, pairs.confidence, pairs.label, min_train=min_train
    )
    return OutcomeCalibration(
        pairs,
        ev,
        reliability(pairs.confidence, pairs.label),
        reliability(ev.final(pairs.confidence), pairs.label),
    )
