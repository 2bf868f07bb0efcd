"""Exchange formats of released site reports, each read back by its own reference parser.

GeoJSON by geojson-pydantic, KML by fastkml, Cursor-on-Target by takproto (the TAK protocol
library), STIX 2.1 by the OASIS stix2-validator and stix2, CSV by the csv module.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import stix2
import takproto
from fastkml import kml as fastkml
from geojson_pydantic import FeatureCollection
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_string

from vigia.errors import ExportError, InputError
from vigia.share.exports import (
    COT_STALE_HOURS,
    COT_TYPE,
    CSV_COLUMNS,
    FORMATS,
    STIX_TLP_MARKINGS,
    cot_events,
    export,
    to_cot,
    to_csv,
    to_geojson,
    to_kml,
    to_stix,
    write_export,
)
from vigia.share.report import TLPS, Marking, SiteReport

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GENERATED = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)
KML_NS = "{http://www.opengis.net/kml/2.2}"


def site(
    site_id: str = "SITE-000001",
    *,
    lon: float = -107.394,
    lat: float = 24.809,
    tlp: str = "TLP:AMBER",
    caveats: tuple[str, ...] = ("partner police only", "no onward release"),
    passes: int = 3,
    withdrawn: bool = False,
    amended_at: datetime | None = None,
    originator: str = "Agencia de Vigilancia Aérea",
) -> SiteReport:
    return SiteReport(
        site_id=site_id,
        lon=lon,
        lat=lat,
        site_class="meth_lab",
        confidence=0.87,
        state="released",
        first_seen=T0,
        last_seen=T0 + timedelta(days=2),
        reasons=("CH4 and acetone together point to a synthesis lab",),
        evidence=("plume CH4 on 3 of 4 passes", "hot spot 14 K above background"),
        species=("CH4", "acetone"),
        location_error_m=18.5,
        passes=passes,
        release_id="REL-000007",
        released_at=T0 + timedelta(days=3),
        released_to=("Fiscalía General de Sinaloa", "Guardia Nacional"),
        marking=Marking(tlp, caveats),
        withdrawn=withdrawn,
        amended_at=amended_at,
        originator=originator,
    )


def released() -> list[SiteReport]:
    """Three sites: fused, single-pass under TLP:RED, and a withdrawn one."""
    return [
        site(),
        site("SITE-000002", lon=-107.51, lat=25.02, tlp="TLP:RED", caveats=(), passes=1),
        site(
            "SITE-000003",
            lon=-106.9,
            lat=24.5,
            tlp="TLP:GREEN",
            caveats=("not for the press",),
            withdrawn=True,
            amended_at=T0 + timedelta(days=4),
        ),
    ]


def validate_stix(text: str) -> None:
    for options in (
        ValidationOptions(version="2.1"),
        ValidationOptions(version="2.1", strict=True),
    ):
        result = validate_string(text, options)
        assert result.is_valid, [str(e) for e in result.errors]
        assert not result.errors
        assert not result.warnings, [str(w) for w in result.warnings]


def cot_messages(text: str) -> list[Any]:
    return [takproto.parse_proto(bytearray(event.encode())) for event in split_cot(text)]


def split_cot(text: str) -> list[str]:
    return ["<?xml" + part for part in text.split("<?xml") if part.strip()]


# -- the marking ------------------------------------------------------------------------------


def test_marking_takes_exactly_the_five_tlp_2_0_labels() -> None:
    assert TLPS == ("TLP:RED", "TLP:AMBER+STRICT", "TLP:AMBER", "TLP:GREEN", "TLP:CLEAR")
    for tlp in TLPS:
        assert Marking(tlp).tlp == tlp


@pytest.mark.parametrize("bad", ["TLP:WHITE", "amber", "TLP:amber", "TLP:AMBER+", "", "RED"])
def test_marking_refuses_anything_else_and_names_the_value(bad: str) -> None:
    with pytest.raises(InputError, match=re.escape(repr(bad))):
        Marking(bad)


@pytest.mark.parametrize("caveats", [("",), ("  ",), ("ok", 3), "a string, not a tuple"])
def test_marking_refuses_empty_or_non_text_caveats(caveats: Any) -> None:
    with pytest.raises(InputError, match="caveats"):
        Marking("TLP:GREEN", caveats)


def test_a_document_takes_the_most_restrictive_label_and_every_caveat() -> None:
    combined = Marking.combine(
        [Marking("TLP:GREEN", ("a", "b")), Marking("TLP:AMBER+STRICT", ("b", "c"))]
    )
    assert combined == Marking("TLP:AMBER+STRICT", ("a", "b", "c"))
    assert Marking.combine([]) == Marking("TLP:CLEAR")


# -- the report -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lon", 181.0),
        ("lat", -90.5),
        ("lat", math.nan),
        ("confidence", 1.2),
        ("confidence", -0.1),
        ("location_error_m", -1.0),
        ("passes", 0),
        ("first_seen", datetime(2026, 3, 1, 12)),
        ("released_at", datetime(2026, 3, 1, 12)),
        ("released_to", ()),
        ("site_id", ""),
        ("state", "raided"),
        ("evidence", ("plume\x00",)),
        ("marking", "TLP:AMBER"),
    ],
)
def test_a_report_out_of_range_is_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(InputError, match=field):
        replace(site(), **{field: value})


def test_a_report_never_ends_before_it_starts() -> None:
    with pytest.raises(InputError, match="last_seen"):
        replace(site(), last_seen=T0 - timedelta(hours=1))
    with pytest.raises(InputError, match="amended_at"):
        replace(site(), amended_at=T0)


def test_report_times_are_normalised_to_utc() -> None:
    mexico = timezone(timedelta(hours=-6))
    report = replace(site(), first_seen=T0.astimezone(mexico))
    assert report.first_seen.utcoffset() == timedelta(0)
    assert report.first_seen == T0


# -- GeoJSON ----------------------------------------------------------------------------------


def test_geojson_is_an_rfc_7946_feature_collection_of_marked_points() -> None:
    reports = released()
    text = to_geojson(reports, GENERATED)
    collection = FeatureCollection.model_validate_json(text)
    assert len(collection.features) == 3
    document = json.loads(text)
    assert "crs" not in document  # RFC 7946 §4: WGS84 lon/lat, no crs member
    assert document["marking"] == {
        "tlp": "TLP:RED",
        "caveats": ["partner police only", "no onward release", "not for the press"],
    }
    assert document["generated_at"] == "2026-03-06T09:30:00.000Z"
    for report, feature in zip(reports, collection.features, strict=True):
        assert feature.id == report.site_id
        assert feature.geometry is not None
        assert tuple(feature.geometry.coordinates) == (report.lon, report.lat)
        properties = feature.properties or {}
        assert properties["tlp"] == report.marking.tlp
        assert properties["caveats"] == list(report.marking.caveats)
        assert properties["release_id"] == "REL-000007"
        assert properties["withdrawn"] is report.withdrawn
        assert properties["released_to"] == list(report.released_to)
    assert collection.features[2].properties["amended_at"] == "2026-03-05T12:00:00.000Z"  # type: ignore[index]


def test_geojson_of_no_sites_is_an_empty_collection_still_marked() -> None:
    text = to_geojson([], GENERATED)
    assert FeatureCollection.model_validate_json(text).features == []
    assert json.loads(text)["marking"] == {"tlp": "TLP:CLEAR", "caveats": []}


# -- KML --------------------------------------------------------------------------------------


def test_kml_parsed_back_by_fastkml_gives_the_points_and_the_marking() -> None:
    reports = released()
    document = fastkml.KML.from_string(to_kml(reports, GENERATED).encode()).features[0]
    assert document.name.startswith("TLP:RED")
    assert "Caveat: not for the press" in document.description
    placemarks = list(document.features)
    assert len(placemarks) == 3
    for report, placemark in zip(reports, placemarks, strict=True):
        assert (placemark.geometry.x, placemark.geometry.y) == (report.lon, report.lat)
        assert report.marking.tlp in placemark.name
        assert report.site_id in placemark.name
        lines = html.unescape(placemark.description).splitlines()
        marking_lines = lines[1:] if report.withdrawn else lines
        assert marking_lines[0] == report.marking.tlp
        for caveat in report.marking.caveats:
            assert f"Caveat: {caveat}" in lines
        data = {d.name: d.value for d in placemark.extended_data.elements}
        assert data["tlp"] == report.marking.tlp
        assert json.loads(data["caveats"]) == list(report.marking.caveats)
        assert json.loads(data["withdrawn"]) is report.withdrawn
    assert placemarks[2].name.startswith("WITHDRAWN")
    assert placemarks[2].description.startswith("WITHDRAWN")


@pytest.mark.parametrize(
    "caveat", ["<b>not</b> & for press", "<![CDATA[</description>]]>", "<script>x()</script>"]
)
def test_kml_free_text_never_becomes_markup(caveat: str) -> None:
    report = replace(site(), marking=Marking("TLP:AMBER", (caveat,)))
    root = ET.fromstring(to_kml([report], GENERATED))
    placemark = root.find(f"{KML_NS}Document/{KML_NS}Placemark")
    assert placemark is not None
    description = placemark.findtext(f"{KML_NS}description")
    assert description is not None
    # A description is HTML to a KML viewer: the caveat shows as text, never as a tag.
    assert "<" not in description
    assert f"Caveat: {caveat}" in html.unescape(description)
    values = {d.get("name"): d.findtext(f"{KML_NS}value") for d in placemark.iter(f"{KML_NS}Data")}
    assert json.loads(values["caveats"] or "") == [caveat]


def test_kml_of_no_sites_is_a_valid_empty_document_still_marked() -> None:
    document = fastkml.KML.from_string(to_kml([], GENERATED).encode()).features[0]
    assert list(document.features) == []
    assert document.name.startswith("TLP:CLEAR")


# -- Cursor-on-Target -------------------------------------------------------------------------


def test_cot_events_parsed_by_takproto_carry_point_error_time_and_how() -> None:
    reports = released()
    events = cot_events(reports, GENERATED, stale_hours=6)
    assert len(events) == 3
    generated_ms = int(GENERATED.timestamp() * 1000)
    for report, event in zip(reports, events, strict=True):
        assert event.startswith("<?xml")
        assert ET.fromstring(event.encode()).get("version") == "2.0"
        message = takproto.parse_proto(bytearray(event.encode()))
        assert message is not None
        cot = message.cotEvent
        assert cot.uid == f"vigia.site.{report.site_id}"
        assert cot.type == COT_TYPE
        assert (cot.lat, cot.lon) == (report.lat, report.lon)
        assert cot.ce == report.location_error_m
        assert cot.le == 9999999.0 and cot.hae == 9999999.0  # unknown in CoT
        assert cot.sendTime == cot.startTime == generated_ms
        assert cot.how == ("m-f" if report.passes > 1 else "m-i")
        assert cot.detail.contact.callsign == f"{report.marking.tlp} {report.site_id}"
        remarks = ET.fromstring(cot.detail.xmlDetail)
        assert remarks.tag == "remarks" and remarks.text is not None
        assert report.marking.tlp in remarks.text.splitlines()
        for caveat in report.marking.caveats:
            assert f"Caveat: {caveat}" in remarks.text
        assert "meth_lab, confidence 0.87" in remarks.text
    live, single, gone = (takproto.parse_proto(bytearray(e.encode())).cotEvent for e in events)
    assert live.staleTime == generated_ms + 6 * 3600 * 1000
    assert single.how == "m-i" and live.how == "m-f"
    assert gone.staleTime == generated_ms  # TAK drops a withdrawn site at once
    assert ET.fromstring(gone.detail.xmlDetail).text.startswith("WITHDRAWN")  # type: ignore[union-attr]


def test_cot_events_survive_takprotos_mesh_and_stream_encodings() -> None:
    for event in cot_events(released(), GENERATED):
        message = takproto.parse_proto(bytearray(event.encode()))
        for version in (takproto.TAKProtoVer.MESH, takproto.TAKProtoVer.STREAM):
            assert takproto.parse_proto(takproto.xml2proto(event.encode(), version)) == message


def test_cot_stream_is_the_events_in_order_with_a_default_stale_time() -> None:
    text = to_cot(released(), GENERATED)
    assert split_cot(text) == cot_events(released(), GENERATED)
    first = cot_messages(text)[0].cotEvent
    assert first.staleTime == int((GENERATED + timedelta(hours=COT_STALE_HOURS)).timestamp() * 1000)


def test_cot_and_kml_write_coordinates_as_plain_decimals() -> None:
    report = site(lon=-1e-05, lat=2.5e-07)
    [event] = cot_events([report], GENERATED)
    point = ET.fromstring(event.encode()).find("point")
    assert point is not None
    # CoT types lat, lon and ce as xs:decimal: no exponent form.
    assert (point.get("lon"), point.get("lat")) == ("-0.00001", "0.00000025")
    assert "<coordinates>-0.00001,0.00000025,0.0</coordinates>" in to_kml([report], GENERATED)


def test_cot_of_no_sites_is_an_empty_stream() -> None:
    assert cot_events([], GENERATED) == []
    assert to_cot([], GENERATED) == ""


@pytest.mark.parametrize("hours", [0.0, -1.0, math.nan, math.inf])
def test_cot_stale_time_must_be_in_the_future(hours: float) -> None:
    with pytest.raises(InputError, match="stale_hours"):
        cot_events(released(), GENERATED, stale_hours=hours)


# -- STIX 2.1 ---------------------------------------------------------------------------------


def test_stix_bundle_is_valid_for_the_oasis_validator_without_a_warning() -> None:
    validate_stix(to_stix(released(), GENERATED))


def test_stix_bundle_holds_location_indicator_sighting_and_marking_per_site() -> None:
    reports = released()
    bundle = stix2.parse(to_stix(reports, GENERATED), allow_custom=False)
    by_type: dict[str, list[Any]] = {}
    for obj in bundle.objects:
        by_type.setdefault(obj.type, []).append(obj)
    assert {m.id for m in by_type["marking-definition"]} == {
        STIX_TLP_MARKINGS["TLP:AMBER"],
        STIX_TLP_MARKINGS["TLP:RED"],
        STIX_TLP_MARKINGS["TLP:GREEN"],
    }
    for marking in by_type["marking-definition"]:
        assert STIX_TLP_MARKINGS[marking.name] == marking.id
    [identity] = by_type["identity"]
    assert identity.name == "Agencia de Vigilancia Aérea"
    for kind in ("location", "indicator", "sighting", "note"):
        assert len(by_type[kind]) == 3
        for obj, report in zip(by_type[kind], reports, strict=True):
            assert obj.created_by_ref == identity.id
            assert obj.object_marking_refs == [STIX_TLP_MARKINGS[report.marking.tlp]]
    for location, indicator, sighting, note, report in zip(
        by_type["location"],
        by_type["indicator"],
        by_type["sighting"],
        by_type["note"],
        reports,
        strict=True,
    ):
        assert (location.longitude, location.latitude) == (report.lon, report.lat)
        assert location.precision == report.location_error_m
        assert indicator.confidence == 87
        assert indicator.revoked is report.withdrawn
        assert sighting.sighting_of_ref == indicator.id
        assert sighting.where_sighted_refs == [location.id]
        assert sighting.count == report.passes
        assert set(note.object_refs) == {location.id, indicator.id, sighting.id}
        for caveat in report.marking.caveats:
            assert caveat in note.content
    assert by_type["indicator"][2].modified == T0 + timedelta(days=4)


def test_stix_export_is_reproducible_and_an_amendment_versions_the_same_objects() -> None:
    first = to_stix(released(), GENERATED)
    assert to_stix(released(), GENERATED) == first
    amended = [replace(r, amended_at=T0 + timedelta(days=5)) for r in released()]
    ids = [o["id"] for o in json.loads(first)["objects"]]
    later = json.loads(to_stix(amended, GENERATED))["objects"]
    assert [o["id"] for o in later] == ids
    assert {o["modified"] for o in later if o["type"] == "indicator"} == {
        "2026-03-06T12:00:00.000Z"
    }


def test_stix_gives_an_originator_the_same_identity_object_in_every_bundle() -> None:
    def identity(reports: list[SiteReport]) -> dict[str, Any]:
        objects = json.loads(to_stix(reports, GENERATED))["objects"]
        [found] = [o for o in objects if o["type"] == "identity"]
        return dict(found)

    assert identity(released()) == identity(released()[1:]) == identity(released()[:1])


def test_stix_of_no_sites_is_a_valid_empty_bundle() -> None:
    text = to_stix([], GENERATED)
    validate_stix(text)
    assert json.loads(text)["type"] == "bundle"


def test_stix_pattern_quotes_a_site_id_with_a_quote() -> None:
    validate_stix(to_stix([site("SITE-'7\\")], GENERATED))


# -- CSV --------------------------------------------------------------------------------------


def test_csv_rows_each_carry_the_marking_first() -> None:
    reports = released()
    rows = list(csv.DictReader(io.StringIO(to_csv(reports, GENERATED), newline="")))
    assert len(rows) == 3
    assert tuple(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[:2] == ("tlp", "caveats")
    for report, row in zip(reports, rows, strict=True):
        assert row["tlp"] == report.marking.tlp
        assert json.loads(row["caveats"]) == list(report.marking.caveats)
        assert (float(row["lon"]), float(row["lat"])) == (report.lon, report.lat)
        assert row["withdrawn"] == ("true" if report.withdrawn else "false")
        assert json.loads(row["released_to"]) == list(report.released_to)


def test_csv_cells_are_never_run_as_spreadsheet_formulas() -> None:
    report = replace(site(), site_class="=HYPERLINK(1)", originator="@agency")
    [row] = csv.DictReader(io.StringIO(to_csv([report], GENERATED), newline=""))
    assert row["site_class"] == "'=HYPERLINK(1)"
    assert row["originator"] == "'@agency"
    assert float(row["lon"]) < 0  # numbers keep their sign


def test_csv_of_no_sites_is_the_header_alone() -> None:
    assert to_csv([], GENERATED) == ",".join(CSV_COLUMNS) + "\r\n"


# -- every format -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_carries_each_sites_marking_and_caveats(fmt: str) -> None:
    report = site(tlp="TLP:AMBER+STRICT", caveats=("destroy after action",))
    text = export(fmt, [report], GENERATED)
    assert "TLP:AMBER+STRICT" in text
    assert "destroy after action" in text


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_refuses_a_naive_export_time(fmt: str) -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        export(fmt, released(), datetime(2026, 3, 6, 9, 30))


def test_an_unknown_format_is_refused_naming_the_known_ones() -> None:
    assert set(FORMATS) == {"geojson", "kml", "cot", "stix", "csv"}
    with pytest.raises(InputError, match=r"'shapefile'.*geojson, kml, cot, stix, csv"):
        export("shapefile", released(), GENERATED)


def read_positions(fmt: str, text: str) -> list[tuple[float, float]]:
    """Positions (lon, lat) as each format's reference parser reads them."""
    if fmt == "geojson":
        collection = FeatureCollection.model_validate_json(text)
        return [tuple(f.geometry.coordinates) for f in collection.features]  # type: ignore[union-attr,misc]
    if fmt == "kml":
        document = fastkml.KML.from_string(text.encode()).features[0]
        return [(p.geometry.x, p.geometry.y) for p in document.features]
    if fmt == "cot":
        return [(m.cotEvent.lon, m.cotEvent.lat) for m in cot_messages(text)]
    if fmt == "stix":
        bundle = stix2.parse(text, allow_custom=False)
        return [(o.longitude, o.latitude) for o in bundle.objects if o.type == "location"]
    rows = csv.DictReader(io.StringIO(text, newline=""))
    return [(float(r["lon"]), float(r["lat"])) for r in rows]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-180, 180, allow_nan=False, allow_infinity=False),
            st.floats(-90, 90, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from(sorted(FORMATS)),
)
def test_positions_come_back_exactly_through_every_format(
    positions: Sequence[tuple[float, float]], fmt: str
) -> None:
    reports = [site(f"SITE-{i:06d}", lon=lon, lat=lat) for i, (lon, lat) in enumerate(positions)]
    expected = [(r.lon, r.lat) for r in reports]
    assert read_positions(fmt, export(fmt, reports, GENERATED)) == expected


# -- the file edge ----------------------------------------------------------------------------


def test_write_export_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "sites.csv"
    target.write_text("old")
    assert write_export(target, "csv", released(), GENERATED) == target
    assert target.read_bytes() == to_csv(released(), GENERATED).encode()
    assert [p.name for p in tmp_path.iterdir()] == ["sites.csv"]


def test_write_export_into_a_missing_directory_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="nowhere"):
        write_export(tmp_path / "nowhere" / "sites.kml", "kml", released(), GENERATED)
