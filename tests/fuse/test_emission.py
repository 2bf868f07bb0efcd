"""A site's emission rate, combined over the passes that measured one."""

import math
from datetime import timedelta

import numpy as np
import pytest
from tests.fuse.test_fusion import T0, det, line

from vigia.detect.detection import Detection, SpeciesFinding
from vigia.errors import InputError
from vigia.fuse.emission import CALIBRATION_SIGMA, combine_rates, site_emissions
from vigia.fuse.sites import fuse


def rated(
    i: str, line_id: str, measured: float, mass_sigma: float, rel: float = 0.3, **kw: object
) -> Detection:
    """A methane plume whose rate reads ``measured`` ± mass noise and ``rel`` of the rate."""
    d = det(i, "plume", line_id, species=["CH4"], **kw)  # type: ignore[arg-type]
    sigma = math.hypot(mass_sigma, rel * measured)
    return d.model_copy(
        update={
            "emission_kg_h": max(measured, 0.0),
            "emission_kg_h_sigma": sigma,
            "emission_kg_h_measured": measured,
            "emission_kg_h_measured_sigma": sigma,
            "emission_kg_h_mass_sigma": mass_sigma,
        }
    )


def test_one_pass_gives_its_own_rate_and_sigma() -> None:
    (e,) = site_emissions([rated("a", "P1", 40.0, 6.0)])
    assert e.species == "CH4" and e.passes == 1 and e.detection_ids == ("a",)
    assert e.measured_kg_h == pytest.approx(40.0)
    assert e.measured_sigma_kg_h == pytest.approx(math.hypot(6.0, 0.3 * 40.0))
    assert math.isnan(e.birge_ratio)


def test_passes_average_down_but_never_below_the_shared_calibration() -> None:
    one = site_emissions([rated("a", "P1", 40.0, 8.0)])[0].measured_sigma_kg_h
    four = site_emissions([rated(f"d{k}", f"P{k}", 40.0, 8.0) for k in range(4)])[0]
    assert four.passes == 4
    # The independent parts halve with four passes; the calibration's share stays.
    independent = math.sqrt((8.0**2 + (0.3**2 - CALIBRATION_SIGMA**2) * 40.0**2) / 4)
    assert four.measured_sigma_kg_h == pytest.approx(
        math.hypot(independent, CALIBRATION_SIGMA * 40.0)
    )
    assert four.measured_sigma_kg_h < 0.7 * one
    many = site_emissions([rated(f"d{k}", f"P{k}", 40.0, 8.0) for k in range(400)])[0]
    assert many.measured_sigma_kg_h == pytest.approx(CALIBRATION_SIGMA * 40.0, rel=0.02)


def test_a_noisy_pass_counts_less() -> None:
    precise, noisy = rated("a", "P1", 40.0, 4.0, rel=0.0), rated("b", "P2", 80.0, 40.0, rel=0.0)
    (e,) = site_emissions([precise, noisy])
    assert 40.0 < e.measured_kg_h < 42.0


def test_passes_that_disagree_beyond_their_sigmas_widen_the_sigma() -> None:
    agree = site_emissions(
        [rated("a", "P1", 40.0, 2.0, rel=0.0), rated("b", "P2", 41.0, 2.0, rel=0.0)]
    )
    disagree = site_emissions(
        [rated("a", "P1", 20.0, 2.0, rel=0.0), rated("b", "P2", 62.0, 2.0, rel=0.0)]
    )
    assert agree[0].birge_ratio < 1.0 < disagree[0].birge_ratio
    formal = math.sqrt(2.0**2 / 2 + (CALIBRATION_SIGMA * 40.5) ** 2)
    assert agree[0].measured_sigma_kg_h == pytest.approx(formal, rel=0.01)
    # Scaled by the Birge ratio: about half their 42 kg/h spread, not ±1.4.
    assert disagree[0].measured_sigma_kg_h > 15.0


def test_passes_reading_low_are_not_favoured_by_their_smaller_relative_sigma() -> None:
    # Many draws of 3 passes over a 40 kg/h source: 30 % relative scatter (wind, eddies) and
    # 6 kg/h of mass noise, each pass's sigma as a detection states it (from its own reading).
    rng = np.random.default_rng(7)
    q, rel, a = 40.0, 0.3, 6.0
    combined, naive = [], []
    for _ in range(2000):
        x = q * (1.0 + rel * rng.standard_normal(3)) + a * rng.standard_normal(3)
        sd = np.hypot(a, rel * x)
        combined.append(combine_rates(x, sd, np.full(3, a))[0])
        w = 1.0 / sd**2  # each pass weighted by its own total variance
        naive.append(float(np.sum(w * x) / np.sum(w)))
    assert abs(np.mean(combined) / q - 1.0) < 0.03
    assert np.mean(naive) / q - 1.0 < -0.08  # what the common-rate weights avoid


def test_the_most_confident_plume_of_a_pass_counts_once_and_other_kinds_are_ignored() -> None:
    dets = [
        rated("weak", "P1", 10.0, 5.0, score=0.3),
        rated("strong", "P1", 44.0, 5.0, score=0.9),
        rated("other", "P2", 36.0, 5.0),
        det("tarp", "tarp", "P1"),
        det("old", "plume", "P3", species=["CH4"]),  # a file without measured rates
    ]
    (e,) = site_emissions(dets)
    assert e.detection_ids == ("strong", "other") and e.passes == 2


def test_each_species_gets_its_own_rate_and_an_lwir_mixture_counts_for_its_rated_species() -> None:
    mix = rated("m", "P1", 20.0, 4.0).model_copy(
        update={
            "sensor": "lwir",
            "species": ["acetone", "isopropanol"],
            "species_detail": [
                SpeciesFinding(name="acetone", confidence=0.9),
                SpeciesFinding(name="isopropanol", confidence=0.8, emission_kg_h=20.0),
            ],
        }
    )
    out = site_emissions([mix, rated("c", "P1", 30.0, 4.0)])
    assert [e.species for e in out] == ["CH4", "isopropanol"]


def test_a_fused_site_carries_its_rate() -> None:
    dets = [rated(f"p{k}", f"P{k}", 40.0 + k, 6.0, t=T0 + timedelta(days=k)) for k in range(3)]
    lines = [line(f"P{k}", "vswir", T0 + timedelta(days=k)) for k in range(3)]
    (site,) = fuse(dets, lines, T0 + timedelta(days=3))
    (e,) = site.emissions
    assert e.passes == 3 and e.rate_kg_h == pytest.approx(41.0, abs=0.5)
    assert e.to_dict()["detections"] == ["p0", "p1", "p2"]


def test_a_faint_site_is_held_to_zero_or_more() -> None:
    (e,) = site_emissions([rated("a", "P1", -3.0, 5.0), rated("b", "P2", -1.0, 5.0)])
    assert e.measured_kg_h < 0.0 < e.rate_kg_h


@pytest.mark.parametrize(
    ("x", "sd", "a"),
    [
        ([], [], []),
        ([1.0], [1.0, 2.0], [1.0]),
        ([1.0], [0.0], [0.0]),
        ([1.0], [1.0], [2.0]),
        ([math.nan], [1.0], [1.0]),
    ],
)
def test_bad_inputs_are_refused(x: list[float], sd: list[float], a: list[float]) -> None:
    with pytest.raises(InputError):
        combine_rates(x, sd, a)
