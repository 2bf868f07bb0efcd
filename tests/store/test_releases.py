"""Releases, what each principal sees, acknowledgement and outcomes, on both back ends."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text, update

from vigia.errors import ForbiddenError, InputError, LifecycleError, NotFoundError
from vigia.store import SessionFactory, read_session, upsert_sites, write_session
from vigia.store.access import Principal, add_org, add_user, principal_of
from vigia.store.changes import read_changes
from vigia.store.db import statement_connection
from vigia.store.models import (
    Organisation,
    Outcome,
    PartnerSite,
    Release,
    ReleaseRecipient,
    ReleaseSite,
    Site,
)
from vigia.store.records import SiteRecord
from vigia.store.releases import (
    acknowledge_release,
    amend_release,
    get_release,
    get_visible_feature,
    get_visible_site,
    list_outcomes,
    list_releases,
    list_visible_feature_json,
    list_visible_features,
    list_visible_sites,
    read_visible_feature,
    read_visible_feature_json,
    read_visible_feature_text,
    refresh_partner_features,
    release_sites,
    report_outcome,
    site_reports,
    site_timelines,
    withdraw_release,
)
from vigia.store.review import decide
from vigia.store.sites import get_site

from .conftest import T0, row_counts

T1 = T0 + timedelta(days=1)
ORGS = [("AGENCY", "agency"), ("PA", "partner"), ("PB", "partner")]
USERS = [
    ("ana", "AGENCY", "analyst"),
    ("rob", "AGENCY", "release_officer"),
    ("ria", "AGENCY", "release_officer"),
    ("pa_off", "PA", "partner_officer"),
    ("pa_view", "PA", "partner_viewer"),
    ("pb_off", "PB", "partner_officer"),
]


def site_record(k: int) -> SiteRecord:
    lon, lat = -107.3 + 0.01 * k, 25.0
    return SiteRecord(
        lon=lon,
        lat=lat,
        bbox=(lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001),
        site_class="rural_lab",
        confidence=0.95,
        first_seen=T0,
        last_seen=T0 + timedelta(hours=1),
        reasons=("CH4 plume on 2 of 2 passes",),
        evidence={"passes": {"plume": {"seen": 2, "looked": 2}}, "species": ["CH4"]},
    )


@pytest.fixture()
def world(store: SessionFactory) -> SessionFactory:
    """Agency and partners PA, PB; SITE-000001..3 confirmed by ana, SITE-000004 a candidate."""
    with write_session(store) as s:
        for name, kind in ORGS:
            add_org(s, name, kind, country="MEX", now=T0)
        for name, org, role in USERS:
            add_user(s, name, org, role, now=T0)
    upsert_sites(store, [site_record(k) for k in range(4)], now=T0)
    for site in ("SITE-000001", "SITE-000002", "SITE-000003"):
        decide(store, site, "confirm", analyst="ana", reason="a lab", now=T0 + timedelta(hours=2))
    return store


def who(store: SessionFactory, user: str) -> Principal:
    with read_session(store) as s:
        return principal_of(s, user)


def do(store: SessionFactory, fn: Callable[..., Any], user: str, *args: Any, **kw: Any) -> Any:
    p = who(store, user)
    with write_session(store) as s:
        return fn(s, p, *args, **kw)


def see(store: SessionFactory, fn: Callable[..., Any], user: str, *args: Any, **kw: Any) -> Any:
    p = who(store, user)
    with read_session(store) as s:
        return fn(s, p, *args, **kw)


def release(store: SessionFactory, sites: list[str], to: list[str], user: str = "rob") -> str:
    rid: str = do(
        store, release_sites, user, sites, to, tlp="TLP:AMBER", caveats=["no onward"], now=T1
    )
    return rid


def test_a_release_moves_confirmed_sites_to_released_and_records_the_decision(
    world: SessionFactory,
) -> None:
    rid = release(world, ["SITE-000001", "SITE-000002"], ["PA"])
    assert rid == "REL-0001"
    detail = get_site(world, "SITE-000001")
    assert detail.site.state == "released"
    last = detail.decisions[-1]
    assert (last.action, last.actor, last.role, last.from_state) == (
        "release",
        "rob",
        "release_officer",
        "confirmed",
    )
    assert last.detail["to"] == ["PA"] and last.detail["tlp"] == "TLP:AMBER"
    view = see(world, get_release, "ria", rid)
    assert (view.site_ids, view.recipients, view.officer, view.caveats) == (
        ("SITE-000001", "SITE-000002"),
        ("PA",),
        "rob",
        ("no onward",),
    )
    # Released again, to another partner: a second release, the state stays.
    assert release(world, ["SITE-000001"], ["PB"]) == "REL-0002"
    assert get_site(world, "SITE-000001").site.state == "released"


def test_two_person_rule_the_analyst_who_confirmed_may_not_release(
    world: SessionFactory,
) -> None:
    decide(world, "SITE-000004", "confirm", analyst="rob", reason="looked myself", now=T1)
    before = row_counts(world)
    with pytest.raises(ForbiddenError, match="two-person rule"):
        release(world, ["SITE-000001", "SITE-000004"], ["PA"], user="rob")
    assert row_counts(world) == before
    assert get_site(world, "SITE-000001").site.state == "confirmed"
    assert release(world, ["SITE-000004"], ["PA"], user="ria") == "REL-0001"


@pytest.mark.parametrize(
    ("user", "sites", "to", "tlp", "error"),
    [
        ("ana", ["SITE-000001"], ["PA"], "TLP:AMBER", ForbiddenError),
        ("pa_off", ["SITE-000001"], ["PA"], "TLP:AMBER", ForbiddenError),
        ("rob", ["SITE-000004"], ["PA"], "TLP:AMBER", ForbiddenError),
        ("rob", ["SITE-000009"], ["PA"], "TLP:AMBER", NotFoundError),
        ("rob", ["SITE-000001"], ["NOPE"], "TLP:AMBER", NotFoundError),
        ("rob", ["SITE-000001"], ["AGENCY"], "TLP:AMBER", InputError),
        ("rob", ["SITE-000001"], [], "TLP:AMBER", InputError),
        ("rob", [], ["PA"], "TLP:AMBER", InputError),
        ("rob", ["SITE-000001"], ["PA"], "AMBER", InputError),
    ],
)
def test_a_refused_release_changes_nothing(
    world: SessionFactory,
    user: str,
    sites: list[str],
    to: list[str],
    tlp: str,
    error: type[Exception],
) -> None:
    before = row_counts(world)
    with pytest.raises(error):
        do(world, release_sites, user, sites, to, tlp=tlp, caveats=[], now=T1)
    assert row_counts(world) == before


def test_a_partner_sees_only_what_was_released_to_it(world: SessionFactory) -> None:
    to_a = release(world, ["SITE-000001"], ["PA"])
    to_b = release(world, ["SITE-000002"], ["PB"])
    to_both = release(world, ["SITE-000003"], ["PA", "PB"])

    sites, total = see(world, list_visible_sites, "pa_view")
    assert ([s.id for s in sites], total) == (["SITE-000001", "SITE-000003"], 2)
    assert all(s.evidence is None and s.observations is None for s in sites)
    assert all("evidence" not in s.to_feature()["properties"] for s in sites)
    assert [r.id for r in sites[1].releases] == [to_both]
    for hidden in ("SITE-000002", "SITE-000004", "SITE-000099"):
        with pytest.raises(NotFoundError, match=f"site {hidden} not found"):
            see(world, get_visible_site, "pa_view", hidden)
    with pytest.raises(NotFoundError, match=f"release {to_b} not found"):
        see(world, get_release, "pa_off", to_b)
    assert [r.id for r in see(world, list_releases, "pa_off")] == [to_a, to_both]
    both = see(world, get_release, "pb_off", to_both)
    assert (both.recipients, both.officer) == (("PB",), None)

    agency_sites, agency_total = see(world, list_visible_sites, "ana")
    assert agency_total == 4 and agency_sites[0].evidence is not None
    assert see(world, get_release, "ana", to_both).recipients == ("PA", "PB")


def test_sites_are_paged_and_filtered_by_box(world: SessionFactory) -> None:
    release(world, ["SITE-000001", "SITE-000002", "SITE-000003"], ["PA"])
    page, total = see(world, list_visible_sites, "pa_off", limit=2, offset=1)
    assert ([s.id for s in page], total) == (["SITE-000002", "SITE-000003"], 3)
    box = (-107.2905, 24.99, -107.2895, 25.01)  # around SITE-000002 only
    page, total = see(world, list_visible_sites, "pa_off", bbox=box)
    assert ([s.id for s in page], total) == (["SITE-000002"], 1)
    with pytest.raises(InputError):
        see(world, list_visible_sites, "pa_off", limit=0)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("pa_off", ["SITE-000001", "SITE-000002", "SITE-000003"]),
        ("ana", ["SITE-000001", "SITE-000002", "SITE-000003", "SITE-000004"]),
    ],
)
def test_a_filtered_listing_tells_how_many_match_on_every_page_and_past_the_last(
    world: SessionFactory, user: str, expected: list[str]
) -> None:
    release(world, ["SITE-000001", "SITE-000002", "SITE-000003"], ["PA"])
    box = (-107.31, 24.9, -107.26, 25.1)  # around all four sites
    seen: list[str] = []
    for offset in range(len(expected) + 2):
        page, total = see(
            world, list_visible_sites, user, bbox=box, start=T0, limit=1, offset=offset
        )
        assert total == len(expected)
        seen += [s.id for s in page]
    assert seen == expected


def test_a_withdrawal_is_visible_to_the_partner(world: SessionFactory) -> None:
    rid = release(world, ["SITE-000001"], ["PA"])
    with pytest.raises(ForbiddenError):
        do(world, withdraw_release, "pa_off", rid, reason="no", now=T1)
    with pytest.raises(InputError):
        do(world, withdraw_release, "rob", rid, reason=" ", now=T1)
    do(world, withdraw_release, "ria", rid, reason="released in error", now=T1 + timedelta(hours=1))
    view = see(world, get_release, "pa_view", rid)
    assert view.withdrawn and view.withdraw_reason == "released in error"
    site = see(world, get_visible_site, "pa_view", "SITE-000001")
    assert site.releases[0].withdrawn and site.to_feature()["properties"]["withdrawn"]
    with pytest.raises(LifecycleError):
        do(world, withdraw_release, "rob", rid, reason="again", now=T1)
    with pytest.raises(LifecycleError):
        do(world, acknowledge_release, "pa_off", rid, now=T1 + timedelta(hours=2))
    with pytest.raises(LifecycleError):
        do(world, amend_release, "rob", rid, tlp="TLP:RED", now=T1 + timedelta(hours=2))


def test_an_amendment_changes_the_marking_and_adds_sites(world: SessionFactory) -> None:
    rid = release(world, ["SITE-000001"], ["PA"])
    do(world, amend_release, "ria", rid, tlp="TLP:RED", add_sites=["SITE-000002"], now=T1)
    view = see(world, get_release, "pa_off", rid)
    assert (view.tlp, view.site_ids, view.version) == (
        "TLP:RED",
        ("SITE-000001", "SITE-000002"),
        2,
    )
    assert get_site(world, "SITE-000002").site.state == "released"
    with pytest.raises(LifecycleError, match="changes nothing"):
        do(world, amend_release, "ria", rid, tlp="TLP:RED", now=T1)


def test_acknowledgement_by_a_partner_officer_moves_its_sites(world: SessionFactory) -> None:
    rid = release(world, ["SITE-000001", "SITE-000002"], ["PA", "PB"])
    for user, error in (("pa_view", ForbiddenError), ("rob", ForbiddenError)):
        with pytest.raises(error):
            do(world, acknowledge_release, user, rid, now=T1)
    other = release(world, ["SITE-000003"], ["PB"])
    with pytest.raises(NotFoundError):
        do(world, acknowledge_release, "pa_off", other, now=T1)
    do(world, acknowledge_release, "pa_off", rid, now=T1 + timedelta(hours=3))
    do(world, acknowledge_release, "pa_off", rid, now=T1 + timedelta(hours=4))  # no change
    assert get_site(world, "SITE-000001").site.state == "acknowledged"
    assert see(world, get_release, "pa_off", rid).acknowledged
    agency_view = see(world, get_release, "rob", rid)
    assert not agency_view.acknowledged  # PB has not
    assert agency_view.acknowledgements == {"PA": T1 + timedelta(hours=3), "PB": None}


CHANGES: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "amend": (amend_release, {"tlp": "TLP:RED", "now": T1}),
    "withdraw": (withdraw_release, {"reason": "released in error", "now": T1}),
    "acknowledge": (acknowledge_release, {"now": T1}),
}


@pytest.mark.parametrize(
    ("change", "user", "release_id", "error"),
    [
        # A partner learns nothing of a release sent to another: 404, as for no release.
        ("amend", "pb_off", "REL-0001", NotFoundError),
        ("withdraw", "pb_off", "REL-0001", NotFoundError),
        ("acknowledge", "pb_off", "REL-0001", NotFoundError),
        # A release the principal sees, a change its role may not make: 403.
        ("amend", "pa_off", "REL-0001", ForbiddenError),
        ("withdraw", "pa_view", "REL-0001", ForbiddenError),
        ("amend", "ana", "REL-0001", ForbiddenError),
        ("withdraw", "ana", "REL-0001", ForbiddenError),
        ("acknowledge", "rob", "REL-0001", ForbiddenError),
        ("acknowledge", "pa_view", "REL-0001", ForbiddenError),
        # No such release: 404 for everyone, whatever the role.
        ("amend", "ana", "REL-0099", NotFoundError),
        ("withdraw", "pa_off", "REL-0099", NotFoundError),
        ("acknowledge", "rob", "REL-0099", NotFoundError),
    ],
)
def test_a_change_to_a_release_the_principal_may_not_see_is_404_else_403_for_its_role(
    world: SessionFactory, change: str, user: str, release_id: str, error: type[Exception]
) -> None:
    release(world, ["SITE-000001"], ["PA"])
    fn, kw = CHANGES[change]
    before = row_counts(world)
    with pytest.raises(error) as refused:
        do(world, fn, user, release_id, **kw)
    if error is NotFoundError:  # word for word what a release that does not exist gives
        assert str(refused.value) == f"release {release_id} not found"
    assert row_counts(world) == before


@pytest.mark.parametrize(
    ("change", "user"),
    [("amend", "ana"), ("withdraw", "pa_off"), ("acknowledge", "rob"), ("acknowledge", "pb_off")],
)
def test_a_caller_whose_role_may_not_change_a_release_never_waits_for_its_lock(
    world: SessionFactory, backend: str, change: str, user: str
) -> None:
    if backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite serialises whole write transactions)")
    rid = release(world, ["SITE-000001"], ["PA"])
    fn, kw = CHANGES[change]
    p = who(world, user)
    holder = world()
    try:
        holder.execute(select(Release).where(Release.id == rid).with_for_update())
        with (
            pytest.raises((ForbiddenError, NotFoundError)),
            write_session(world) as s,
        ):
            s.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail with this
            fn(s, p, rid, **kw)
    finally:
        holder.rollback()
        holder.close()


def test_an_outcome_is_stored_with_quantities_normalised(world: SessionFactory) -> None:
    rid = release(world, ["SITE-000001"], ["PA"])
    quantities = [
        {"item": "powder", "amount": 12, "unit": "lb"},
        {"item": "pills", "amount": 500, "unit": "tablets"},
    ]
    oid = do(
        world,
        report_outcome,
        "pa_off",
        "SITE-000001",
        outcome="seizure",
        quantities=quantities,
        text="lab dismantled, powder seized",
        observed_at=T1 + timedelta(days=2),
        now=T1 + timedelta(days=3),
    )
    with read_session(world) as s:
        stored = s.scalar(select(Outcome).where(Outcome.id == oid))
    assert stored is not None and stored.release_id == rid
    powder = stored.quantities[0]
    assert (powder["unit"], round(powder["amount"], 4), powder["original_unit"]) == (
        "kg",
        5.4431,
        "lb",
    )
    # Reporting acknowledged the release implicitly, then actioned the site.
    actions = [d.action for d in get_site(world, "SITE-000001").decisions]
    assert actions[-2:] == ["acknowledge", "report_outcome"]
    assert get_site(world, "SITE-000001").site.state == "actioned"
    assert see(world, get_release, "pa_off", rid).acknowledged
    assert [o.outcome for o in see(world, list_outcomes, "ana")] == ["seizure"]
    assert see(world, list_outcomes, "pb_off") == []


@pytest.mark.parametrize(
    ("user", "site", "fields", "error"),
    [
        ("pa_off", "SITE-000001", {"outcome": "seizure", "quantities": []}, InputError),
        (
            "pa_off",
            "SITE-000001",
            {"outcome": "seizure", "quantities": [{"item": "powder", "amount": 1, "unit": "m"}]},
            InputError,
        ),
        (
            "pa_off",
            "SITE-000001",
            {"outcome": "inactive", "quantities": [{"item": "pills", "amount": 1, "unit": "ea"}]},
            InputError,
        ),
        ("pa_off", "SITE-000001", {"outcome": "arrests", "quantities": []}, InputError),
        ("pa_off", "SITE-000001", {"observed_at": T0}, InputError),
        ("pa_off", "SITE-000001", {"observed_at": T1 + timedelta(days=30)}, InputError),
        ("pa_view", "SITE-000001", {}, ForbiddenError),
        ("ana", "SITE-000001", {}, ForbiddenError),
        ("pb_off", "SITE-000001", {}, NotFoundError),
        ("pa_off", "SITE-000002", {}, NotFoundError),
    ],
)
def test_a_refused_outcome_changes_nothing(
    world: SessionFactory, user: str, site: str, fields: dict[str, Any], error: type[Exception]
) -> None:
    release(world, ["SITE-000001"], ["PA"])
    before = row_counts(world)
    args = {
        "outcome": "nothing_found",
        "quantities": [],
        "text": "",
        "observed_at": T1 + timedelta(days=1),
        "now": T1 + timedelta(days=2),
    } | fields
    with pytest.raises(error):
        do(world, report_outcome, user, site, **args)
    assert row_counts(world) == before
    assert get_site(world, "SITE-000001").site.state == "released"


def test_reports_for_exports_carry_the_marking_and_hide_other_recipients(
    world: SessionFactory,
) -> None:
    rid = release(world, ["SITE-000001", "SITE-000003"], ["PA", "PB"])
    reports = see(world, site_reports, "pa_off", rid)
    assert [r.site_id for r in reports] == ["SITE-000001", "SITE-000003"]
    assert reports[0].released_to == ("PA",)
    assert (reports[0].marking.tlp, reports[0].marking.caveats) == ("TLP:AMBER", ("no onward",))
    assert reports[0].originator == "AGENCY" and reports[0].species == ("CH4",)
    assert see(world, site_reports, "rob", rid)[0].released_to == ("PA", "PB")
    with pytest.raises(NotFoundError):
        see(world, site_reports, "pa_off", "REL-0042")


def test_timelines_give_each_step_of_each_released_site(world: SessionFactory) -> None:
    release(world, ["SITE-000001"], ["PA", "PB"])
    do(
        world,
        report_outcome,
        "pa_off",
        "SITE-000001",
        outcome="dismantled",
        quantities=[],
        text="",
        observed_at=T1 + timedelta(days=1),
        now=T1 + timedelta(days=2),
    )
    lines = see(world, site_timelines, "ana")
    with read_session(world) as s:  # the console, reading the store directly
        assert site_timelines(s, Principal.local_operator()) == lines
    assert [(t.site_id, t.partner) for t in lines] == [("SITE-000001", "PA"), ("SITE-000001", "PB")]
    pa, pb = lines
    assert pa.released_at == T1 and pa.confirmed_at == T0 + timedelta(hours=2)
    assert (pa.acknowledged_at, pa.actioned_at, pa.outcome) == (
        T1 + timedelta(days=2),
        T1 + timedelta(days=1),
        "dismantled",
    )
    assert (pb.acknowledged_at, pb.outcome) == (None, None)


@pytest.mark.parametrize("user", ["pa_off", "pa_view", "pb_off"])
def test_timelines_are_the_agencys_a_partner_is_refused_them(
    world: SessionFactory, user: str
) -> None:
    release(world, ["SITE-000001"], ["PA", "PB"])
    with pytest.raises(ForbiddenError, match="agency's"):
        see(world, site_timelines, user)
    assert [t.partner for t in see(world, site_timelines, "rob")] == ["PA", "PB"]


def test_a_partner_does_not_learn_what_another_partner_did(world: SessionFactory) -> None:
    rid = release(world, ["SITE-000001"], ["PA", "PB"])
    do(
        world,
        report_outcome,
        "pa_off",
        "SITE-000001",
        outcome="nothing_found",
        quantities=[],
        text="",
        observed_at=T1 + timedelta(hours=5),
        now=T1 + timedelta(hours=6),
    )
    state = {u: see(world, get_visible_site, u, "SITE-000001").state for u in ("pa_off", "pb_off")}
    assert state == {"pa_off": "actioned", "pb_off": "released"}
    assert see(world, get_visible_site, "ana", "SITE-000001").state == "actioned"
    assert [r.state for r in see(world, site_reports, "pb_off", rid)] == ["released"]
    do(world, acknowledge_release, "pb_off", rid, now=T1 + timedelta(hours=7))
    assert see(world, get_visible_site, "pb_off", "SITE-000001").state == "acknowledged"


def test_the_read_paths_features_are_the_views_features(world: SessionFactory) -> None:
    """list_visible_features / get_visible_feature give what the SiteView path gives."""
    upsert_sites(world, [site_record(k) for k in range(4, 9)], now=T0)
    for k in range(5, 10):
        decide(world, f"SITE-00000{k}", "confirm", analyst="ana", reason="x", now=T0)
    first = release(world, ["SITE-000001", "SITE-000002", "SITE-000005"], ["PA", "PB"])
    second = release(world, ["SITE-000002", "SITE-000003"], ["PA"])
    do(world, amend_release, "ria", second, caveats=["no onward", "é ∂"], now=T1)
    third = release(world, ["SITE-000003", "SITE-000006"], ["PA"], user="ria")
    do(world, amend_release, "rob", third, tlp="TLP:RED", now=T1 + timedelta(hours=1))
    release(world, ["SITE-000007", "SITE-000002"], ["PB"])
    do(world, withdraw_release, "ria", first, reason="in error", now=T1 + timedelta(hours=2))
    do(world, acknowledge_release, "pa_off", second, now=T1 + timedelta(hours=3))
    do(
        world,
        report_outcome,
        "pa_off",
        "SITE-000003",
        outcome="nothing_found",
        quantities=[],
        text="",
        observed_at=T1 + timedelta(hours=4),
        now=T1 + timedelta(hours=5),
    )
    windows: list[dict[str, Any]] = [
        {},
        {"limit": 2},
        {"limit": 2, "offset": 2},
        {"limit": 3, "offset": 50},
        {"bbox": (-107.29, 24.9, -107.24, 25.1)},
        {"bbox": (-107.29, 24.9, -107.24, 25.1), "limit": 1, "offset": 1},
        {"bbox": (-107.29, 24.9, -107.24, 25.1), "limit": 1, "offset": 9},
        {"start": T0 + timedelta(minutes=30)},
        {"end": T0 - timedelta(days=1)},
        {"bbox": (-108.0, 24.0, -107.0, 26.0), "start": T0, "end": T1, "limit": 4},
    ]
    check_features(world, windows)
    shown = see(world, get_visible_feature, "pa_off", "SITE-000003")["properties"]
    assert (shown["state"], shown["tlp"], len(shown["releases"])) == ("actioned", "TLP:RED", 2)
    # A released site that changes has its partners' features marked stale (a trigger,
    # whoever changes it)...
    assert stale_partner_rows(world) == set()
    with write_session(world) as s:
        s.execute(
            update(Site)
            .where(Site.id.in_(["SITE-000002", "SITE-000006"]))
            .values(confidence=0.51234567, reasons=["changed", "ü"])
        )
        s.execute(update(Site).where(Site.id == "SITE-000003").values(state="closed"))
    assert stale_partner_rows(world) == {"SITE-000002", "SITE-000003", "SITE-000006"}
    # ... and is rendered from the sharing tables until the store writes them again: a
    # release carrying it, fusion's refresh, or a backfill.
    check_features(world, windows)
    release(world, ["SITE-000002"], ["PB"])
    assert "SITE-000002" not in stale_partner_rows(world)
    check_features(world, windows)
    with write_session(world) as s:
        s.execute(update(Site).where(Site.id == "SITE-000001").values(confidence=0.7))
    assert stale_partner_rows(world) == {"SITE-000001", "SITE-000003", "SITE-000006"}
    assert refresh_partner_features(world) == 3
    assert stale_partner_rows(world) == set()
    check_features(world, windows)
    assert refresh_partner_features(world) == 0


def stale_partner_rows(store: SessionFactory) -> set[str]:
    with read_session(store) as s:
        q = select(PartnerSite.site_id).where(PartnerSite.feature.is_(None))
        return set(s.scalars(q))


def test_partner_rows_follow_every_change_whoever_makes_it(world: SessionFactory) -> None:
    """The triggers keep partner_sites exact; the store rewrites what its changes made stale."""
    upsert_sites(world, [site_record(k) for k in range(4, 9)], now=T0)
    for k in range(5, 10):
        decide(world, f"SITE-00000{k}", "confirm", analyst="ana", reason="x", now=T0)
    first = release(world, ["SITE-000001", "SITE-000002", "SITE-000005"], ["PA", "PB"])
    second = release(world, ["SITE-000002", "SITE-000003"], ["PA"])
    windows: list[dict[str, Any]] = [
        {},
        {"limit": 2, "offset": 1},
        {"bbox": (-107.29, 24.9, -107.24, 25.1)},
        {"bbox": (-100.5, 19.5, -99.5, 20.5)},
        {"start": T0 + timedelta(minutes=30)},
    ]
    check_features(world, windows)
    # Every change the store makes leaves no stale row behind.
    do(world, amend_release, "ria", second, tlp="TLP:RED", add_orgs=["PB"], now=T1)
    do(world, acknowledge_release, "pb_off", second, now=T1 + timedelta(hours=1))
    do(world, withdraw_release, "ria", first, reason="in error", now=T1 + timedelta(hours=2))
    do(
        world,
        report_outcome,
        "pa_off",
        "SITE-000003",
        outcome="nothing_found",
        quantities=[],
        text="",
        observed_at=T1 + timedelta(hours=3),
        now=T1 + timedelta(hours=4),
    )
    assert stale_partner_rows(world) == set()
    check_features(world, windows)
    # A site moved, a recipient and a released site removed outside the store's functions.
    with write_session(world) as s:
        s.execute(
            update(Site)
            .where(Site.id == "SITE-000002")
            .values(lon=-100.0, lat=20.0, min_lon=-100.01, min_lat=19.99, max_lon=-99.99)
            .values(max_lat=20.01, last_seen=T1 + timedelta(days=3))
        )
    assert "SITE-000002" in stale_partner_rows(world)
    check_features(world, windows)
    with write_session(world) as s:
        pb = s.scalar(select(Organisation.id).where(Organisation.name == "PB"))
        s.execute(
            ReleaseRecipient.__table__.delete().where(
                ReleaseRecipient.release_id == second, ReleaseRecipient.org_id == pb
            )
        )
        s.execute(
            ReleaseSite.__table__.delete().where(
                ReleaseSite.release_id == first, ReleaseSite.site_id == "SITE-000005"
            )
        )
    check_features(world, windows)
    assert refresh_partner_features(world) >= 0
    assert stale_partner_rows(world) == set()
    check_features(world, windows)


def check_features(store: SessionFactory, windows: list[dict[str, Any]]) -> None:
    ids = [f"SITE-00000{k}" for k in range(1, 10)]
    with read_session(store) as s:
        changes = read_changes(s)
    for user in ("ana", "rob", "pa_view", "pa_off", "pb_off"):
        p = who(store, user)
        for window in windows:
            views, total = see(store, list_visible_sites, user, **window)
            features, matched = see(store, list_visible_features, user, **window)
            assert matched == total, (user, window)
            assert features == [v.to_feature() for v in views], (user, window)
            texts, matched = see(store, list_visible_feature_json, user, **window)
            assert matched == total, (user, window)
            assert texts == [orjson.dumps(v.to_feature()).decode() for v in views], (user, window)
            # The same on a connection outside any transaction, with the count it was read at
            # (known whenever the page has a site: read in the page's own statement).
            with statement_connection(store) as conn:
                page = read_visible_feature_json(conn, p, **window)
            assert (page.features, page.matched) == (texts, matched), (user, window)
            assert page.changes == (changes if texts else None), (user, window)
        for sid in ids:
            try:
                view = see(store, get_visible_site, user, sid)
            except NotFoundError:
                with pytest.raises(NotFoundError, match=f"site {sid} not found"):
                    see(store, get_visible_feature, user, sid)
                with statement_connection(store) as conn, pytest.raises(NotFoundError):
                    read_visible_feature(conn, p, sid)
            else:
                assert see(store, get_visible_feature, user, sid) == view.to_feature()
                with statement_connection(store) as conn:
                    assert read_visible_feature(conn, p, sid) == (view.to_feature(), changes)
                    text, seen = read_visible_feature_text(conn, p, sid)
                assert text == orjson.dumps(view.to_feature()).decode()
                assert seen == changes
    check_partner_sites(store)


def check_partner_sites(store: SessionFactory) -> None:
    """A partner's rows are exactly the sites it may see; a stored feature is what it sees."""
    with read_session(store) as s:
        partners = list(s.scalars(select(Organisation.name).where(Organisation.kind == "partner")))
        rows = s.execute(
            select(Organisation.name, PartnerSite.site_id, PartnerSite.feature).join(
                Organisation, Organisation.id == PartnerSite.org_id
            )
        ).all()
        sites = {x.id: x for x in s.scalars(select(Site))}
        boxes = {
            (org, sid): (p.min_lon, p.min_lat, p.max_lon, p.max_lat, p.first_seen, p.last_seen)
            for org, sid, p in s.execute(
                select(Organisation.name, PartnerSite.site_id, PartnerSite).join(
                    Organisation, Organisation.id == PartnerSite.org_id
                )
            )
        }
    user_of = {"PA": "pa_view", "PB": "pb_off"}
    for org in partners:
        views = see(store, list_visible_sites, user_of[org], limit=1000)[0]
        want = {v.id: orjson.dumps(v.to_feature()).decode() for v in views}
        have = {sid: feature for name, sid, feature in rows if name == org}
        assert set(have) == set(want), org
        for sid, feature in have.items():
            assert feature is None or feature == want[sid], (org, sid)
            x = sites[sid]
            box = (x.min_lon, x.min_lat, x.max_lon, x.max_lat, x.first_seen, x.last_seen)
            assert boxes[org, sid] == box, (org, sid)


