"""What the detectors find on one flight line: every detector on the line's cubes, as detections.

One line is the unit of work (``DESIGN.md``, "Scale"). Its VSWIR cube goes to the methane
matched filter (:mod:`vigia.detect.methane`) and the camouflage detectors
(:mod:`vigia.detect.camouflage`); its LWIR cube to the gas-plume detector and species
identification (:mod:`vigia.detect.lwir`) and the contextual heat test
(:mod:`vigia.detect.heat`). Either cube may be missing. Everything found becomes a
:class:`~vigia.detect.detection.Detection` placed on the ground from the cube's own per-pixel
lat/lon; detections of one place by the two instruments are linked to each other.

A detector that cannot run on a cube for a reason of that cube's coverage (a windowed 2.1–2.5 µm
cube has no 1.73 µm band for the tarp test; a night line has no sun for reflectance) is skipped
and the reason kept in :attr:`LineDetections.skipped`; a cube that cannot be searched at all
(no lat/lon, nothing but NaN) is an error. Nothing here reads files or truth.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from shapely.geometry import mapping

from vigia.detect.camouflage import AtmosphericCorrection, CamouflageObject, detect_camouflage
from vigia.detect.chips import LineImages, true_colour
from vigia.detect.detection import Detection, DetectionKind, SearchedLine, SpeciesFinding
from vigia.detect.georef import LineGrid, line_grid
from vigia.detect.heat import HotObject, detect_heat
from vigia.detect.landuse import land_use_around
from vigia.detect.lwir import LwirDetection, LwirIdentification, find_lwir_plumes
from vigia.detect.methane import (
    SUPPRESSION_REASONS,
    methane_plumes,
    retrieve_methane,
    short_line_note,
)
from vigia.detect.plumes import (
    MOLAR_MASS_KG_MOL,
    Plume,
    SegmentationSettings,
    Wind,
    quantify_plume,
)
from vigia.errors import InputError

__all__ = [
    "LINK_M",
    "LineDetections",
    "check_cube",
    "detect_line",
    "line_id_of",
    "link_detections",
    "wind_at",
]

#: Two detections of different instruments closer than this (or two LWIR pixels) are linked, m.
LINK_M: Final = 30.0
_SAMPLE_ROWS: Final = 64


@dataclass
class LineDetections:
    """Everything the detectors made of one line.

    Attributes
    ----------
    line_id : str
        Flight line id.
    detections : list of Detection
        What was found, most certain first within each instrument.
    searched : list of SearchedLine
        One per cube searched (``score_map`` left for the writer to fill in).
    score_maps : dict of str to xarray.Dataset
        Per sensor, ``(downtrack, crosstrack)`` score layers with ``lat``/``lon``.
    images : LineImages
        What the image chips are cut from.
    skipped : list of str
        Detectors that could not run on a cube, and why.
    """

    line_id: str
    detections: list[Detection] = field(default_factory=list)
    searched: list[SearchedLine] = field(default_factory=list)
    score_maps: dict[str, xr.Dataset] = field(default_factory=dict)
    images: LineImages = field(default_factory=lambda: LineImages(""))
    skipped: list[str] = field(default_factory=list)


def line_id_of(cube: xr.Dataset) -> str:
    """Return a cube's flight line id (its ``flight_line_id`` attribute, else ``"line"``)."""
    return str(cube.attrs.get("flight_line_id", "") or "line")


def _times(cube: xr.Dataset) -> tuple[datetime | None, datetime | None]:
    def parse(key: str) -> datetime | None:
        text = str(cube.attrs.get(key, "") or "")
        if not text:
            return None
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    return parse("time_coverage_start"), parse("time_coverage_end")


def _row_time(cube: xr.Dataset, row: int) -> datetime:
    # Pushbroom rows are imaged at a steady rate between the line's first and last time.
    t0, t1 = _times(cube)
    if t0 is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    if t1 is None:
        return t0
    n = int(cube.sizes["downtrack"])
    return t0 + (t1 - t0) * (row / max(n - 1, 1))


