"""Detector effects of an imaging spectrometer: column gains and offsets, and noise.

Each cross-track column of a pushbroom spectrometer is its own detector with a slightly
different response: that is why airborne retrievals estimate their background column by column.
Noise is photon (shot) noise, which grows with the signal, plus read noise, which does not
(VSWIR, specified by an SNR at a reference radiance), or a noise-equivalent temperature
difference turned into radiance through Planck's derivative (LWIR).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vigia.errors import InputError
from vigia.sense.thermal import planck_radiance

__all__ = ["DetectorModel", "apply_detector", "lwir_detector", "vswir_detector"]


@dataclass(frozen=True)
class DetectorModel:
    """Per-column response and per-band noise of an instrument.

    Attributes
    ----------
    gain : (crosstrack, bands) float64
        Multiplicative response of each column and band (1 is nominal).
    offset : (crosstrack, bands) float64
        Additive offset, radiance units.
    shot : (bands,) float64
        Photon-noise variance per unit radiance: variance = shot × L + read.
    read : (bands,) float64
        Signal-independent noise variance, radiance units squared.
    """

    gain: NDArray[np.float64]
    offset: NDArray[np.float64]
    shot: NDArray[np.float64]
    read: NDArray[np.float64]

    def noise_sigma(self, radiance: NDArray[np.float64]) -> NDArray[np.float64]:
        """Noise standard deviation at a radiance, same shape as ``radiance`` (bands last)."""
        return np.sqrt(self.shot * np.maximum(radiance, 0.0) + self.read)


def _columns(
    rng: np.random.Generator, shape: tuple[int, int], gain_sd: float
) -> NDArray[np.float64]:
    # Column response: a smooth spectral shape per column (detector and grating) plus a small
    # independent part per pixel of the focal plane.
    n_cols, n_bands = shape
    smooth = rng.normal(0.0, gain_sd, (n_cols, 1)) * (
        1.0 + 0.3 * np.sin(np.linspace(0.0, np.pi, n_bands))[None, :]
    )
    return 1.0 + smooth + rng.normal(0.0, gain_sd / 3.0, (n_cols, n_bands))


def vswir_detector(
    n_cols: int,
    reference_radiance: NDArray[np.float64],
    wavelengths_nm: NDArray[np.float64],
    *,
    snr: float,
    snr_wavelength_nm: float = 2200.0,
    read_fraction: float = 0.3,
    gain_sd: float = 0.01,
    offset_sd: float = 0.02,
    seed: int = 0,
) -> DetectorModel:
    """Build a VSWIR detector whose SNR at a reference radiance matches the specification.

    Parameters
    ----------
    n_cols : int
        Cross-track columns.
    reference_radiance : (bands,) float64
        Radiance at which ``snr`` is specified (e.g. a 25 % reflector), µW cm⁻² sr⁻¹ nm⁻¹.
    wavelengths_nm : (bands,) float64
        Band centres, nm.
    snr : float
        Signal-to-noise ratio at ``snr_wavelength_nm`` and the reference radiance.
    snr_wavelength_nm : float
        Wavelength of the specification, nm (2,200 nm: the methane window that limits detection).
    read_fraction : float
        Share of the noise variance at the reference that is read noise, in [0, 1].
    gain_sd : float
        Standard deviation of column gains (relative).
    offset_sd : float
        Standard deviation of column offsets, radiance units.
    seed : int
        Seed of the column response.

    Returns
    -------
    DetectorModel
        Other bands get the SNR that photon plus read noise give at their own radiance.
    """
    ref = np.asarray(reference_radiance, dtype=np.float64)
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    if ref.shape != wl.shape or ref.ndim != 1:
        raise InputError("reference_radiance and wavelengths_nm must be matching 1-D arrays")
    if not snr > 0:
        raise InputError(f"SNR must be positive, got {snr!r}")
    if not 0.0 <= read_fraction <= 1.0:
        raise InputError(f"read_fraction must be in [0, 1], got {read_fraction!r}")
    i = int(np.argmin(np.abs(wl - snr_wavelength_nm)))
    if not ref[i] > 0:
        raise InputError(f"reference radiance at {wl[i]:.0f} nm must be positive")
    var = (ref[i] / snr) ** 2
    shot = np.full(wl.shape, (1.0 - read_fraction) * var / ref[i])
    read = np.full(wl.shape, read_fraction * var)
    rng = np.random.default_rng([seed, 11])
    gain = _columns(rng, (n_cols, len(wl)), gain_sd)
    offset = rng.normal(0.0, offset_sd, (n_cols, len(wl)))
    return DetectorModel(gain, offset, shot, read)


def lwir_detector(
    n_cols: int,
    wavelengths_nm: NDArray[np.float64],
    *,
    nedt_k: float,
    reference_k: float = 300.0,
    gain_sd: float = 0.005,
    offset_sd: float = 0.01,
    seed: int = 0,
) -> DetectorModel:
    """Build an LWIR detector from its noise-equivalent temperature difference.

    The noise-equivalent radiance of each band is ``dB/dT × NEDT`` at ``reference_k``.

    Parameters
    ----------
    n_cols : int
        Cross-track columns.
    wavelengths_nm : (bands,) float64
        Band centres, nm.
    nedt_k : float
        NEDT at the reference temperature, K.
    reference_k : float
        Scene temperature of the specification, K.
    gain_sd, offset_sd : float
        Column gain (relative) and offset (W m⁻² sr⁻¹ µm⁻¹) spreads.
    seed : int
        Seed of the column response.

    Returns
    -------
    DetectorModel
        Read-noise dominated (cooled detectors), radiance in W m⁻² sr⁻¹ µm⁻¹.
    """
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    if not nedt_k > 0:
        raise InputError(f"NEDT must be positive, got {nedt_k!r} K")
    dbdt = planck_radiance(wl, reference_k + 0.5) - planck_radiance(wl, reference_k - 0.5)
    read = (np.asarray(dbdt, dtype=np.float64) * nedt_k) ** 2
    rng = np.random.default_rng([seed, 12])
    gain = _columns(rng, (n_cols, len(wl)), gain_sd)
    offset = rng.normal(0.0, offset_sd, (n_cols, len(wl)))
    return DetectorModel(gain, offset, np.zeros(len(wl)), read)


def apply_detector(
    radiance: NDArray[np.floating], model: DetectorModel, rng: np.random.Generator
) -> NDArray[np.float32]:
    """Turn at-sensor radiance into what the instrument records.

    Parameters
    ----------
    radiance : (downtrack, crosstrack, bands) float
        At-sensor radiance.
    model : DetectorModel
        Column response and noise; its shapes must match the last two axes.
    rng : numpy.random.Generator
        Noise source (the caller seeds it per chunk, so chunks are reproducible).

    Returns
    -------
    (downtrack, crosstrack, bands) float32
        ``gain × L + offset + noise``.
    """
    L = np.asarray(radiance, dtype=np.float32)
    if L.ndim != 3 or L.shape[1:] != model.gain.shape:
        raise InputError(
            f"radiance shape {L.shape} does not match the detector's (crosstrack, bands) "
            f"{model.gain.shape}"
        )
    # Single precision: noise at the 1e-3 level needs no more, and a line is ~10⁸ samples.
    sigma = np.sqrt(
        model.shot.astype(np.float32) * np.maximum(L, 0.0) + model.read.astype(np.float32)
    )
    noise = rng.standard_normal(L.shape, dtype=np.float32) * sigma
    out = L * model.gain.astype(np.float32) + model.offset.astype(np.float32) + noise
    return np.asarray(out, dtype=np.float32)