def test_concurrent_releases_get_distinct_ids(world: SessionFactory) -> None:
    import threading

    ids: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def work(site: str) -> None:
        try:
            start.wait()
            ids.append(release(world, [site], ["PA"]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"SITE-00000{k}",)) for k in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(ids) == ["REL-0001", "REL-0002", "REL-0003"]


def test_concurrent_changes_to_releases_of_the_same_sites_all_succeed(
    world: SessionFactory,
) -> None:
    # Withdrawals, acknowledgements and amendments of releases that carry the same sites to
    # the same partners, all at once: each rewrites those partners' rows of the same sites.
    # They queue (one lock for what changes what partners see) instead of deadlocking.
    import threading

    sites = ["SITE-000001", "SITE-000002", "SITE-000003"]
    rids = [release(world, sites, ["PA", "PB"]) for _ in range(6)]
    jobs: list[tuple[Callable[..., Any], str, str, dict[str, Any]]] = []
    for k, rid in enumerate(rids):
        jobs.append((withdraw_release, "rob" if k % 2 else "ria", rid, {"reason": "error"}))
        jobs.append((acknowledge_release, "pa_off" if k % 2 else "pb_off", rid, {}))
    jobs.append((amend_release, "rob", rids[0], {"tlp": "TLP:RED"}))
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def work(fn: Callable[..., Any], user: str, rid: str, kw: dict[str, Any]) -> None:
        try:
            start.wait()
            do(world, fn, user, rid, now=T1 + timedelta(hours=1), **kw)
        except LifecycleError:
            pass  # amended after its withdrawal, or acknowledged after it: refused, fine
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(see(world, get_release, "rob", rid).withdrawn_at is not None for rid in rids)
    check_partner_sites(world)


