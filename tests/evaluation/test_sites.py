"""Sites against truth: fusing several passes must beat each pass alone."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from vigia.detect.detection import Detection, SearchedLine
from vigia.evaluation.sites import (
    average_precision,
    compare_rankings,
    evaluate_sites,
    median_emission_error,
    operating_points,
    precision_at_recall,
)

T0 = datetime(2025, 3, 4, 17, 0, tzinfo=UTC)
LON, LAT = -107.30, 25.00
M = 1.0 / 111_195.0


def at(dx_m: float, dy_m: float) -> tuple[float, float]:
    return LON + dx_m * M / math.cos(math.radians(LAT)), LAT + dy_m * M


def site(sid: str, kind: str, dx: float, dy: float, passes: list[str], **p: object) -> dict:
    lon, lat = at(dx, dy)
    props = {
        "site_id": sid,
        "kind": kind,
        "emissions_kg_h": {},
        "heat_k": None,
        "heat_area_m2": 0.0,
        "camouflage": "none",
        "clearing_radius_m": 0.0,
        "overpasses": [{"line_id": q, "active": True, "wind_speed_m_s": 3.0} for q in passes],
        **p,
    }
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


def line(line_id: str, sensor: str, t: datetime) -> SearchedLine:
    d = 1500 * M
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
        sensor=sensor,
        time_start=iso,
        time_end=iso,  # type: ignore[arg-type]
        footprint={"type": "Polygon", "coordinates": [ring]},
        area_km2=9.0,
        pixel_size_m=6.0 if sensor == "vswir" else 10.0,
        shape=(500, 500),
    )


def det(
    i: str,
    kind: str,
    ln: str,
    sensor: str,
    dx: float,
    dy: float,
    t: datetime,
    score: float = 0.9,
    species: list[str] | None = None,
) -> Detection:
    lon, lat = at(dx, dy)
    return Detection(
        id=i,
        kind=kind,
        line_id=ln,
        sensor=sensor,
        time=t,
        lon=lon,
        lat=lat,  # type: ignore[arg-type]
        score=score,
        species=species or [],
        area_m2=144.0,
        pixel_row=0,
        pixel_col=0,
        n_pixels=4,
        footprint={"type": "Point", "coordinates": [lon, lat]},
    )


def test_fused_passes_beat_single_passes_on_precision_and_location() -> None:
    passes = ["P1", "P2", "P3"]
    times = [T0 + timedelta(days=3 * k) for k in range(3)]
    truth = {
        "type": "FeatureCollection",
        "features": [
            site(
                "lab",
                "rural_lab",
                0,
                0,
                passes,
                heat_k=700.0,
                heat_area_m2=2.0,
                camouflage="tarp",
                emissions_kg_h={"acetone": 2.0},
            ),
            site("tarp", "farm_tarp", 600, 300, passes, camouflage="tarp"),
        ],
    }
    rng = np.random.default_rng(1)
    lines, dets = [], []
    for k, (p, t) in enumerate(zip(passes, times, strict=True)):
        lines += [line(p, "vswir", t), line(p, "lwir", t)]
        e = rng.normal(0, 9, (3, 2))  # each pass places things a little differently
        dets += [
            det(f"{p}-f", "thermal", p, "lwir", *e[0], t),
            det(f"{p}-t", "tarp", p, "vswir", *e[1], t),
            det(f"{p}-g", "tarp", p, "vswir", 600 + e[2, 0], 300 + e[2, 1], t),
            # A false fire somewhere different on every pass: sure on its own pass, missed by
            # the others.
            det(f"{p}-x", "thermal", p, "lwir", -900 + 300 * k, -700, t, score=1.0),
        ]
    res = evaluate_sites(truth, dets, lines)
    fused, single = res["fused"], res["single_pass"]
    assert res["passes"] == 3
    assert fused["recall"] == 1.0
    assert fused["false_sites"] < single["false_sites"]
    assert fused["precision"] > single["precision"]
    assert fused["median_location_error_m"] < single["median_location_error_m"]
    assert fused["class_accuracy"] == 1.0


def test_a_truth_site_nobody_could_see_is_not_held_against_recall() -> None:
    truth = {
        "type": "FeatureCollection",
        "features": [site("far", "kiln", 9000, 0, ["P1"], heat_k=1000.0, heat_area_m2=5.0)],
    }
    lines = [line("P1", "lwir", T0)]
    res = evaluate_sites(truth, [], lines)
    assert res["fused"]["observable"] == 0 and res["fused"]["recall"] is None


def test_operating_points_treat_equal_confidences_as_one_threshold() -> None:
    pts = operating_points([(0.9, True), (0.7, False), (0.7, True), (0.4, False)], 4)
    assert [p["confidence"] for p in pts] == [0.9, 0.7, 0.4]
    assert [(p["reported"], p["matched"]) for p in pts] == [(1, 1), (3, 2), (4, 2)]
    assert pts[1]["recall"] == 0.5 and math.isclose(pts[1]["precision"], 2 / 3)


def test_average_precision_is_one_for_a_perfect_ranking_and_falls_with_false_sites_on_top() -> None:
    assert average_precision([(0.9, True), (0.8, True), (0.1, False)], 2) == 1.0
    worse = average_precision([(0.9, False), (0.8, True), (0.7, True)], 2)
    assert worse is not None and worse < 1.0
    # A truth site never found caps the area at the recall reached.
    assert average_precision([(0.9, True)], 2) == 0.5
    assert average_precision([], 0) is None


def test_fusion_is_compared_with_single_passes_at_the_same_recall() -> None:
    # Single passes: 3 true sightings of 2 sites seen on 2 passes, one sure false site.
    single = {
        "observable": 4,
        "ranking": [[0.9, True], [0.8, True], [0.7, True], [0.95, False]],
    }
    # Fused: both sites, sure; a one-off false site at a low confidence.
    fused = {"observable": 2, "ranking": [[0.99, True], [0.97, True], [0.6, False]]}
    cmp = compare_rankings(single, fused, 0.5)
    assert cmp is not None
    assert cmp["single_recall"] == 0.75 and cmp["single_precision"] == 0.75
    # At 0.5 fusion reports 2/3 (precision 0.67 < 0.75), but at the single passes' recall it
    # can stop above its false site.
    point = cmp["fused_at_that_recall"]
    assert point["precision"] == 1.0 and point["confidence"] == 0.97
    assert cmp["fused_average_precision"] > cmp["single_average_precision"]
    assert precision_at_recall([(0.9, True)], 2, 0.75) is None


def test_a_sites_rate_over_passes_is_scored_against_the_truth_and_beats_single_passes() -> None:
    passes = ["P1", "P2", "P3"]
    truth = {
        "type": "FeatureCollection",
        "features": [site("stack", "factory_stack", 0, 0, passes, emissions_kg_h={"CH4": 40.0})],
    }
    lines, dets = [], []
    # Three passes reading 28, 50 and 44 kg/h (± 6 kg/h of mass noise and 30 %).
    for k, (p, x) in enumerate(zip(passes, (28.0, 50.0, 44.0), strict=True)):
        t = T0 + timedelta(days=3 * k)
        lines += [line(p, "vswir", t)]
        sd = math.hypot(6.0, 0.3 * x)
        d = det(f"{p}-m", "plume", p, "vswir", 2.0 * k, 0.0, t, species=["CH4"])
        dets.append(
            d.model_copy(
                update={
                    "emission_kg_h": x,
                    "emission_kg_h_sigma": sd,
                    "emission_kg_h_measured": x,
                    "emission_kg_h_measured_sigma": sd,
                    "emission_kg_h_mass_sigma": 6.0,
                }
            )
        )
    res = evaluate_sites(truth, dets, lines)
    single, fused = res["single_pass"], res["fused"]
    # Each pass's rate (held ≥ 0, a little above its reading): 28, 44 and 50 kg/h.
    assert sorted(r[2] for r in single["emission_rates"]) == pytest.approx([28, 44, 50], abs=0.2)
    assert single["median_emission_error"] == pytest.approx(0.25, abs=0.01)
    ((sid, species, rate, _sigma, q, n, own),) = fused["emission_rates"]
    assert (sid, species, q, n) == ("stack", "CH4", 40.0, 3)
    assert own == pytest.approx([28, 50, 44], abs=0.2)  # the passes' own rates, paired
    assert median_emission_error(fused["emission_rates"], passes=True) == pytest.approx(
        0.25, abs=0.01
    )
    assert rate == pytest.approx((28 + 50 + 44) / 3, abs=0.5)  # one weight at the common rate
    assert fused["median_emission_error"] < single["median_emission_error"]
