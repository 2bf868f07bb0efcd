"""Analyst review on the store: one decision at a time, each through the lifecycle.

An analyst confirms, rejects or asks for another look at a site. A site still ``candidate``
is taken into review first (``start_review``, recorded as its own decision), so a decision is
always made from ``in_review`` as the lifecycle has it (``vigia.lifecycle``). Nothing is
released without a ``confirm`` (the release officer's step needs a confirmed site).

:data:`DEMO_POLICY` is the rule the demo uses in place of a person; every decision it takes
says so in its reason and its actor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal

from vigia.errors import InputError
from vigia.store.db import SessionFactory
from vigia.store.records import StoredDecision, StoredSite
from vigia.store.sites import apply_transition, get_site

__all__ = [
    "DEMO_ACTOR",
    "DEMO_POLICY",
    "Decision",
    "awaiting_review",
    "decide",
    "demo_decision",
]

Decision = Literal["confirm", "reject", "revisit"]
_ACTION: Final[dict[str, str]] = {
    "confirm": "confirm",
    "reject": "reject",
    "revisit": "request_revisit",
}

DEMO_ACTOR: Final = "demo-analyst (automatic policy, not a person)"
DEMO_POLICY: Final = (
    "DEMO POLICY, no human decision: confirm a site classed as a lab with confidence ≥ 0.9; "
    "reject a site classed as a decoy (farm tarp, kiln, charcoal pit, legitimate stack, "
    "landfill, paint shop) with confidence ≥ 0.5; ask for a revisit when confidence is "
    "0.3–0.9 otherwise; leave the rest as candidates"
)


def decide(
    factory: SessionFactory,
    site_id: str,
    decision: str,
    *,
    analyst: str,
    reason: str,
    now: datetime | None = None,
) -> list[StoredDecision]:
    """Record an analyst's decision on a site.

    Parameters
    ----------
    factory : SessionFactory
        The store.
    site_id : str
        The site.
    decision : {"confirm", "reject", "revisit"}
        What the analyst decided.
    analyst : str
        Who decided (recorded).
    reason : str
        Why (recorded; required).
    now : datetime, optional
        Time of the decision, UTC-aware (default: the clock).

    Returns
    -------
    list of StoredDecision
        The decisions recorded (``start_review`` first when the site was a candidate).

    Raises
    ------
    InputError
        An unknown decision, or an empty reason or analyst.
    NotFoundError
        The site does not exist (nothing changes).
    LifecycleError
        The site's state does not allow the decision (nothing changes).
    """
    if decision not in _ACTION:
        raise InputError(f"decision {decision!r} is not one of {', '.join(_ACTION)}")
    if not reason.strip():
        raise InputError(f"site {site_id}: a decision needs a reason (--reason)")
    if not analyst.strip():
        raise InputError(f"site {site_id}: a decision needs the analyst's name")
    state = get_site(factory, site_id).site.state
    out = []
    if state == "candidate":
        out.append(
            apply_transition(
                factory,
                site_id,
                "start_review",
                actor=analyst,
                role="analyst",
                reason=f"taken into review to {decision}",
                now=now,
            )
        )
    out.append(
        apply_transition(
            factory,
            site_id,
            _ACTION[decision],
            actor=analyst,
            role="analyst",
            reason=reason,
            now=now,
        )
    )
    return out


def demo_decision(site: StoredSite) -> tuple[Decision | None, str]:
    """Apply :data:`DEMO_POLICY` to a site.

    Parameters
    ----------
    site : StoredSite
        A site awaiting review.

    Returns
    -------
    (decision or None, reason)
        ``None`` leaves the site as it is.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> t = datetime(2025, 3, 4, tzinfo=UTC)
    >>> s = StoredSite("SITE-000001", 0, 0, (0, 0, 0, 0), "candidate", "rural_lab", 0.95,
    ...                t, t, (), {}, t, t)
    >>> demo_decision(s)[0]
    'confirm'
    """
    c, cls = site.confidence, site.site_class
    tag = f"[{DEMO_POLICY.split(':')[0]}] class {cls}, confidence {c:.2f}"
    if cls.endswith("_lab") and c >= 0.9:
        return "confirm", f"{tag}: a likely lab"
    if cls not in ("unknown",) and not cls.endswith("_lab") and c >= 0.5:
        return "reject", f"{tag}: a {cls.replace('_', ' ')}, not a lab"
    if 0.3 <= c < 0.9:
        return "revisit", f"{tag}: uncertain, look again"
    return None, f"{tag}: left as a candidate"


def awaiting_review(sites: Sequence[StoredSite]) -> list[StoredSite]:
    """Keep the sites an analyst still has to decide on (candidate or in review)."""
    return [s for s in sites if s.state in ("candidate", "in_review")]
