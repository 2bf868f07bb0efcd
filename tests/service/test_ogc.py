"""OGC API – Features: landing page, conformance, collections, paged items, bbox and datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigia.service.routes.collections import parse_bbox, parse_datetime

from .conftest import ANA, AO, BV, S_A, S_AB, S_B, S_W, Api


def test_landing_page_links_to_the_api_conformance_and_data(api: Api) -> None:
    doc = api.call("GET", "/", AO).json()
    rels = {link["rel"]: link["href"] for link in doc["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert api.client.get(rels["service-desc"]).json()["openapi"].startswith("3.")
    conf = api.call("GET", "/conformance", AO).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf


def test_items_are_geojson_paged_with_next_and_prev(api: Api) -> None:
    seen: list[str] = []
    url: str | None = "/collections/sites/items?limit=2"
    pages = 0
    while url is not None:
        r = api.call("GET", url, ANA)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/geo+json"
        doc = r.json()
        assert doc["type"] == "FeatureCollection"
        assert doc["numberMatched"] == 6
        assert doc["numberReturned"] == len(doc["features"]) <= 2
        links = {link["rel"]: link["href"] for link in doc["links"]}
        assert ("prev" in links) == (pages > 0)
        seen += [f["id"] for f in doc["features"]]
        url = links.get("next")
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 6
    last = {link["rel"]: link["href"] for link in doc["links"]}
    assert parse_qs(urlsplit(last["prev"]).query) == {"limit": ["2"], "offset": ["2"]}


def test_a_partner_pages_only_through_its_own_sites(api: Api) -> None:
    doc = api.call("GET", "/collections/sites/items?limit=1&offset=1", AO).json()
    assert doc["numberMatched"] == 3
    assert [f["id"] for f in doc["features"]] == [S_AB]
    assert {link["rel"] for link in doc["links"]} >= {"next", "prev", "self"}
    feature = api.call("GET", f"/collections/sites/items/{S_A}", AO).json()
    assert feature["geometry"]["type"] == "Point"
    assert "evidence" not in feature["properties"]
    assert feature["properties"]["tlp"] == "TLP:AMBER"


def test_a_withdrawn_release_stays_visible_marked_withdrawn(api: Api) -> None:
    feature = api.call("GET", f"/collections/sites/items/{S_W}", AO).json()
    assert feature["properties"]["withdrawn"] is True
    assert feature["properties"]["releases"][0]["withdrawn"] is True


def test_bbox_selects_the_sites_whose_box_meets_it(api: Api) -> None:
    doc = api.call("GET", "/collections/sites/items?bbox=-107.39,25.0,-107.35,25.025", ANA).json()
    assert [f["id"] for f in doc["features"]] == [S_A, S_B]
    doc = api.call("GET", "/collections/sites/items?bbox=-107.39,25.0,-107.35,25.025", BV).json()
    assert [f["id"] for f in doc["features"]] == [S_B]
    doc = api.call("GET", "/collections/sites/items?bbox=10,10,11,11", ANA).json()
    assert doc["numberMatched"] == 0 and doc["features"] == []


@pytest.mark.parametrize(
    ("value", "n"),
    [
        ("2026-03-02T00:00:00Z", 6),
        ("2026-01-01T00:00:00Z/2026-02-01T00:00:00Z", 0),
        ("../2026-02-01T00:00:00Z", 0),
        ("2026-03-01T00:00:00Z/..", 6),
        ("2027-01-01T00:00:00Z/..", 0),
    ],
)
def test_datetime_filters_by_when_sites_were_seen(api: Api, value: str, n: int) -> None:
    r = api.call("GET", "/collections/sites/items", ANA, params={"datetime": value})
    assert r.status_code == 200, r.text
    assert r.json()["numberMatched"] == n


@pytest.mark.parametrize(
    "query",
    [
        "bbox=1,2,3",
        "bbox=a,b,c,d",
        "bbox=10,0,5,1",
        "bbox=-200,0,0,1",
        "bbox=nan,0,1,1",
        "datetime=yesterday",
        "datetime=2026-03-01T00:00:00",
        "datetime=2026-03-02T00:00:00Z/2026-03-01T00:00:00Z",
        "datetime=..",
        "limit=0",
        "limit=100000",
        "offset=-1",
    ],
)
def test_bad_parameters_are_422_and_audited(api: Api, query: str) -> None:
    before = api.audit_count()
    r = api.call("GET", f"/collections/sites/items?{query}", AO)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert api.audit_count() == before + 1
    assert api.audit(1)[0]["action"] == "GET /collections/sites/items"


def test_agency_only_collections(api: Api) -> None:
    assert api.call("GET", "/collections/flight_lines", ANA).status_code == 200
    assert api.call("GET", "/collections/detections", ANA).status_code == 200
    for cid in ("flight_lines", "detections"):
        r = api.call("GET", f"/collections/{cid}", AO)
        ghost = api.call("GET", "/collections/no_such_collection", AO)
        assert r.status_code == ghost.status_code == 404
        assert r.json() == ghost.json()


def test_parsers() -> None:
    assert parse_bbox(None) is None
    assert parse_bbox("-1,-2,3,4") == (-1.0, -2.0, 3.0, 4.0)
    start, end = parse_datetime("2026-03-01T00:00:00+02:00/..")
    assert start is not None and start.utcoffset() is not None and end is None


def test_the_agency_reads_flight_lines_and_detections(api: Api) -> None:
    lines = api.call("GET", "/collections/flight_lines/items", ANA)
    assert lines.status_code == 200 and lines.headers["content-type"] == "application/geo+json"
    assert lines.json()["numberMatched"] == 2  # one line per sensor
    assert lines.json()["features"][0]["geometry"]["type"] == "Polygon"
    page = api.call("GET", "/collections/detections/items?limit=3", ANA).json()
    assert page["numberMatched"] == 8 and page["numberReturned"] == 3
    assert "next" in {link["rel"] for link in page["links"]}
    fid = page["features"][0]["id"]
    one = api.call("GET", f"/collections/detections/items/{fid}", ANA).json()
    assert one["properties"]["detection_id"] == page["features"][0]["properties"]["detection_id"]
    far = api.call("GET", "/collections/detections/items?bbox=10,10,11,11", ANA).json()
    assert far["numberMatched"] == 0


def test_a_partner_never_reads_raw_detections(api: Api) -> None:
    for path in (
        "/collections/detections/items",
        "/collections/detections/items/1",
        "/collections/flight_lines/items",
        "/collections/flight_lines/items/1",
    ):
        r = api.call("GET", path, AO)
        assert r.status_code == 404, path
        assert "detection_id" not in r.text and "Polygon" not in r.text


def test_a_pages_links_name_the_host_each_request_came_by(api: Api) -> None:
    """The links are made per request from its own Host header (kept URLs never cross)."""
    for host in ["a.example:8080", "b.example", "[::1]:9000", "a.example:8080", "b.example"]:
        for user in (AO, ANA):
            path = "/collections/sites/items?limit=1&datetime=2025-01-01T00:00:00Z/.."
            doc = api.call("GET", path, user, headers={"Host": host}).json()
            links = {link["rel"]: link["href"] for link in doc["links"]}
            base = f"http://{host}/collections/sites"
            assert links["collection"] == base
            query = "datetime=2025-01-01T00%3A00%3A00Z%2F..&offset={}&limit=1"
            assert links["self"] == f"{base}/items?{query.format(0)}"
            assert links["next"] == f"{base}/items?{query.format(1)}"


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-6))]),
    )
)
def test_a_pages_time_stamp_is_the_time_written_to_the_second(t: datetime) -> None:
    from vigia.service.routes.collections import TIMESTAMP_FORMAT, _stamp

    assert _stamp(t) == t.strftime(TIMESTAMP_FORMAT)
    assert _stamp(t.replace(microsecond=0)) == t.strftime(TIMESTAMP_FORMAT)
