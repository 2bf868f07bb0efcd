"""Scoring against truth: hits within the gate, misses, false detections, decoys, PD limits."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from vigia.detect.detection import Detection, SearchedLine, read_detections, write_detections
from vigia.errors import FileFormatError
from vigia.evaluation.scores import UNSCORED_REASON, evaluate, fit_pd, unscored_text

T = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)
SQUARE = {  # ~1.1 × 1.1 km around (-107.30, 25.00)
    "type": "Polygon",
    "coordinates": [
        [
            [-107.305, 24.995],
            [-107.295, 24.995],
            [-107.295, 25.005],
            [-107.305, 25.005],
            [-107.305, 24.995],
        ]
    ],
}


def site(sid: str, kind: str, lon: float, lat: float, active: bool = True, **props: object):
    p = {
        "site_id": sid,
        "kind": kind,
        "is_lab": kind.endswith("_lab"),
        "emissions_kg_h": {},
        "heat_k": None,
        "heat_area_m2": 0.0,
        "camouflage": "none",
        "clearing_radius_m": 0.0,
        "overpasses": [
            {
                "line_id": "L1",
                "time": "2025-03-04T19:00:00Z",
                "active": active,
                "wind_speed_m_s": 3.0,
                "wind_from_deg": 270.0,
                "stability": "B",
            }
        ],
        **props,
    }
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": p,
    }


def det(i: int, kind: str, lon: float, lat: float, species: list[str], **kw: object) -> Detection:
    return Detection(
        id=f"L1-{i}",
        kind=kind,
        line_id="L1",
        sensor=kw.pop("sensor", "vswir"),
        time=T,  # type: ignore[arg-type]
        lon=lon,
        lat=lat,
        score=0.9,
        species=species,
        area_m2=100.0,
        pixel_row=1,
        pixel_col=1,
        n_pixels=3,
        footprint=SQUARE,
        **kw,  # type: ignore[arg-type]
    )


LINES = [
    SearchedLine(
        line_id="L1",
        sensor="vswir",
        time_start="2025-03-04T19:00:00Z",
        time_end="2025-03-04T19:00:20Z",
        footprint=SQUARE,
        area_km2=1.2,
        pixel_size_m=6.0,
        shape=(180, 180),
    ),
    SearchedLine(
        line_id="L1",
        sensor="lwir",
        time_start="2025-03-04T19:00:00Z",
        time_end="2025-03-04T19:00:20Z",
        footprint=SQUARE,
        area_km2=1.2,
        pixel_size_m=10.0,
        shape=(110, 110),
    ),
]
TRUTH = {
    "type": "FeatureCollection",
    "features": [
        site("s-landfill", "landfill", -107.300, 25.000, emissions_kg_h={"CH4": 50.0}),
        site(
            "s-lab",
            "rural_lab",
            -107.302,
            25.003,
            emissions_kg_h={"acetone": 2.0, "NH3": 0.5},
            heat_k=700.0,
            heat_area_m2=2.0,
            camouflage="tarp",
        ),
        site(
            "s-off", "factory_stack", -107.298, 24.997, active=False, emissions_kg_h={"CH4": 30.0}
        ),
        site("s-away", "kiln", -107.2, 25.1, heat_k=900.0, heat_area_m2=4.0),  # not searched
    ],
}


def test_hits_misses_false_detections_and_errors_are_counted_from_the_truth() -> None:
    dets = [
        # 12 m from the landfill's source, 40 kg/h for 50: a hit with -20 % rate error.
        det(1, "plume", -107.30012, 25.0, ["CH4"], emission_kg_h=40.0),
        # acetone seen at the lab from the LWIR, NH3 missed.
        det(2, "plume", -107.302, 25.0031, ["acetone"], sensor="lwir"),
        det(3, "thermal", -107.302, 25.003, [], sensor="lwir", delta_t_k=12.0),
        # 400 m from anything: false.
        det(4, "plume", -107.3035, 24.996, ["CH4"]),
    ]
    ev = evaluate(TRUTH, dets, LINES)
    s = ev.summary()
    by = {(e.site_id, e.kind, e.species): e for e in ev.expected}
    assert by[("s-landfill", "plume", "CH4")].detected
    assert by[("s-lab", "plume", "acetone")].detected
    assert not by[("s-lab", "plume", "NH3")].detected
    assert by[("s-lab", "thermal", None)].detected
    assert not by[("s-lab", "tarp", None)].detected
    assert ("s-off", "plume", "CH4") not in by  # not emitting during the overpass
    assert all(e.site_id != "s-away" for e in ev.expected)  # outside every footprint
    assert ev.false_detections == ["L1-4"]
    assert s["false_per_100km2"] == pytest.approx(100 / 1.1, rel=0.1)
    assert s["median_emission_error_pct"] == pytest.approx(-20.0)
    assert s["p90_abs_emission_error_pct"] == pytest.approx(20.0)
    assert 10 < by[("s-landfill", "plume", "CH4")].location_error_m < 14
    assert s["confusion_with_sites"]["plume"] == {"landfill": 1, "rural_lab": 1, "none": 1}
    assert s["by_kind"]["thermal"] == {"expected": 1, "detected": 1, "pd": 1.0}


def test_a_gas_no_simulated_instrument_renders_is_listed_apart_not_counted_as_missed() -> None:
    # A kiln's CO2: in the truth, in no cube (the VSWIR renders CH4, the LWIR the species with
    # an absorption table, and CO2 has neither). Its NH3 is an LWIR signal like any other.
    kiln = site(
        "s-kiln",
        "kiln",
        -107.301,
        25.001,
        emissions_kg_h={"CO2": 300.0, "NH3": 5.0},
        heat_k=1000.0,
        heat_area_m2=5.0,
    )
    truth = {"type": "FeatureCollection", "features": [kiln]}
    ev = evaluate(truth, [det(1, "thermal", -107.301, 25.001, [], sensor="lwir")], LINES)
    s = ev.summary()
    kinds = {(e.kind, e.species, e.sensor) for e in ev.expected}
    assert kinds == {("plume", "NH3", "lwir"), ("thermal", None, "lwir")}
    assert "CO2" not in s["pd_by_species"]
    assert s["by_kind"]["plume"] == {"expected": 1, "detected": 0, "pd": 0.0}
    assert s["unscored_plumes"]["plumes"] == [
        {"site_id": "s-kiln", "species": "CO2", "rate_kg_h": 300.0}
    ]
    assert unscored_text(s) == f"not scored: CO2 of 1 site ({UNSCORED_REASON})"
    # Nothing to say when everything emitted was rendered.
    assert unscored_text(evaluate(TRUTH, [], LINES).summary()) is None


@pytest.mark.parametrize(("sigma", "within_1", "within_2"), [(15.0, 1.0, 1.0), (6.0, 0.0, 1.0)])
def test_the_evaluation_says_how_often_the_stated_emission_sigma_covers_the_error(
    sigma: float, within_1: float, within_2: float
) -> None:
    # 40 kg/h for 50: an error of 10 kg/h, inside one sigma of 15, inside two of 6.
    dets = [
        det(1, "plume", -107.30012, 25.0, ["CH4"], emission_kg_h=40.0, emission_kg_h_sigma=sigma)
    ]
    cov = evaluate(TRUTH, dets, LINES).summary()["emission_sigma_coverage"]
    assert cov == {"n": 1, "within_1_sigma": within_1, "within_2_sigma": within_2}


def test_without_a_stated_sigma_there_is_no_coverage_to_report() -> None:
    dets = [det(1, "plume", -107.30012, 25.0, ["CH4"], emission_kg_h=40.0)]
    cov = evaluate(TRUTH, dets, LINES).summary()["emission_sigma_coverage"]
    assert cov == {"n": 0, "within_1_sigma": None, "within_2_sigma": None}


def test_pd_limits_come_from_a_logistic_fit_and_are_absent_when_not_bracketed() -> None:
    rng = np.random.default_rng(0)
    rates = list(10 ** rng.uniform(-1, 2.5, 400))
    true50 = 8.0
    hits = [bool(rng.random() < 1 / (1 + (true50 / r) ** 3)) for r in rates]
    f = fit_pd("CH4", rates, hits)
    assert f.limit50_kg_h == pytest.approx(true50, rel=0.25)
    assert f.limit90_kg_h > f.limit50_kg_h
    assert fit_pd("CH4", [1.0, 2.0], [True, True]).limit50_kg_h is None


def test_the_evaluate_command_writes_scores_and_figures(tmp_path: Path) -> None:
    truth = tmp_path / "truth.geojson"
    truth.write_text(json.dumps(TRUTH))
    dets = write_detections(
        tmp_path / "detections.geojson",
        [det(1, "plume", -107.30012, 25.0, ["CH4"], emission_kg_h=40.0)],
        LINES,
        "test",
    )
    assert read_detections(dets)[0][0].emission_kg_h == 40.0
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigia.cli.main",
            "evaluate",
            "--truth",
            str(truth),
            "--detections",
            str(dets),
            "--out-dir",
            str(tmp_path / "ev"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["pd_by_species"]["CH4"]["detected"] == 1
    assert (tmp_path / "ev" / "pd_curve.png").stat().st_size > 5000
    assert (tmp_path / "ev" / "evaluation.json").exists()


def test_a_broken_detection_file_is_refused_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "d.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"geometry": {}}]}')
    with pytest.raises(FileFormatError, match=r"d\.geojson: feature 0"):
        read_detections(bad)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigia.cli.main",
            "evaluate",
            "--truth",
            str(bad),
            "--detections",
            str(bad),
            "--out-dir",
            str(tmp_path / "ev"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "feature 0" in r.stderr


def test_a_plume_in_a_true_sources_gas_downwind_is_a_piece_of_it_not_a_false_detection() -> None:
    east_400m = 400.0 / (111_195.0 * np.cos(np.radians(25.0)))
    dets = [
        # 400 m downwind (wind from the west) of the 50 kg/h landfill: its gas, placed away.
        det(1, "plume", -107.300 + east_400m, 25.0, ["CH4"]),
        # The same place but a gas the landfill does not emit, and the lab's 2 kg/h of acetone
        # thins below 5 ppm·m within ~50 m: false.
        det(2, "plume", -107.300 + east_400m, 25.0, ["acetone"], sensor="lwir"),
        # 400 m upwind of the landfill: false.
        det(3, "plume", -107.300 - east_400m, 25.0, ["CH4"]),
    ]
    ev = evaluate(TRUTH, dets, LINES)
    assert ev.downwind_pieces == {"L1-1": "s-landfill"}
    assert ev.false_detections == ["L1-2", "L1-3"]
    assert ev.summary()["downwind_pieces"] == 1
    by = {(e.site_id, e.kind, e.species): e for e in ev.expected}
    assert not by[("s-landfill", "plume", "CH4")].detected  # a piece is not a hit either
