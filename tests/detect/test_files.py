"""``vigia detect`` on files: what it writes, what it reads, and what it refuses."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from geojson_pydantic import FeatureCollection

from vigia.detect.detection import read_detections
from vigia.detect.files import detect_files, group_cubes, read_weather
from vigia.errors import FileFormatError, InputError
from vigia.sense.io import write_cube

SAMPLES = Path(__file__).parents[1] / "data" / "cubes"


def write(cube: xr.Dataset, path: Path) -> Path:
    write_cube(cube, path)
    return path


@pytest.fixture()
def flat_pair(tmp_path: Path, flat_cube) -> list[Path]:
    return [
        write(flat_cube("vswir"), tmp_path / "FLAT_vswir.nc"),
        write(flat_cube("lwir"), tmp_path / "FLAT_lwir.nc"),
    ]


def vigia(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigia.cli.main", *args], capture_output=True, text=True
    )


def test_cubes_are_grouped_by_line_and_sensor(flat_pair: list[Path]) -> None:
    groups = group_cubes(flat_pair)
    assert list(groups) == ["FLAT"]
    assert set(groups["FLAT"]) == {"vswir", "lwir"}
    with pytest.raises(InputError, match="already has a VSWIR cube"):
        group_cubes([flat_pair[0], flat_pair[0]])
    with pytest.raises(InputError, match="no cube"):
        group_cubes([])


def test_a_run_writes_a_valid_feature_collection_with_its_lines_and_score_maps(
    flat_pair: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = detect_files(flat_pair, out)
    doc = json.loads(run.detections_path.read_text())
    FeatureCollection.model_validate(doc, strict=True)
    assert doc["type"] == "FeatureCollection"
    assert {ln["sensor"] for ln in doc["lines"]} == {"vswir", "lwir"}
    for ln in doc["lines"]:
        maps = xr.open_dataset(out / ln["score_map"], engine="h5netcdf")
        assert maps["lat"].shape == tuple(ln["shape"])
        maps.close()
        assert (out / ln["score_map"]).with_suffix(".png").exists()
    dets, lines = read_detections(run.detections_path)
    assert len(lines) == 2
    for d in dets:
        assert (out / d.chips["chip"]).exists()


def test_real_layouts_are_read_and_a_line_too_small_for_a_detector_is_skipped_not_fatal(
    tmp_path: Path,
) -> None:
    emit = SAMPLES / "EMIT_L1B_RAD_001_20220810T064957_2222205_033.nc"
    aviris = SAMPLES / "ang20230115t171234_rdn_img.hdr"  # its _loc file is found beside it
    run = detect_files([emit, aviris], tmp_path / "out")
    assert {ln.line_id for ln in run.lines} == {
        "EMIT_L1B_RAD_001_20220810T064957_2222205_033",
        "ang20230115t171234",
    }
    assert run.skipped, "12 x 8 px samples are too small for the methane filter"
    doc = json.loads(run.detections_path.read_text())
    assert doc["type"] == "FeatureCollection"


def test_lines_processed_in_parallel_give_what_one_process_gives(tmp_path: Path) -> None:
    cubes = [
        SAMPLES / "EMIT_L1B_RAD_001_20220810T064957_2222205_033.nc",
        SAMPLES / "ang20230115t171234_rdn_img.hdr",
    ]
    one = detect_files(cubes, tmp_path / "one", chips=False)
    done: list[str] = []
    two = detect_files(cubes, tmp_path / "two", chips=False, jobs=2, on_line=done.append)
    assert sorted(done) == sorted({ln.line_id for ln in one.lines})
    assert [ln.line_id for ln in two.lines] == [ln.line_id for ln in one.lines]
    assert [d.model_dump() for d in two.detections] == [d.model_dump() for d in one.detections]
    assert two.skipped == one.skipped
    with pytest.raises(InputError, match="jobs"):
        detect_files(cubes, tmp_path / "none", jobs=0)


def test_an_envi_cube_without_location_is_refused_and_nothing_is_lost(
    flat_pair: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    detect_files(flat_pair, out)
    before = (out / "detections.geojson").read_bytes()
    hytes = SAMPLES / "20230115t180000_hytes_bip.hdr"
    with pytest.raises(InputError, match="not georeferenced"):
        detect_files([*flat_pair, hytes], out)
    assert (out / "detections.geojson").read_bytes() == before


def test_weather_files_give_each_line_its_wind_and_bad_ones_are_named(tmp_path: Path) -> None:
    good = tmp_path / "weather.json"
    good.write_text(json.dumps({"lines": {"L1": {"wind_speed_m_s": 4.0, "wind_from_deg": 250.0}}}))
    assert read_weather(good)["L1"].speed_m_s == 4.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lines": {"L2": {"wind_speed_m_s": -1, "wind_from_deg": 0}}}))
    with pytest.raises(FileFormatError, match="line L2"):
        read_weather(bad)
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(FileFormatError, match=r"junk\.json"):
        read_weather(tmp_path / "junk.json")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--wind-speed", "0", "--wind-from", "90"], "wind speed must be > 0"),
        (["--wind-speed", "3"], "give both"),
        (["--min-peak-z", "-1"], "min_peak_z must be > 0"),
        (["--false-plumes-per-100km2", "0"], "false_plumes_per_100km2 must be > 0"),
    ],
)
def test_the_command_refuses_a_bad_wind_or_setting_with_exit_code_2(
    flat_pair: list[Path], tmp_path: Path, extra: list[str], message: str
) -> None:
    res = vigia("detect", str(flat_pair[0]), "--out-dir", str(tmp_path / "o"), *extra)
    assert res.returncode == 2
    assert message in res.stderr
    assert not (tmp_path / "o" / "detections.geojson").exists()


def test_the_command_refuses_unknown_units_naming_the_file(tmp_path: Path) -> None:
    src = SAMPLES / "EMIT_L1B_RAD_001_20220810T064957_2222205_033.nc"
    path = tmp_path / "odd_units.nc"
    shutil.copy(src, path)
    import h5py

    with h5py.File(path, "r+") as f:
        f["radiance"].attrs["units"] = "furlongs"
    res = vigia("detect", str(path), "--out-dir", str(tmp_path / "o"))
    assert res.returncode == 2
    assert "odd_units.nc" in res.stderr and "units" in res.stderr


def test_the_command_runs_on_a_featureless_line_and_writes_an_empty_collection(
    flat_pair: list[Path], tmp_path: Path
) -> None:
    res = vigia("detect", *map(str, flat_pair), "--out-dir", str(tmp_path / "o"), "--no-chips")
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "o" / "detections.geojson").read_text())
    assert [f for f in doc["features"] if f["properties"]["kind"] in ("plume", "thermal")] == []
    assert np.isclose(sum(ln["area_km2"] for ln in doc["lines"]), 2 * doc["lines"][0]["area_km2"])


def test_the_command_refuses_an_all_nan_line_naming_the_file(tmp_path: Path, flat_cube) -> None:
    cube = flat_cube("vswir")
    empty = cube.copy(data={"radiance": np.full(cube["radiance"].shape, np.nan, np.float32)})
    path = write(empty, tmp_path / "empty_vswir.nc")
    res = vigia("detect", str(path), "--out-dir", str(tmp_path / "o"))
    assert res.returncode == 2, res.stderr
    assert "empty_vswir.nc" in res.stderr
    assert "NaN" in res.stderr or "masked" in res.stderr
