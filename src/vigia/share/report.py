"""Released site reports: what every exchange format is made from.

A :class:`SiteReport` is one confirmed site as a partner organisation receives it: the place,
its class and confidence, the evidence in words, and the release that sent it (to whom, when,
under which TLP 2.0 :class:`Marking`). It is a plain frozen value that validates itself on
construction, so an export never has to guess whether its input is sound.

Sites are places, never people: nothing here names or describes a person.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from vigia.errors import InputError
from vigia.lifecycle import STATES

__all__ = [
    "TLPS",
    "Marking",
    "SiteReport",
    "iso_z",
]

#: TLP 2.0 labels (FIRST, https://www.first.org/tlp/), most restrictive first.
TLPS: Final[tuple[str, ...]] = (
    "TLP:RED",
    "TLP:AMBER+STRICT",
    "TLP:AMBER",
    "TLP:GREEN",
    "TLP:CLEAR",
)

# Characters XML 1.0 forbids (§2.2): text carrying them could not travel in KML or CoT.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _check_text(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where} must be a string, got {type(value).__name__} {value!r}")
    if not value.strip():
        raise InputError(f"{where} must not be empty, got {value!r}")
    if _NOT_XML.search(value):
        raise InputError(f"{where} holds a control character XML cannot carry: {value!r}")
    return value


def _check_texts(where: str, values: object) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InputError(f"{where} must be a sequence of strings, got {values!r}")
    return tuple(_check_text(f"{where}[{i}]", v) for i, v in enumerate(values))


def _check_time(where: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise InputError(f"{where} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"{where} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _check_number(where: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise InputError(f"{where} must lie in [{low:g}, {high:g}], got {value!r}")
    return number


@dataclass(frozen=True)
class Marking:
    """A TLP 2.0 marking and the handling caveats that travel with it.

    Attributes
    ----------
    tlp : str
        One of :data:`TLPS`, exactly as written there (``"TLP:AMBER+STRICT"``).
    caveats : tuple of str
        Handling caveats in words (``"partner police only"``), each non-empty.

    Raises
    ------
    InputError
        An unknown TLP label or an empty or non-text caveat; the message names the value.

    Examples
    --------
    >>> Marking("TLP:AMBER", ("no onward release",)).tlp
    'TLP:AMBER'
    """

    tlp: str
    caveats: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.tlp not in TLPS:
            raise InputError(
                f"marking tlp {self.tlp!r} is not a TLP 2.0 label; use one of {', '.join(TLPS)}"
            )
        object.__setattr__(self, "caveats", _check_texts("marking caveats", self.caveats))

    @property
    def label(self) -> str:
        """The marking in one line: the TLP label, then the caveats (``TLP:AMBER; caveat``)."""
        return "; ".join((self.tlp, *self.caveats))

    @classmethod
    def combine(cls, markings: Iterable[Marking]) -> Marking:
        """Combine the markings of the items of one document into the document's marking.

        Parameters
        ----------
        markings : iterable of Marking
            The markings of the items.

        Returns
        -------
        Marking
            The most restrictive TLP label among them and every caveat, each once, in order
            of first appearance. ``TLP:CLEAR`` without caveats when there are none: an empty
            document discloses nothing.

        Examples
        --------
        >>> Marking.combine([Marking("TLP:GREEN", ("a",)), Marking("TLP:AMBER", ("b",))])
        Marking(tlp='TLP:AMBER', caveats=('a', 'b'))
        """
        items = list(markings)
        if not items:
            return cls("TLP:CLEAR")
        tlp = min((m.tlp for m in items), key=TLPS.index)
        caveats = dict.fromkeys(c for m in items for c in m.caveats)
        return cls(tlp, tuple(caveats))


@dataclass(frozen=True, kw_only=True)
class SiteReport:
    """One released site, as a partner organisation receives it.

    Attributes
    ----------
    site_id : str
        The site's id (``SITE-000001``).
    lon, lat : float
        Position, WGS84 degrees.
    site_class : str
        What the site is judged to be (``"meth_lab"``, ``"unknown"``...).
    confidence : float
        Confidence that the site is what its class says, in [0, 1].
    state : str
        Lifecycle state, one of :data:`vigia.lifecycle.STATES` (``released``...).
    first_seen, last_seen : datetime
        First and last pass that saw it, timezone-aware (normalised to UTC).
    reasons : tuple of str
        Why it was judged so, in words.
    evidence : tuple of str
        What was seen, in words (``"CH4 plume on 3 of 4 passes"``).
    species : tuple of str
        Gas species identified at the site (``"CH4"``, ``"acetone"``).
    location_error_m : float
        One-sigma horizontal position error, m (non-negative).
    passes : int
        Passes that saw the site (at least 1); more than one means a fused position.
    release_id : str
        The release that sent it.
    released_at : datetime
        When it was released, timezone-aware.
    released_to : tuple of str
        Names of the organisations it was released to (at least one).
    marking : Marking
        TLP 2.0 marking and caveats of the release.
    originator : str
        Name of the agency that found and released it.
    withdrawn : bool
        The release was withdrawn: partners must drop the site.
    amended_at : datetime or None
        When the release was last amended or withdrawn, if it was (not before `released_at`).
        Set it anew on every change: exports version their objects by it (STIX ``modified``).

    Raises
    ------
    InputError
        Any field out of range or of the wrong kind; the message names the field and value.
    """

    site_id: str
    lon: float
    lat: float
    site_class: str
    confidence: float
    state: str
    first_seen: datetime
    last_seen: datetime
    reasons: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    species: tuple[str, ...] = ()
    location_error_m: float
    passes: int = 1
    release_id: str
    released_at: datetime
    released_to: tuple[str, ...]
    marking: Marking
    originator: str
    withdrawn: bool = False
    amended_at: datetime | None = field(default=None)

    def __post_init__(self) -> None:
        where = f"site report {self.site_id!r}"
        _check_text(f"{where}: site_id", self.site_id)
        for name in ("site_class", "state", "release_id", "originator"):
            _check_text(f"{where}: {name}", getattr(self, name))
        number = {
            "lon": (-180.0, 180.0),
            "lat": (-90.0, 90.0),
            "confidence": (0.0, 1.0),
            "location_error_m": (0.0, math.inf),
        }
        for name, (low, high) in number.items():
            value = _check_number(f"{where}: {name}", getattr(self, name), low, high)
            object.__setattr__(self, name, value)
        if self.state not in STATES:
            raise InputError(f"{where}: state {self.state!r} is not one of {', '.join(STATES)}")
        if isinstance(self.passes, bool) or not isinstance(self.passes, int) or self.passes < 1:
            raise InputError(f"{where}: passes must be an integer >= 1, got {self.passes!r}")
        for name in ("reasons", "evidence", "species", "released_to"):
            object.__setattr__(self, name, _check_texts(f"{where}: {name}", getattr(self, name)))
        if not self.released_to:
            raise InputError(f"{where}: released_to must name at least one organisation")
        times = ["first_seen", "last_seen", "released_at"]
        if self.amended_at is not None:
            times.append("amended_at")
        for name in times:
            object.__setattr__(self, name, _check_time(f"{where}: {name}", getattr(self, name)))
        if self.last_seen < self.first_seen:
            raise InputError(
                f"{where}: last_seen {self.last_seen.isoformat()} is before "
                f"first_seen {self.first_seen.isoformat()}"
            )
        if self.amended_at is not None and self.amended_at < self.released_at:
            raise InputError(
                f"{where}: amended_at {self.amended_at.isoformat()} is before "
                f"released_at {self.released_at.isoformat()}"
            )
        if not isinstance(self.marking, Marking):
            raise InputError(f"{where}: marking must be a Marking, got {self.marking!r}")
        if not isinstance(self.withdrawn, bool):
            raise InputError(f"{where}: withdrawn must be True or False, got {self.withdrawn!r}")

    @property
    def updated_at(self) -> datetime:
        """When this version of the report was made: the amendment, else the release."""
        return self.amended_at if self.amended_at is not None else self.released_at


def iso_z(when: datetime) -> str:
    """Write an aware time as ISO 8601 UTC with ``Z`` and millisecond precision.

    Parameters
    ----------
    when : datetime
        A timezone-aware time.

    Returns
    -------
    str
        E.g. ``2026-03-01T12:00:00.000Z``.

    Raises
    ------
    InputError
        A naive time.

    Examples
    --------
    >>> iso_z(datetime(2026, 3, 1, 12, tzinfo=UTC))
    '2026-03-01T12:00:00.000Z'
    """
    utc = _check_time("time", when)
    # Truncate to whole milliseconds: CoT and STIX both carry milliseconds.
    utc -= timedelta(microseconds=utc.microsecond % 1000)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
