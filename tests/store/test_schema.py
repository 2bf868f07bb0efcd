"""Schema: the packaged Alembic migrations build exactly the models, on both back ends."""

import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from vigia.cli.main import run
from vigia.store import current_revision, downgrade, head_revision, upgrade
from vigia.store.models import Base
from vigia.store.schema import MIGRATIONS_DIR


def test_the_migrations_build_exactly_the_models(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    assert upgrade(empty_engine) == head_revision()
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(
    empty_engine: Engine,
) -> None:
    upgrade(empty_engine)
    assert downgrade(empty_engine, "base") is None
    assert inspect(empty_engine).get_table_names() == ["alembic_version"]
    upgrade(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) == {
        "alembic_version",
        *Base.metadata.tables,
    }


def test_the_migrations_ship_inside_the_package() -> None:
    assert MIGRATIONS_DIR.parent.name == "store"
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))


def vigia(
    args: list[str],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    """Run the ``vigia`` entry point in this process: (exit code, stdout, stderr)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir("/")  # no alembic.ini nearby: the configuration comes from the package
    monkeypatch.setattr(sys, "argv", ["vigia", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        run()
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_vigia_db_upgrade_and_current_report_the_revision(
    empty_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = {
        "VIGIA_DATABASE_URL": empty_engine.url.render_as_string(hide_password=False),
        "VIGIA_DATA_DIR": str(tmp_path / "data"),
    }
    code, out, err = vigia(["db", "current"], env, monkeypatch, capsys)
    assert (code, err) == (0, "")
    assert "revision none" in out
    code, out, err = vigia(["db", "upgrade"], env, monkeypatch, capsys)
    assert (code, err) == (0, "")
    assert f"revision {head_revision()} (head)" in out
    code, out, err = vigia(["db", "current"], env, monkeypatch, capsys)
    assert f"revision {head_revision()} (head)" in out


def test_the_default_database_is_sqlite_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VIGIA_DATABASE_URL", raising=False)
    env = {"VIGIA_DATA_DIR": str(tmp_path / "data")}
    code, _, err = vigia(["db", "upgrade"], env, monkeypatch, capsys)
    assert (code, err) == (0, "")
    assert (tmp_path / "data" / "vigia.db").is_file()
    args = ["db", "upgrade", "--data-dir", str(tmp_path / "other")]
    code, _, err = vigia(args, env, monkeypatch, capsys)
    assert (code, err) == (0, "")
    assert (tmp_path / "other" / "vigia.db").is_file()


def test_an_unreachable_database_is_one_line_and_exit_code_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"VIGIA_DATABASE_URL": "postgresql://vigia:secret@127.0.0.1:9/nothing"}
    code, _, err = vigia(["db", "current"], env, monkeypatch, capsys)
    assert code == 1
    assert err.startswith("vigia: error: database postgresql+psycopg://vigia:***@")
    assert "secret" not in err
    assert len(err.strip().splitlines()) == 1
