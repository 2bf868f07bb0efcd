"""Sortie approval: a plan over a partner's territory flies once that partner approves it."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from vigia.errors import (
    ForbiddenError,
    GeometryError,
    InputError,
    LifecycleError,
    NotFoundError,
)
from vigia.store import SessionFactory, read_session, write_session
from vigia.store.access import add_org, add_user, principal_of
from vigia.store.sorties import (
    approval_of_plan,
    decide_sortie,
    get_sortie,
    list_sorties,
    submit_sortie,
)

from .conftest import T0, row_counts, square

AREA = square(-107.3, 25.0, 0.05)


@pytest.fixture()
def world(store: SessionFactory, tmp_path: Path) -> SessionFactory:
    with write_session(store) as s:
        add_org(s, "AGENCY", "agency", now=T0)
        add_org(s, "PA", "partner", country="MEX", now=T0)
        add_org(s, "PB", "partner", now=T0)
        for name, org, role in [
            ("pla", "AGENCY", "analyst"),
            ("pa_off", "PA", "partner_officer"),
            ("pa_view", "PA", "partner_viewer"),
            ("pb_off", "PB", "partner_officer"),
        ]:
            add_user(s, name, org, role, now=T0)
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "mission.plan").write_text('{"mission": 1}')
    (plan / "plan.json").write_text('{"name": "sinaloa"}')
    return store


def do(store: SessionFactory, fn: Callable[..., Any], user: str, *args: Any, **kw: Any) -> Any:
    with write_session(store) as s:
        return fn(s, principal_of(s, user), *args, **kw)


def submit(store: SessionFactory, plan: Path, to: str = "PA", user: str = "pla") -> str:
    sid: str = do(
        store, submit_sortie, user, name="sinaloa-1", partner_org=to, plan_path=plan, area=AREA,
        now=T0,
    )  # fmt: skip
    return sid


def test_a_submitted_sortie_is_flyable_once_the_partner_officer_approves(
    world: SessionFactory, tmp_path: Path
) -> None:
    sid = submit(world, tmp_path / "plan")
    assert sid == "SRT-0001"
    with read_session(world) as s:
        view = get_sortie(s, principal_of(s, "pa_view"), sid)
    assert (view.status, view.flyable, view.org, view.submitted_by) == (
        "submitted",
        False,
        "PA",
        "pla",
    )
    do(world, decide_sortie, "pa_off", sid, approve=True, reason="", now=T0 + timedelta(hours=1))
    with read_session(world) as s:
        view = get_sortie(s, principal_of(s, "pla"), sid)
        (matching,) = approval_of_plan(s, tmp_path / "plan")
    assert (view.status, view.flyable, view.decided_by) == ("approved", True, "pa_off")
    assert matching.id == sid
    with pytest.raises(LifecycleError):
        do(world, decide_sortie, "pa_off", sid, approve=False, reason="changed my mind", now=T0)


def test_a_refusal_needs_a_reason_and_is_kept(world: SessionFactory, tmp_path: Path) -> None:
    sid = submit(world, tmp_path / "plan")
    with pytest.raises(InputError):
        do(world, decide_sortie, "pa_off", sid, approve=False, reason=" ", now=T0)
    do(world, decide_sortie, "pa_off", sid, approve=False, reason="operation under way", now=T0)
    with read_session(world) as s:
        view = get_sortie(s, principal_of(s, "pa_off"), sid)
    assert (view.status, view.reason, view.flyable) == ("refused", "operation under way", False)


def test_only_the_partner_it_was_submitted_to_sees_and_decides_it(
    world: SessionFactory, tmp_path: Path
) -> None:
    sid = submit(world, tmp_path / "plan")
    before = row_counts(world)
    with pytest.raises(NotFoundError):
        do(world, decide_sortie, "pb_off", sid, approve=True, reason="", now=T0)
    with pytest.raises(ForbiddenError):
        do(world, decide_sortie, "pa_view", sid, approve=True, reason="", now=T0)
    with pytest.raises(ForbiddenError):
        do(world, decide_sortie, "pla", sid, approve=True, reason="", now=T0)
    assert row_counts(world) == before
    with read_session(world) as s:
        assert list_sorties(s, principal_of(s, "pb_off")) == []
        with pytest.raises(NotFoundError):
            get_sortie(s, principal_of(s, "pb_off"), sid)
        assert [v.id for v in list_sorties(s, principal_of(s, "pa_view"))] == [sid]


def test_a_plan_changed_after_submission_no_longer_matches(
    world: SessionFactory, tmp_path: Path
) -> None:
    submit(world, tmp_path / "plan")
    (tmp_path / "plan" / "mission.plan").write_text('{"mission": 2}')
    with read_session(world) as s:
        assert approval_of_plan(s, tmp_path / "plan") == []


@pytest.mark.parametrize(
    ("user", "changes", "error"),
    [
        ("pa_off", {}, ForbiddenError),
        ("pla", {"partner_org": "AGENCY"}, InputError),
        ("pla", {"partner_org": "NOPE"}, NotFoundError),
        ("pla", {"area": {"type": "Point", "coordinates": [0, 0]}}, GeometryError),
        ("pla", {"area": square(25.0, -107.3, 0.05)}, GeometryError),  # lat, lon swapped
        ("pla", {"plan_path": Path("/nonexistent/plan")}, InputError),
        ("pla", {"name": " "}, InputError),
    ],
)
def test_a_bad_submission_is_refused_and_changes_nothing(
    world: SessionFactory, tmp_path: Path, user: str, changes: dict[str, Any], error: type
) -> None:
    before = row_counts(world)
    args = {
        "name": "x",
        "partner_org": "PA",
        "plan_path": tmp_path / "plan",
        "area": AREA,
        "now": T0,
    } | changes
    with pytest.raises(error):
        do(world, submit_sortie, user, **args)
    assert row_counts(world) == before
