"""A site's emission rate from every pass that measured one.

One pass measures a plume's rate to ±25–35 % (``bench/methane_pd.py``): the eddies of the
minute it was imaged, the ground's clutter under its first stretch and the wind's uncertainty.
Passes over the same source draw these anew, so their rates average down. Each plume
detection carries the rate **as measured** (``emission_kg_h_measured``: unbiased, below zero
when a faint plume over clutter reads so) and its one-sigma uncertainty in two parts:

* ``emission_kg_h_mass_sigma``, the noise of the plume's mass: the same whatever the rate;
* the rest, relative to the rate: the wind's (each pass has its own analysis) and the IME
  calibration's (:class:`vigia.detect.plumes.IMECalibration`, the same for every pass).

Weighting each pass by the inverse of its *own* total variance would favour passes that read
low (their relative part is smaller); here every pass's variance is taken at the common rate,
``a_i² + (r_i μ)²``, and μ found by iterating the weighted mean (a few steps). The
calibration's share does not average down and is added back to the combined sigma. When the
passes disagree by more than their sigmas allow (χ² / (n − 1) > 1), the sigma is scaled by
the Birge ratio √(χ²/(n − 1)), as is done in combining measurements. The result is held to
zero or more as a single pass's rate is (:func:`vigia.detect.plumes.non_negative_estimate`).

A lab vents intermittently: passes that saw no plume say nothing of its rate while venting and
are not counted; the rate is that of the venting seen.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vigia.detect.detection import Detection
from vigia.detect.plumes import IMECalibration, non_negative_estimate
from vigia.errors import InputError

__all__ = ["CALIBRATION_SIGMA", "SiteEmission", "combine_rates", "site_emissions"]

#: Relative one-sigma uncertainty of the IME calibration the detectors use, shared by every
#: pass (the default :class:`vigia.detect.plumes.IMECalibration`).
CALIBRATION_SIGMA: Final = IMECalibration().relative_sigma
_ITERATIONS: Final = 50


@dataclass(frozen=True)
class SiteEmission:
    """One species' emission rate at a site, combined over the passes that measured it.

    Attributes
    ----------
    species : str
        Gas name (``"CH4"``, ``"acetone"``, …).
    rate_kg_h, sigma_kg_h : float
        The rate (held to zero or more) and its one-sigma uncertainty, kg/h.
    measured_kg_h, measured_sigma_kg_h : float
        The passes' combined rate as measured (may be below zero) and its uncertainty, kg/h.
    passes : int
        Passes whose plume gave a rate.
    birge_ratio : float
        √(χ² / (n − 1)) of the passes about the combined rate (NaN for one pass); above 1 the
        passes scatter more than their sigmas say, and the sigma was scaled by it.
    detection_ids : tuple of str
        The detections used, one per pass.
    """

    species: str
    rate_kg_h: float
    sigma_kg_h: float
    measured_kg_h: float
    measured_sigma_kg_h: float
    passes: int
    birge_ratio: float
    detection_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready numbers (rounded)."""
        return {
            "rate_kg_h": round(self.rate_kg_h, 3),
            "sigma_kg_h": round(self.sigma_kg_h, 3),
            "measured_kg_h": round(self.measured_kg_h, 3),
            "measured_sigma_kg_h": round(self.measured_sigma_kg_h, 3),
            "passes": self.passes,
            "birge_ratio": None if math.isnan(self.birge_ratio) else round(self.birge_ratio, 3),
            "detections": list(self.detection_ids),
        }


