"""What a site is: a likely lab (rural or industrial) or one of the decoys that look like one.

A naive-Bayes classifier over the evidence the passes gave, with the evidence profile of each
site kind written down from what the kinds are (``vigia.world.sites`` documents the same
knowledge for the simulator; the literature behind it is in ``REFERENCES.md``, "What
clandestine labs give off"):

=================  ======  =====  =====  =====  =====  =========
kind               solvent  NH3    CH4    heat   tarp   clearing
=================  ======  =====  =====  =====  =====  =========
rural_lab           0.30    0.30   0.05   0.70   0.50   0.50
industrial_lab      0.60    0.40   0.10   0.50   0.03   0.03
farm_tarp           0.02    0.05   0.02   0.03   0.90   0.20
kiln                0.02    0.02   0.05   0.95   0.02   0.20
charcoal_pit        0.02    0.02   0.30   0.90   0.02   0.50
factory_stack       0.10    0.10   0.70   0.50   0.02   0.02
landfill            0.03    0.10   0.95   0.05   0.05   0.20
paint_shop          0.90    0.02   0.02   0.10   0.02   0.02
=================  ======  =====  =====  =====  =====  =========

Each entry is P(the feature shows on a site of that kind | the site was imaged by an instrument
that sees it), counting that rural cooks vent a few hours a day (a pass often finds a rural lab
quiet) while industrial labs run most of the time: solvents (LWIR: acetone, toluene, methanol,
dichloromethane, isopropanol, ethyl acetate, chloroform …) and NH₃ are the process chemicals of
meth and fentanyl synthesis; CH₄ comes from waste, carbonisation and industry, not from labs;
heat from cooking fires, kilns and smouldering mounds; polyethylene tarps and clearings under
canopy from rural camouflage and from farming. A feature counts only if an instrument that
could show it imaged the site (no LWIR pass: no verdict on solvents). The class is the kind
with the highest posterior (uniform prior over kinds); below ``MIN_POSTERIOR`` it is
``unknown``. Decoys are classified and kept, never dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from vigia.fuse.confidence import Look

__all__ = ["FEATURES", "MIN_POSTERIOR", "PROFILES", "SiteClass", "classify_site", "features_of"]

FEATURES: Final = ("solvent", "NH3", "CH4", "heat", "tarp", "clearing")
PROFILES: Final[Mapping[str, Mapping[str, float]]] = {
    "rural_lab": dict(solvent=0.30, NH3=0.30, CH4=0.05, heat=0.70, tarp=0.50, clearing=0.50),
    "industrial_lab": dict(solvent=0.60, NH3=0.40, CH4=0.10, heat=0.50, tarp=0.03, clearing=0.03),
    "farm_tarp": dict(solvent=0.02, NH3=0.05, CH4=0.02, heat=0.03, tarp=0.90, clearing=0.20),
    "kiln": dict(solvent=0.02, NH3=0.02, CH4=0.05, heat=0.95, tarp=0.02, clearing=0.20),
    "charcoal_pit": dict(solvent=0.02, NH3=0.02, CH4=0.30, heat=0.90, tarp=0.02, clearing=0.50),
    "factory_stack": dict(solvent=0.10, NH3=0.10, CH4=0.70, heat=0.50, tarp=0.02, clearing=0.02),
    "landfill": dict(solvent=0.03, NH3=0.10, CH4=0.95, heat=0.05, tarp=0.05, clearing=0.20),
    "paint_shop": dict(solvent=0.90, NH3=0.02, CH4=0.02, heat=0.10, tarp=0.02, clearing=0.02),
}
MIN_POSTERIOR: Final = 0.5
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
        visible = set().union(*(_VISIBLE.get(s, frozenset()) for s in lk.sensors))
        shown = set()
        gases = {s for s in lk.species}
        if "plume" in lk.seen:
            if "CH4" in gases:
                shown.add("CH4")
            if "NH3" in gases:
                shown.add("NH3")
            if gases - {"CH4", "NH3", "CO2"}:
                shown.add("solvent")
        if "thermal" in lk.seen:
            shown.add("heat")
        if "tarp" in lk.seen:
            shown.add("tarp")
        if "clearing" in lk.seen:
            shown.add("clearing")
        for f in visible | shown:
            out[f] = out.get(f, False) or f in shown
    return out


def classify_site(looks: Sequence[Look]) -> SiteClass:
    """Classify a site from its passes.

    Parameters
    ----------
    looks : sequence of Look
        The site's passes (:func:`vigia.fuse.confidence.looks_at`).

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
    observed = features_of(looks)
    log_post: dict[str, float] = {}
    for kind, profile in PROFILES.items():
        ll = 0.0
        for f, shown in observed.items():
            p = profile[f]
            ll += math.log(p if shown else 1.0 - p)
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
        reasons.append("shows " + ", ".join(_WORDS[f] for f in present))
    if absent:
        reasons.append("no " + ", no ".join(_WORDS[f] for f in absent))
    reasons.append(
        f"{best} {posterior[best]:.2f} against {runner} {posterior[runner]:.2f}"
        " (evidence profiles of the site kinds)"
    )
    cls = best if posterior[best] >= MIN_POSTERIOR and present else "unknown"
    if cls == "unknown":
        reasons.append(f"no kind reaches {MIN_POSTERIOR:.0%}: class unknown")
    return SiteClass(cls, posterior, observed, tuple(reasons))