def test_fusion_updating_released_sites_while_partners_act_on_them_all_succeed(
    world: SessionFactory,
) -> None:
    # Fusion merges new passes into sites already released (their boxes, confidence and
    # times change, so partners' rows of them go stale) while partners acknowledge and
    # officers withdraw the releases that carry them: every write gets through.
    import dataclasses
    import threading

    sites = ["SITE-000001", "SITE-000002", "SITE-000003"]
    rids = [release(world, sites, ["PA", "PB"]) for _ in range(4)]
    jobs: list[Callable[[], Any]] = []
    for k in range(4):
        records = [
            dataclasses.replace(
                site_record(i), site_id=sid, confidence=0.9 + 0.01 * k, last_seen=T1
            )
            for i, sid in enumerate(sites)
        ]
        jobs.append(lambda r=records: upsert_sites(world, r, now=T1 + timedelta(hours=2)))
    for k, rid in enumerate(rids):
        user = "pa_off" if k % 2 else "pb_off"
        jobs.append(
            lambda u=user, r=rid: do(world, acknowledge_release, u, r, now=T1 + timedelta(hours=1))
        )
        jobs.append(
            lambda r=rid: do(
                world, withdraw_release, "rob", r, reason="error", now=T1 + timedelta(hours=3)
            )
        )
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def work(job: Callable[[], Any]) -> None:
        try:
            start.wait()
            job()
        except LifecycleError:
            pass  # acknowledged after its withdrawal: refused, fine
        except BaseException as exc:  # reported below
            errors.append(exc)

    for _ in range(3):
        threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == [], errors
    check_partner_sites(world)
