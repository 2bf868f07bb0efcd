"""LWIR process-chemical plumes: detection, identification, quantification and their limits.

Plumes are implanted into one rendered, plume-free HyTES-class line (256 bands, NEDT 0.2 K,
6 km above ground, 10 m pixels) over a rural lab's clearing at local noon, through the plume
layer model (``L' = L + τ_a (1 − e^{−Σ k C}) (B(T_air) − L_ground)``) with Gaussian-plume
columns from :func:`vigia.sense.plume.column_ppm_m` in the scene's own wind. The test rates
sit well above the detection limit the benchmark measures (``bench/lwir_pd.py``): at the
scenario's rural rates (~1.5 kg/h) a solvent plume is below this sensor's noise at this height,
and the detector must say so rather than report it.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import numpy as np
import pytest
import xarray as xr

from vigia.detect.lwir import (
    LwirDetection,
    LwirIdentification,
    LwirPlumeScan,
    detect_lwir,
    find_lwir_plumes,
    identify_lwir,
    identify_objects,
    identify_plume_candidates,
    lwir_library,
    plume_kernel,
    scan_lwir_plumes,
    segment_lwir,
    statistic_threshold,
)
from vigia.errors import InputError
from vigia.platform import load_platform
from vigia.sense.atmosphere import lwir_atmosphere
from vigia.sense.cube import make_cube
from vigia.sense.detector import apply_detector, lwir_detector
from vigia.sense.gas import lwir_absorbance
from vigia.sense.plume import column_ppm_m
from vigia.sense.render import MOLAR_MASS_KG_MOL, RenderedLine, render_line, sensor_bands
from vigia.sense.thermal import planck_radiance
from vigia.world.scenario import load_scenario
from vigia.world.sites import Site
from vigia.world.world import World, build_world, solar_elevation

NOON = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)  # local solar noon over Sinaloa
ALTITUDE_M = 6000.0
PLATFORM = load_platform("mq9")
TABLE = {"ethyl acetate": "ethyl_acetate", "NH3": "ammonia"}

# Emission rates (kg/h) the tests implant: each about twice the rate at which this sensor, at
# this height, finds and names the species in this scene (bench/lwir_pd.py measures PD).
TEST_RATES = {
    "acetone": 400.0,
    "isopropanol": 200.0,
    "ethyl acetate": 100.0,
    "chloroform": 500.0,
    "NH3": 60.0,
}


def lab_world(seed: int = 0, emissions: dict[str, float] | None = None) -> tuple[World, Site]:
    world = build_world(load_scenario("sinaloa"), seed=seed)
    site = next(s for s in world.sites if s.kind == "rural_lab")
    site = dataclasses.replace(site, emissions_kg_h=emissions or {}, duty_cycle=1.0)
    return dataclasses.replace(world, sites=(site,)), site


def render(world: World, site: Site, time: datetime) -> RenderedLine:
    # Fly north over the site, which sits 300 m into the line.
    return render_line(
        world,
        (site.lon, site.lat - 0.0027),
        (site.lon, site.lat + 0.05),
        line_id="T-LWIR",
        time=time,
        instrument="lwir",
        platform=PLATFORM,
        sensor_name="hytes",
        altitude_m=ALTITUDE_M,
        max_frames=160,
        crosstrack_pixels=80,
        seed=7,
    )


def air_temperature(site: Site, time: datetime) -> float:
    # The renderer's near-surface air temperature (dry season, foothills), which plumes take.
    elev = solar_elevation(site.lon, site.lat, time)
    return 291.0 + 12.0 * max(0.0, math.sin(math.radians(max(0.0, elev))))


@dataclasses.dataclass(frozen=True)
class Scene:
    world: World
    site: Site
    line: RenderedLine


@pytest.fixture(scope="module")
def scene() -> Scene:
    world, site = lab_world()
    return Scene(world, site, render(world, site, NOON))


def implant(scene: Scene, rates_kg_h: dict[str, float]) -> tuple[xr.Dataset, dict[str, np.ndarray]]:
    """Add Gaussian plumes from the site to the plume-free line, through the plume layer model."""
    cube = scene.line.cube
    wl, fwhm = cube["wavelengths"].values, cube["fwhm"].values
    atm = lwir_atmosphere(wl, fwhm, sensor_altitude_m=ALTITUDE_M)
    lon, lat = cube["lon"].values, cube["lat"].values
    xy = scene.world.frame.to_xy(np.column_stack([lon.ravel(), lat.ravel()]))
    x, y = xy[:, 0].reshape(lon.shape), xy[:, 1].reshape(lon.shape)
    source = scene.world.frame.to_xy(np.array([[scene.site.lon, scene.site.lat]]))[0]
    wind = scene.world.wind_at(NOON)
    columns = {}
    depth = np.zeros(cube["radiance"].shape)
    for species, rate in rates_kg_h.items():
        columns[species] = column_ppm_m(
            x,
            y,
            emission_rate_kg_s=rate / 3600.0,
            wind_speed_m_s=wind.speed_m_s,
            wind_from_deg=wind.from_deg,
            stability=wind.stability,
            molar_mass_kg_mol=MOLAR_MASS_KG_MOL[species],
            source_xy_m=(float(source[0]), float(source[1])),
        )
        k = lwir_absorbance(TABLE.get(species, species), wl, fwhm)
        depth += columns[species][..., None] * k
    radiance = cube["radiance"].values.astype(np.float64)
    ground = (radiance - atm.path_radiance) / np.maximum(atm.transmittance, 1e-6)
    plume = planck_radiance(wl, air_temperature(scene.site, NOON))
    radiance += atm.transmittance * -np.expm1(-depth) * (plume - ground)
    out = cube.copy()
    out["radiance"] = (cube["radiance"].dims, radiance.astype(np.float32), cube["radiance"].attrs)
    return out, columns


def plume_objects(det: LwirDetection, column: np.ndarray) -> list:
    """Identified objects lying on the plume (most of their pixels over 0.5 ppm·m)."""
    found = identify_objects(det, segment_lwir(det))
    return [o for o in found if np.mean(column[np.array(o.rows), np.array(o.cols)] > 0.5) >= 0.5]


@pytest.fixture(scope="module")
def background(scene: Scene) -> LwirDetection:
    return detect_lwir(scene.line.cube, sensor_altitude_m=ALTITUDE_M)


# --- what a plume-free line gives ----------------------------------------------------------------


def test_a_plume_free_line_gives_no_finding(background: LwirDetection) -> None:
    objects = identify_objects(background, segment_lwir(background))
    assert [o.species for o in objects if o.findings] == []


def test_the_per_pixel_false_alarm_rate_on_a_plume_free_line_is_near_nominal(
    background: LwirDetection,
) -> None:
    judged = background.valid & ~background.anomalous
    assert judged.mean() > 0.9, "most pixels are judged"
    for pfa in (1e-2, 1e-3):
        thr = statistic_threshold(pfa, len(background.species))
        rate = float(np.mean(background.statistic[judged] >= thr))
        assert rate < 3 * pfa, f"exceedance {rate:.2e} at nominal {pfa:g}"


def test_scores_lie_in_0_1_and_maps_have_the_cube_layout(background: LwirDetection) -> None:
    n_rows, n_cols = background.valid.shape
    assert background.column_contrast.shape == (len(background.species), n_rows, n_cols)
    score = background.score[background.valid]
    assert np.all((score >= 0.0) & (score <= 1.0))
    ds = background.to_dataset()
    assert ds["column"].dims == ("species", "downtrack", "crosstrack")
    assert list(ds["species"].values) == list(background.species)


def test_the_air_temperature_is_estimated_within_2_k(
    scene: Scene, background: LwirDetection
) -> None:
    assert background.air_temperature_source.startswith("estimated")
    assert background.air_temperature_k == pytest.approx(air_temperature(scene.site, NOON), abs=2.0)


# --- each quantitative solvent is found and named --------------------------------------------


@pytest.mark.parametrize("species", ["acetone", "chloroform", "isopropanol", "ethyl acetate"])
def test_a_quantitative_solvent_plume_is_found_named_and_quantified(
    scene: Scene, species: str
) -> None:
    cube, columns = implant(scene, {species: TEST_RATES[species]})
    det = detect_lwir(cube, sensor_altitude_m=ALTITUDE_M)
    on_plume = plume_objects(det, columns[species])
    assert on_plume, f"{species} at {TEST_RATES[species]:g} kg/h makes an object"
    best = max(on_plume, key=lambda o: o.score)
    assert best.species == (species,), "named, and alone"
    finding = best.findings[0]
    assert finding.confidence > 0.9
    assert finding.quantitative and finding.reason is None
    assert finding.column_contrast_ppm_m_k < 0, "noon: the plume is cooler than the ground"
    assert finding.column_ppm_m is not None
    truth = float(np.mean(columns[species][np.array(best.rows), np.array(best.cols)]))
    assert 0.4 * truth < finding.column_ppm_m < 2.5 * truth


def test_dichloromethane_is_named_where_clutter_does_not_hide_it() -> None:
    # Its strong bands lie in the water-vapour band (7.9 µm) and beyond HyTES (13.3 µm); what
    # is left near 8 µm is weak and shaped like the atmosphere's edge, so over the rendered
    # scene it is out of reach at any plausible rate (the benchmark says so). Over a uniform
    # ground its signature is still told from the other eight.
    cube, column = flat_scene(ground_k=303.0, species="dichloromethane", peak_ppm_m=3000.0)
    det = detect_lwir(cube, sensor_altitude_m=ALTITUDE_M, air_temperature_k=295.0)
    on_plume = plume_objects(det, column)
    assert on_plume
    best = max(on_plume, key=lambda o: o.score)
    assert best.species == ("dichloromethane",)
    finding = best.findings[0]
    assert finding.column_ppm_m is not None
    truth = float(np.mean(column[np.array(best.rows), np.array(best.cols)]))
    assert 0.4 * truth < finding.column_ppm_m < 2.5 * truth


def on_plume(obj: LwirIdentification, column: np.ndarray) -> float:
    """Share of an object on the plume (column > 0.5 ppm·m), weighted by its template if any."""
    on = column[np.array(obj.rows), np.array(obj.cols)] > 0.5
    w = np.ones(on.shape) if obj.template is None else np.array(obj.template)
    return float(np.sum(w * on) / np.sum(w))


def test_a_two_solvent_mixture_is_reported_as_both(scene: Scene) -> None:
    rates = {"acetone": TEST_RATES["acetone"], "isopropanol": TEST_RATES["isopropanol"]}
    cube, columns = implant(scene, rates)
    _, labels, plumes = find_lwir_plumes(cube, sensor_altitude_m=ALTITUDE_M)
    column = columns["acetone"] + columns["isopropanol"]
    assert plumes, "the mixture is found"
    assert all(on_plume(p, column) >= 0.5 for p in plumes), "every plume found lies on it"
    assert set(plumes[0].species) == {"acetone", "isopropanol"}
    assert all(set(p.species) <= {"acetone", "isopropanol"} for p in plumes)
    assert int(labels.max()) == len(plumes)


def test_ammonia_is_named_with_a_shape_only_reason_instead_of_a_column(scene: Scene) -> None:
    cube, columns = implant(scene, {"NH3": TEST_RATES["NH3"]})
    det = detect_lwir(cube, sensor_altitude_m=ALTITUDE_M)
    on_plume = plume_objects(det, columns["NH3"])
    assert on_plume
    finding = max(on_plume, key=lambda o: o.score).findings[0]
    assert finding.species == "NH3"
    assert not finding.quantitative
    assert finding.column_ppm_m is None
    assert finding.reason is not None and finding.reason.startswith("shape only")
    assert finding.column_contrast_ppm_m_k < 0
    assert bool(np.all(np.isnan(det.column[det.species.index("NH3")])))


# --- limits: what cannot be seen is not reported -----------------------------------------------


def test_at_the_scenario_rate_a_solvent_is_below_the_noise_and_nothing_is_claimed(
    scene: Scene,
) -> None:
    # A rural lab's median: 1.5 kg/h of acetone. The column it leaves is far below the
    # column this sensor needs at this height, which the detection map states.
    cube, columns = implant(scene, {"acetone": 1.5})
    det = detect_lwir(cube, sensor_altitude_m=ALTITUDE_M)
    objects = identify_objects(det, segment_lwir(det))
    assert [o.species for o in objects if o.findings] == []
    j = det.species.index("acetone")
    plume = columns["acetone"] > 1.0
    needed = np.nanmedian(det.min_detectable_column[j][plume])
    assert needed > 10 * columns["acetone"].max()


def flat_scene(
    ground_k: float, *, plume_k: float = 295.0, peak_ppm_m: float = 500.0, species: str = "acetone"
) -> tuple[xr.Dataset, np.ndarray]:
    """A blackbody ground at one temperature (±0.3 K) under a plume at ``plume_k``."""
    wl, fwhm = sensor_bands(PLATFORM.sensor("hytes"))
    atm = lwir_atmosphere(wl, fwhm, sensor_altitude_m=ALTITUDE_M)
    rng = np.random.default_rng(11)
    rows, cols = np.mgrid[:160, :48]
    ground = ground_k + rng.normal(0.0, 0.3, rows.shape)
    column = peak_ppm_m * np.exp(-((rows - 80) ** 2 / 450.0 + (cols - 24) ** 2 / 32.0))
    tau_p = np.exp(-column[..., None] * lwir_absorbance(species, wl, fwhm))
    leaving = tau_p * planck_radiance(wl, ground) + (1.0 - tau_p) * planck_radiance(wl, plume_k)
    radiance = atm.transmittance * leaving + atm.path_radiance
    nedt = planck_radiance(wl, ground_k + 0.1) - planck_radiance(wl, ground_k - 0.1)
    radiance += nedt * rng.normal(0.0, 1.0, radiance.shape)
    cube = make_cube(
        radiance, wl, fwhm=fwhm, units="W m-2 sr-1 um-1", sensor="lwir", flight_line_id="T-FLAT"
    )
    return cube, column


@pytest.fixture(scope="module")
def warm_flat() -> tuple[LwirDetection, np.ndarray]:
    cube, column = flat_scene(ground_k=303.0)
    return detect_lwir(cube, sensor_altitude_m=ALTITUDE_M, air_temperature_k=295.0), column


def test_the_same_plume_over_warmer_ground_is_found(
    warm_flat: tuple[LwirDetection, np.ndarray],
) -> None:
    det, column = warm_flat
    on_plume = plume_objects(det, column)
    assert on_plume and on_plume[0].species == ("acetone",)
    assert on_plume[0].detectable


def test_a_plume_at_zero_thermal_contrast_is_undetectable_not_hallucinated() -> None:
    # Ground, air and plume at 295 K: the gas neither absorbs nor emits visibly.
    cube, column = flat_scene(ground_k=295.0)
    det = detect_lwir(cube, sensor_altitude_m=ALTITUDE_M, air_temperature_k=295.0)
    objects = identify_objects(det, segment_lwir(det))
    assert [o.species for o in objects if o.findings] == []
    plume = column > 50.0
    ident = identify_lwir(det, plume)
    assert not ident.detectable
    assert ident.reason is not None and "undetectable" in ident.reason
    assert ident.findings == ()
    j = det.species.index("acetone")
    # Pixel noise (0.3 K of ground, NEDT) leaves a few pixels past 1 K of contrast, no more.
    assert np.mean(np.isnan(det.column[j][plume])) > 0.95
    assert np.mean(np.isinf(det.min_detectable_column[j][plume])) > 0.95


# --- bad input -------------------------------------------------------------------------------


def small_cube(wavelengths: np.ndarray, *, sensor: str = "lwir", fill: float | None = None):
    rng = np.random.default_rng(0)
    t = 300.0 + rng.normal(0.0, 1.0, (12, 6))
    radiance = 0.7 * planck_radiance(np.clip(wavelengths, 7000.0, None), t) + 2.5
    if fill is not None:
        radiance[:] = fill
    units = "W m-2 sr-1 um-1" if sensor == "lwir" else "uW cm-2 sr-1 nm-1"
    return make_cube(
        radiance,
        wavelengths,
        fwhm=np.full(wavelengths.shape, 50.0),
        units=units,
        sensor=sensor,
        flight_line_id="BAD-L1",
    )


def test_a_vswir_cube_is_refused_with_the_line_and_the_sensor_named() -> None:
    cube = small_cube(np.linspace(7500.0, 12000.0, 40), sensor="vswir")
    with pytest.raises(InputError, match=r"BAD-L1.*sensor is 'vswir'"):
        detect_lwir(cube)


def test_a_cube_without_bands_in_7_to_13_um_is_refused() -> None:
    cube = small_cube(np.linspace(3000.0, 5000.0, 40))
    with pytest.raises(InputError, match=r"BAD-L1.*only 0 good bands.*3000–5000 nm"):
        detect_lwir(cube)


def test_an_all_nan_cube_is_refused() -> None:
    cube = small_cube(np.linspace(7500.0, 12000.0, 40), fill=np.nan)
    with pytest.raises(InputError, match=r"BAD-L1.*NaN .* every pixel"):
        detect_lwir(cube)


def test_a_mask_of_the_wrong_shape_is_refused(background: LwirDetection) -> None:
    with pytest.raises(InputError, match="mask shape"):
        identify_lwir(background, np.ones((3, 3), dtype=bool))


def test_an_unknown_species_is_refused() -> None:
    with pytest.raises(KeyError, match="no LWIR absorption data"):
        lwir_library([8200.0], 17.6, ["unobtainium"])


def test_false_alarm_rates_outside_0_1_are_refused() -> None:
    with pytest.raises(InputError, match="pfa"):
        statistic_threshold(0.0, 3)


# --- plume-shaped spatial matched filter --------------------------------------------------------

GSD_M = 10.0
WEDGE_SOURCE = (40, 32)  # (row, col) of the source in wedge_scene
WEDGE_WIND_FROM = 200.0  # the plume travels towards 20°


def wedge_scene(
    rate_kg_h: float, *, seed: int = 3, stripes: bool = False
) -> tuple[xr.Dataset, np.ndarray]:
    """A mean Gaussian plume (class B, 3 m/s) over a 303 K blackbody ground, air at 295 K.

    160 × 64 pixels of 10 m, rows towards the north; NEDT 0.2 K; georeferenced.
    """
    wl, fwhm = sensor_bands(PLATFORM.sensor("hytes"))
    atm = lwir_atmosphere(wl, fwhm, sensor_altitude_m=ALTITUDE_M)
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:160, :64]
    x, y = cols * GSD_M, rows * GSD_M
    column = np.zeros(rows.shape)
    if rate_kg_h > 0:
        column = column_ppm_m(
            x,
            y,
            emission_rate_kg_s=rate_kg_h / 3600.0,
            wind_speed_m_s=3.0,
            wind_from_deg=WEDGE_WIND_FROM,
            stability="B",
            molar_mass_kg_mol=MOLAR_MASS_KG_MOL["acetone"],
            source_xy_m=(WEDGE_SOURCE[1] * GSD_M + 3.0, WEDGE_SOURCE[0] * GSD_M + 3.0),
        )
    ground = 303.0 + rng.normal(0.0, 0.3, rows.shape)
    tau_p = np.exp(-column[..., None] * lwir_absorbance("acetone", wl, fwhm))
    leaving = tau_p * planck_radiance(wl, ground) + (1.0 - tau_p) * planck_radiance(wl, 295.0)
    radiance = atm.transmittance * leaving + atm.path_radiance
    if stripes:
        # Pushbroom column gains and offsets 4 times the sensor model's default.
        model = lwir_detector(64, wl, nedt_k=0.2, gain_sd=0.02, offset_sd=0.04, seed=seed)
        radiance = apply_detector(radiance, model, rng).astype(np.float64)
    else:
        nedt = planck_radiance(wl, 303.1) - planck_radiance(wl, 302.9)
        radiance += nedt * rng.normal(0.0, 1.0, radiance.shape)
    lat = 25.0 + y / 111_195.0
    lon = -107.3 + x / (111_195.0 * math.cos(math.radians(25.0)))
    cube = make_cube(
        radiance,
        wl,
        fwhm=fwhm,
        units="W m-2 sr-1 um-1",
        sensor="lwir",
        flight_line_id="T-WEDGE",
        lat=lat,
        lon=lon,
    )
    return cube, column


def wedge_detection(rate_kg_h: float, **options: bool) -> tuple[LwirDetection, np.ndarray]:
    cube, column = wedge_scene(rate_kg_h, **options)
    return detect_lwir(cube, sensor_altitude_m=ALTITUDE_M, air_temperature_k=295.0), column


@pytest.fixture(scope="module")
def faint() -> tuple[LwirDetection, np.ndarray, LwirPlumeScan]:
    # 60 kg/h: no pixel is past the per-pixel threshold, the plume as a whole is.
    det, column = wedge_detection(60.0)
    return det, column, scan_lwir_plumes(det)


@pytest.fixture(scope="module")
def empty() -> tuple[LwirDetection, LwirPlumeScan]:
    # Plume-free, with pushbroom column gains and offsets 4 times the sensor model's.
    det, _ = wedge_detection(0.0, stripes=True)
    return det, scan_lwir_plumes(det)


def test_a_plume_kernel_widens_downwind_with_the_same_mass_across_it() -> None:
    k = plume_kernel(90.0, 30.0, 0.2)  # towards the east: along the columns
    r, c = k.shape[0] // 2, k.shape[1] // 2  # the source
    assert k[r, c + 10] > 0 and k[r, c - 10] == 0, "downwind only"
    crosswind = [k[:, c + s] for s in (10, 20, 30)]
    width = [np.sum(p > 0.5 * p.max()) for p in crosswind]
    assert width[0] < width[1] < width[2]
    mass = [p.sum() for p in crosswind]  # mass flux: ∫ column dn the same at every distance
    assert max(mass) / min(mass) < 1.1


def test_a_plume_kernel_follows_the_ground_axes_of_the_pixels() -> None:
    north = plume_kernel(0.0, 20.0, 0.1)  # default: rows towards the north
    south_rows = plume_kernel(0.0, 20.0, 0.1, pixel_axes=[[0.0, -10.0], [10.0, 0.0]])
    r, c = north.shape[0] // 2, north.shape[1] // 2
    assert north[r + 15, c] > 0 and north[r - 15, c] == 0
    r, c = south_rows.shape[0] // 2, south_rows.shape[1] // 2
    assert south_rows[r - 15, c] > 0 and south_rows[r + 15, c] == 0
    with pytest.raises(InputError, match="pixel_axes"):
        plume_kernel(0.0, 20.0, 0.1, pixel_axes=[[1.0, 0.0], [2.0, 0.0]])
    with pytest.raises(InputError, match="opening"):
        plume_kernel(0.0, 20.0, 0.0)


def test_the_scan_finds_and_names_a_plume_no_single_pixel_shows(
    faint: tuple[LwirDetection, np.ndarray, LwirPlumeScan],
) -> None:
    det, column, scan = faint
    pixel_chain = identify_objects(det, segment_lwir(det))
    assert [o.species for o in pixel_chain if o.findings] == [], "below the per-pixel chain"
    plumes = [o for o in identify_plume_candidates(det, scan) if o.findings]
    assert len(plumes) == 1
    best = plumes[0]
    assert best.species == ("acetone",)
    assert best.kernel is not None and best.scan_statistic is not None
    assert best.scan_statistic > scan.threshold
    assert on_plume(best, column) > 0.5
    assert math.dist(best.peak, WEDGE_SOURCE) <= 4.0, "anchored at the source"
    towards = (WEDGE_WIND_FROM + 180.0) % 360.0
    assert abs((best.kernel.bearing_deg - towards + 180.0) % 360.0 - 180.0) <= 30.0
    finding = best.findings[0]
    assert finding.column_contrast_ppm_m_k < 0, "cooler plume over warmer ground"
    truth = float(np.mean(column[np.array(best.rows), np.array(best.cols)]))
    assert finding.column_ppm_m is not None
    assert 0.5 * truth < finding.column_ppm_m < 2.0 * truth


def test_a_plume_free_striped_line_gives_no_candidate_past_the_threshold(
    empty: tuple[LwirDetection, LwirPlumeScan],
) -> None:
    det, scan = empty
    assert float(np.nanmax(scan.statistic)) < scan.threshold
    assert identify_plume_candidates(det, scan) == []
    assert np.all(scan.tail_scale < 1.25), "noise alone: a normal tail"


def test_the_threshold_follows_the_target_false_alarm_rate(
    empty: tuple[LwirDetection, LwirPlumeScan],
) -> None:
    det, scan = empty
    strict = scan_lwir_plumes(det, false_alarms_per_100_km2=0.01)
    assert strict.threshold > scan.threshold
    assert strict.pixel_size_m == pytest.approx(GSD_M, rel=0.01)
    # Bonferroni: the per-test rate times the tests per 100 km² is the target.
    area = det.valid.size * GSD_M**2 / 1e8
    target = scan.false_alarms_per_100_km2
    assert scan.p_test * scan.n_tests / area == pytest.approx(target, rel=0.02)


def test_a_wind_keeps_the_templates_downwind_and_still_finds_the_plume(
    faint: tuple[LwirDetection, np.ndarray, LwirPlumeScan],
) -> None:
    det, column, scan = faint
    windy = scan_lwir_plumes(det, wind=(3.0, WEDGE_WIND_FROM), wind_uncertainty_deg=30.0)
    towards = (WEDGE_WIND_FROM + 180.0) % 360.0
    off = [abs((k.bearing_deg - towards + 180.0) % 360.0 - 180.0) for k in windy.kernels]
    assert max(off) <= 30.0 + 1e-9
    assert len(windy.kernels) < len(scan.kernels) / 4
    assert windy.threshold < scan.threshold, "fewer tests, lower threshold"
    plumes = [o for o in identify_plume_candidates(det, windy) if o.findings]
    assert plumes and plumes[0].species == ("acetone",)
    assert on_plume(plumes[0], column) > 0.5


def test_a_wind_needs_a_georeferenced_cube(warm_flat: tuple[LwirDetection, np.ndarray]) -> None:
    det, _ = warm_flat
    assert det.pixel_axes_m is None
    with pytest.raises(InputError, match="georeferenced"):
        scan_lwir_plumes(det, wind=(3.0, 200.0))
    with pytest.raises(InputError, match="false_alarms_per_100_km2"):
        scan_lwir_plumes(det, false_alarms_per_100_km2=0.0)


def test_a_species_mimicked_all_over_the_line_gets_a_higher_threshold(
    faint: tuple[LwirDetection, np.ndarray, LwirPlumeScan],
) -> None:
    # Thirty 3 × 3 patches of acetone-like absorption scattered over the line (as the edges
    # of a river mimic a weak signature): acetone's scan map has a heavy tail, and one plume
    # does not.
    cube, _ = wedge_scene(0.0)
    wl, fwhm = cube["wavelengths"].values, cube["fwhm"].values
    atm = lwir_atmosphere(wl, fwhm, sensor_altitude_m=ALTITUDE_M)
    radiance = cube["radiance"].values.astype(np.float64)
    patches = np.zeros(radiance.shape[:2])
    rng = np.random.default_rng(5)
    for _ in range(30):
        r, c = int(rng.integers(3, 157)), int(rng.integers(3, 61))
        patches[r - 1 : r + 2, c - 1 : c + 2] = 300.0
    ground = (radiance - atm.path_radiance) / atm.transmittance
    depth = patches[..., None] * lwir_absorbance("acetone", wl, fwhm)
    radiance += atm.transmittance * -np.expm1(-depth) * (planck_radiance(wl, 295.0) - ground)
    cube["radiance"] = (cube["radiance"].dims, radiance.astype(np.float32))
    cube["radiance"].attrs["units"] = "W m-2 sr-1 um-1"
    det = detect_lwir(cube, sensor_altitude_m=ALTITUDE_M, air_temperature_k=295.0)
    scan = scan_lwir_plumes(det)
    j = det.species.index("acetone")
    assert scan.tail_scale[j] > 1.5
    assert faint[2].tail_scale[j] < 1.1, "a single plume does not raise its own threshold"


# --- surfaces whose emissivity mimics a gas ------------------------------------------------------

QUARTZ_PATCH = (55, 32, 12)  # (row, col, side) of a square of quartz-rich soil


def quartz_dip(wl: np.ndarray, depth: float) -> np.ndarray:
    """Emissivity lost by a quartz-rich soil against its surroundings.

    The silicate reststrahlen doublet (minima near 8.3 and 9.2 µm, a weak one near 12.6 µm;
    Salisbury & D'Aria 1992) drawn as Lorentzian lobes: another shape than the Gaussian lobes
    the detector fits, as a real soil's would be.
    """
    um = wl / 1000.0

    def lobe(centre: float, fwhm: float) -> np.ndarray:
        return 1.0 / (1.0 + ((um - centre) / (fwhm / 2.0)) ** 2)

    return depth * (0.8 * lobe(8.3, 0.45) + lobe(9.2, 0.5) + 0.15 * lobe(12.6, 0.4))


def quartz_scene(rate_kg_h: float, species: str = "isopropanol") -> tuple[xr.Dataset, np.ndarray]:
    """Grey soil (ε 0.97, 318 ± 0.5 K) with a quartz-rich patch, air at 295 K, 160 × 64 px.

    Ground 23 K warmer than the air, as over bare soil by day: a solvent plume from a source
    just upwind of the patch absorbs over it (georeferenced, 10 m pixels, NEDT 0.2 K).
    """
    wl, fwhm = sensor_bands(PLATFORM.sensor("hytes"))
    atm = lwir_atmosphere(wl, fwhm, sensor_altitude_m=ALTITUDE_M)
    rng = np.random.default_rng(7)
    rows, cols = np.mgrid[:160, :64]
    r0, c0, side = QUARTZ_PATCH
    ground = 318.0 + rng.normal(0.0, 0.5, rows.shape)
    emissivity = np.full((*rows.shape, wl.size), 0.97)
    patch = (np.abs(rows - r0) < side // 2) & (np.abs(cols - c0) < side // 2)
    emissivity[patch] -= quartz_dip(wl, 0.03)
    column = np.zeros(rows.shape)
    if rate_kg_h > 0:
        column = column_ppm_m(
            cols * GSD_M,
            rows * GSD_M,
            emission_rate_kg_s=rate_kg_h / 3600.0,
            wind_speed_m_s=3.0,
            wind_from_deg=200.0,
            stability="B",
            molar_mass_kg_mol=MOLAR_MASS_KG_MOL[species],
            source_xy_m=((c0 - 2) * GSD_M + 3.0, (r0 - 5) * GSD_M + 3.0),
        )
    tau_p = np.exp(-column[..., None] * lwir_absorbance(TABLE.get(species, species), wl, fwhm))
    soil = emissivity * planck_radiance(wl, ground) + (1.0 - emissivity) * atm.downwelling_radiance
    leaving = tau_p * soil + (1.0 - tau_p) * planck_radiance(wl, 295.0)
    radiance = atm.transmittance * leaving + atm.path_radiance
    nedt = planck_radiance(wl, 318.1) - planck_radiance(wl, 317.9)
    radiance += nedt * rng.normal(0.0, 1.0, radiance.shape)
    lat = 25.0 + rows * GSD_M / 111_195.0
    lon = -107.3 + cols * GSD_M / (111_195.0 * math.cos(math.radians(25.0)))
    cube = make_cube(
        radiance,
        wl,
        fwhm=fwhm,
        units="W m-2 sr-1 um-1",
        sensor="lwir",
        flight_line_id="T-QUARTZ",
        lat=lat,
        lon=lon,
    )
    return cube, column


def test_a_quartz_rich_soil_patch_is_a_surface_not_a_solvent() -> None:
    # Its reststrahlen bands overlap isopropanol's, acetone's and chloroform's: the scan
    # finds the patch, and identification reports it as a surface with no finding.
    det = detect_lwir(quartz_scene(0.0)[0], sensor_altitude_m=ALTITUDE_M, air_temperature_k=295.0)
    candidates = identify_plume_candidates(det, scan_lwir_plumes(det))
    assert candidates, "the patch is strong enough to pass the scan threshold"
    assert [o.species for o in candidates] == [()] * len(candidates)
    r0, c0, _ = QUARTZ_PATCH
    on_patch = [o for o in candidates if abs(o.peak[0] - r0) < 12 and abs(o.peak[1] - c0) < 12]
    assert on_patch and on_patch[0].reason is not None and "quartz" in on_patch[0].reason


def test_a_solvent_plume_over_quartz_rich_soil_is_still_named() -> None:
    cube, column = quartz_scene(300.0)
    _, _, plumes = find_lwir_plumes(cube, sensor_altitude_m=ALTITUDE_M, air_temperature_k=295.0)
    assert plumes and plumes[0].species == ("isopropanol",)
    assert on_plume(plumes[0], column) >= 0.5
