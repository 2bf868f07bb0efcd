"""Calibrating site confidence on partner outcomes, and scoring it on the outcomes that follow."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigia.errors import InputError
from vigia.share.calibration import (
    AUTO_ISOTONIC_FROM,
    EPS,
    Calibrator,
    brier,
    expected_calibration_error,
    fit_calibrator,
    log_loss,
    outcome_label,
    outcome_labels,
    prospective_evaluation,
    reliability,
)
from vigia.share.outcomes_sim import SOURCE, match_truth, simulate_outcome, simulate_site_outcomes
from vigia.share.units import normalise_outcome

T0 = datetime(2026, 3, 1, tzinfo=UTC)
GRID = np.linspace(0.0, 1.0, 101)


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Confidences whose true probability of findings is p²: a raw score that claims too much."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 1.0, n)
    return p, (rng.uniform(0.0, 1.0, n) < p**2).astype(int)


def calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 1.0, n)
    return p, (rng.uniform(0.0, 1.0, n) < p).astype(int)


# --- labels --------------------------------------------------------------------------------


def test_findings_are_one_nothing_found_zero_inactive_excluded() -> None:
    assert outcome_label("dismantled") == 1
    assert outcome_label("seizure") == 1
    assert outcome_label("nothing_found") == 0
    assert outcome_label("inactive") is None


def test_inactive_can_be_counted_either_way_for_a_sensitivity_check() -> None:
    assert outcome_label("inactive", inactive="negative") == 0
    assert outcome_label("inactive", inactive="positive") == 1


def test_outcome_labels_mask_the_excluded_ones() -> None:
    used, y = outcome_labels(["seizure", "inactive", "nothing_found"])
    assert used.tolist() == [True, False, True]
    assert y.tolist() == [1, 0]


def test_unknown_outcomes_are_refused() -> None:
    with pytest.raises(InputError):
        outcome_label("arrested")


# --- calibrators ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_beats_an_overconfident_raw_score_on_held_out_outcomes(method: str) -> None:
    p_train, y_train = overconfident(400, seed=1)
    p_test, y_test = overconfident(4000, seed=2)
    cal = fit_calibrator(p_train, y_train, method)  # type: ignore[arg-type]
    assert cal.method == method
    assert brier(cal(p_test), y_test) < brier(p_test, y_test) - 0.01
    assert log_loss(cal(p_test), y_test) < log_loss(p_test, y_test)
    assert expected_calibration_error(cal(p_test), y_test) < expected_calibration_error(
        p_test, y_test
    )


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_a_calibrated_score_stays_about_unchanged(method: str) -> None:
    p, y = calibrated(3000, seed=3)
    cal = fit_calibrator(p, y, method)  # type: ignore[arg-type]
    inner = np.linspace(0.1, 0.9, 17)
    assert np.max(np.abs(cal(inner) - inner)) < 0.08


def test_auto_picks_platt_for_few_outcomes_and_isotonic_for_many() -> None:
    p, y = overconfident(AUTO_ISOTONIC_FROM + 10, seed=4)
    assert (
        fit_calibrator(p[: AUTO_ISOTONIC_FROM - 1], y[: AUTO_ISOTONIC_FROM - 1]).method == "platt"
    )
    assert fit_calibrator(p, y).method == "isotonic"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 1.0, allow_nan=False), st.integers(0, 1)),
        min_size=1,
        max_size=80,
    ),
    st.sampled_from(["isotonic", "platt", "auto"]),
)
def test_calibrators_are_monotone_non_decreasing_and_within_bounds(
    pairs: list[tuple[float, int]], method: str
) -> None:
    p, y = zip(*pairs, strict=True)
    q = fit_calibrator(p, y, method)(GRID)  # type: ignore[arg-type]
    assert np.all(np.diff(q) >= -1e-12)
    assert np.all((q >= EPS) & (q <= 1.0 - EPS))


@pytest.mark.parametrize("method", ["isotonic", "platt", "auto"])
@pytest.mark.parametrize(
    ("p", "y"), [([0.7], [1]), ([0.7], [0]), ([0.2, 0.5, 0.9], [0, 0, 0]), ([0.2, 0.9], [1, 1])]
)
def test_one_point_or_one_label_does_not_crash(method: str, p: list[float], y: list[int]) -> None:
    q = fit_calibrator(p, y, method)(GRID)  # type: ignore[arg-type]
    assert np.all(np.isfinite(q))


def test_platt_with_few_outcomes_moves_only_a_little() -> None:
    # Three misses at 0.9 lower the confidence, but the prior keeps it from collapsing to 0.
    cal = fit_calibrator([0.9, 0.9, 0.9], [0, 0, 0], "platt")
    assert 0.2 < float(cal(0.9)) < 0.9
    assert float(cal(0.5)) < 0.5


def test_no_outcome_gives_the_identity() -> None:
    cal = fit_calibrator([], [])
    assert cal.method == "identity"
    assert cal(0.3) == pytest.approx(0.3)


def test_calibrators_round_trip_through_a_dict() -> None:
    for method in ("isotonic", "platt"):
        p, y = overconfident(200, seed=5)
        cal = fit_calibrator(p, y, method)  # type: ignore[arg-type]
        again = Calibrator.from_dict(cal.to_dict())
        np.testing.assert_array_equal(again(GRID), cal(GRID))


@pytest.mark.parametrize(
    ("p", "y"), [([0.5, 0.2], [1]), ([1.5], [1]), ([math.nan], [0]), ([0.5], [2])]
)
def test_bad_inputs_are_refused(p: list[float], y: list[int]) -> None:
    with pytest.raises(InputError):
        fit_calibrator(p, y)


# --- scores --------------------------------------------------------------------------------


def test_scores_by_hand() -> None:
    assert brier([1.0, 0.0, 0.5], [1, 0, 1]) == pytest.approx(0.25 / 3)
    assert log_loss([0.5, 0.5], [0, 1]) == pytest.approx(math.log(2))
    # Two bins used: (0.1, 0.1 → observed 0.5), (0.9 → observed 1): |0.5−0.1|·2/3 + |1−0.9|/3
    assert expected_calibration_error([0.1, 0.1, 0.9], [0, 1, 1]) == pytest.approx(0.3)
    assert math.isnan(brier([], []))


def test_reliability_bins_confidence_against_observed_frequency() -> None:
    r = reliability([0.05, 0.15, 0.12, 1.0, 0.95], [0, 1, 0, 1, 1], bins=10)
    assert r.edges.tolist() == pytest.approx(np.linspace(0, 1, 11).tolist())
    assert r.counts.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert r.observed[1] == pytest.approx(0.5)
    assert r.mean_predicted[9] == pytest.approx(0.975)
    assert np.isnan(r.observed[4])
    assert r.to_dict()["observed"][4] is None


# --- prospective evaluation ----------------------------------------------------------------


def test_calibrated_confidence_predicts_the_next_outcomes_better_than_raw() -> None:
    p, y = overconfident(300, seed=6)
    times = [T0 + timedelta(hours=6 * i) for i in range(p.size)]
    ev = prospective_evaluation(times, p, y, min_train=30)
    assert ev.raw.n == ev.calibrated.n == 270
    assert ev.calibrated.brier < ev.raw.brier
    assert ev.calibrated.log_loss < ev.raw.log_loss
    assert ev.final.n == 300
    assert ev.to_dict()["raw"]["n"] == 270


def test_prospective_evaluation_only_uses_earlier_outcomes() -> None:
    # Given out of time order: the first in time is last in the list. With min_train 1 the
    # first prediction is fitted on that single earliest outcome only.
    times = [T0 + timedelta(days=2), T0 + timedelta(days=3), T0]
    ev = prospective_evaluation(times, [0.8, 0.8, 0.8], [1, 1, 0], min_train=1, method="platt")
    first = fit_calibrator([0.8], [0], "platt")
    assert ev.p_calibrated[0] == pytest.approx(float(first(0.8)))
    assert ev.y.tolist() == [1.0, 1.0]


def test_too_few_outcomes_score_nothing_without_crashing() -> None:
    ev = prospective_evaluation([T0, T0], [0.4, 0.6], [0, 1], min_train=5)
    assert ev.raw.n == 0
    assert math.isnan(ev.calibrated.brier)
    assert ev.to_dict()["calibrated"]["brier"] is None


def test_prospective_evaluation_refuses_naive_times_and_mismatched_lengths() -> None:
    with pytest.raises(InputError):
        prospective_evaluation([datetime(2026, 3, 1)], [0.5], [1])
    with pytest.raises(InputError):
        prospective_evaluation([T0], [0.5, 0.6], [1, 0])


# --- the demo's simulated outcomes feed the same calibration ---------------------------------


def test_simulated_outcomes_are_labelled_seeded_and_normalise() -> None:
    def draw(seed: int) -> list[object]:
        rng = np.random.default_rng(seed)
        return [simulate_outcome("rural_lab", True, rng, released_at=T0) for _ in range(50)]

    first = draw(7)
    assert first == draw(7)
    for o in first:
        assert o.source == SOURCE and o.note.startswith("SIMULATED")  # type: ignore[attr-defined]
        if o.outcome is not None:  # type: ignore[attr-defined]
            normalise_outcome(o.outcome, o.quantities)  # type: ignore[attr-defined]


def test_simulated_labs_mostly_give_findings_and_false_sites_never() -> None:
    rng = np.random.default_rng(8)
    labs = [simulate_outcome("industrial_lab", True, rng, released_at=T0) for _ in range(300)]
    false = [simulate_outcome(None, False, rng, released_at=T0) for _ in range(300)]
    lab_found = np.mean([o.outcome in ("dismantled", "seizure") for o in labs if o.outcome])
    assert lab_found > 0.6
    assert not any(o.outcome in ("dismantled", "seizure") for o in false)


def test_stored_sites_match_the_nearest_truth_site_once() -> None:
    truth = {
        "features": [
            {"geometry": {"type": "Point", "coordinates": [-107.0, 25.0]},
             "properties": {"site_id": "t1", "kind": "rural_lab", "active_periods": [["a", "b"]]}},
            {"geometry": {"type": "Point", "coordinates": [-107.01, 25.0]},
             "properties": {"site_id": "t2", "kind": "kiln", "active_periods": []}},
        ]
    }  # fmt: skip
    near = -107.0 + 20.0 / 100_900.0  # about 20 m east of t1
    m = match_truth([(near, 25.0), (-107.0, 25.0), (-107.01, 25.0003)], truth)
    assert m[0] is not None and m[0].site_id == "t1" and m[0].active
    assert m[1] is None  # t1 is taken
    assert m[2] is not None and m[2].kind == "kiln" and not m[2].active
    runs = [simulate_site_outcomes([("S1", near, 25.0, T0)], truth, seed=3) for _ in range(2)]
    assert runs[0] == runs[1]


def test_the_reliability_figure_names_its_source(tmp_path: Path) -> None:
    from vigia.report.calibration import draw_reliability, reliability_figure

    p, y = overconfident(200, seed=9)
    cal = fit_calibrator(p, y)
    raw, fitted = reliability(p, y), reliability(cal(p), y)
    out = reliability_figure(raw, fitted, tmp_path / "fig" / "reliability.png", source=SOURCE)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [f.name for f in out.parent.iterdir()] == ["reliability.png"]
    fig = draw_reliability(raw, fitted, source=SOURCE)
    assert any(SOURCE in t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
