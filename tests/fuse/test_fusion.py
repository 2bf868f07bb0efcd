"""Fusion: detections of one place become one site; evidence adds up, fades, and is explained."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigia.detect.detection import Detection, SearchedLine
from vigia.fuse.association import (
    cluster_detections,
    distance_m,
    in_a_larger_plumes_path,
    location_sigma_m,
)
from vigia.fuse.classify import _log_beta_binomial, classify_site
from vigia.fuse.confidence import Look, looks_at, site_evidence
from vigia.fuse.sites import fuse, revisit_requests

T0 = datetime(2025, 3, 4, 17, 0, tzinfo=UTC)
LON, LAT = -107.30, 25.00
M = 1.0 / 111_195.0  # a metre of latitude, degrees


def det(
    i: str,
    kind: str,
    line: str,
    sensor: str = "vswir",
    dx_m: float = 0.0,
    dy_m: float = 0.0,
    t: datetime = T0,
    score: float = 0.9,
    species: list[str] | None = None,
) -> Detection:
    lon = LON + dx_m * M / math.cos(math.radians(LAT))
    lat = LAT + dy_m * M
    return Detection(
        id=i,
        kind=kind,  # type: ignore[arg-type]
        line_id=line,
        sensor=sensor,  # type: ignore[arg-type]
        time=t,
        lon=lon,
        lat=lat,
        score=score,
        species=species or [],
        area_m2=36.0 * 4,
        pixel_row=0,
        pixel_col=0,
        n_pixels=4,
        footprint={"type": "Point", "coordinates": [lon, lat]},
    )


def line(line_id: str, sensor: str, t: datetime = T0, half_km: float = 1.0) -> SearchedLine:
    d = half_km * 1000 * M
    ring = [
        [LON - d, LAT - d],
        [LON + d, LAT - d],
        [LON + d, LAT + d],
        [LON - d, LAT + d],
        [LON - d, LAT - d],
    ]
    iso = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    return SearchedLine(
        line_id=line_id,
        sensor=sensor,  # type: ignore[arg-type]
        time_start=iso,
        time_end=iso,
        footprint={"type": "Polygon", "coordinates": [ring]},
        area_km2=4 * half_km**2,
        pixel_size_m=6.0 if sensor == "vswir" else 10.0,
        shape=(100, 100),
    )


def test_detections_of_one_place_on_several_passes_and_sensors_make_one_site() -> None:
    dets = [
        det("a", "plume", "P1", "lwir", dx_m=8, species=["acetone"]),
        det("b", "thermal", "P1", "lwir", dx_m=-5),
        det("c", "tarp", "P1", "vswir", dy_m=6),
        det("d", "tarp", "P2", "vswir", dy_m=-4, t=T0 + timedelta(days=3)),
    ]
    clusters = cluster_detections(dets)
    assert len(clusters) == 1
    assert {d.id for d in clusters[0].members} == {"a", "b", "c", "d"}


def test_a_lab_that_moved_a_few_hundred_metres_is_a_new_site_not_the_old_one() -> None:
    old = [det(f"o{k}", "thermal", f"P{k}", "lwir", t=T0 + timedelta(days=3 * k)) for k in (1, 2)]
    new = [
        det(f"n{k}", "thermal", f"P{k}", "lwir", dx_m=400, t=T0 + timedelta(days=3 * k))
        for k in (3, 4)
    ]
    clusters = cluster_detections(old + new)
    assert len(clusters) == 2
    assert sorted(sorted(d.id for d in c.members) for c in clusters) == [
        ["n3", "n4"],
        ["o1", "o2"],
    ]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-2000, 2000),
            st.floats(-2000, 2000),
            st.sampled_from(["plume", "thermal", "tarp", "clearing"]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_every_detection_belongs_to_exactly_one_site_within_its_gate(points) -> None:
    dets = [det(f"d{i}", k, f"P{i % 3}", dx_m=x, dy_m=y) for i, (x, y, k) in enumerate(points)]
    clusters = cluster_detections(dets)
    ids = [d.id for c in clusters for d in c.members]
    assert sorted(ids) == sorted(d.id for d in dets)
    for c in clusters:
        for d, s in zip(c.members, c.sigmas, strict=True):
            # Each member was within the gate when it joined; the mean moves towards it.
            assert distance_m(d.lon, d.lat, c.lon, c.lat) <= 3 * math.hypot(s, 100) + 25 + 1e-6


def test_a_plume_whose_source_was_not_in_view_supports_a_place_but_never_makes_one() -> None:
    edge = det("e", "plume", "P1", dx_m=80.0).model_copy(update={"source_in_view": False})
    assert cluster_detections([edge]) == []
    tarp = det("t", "tarp", "P2")
    (site,) = cluster_detections([edge, tarp])
    assert [d.id for d in site.members] == ["t", "e"]
    # With the uncertainty of an unseen source it barely moves the place.
    assert distance_m(site.lon, site.lat, tarp.lon, tarp.lat) < 5.0


def test_a_puff_in_the_path_of_a_larger_plume_of_its_line_does_not_make_a_place() -> None:
    def methane(i: str, dx: float, dy: float, ime: float, line: str = "P1") -> Detection:
        return det(i, "plume", line, dx_m=dx, dy_m=dy, species=["CH4"]).model_copy(
            update={"ime_kg": ime, "length_m": 500.0, "wind_from_deg": 180.0}
        )

    big = methane("big", 0.0, 0.0, 5.0)  # the wind blows to the north
    downwind = methane("puff", 30.0, 300.0, 0.5)
    upwind = methane("up", 0.0, -300.0, 0.5)
    beside = methane("side", 300.0, 0.0, 0.5)
    too_far = methane("far", 0.0, 1200.0, 0.5)
    other_pass = methane("p2", 30.0, 300.0, 0.5, line="P2")
    dets = [big, downwind, upwind, beside, too_far, other_pass]
    assert in_a_larger_plumes_path(dets) == [False, True, False, False, False, False]
    places = {tuple(sorted(d.id for d in c.members)) for c in cluster_detections(dets)}
    # A larger plume that only came into view in the line still marks its path.
    entering = big.model_copy(update={"source_in_view": False})
    assert in_a_larger_plumes_path([entering, downwind]) == [False, True]
    # The puff makes no place of its own; it supports the one another pass found there.
    assert ("puff",) not in places and ("p2", "puff") in places
    assert ("puff",) not in {
        tuple(d.id for d in c.members) for c in cluster_detections([big, downwind])
    }


def test_a_plume_where_a_large_source_of_another_pass_sends_its_gas_does_not_make_a_place() -> None:
    def methane(
        i: str, line: str, dx: float, dy: float, rate: float, wind_from: float, t: datetime = T0
    ) -> Detection:
        # 0.5 kg over 2,000 m²: a mean column of 2.5e-4 kg/m² (~370 ppm·m of methane).
        return det(i, "plume", line, dx_m=dx, dy_m=dy, t=t, species=["CH4"]).model_copy(
            update={
                "emission_kg_h": rate,
                "ime_kg": 0.5 if rate < 400 else 5.0,
                "area_m2": 2000.0,
                "length_m": 100.0,
                "wind_from_deg": wind_from,
                "wind_speed_m_s": 3.0,
            }
        )

    landfill = methane("landfill", "P1", 0.0, 0.0, 500.0, 180.0)
    # Three days later the wind blows to the north-north-east and the landfill's own start is
    # missed: its gas shows 300 m that way. 500 kg/h in 3 m/s is 0.046 kg per metre, as dense
    # as the piece up to ~610 m downwind.
    to = math.radians(20.0)
    later = T0 + timedelta(days=3)
    piece = methane("piece", "P2", 300 * math.sin(to), 300 * math.cos(to), 100.0, 200.0, later)
    far = methane("far", "P2", 900 * math.sin(to), 900 * math.cos(to), 100.0, 200.0, later)
    upwind = methane("up", "P2", -300 * math.sin(to), -300 * math.cos(to), 100.0, 200.0, later)
    bigger = methane("bigger", "P2", 600.0, -300.0, 900.0, 200.0, later)
    dets = [landfill, piece, far, upwind, bigger]
    assert in_a_larger_plumes_path(dets) == [False, True, False, False, False]
    (site,) = [c for c in cluster_detections(dets) if "landfill" in {d.id for d in c.members}]
    assert {d.id for d in site.members} == {"landfill", "piece"}
    # A month later the landfill's path of that day no longer speaks for the air there.
    month = piece.model_copy(update={"time": T0 + timedelta(days=30)})
    assert in_a_larger_plumes_path([landfill, month]) == [False, False]


def test_plumes_are_located_less_precisely_than_fires() -> None:
    assert location_sigma_m(det("p", "plume", "L"), 6.0) > location_sigma_m(
        det("f", "thermal", "L"), 6.0
    )


def test_repeat_sightings_raise_confidence_and_misses_of_a_persistent_tarp_lower_it() -> None:
    t = T0
    one = site_evidence([Look("P1", ("vswir",), t, {"tarp": 0.9}, ())], t)
    two = site_evidence(
        [
            Look("P1", ("vswir",), t, {"tarp": 0.9}, ()),
            Look("P2", ("vswir",), t, {"tarp": 0.9}, ()),
        ],
        t,
    )
    missed = site_evidence(
        [
            Look("P1", ("vswir",), t, {"tarp": 0.9}, ()),
            Look("P2", ("vswir",), t, {}, ()),
        ],
        t,
    )
    assert two.confidence > one.confidence > missed.confidence
    assert two.reasons[0] == "tarp on 2 of 2 passes"
    assert missed.reasons[0] == "tarp on 1 of 2 passes"


def test_a_missed_plume_costs_less_than_a_missed_tarp_because_labs_vent_intermittently() -> None:
    t = T0

    def after_miss(kind: str) -> float:
        seen = site_evidence([Look("P1", ("vswir",), t, {kind: 0.9}, ())], t)
        both = site_evidence(
            [Look("P1", ("vswir",), t, {kind: 0.9}, ()), Look("P2", ("vswir",), t, {}, ())], t
        )
        return seen.log_odds - both.log_odds

    assert after_miss("plume") < after_miss("tarp")


def test_a_stack_seen_downwind_under_two_winds_is_placed_where_their_plumes_start() -> None:
    # Each pass sees the plume only 50 m downwind of the stack (a noisy roof hides its start);
    # under winds from the west and from the south the two upwind rays meet at the stack.
    west = det("a", "plume", "P1", dx_m=50.0, species=["CH4"])
    south = det("b", "plume", "P2", dy_m=50.0, species=["CH4"])
    west = west.model_copy(update={"wind_from_deg": 270.0, "wind_speed_m_s": 4.0})
    south = south.model_copy(update={"wind_from_deg": 180.0, "wind_speed_m_s": 4.0})
    (site,) = cluster_detections([west, south])
    assert distance_m(site.lon, site.lat, LON, LAT) < 10.0
    # Without a wind the estimates are only points: the place is their mean, 35 m off.
    bare = [d.model_copy(update={"wind_from_deg": None}) for d in (west, south)]
    (mean,) = cluster_detections(bare)
    assert distance_m(mean.lon, mean.lat, LON, LAT) == pytest.approx(35.4, abs=1.0)


def test_old_evidence_fades_towards_the_prior() -> None:
    look = [Look("P1", ("lwir",), T0, {"thermal": 1.0}, ())]
    fresh = site_evidence(look, T0).confidence
    old = site_evidence(look, T0 + timedelta(days=60)).confidence
    assert fresh > old > 0.18
    assert "last seen 60 days ago" in site_evidence(look, T0 + timedelta(days=60)).reasons


def test_lines_that_covered_the_place_count_as_passes_even_when_they_saw_nothing() -> None:
    lines = [line("P1", "vswir"), line("P1", "lwir"), line("P2", "vswir", T0 + timedelta(days=3))]
    looks = looks_at(LON, LAT, [det("a", "tarp", "P1")], lines)
    assert [(lk.line_id, lk.sensors) for lk in looks] == [
        ("P1", ("lwir", "vswir")),
        ("P2", ("vswir",)),
    ]
    assert looks[1].seen == {}


@pytest.mark.parametrize(
    ("seen", "species", "sensors", "expected"),
    [
        (
            {"plume": 0.9, "thermal": 0.9, "tarp": 0.9},
            ("NH3", "acetone"),
            ("lwir", "vswir"),
            "rural_lab",
        ),
        ({"tarp": 0.9}, (), ("lwir", "vswir"), "farm_tarp"),
        ({"thermal": 0.95}, (), ("lwir", "vswir"), "kiln"),
        ({"plume": 0.9}, ("CH4",), ("lwir", "vswir"), "landfill"),
        ({"plume": 0.9}, ("toluene", "acetone"), ("lwir", "vswir"), "paint_shop"),
        (
            {"plume": 0.9, "thermal": 0.9},
            ("NH3", "chloroform"),
            ("lwir", "vswir"),
            "industrial_lab",
        ),
    ],
)
def test_the_class_follows_the_evidence_and_decoys_are_named(
    seen, species, sensors, expected
) -> None:
    c = classify_site([Look("P1", sensors, T0, seen, species)])
    assert c.site_class == expected
    assert any(expected in r for r in c.reasons)


def test_with_no_thermal_pass_a_tarp_alone_is_not_called_a_farm_tarp_with_certainty() -> None:
    # Without an LWIR look nothing is known of heat or solvents: a tarp could be a lab's.
    c = classify_site([Look("P1", ("vswir",), T0, {"tarp": 0.9}, ())])
    assert c.posterior["farm_tarp"] < 0.9
    assert "heat" not in c.observed


def test_methane_on_every_pass_among_buildings_is_a_stack_and_on_open_ground_a_landfill() -> None:
    looks = [
        Look(f"P{k}", ("lwir", "vswir"), T0 + timedelta(days=k), {"plume": 0.9}, ("CH4",))
        for k in range(3)
    ]
    built = {"vegetation": 0.2, "open": 0.4, "built": 0.4, "water": 0.0}
    open_ground = {"vegetation": 0.1, "open": 0.88, "built": 0.02, "water": 0.0}
    assert classify_site(looks, built).site_class == "factory_stack"
    assert classify_site(looks, open_ground).site_class == "landfill"
    assert classify_site(looks, built).observed["built_up"] is True
    reasons = classify_site(looks, built).reasons
    assert any("built-up surroundings" in r for r in reasons)
    assert "land use around its detections: vegetation 20%, open 40%, built 40%, water 0%" in (
        reasons
    )
    # Without land use there is no verdict on it.
    assert "built_up" not in classify_site(looks).observed


def test_persistence_counts_but_a_feature_missing_on_every_pass_is_not_counted_thrice() -> None:
    def ch4_on(k: int, n: int) -> float:
        looks = [
            Look(f"P{i}", ("lwir", "vswir"), T0 + timedelta(days=i), seen, sp)
            for i, (seen, sp) in enumerate([({"plume": 0.9}, ("CH4",))] * k + [({}, ())] * (n - k))
        ]
        return classify_site(looks).posterior["landfill"]

    # Methane on every pass speaks more for a landfill than methane on one pass of three.
    assert ch4_on(3, 3) > ch4_on(1, 3)
    # One pass: the profile's probability itself (beta-binomial of 1 of 1 is the mean).
    assert _log_beta_binomial(1, 1, 0.3) == pytest.approx(math.log(0.3))
    assert _log_beta_binomial(0, 1, 0.3) == pytest.approx(math.log(0.7))
    # Missing on 3 of 3 costs less than three independent misses would.
    assert _log_beta_binomial(0, 3, 0.5) > 3 * math.log(0.5)
    assert sum(math.exp(_log_beta_binomial(k, 3, 0.4)) for k in range(4)) == pytest.approx(1.0)


def test_fusion_reports_sites_with_reasons_and_uncertain_ones_get_revisits() -> None:
    lines = [line("P1", "vswir"), line("P1", "lwir")]
    dets = [
        det("a", "plume", "P1", "lwir", species=["NH3", "acetone"]),
        det("b", "thermal", "P1", "lwir", dx_m=5),
        det("c", "tarp", "P1", "vswir", dy_m=5),
        det("z", "clearing", "P1", "vswir", dx_m=900, score=0.9),
    ]
    sites = fuse(dets, lines, T0)
    assert len(sites) == 2
    lab, glade = sites
    assert lab.classification.site_class == "rural_lab"
    assert lab.confidence > 0.99
    assert 0.3 < glade.confidence < 0.5
    assert any("plume on 1 of 1 pass" in r for r in lab.reasons)
    # The glade is uncertain: another look would settle it; the lab is sure and fresh.
    assert [r.key for r in revisit_requests(sites, T0)] == [glade.key]
    # A week later the sure lab is stale: is it still there?
    later = revisit_requests(sites, T0 + timedelta(days=8))
    assert [r.reason.split(":")[0] for r in later if r.key == lab.key] == ["stale"]


def test_fusion_is_deterministic_and_keys_are_stable() -> None:
    lines = [line("P1", "vswir")]
    dets = [det("a", "tarp", "P1"), det("b", "tarp", "P1", dx_m=500)]
    a = fuse(dets, lines, T0)
    b = fuse(list(reversed(dets)), lines, T0)
    assert [s.key for s in a] == [s.key for s in b]
