"""Partner outcomes and the quantities a seizure carries, validated and normalised.

A partner officer reports one outcome per released site: ``dismantled``, ``nothing_found``,
``inactive`` or ``seizure``. Only a ``seizure`` carries quantities, each an item, an amount and
the unit the officer wrote. Quantities are normalised with pint to one canonical unit per
dimension, so that totals add up whatever the officer typed:

=============  ==================  =============
item           dimension           canonical
=============  ==================  =============
``pills``      count               ``count``
``powder``     mass                ``kg``
``precursor``  mass *or* volume    ``kg`` or ``L`` (its dimension is kept: a litre of a
                                   liquid precursor has no mass until its density is known)
``equipment``  count               ``count``
=============  ==================  =============

Masses accept any pint mass unit (``g``, ``kg``, ``lb``, ``oz``, ``t`` = tonne, ``ton`` = US
short ton); volumes any pint volume (``mL``, ``L``, ``gal`` = US gallon, ``imperial_gallon``,
``m³``); counts a fixed list of words (``count``, ``pills``, ``tablets``, ``units``, ``ea`` ...).

Decisions, so that totals and hit rates stay unambiguous:

- quantities on any outcome other than ``seizure`` are refused (a report that seized something
  *is* a seizure);
- a seizure with no quantity is refused;
- amounts must be finite and positive (a line of zero is a typing slip, not a seizure), and
  counts whole numbers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pint

from vigia.errors import InputError

__all__ = [
    "CANONICAL_UNITS",
    "COUNT_UNITS",
    "FINDINGS",
    "ITEMS",
    "OUTCOMES",
    "Quantity",
    "normalise_outcome",
    "normalise_quantity",
]

OUTCOMES: Final[tuple[str, ...]] = ("dismantled", "nothing_found", "inactive", "seizure")
"""What a partner may report of a released site."""

FINDINGS: Final[tuple[str, ...]] = ("dismantled", "seizure")
"""Outcomes that found a lab (they count as hits)."""

ITEMS: Final[tuple[str, ...]] = ("pills", "powder", "precursor", "equipment")
"""What a seizure may list."""

_DIMENSIONS: Final[dict[str, tuple[str, ...]]] = {
    "pills": ("count",),
    "powder": ("mass",),
    "precursor": ("mass", "volume"),
    "equipment": ("count",),
}

CANONICAL_UNITS: Final[dict[str, str]] = {"mass": "kg", "volume": "L", "count": "count"}
"""Canonical unit of each dimension."""

COUNT_UNITS: Final[frozenset[str]] = frozenset(
    {
        "count", "counts", "unit", "units", "pill", "pills", "tablet", "tablets", "tab", "tabs",
        "piece", "pieces", "pc", "pcs", "item", "items", "ea", "each",
    }
)  # fmt: skip
"""Words accepted (case-insensitively) as the unit of a counted item."""

# Spellings officers use that pint does not know (lower case → pint unit).
_ALIASES: Final[dict[str, str]] = {
    "kgs": "kg",
    "kilo": "kg",
    "kilos": "kg",
    "lbs": "lb",
    "ltr": "L",
    "ltrs": "L",
    "lt": "L",
    "us gal": "gal",
    "gal (us)": "gal",
    "gallons": "gal",
    "m3": "m**3",
}

_UREG: Final[pint.UnitRegistry[Any]] = pint.UnitRegistry()
_KG: Final[pint.Unit] = _UREG.Unit("kg")
_L: Final[pint.Unit] = _UREG.Unit("L")

_ACCEPTED: Final[dict[str, str]] = {
    "mass": "mass units such as g, kg, lb, oz, t",
    "volume": "volume units such as mL, L, gal (US), m³",
    "count": "counts: " + ", ".join(sorted(COUNT_UNITS)),
}


@dataclass(frozen=True)
class Quantity:
    """One seized item, in its canonical unit, with what the officer wrote.

    Attributes
    ----------
    item : str
        One of :data:`ITEMS`.
    amount : float
        Amount in ``unit``.
    unit : str
        Canonical unit: ``"kg"``, ``"L"`` or ``"count"``.
    original_amount : float
        The amount as reported.
    original_unit : str
        The unit as reported.
    """

    item: str
    amount: float
    unit: str
    original_amount: float
    original_unit: str

    def to_dict(self) -> dict[str, Any]:
        """Return the quantity as JSON-ready values."""
        return {
            "item": self.item,
            "amount": self.amount,
            "unit": self.unit,
            "original_amount": self.original_amount,
            "original_unit": self.original_unit,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Quantity:
        """Rebuild a quantity written by :meth:`to_dict` (normalised again, so checked)."""
        return normalise_quantity(
            str(d["item"]), float(d["original_amount"]), str(d["original_unit"])
        )


def _accepted(item: str) -> str:
    return "; ".join(_ACCEPTED[d] for d in _DIMENSIONS[item])


def _dimension(unit: str) -> tuple[str, pint.Unit] | None:
    # (dimension, pint unit) of a unit string, or None when it is neither a mass nor a volume.
    text = _ALIASES.get(unit.lower(), unit)
    try:
        parsed = _UREG.parse_units(text)
    except (pint.errors.PintError, ValueError, TypeError, AttributeError, SyntaxError):
        return None
    if parsed.dimensionality == _KG.dimensionality:
        return "mass", parsed
    if parsed.dimensionality == _L.dimensionality:
        return "volume", parsed
    return None


def normalise_quantity(item: str, amount: float, unit: str) -> Quantity:
    """Check one seized quantity and convert it to its canonical unit.

    Parameters
    ----------
    item : str
        ``"pills"``, ``"powder"``, ``"precursor"`` or ``"equipment"``.
    amount : float
        The amount reported, in ``unit``; finite and positive (whole for counts).
    unit : str
        The unit reported: a mass (``kg``, ``lb`` ...), a volume (``L``, ``gal`` ...) or a
        count word (``pills``, ``tablets``, ``ea`` ...), as the item allows.

    Returns
    -------
    Quantity
        Masses in kg, volumes in L, counts in ``count``; the original amount and unit kept.

    Raises
    ------
    InputError
        Unknown item or unit, a unit of the wrong dimension for the item (a mass of pills),
        or an amount that is negative, zero, not finite or (for counts) not whole.

    Examples
    --------
    >>> q = normalise_quantity("powder", 10.0, "lb")
    >>> (q.unit, round(q.amount, 4))
    ('kg', 4.5359)
    >>> normalise_quantity("precursor", 2.0, "gal").unit
    'L'
    """
    if not isinstance(item, str) or item not in _DIMENSIONS:
        raise InputError(
            f"seized item {item!r} ({amount!r} {unit!r}): unknown item; items: {', '.join(ITEMS)}"
        )
    where = f"{item}: {amount!r} {unit!r}"
    if not isinstance(unit, str) or not unit.strip():
        raise InputError(f"{where}: no unit; accepted: {_accepted(item)}")
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise InputError(f"{where}: the amount must be a number")
    value = float(amount)
    if not math.isfinite(value) or value <= 0.0:
        raise InputError(f"{where}: the amount must be finite and positive")
    text = unit.strip()
    allowed = _DIMENSIONS[item]
    if text.lower() in COUNT_UNITS:
        dim = "count"
        canonical_amount = value
    else:
        found = _dimension(text)
        if found is None:
            raise InputError(f"{where}: unknown unit; accepted: {_accepted(item)}")
        dim, parsed = found
        target = _KG if dim == "mass" else _L
        converted = float(_UREG.Quantity(value, parsed).to(target).magnitude)
        canonical_amount = float(f"{converted:.12g}")  # drop float noise: 1 m³ is 1000 L
    if dim not in allowed:
        raise InputError(
            f"{where}: {item} are measured by {' or '.join(allowed)}, not {dim}; "
            f"accepted: {_accepted(item)}"
        )
    if dim == "count" and not value.is_integer():
        raise InputError(f"{where}: a count must be a whole number")
    return Quantity(item, canonical_amount, CANONICAL_UNITS[dim], value, text)


def normalise_outcome(
    outcome: str, quantities: Sequence[Mapping[str, Any]] = ()
) -> tuple[Quantity, ...]:
    """Check a reported outcome and normalise the quantities it carries.

    Parameters
    ----------
    outcome : str
        One of :data:`OUTCOMES`.
    quantities : sequence of mapping
        ``{"item": str, "amount": float, "unit": str}`` for each seized item; required for a
        ``seizure``, refused for every other outcome.

    Returns
    -------
    tuple of Quantity
        The quantities in canonical units, in the order given.

    Raises
    ------
    InputError
        Unknown outcome, a seizure without quantities, quantities on another outcome, a
        malformed entry or any refusal of :func:`normalise_quantity` (the entry's index named).

    Examples
    --------
    >>> [q.amount for q in normalise_outcome("seizure", [{"item": "pills", "amount": 500,
    ...                                                   "unit": "tablets"}])]
    [500.0]
    """
    if outcome not in OUTCOMES:
        raise InputError(f"outcome {outcome!r}: unknown; outcomes: {', '.join(OUTCOMES)}")
    if outcome != "seizure":
        if quantities:
            raise InputError(
                f"outcome {outcome!r}: only a 'seizure' carries quantities "
                f"(got {len(quantities)}); report what was seized as a seizure"
            )
        return ()
    if not quantities:
        raise InputError("outcome 'seizure': at least one quantity (item, amount, unit) is needed")
    out = []
    for i, q in enumerate(quantities):
        missing = [k for k in ("item", "amount", "unit") if k not in q]
        if missing:
            raise InputError(f"seizure quantity {i}: missing {', '.join(missing)}")
        try:
            out.append(normalise_quantity(q["item"], q["amount"], q["unit"]))
        except InputError as exc:
            raise InputError(f"seizure quantity {i}: {exc}") from None
    return tuple(out)
