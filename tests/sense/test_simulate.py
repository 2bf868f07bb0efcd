"""``vigia simulate``: the planned lines flown over the world, written as files."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vigia.sense.io import open_cube


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigia.cli.main",
            "simulate",
            "--scenario",
            "sinaloa",
            "--out-dir",
            str(out),
            "--max-lines",
            "1",
            "--max-frames",
            "40",
            "--crosstrack",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    return out


def test_each_line_has_both_instruments_truth_and_a_quicklook(simulated: Path) -> None:
    names = {p.name for p in (simulated / "lines").iterdir()}
    assert names == {"S01-L001_vswir.nc", "S01-L001_lwir.nc", "S01-L001.png"}
    assert (simulated / "truth" / "S01-L001.nc").exists()
    assert (simulated / "truth" / "S01-L001_lwir.nc").exists()


def test_cubes_open_in_the_emit_layout_with_their_units(simulated: Path) -> None:
    v = open_cube(simulated / "lines" / "S01-L001_vswir.nc")
    lw = open_cube(simulated / "lines" / "S01-L001_lwir.nc")
    assert v["radiance"].dims == ("downtrack", "crosstrack", "bands")
    assert v.attrs["sensor"] == "vswir" and lw.attrs["sensor"] == "lwir"
    assert v["radiance"].shape[:2] == (40, 60)
    assert float(v["wavelengths"].min()) < 400 and float(lw["wavelengths"].max()) > 11_000
    assert np.isfinite(v["lat"].values).all()


def test_truth_holds_ch4_on_the_line_grid_and_the_sites_file(simulated: Path) -> None:
    truth = xr.open_dataset(simulated / "truth" / "S01-L001.nc", engine="h5netcdf")
    assert "ch4" in truth and truth["ch4"].shape == (40, 60)
    assert truth["ch4"].attrs["units"] == "ppm m"
    sites = json.loads((simulated / "truth.geojson").read_text())
    assert sites["features"] and all(
        f["properties"]["overpasses"][0]["line_id"] == "S01-L001" for f in sites["features"]
    )