def _grid(cube: xr.Dataset, where: str) -> LineGrid:
    for name in ("lat", "lon"):
        if name not in cube.variables:
            raise InputError(f"{where}: the cube has no {name!r}: detections cannot be placed")
    lat = np.asarray(cube["lat"].values, dtype=np.float64)
    lon = np.asarray(cube["lon"].values, dtype=np.float64)
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise InputError(
            f"{where}: lat/lon are missing (NaN) for some pixels: the line is not georeferenced "
            "(for ENVI cubes pass the location file)"
        )
    return line_grid(lon, lat, where)


def check_cube(cube: xr.Dataset, where: str) -> LineGrid:
    """Check that a cube can be searched and return its pixel geometry.

    Parameters
    ----------
    cube : xarray.Dataset
        A cube as :func:`vigia.sense.io.open_cube` returns it.
    where : str
        What to call it in messages (``"line S01-L003 (VSWIR)"``).

    Returns
    -------
    LineGrid

    Raises
    ------
    InputError
        No lat/lon or NaN in them, or radiance that is NaN everywhere.
    """
    _check_finite(cube, where)
    return _grid(cube, where)


def _check_finite(cube: xr.Dataset, where: str) -> None:
    # A line with nothing but NaN cannot be searched; read a few rows to tell (cheap on Dask).
    rows = int(cube.sizes["downtrack"])
    step = max(1, rows // _SAMPLE_ROWS)
    good = np.asarray(cube["good_wavelengths"].values) > 0 if "good_wavelengths" in cube else None
    sample = cube["radiance"].isel(downtrack=slice(0, rows, step))
    if good is not None:
        if not good.any():
            raise InputError(f"{where}: radiance: every band is masked or NaN")
        sample = sample.isel(bands=np.flatnonzero(good))
    if not bool(np.isfinite(np.asarray(sample.values)).any()):
        raise InputError(f"{where}: radiance is NaN everywhere (an empty line)")


def _searched(cube: xr.Dataset, grid: LineGrid, sensor: str) -> SearchedLine:
    t0, t1 = _times(cube)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return SearchedLine(
        line_id=line_id_of(cube),
        sensor=sensor,  # type: ignore[arg-type]
        time_start="" if t0 is None else t0.strftime(iso),
        time_end="" if t1 is None else t1.strftime(iso),
        footprint=dict(mapping(grid.footprint())),
        area_km2=round(grid.area_km2(), 4),
        pixel_size_m=round(grid.pixel_size_m, 3),
        shape=grid.shape,
    )


def _mask(grid: LineGrid, rows: NDArray[Any], cols: NDArray[Any]) -> NDArray[np.bool_]:
    m = np.zeros(grid.shape, dtype=bool)
    m[np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)] = True
    return m


def _centre_pixel(rows: NDArray[Any], cols: NDArray[Any]) -> tuple[int, int]:
    # The object's pixel nearest its centroid (a pixel of the object, not a point beside it).
    r, c = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
    k = int(np.argmin((r - r.mean()) ** 2 + (c - c.mean()) ** 2))
    return int(rows[k]), int(cols[k])


def _wind_fields(wind: Wind | None) -> dict[str, Any]:
    if wind is None:
        return {"wind_speed_m_s": None, "wind_from_deg": None, "wind_source": "none"}
    return {
        "wind_speed_m_s": wind.speed_m_s,
        "wind_from_deg": wind.from_deg,
        "wind_source": "given",
    }


def _r(v: float | None, nd: int) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), nd)


class _Ids:
    """Detection ids of one line: ``LINE-V001`` (VSWIR), ``LINE-L001`` (LWIR)."""

    def __init__(self, line_id: str) -> None:
        self.line_id = line_id
        self.n = {"vswir": 0, "lwir": 0}

    def next(self, sensor: str) -> str:
        self.n[sensor] += 1
        return f"{self.line_id}-{'V' if sensor == 'vswir' else 'L'}{self.n[sensor]:03d}"


