"""Partner outcomes teach the confidence: stored pairs, calibrated, scored on what came next."""

from datetime import timedelta

import numpy as np
import pytest

from vigia.store import SessionFactory, read_session, upsert_sites, write_session
from vigia.store.access import add_org, add_user, principal_of
from vigia.store.feedback import calibrate_on_outcomes, outcome_pairs
from vigia.store.records import SiteRecord
from vigia.store.releases import release_sites, report_outcome
from vigia.store.review import decide

from .conftest import T0

N = 60


def record(k: int, confidence: float) -> SiteRecord:
    lon, lat = -107.5 + 0.005 * (k % 40), 24.8 + 0.005 * (k // 40)
    return SiteRecord(
        lon=lon,
        lat=lat,
        bbox=(lon - 0.0005, lat - 0.0005, lon + 0.0005, lat + 0.0005),
        site_class="rural_lab",
        confidence=confidence,
        first_seen=T0,
        last_seen=T0 + timedelta(hours=1),
        reasons=("CH4 plume",),
        evidence={},
    )


@pytest.fixture()
def season(store: SessionFactory) -> SessionFactory:
    """N released sites, the partner's findings at each drawn as P = confidence² (overconfident)."""
    rng = np.random.default_rng(7)
    conf = rng.uniform(0.5, 1.0, N)
    found = rng.uniform(size=N) < conf**2
    with write_session(store) as s:
        add_org(s, "AG", "agency", now=T0)
        add_org(s, "PA", "partner", country="MEX", now=T0)
        add_user(s, "ana", "AG", "analyst", now=T0)
        add_user(s, "rob", "AG", "release_officer", now=T0)
        add_user(s, "off", "PA", "partner_officer", now=T0)
    site_ids = upsert_sites(store, [record(k, float(c)) for k, c in enumerate(conf)], now=T0)
    for sid in site_ids:
        decide(store, sid, "confirm", analyst="ana", reason="lab", now=T0 + timedelta(hours=2))
    for k, (sid, f) in enumerate(zip(site_ids, found, strict=True)):
        t = T0 + timedelta(days=1 + k)
        with write_session(store) as s:
            release_sites(
                s, principal_of(s, "rob"), [sid], ["PA"], tlp="TLP:AMBER", caveats=[], now=t
            )
        with write_session(store) as s:
            report_outcome(
                s,
                principal_of(s, "off"),
                sid,
                outcome="dismantled" if f else "nothing_found",
                quantities=[],
                text="test season",
                observed_at=t + timedelta(hours=5),
                now=t + timedelta(hours=6),
            )
    return store


def test_outcomes_pair_with_their_sites_confidence_in_time_order(season: SessionFactory) -> None:
    with read_session(season) as s:
        pairs = outcome_pairs(s)
    assert pairs.outcomes == N and len(pairs.site_ids) == N
    assert list(pairs.reported_at) == sorted(pairs.reported_at)
    assert set(np.unique(pairs.label)) <= {0.0, 1.0}
    assert 0.5 <= pairs.confidence.min() and pairs.confidence.max() <= 1.0


def test_calibrated_confidence_predicts_the_next_outcomes_better_than_raw(
    season: SessionFactory,
) -> None:
    with read_session(season) as s:
        cal = calibrate_on_outcomes(outcome_pairs(s), min_train=20)
    assert cal is not None
    ev = cal.evaluation
    assert ev.raw.n == N - 20
    assert ev.calibrated.brier < ev.raw.brier
    # The raw confidence is overconfident: calibration pulls it down where it matters.
    assert float(ev.final(np.array([0.75]))[0]) < 0.75


def test_no_outcome_means_no_calibration(store: SessionFactory) -> None:
    with read_session(store) as s:
        assert calibrate_on_outcomes(outcome_pairs(s)) is None
