"""The agency's survey collections (flight lines and raw detections), on both back ends."""

from collections.abc import Callable
from pathlib import Path

import pytest

from vigia.errors import NotFoundError
from vigia.store import SessionFactory, ingest_detections, read_session, write_session
from vigia.store.access import Principal, add_org, add_user, principal_of
from vigia.store.survey import get_survey_feature, list_survey_features

from .conftest import T0


@pytest.fixture()
def surveyed(store: SessionFactory, detection_file: Callable[..., Path]) -> SessionFactory:
    """Two lines per sensor and 20 detections; an analyst of the agency and a partner."""
    ingest_detections(store, detection_file(20, n_lines=2), now=T0)
    with write_session(store) as s:
        add_org(s, "AGENCY", "agency", now=T0)
        add_org(s, "PA", "partner", now=T0)
        add_user(s, "ana", "AGENCY", "analyst", now=T0)
        add_user(s, "pa_off", "PA", "partner_officer", now=T0)
    return store


def who(store: SessionFactory, user: str) -> Principal:
    with read_session(store) as s:
        return principal_of(s, user)


def test_the_agency_pages_through_every_detection(surveyed: SessionFactory) -> None:
    ana = who(surveyed, "ana")
    seen: list[str] = []
    with read_session(surveyed) as s:
        for offset in range(0, 25, 7):
            page, total = list_survey_features(s, ana, "detections", limit=7, offset=offset)
            assert total == 20
            seen += [f["properties"]["detection_id"] for f in page]
        lines, n_lines = list_survey_features(s, ana, "flight_lines")
    assert len(seen) == len(set(seen)) == 20
    assert n_lines == 4 and {f["properties"]["sensor"] for f in lines} == {"vswir", "lwir"}
    assert all(f["geometry"]["type"] == "Polygon" for f in lines)


def test_a_box_keeps_what_meets_it(surveyed: SessionFactory) -> None:
    ana = who(surveyed, "ana")
    with read_session(surveyed) as s:
        page, total = list_survey_features(
            s, ana, "detections", bbox=(-107.31, 24.9, -107.26, 25.1)
        )
        far, none = list_survey_features(s, ana, "detections", bbox=(10.0, 10.0, 11.0, 11.0))
    assert 0 < total < 20 and len(page) == total
    assert all(-107.31 - 1e-3 <= f["properties"]["lon"] <= -107.26 + 1e-3 for f in page)
    assert (far, none) == ([], 0)


def test_one_feature_is_read_by_the_id_its_page_gives(surveyed: SessionFactory) -> None:
    ana = who(surveyed, "ana")
    with read_session(surveyed) as s:
        page, _ = list_survey_features(s, ana, "detections", limit=1)
        one = get_survey_feature(s, ana, "detections", page[0]["id"])
    assert one == page[0]


@pytest.mark.parametrize(
    ("user", "cid", "fid"),
    [
        ("pa_off", "detections", None),  # a partner: as if the collection did not exist
        ("pa_off", "flight_lines", None),
        ("ana", "sites", None),  # not a survey collection
        ("ana", "detections", "999999"),  # no such feature
        ("ana", "detections", "not-a-number"),
    ],
)
def test_what_may_not_be_read_or_does_not_exist_is_not_found(
    surveyed: SessionFactory, user: str, cid: str, fid: str | None
) -> None:
    p = who(surveyed, user)
    with read_session(surveyed) as s, pytest.raises(NotFoundError):
        if fid is None:
            list_survey_features(s, p, cid)
        else:
            get_survey_feature(s, p, cid, fid)
    if user == "pa_off":  # nor one by one, with an id that exists
        ana = who(surveyed, "ana")
        with read_session(surveyed) as s:
            fid_real = list_survey_features(s, ana, cid, limit=1)[0][0]["id"]
            with pytest.raises(NotFoundError) as refused:
                get_survey_feature(s, p, cid, fid_real)
        assert str(refused.value) == f"collection {cid!r} does not exist for PA"