def combine_rates(
    measured: ArrayLike,
    sigma: ArrayLike,
    mass_sigma: ArrayLike,
    calibration_sigma: float = CALIBRATION_SIGMA,
) -> tuple[float, float, float]:
    """Combine passes' measured rates of one source.

    Parameters
    ----------
    measured : (n,) array_like
        Each pass's rate as measured, kg/h (may be below zero).
    sigma : (n,) array_like
        Its total one-sigma uncertainty, kg/h (> 0).
    mass_sigma : (n,) array_like
        The part of ``sigma`` from the plume mass's noise, kg/h (0 < ``mass_sigma`` ≤
        ``sigma``); the rest, √(σ² − a²), is taken as relative to the rate.
    calibration_sigma : float
        Relative uncertainty shared by every pass (the calibration's), dimensionless.

    Returns
    -------
    rate : float
        The combined rate as measured, kg/h.
    sigma : float
        Its one-sigma uncertainty, kg/h, scaled by the Birge ratio when that is above 1.
    birge_ratio : float
        √(χ² / (n − 1)), NaN for one pass.

    Raises
    ------
    InputError
        On empty, mismatched or non-finite inputs, a sigma ≤ 0 or a mass sigma above it.

    Examples
    --------
    Two passes that agree, each ±10 kg/h of mass noise and no relative part:

    >>> q, s, b = combine_rates([40.0, 44.0], [10.0, 10.0], [10.0, 10.0], 0.0)
    >>> round(q, 1), round(s, 2), round(b, 2)
    (42.0, 7.07, 0.28)
    """
    x = np.asarray(measured, dtype=np.float64).ravel()
    sd = np.asarray(sigma, dtype=np.float64).ravel()
    a = np.asarray(mass_sigma, dtype=np.float64).ravel()
    if x.size == 0 or x.shape != sd.shape or x.shape != a.shape:
        raise InputError(
            f"combine_rates needs as many rates, sigmas and mass sigmas (≥ 1), got "
            f"{x.size}, {sd.size} and {a.size}"
        )
    if not (np.isfinite(x).all() and np.isfinite(sd).all() and np.isfinite(a).all()):
        raise InputError("combine_rates: rates and sigmas must be finite")
    if (sd <= 0).any() or (a <= 0).any() or (a > sd * (1 + 1e-6) + 1e-9).any():
        raise InputError("combine_rates: need 0 < mass sigma ≤ sigma for every pass")
    if not (math.isfinite(calibration_sigma) and calibration_sigma >= 0):
        raise InputError(f"calibration sigma must be ≥ 0, got {calibration_sigma!r}")
    # Each pass's relative part r_i, from its own total and mass parts at its own reading.
    rel_sq = np.where(np.abs(x) > 0, np.maximum(sd**2 - a**2, 0.0) / np.maximum(x**2, 1e-300), 0.0)
    # A pass read near zero says nothing of its relative part: use the others' median.
    tiny = np.abs(x) < a
    if tiny.any():
        rel_sq[tiny] = float(np.median(rel_sq[~tiny])) if (~tiny).any() else 0.0
    own_sq = np.maximum(rel_sq - calibration_sigma**2, 0.0)  # independent between passes

    def weights(rate: float) -> NDArray[np.float64]:
        # Each pass's inverse variance with its relative part taken at ``rate``.
        return np.asarray(1.0 / (a**2 + own_sq * rate**2), dtype=np.float64)

    w = weights(0.0)
    mu = float(np.sum(w * x) / np.sum(w))
    for _ in range(_ITERATIONS):
        w = weights(mu)
        new = float(np.sum(w * x) / np.sum(w))
        converged = abs(new - mu) <= 1e-9 * max(1.0, abs(mu))
        mu = new
        if converged:
            break
    w = weights(mu)
    var = 1.0 / float(np.sum(w))
    birge = math.nan
    if x.size > 1:
        chi2 = float(np.sum(w * (x - mu) ** 2))
        birge = math.sqrt(chi2 / (x.size - 1))
        if birge > 1.0:
            var *= birge**2
    var += (calibration_sigma * mu) ** 2
    return mu, math.sqrt(var), birge


def _primary_species(d: Detection) -> str | None:
    # The species the detection's rate is of: the first finding that carries a rate (the
    # detector's primary plume), else the only species named.
    for f in d.species_detail:
        if f.emission_kg_h is not None:
            return f.name
    return d.species[0] if len(d.species) == 1 else None


def site_emissions(detections: Sequence[Detection]) -> tuple[SiteEmission, ...]:
    """Emission rates of a site's species, each combined over the passes that measured it.

    Parameters
    ----------
    detections : sequence of Detection
        The site's detections (any kinds; plumes with a measured rate, its sigma and its
        mass sigma are used). Per pass (line and instrument) and species, the most
        confident plume counts.

    Returns
    -------
    tuple of SiteEmission
        One per species with at least one rate, by species name.

    Examples
    --------
    >>> site_emissions([])
    ()
    """
    best: dict[tuple[str, str, str], tuple[Detection, float, float, float]] = {}
    for d in detections:
        x, sd = d.emission_kg_h_measured, d.emission_kg_h_measured_sigma
        mass = d.emission_kg_h_mass_sigma
        if d.kind != "plume" or x is None or sd is None or mass is None or sd <= 0 or mass <= 0:
            continue
        sp = _primary_species(d)
        if sp is None:
            continue
        key = (sp, d.line_id, str(d.sensor))
        if key not in best or (d.score, d.id) > (best[key][0].score, best[key][0].id):
            best[key] = (d, x, sd, min(mass, sd))
    by_species: dict[str, list[tuple[Detection, float, float, float]]] = defaultdict(list)
    for k in sorted(best):
        by_species[k[0]].append(best[k])
    out = []
    for sp, rows in sorted(by_species.items()):
        mu, mu_sd, birge = combine_rates(
            [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
        )
        rate, rate_sd = non_negative_estimate(mu, mu_sd)
        out.append(
            SiteEmission(
                species=sp,
                rate_kg_h=rate,
                sigma_kg_h=rate_sd,
                measured_kg_h=mu,
                measured_sigma_kg_h=mu_sd,
                passes=len(rows),
                birge_ratio=birge,
                detection_ids=tuple(r[0].id for r in rows),
            )
        )
    return tuple(out)
