"""Agency metrics: delays, hit rate, response rate and totals seized over released sites."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from vigia.errors import InputError
from vigia.share.metrics import SiteTimeline, agency_metrics, format_metrics
from vigia.share.units import normalise_outcome

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def timeline(
    site: str,
    *,
    release: float = 10.0,
    ack: float | None = None,
    action: float | None = None,
    outcome: str | None = None,
    quantities: list[dict[str, object]] | None = None,
    partner: str = "FGR",
) -> SiteTimeline:
    qs = normalise_outcome(outcome, quantities or []) if outcome else ()
    return SiteTimeline(
        site_id=site,
        first_detected=T0,
        confirmed_at=h(release / 2),
        released_at=h(release),
        acknowledged_at=None if ack is None else h(ack),
        actioned_at=None if action is None else h(action),
        outcome=outcome,
        quantities=qs,
        partner=partner,
    )


SITES = [
    timeline("S1", release=10, ack=12, action=40, outcome="seizure",
             quantities=[{"item": "powder", "amount": 22.0462262, "unit": "lb"},
                         {"item": "precursor", "amount": 2.0, "unit": "gal"},
                         {"item": "pills", "amount": 500, "unit": "tablets"}]),
    timeline("S2", release=20, ack=21, action=60, outcome="dismantled"),
    timeline("S3", release=30, ack=40, action=100, outcome="nothing_found", partner="SEMAR"),
    timeline("S4", release=40, ack=41, partner="SEMAR"),
    timeline("S5", release=50, partner="SEMAR"),
    timeline("S6", release=60, ack=70, action=80, outcome="seizure", partner="SEMAR",
             quantities=[{"item": "powder", "amount": 5.0, "unit": "kg"},
                         {"item": "precursor", "amount": 3.0, "unit": "kg"}]),
]  # fmt: skip


def test_counts_of_released_acknowledged_and_actioned_sites() -> None:
    m = agency_metrics(SITES)
    assert (m.released, m.acknowledged, m.actioned, m.with_findings) == (6, 5, 4, 3)
    assert m.outcomes == {"dismantled": 1, "nothing_found": 1, "inactive": 0, "seizure": 2}


def test_hit_rate_is_actioned_with_findings_over_released() -> None:
    assert agency_metrics(SITES).hit_rate == pytest.approx(3 / 6)


def test_response_rate_is_acknowledged_over_released() -> None:
    assert agency_metrics(SITES).response_rate == pytest.approx(5 / 6)


def test_delays_are_median_and_90th_percentile_in_hours() -> None:
    m = agency_metrics(SITES)
    assert m.detection_to_release.n == 6
    assert m.detection_to_release.median_h == pytest.approx(35.0)
    assert m.detection_to_release.p90_h == pytest.approx(55.0)
    # acknowledgement delays 2, 1, 10, 1, 10 h; action delays 30, 40, 70, 20 h
    assert m.release_to_acknowledgement.median_h == pytest.approx(2.0)
    assert m.release_to_action.n == 4
    assert m.release_to_action.median_h == pytest.approx(35.0)
    assert m.release_to_action.p90_h == pytest.approx(61.0)


def test_totals_seized_add_up_in_canonical_units_precursor_by_dimension() -> None:
    seized = {(i, u): t for i, u, t in agency_metrics(SITES).seized}
    assert seized[("powder", "kg")] == pytest.approx(15.0)
    assert seized[("precursor", "L")] == pytest.approx(2 * 3.785411784)
    assert seized[("precursor", "kg")] == pytest.approx(3.0)
    assert seized[("pills", "count")] == 500.0


def test_metrics_per_partner() -> None:
    m = agency_metrics(SITES)
    assert sorted(m.by_partner) == ["FGR", "SEMAR"]
    fgr, semar = m.by_partner["FGR"], m.by_partner["SEMAR"]
    assert (fgr.released, fgr.hit_rate, fgr.response_rate) == (2, 1.0, 1.0)
    assert (semar.released, semar.with_findings, semar.acknowledged) == (4, 1, 3)
    assert semar.by_partner == {}


def test_empty_input_gives_none_not_a_crash() -> None:
    m = agency_metrics([])
    assert m.released == 0
    assert m.hit_rate is None and m.response_rate is None
    assert m.release_to_action.median_h is None and m.release_to_action.n == 0
    assert m.seized == ()
    assert "released" in format_metrics(m)


def test_nothing_acknowledged_leaves_those_delays_empty() -> None:
    m = agency_metrics([timeline("S9")])
    assert m.response_rate == 0.0
    assert m.release_to_acknowledgement.median_h is None


def test_the_table_shows_rates_delays_totals_and_partners() -> None:
    text = format_metrics(agency_metrics(SITES))
    for word in ("hit rate", "50 %", "response rate", "83 %", "release → action", "SEMAR",
                 "seized powder", "15 kg"):  # fmt: skip
        assert word in text


def test_metrics_serialise_to_json_values() -> None:
    d = agency_metrics(SITES).to_dict()
    assert d["hit_rate"] == 0.5
    assert {"item": "pills", "unit": "count", "total": 500.0} in d["seized"]
    assert d["by_partner"]["FGR"]["released"] == 2
    assert not any(isinstance(v, float) and math.isnan(v) for v in d.values())


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(InputError, match="time zone"):
        SiteTimeline("S1", datetime(2026, 3, 1), T0, T0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"released_at": T0 - timedelta(hours=1)}, "before it was first detected"),
        ({"acknowledged_at": T0 - timedelta(hours=1)}, "before the release"),
        ({"outcome": "dismantled"}, "without an action time"),
        ({"outcome": "arrested", "actioned_at": T0}, "unknown"),
    ],
)
def test_timelines_out_of_order_or_with_bad_outcomes_are_refused(
    kwargs: dict[str, object], message: str
) -> None:
    base: dict[str, object] = {
        "site_id": "S1", "first_detected": T0, "confirmed_at": T0, "released_at": T0,
    }  # fmt: skip
    with pytest.raises(InputError, match=message):
        SiteTimeline(**{**base, **kwargs})  # type: ignore[arg-type]


def test_quantities_only_on_a_seizure() -> None:
    qs = normalise_outcome("seizure", [{"item": "powder", "amount": 1.0, "unit": "kg"}])
    with pytest.raises(InputError, match="not a seizure"):
        SiteTimeline("S1", T0, T0, T0, T0, T0, "dismantled", qs)