def _methane_detection(
    plume: Plume,
    cube: xr.Dataset,
    grid: LineGrid,
    ids: _Ids,
    wind: Wind | None,
    caveats: list[str],
) -> Detection:
    r, c = plume.source_pixel
    reasons = [
        f"CH4 plume at 2.3 µm, peak {plume.peak_ppm_m:.0f} ppm·m, "
        f"IME {plume.ime_kg:.2f} ± {plume.ime_sigma_kg:.2f} kg",
        "methane's 1.65 µm band agrees; no C-H absorption at 1.73 µm",
        f"source from the {'wind' if plume.source_method == 'wind' else 'plume shape'}",
    ]
    if plume.emission_kg_h is None:
        reasons.append("no wind given: no emission rate")
    else:
        if plume.rate_note:
            reasons.append(plume.rate_note)
        reasons.extend(caveats)
    if not plume.source_in_view:
        reasons.append(plume.source_note)
    return Detection(
        id=ids.next("vswir"),
        kind="plume",
        line_id=line_id_of(cube),
        sensor="vswir",
        time=_row_time(cube, r),
        lon=plume.source_lonlat[0],
        lat=plume.source_lonlat[1],
        score=float(np.clip(plume.score, 0.0, 1.0)),
        species=["CH4"],
        species_detail=[
            SpeciesFinding(
                name="CH4",
                confidence=float(np.clip(plume.score, 0.0, 1.0)),
                column_ppm_m=_r(plume.mean_ppm_m, 1),
                reason="VSWIR column-wise matched filter, 2.3 µm window (mean over the plume)",
                emission_kg_h=_r(plume.emission_kg_h, 3),
                emission_kg_h_sigma=_r(plume.emission_kg_h_sigma, 3),
            )
        ],
        enhancement_ppm_m=_r(plume.peak_ppm_m, 1),
        emission_kg_h=_r(plume.emission_kg_h, 3),
        emission_kg_h_sigma=_r(plume.emission_kg_h_sigma, 3),
        emission_kg_h_measured=_r(plume.measured_kg_h, 3),
        emission_kg_h_measured_sigma=_r(plume.measured_kg_h_sigma, 3),
        emission_kg_h_mass_sigma=_r(plume.measured_mass_sigma_kg_h, 3),
        ime_kg=_r(plume.ime_kg, 4),
        area_m2=round(plume.area_m2, 1),
        length_m=_r(plume.length_m, 1),
        source_in_view=plume.source_in_view,
        pixel_row=r,
        pixel_col=c,
        n_pixels=plume.n_pixels,
        footprint=dict(mapping(grid.footprint(_mask(grid, plume.rows, plume.cols)))),
        reasons=reasons,
        **_wind_fields(wind),
    )


