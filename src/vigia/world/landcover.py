"""Land cover of a simulated world as a continuous function of position.

Overlapping flight lines must see the same ground, so land cover is not drawn on a line's pixel
grid but defined everywhere in the world's planar frame: each class has a smooth random field
(a sum of random Fourier modes, seeded), and the class fractions at a point are a softmax of
those fields. Textures are patchy at several scales (tens of metres to kilometres), not flat
patches; roads are the narrow zero-crossings of their own field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from vigia.errors import InputError

__all__ = [
    "LAND_COVER_CLASSES",
    "LandCoverModel",
    "land_cover_model",
]

LAND_COVER_CLASSES: tuple[str, ...] = (
    "tree_canopy",
    "shrub",
    "dry_grass",
    "bare_soil",
    "crops",
    "road",
    "roof",
    "water",
)

# Mean share of each class by setting (before texture). Rural Sierra foothills: tropical dry
# forest and scrub with grass and bare slopes, some fields in the valleys; industrial corridors:
# roofs, yards and roads among scrub and fields. Shares are scene-design assumptions.
_BASE_SHARE: dict[str, dict[str, float]] = {
    "rural": {
        "tree_canopy": 0.34,
        "shrub": 0.26,
        "dry_grass": 0.17,
        "bare_soil": 0.12,
        "crops": 0.08,
        "road": 0.0,
        "roof": 0.005,
        "water": 0.015,
    },
    "industrial": {
        "tree_canopy": 0.06,
        "shrub": 0.14,
        "dry_grass": 0.16,
        "bare_soil": 0.18,
        "crops": 0.12,
        "road": 0.0,
        "roof": 0.30,
        "water": 0.01,
    },
}
# Correlation lengths of each class field, metres: canopy and scrub vary over hundreds of
# metres, fields and roofs over blocks, water bodies over kilometres.
_SCALE_M: dict[str, float] = {
    "tree_canopy": 250.0,
    "shrub": 150.0,
    "dry_grass": 200.0,
    "bare_soil": 300.0,
    "crops": 400.0,
    "road": 1500.0,
    "roof": 120.0,
    "water": 2500.0,
}
_N_MODES = 48
# Road width as a fraction of the road field's scale (about 8 m at 1.5 km).
_ROAD_WIDTH = 0.004


@dataclass(frozen=True)
class _Field:
    k: NDArray[np.float64]  # (modes, 2) wave vectors, rad/m
    phase: NDArray[np.float64]  # (modes,)
    amp: NDArray[np.float64]  # (modes,)

    def __call__(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        arg = x[..., None] * self.k[:, 0] + y[..., None] * self.k[:, 1] + self.phase
        return np.asarray(np.cos(arg) @ self.amp, dtype=np.float64)


def _field(rng: np.random.Generator, scale_m: float) -> _Field:
    # Wavelengths spread over half to four times the scale: patches at several sizes.
    lam = scale_m * np.exp(rng.uniform(math.log(0.5), math.log(4.0), _N_MODES))
    theta = rng.uniform(0.0, 2.0 * math.pi, _N_MODES)
    k = (2.0 * math.pi / lam)[:, None] * np.column_stack([np.cos(theta), np.sin(theta)])
    amp = (lam / lam.sum()) ** 0.5
    amp *= math.sqrt(2.0) / math.sqrt(float((amp**2).sum()))  # unit variance
    return _Field(k, rng.uniform(0.0, 2.0 * math.pi, _N_MODES), amp)


@dataclass(frozen=True)
class LandCoverModel:
    """Class fractions and within-class variety anywhere in a world's planar frame.

    Attributes
    ----------
    setting : {"rural", "industrial"}
        Which class shares apply.
    seed : int
        Seed: the same seed gives the same world.
    """

    setting: Literal["rural", "industrial"]
    seed: int
    _fields: tuple[_Field, ...]
    _variety: _Field
    _log_share: NDArray[np.float64]

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, in the order of the last axis of :meth:`fractions`."""
        return LAND_COVER_CLASSES

    def fractions(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.float32]:
        """Return the fraction of each class at planar points.

        Parameters
        ----------
        x, y : array_like, shape (...)
            Planar coordinates in metres (the world's local frame).

        Returns
        -------
        (..., n_classes) float32
            Non-negative fractions summing to 1 at each point.
        """
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        if xa.shape != ya.shape:
            raise InputError(f"x and y must have the same shape, got {xa.shape} and {ya.shape}")
        # Sharpness 2.5: mostly one dominant class per pixel, mixed at patch edges.
        logits = np.stack([2.5 * f(xa, ya) for f in self._fields], axis=-1) + self._log_share
        road_i = LAND_COVER_CLASSES.index("road")
        road = np.abs(self._fields[road_i](xa, ya)) < _ROAD_WIDTH * 2.5
        logits[..., road_i] = np.where(road, 50.0, -50.0)
        logits -= logits.max(axis=-1, keepdims=True)
        w = np.exp(logits)
        return np.asarray(w / w.sum(axis=-1, keepdims=True), dtype=np.float32)

    def variety(self, x: ArrayLike, y: ArrayLike, n_variants: int) -> NDArray[np.int64]:
        """Return which of ``n_variants`` spectra of a class applies at each point.

        Parameters
        ----------
        x, y : array_like, shape (...)
            Planar coordinates, metres.
        n_variants : int
            How many spectra the class has.

        Returns
        -------
        (...) int64
            Variant index in ``[0, n_variants)``, spatially coherent (patches, not noise).
        """
        if n_variants < 1:
            raise InputError(f"n_variants must be ≥ 1, got {n_variants}")
        v = self._variety(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        # The field is ~N(0, 1): its normal CDF spreads variants evenly.
        u = ndtr(v)
        return np.asarray(np.minimum((u * n_variants).astype(np.int64), n_variants - 1))


def land_cover_model(setting: Literal["rural", "industrial"], seed: int) -> LandCoverModel:
    """Build the land-cover model of a world.

    Parameters
    ----------
    setting : {"rural", "industrial"}
        Class shares: Sierra foothills or industrial corridor.
    seed : int
        Random seed.

    Returns
    -------
    LandCoverModel
        Evaluate it at any planar points.

    Examples
    --------
    >>> m = land_cover_model("rural", seed=1)
    >>> f = m.fractions([0.0, 500.0], [0.0, 0.0])
    >>> f.shape, bool(abs(f.sum(axis=-1) - 1).max() < 1e-5)
    ((2, 8), True)
    """
    if setting not in _BASE_SHARE:
        raise InputError(f"unknown setting {setting!r}; settings: rural, industrial")
    rng = np.random.default_rng(seed)
    fields = tuple(_field(rng, _SCALE_M[c]) for c in LAND_COVER_CLASSES)
    share = np.array([_BASE_SHARE[setting][c] for c in LAND_COVER_CLASSES])
    log_share = np.log(np.maximum(share, 1e-6))
    return LandCoverModel(setting, seed, fields, _field(rng, 250.0), log_share)
