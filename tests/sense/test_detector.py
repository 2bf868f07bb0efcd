import numpy as np
import pytest

from vigia.errors import InputError
from vigia.sense.detector import apply_detector, lwir_detector, vswir_detector
from vigia.sense.thermal import brightness_temperature, planck_radiance

WL = np.linspace(400.0, 2500.0, 50)
# A smooth reference spectrum: bright in the visible, dim in the SWIR (µW cm⁻² sr⁻¹ nm⁻¹).
REF = 12.0 * np.exp(-(((WL - 600.0) / 900.0) ** 2)) + 0.5


def test_the_snr_specification_holds_at_its_wavelength() -> None:
    det = vswir_detector(4, REF, WL, snr=400.0, read_fraction=0.0)
    i = int(np.argmin(abs(WL - 2200.0)))
    sigma = det.noise_sigma(REF)
    assert REF[i] / sigma[i] == pytest.approx(400.0)


def test_brighter_bands_have_higher_snr_from_photon_noise() -> None:
    det = vswir_detector(4, REF, WL, snr=400.0, read_fraction=0.3)
    snr = REF / det.noise_sigma(REF)
    assert snr[np.argmax(REF)] > snr[np.argmin(REF)]
    # Shot noise: at four times the signal the (photon-limited) SNR doubles.
    pure = vswir_detector(4, REF, WL, snr=400.0, read_fraction=0.0)
    ratio = (4 * REF / pure.noise_sigma(4 * REF)) / (REF / pure.noise_sigma(REF))
    assert np.allclose(ratio, 2.0)


def test_columns_differ_so_retrievals_must_work_column_by_column() -> None:
    det = vswir_detector(100, REF, WL, snr=400.0, gain_sd=0.01, seed=3)
    col_mean = det.gain.mean(axis=1)
    assert 0.005 < col_mean.std() < 0.02
    cube = np.broadcast_to(REF, (200, 100, len(WL)))
    out = apply_detector(cube, det, np.random.default_rng(0))
    assert out.dtype == np.float32 and out.shape == cube.shape
    # Averaged along track the noise goes and the column pattern stays.
    stripes = out.mean(axis=0) / REF
    assert np.corrcoef(stripes.mean(axis=1), col_mean)[0, 1] > 0.95


def test_lwir_noise_is_the_nedt_in_temperature() -> None:
    wl = np.linspace(7500.0, 12000.0, 64)
    det = lwir_detector(50, wl, nedt_k=0.2, gain_sd=0.0, offset_sd=0.0)
    scene = np.broadcast_to(planck_radiance(wl, 300.0), (400, 50, 64))
    out = apply_detector(scene, det, np.random.default_rng(1)).astype(np.float64)
    bt = brightness_temperature(wl, out)
    assert bt.std() == pytest.approx(0.2, rel=0.05)
    assert bt.mean() == pytest.approx(300.0, abs=0.01)


def test_shape_mismatch_is_refused() -> None:
    det = vswir_detector(4, REF, WL, snr=400.0)
    with pytest.raises(InputError, match="does not match"):
        apply_detector(np.zeros((3, 5, len(WL))), det, np.random.default_rng(0))
