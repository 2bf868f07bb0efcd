from pathlib import Path

import pytest

from vigia.settings import default_data_dir, load_settings


def test_the_data_directory_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VIGIA_DATA_DIR", str(tmp_path))
    s = load_settings()
    assert s.data_dir == tmp_path
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'vigia.db'}"


def test_the_command_line_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VIGIA_DATA_DIR", str(tmp_path / "env"))
    assert load_settings(tmp_path / "cli").data_dir == tmp_path / "cli"


def test_the_default_is_vigia_data_in_the_user_data_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VIGIA_DATA_DIR", raising=False)
    assert load_settings().data_dir == default_data_dir()
    assert default_data_dir().name == "vigia-data"