def _vswir(
    cube: xr.Dataset,
    grid: LineGrid,
    out: LineDetections,
    ids: _Ids,
    wind: Wind | None,
    on_step: Callable[[str], None],
    segmentation: SegmentationSettings | None = None,
) -> AtmosphericCorrection | None:
    where = f"line {out.line_id} (VSWIR)"
    layers: dict[str, tuple[tuple[str, str], NDArray[np.float32], dict[str, str]]] = {}
    dims = ("downtrack", "crosstrack")
    on_step("methane")
    try:
        ch4 = retrieve_methane(cube)
    except InputError as exc:
        out.skipped.append(f"{where}: methane: {exc}")
        ch4 = None
    if ch4 is not None:
        plumes = methane_plumes(ch4, grid.lat, grid.lon, wind=wind, segmentation=segmentation)
        short = short_line_note(ch4)
        caveats = [short] if short else []
        for p in plumes:
            out.detections.append(_methane_detection(p, cube, grid, ids, wind, caveats))
        layers["ch4_ppm_m"] = (
            dims,
            ch4.enhancement,
            {"units": "ppm m", "long_name": "CH4 column enhancement (matched filter)"},
        )
        layers["ch4_sigma_ppm_m"] = (
            dims,
            ch4.sigma,
            {"units": "ppm m", "long_name": "one-sigma noise of the CH4 enhancement"},
        )
        layers["ch4_suppressed"] = (
            dims,
            ch4.suppressed.astype(np.float32),
            {
                "units": "1",
                "long_name": "candidates rejected as false methane: "
                + "; ".join(SUPPRESSION_REASONS.values()),
            },
        )
        out.images.scores["vswir"] = ("CH4 enhancement, ppm·m", ch4.enhancement)
    on_step("camouflage")
    try:
        cam = detect_camouflage(cube)
    except InputError as exc:
        out.skipped.append(f"{where}: camouflage: {exc}")
        cam = None
    if cam is not None:
        for obj in cam.objects:
            out.detections.append(_camouflage_detection(obj, cube, grid, ids))
        layers["tarp_score"] = (
            dims,
            cam.tarps.score,
            {"units": "1", "long_name": "tarp score (ACE, whole spectrum and C-H windows)"},
        )
        layers["clearing_score"] = (
            dims,
            cam.branches.score,
            {
                "units": "1",
                "long_name": "clearing or cut-branch score (enclosed cover contrast, local z)",
            },
        )
    wl = np.asarray(cube["wavelengths"].values, dtype=np.float64)
    bands = [int(np.argmin(np.abs(wl - w))) for w in (640.0, 550.0, 470.0)]
    rgb_rad = np.asarray(cube["radiance"].isel(bands=bands).values, dtype=np.float32)
    out.images.rgb = true_colour(rgb_rad, wl[bands])
    out.images.vswir_grid = grid
    out.score_maps["vswir"] = _score_dataset(layers, grid, cube)
    return cam.correction if cam is not None else None


def _camouflage_detection(
    obj: CamouflageObject, cube: xr.Dataset, grid: LineGrid, ids: _Ids
) -> Detection:
    r, c = _centre_pixel(obj.rows, obj.cols)
    kind: DetectionKind = "tarp" if obj.kind == "tarp" else "clearing"
    lon, lat = (obj.lon, obj.lat) if math.isfinite(obj.lon) else grid.lonlat(r, c)
    reasons = [obj.reason]
    if obj.kind == "branches":
        reasons.insert(0, "cut branches: dry plant matter inside green canopy")
    elif obj.kind == "clearing":
        reasons.insert(0, "clearing: bare ground inside green canopy")
    return Detection(
        id=ids.next("vswir"),
        kind=kind,
        line_id=line_id_of(cube),
        sensor="vswir",
        time=_row_time(cube, r),
        lon=lon,
        lat=lat,
        score=float(np.clip(obj.score, 0.0, 1.0)),
        area_m2=round(obj.area_m2, 1),
        pixel_row=r,
        pixel_col=c,
        n_pixels=int(obj.rows.size),
        footprint=dict(mapping(grid.footprint(_mask(grid, obj.rows, obj.cols)))),
        reasons=reasons,
    )


