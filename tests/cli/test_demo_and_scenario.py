"""``vigia demo`` and ``vigia scenario``, run through the installed entry point."""

import json
import os
import subprocess
import sys
from pathlib import Path


def vigia(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigia.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_the_demo_runs_every_stage_into_the_data_directory(tmp_path: Path) -> None:
    r = vigia("demo", env={"VIGIA_DATA_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    demo = tmp_path / "demo"
    assert str(demo) in " ".join(r.stdout.split())
    for name in (
        "scenario.png",
        "plan/route.geojson",
        "plan/mission.plan",
        "plan/plan.png",
        "plan/plan.json",
    ):
        assert (demo / name).stat().st_size > 0, name
    summary = json.loads((demo / "plan" / "plan.json").read_text())
    assert all(s["inside_restricted_m"] == 0 for s in summary["sorties"])
    assert all(a["covered"] >= 0.995 for a in summary["areas"])


def test_data_dir_option_wins_over_the_environment(tmp_path: Path) -> None:
    r = vigia(
        "demo", "--data-dir", str(tmp_path / "b"), env={"VIGIA_DATA_DIR": str(tmp_path / "a")}
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "b" / "demo" / "plan" / "route.geojson").exists()
    assert not (tmp_path / "a").exists()


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
