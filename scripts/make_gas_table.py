"""Build Vigía's gas absorption tables from NIST/Coblentz JCAMP-DX spectra and mag1c's CH₄ LUT.

Writes, next to each other in ``src/vigia/data/``:

``gases_lwir.npz`` + ``gases_lwir.json``
    Natural-log absorption coefficient k(λ) in 1/(ppm·m) on 7,000–14,000 nm every 2 nm, one
    array per species, so that a plume of column enhancement C (ppm·m) transmits exp(−k·C).
    Quantitative species come from NIST Quant-IR (decadic absorbance per ppm·m, converted by
    ln 10). Shape-only species come from Coblentz transmittance spectra of stated partial
    pressure and path length; their scale is an assumption stated in the JSON sidecar.
``ch4_vswir.npz`` + ``ch4_vswir.json``
    mag1c's CH₄ at-sensor radiance table (7 enhancements, 0–16,000 ppm·m), box-averaged from
    ~0.02 nm to 0.1 nm (Foote et al. 2020, BSD-3-Clause).

Raw files are never shipped: this script downloads the ``jcamp==1.3.2`` source distribution and
the ``mag1c==1.2.0`` wheel with pip into a temporary directory, reads them and keeps only the
derived, resampled tables. Run from the repository root::

    python scripts/make_gas_table.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "vigia" / "data"
GRID_NM = np.arange(7000.0, 14000.0 + 1e-9, 2.0)
CH4_BIN = 5  # native mag1c samples (~0.0196 nm) per stored sample: 0.1 nm

NIST_CITATION = (
    "NIST Chemistry WebBook, NIST Standard Reference Database 69 (Linstrom & Mallard, eds.), "
    "doi:10.18434/T4D303; spectra redistributed in jcamp 1.3.2 (N. Hagen, MIT), "
    "data/infrared_spectra"
)
QUANT_IR = (
    "NIST Quant-IR quantitative gas-phase infrared database (Chu et al. 1999, J. Res. NIST 104:59)"
)
COBLENTZ = "Coblentz Society evaluated infrared reference spectra, digitised by NIST"

#: species key -> (JDX file name, common name)
QUANTITATIVE = {
    "acetone": ("acetone.jdx", "acetone"),
    "dichloromethane": ("dichloromethane.jdx", "dichloromethane"),
    "chloroform": ("chloroform.jdx", "chloroform"),
    "isopropanol": ("isopropyl alcohol.jdx", "isopropanol (2-propanol)"),
    "ethyl_acetate": ("ethyl acetate.jdx", "ethyl acetate"),
    "methyl_ethyl_ketone": ("2-butanone.jdx", "methyl ethyl ketone (2-butanone)"),
    "acetonitrile": ("acetonitrile.jdx", "acetonitrile"),
    "mtbe": ("methyl tert-butyl ether.jdx", "methyl tert-butyl ether"),
    "methyl_bromide": ("methyl bromide.jdx", "methyl bromide"),
    "o_xylene": ("1,2-dimethylbenzene.jdx", "o-xylene"),
    "m_xylene": ("1,3-dimethylbenzene.jdx", "m-xylene"),
    "p_xylene": ("1,4-dimethylbenzene.jdx", "p-xylene"),
    "ethylbenzene": ("ethyl benzene.jdx", "ethylbenzene"),
    "1_butanol": ("1-butanol.jdx", "1-butanol"),
    "tetrachloroethene": ("tetrachloroethene.jdx", "tetrachloroethene"),
    "vinyl_acetate": ("vinyl acetate.jdx", "vinyl acetate"),
}
SHAPE_ONLY = {
    "ammonia": ("ammonia.jdx", "ammonia (NH3)"),
    "methanol": ("methanol.jdx", "methanol"),
    "toluene": ("toluene.jdx", "toluene"),
    "methane": ("methane.jdx", "methane (CH4)"),
    "ethanol": ("ethanol.jdx", "ethanol"),
    "benzene": ("benzene.jdx", "benzene"),
}
#: Strongest band in 7-14 µm from the literature (REFERENCES.md), µm, for the record.
LITERATURE_PEAK_UM = {
    "ammonia": 10.35,
    "methanol": 9.67,
    "acetone": 8.21,
    "isopropanol": 10.45,
    "ethyl_acetate": 8.06,
    "chloroform": 8.19,
    "methane": 7.66,
    "toluene": 13.68,
    "dichloromethane": 13.34,
}

P0_MMHG = 760.0
T_FLOOR = 1e-3  # transmittance floor before taking logs of saturated Coblentz bands


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, capture_output=True)


def _box_average(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Average y(x) over 2 nm bins centred on GRID_NM (exact for piecewise-linear y)."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    edges = np.concatenate([GRID_NM - 1.0, [GRID_NM[-1] + 1.0]])
    # Cumulative integral of the piecewise-linear spectrum, evaluated at bin edges.
    xs = np.union1d(x, edges)
    ys = np.interp(xs, x, y)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (ys[1:] + ys[:-1]) * np.diff(xs))])
    at_edges = np.interp(edges, xs, cum)
    out: NDArray[np.float64] = np.diff(at_edges) / np.diff(edges)
    return out


def _quantity(text: str, unit: str) -> float:
    match = re.match(r"\s*([0-9.]+)\s*" + unit, text, flags=re.IGNORECASE)
    if match is None:
        raise ValueError(f"cannot read {unit} from {text!r}")
    return float(match.group(1))


def _jcamp_tables(src: Path) -> tuple[dict[str, NDArray[np.float32]], dict[str, Any]]:
    sys.path.insert(0, str(src))
    import jcamp  # type: ignore[import-not-found]

    data_dir = src / "data" / "infrared_spectra"
    arrays: dict[str, NDArray[np.float32]] = {}
    info: dict[str, Any] = {}
    for key, (fname, common) in {**QUANTITATIVE, **SHAPE_ONLY}.items():
        d = jcamp.readfile(str(data_dir / fname))
        nu = np.asarray(d["x"], dtype=np.float64)
        if d["xunits"].lower() not in ("cm-1", "1/cm"):
            raise ValueError(f"{fname}: unexpected x units {d['xunits']!r}")
        wl_nm = 1e7 / nu
        y = np.asarray(d["y"], dtype=np.float64)
        entry: dict[str, Any] = {
            "name": common,
            "file": f"jcamp-1.3.2/data/infrared_spectra/{fname}",
            "title": d.get("title", ""),
            "nist_source": d.get("$nist source", ""),
            "owner": d.get("owner", ""),
            "resolution_cm-1": d.get("resolution", ""),
            "literature_peak_um": LITERATURE_PEAK_UM.get(key),
            "units": "1/(ppm*m), natural log: transmittance = exp(-k * C[ppm*m])",
        }
        if key in QUANTITATIVE:
            if "micromol/mol" not in d["yunits"] or "base 10" not in d["yunits"]:
                raise ValueError(f"{fname}: not Quant-IR decadic absorbance: {d['yunits']!r}")
            # Baseline noise dips slightly below zero; negative absorption is not physical.
            k = np.maximum(np.log(10.0) * y, 0.0)
            entry |= {
                "quantitative": True,
                "source": f"{QUANT_IR}; {NIST_CITATION}",
                "conversion": (
                    "k = ln(10) * A10, A10 in (micromol/mol)^-1 m^-1 as published; "
                    "negative baseline noise clipped to 0"
                ),
                "scale_assumption": None,
                "conditions": f"{d.get('pressure', '')}, {d.get('temperature', '')}",
            }
        else:
            if d["yunits"].upper() != "TRANSMITTANCE":
                raise ValueError(f"{fname}: expected transmittance, got {d['yunits']!r}")
            p_mmhg = _quantity(d["partial_pressure"], "mmHg")
            path_m = _quantity(d["path length"], "CM") / 100.0
            column_ppm_m = p_mmhg / P0_MMHG * 1e6 * path_m
            # Old prism/grating charts do not reach T = 1 off-band: normalise by the baseline.
            baseline = float(np.percentile(y, 99.0))
            t = np.clip(y / baseline, T_FLOOR, 1.0)
            k = -np.log(t) / column_ppm_m
            entry |= {
                "quantitative": False,
                "source": f"{COBLENTZ} (Coblentz No. in title/source: "
                f"{d.get('source reference', '')}); {NIST_CITATION}",
                "conversion": "k = -ln(T / T_baseline) / C_cell",
                "scale_assumption": (
                    "shape only: scale assumed. The cell column C_cell = "
                    f"{p_mmhg:g} mmHg / 760 mmHg * 1e6 ppm * {path_m:g} m = "
                    f"{column_ppm_m:.4g} ppm*m (partial pressure and path length stated in "
                    "the file, ideal gas, column referred to 1 atm at the cell temperature); "
                    f"transmittance normalised by its 99th percentile ({baseline:.3f}) as the "
                    f"baseline and floored at {T_FLOOR}. Saturated bands and the chart's "
                    f"{d.get('resolution', '?')} cm-1 resolution make peak k a lower bound; "
                    "digitised from a hard-copy chart."
                ),
                "conditions": f"{d['partial_pressure']} in {d['path length']} cell",
            }
        arrays[key] = _box_average(wl_nm, k).astype(np.float32)
        peak = float(GRID_NM[np.argmax(arrays[key])])
        entry["table_peak_um"] = round(peak / 1000.0, 3)
        info[key] = entry
    return arrays, info


def _mag1c_table(wheel_dir: Path) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    wheel = next(wheel_dir.glob("mag1c-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        hdr = zf.read("mag1c/ch4.hdr").decode()
        lut = zf.read("mag1c/ch4.lut")
        licence = zf.read("mag1c-1.2.0.dist-info/LICENSE").decode()
    start = hdr.index("wavelength = {") + len("wavelength = {")
    wl = np.array(
        [float(t) for t in hdr[start : hdr.index("}", start)].split(",")], dtype=np.float64
    )
    samples = int(re.search(r"samples\s*=\s*(\d+)", hdr).group(1))  # type: ignore[union-attr]
    # ENVI data type 5 = float64, byte order 0 = little endian, BSQ with 1 line: (bands, samples)
    rad = np.frombuffer(lut, dtype="<f8").reshape(wl.size, samples)
    n = (wl.size // CH4_BIN) * CH4_BIN
    wl_b = wl[:n].reshape(-1, CH4_BIN).mean(axis=1)
    rad_b = rad[:n].reshape(-1, CH4_BIN, samples).mean(axis=1).T
    arrays = {
        "wavelength_nm": wl_b.astype(np.float64),
        "enhancement_ppm_m": np.array([0, 500, 1000, 2000, 4000, 8000, 16000], dtype=np.float64),
        "radiance": rad_b.astype(np.float32),
    }
    info = {
        "source": (
            "mag1c 1.2.0 ch4.hdr/ch4.lut (Foote et al. 2020, IEEE TGRS 58(8):5319, "
            "doi:10.1109/TGRS.2020.2976888); BSD-3-Clause, (c) 2019 Scientific Computing and "
            "Imaging Institute and "
            "Utah Remote Sensing Applications Lab"
        ),
        "content": "at-sensor radiance for 7 CH4 column enhancements, as in the mag1c LUT",
        "units": "radiance in the LUT's own (arbitrary, consistent) units; only ratios are used",
        "processing": f"box average of {CH4_BIN} native samples (~0.0196 nm) to ~0.1 nm",
        "enhancement_units": "ppm*m",
        "licence_text": licence,  # BSD-3-Clause asks for its text to travel with the data
    }
    return arrays, info


def main() -> None:
    """Download the inputs into a temporary directory and write the tables."""
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        _pip("download", "--no-binary", ":all:", "--no-deps", "jcamp==1.3.2", "-d", tmp)
        _pip("download", "--only-binary", ":all:", "--no-deps", "mag1c==1.2.0", "-d", tmp)
        with tarfile.open(next(tmpdir.glob("jcamp-1.3.2.tar.gz"))) as tf:
            tf.extractall(tmpdir, filter="data")
        gases, gas_info = _jcamp_tables(tmpdir / "jcamp-1.3.2")
        ch4, ch4_info = _mag1c_table(tmpdir)

    gas_arrays: dict[str, Any] = {"wavelength_nm": GRID_NM, **gases}
    np.savez_compressed(OUT_DIR / "gases_lwir.npz", **gas_arrays)
    sidecar = {
        "description": (
            "LWIR gas absorption coefficients per ppm*m, natural log, on a 2 nm grid "
            "(box-averaged from the native spectra). Generated by scripts/make_gas_table.py."
        ),
        "grid": {"start_nm": 7000.0, "stop_nm": 14000.0, "step_nm": 2.0},
        "licence": (
            "Spectra (c) NIST (U.S. Secretary of Commerce) and the Coblentz Society, as "
            "distributed in jcamp 1.3.2 (MIT). Cite NIST SRD 69 and the Coblentz Society."
        ),
        "species": gas_info,
    }
    (OUT_DIR / "gases_lwir.json").write_text(json.dumps(sidecar, indent=1) + "\n")
    ch4_arrays: dict[str, Any] = dict(ch4)
    np.savez_compressed(OUT_DIR / "ch4_vswir.npz", **ch4_arrays)
    (OUT_DIR / "ch4_vswir.json").write_text(json.dumps(ch4_info, indent=1) + "\n")
    for key, entry in gas_info.items():
        print(f"{key:20s} peak {entry['table_peak_um']:6.3f} µm  lit {entry['literature_peak_um']}")


if __name__ == "__main__":
    main()
