"""Exchange formats for released site reports: GeoJSON, KML, Cursor-on-Target, STIX 2.1, CSV.

Every function here is pure: released :class:`~vigia.share.report.SiteReport` values and the
time of the export in, text out; the same input gives the same text (KML's object ids aside,
which simplekml numbers from a process-wide counter). :func:`write_export` is the one edge that
touches a file.

The marking travels with everything: each site carries its own TLP 2.0 label and caveats
in every format, and each document also carries the combined marking of what it holds (the
most restrictive label and every caveat, :meth:`Marking.combine`). A withdrawn release is still
exported, flagged, so that partners see the withdrawal and drop the site:

========  ===============================================================================
format    withdrawn site
========  ===============================================================================
geojson   ``"withdrawn": true``
kml       name and description start with ``WITHDRAWN``, ``withdrawn`` data ``true``
cot       stale at the export time (TAK clients drop it), remarks start with ``WITHDRAWN``
stix      the site's indicator is ``revoked``
csv       ``withdrawn`` column ``true``
========  ===============================================================================
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape as xml_escape

import simplekml
import stix2

from vigia.errors import ExportError, InputError
from vigia.share.report import Marking, SiteReport, iso_z

__all__ = [
    "COT_STALE_HOURS",
    "COT_TYPE",
    "CSV_COLUMNS",
    "FORMATS",
    "STIX_TLP_EXTENSION",
    "STIX_TLP_MARKINGS",
    "cot_events",
    "export",
    "to_cot",
    "to_csv",
    "to_geojson",
    "to_kml",
    "to_stix",
    "write_export",
]

# -- CoT --------------------------------------------------------------------------------------

#: How long a TAK client keeps showing a released site after the export, hours.
COT_STALE_HOURS: Final = 24.0
#: CoT type of a site. ``b-m-p-s-m`` is the "spot map" point marker that ATAK, WinTAK and
#: iTAK all draw as a plain map pin; a site is a place, so it is not sent as an ``a-…`` atom,
#: which TAK draws as a MIL-STD-2525 unit or entity (``a-u-G``, an unknown ground unit).
COT_TYPE: Final = "b-m-p-s-m"
# CoT 2.0 event schema, attribute ``how``: ``m-i`` machine, mensurated (measured from the
# imagery of one pass); ``m-f`` machine, fused (a position combined from several passes).
_HOW_ONE_PASS: Final = "m-i"
_HOW_FUSED: Final = "m-f"
# CoT 2.0 event schema: 9999999 is "unknown" for hae and le (we do not measure elevation).
_COT_UNKNOWN: Final = "9999999.0"
_XML_DECLARATION: Final = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

# -- STIX -------------------------------------------------------------------------------------

#: The TLP 2.0 marking-definition extension published by OASIS (cti-stix-common-objects,
#: extension-definition-specifications/tlp-2.0).
STIX_TLP_EXTENSION: Final = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
#: The official TLP 2.0 marking-definition ids published by OASIS with that extension.
STIX_TLP_MARKINGS: Final[Mapping[str, str]] = {
    "TLP:RED": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    "TLP:AMBER+STRICT": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "TLP:AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "TLP:GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "TLP:CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
}
# The ``created`` time of those published objects: they must be reproduced byte for byte.
_STIX_TLP_CREATED: Final = "2022-10-01T00:00:00.000Z"
# One originator is one identity object in every bundle, so its times are fixed: two exports
# must never disagree about the same id and version (STIX 2.1 §3.6).
_STIX_IDENTITY_CREATED: Final = "2026-01-01T00:00:00.000Z"
# Deterministic STIX ids: one release exported twice gives the same objects, so an amendment
# is a new version of one object (STIX 2.1 §3.6), never a duplicate. STIX asks for UUIDv4
# ids on SDOs and SROs (§2.9): ours are 122 bits of SHA-256 of a name in this namespace with
# the version 4 bits set, as unique as random ones and reproducible.
_STIX_NAMESPACE: Final = "vigia.share.exports/stix/1"
# A site is a place, not a cyber observable: the indicator's pattern names the site through
# a custom observable type, which STIX 2.1 patterning allows (§9, custom objects).
_STIX_SITE_TYPE: Final = "x-vigia-site"

# -- CSV --------------------------------------------------------------------------------------

#: CSV header, in order. The marking leads every row.
CSV_COLUMNS: Final[tuple[str, ...]] = (
    "tlp",
    "caveats",
    "site_id",
    "lon",
    "lat",
    "location_error_m",
    "site_class",
    "confidence",
    "state",
    "first_seen",
    "last_seen",
    "passes",
    "species",
    "evidence",
    "reasons",
    "release_id",
    "released_at",
    "released_to",
    "originator",
    "withdrawn",
    "amended_at",
)
# Cells a spreadsheet would run as a formula (OWASP "CSV injection").
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _check_reports(reports: Sequence[SiteReport], generated_at: datetime) -> str:
    for i, report in enumerate(reports):
        if not isinstance(report, SiteReport):
            raise InputError(f"reports[{i}] must be a SiteReport, got {type(report).__name__}")
    return iso_z(generated_at)


def _properties(report: SiteReport) -> dict[str, Any]:
    """Give every field of a report as JSON values, the marking first."""
    return {
        "tlp": report.marking.tlp,
        "caveats": list(report.marking.caveats),
        "site_id": report.site_id,
        "site_class": report.site_class,
        "confidence": report.confidence,
        "state": report.state,
        "first_seen": iso_z(report.first_seen),
        "last_seen": iso_z(report.last_seen),
        "location_error_m": report.location_error_m,
        "passes": report.passes,
        "species": list(report.species),
        "evidence": list(report.evidence),
        "reasons": list(report.reasons),
        "release_id": report.release_id,
        "released_at": iso_z(report.released_at),
        "released_to": list(report.released_to),
        "originator": report.originator,
        "withdrawn": report.withdrawn,
        "amended_at": None if report.amended_at is None else iso_z(report.amended_at),
    }


def _decimal(value: float) -> str:
    # The shortest digits that read back as the same float, never in exponent form: CoT's
    # schema types lat, lon and ce as xs:decimal, and KML viewers expect plain decimals.
    return format(Decimal(repr(value)), "f")


def _marking_json(marking: Marking) -> dict[str, Any]:
    return {"tlp": marking.tlp, "caveats": list(marking.caveats)}


def _summary(report: SiteReport) -> str:
    """Write the report in a few lines, the marking first (KML description, CoT remarks)."""
    lines = [
        *(["WITHDRAWN: the release was withdrawn; drop this site."] if report.withdrawn else []),
        report.marking.tlp,
        *(f"Caveat: {c}" for c in report.marking.caveats),
        f"Site {report.site_id}: {report.site_class}, confidence {report.confidence:.2f}, "
        f"{report.state}",
        f"Seen {iso_z(report.first_seen)} to {iso_z(report.last_seen)} on {report.passes} "
        f"pass{'es' if report.passes != 1 else ''}; position ±{report.location_error_m:.0f} m "
        "(1 sigma)",
        *(f"Evidence: {e}" for e in report.evidence),
        *(f"Reason: {r}" for r in report.reasons),
        *([f"Species: {', '.join(report.species)}"] if report.species else []),
        f"Release {report.release_id} by {report.originator} on {iso_z(report.released_at)} "
        f"to {', '.join(report.released_to)}",
    ]
    if report.amended_at is not None:
        lines.append(f"Amended {iso_z(report.amended_at)}")
    return "\n".join(lines)


# -- GeoJSON ----------------------------------------------------------------------------------


def to_geojson(reports: Sequence[SiteReport], generated_at: datetime) -> str:
    """Released sites as an RFC 7946 GeoJSON FeatureCollection.

    Parameters
    ----------
    reports : sequence of SiteReport
        The released sites.
    generated_at : datetime
        Time of the export, timezone-aware.

    Returns
    -------
    str
        A FeatureCollection of Point features (lon, lat; WGS84), one per site, with the site's
        id as the feature id and every report field as a property (``tlp``, ``caveats``,
        ``release_id``, ``withdrawn``...). Foreign members (RFC 7946 §6.1) carry the document's
        combined ``marking`` and ``generated_at``.

    Raises
    ------
    InputError
        A report that is not a :class:`SiteReport`, or a naive `generated_at`.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> json.loads(to_geojson([], datetime(2026, 3, 1, tzinfo=UTC)))["type"]
    'FeatureCollection'
    """
    when = _check_reports(reports, generated_at)
    features = [
        {
            "type": "Feature",
            "id": report.site_id,
            "geometry": {"type": "Point", "coordinates": [report.lon, report.lat]},
            "properties": _properties(report),
        }
        for report in reports
    ]
    document = {
        "type": "FeatureCollection",
        "marking": _marking_json(Marking.combine(r.marking for r in reports)),
        "generated_at": when,
        "features": features,
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


# -- KML --------------------------------------------------------------------------------------


def to_kml(reports: Sequence[SiteReport], generated_at: datetime) -> str:
    """Released sites as a KML 2.2 document (Google Earth, QGIS, TAK clients).

    Parameters
    ----------
    reports : sequence of SiteReport
        The released sites.
    generated_at : datetime
        Time of the export, timezone-aware.

    Returns
    -------
    str
        A KML document whose name and description carry the combined marking, with one
        Placemark per site: a Point (lon, lat), a name with the TLP label and site id, a
        description (HTML-escaped text) that opens with the TLP label and caveats (after a
        ``WITHDRAWN`` line when withdrawn), and ExtendedData with every report field (lists
        as JSON).

    Raises
    ------
    InputError
        A report that is not a :class:`SiteReport`, or a naive `generated_at`.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> "TLP:CLEAR" in to_kml([], datetime(2026, 3, 1, tzinfo=UTC))
    True
    """
    when = _check_reports(reports, generated_at)
    marking = Marking.combine(r.marking for r in reports)
    kml = simplekml.Kml()
    # simplekml escapes names and descriptions except what looks like CDATA, and Data values
    # not at all: we escape every text ourselves, so free text can never become markup.
    kml.parsetext(parse=False)
    kml.document.name = xml_escape(f"{marking.tlp} Vigía released sites")
    kml.document.description = _kml_html(
        "\n".join(
            [
                marking.tlp,
                *(f"Caveat: {c}" for c in marking.caveats),
                f"{len(reports)} released site{'s' if len(reports) != 1 else ''}, "
                f"exported {when}. Each site carries its own marking.",
            ]
        )
    )
    for report in reports:
        prefix = "WITHDRAWN " if report.withdrawn else ""
        point = kml.newpoint(
            name=xml_escape(f"{prefix}{report.marking.tlp} {report.site_id}"),
            coords=[(_decimal(report.lon), _decimal(report.lat))],
        )
        point.description = _kml_html(_summary(report))
        for name, value in _properties(report).items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            point.extendeddata.newdata(name=name, value=xml_escape(text))
    return str(kml.kml())


def _kml_html(text: str) -> str:
    # OGC KML 2.2 <description> is HTML that viewers render in a balloon: escape our plain
    # text as HTML (no caveat may inject markup into a balloon), then as XML.
    return xml_escape(html.escape(text, quote=False))


# -- Cursor-on-Target -------------------------------------------------------------------------


def cot_events(
    reports: Sequence[SiteReport],
    generated_at: datetime,
    *,
    stale_hours: float = COT_STALE_HOURS,
) -> list[str]:
    """Released sites as Cursor-on-Target 2.0 events, one XML document per site.

    Parameters
    ----------
    reports : sequence of SiteReport
        The released sites.
    generated_at : datetime
        Time of the export, timezone-aware: each event's ``time`` and ``start``.
    stale_hours : float
        Hours after `generated_at` when a TAK client drops the marker (positive). A withdrawn
        site goes stale at `generated_at` itself, so clients remove it at once.

    Returns
    -------
    list of str
        One ``<event version="2.0">`` document per site, each with its XML declaration: uid
        ``vigia.site.<site_id>`` (an amendment replaces the marker), type :data:`COT_TYPE`,
        how ``m-f`` for a position fused from several passes and ``m-i`` for one pass, a
        ``point`` with ``ce`` the one-sigma horizontal error in metres and unknown ``hae`` and
        ``le``, and a ``detail`` with the site id as callsign and ``remarks`` that open with
        the TLP label and caveats.

    Raises
    ------
    InputError
        A report that is not a :class:`SiteReport`, a naive `generated_at`, or a `stale_hours`
        that is not positive.
    """
    when = _check_reports(reports, generated_at)
    if not stale_hours > 0 or stale_hours == float("inf"):
        raise InputError(f"CoT stale_hours must be a positive number of hours, got {stale_hours}")
    stale = iso_z(generated_at + timedelta(hours=stale_hours))
    events = []
    for report in reports:
        event = ET.Element(
            "event",
            {
                "version": "2.0",
                "uid": f"vigia.site.{report.site_id}",
                "type": COT_TYPE,
                "how": _HOW_FUSED if report.passes > 1 else _HOW_ONE_PASS,
                "time": when,
                "start": when,
                "stale": when if report.withdrawn else stale,
            },
        )
        ET.SubElement(
            event,
            "point",
            {
                "lat": _decimal(report.lat),
                "lon": _decimal(report.lon),
                "hae": _COT_UNKNOWN,
                # CoT 2.0 event schema: ce is the circular one-sigma error about lat/lon, m.
                "ce": _decimal(report.location_error_m),
                "le": _COT_UNKNOWN,
            },
        )
        detail = ET.SubElement(event, "detail")
        ET.SubElement(detail, "contact", {"callsign": f"{report.marking.tlp} {report.site_id}"})
        remarks = ET.SubElement(detail, "remarks", {"source": report.originator})
        remarks.text = _summary(report)
        events.append(_XML_DECLARATION + ET.tostring(event, encoding="unicode") + "\n")
    return events


def to_cot(
    reports: Sequence[SiteReport],
    generated_at: datetime,
    *,
    stale_hours: float = COT_STALE_HOURS,
) -> str:
    """Released sites as a Cursor-on-Target stream: the events of :func:`cot_events`, in order.

    Each event is a whole XML document with its own declaration, as TAK tools (pytak,
    TAK Server) send them one after another; split on ``<?xml`` to read them one by one.
    No sites give an empty stream.

    Parameters
    ----------
    reports : sequence of SiteReport
        The released sites.
    generated_at : datetime
        Time of the export, timezone-aware.
    stale_hours : float
        Hours after `generated_at` when TAK clients drop the markers.

    Returns
    -------
    str
        The concatenated events.

    Raises
    ------
    InputError
        As :func:`cot_events`.
    """
    return "".join(cot_events(reports, generated_at, stale_hours=stale_hours))


# -- STIX 2.1 ---------------------------------------------------------------------------------


def _stix_id(kind: str, *parts: str) -> str:
    name = json.dumps([_STIX_NAMESPACE, kind, *parts], ensure_ascii=False).encode()
    digest = hashlib.sha256(name).digest()
    return f"{kind}--{uuid.UUID(bytes=digest[:16], version=4)}"


def _tlp_marking_definition(tlp: str) -> stix2.MarkingDefinition:
    """Build the published TLP 2.0 marking definition, exactly as OASIS wrote it."""
    return stix2.MarkingDefinition(
        id=STIX_TLP_MARKINGS[tlp],
        created=_STIX_TLP_CREATED,
        name=tlp,
        extensions={
            STIX_TLP_EXTENSION: {
                "extension_type": "property-extension",
                "tlp_2_0": tlp.removeprefix("TLP:").lower(),
            }
        },
    )


def _stix_site(report: SiteReport, identity: str) -> list[Any]:
    """Build the Location, Indicator, Sighting and Note of one released site."""
    key = (report.site_id, report.release_id)
    markings = [STIX_TLP_MARKINGS[report.marking.tlp]]
    common: dict[str, Any] = {
        "created_by_ref": identity,
        "created": report.released_at,
        "modified": report.updated_at,
        "object_marking_refs": markings,
    }
    withdrawn = "WITHDRAWN: the release was withdrawn. " if report.withdrawn else ""
    location = stix2.Location(
        id=_stix_id("location", *key),
        name=f"Site {report.site_id}",
        description=f"{report.marking.label}. Position of released site {report.site_id}.",
        latitude=report.lat,
        longitude=report.lon,
        # STIX 2.1 §4.13: precision of the coordinates in metres; we give the one-sigma error.
        precision=report.location_error_m,
        **common,
    )
    # An Indicator, not Observed Data: Observed Data must point at cyber observables (files,
    # addresses...), and a place on the ground is none; an Indicator is what STIX has for
    # "look for this", and a Sighting of it at a Location says where and when it was seen.
    indicator = stix2.Indicator(
        id=_stix_id("indicator", *key),
        name=f"Suspected {report.site_class} site {report.site_id}",
        description=withdrawn + _summary(report),
        indicator_types=["anomalous-activity"],
        pattern=f"[{_STIX_SITE_TYPE}:site_id = {_stix_quote(report.site_id)}]",
        pattern_type="stix",
        valid_from=report.released_at,
        confidence=round(report.confidence * 100),
        revoked=report.withdrawn,
        labels=[report.site_class],
        **common,
    )
    sighting = stix2.Sighting(
        id=_stix_id("sighting", *key),
        description=f"{report.marking.label}. Seen on {report.passes} aerial pass(es).",
        sighting_of_ref=indicator.id,
        where_sighted_refs=[location.id],
        first_seen=report.first_seen,
        last_seen=report.last_seen,
        count=report.passes,
        **common,
    )
    handling = "; ".join(report.marking.caveats) or "none beyond the TLP label"
    note = stix2.Note(
        id=_stix_id("note", *key),
        abstract=f"{report.marking.tlp}: handling of released site {report.site_id}",
        content=(
            f"{withdrawn}Marking {report.marking.tlp}. Caveats: {handling}. Released by "
            f"{report.originator} as {report.release_id} to {', '.join(report.released_to)}."
        ),
        object_refs=[location.id, indicator.id, sighting.id],
        **common,
    )
    return [location, indicator, sighting, note]


def _stix_quote(text: str) -> str:
    # STIX patterning string literal: single quotes, backslash escapes (§9.3).
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def to_stix(reports: Sequence[SiteReport], generated_at: datetime) -> str:
    """Released sites as a STIX 2.1 bundle.

    Parameters
    ----------
    reports : sequence of SiteReport
        The released sites.
    generated_at : datetime
        Time of the export, timezone-aware (it names the bundle).

    Returns
    -------
    str
        A bundle (JSON) holding an ``identity`` per originating agency (each object's
        ``created_by_ref``), the official TLP 2.0 marking definitions in use, and per site a
        ``location`` (lat, lon, precision in metres), an ``indicator`` (class, confidence 0-100,
        evidence; ``revoked`` when the release was withdrawn), a ``sighting`` of that indicator
        at that location (first and last seen, passes as count) and a ``note`` with the
        marking and caveats. Every site object carries its TLP marking in
        ``object_marking_refs``. Ids are derived from site and release, so exporting a release
        again gives the same objects (an amendment a newer ``modified``).

    Raises
    ------
    InputError
        A report that is not a :class:`SiteReport`, or a naive `generated_at`.
    """
    when = _check_reports(reports, generated_at)
    identities = {
        name: stix2.Identity(
            id=_stix_id("identity", name),
            name=name,
            identity_class="organization",
            created=_STIX_IDENTITY_CREATED,
            modified=_STIX_IDENTITY_CREATED,
        )
        for name in dict.fromkeys(r.originator for r in reports)
    }
    tlps = sorted({r.marking.tlp for r in reports}, key=list(STIX_TLP_MARKINGS).index)
    objects: list[Any] = [_tlp_marking_definition(t) for t in tlps]
    objects.extend(identities.values())
    for report in reports:
        objects.extend(_stix_site(report, identities[report.originator].id))
    releases = sorted({f"{r.release_id}@{iso_z(r.updated_at)}" for r in reports})
    bundle = stix2.Bundle(
        id=_stix_id("bundle", when, *releases),
        objects=objects,
        allow_custom=False,
    )
    return str(bundle.serialize(pretty=True)) + "\n"


# -- CSV --------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float | int):
        return repr(value)
    text = str(value)
    # A leading quote keeps a spreadsheet from running text as a formula (OWASP).
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(reports: Sequence[SiteReport], generated_at: datetime) -> str:
    """Released sites as CSV: a header, then one row per site with its marking in every row.

    Parameters
    ----------
    reports : sequence of SiteReport
        The released sites.
    generated_at : datetime
        Time of the export, timezone-aware (checked; CSV has no place for it).

    Returns
    -------
    str
        RFC 4180 CSV (CRLF line ends) with the columns :data:`CSV_COLUMNS`: ``tlp`` and
        ``caveats`` first, so the marking travels with every row even when rows are copied
        out. Lists (caveats, species, evidence, reasons, released_to) are JSON arrays; times
        ISO 8601 UTC; booleans ``true``/``false``; text a spreadsheet would run as a formula
        is prefixed with ``'``. No sites give the header alone.

    Raises
    ------
    InputError
        A report that is not a :class:`SiteReport`, or a naive `generated_at`.
    """
    _check_reports(reports, generated_at)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for report in reports:
        properties = _properties(report)
        properties["lon"] = report.lon
        properties["lat"] = report.lat
        writer.writerow([_cell(properties[column]) for column in CSV_COLUMNS])
    return out.getvalue()


# -- dispatch ---------------------------------------------------------------------------------

#: Export functions by format name.
FORMATS: Final[Mapping[str, Callable[[Sequence[SiteReport], datetime], str]]] = {
    "geojson": to_geojson,
    "kml": to_kml,
    "cot": to_cot,
    "stix": to_stix,
    "csv": to_csv,
}


def export(fmt: str, reports: Sequence[SiteReport], generated_at: datetime) -> str:
    """Export released sites in the named format.

    Parameters
    ----------
    fmt : str
        One of :data:`FORMATS` (``geojson``, ``kml``, ``cot``, ``stix``, ``csv``).
    reports : sequence of SiteReport
        The released sites.
    generated_at : datetime
        Time of the export, timezone-aware.

    Returns
    -------
    str
        The document.

    Raises
    ------
    InputError
        An unknown format (the message lists the known ones), or bad input to the format.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> export("csv", [], datetime(2026, 3, 1, tzinfo=UTC)).split(",")[:2]
    ['tlp', 'caveats']
    """
    try:
        function = FORMATS[fmt]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}"
        ) from None
    return function(reports, generated_at)


def write_export(
    path: str | os.PathLike[str],
    fmt: str,
    reports: Sequence[SiteReport],
    generated_at: datetime,
) -> Path:
    """Write an export to a file atomically (a temporary file beside it, then a rename).

    Parameters
    ----------
    path : str or path-like
        The file to write; its directory must exist. Replaced whole, never left half-written,
        and readable by its owner only (mode 0600): it holds marked material.
    fmt : str
        One of :data:`FORMATS`.
    reports : sequence of SiteReport
        The released sites.
    generated_at : datetime
        Time of the export, timezone-aware.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    InputError
        As :func:`export`.
    ExportError
        The file could not be written.
    """
    target = Path(path)
    text = export(fmt, reports, generated_at)
    # CSV rows end in CRLF already (RFC 4180): write the text as it is, without translation.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ExportError(f"cannot write {fmt} export to {target}: {exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ExportError(f"cannot write {fmt} export to {target}: {exc}") from exc
    return target
