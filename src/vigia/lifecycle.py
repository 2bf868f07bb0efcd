"""The site lifecycle: which action moves a site from which state to which, and who may take it.

One table, :data:`TRANSITIONS`, is the whole lifecycle (DESIGN.md, "Site lifecycle")::

    candidate ──start_review──► in_review ──confirm──► confirmed ──release──► released
        │                          │  └──────reject──► rejected ──close──► closed
        └──request_revisit──┬──────┘                                         ▲
                            ▼                     released ──acknowledge──► acknowledged
                    revisit_requested                 acknowledged ──report_outcome──► actioned
                            │                                      actioned ──close──┘
                            └──new_evidence──► candidate

Only an ``analyst`` reviews, confirms, rejects and asks for revisits; only a ``release_officer``
releases; only a ``partner_officer`` acknowledges and reports outcomes; only an ``admin``
closes. ``new_evidence`` is taken by the fusion pipeline (role ``system``) when a site waiting
for a revisit is seen again, or by an analyst who adds evidence by hand.

This module is pure: the store applies a transition and records it (see
:func:`vigia.store.apply_transition`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from vigia.errors import LifecycleError

__all__ = [
    "ACTIONS",
    "ROLES",
    "STATES",
    "TRANSITIONS",
    "Action",
    "Role",
    "State",
    "Transition",
    "allowed_actions",
    "next_state",
]

State = Literal[
    "candidate",
    "in_review",
    "revisit_requested",
    "confirmed",
    "rejected",
    "released",
    "acknowledged",
    "actioned",
    "closed",
]
Action = Literal[
    "start_review",
    "request_revisit",
    "new_evidence",
    "confirm",
    "reject",
    "release",
    "acknowledge",
    "report_outcome",
    "close",
]
Role = Literal[
    "analyst",
    "release_officer",
    "partner_viewer",
    "partner_officer",
    "admin",
    "system",
]
STATES: tuple[str, ...] = get_args(State)
ACTIONS: tuple[str, ...] = get_args(Action)
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True)
class Transition:
    """One legal move: ``action`` taken by one of ``roles`` moves a site ``source → target``."""

    source: State
    action: Action
    target: State
    roles: frozenset[Role]


def _t(source: State, action: Action, target: State, *roles: Role) -> Transition:
    return Transition(source, action, target, frozenset(roles))


TRANSITIONS: tuple[Transition, ...] = (
    _t("candidate", "start_review", "in_review", "analyst"),
    _t("candidate", "request_revisit", "revisit_requested", "analyst"),
    _t("in_review", "request_revisit", "revisit_requested", "analyst"),
    _t("revisit_requested", "new_evidence", "candidate", "system", "analyst"),
    _t("in_review", "confirm", "confirmed", "analyst"),
    _t("in_review", "reject", "rejected", "analyst"),
    _t("confirmed", "release", "released", "release_officer"),
    _t("released", "acknowledge", "acknowledged", "partner_officer"),
    _t("acknowledged", "report_outcome", "actioned", "partner_officer"),
    _t("actioned", "close", "closed", "admin"),
    _t("rejected", "close", "closed", "admin"),
)

_BY_KEY: dict[tuple[str, str], Transition] = {(t.source, t.action): t for t in TRANSITIONS}


def allowed_actions(state: str, role: str) -> list[str]:
    """List the actions a role may take on a site in a state.

    Parameters
    ----------
    state : str
        The site's state.
    role : str
        The role of whoever acts.

    Returns
    -------
    list of str
        Actions in the order of :data:`ACTIONS`; empty when there are none.

    Examples
    --------
    >>> allowed_actions("in_review", "analyst")
    ['request_revisit', 'confirm', 'reject']
    """
    return [a for a in ACTIONS if (t := _BY_KEY.get((state, a))) is not None and role in t.roles]


def next_state(site_id: str, state: str, action: str, role: str) -> State:
    """Return the state a site moves to, or refuse the move.

    Parameters
    ----------
    site_id : str
        The site (named in the error).
    state : str
        Its current state.
    action : str
        What is asked.
    role : str
        The role of whoever asks.

    Returns
    -------
    State
        The new state.

    Raises
    ------
    LifecycleError
        If the state, action or role is unknown, the action is not possible from this state,
        or the role may not take it. The message names site, state, action and role.

    Examples
    --------
    >>> next_state("SITE-000001", "in_review", "confirm", "analyst")
    'confirmed'
    """
    where = f"site {site_id}: cannot {action!r} from state {state!r} as role {role!r}"
    for value, vocabulary, what in (
        (state, STATES, "state"),
        (action, ACTIONS, "action"),
        (role, ROLES, "role"),
    ):
        if value not in vocabulary:
            raise LifecycleError(f"{where}: unknown {what}; {what}s: {', '.join(vocabulary)}")
    t = _BY_KEY.get((state, action))
    if t is None:
        sources = [x.source for x in TRANSITIONS if x.action == action]
        raise LifecycleError(
            f"{where}: {action!r} is possible only from {' or '.join(map(repr, sources))}"
        )
    if role not in t.roles:
        raise LifecycleError(
            f"{where}: only {' or '.join(sorted(map(repr, t.roles)))} may {action!r}"
        )
    return t.target