def _lwir_detection(
    ident: LwirIdentification,
    det: LwirDetection,
    cube: xr.Dataset,
    grid: LineGrid,
    ids: _Ids,
    wind: Wind | None,
) -> Detection:
    mask = _mask(grid, np.asarray(ident.rows), np.asarray(ident.cols))
    details: list[SpeciesFinding] = []
    primary: Plume | None = None
    reasons: list[str] = []
    for f in ident.findings:
        plume = None
        if f.column_ppm_m is not None and f.species in MOLAR_MASS_KG_MOL:
            j = det.species.index(f.species)
            contrast = np.abs(det.thermal_contrast_k[j].astype(np.float64))
            with np.errstate(divide="ignore", invalid="ignore"):
                sigma = det.column_contrast_sigma[j].astype(np.float64) / contrast
            try:
                plume = quantify_plume(
                    mask,
                    det.column[j],
                    sigma,
                    grid.lat,
                    grid.lon,
                    species=f.species,
                    wind=wind,
                )
            except InputError:
                plume = None
        if plume is not None and primary is None:
            primary = plume
        details.append(
            SpeciesFinding(
                name=f.species,
                confidence=float(np.clip(f.confidence, 0.0, 1.0)),
                column_ppm_m=_r(f.column_ppm_m, 2),
                contrast_ppm_m_k=_r(f.column_contrast_ppm_m_k, 2),
                reason=f.reason or "LWIR clutter matched filter and stepwise regression",
                emission_kg_h=None if plume is None else _r(plume.emission_kg_h, 3),
                emission_kg_h_sigma=None if plume is None else _r(plume.emission_kg_h_sigma, 3),
            )
        )
        reasons.append(
            f"{f.species}: C·ΔT {f.column_contrast_ppm_m_k:.0f} ± "
            f"{f.column_contrast_sigma_ppm_m_k:.0f} ppm·m·K, confidence {f.confidence:.2f}"
            + ("" if f.column_ppm_m is not None else f" (no column: {f.reason})")
        )
    reasons.append(
        f"thermal contrast air − ground {ident.thermal_contrast_k:+.1f} K "
        f"(air {ident.air_temperature_k:.1f} K, {det.air_temperature_source})"
    )
    if primary is not None:
        r, c = primary.source_pixel
        lon, lat = primary.source_lonlat
        reasons.append(f"source from the {primary.source_method} of the {primary.species} plume")
        if not primary.source_in_view:
            reasons.append(primary.source_note)
    else:
        r, c = ident.peak
        lon, lat = grid.lonlat(r, c)
        reasons.append("located at the object's strongest pixel (no quantitative column)")
    return Detection(
        id=ids.next("lwir"),
        kind="plume",
        line_id=line_id_of(cube),
        sensor="lwir",
        time=_row_time(cube, r),
        lon=lon,
        lat=lat,
        score=float(np.clip(ident.score, 0.0, 1.0)),
        species=list(ident.species),
        species_detail=details,
        enhancement_ppm_m=None if primary is None else _r(primary.peak_ppm_m, 2),
        emission_kg_h=None if primary is None else _r(primary.emission_kg_h, 3),
        emission_kg_h_sigma=None if primary is None else _r(primary.emission_kg_h_sigma, 3),
        emission_kg_h_measured=None if primary is None else _r(primary.measured_kg_h, 3),
        emission_kg_h_measured_sigma=(
            None if primary is None else _r(primary.measured_kg_h_sigma, 3)
        ),
        emission_kg_h_mass_sigma=(
            None if primary is None else _r(primary.measured_mass_sigma_kg_h, 3)
        ),
        ime_kg=None if primary is None else _r(primary.ime_kg, 5),
        area_m2=round(float(grid.pixel_area_m2[mask].sum()), 1),
        length_m=None if primary is None else _r(primary.length_m, 1),
        source_in_view=True if primary is None else primary.source_in_view,
        pixel_row=int(r),
        pixel_col=int(c),
        n_pixels=int(mask.sum()),
        footprint=dict(mapping(grid.footprint(mask))),
        reasons=reasons,
        **_wind_fields(wind),
    )


def _heat_detection(obj: HotObject, cube: xr.Dataset, grid: LineGrid, ids: _Ids) -> Detection:
    r, c = obj.peak
    lon, lat = (obj.lon, obj.lat) if math.isfinite(obj.lon) else grid.lonlat(r, c)
    return Detection(
        id=ids.next("lwir"),
        kind="thermal",
        line_id=line_id_of(cube),
        sensor="lwir",
        time=_row_time(cube, r),
        lon=lon,
        lat=lat,
        score=float(np.clip(obj.score, 0.0, 1.0)),
        delta_t_k=_r(obj.delta_t_k, 2),
        radiative_power_w=_r(obj.power_w, 1),
        area_m2=round(obj.area_m2, 1),
        pixel_row=int(r),
        pixel_col=int(c),
        n_pixels=int(obj.rows.size),
        footprint=dict(mapping(grid.footprint(_mask(grid, obj.rows, obj.cols)))),
        reasons=[
            obj.reason,
            f"hot part ~{obj.hot_temperature_k:.0f} K over ~{obj.hot_area_m2:.1f} m² "
            f"(sub-pixel fit), background {obj.background_temperature_k:.1f} K",
        ],
    )


