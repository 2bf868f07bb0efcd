"""Sites: upsert from fusion, queries, lifecycle transitions, revisits."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement, Executable, Select
from sqlalchemy.sql.compiler import SQLCompiler

from vigia.errors import InputError, LifecycleError, NotFoundError
from vigia.store import (
    ObservationRecord,
    SessionFactory,
    SiteRecord,
    StoredDetection,
    add_revisit_request,
    apply_transition,
    get_site,
    ingest_detections,
    list_open_revisits,
    list_sites,
    set_revisit_status,
    sites_query,
    unassociated_detections,
    upsert_sites,
)
from vigia.store.review import decide

from .conftest import T0, row_counts

MakeFile = Callable[..., Path]


def record(
    lon: float = -107.3,
    lat: float = 25.0,
    *,
    half: float = 0.001,
    seen: tuple[datetime, datetime] = (T0, T0 + timedelta(hours=1)),
    observations: tuple[ObservationRecord, ...] = (),
    **kw: Any,
) -> SiteRecord:
    fields: dict[str, Any] = {
        "site_class": "rural_lab",
        "confidence": 0.7,
        "reasons": ("CH4 plume", "hot spot"),
        "evidence": {"plume": 1, "thermal": 1},
    }
    fields.update(kw)
    return SiteRecord(
        lon=lon,
        lat=lat,
        bbox=(lon - half, lat - half, lon + half, lat + half),
        first_seen=seen[0],
        last_seen=seen[1],
        observations=observations,
        **fields,
    )


@pytest.fixture()
def detections(store: SessionFactory, detection_file: MakeFile) -> list[StoredDetection]:
    ingest_detections(store, detection_file(n=16))
    return unassociated_detections(store)


def near(d: StoredDetection) -> ObservationRecord:
    return ObservationRecord(d.pk, 12.5)


def test_new_sites_get_the_next_ids_and_start_as_candidates(
    store: SessionFactory, detections: list[StoredDetection]
) -> None:
    now = datetime(2025, 3, 5, tzinfo=UTC)
    ids = upsert_sites(
        store,
        [record(observations=(near(detections[0]), near(detections[1]))), record(-107.2)],
        now=now,
    )
    assert ids == ["SITE-000001", "SITE-000002"]
    assert upsert_sites(store, [record(-107.1)]) == ["SITE-000003"]
    detail = get_site(store, "SITE-000001")
    assert detail.site.state == "candidate"
    assert detail.site.created_at == detail.site.updated_at == now
    assert detail.site.reasons == ("CH4 plume", "hot spot")
    assert detail.site.evidence == {"plume": 1, "thermal": 1}
    assert [o.detection.pk for o in detail.observations] == [detections[0].pk, detections[1].pk]
    assert detail.observations[0].detection.line_id == detections[0].line_id
    assert detail.observations[0].distance_m == 12.5


def test_merging_keeps_the_sites_id_and_state_and_adds_only_new_observations(
    store: SessionFactory, detections: list[StoredDetection]
) -> None:
    [site_id] = upsert_sites(store, [record(observations=(near(detections[0]),))])
    apply_transition(store, site_id, "start_review", actor="ana", role="analyst")
    merged = record(
        -107.3005,
        confidence=0.9,
        site_class="industrial_lab",
        seen=(T0, T0 + timedelta(days=2)),
        observations=(near(detections[0]), near(detections[2])),
        site_id=site_id,
    )
    assert upsert_sites(store, [merged]) == [site_id]
    detail = get_site(store, site_id)
    assert detail.site.state == "in_review"
    assert (detail.site.confidence, detail.site.site_class) == (0.9, "industrial_lab")
    assert detail.site.lon == -107.3005
    assert detail.site.last_seen == T0 + timedelta(days=2)
    assert [o.detection.pk for o in detail.observations] == [detections[0].pk, detections[2].pk]
    assert row_counts(store)["sites"] == 1


def test_an_upsert_naming_a_missing_site_or_detection_changes_nothing(
    store: SessionFactory, detections: list[StoredDetection]
) -> None:
    upsert_sites(store, [record()])
    before = row_counts(store)
    with pytest.raises(NotFoundError, match="no such site: SITE-000999"):
        upsert_sites(store, [record(-107.0), record(site_id="SITE-000999")])
    with pytest.raises(NotFoundError, match=r"no such detection .*: 999999"):
        upsert_sites(store, [record(-107.0, observations=(ObservationRecord(999999, 1.0),))])
    with pytest.raises(InputError, match="more than one record: SITE-000001"):
        upsert_sites(store, [record(site_id="SITE-000001"), record(site_id="SITE-000001")])
    assert row_counts(store) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"site_class": "meth_lab"}, "unknown site_class 'meth_lab'"),
        ({"confidence": 1.5}, "confidence 1.5 is not within 0–1"),
        ({"half": 0.2}, "spans more than 0.1°"),
        ({"seen": (datetime(2025, 3, 4), datetime(2025, 3, 5))}, "has no time zone"),
        ({"seen": (T0 + timedelta(1), T0)}, "first_seen is after last_seen"),
    ],
)
def test_a_site_record_that_makes_no_sense_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        record(**change)
    with pytest.raises(InputError, match="outside its bbox"):
        SiteRecord(0.2, 0.5, (0.0, 0.0, 0.1, 0.1), "kiln", 0.5, T0, T0)
    with pytest.raises(InputError, match="distance_m"):
        ObservationRecord(1, -3.0)


def test_sites_are_listed_by_state_box_and_time_in_id_order(store: SessionFactory) -> None:
    day = timedelta(days=1)
    ids = upsert_sites(
        store,
        [
            record(-107.30, 25.00, seen=(T0, T0 + day)),
            record(-107.20, 25.00, seen=(T0 + 5 * day, T0 + 6 * day)),
            record(-106.00, 24.00, seen=(T0, T0 + day)),
            # its point lies outside the query box, but its box reaches into it
            record(-107.25 - 0.0015, 25.00, half=0.002, seen=(T0, T0 + day)),
        ],
    )
    apply_transition(store, ids[0], "start_review", actor="ana", role="analyst")
    box = (-107.35, 24.95, -107.25, 25.05)
    assert [s.id for s in list_sites(store)] == ids
    assert [s.id for s in list_sites(store, bbox=box)] == [ids[0], ids[3]]
    assert [s.id for s in list_sites(store, bbox=(-107.35, 24.95, -107.15, 25.05))] == [
        ids[0],
        ids[1],
        ids[3],
    ]
    assert [s.id for s in list_sites(store, start=T0 + 2 * day)] == [ids[1]]
    assert [s.id for s in list_sites(store, end=T0 + 2 * day)] == [ids[0], ids[2], ids[3]]
    assert [s.id for s in list_sites(store, states=["candidate"], bbox=box)] == [ids[3]]
    assert [s.id for s in list_sites(store, limit=2)] == ids[:2]
    with pytest.raises(InputError, match="bbox"):
        list_sites(store, bbox=(10.0, 0.0, 5.0, 1.0))
    with pytest.raises(InputError, match="no time zone"):
        list_sites(store, start=datetime(2025, 3, 4))


def test_times_come_back_as_the_same_instant_in_utc(store: SessionFactory) -> None:
    mexico = timezone(timedelta(hours=-6))
    local = datetime(2025, 3, 4, 12, 0, tzinfo=mexico)
    [site_id] = upsert_sites(store, [record(seen=(local, local))])
    site = get_site(store, site_id).site
    assert site.first_seen == local
    assert site.first_seen.tzinfo == UTC
    assert site.first_seen.hour == 18


class Explain(Executable, ClauseElement):
    """``EXPLAIN`` of a statement, in each back end's words (SQLAlchemy's usage recipe)."""

    inherit_cache = False

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(Explain, "sqlite")
def _explain_sqlite(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN QUERY PLAN " + compiler.process(element.statement, **kw)


@compiles(Explain, "postgresql")
def _explain_postgresql(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN " + compiler.process(element.statement, **kw)


def test_sites_in_a_box_and_time_range_is_one_query_on_the_bbox_index(
    store: SessionFactory, engine: Engine
) -> None:
    rng = np.random.default_rng(3)
    records = [
        record(
            float(rng.uniform(-110, -100)),
            float(rng.uniform(18, 30)),
            seen=(T0 + timedelta(hours=int(h)), T0 + timedelta(hours=int(h) + 3)),
        )
        for h in rng.integers(0, 24 * 60, 3000)
    ]
    upsert_sites(store, records)
    query = sites_query(
        bbox=(-105.1, 24.0, -105.0, 24.1), start=T0 + timedelta(days=3), end=T0 + timedelta(days=9)
    )
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        plan = "\n".join(" ".join(map(str, row)) for row in conn.execute(Explain(query)))
        found = conn.execute(query).all()
    assert "ix_sites_bbox_time" in plan, plan
    assert "Seq Scan" not in plan and "SCAN sites" not in plan, plan
    expected = [
        r
        for r in records
        if r.bbox[2] >= -105.1
        and r.bbox[0] <= -105.0
        and r.bbox[3] >= 24.0
        and r.bbox[1] <= 24.1
        and r.last_seen >= T0 + timedelta(days=3)
        and r.first_seen <= T0 + timedelta(days=9)
    ]
    assert len(found) == len(expected)


def test_a_transition_is_applied_and_recorded_in_one_go(store: SessionFactory) -> None:
    [site_id] = upsert_sites(store, [record()])
    when = datetime(2025, 3, 6, 9, 30, tzinfo=UTC)
    apply_transition(store, site_id, "start_review", actor="ana", role="analyst", now=when)
    decision = apply_transition(
        store,
        site_id,
        "confirm",
        actor="ana",
        role="analyst",
        reason="plume and heat over three passes",
        now=when + timedelta(minutes=5),
    )
    assert (decision.from_state, decision.to_state, decision.action) == (
        "in_review",
        "confirmed",
        "confirm",
    )
    apply_transition(
        store,
        site_id,
        "release",
        actor="rosa",
        role="release_officer",
        detail={"to": ["partner-a"], "tlp": "TLP:AMBER"},
        now=when + timedelta(hours=1),
    )
    detail = get_site(store, site_id)
    assert detail.site.state == "released"
    assert detail.site.updated_at == when + timedelta(hours=1)
    assert [(d.actor, d.role, d.action, d.to_state) for d in detail.decisions] == [
        ("ana", "analyst", "start_review", "in_review"),
        ("ana", "analyst", "confirm", "confirmed"),
        ("rosa", "release_officer", "release", "released"),
    ]
    assert detail.decisions[1].reason == "plume and heat over three passes"
    assert detail.decisions[2].detail == {"to": ["partner-a"], "tlp": "TLP:AMBER"}
    assert detail.decisions[0].time == when


def test_a_refused_transition_changes_nothing(store: SessionFactory) -> None:
    [site_id] = upsert_sites(store, [record()])
    before = row_counts(store)
    with pytest.raises(LifecycleError, match=rf"site {site_id}: cannot 'confirm' .*'candidate'"):
        apply_transition(store, site_id, "confirm", actor="ana", role="analyst")
    with pytest.raises(LifecycleError, match="only 'analyst' may 'start_review'"):
        apply_transition(store, site_id, "start_review", actor="rosa", role="release_officer")
    assert row_counts(store) == before
    assert get_site(store, site_id).site.state == "candidate"


def test_a_site_that_does_not_exist_is_named_and_nothing_changes(store: SessionFactory) -> None:
    upsert_sites(store, [record()])
    before = row_counts(store)
    with pytest.raises(NotFoundError, match="site SITE-004242 does not exist"):
        apply_transition(store, "SITE-004242", "start_review", actor="ana", role="analyst")
    with pytest.raises(NotFoundError, match="site SITE-004242 does not exist"):
        get_site(store, "SITE-004242")
    with pytest.raises(NotFoundError, match="site SITE-004242 does not exist"):
        add_revisit_request(store, "SITE-004242", "look again")
    with pytest.raises(NotFoundError, match="revisit request 77 does not exist"):
        set_revisit_status(store, 77, "planned")
    assert row_counts(store) == before


def test_a_revisit_request_waits_until_new_evidence_returns_the_site_to_candidate(
    store: SessionFactory, detections: list[StoredDetection]
) -> None:
    ids = upsert_sites(store, [record(observations=(near(detections[0]),)), record(-107.0)])
    t = datetime(2025, 3, 6, tzinfo=UTC)
    apply_transition(
        store, ids[0], "request_revisit", actor="ana", role="analyst", reason="cloud", now=t
    )
    add_revisit_request(store, ids[1], "routine", priority=3, now=t)
    add_revisit_request(store, ids[1], "urgent", priority=1, now=t + timedelta(hours=1))
    assert [(r.site_id, r.reason) for r in list_open_revisits(store)] == [
        (ids[0], "cloud"),
        (ids[1], "urgent"),
        (ids[1], "routine"),
    ]
    assert get_site(store, ids[0]).site.state == "revisit_requested"

    # the same observation again is no new evidence
    upsert_sites(store, [record(observations=(near(detections[0]),), site_id=ids[0])])
    assert get_site(store, ids[0]).site.state == "revisit_requested"

    upsert_sites(store, [record(observations=(near(detections[5]),), site_id=ids[0])])
    detail = get_site(store, ids[0])
    assert detail.site.state == "candidate"
    assert (detail.decisions[-1].actor, detail.decisions[-1].role) == ("fusion", "system")
    assert detail.decisions[-1].action == "new_evidence"
    assert [r.status for r in detail.revisits] == ["done"]
    assert [r.site_id for r in list_open_revisits(store)] == [ids[1], ids[1]]

    planned = set_revisit_status(store, list_open_revisits(store)[0].id, "planned")
    assert planned.status == "planned"
    assert [r.reason for r in list_open_revisits(store)] == ["routine"]
    with pytest.raises(InputError, match="status 'lost'"):
        set_revisit_status(store, planned.id, "lost")


def test_a_rejected_site_is_not_revisited(
    store: SessionFactory, detections: list[StoredDetection]
) -> None:
    ids = upsert_sites(store, [record(observations=(near(detections[0]),)), record(-107.0)])
    t = datetime(2025, 3, 6, tzinfo=UTC)
    for sid in ids:
        add_revisit_request(store, sid, "uncertain", priority=2, now=t)
    decide(store, ids[1], "reject", analyst="ana", reason="a farm tarp", now=t)
    assert [r.site_id for r in list_open_revisits(store)] == [ids[0]]


def test_detections_not_yet_at_a_site_are_listed_oldest_first(
    store: SessionFactory, detections: list[StoredDetection]
) -> None:
    assert [d.time for d in detections] == sorted(d.time for d in detections)
    upsert_sites(store, [record(observations=(near(detections[0]), near(detections[3])))])
    left = unassociated_detections(store)
    assert {d.pk for d in left} == {d.pk for d in detections} - {detections[0].pk, detections[3].pk}
    late = unassociated_detections(store, start=detections[10].time)
    assert [d.pk for d in late] == [d.pk for d in detections[10:]]
    d = detections[7]
    box = (d.lon - 1e-6, d.lat - 1e-6, d.lon + 1e-6, d.lat + 1e-6)
    assert [x.pk for x in unassociated_detections(store, bbox=box)] == [d.pk]
    assert len(unassociated_detections(store, limit=3)) == 3
