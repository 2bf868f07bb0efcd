"""The site lifecycle, checked for every (state, action, role) against the design's table."""

import itertools

import pytest

from vigia.errors import InputError, LifecycleError
from vigia.lifecycle import ACTIONS, ROLES, STATES, allowed_actions, next_state

# DESIGN.md "Site lifecycle", written out independently of vigia.lifecycle.TRANSITIONS:
# (state, action) -> (new state, roles allowed).
LEGAL = {
    ("candidate", "start_review"): ("in_review", {"analyst"}),
    ("candidate", "request_revisit"): ("revisit_requested", {"analyst"}),
    ("in_review", "request_revisit"): ("revisit_requested", {"analyst"}),
    ("revisit_requested", "new_evidence"): ("candidate", {"system", "analyst"}),
    ("in_review", "confirm"): ("confirmed", {"analyst"}),
    ("in_review", "reject"): ("rejected", {"analyst"}),
    ("confirmed", "release"): ("released", {"release_officer"}),
    ("released", "acknowledge"): ("acknowledged", {"partner_officer"}),
    ("acknowledged", "report_outcome"): ("actioned", {"partner_officer"}),
    ("actioned", "close"): ("closed", {"admin"}),
    ("rejected", "close"): ("closed", {"admin"}),
}


def test_the_vocabularies_are_the_designs() -> None:
    assert set(STATES) == {
        "candidate",
        "in_review",
        "revisit_requested",
        "confirmed",
        "rejected",
        "released",
        "acknowledged",
        "actioned",
        "closed",
    }
    assert {"analyst", "release_officer", "partner_viewer", "partner_officer", "admin"} <= set(
        ROLES
    )


@pytest.mark.parametrize("state", STATES)
def test_every_state_action_and_role_is_allowed_exactly_as_the_design_says(state: str) -> None:
    for action, role in itertools.product(ACTIONS, ROLES):
        legal = LEGAL.get((state, action))
        if legal is not None and role in legal[1]:
            assert next_state("SITE-000007", state, action, role) == legal[0]
            continue
        with pytest.raises(LifecycleError) as err:
            next_state("SITE-000007", state, action, role)
        message = str(err.value)
        for part in ("SITE-000007", repr(state), repr(action), repr(role)):
            assert part in message, (state, action, role, message)


def test_a_refusal_says_who_may_act_or_from_where() -> None:
    with pytest.raises(LifecycleError, match="only 'analyst' may 'confirm'"):
        next_state("SITE-000001", "in_review", "confirm", "release_officer")
    with pytest.raises(LifecycleError, match="possible only from 'confirmed'"):
        next_state("SITE-000001", "in_review", "release", "release_officer")


def test_unknown_words_are_named() -> None:
    with pytest.raises(LifecycleError, match="unknown role"):
        next_state("SITE-000001", "in_review", "confirm", "sheriff")
    with pytest.raises(LifecycleError, match="unknown state"):
        next_state("SITE-000001", "limbo", "confirm", "analyst")
    with pytest.raises(LifecycleError, match="unknown action"):
        next_state("SITE-000001", "in_review", "approve", "analyst")


def test_a_lifecycle_error_is_an_input_error() -> None:
    assert issubclass(LifecycleError, InputError)


def test_every_state_leads_to_closed_and_closed_leads_nowhere() -> None:
    def reachable(state: str) -> set[str]:
        seen, todo = {state}, [state]
        while todo:
            s = todo.pop()
            for role, action in itertools.product(ROLES, ACTIONS):
                if action in allowed_actions(s, role):
                    t = next_state("SITE-000001", s, action, role)
                    if t not in seen:
                        seen.add(t)
                        todo.append(t)
        return seen

    for state in STATES:
        assert "closed" in reachable(state), state
    assert reachable("closed") == {"closed"}


def test_allowed_actions_lists_what_a_role_may_do_now() -> None:
    assert allowed_actions("in_review", "analyst") == ["request_revisit", "confirm", "reject"]
    assert allowed_actions("in_review", "release_officer") == []
    assert allowed_actions("confirmed", "release_officer") == ["release"]
    assert allowed_actions("closed", "admin") == []