def _lwir(
    cube: xr.Dataset,
    grid: LineGrid,
    out: LineDetections,
    ids: _Ids,
    wind: Wind | None,
    on_step: Callable[[str], None],
) -> None:
    where = f"line {out.line_id} (LWIR)"
    dims = ("downtrack", "crosstrack")
    layers: dict[str, tuple[tuple[str, str], NDArray[np.float32], dict[str, str]]] = {}
    on_step("gas plumes (LWIR)")
    try:
        det, _, idents = find_lwir_plumes(
            cube, wind=None if wind is None else (wind.speed_m_s, wind.from_deg)
        )
    except InputError as exc:
        out.skipped.append(f"{where}: gas plumes: {exc}")
    else:
        for ident in idents:
            out.detections.append(_lwir_detection(ident, det, cube, grid, ids, wind))
        layers["gas_score"] = (
            dims,
            det.score,
            {"units": "1", "long_name": "LWIR gas score (best species, Sidak-corrected)"},
        )
        out.images.scores["lwir"] = ("LWIR gas score", det.score)
    on_step("heat")
    try:
        heat = detect_heat(cube)
    except InputError as exc:
        out.skipped.append(f"{where}: heat: {exc}")
    else:
        for obj in heat.fires:
            out.detections.append(_heat_detection(obj, cube, grid, ids))
        layers["heat_score"] = (
            dims,
            heat.score,
            {"units": "1", "long_name": "fire score (contextual test, split-window discriminant)"},
        )
        layers["brightness_temperature_k"] = (
            dims,
            heat.brightness_temperature_k,
            {"units": "K", "long_name": "window brightness temperature"},
        )
        out.images.brightness_k = heat.brightness_temperature_k
    out.images.lwir_grid = grid
    out.score_maps["lwir"] = _score_dataset(layers, grid, cube)


def _score_dataset(
    layers: dict[str, tuple[tuple[str, str], NDArray[np.float32], dict[str, str]]],
    grid: LineGrid,
    cube: xr.Dataset,
) -> xr.Dataset:
    data = {
        k: (dims, np.asarray(v, dtype=np.float32), attrs) for k, (dims, v, attrs) in layers.items()
    }
    return xr.Dataset(
        data,
        coords={
            "lat": (("downtrack", "crosstrack"), grid.lat),
            "lon": (("downtrack", "crosstrack"), grid.lon),
        },
        attrs={
            "flight_line_id": line_id_of(cube),
            "sensor": str(cube.attrs.get("sensor", "")),
            "source": "Vigía detectors (vigia detect)",
        },
    )


def link_detections(detections: list[Detection], link_m: float = LINK_M) -> list[Detection]:
    """Link detections of one place made by different instruments on the same line.

    Parameters
    ----------
    detections : list of Detection
        Detections of one or more lines.
    link_m : float
        Largest distance between two linked detections, m (at least two pixels of the coarser
        grid are allowed, since the two instruments sample the ground on different grids).

    Returns
    -------
    list of Detection
        The same detections (new objects) with ``linked`` holding the ids of the others'.
    """
    links: dict[str, set[str]] = {d.id: set(d.linked) for d in detections}
    for i, a in enumerate(detections):
        for b in detections[i + 1 :]:
            if a.line_id != b.line_id or a.sensor == b.sensor:
                continue
            gate = max(link_m, 2.0 * math.sqrt(max(a.area_m2 / a.n_pixels, b.area_m2 / b.n_pixels)))
            dy = (a.lat - b.lat) * 111_320.0
            dx = (a.lon - b.lon) * 111_320.0 * math.cos(math.radians(a.lat))
            if math.hypot(dx, dy) <= gate:
                links[a.id].add(b.id)
                links[b.id].add(a.id)
    return [d.model_copy(update={"linked": sorted(links[d.id])}) for d in detections]


