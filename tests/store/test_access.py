"""Organisations, users and API tokens: who may act, on both back ends."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from vigia.errors import AuthError, InputError, NotFoundError
from vigia.store import SessionFactory, read_session, write_session
from vigia.store.access import (
    add_org,
    add_user,
    authenticate,
    hash_token,
    issue_token,
    list_orgs,
    list_tokens,
    list_users,
    parse_duration,
    principal_of,
    revoke_tokens,
    set_user_active,
)
from vigia.store.models import ApiToken

from .conftest import T0, row_counts


@pytest.fixture()
def people(store: SessionFactory) -> SessionFactory:
    with write_session(store) as s:
        add_org(s, "AGENCY", "agency", country="MEX", now=T0)
        add_org(s, "FGR", "partner", country="MEX", now=T0)
        add_user(s, "ana", "AGENCY", "analyst", now=T0)
        add_user(s, "rob", "AGENCY", "release_officer", now=T0)
        add_user(s, "pat", "FGR", "partner_officer", now=T0)
    return store


def test_organisations_and_users_are_listed_by_name(people: SessionFactory) -> None:
    with read_session(people) as s:
        assert list_orgs(s) == [
            {"name": "AGENCY", "kind": "agency", "country": "MEX"},
            {"name": "FGR", "kind": "partner", "country": "MEX"},
        ]
        assert list_users(s) == [
            {"name": "ana", "org": "AGENCY", "role": "analyst", "active": True},
            {"name": "pat", "org": "FGR", "role": "partner_officer", "active": True},
            {"name": "rob", "org": "AGENCY", "role": "release_officer", "active": True},
        ]
        p = principal_of(s, "pat")
    assert (p.user, p.org, p.org_kind, p.role, p.is_agency) == (
        "pat",
        "FGR",
        "partner",
        "partner_officer",
        False,
    )


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: add_org(s, "FGR", "partner", now=T0), InputError, "already exists"),
        (lambda s: add_org(s, "SEDENA", "agency", now=T0), InputError, "already an agency"),
        (lambda s: add_org(s, "X", "militia", now=T0), InputError, "kind"),
        (lambda s: add_org(s, "X", "partner", country="mx", now=T0), InputError, "alpha-3"),
        (lambda s: add_org(s, "", "partner", now=T0), InputError, "name"),
        (lambda s: add_user(s, "ana", "AGENCY", "analyst", now=T0), InputError, "already"),
        (lambda s: add_user(s, "zed", "FGR", "analyst", now=T0), InputError, "partner"),
        (lambda s: add_user(s, "zed", "AGENCY", "partner_officer", now=T0), InputError, "agency"),
        (lambda s: add_user(s, "zed", "AGENCY", "boss", now=T0), InputError, "role"),
        (lambda s: add_user(s, "zed", "NOPE", "analyst", now=T0), NotFoundError, "NOPE"),
        (lambda s: issue_token(s, "nobody", expires=None, now=T0), NotFoundError, "nobody"),
        (lambda s: issue_token(s, "ana", expires=timedelta(0), now=T0), InputError, "positive"),
    ],
)
def test_bad_input_is_refused_and_the_database_is_unchanged(
    people: SessionFactory, call: object, error: type[Exception], message: str
) -> None:
    before = row_counts(people)
    with pytest.raises(error, match=message), write_session(people) as s:
        call(s)  # type: ignore[operator]
    assert row_counts(people) == before


def test_a_token_is_random_prefixed_and_only_its_hash_is_stored(people: SessionFactory) -> None:
    with write_session(people) as s:
        token = issue_token(s, "pat", expires=timedelta(days=30), now=T0)
        other = issue_token(s, "pat", expires=timedelta(days=30), now=T0)
    assert token.startswith("vga_") and len(token) == 47 and token != other
    with read_session(people) as s:
        rows = list(s.scalars(select(ApiToken)))
    assert {r.token_hash for r in rows} == {hash_token(token), hash_token(other)}
    assert all(token not in (r.token_hash, r.prefix) for r in rows)
    assert rows[0].expires_at == T0 + timedelta(days=30)


def test_token_lifecycle_issue_use_expire_and_revoke(people: SessionFactory) -> None:
    with write_session(people) as s:
        token = issue_token(s, "pat", expires=timedelta(hours=1), now=T0)
    with write_session(people) as s:
        p = authenticate(s, token, now=T0 + timedelta(minutes=5))
    assert (p.user, p.org, p.role) == ("pat", "FGR", "partner_officer")
    with read_session(people) as s:
        (listed,) = list_tokens(s, "pat")
    assert listed["last_used_at"] == T0 + timedelta(minutes=5)
    assert listed["prefix"] == token[:12]

    with read_session(people) as s, pytest.raises(AuthError) as refused:
        authenticate(s, token, now=T0 + timedelta(hours=1))
    assert refused.value.reason == "expired"

    with write_session(people) as s:
        assert revoke_tokens(s, token=token, now=T0 + timedelta(minutes=10)) == 1
        assert revoke_tokens(s, token=token, now=T0 + timedelta(minutes=11)) == 0
    with read_session(people) as s, pytest.raises(AuthError) as refused:
        authenticate(s, token, now=T0 + timedelta(minutes=20))
    assert refused.value.reason == "revoked"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer something", "malformed"),
        ("vga_short", "malformed"),
        ("vga_" + "A" * 43, "unknown"),
    ],
)
def test_missing_malformed_and_unknown_tokens_are_refused_with_the_reason(
    people: SessionFactory, token: str | None, reason: str
) -> None:
    with read_session(people) as s, pytest.raises(AuthError) as refused:
        authenticate(s, token, now=T0)
    assert refused.value.reason == reason
    assert isinstance(refused.value, PermissionError)


def test_a_disabled_users_tokens_are_refused(people: SessionFactory) -> None:
    with write_session(people) as s:
        token = issue_token(s, "rob", expires=None, now=T0)
        set_user_active(s, "rob", False)
    with read_session(people) as s:
        with pytest.raises(AuthError) as refused:
            authenticate(s, token, now=T0 + timedelta(days=999))
        assert refused.value.reason == "disabled"
        with pytest.raises(AuthError):
            principal_of(s, "rob")


def test_revoking_by_user_revokes_every_live_token_of_that_user_only(
    people: SessionFactory,
) -> None:
    with write_session(people) as s:
        mine = [issue_token(s, "ana", expires=None, now=T0) for _ in range(3)]
        theirs = issue_token(s, "pat", expires=None, now=T0)
    with write_session(people) as s:
        assert revoke_tokens(s, user="ana", now=T0) == 3
    with write_session(people) as s:
        for t in mine:
            with pytest.raises(AuthError):
                authenticate(s, t, now=T0)
        assert authenticate(s, theirs, now=T0).user == "pat"
        with pytest.raises(NotFoundError):
            revoke_tokens(s, token=theirs, user="ana", now=T0)
        with pytest.raises(InputError):
            revoke_tokens(s, now=T0)


def test_durations_parse_days_hours_and_minutes() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("90m") == timedelta(minutes=90)
    for bad in ("", "0d", "30", "-1d", "1w", "1.5d"):
        with pytest.raises(InputError):
            parse_duration(bad)
