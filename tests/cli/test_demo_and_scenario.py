"""``vigia demo`` and ``vigia scenario``, run through the installed entry point."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from vigia.sense.io import open_cube


def vigia(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigia.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    # One run serves every check: --data-dir must win over VIGIA_DATA_DIR.
    tmp = tmp_path_factory.mktemp("demo")
    r = vigia("demo", "--data-dir", str(tmp / "b"), env={"VIGIA_DATA_DIR": str(tmp / "a")})
    assert r.returncode == 0, r.stderr
    return tmp / "a", tmp / "b", r.stdout


def test_the_demo_runs_every_stage_into_the_data_directory(
    demo_run: tuple[Path, Path, str],
) -> None:
    _, data, stdout = demo_run
    demo = data / "demo"
    assert str(demo) in " ".join(stdout.split())
    for name in (
        "scenario.png",
        "plan/route.geojson",
        "plan/mission.plan",
        "plan/plan.png",
        "plan/plan.json",
        "truth.geojson",
    ):
        assert (demo / name).stat().st_size > 0, name
    summary = json.loads((demo / "plan" / "plan.json").read_text())
    assert all(s["inside_restricted_m"] == 0 for s in summary["sorties"])
    assert all(a["covered"] >= 0.995 for a in summary["areas"])


def test_the_demo_flies_lines_with_truth_on_their_grid(demo_run: tuple[Path, Path, str]) -> None:
    demo = demo_run[1] / "demo"
    vswir = sorted((demo / "lines").glob("*_vswir.nc"))
    assert vswir and len(vswir) == len(list((demo / "lines").glob("*_lwir.nc")))
    for cube_path in vswir:
        line_id = cube_path.name.removesuffix("_vswir.nc")
        cube = open_cube(cube_path)
        truth = xr.open_dataset(demo / "truth" / f"{line_id}.nc", engine="h5netcdf")
        assert "ch4" in truth
        assert truth["ch4"].shape == cube["radiance"].shape[:2]


def test_data_dir_option_wins_over_the_environment(demo_run: tuple[Path, Path, str]) -> None:
    env_dir, cli_dir, _ = demo_run
    assert (cli_dir / "demo" / "plan" / "route.geojson").exists()
    assert not env_dir.exists()


def test_scenario_list_names_both_built_in_scenarios() -> None:
    r = vigia("scenario", "list", "--json")
    assert r.returncode == 0
    assert {s["name"] for s in json.loads(r.stdout)} >= {"sinaloa", "central"}


def test_scenario_show_draws_a_map(tmp_path: Path) -> None:
    r = vigia("scenario", "show", "central", "--map", str(tmp_path / "m.png"))
    assert r.returncode == 0, r.stderr
    assert "Hidalgo" in r.stdout or "hidalgo" in r.stdout.lower()
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unknown_scenario_is_one_line_and_exit_code_2() -> None:
    r = vigia("scenario", "show", "atlantis")
    assert r.returncode == 2
    assert "sinaloa" in r.stderr and "Traceback" not in r.stderr


def test_the_demo_shares_what_it_confirmed_with_two_partners_and_audits_it(
    demo_run: tuple[Path, Path, str],
) -> None:
    data = demo_run[1]
    env = {"VIGIA_DATA_DIR": str(data)}
    orgs = json.loads(vigia("org", "list", "--json", env=env).stdout)
    partners = {o["name"] for o in orgs if o["kind"] == "partner"}
    assert len(partners) >= 2
    users = json.loads(vigia("user", "list", "--json", env=env).stdout)
    for org in partners:
        assert any(u["org"] == org and u["role"] == "partner_officer" for u in users), org
    # The sortie flew only once the partner approved it, and the approved exports say so.
    sorties = json.loads(vigia("sortie", "list", "--json", env=env).stdout)
    assert sorties and all(s["status"] == "approved" for s in sorties)
    approved = json.loads((data / "demo" / "plan-approved" / "plan.json").read_text())
    assert approved["approval"] == "approved" and sorties[0]["id"] in approved["approval_ref"]
    draft = json.loads((data / "demo" / "plan" / "plan.json").read_text())
    assert draft["approval"] == "draft"
    # Releases of each partner's own and at least one to both; the demo policy is printed.
    releases = json.loads(vigia("release", "list", "--json", env=env).stdout)
    sites = json.loads(vigia("site", "list", "--json", env=env).stdout)
    if any(s["state"] != "rejected" and s["class"].endswith("_lab") for s in sites):
        assert releases
    if releases:
        recipients = [set(r["recipients"]) for r in releases]
        for org in partners:
            assert any(org in r for r in recipients), org
        assert any(r >= partners for r in recipients)
        assert "DEMO POLICY (release officer" in " ".join(demo_run[2].split())
        for org in partners:
            assert list((data / "demo" / "sharing" / "releases" / org).glob("*.stix.json"))
    metrics = json.loads((data / "demo" / "sharing" / "metrics.json").read_text())
    assert metrics["calibration"]["source"].startswith("partner outcomes simulated")
    if releases:
        # The loop closes: the partner reports what acting on a release found (simulated,
        # labelled so), the metrics count it and the calibration learns from it.
        assert "SIMULATED outcome at" in " ".join(demo_run[2].split())
        assert metrics["metrics"]["actioned"] >= 1
        assert metrics["calibration"]["labelled"] >= 1
        assert (data / "demo" / "sharing" / "calibration.png").stat().st_size > 0
    verify = vigia("audit", "verify", env=env)
    assert verify.returncode == 0 and "intact" in verify.stdout


def test_the_demo_flies_a_revisit_over_the_sites_the_review_sent_back_once_approved(
    demo_run: tuple[Path, Path, str],
) -> None:
    data = demo_run[1]
    demo = data / "demo"
    env = {"VIGIA_DATA_DIR": str(data)}
    sites = json.loads(vigia("site", "list", "--json", env=env).stdout)
    shown = {
        s["id"]: json.loads(vigia("site", "show", s["id"], "--json", env=env).stdout) for s in sites
    }
    sent_back = {
        sid
        for sid, d in shown.items()
        if any(x["action"] == "request_revisit" for x in d["decisions"])
    }
    # The built-in scenario leaves at least one site uncertain after the first review.
    assert sent_back
    draft = json.loads((demo / "plan-revisit" / "plan.json").read_text())
    assert draft["approval"] == "draft"
    covered = {a["area"] for a in draft["areas"]}
    assert covered and covered <= sent_back
    assert not any(shown[sid]["state"] == "rejected" for sid in covered)
    # It flew only once the partner approved it, and the approved exports say so.
    sorties = json.loads(vigia("sortie", "list", "--json", env=env).stdout)
    assert len(sorties) == 2 and all(s["status"] == "approved" for s in sorties)
    approved = json.loads((demo / "plan-revisit-approved" / "plan.json").read_text())
    assert approved["approval"] == "approved"
    assert any(s["id"] in approved["approval_ref"] for s in sorties)
    # Its lines have ids of their own, and what they saw joined the sites it was sent for;
    # a site seen again went back to the analyst (revisit_requested → candidate) and the
    # demo policy decided it again.
    flown = sorted(p.name for p in (demo / "revisit" / "lines").glob("*_vswir.nc"))
    assert flown and all(name.startswith("RV-") for name in flown)
    seen_again = [
        sid
        for sid in covered
        if any(o["line_id"].startswith("RV-") for o in shown[sid]["observations"])
    ]
    assert seen_again
    for sid in seen_again:
        moves = [(x["action"], x["to"]) for x in shown[sid]["decisions"]]
        back = moves.index(("new_evidence", "candidate"))
        assert moves.index(("request_revisit", "revisit_requested")) < back < len(moves) - 1
    out = " ".join(demo_run[2].split())
    assert "Revisit flown from" in out and "after the revisit" in out