def detect_line(
    vswir: xr.Dataset | None,
    lwir: xr.Dataset | None,
    *,
    wind: Wind | None = None,
    on_step: Callable[[str], None] | None = None,
    segmentation: SegmentationSettings | None = None,
) -> LineDetections:
    """Run every detector on one line's cubes.

    Parameters
    ----------
    vswir, lwir : xarray.Dataset or None
        The line's cubes in the layout of :mod:`vigia.sense.cube` (as
        :func:`vigia.sense.io.open_cube` returns them); at least one.
    wind : Wind, optional
        10 m wind at the line: plumes are then located from it and their emission rates
        estimated (IME); without it sources come from the plumes' shapes and no rate is given.
    on_step : callable, optional
        Called with the name of each detector before it runs (progress display).
    segmentation : SegmentationSettings, optional
        The methane plume detector's settings; when not given, each line's
        :meth:`~vigia.detect.plumes.SegmentationSettings.for_pixel_size`.

    Returns
    -------
    LineDetections
        Detections (VSWIR and LWIR linked where they see the same place), searched lines,
        score maps and chip images.

    Raises
    ------
    InputError
        No cube, cubes of two lines, a cube without lat/lon or with nothing but NaN, or a cube
        whose sensor is not what its slot says.
    """
    if vswir is None and lwir is None:
        raise InputError("no cube to search")
    ids_seen = {line_id_of(c) for c in (vswir, lwir) if c is not None}
    if len(ids_seen) > 1:
        raise InputError(f"the VSWIR and LWIR cubes belong to different lines: {sorted(ids_seen)}")
    line_id = ids_seen.pop()
    out = LineDetections(line_id=line_id, images=LineImages(line_id))
    ids = _Ids(line_id)
    step = on_step or (lambda _: None)
    vswir_grid = None
    correction = None  # the VSWIR camouflage step's surface reflectance terms, reused below
    for sensor, cube in (("vswir", vswir), ("lwir", lwir)):
        if cube is None:
            continue
        where = f"line {line_id} ({sensor.upper()})"
        if cube.attrs.get("sensor") != sensor:
            raise InputError(f"{where}: the cube's sensor is {cube.attrs.get('sensor')!r}")
        grid = check_cube(cube, where)
        out.searched.append(_searched(cube, grid, sensor))
        if sensor == "vswir":
            vswir_grid = grid
            correction = _vswir(cube, grid, out, ids, wind, step, segmentation)
        else:
            _lwir(cube, grid, out, ids, wind, step)
    if vswir is not None and vswir_grid is not None and out.detections:
        step("land use")
        try:
            around = land_use_around(
                vswir,
                vswir_grid,
                [(d.lon, d.lat) for d in out.detections],
                correction=correction,
            )
        except InputError as exc:
            out.skipped.append(f"line {line_id} (VSWIR): land use: {exc}")
        else:
            out.detections = [
                d.model_copy(update={"land_use": u}) if u else d
                for d, u in zip(out.detections, around, strict=True)
            ]
    out.detections = link_detections(out.detections)
    return out


def wind_at(speed_m_s: float | None, from_deg: float | None) -> Wind | None:
    """Return a :class:`Wind` from optional speed and direction (both or neither).

    Raises
    ------
    InputError
        Only one of the two is given, the speed is ≤ 0 or the direction is not finite.
    """
    if speed_m_s is None and from_deg is None:
        return None
    if speed_m_s is None or from_deg is None:
        raise InputError("wind: give both the speed (m/s) and the direction it blows from (deg)")
    return Wind(float(speed_m_s), float(from_deg))
