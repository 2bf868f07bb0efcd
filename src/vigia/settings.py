"""Settings from the environment (``VIGIA_*``), with command-line overrides at the edge."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_data_dir", "load_settings"]


def default_data_dir() -> Path:
    """Return the default data directory: ``vigia-data`` under the user's data directory."""
    return Path(platformdirs.user_data_dir()) / "vigia-data"


class Settings(BaseSettings):
    """Vigía's settings.

    Attributes
    ----------
    data_dir : Path
        Where the database, cubes and outputs live (``VIGIA_DATA_DIR``).
    database_url : str or None
        SQLAlchemy URL (``VIGIA_DATABASE_URL``); SQLite in the data directory when unset.
    log_level : str
        Logging level (``VIGIA_LOG_LEVEL``).
    """

    model_config = SettingsConfigDict(env_prefix="VIGIA_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    log_level: str = "WARNING"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'vigia.db'}"


def load_settings(data_dir: Path | None = None) -> Settings:
    """Read settings from the environment, letting ``--data-dir`` win over ``VIGIA_DATA_DIR``.

    Parameters
    ----------
    data_dir : Path, optional
        Command-line override of the data directory.

    Returns
    -------
    Settings
        The settings in force.
    """
    s = Settings()
    if data_dir is not None:
        s = s.model_copy(update={"data_dir": data_dir})
    return s
