"""What a site is: a likely lab (rural or industrial) or one of the decoys that look like one.

A naive-Bayes classifier over the evidence the passes gave, with the evidence profile of each
site kind written down from what the kinds are (``vigia.world.sites`` documents the same
knowledge for the simulator; the literature behind it is in ``REFERENCES.md``, "What
clandestine labs give off"):

=================  ======  =====  =====  =====  =====  =========  ========
kind               solvent  NH3    CH4    heat   tarp   clearing   built-up
=================  ======  =====  =====  =====  =====  =========  ========
rural_lab           0.30    0.30   0.05   0.70   0.50   0.50       0.03
industrial_lab      0.60    0.40   0.10   0.50   0.03   0.03       0.70
farm_tarp           0.02    0.05   0.02   0.03   0.90   0.20       0.05
kiln                0.02    0.02   0.05   0.95   0.02   0.20       0.25
charcoal_pit        0.02    0.02   0.30   0.90   0.02   0.50       0.03
factory_stack       0.10    0.10   0.70   0.50   0.02   0.02       0.80
landfill            0.03    0.10   0.95   0.05   0.05   0.20       0.10
paint_shop          0.90    0.02   0.02   0.10   0.02   0.02       0.50
=================  ======  =====  =====  =====  =====  =========  ========

Each entry is P(the feature shows on a site of that kind | the site was imaged by an instrument
that sees it), counting that rural cooks vent a few hours a day (a pass often finds a rural lab
quiet) while industrial labs run most of the time: solvents (LWIR: acetone, toluene, methanol,
dichloromethane, isopropanol, ethyl acetate, chloroform …) and NH₃ are the process chemicals of
meth and fentanyl synthesis; CH₄ comes from waste, carbonisation and industry, not from labs;
heat from cooking fires, kilns and smouldering mounds; polyethylene tarps and clearings under
canopy from rural camouflage and from farming. A feature counts only if an instrument that
could show it imaged the site (no LWIR pass: no verdict on solvents).

**Persistence** is evidence too: a feature that shows on *k* of the *n* passes that could show
it is scored by the beta-binomial probability of *k* of *n*, the site's own rate being Beta
with the kind's mean and concentration ``CONCENTRATION`` (2: sites of one kind differ widely,
a small stack from a large one, a cold pit from a burning one). So methane on 3 of 3 passes
speaks for a landfill and against a rural lab that vents a few hours a day, but a feature
missing on every pass counts little more than missing once: passes over one site are not
independent draws (the same small stack is missed every time), which a product of per-pass
probabilities would assume. With one pass it is the probability itself.

**Land use** is one observation per site, not per pass: *built-up* when at least
``BUILT_UP_SHARE`` of the ground within 50 m of the site's detections is roof, concrete or
asphalt (:func:`vigia.detect.landuse.land_use_around`, the mean over the detections that carry
it; 0.2 is where the US National Land Cover Database starts calling land *developed, low
intensity*: 20–49 % impervious). Stacks, warehouses and workshops stand among buildings and
yards; landfills, rural camps, charcoal pits and farm tarps on open ground or under canopy;
brick kilns on both. A site whose detections carry no land use (no VSWIR cube) gets no verdict
on it.

The class is the kind with the highest posterior (uniform prior over kinds); below
``MIN_POSTERIOR`` it is ``unknown``. Decoys are classified and kept, never dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from vigia.detect.detection import Detection
from vigia.fuse.confidence import Look

__all__ = [
    "BUILT_UP_SHARE",
    "CONCENTRATION",
    "FEATURES",
    "MIN_POSTERIOR",
    "PROFILES",
    "SiteClass",
    "classify_site",
    "features_of",
    "look_features",
    "site_land_use",
]

FEATURES: Final = ("solvent", "NH3", "CH4", "heat", "tarp", "clearing", "built_up")
PROFILES: Final[Mapping[str, Mapping[str, float]]] = {
    "rural_lab": dict(
        solvent=0.30, NH3=0.30, CH4=0.05, heat=0.70, tarp=0.50, clearing=0.50, built_up=0.03
    ),
    "industrial_lab": dict(
        solvent=0.60, NH3=0.40, CH4=0.10, heat=0.50, tarp=0.03, clearing=0.03, built_up=0.70
    ),
    "farm_tarp": dict(
        solvent=0.02, NH3=0.05, CH4=0.02, heat=0.03, tarp=0.90, clearing=0.20, built_up=0.05
    ),
    "kiln": dict(
        solvent=0.02, NH3=0.02, CH4=0.05, heat=0.95, tarp=0.02, clearing=0.20, built_up=0.25
    ),
    "charcoal_pit": dict(
        solvent=0.02, NH3=0.02, CH4=0.30, heat=0.90, tarp=0.02, clearing=0.50, built_up=0.03
    ),
    "factory_stack": dict(
        solvent=0.10, NH3=0.10, CH4=0.70, heat=0.50, tarp=0.02, clearing=0.02, built_up=0.80
    ),
    "landfill": dict(
        solvent=0.03, NH3=0.10, CH4=0.95, heat=0.05, tarp=0.05, clearing=0.20, built_up=0.10
    ),
    "paint_shop": dict(
        solvent=0.90, NH3=0.02, CH4=0.02, heat=0.10, tarp=0.02, clearing=0.02, built_up=0.50
    ),
}
MIN_POSTERIOR: Final = 0.5
BUILT_UP_SHARE: Final = 0.2
CONCENTRATION: Final = 2.0
_VISIBLE: Final[Mapping[str, frozenset[str]]] = {
    "vswir": frozenset({"CH4", "tarp", "clearing"}),
    "lwir": frozenset({"solvent", "NH3", "heat"}),
}
_WORDS: Final[Mapping[str, str]] = {
    "solvent": "solvent vapour",
    "NH3": "ammonia",
    "CH4": "methane",
    "heat": "heat",
    "tarp": "tarp",
    "clearing": "clearing or cut branches",
    "built_up": "built-up surroundings",
}


@dataclass(frozen=True)
class SiteClass:
    """A site's class and why.

    Attributes
    ----------
    site_class : str
        A site kind of the world's vocabulary, or ``"unknown"``.
    posterior : dict of str to float
        Probability of each kind given the evidence (uniform prior).
    observed : dict of str to bool
        Each feature an instrument could show: whether it showed.
    reasons : tuple of str
        The evidence for the class, in words.
    """

    site_class: str
    posterior: dict[str, float]
    observed: dict[str, bool]
    reasons: tuple[str, ...]

    @property
    def is_lab(self) -> bool:
        """Whether the class is a lab kind."""
        return self.site_class.endswith("_lab")


def look_features(look: Look) -> dict[str, bool]:
    """Which features one pass's instruments could show at a place, and whether each showed.

    Parameters
    ----------
    look : Look
        One pass over the place.

    Returns
    -------
    dict of str to bool
        Feature → shown on this pass; features its instruments cannot show are absent.
    """
    visible = set().union(*(_VISIBLE.get(s, frozenset()) for s in look.sensors))
    shown = set()
    gases = set(look.species)
    if "plume" in look.seen:
        if "CH4" in gases:
            shown.add("CH4")
        if "NH3" in gases:
            shown.add("NH3")
        if gases - {"CH4", "NH3", "CO2"}:
            shown.add("solvent")
    if "thermal" in look.seen:
        shown.add("heat")
    if "tarp" in look.seen:
        shown.add("tarp")
    if "clearing" in look.seen:
        shown.add("clearing")
    return {f: f in shown for f in visible | shown}


def features_of(looks: Sequence[Look]) -> dict[str, bool]:
    """Which features an instrument could show over the passes, and whether each showed.

    Parameters
    ----------
    looks : sequence of Look
        The site's passes.

    Returns
    -------
    dict of str to bool
        Feature → shown on any pass; features no pass could show are absent.
    """
    out: dict[str, bool] = {}
    for lk in looks:
        for f, shown in look_features(lk).items():
            out[f] = out.get(f, False) or shown
    return out


def _log_beta_binomial(k: int, n: int, p: float, concentration: float = CONCENTRATION) -> float:
    """Log-probability that a feature shows on ``k`` of ``n`` passes (beta-binomial).

    The site's own rate is Beta with mean ``p`` and the given concentration; with one pass
    this is ``log p`` or ``log (1 − p)``.
    """
    a, b = concentration * p, concentration * (1.0 - p)
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + math.lgamma(k + a)
        + math.lgamma(n - k + b)
        - math.lgamma(n + a + b)
        - math.lgamma(a)
        - math.lgamma(b)
        + math.lgamma(a + b)
    )


def _times(per_look: Sequence[dict[str, bool]], feature: str) -> str:
    could = [fs[feature] for fs in per_look if feature in fs]
    return f"on {sum(could)} of {len(could)} passes that could show it"


def site_land_use(detections: Sequence[Detection]) -> dict[str, float] | None:
    """Mean land use around a site's detections (those that carry it).

    Parameters
    ----------
    detections : sequence of Detection
        The site's detections.

    Returns
    -------
    dict of str to float or None
        Mean share of each land use; ``None`` when no detection carries one.
    """
    known = [d.land_use for d in detections if d.land_use]
    if not known:
        return None
    keys = sorted(set().union(*known))
    return {k: round(sum(u.get(k, 0.0) for u in known) / len(known), 3) for k in keys}


def classify_site(looks: Sequence[Look], land_use: Mapping[str, float] | None = None) -> SiteClass:
    """Classify a site from its passes.

    Parameters
    ----------
    looks : sequence of Look
        The site's passes (:func:`vigia.fuse.confidence.looks_at`).
    land_use : mapping of str to float, optional
        Shares of land use around the site (:func:`site_land_use`); without it, no verdict on
        built-up surroundings.

    Returns
    -------
    SiteClass

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> t = datetime(2025, 3, 4, tzinfo=UTC)
    >>> lk = Look("L1", ("lwir", "vswir"), t, {"plume": 0.9, "thermal": 0.8, "tarp": 0.9},
    ...           ("NH3", "acetone"))
    >>> classify_site([lk]).site_class
    'rural_lab'
    """
    per_look = [look_features(lk) for lk in looks]
    observed = features_of(looks)
    site_level: dict[str, bool] = {}
    if land_use is not None and "built" in land_use:
        site_level["built_up"] = float(land_use["built"]) >= BUILT_UP_SHARE
        observed["built_up"] = site_level["built_up"]
    counts: dict[str, tuple[int, int]] = {}
    for feats in per_look:
        for f, shown in feats.items():
            k, n = counts.get(f, (0, 0))
            counts[f] = (k + int(shown), n + 1)
    log_post: dict[str, float] = {}
    for kind, profile in PROFILES.items():
        ll = sum(_log_beta_binomial(k, n, profile[f]) for f, (k, n) in counts.items())
        for f, shown in site_level.items():
            ll += math.log(profile[f] if shown else 1.0 - profile[f])
        log_post[kind] = ll
    top = max(log_post.values())
    z = sum(math.exp(v - top) for v in log_post.values())
    posterior = {k: math.exp(v - top) / z for k, v in log_post.items()}
    best = max(posterior, key=lambda k: (posterior[k], k))
    runner = max((k for k in posterior if k != best), key=lambda k: (posterior[k], k))
    present = [f for f in FEATURES if observed.get(f)]
    absent = [f for f in FEATURES if f in observed and not observed[f]]
    reasons = []
    if present:
        reasons.append(
            "shows "
            + ", ".join(
                f"{_WORDS[f]} ({_times(per_look, f)})"
                if len(per_look) > 1 and f != "built_up"
                else _WORDS[f]
                for f in present
            )
        )
    if absent:
        reasons.append("no " + ", no ".join(_WORDS[f] for f in absent))
    reasons.append(
        f"{best} {posterior[best]:.2f} against {runner} {posterior[runner]:.2f}"
        " (evidence profiles of the site kinds)"
    )
    if land_use is not None and "built" in land_use:
        reasons.append(
            "land use around its detections: "
            + ", ".join(
                f"{k} {float(land_use[k]):.0%}"
                for k in ("vegetation", "open", "built", "water")
                if k in land_use
            )
        )
    cls = best if posterior[best] >= MIN_POSTERIOR and present else "unknown"
    if cls == "unknown":
        reasons.append(f"no kind reaches {MIN_POSTERIOR:.0%}: class unknown")
    return SiteClass(cls, posterior, observed, tuple(reasons))
