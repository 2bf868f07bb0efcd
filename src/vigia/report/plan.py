"""Writing a planned mission to disk: exports, the map and the summary."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from vigia.errors import ExportError
from vigia.plan.export import write_exports
from vigia.plan.mission import Mission
from vigia.plan.summary import mission_summary
from vigia.report.maps import draw_mission

__all__ = ["write_json", "write_plan"]


def write_json(obj: Any, path: Path) -> Path:
    """Write JSON atomically (a temporary file renamed into place).

    Raises
    ------
    ExportError
        If the file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def write_plan(mission: Mission, out_dir: Path) -> tuple[list[Path], dict[str, Any]]:
    """Write every output of a plan into a directory.

    Parameters
    ----------
    mission : Mission
        The planned mission.
    out_dir : Path
        Output directory (created if missing).

    Returns
    -------
    paths : list of Path
        Files written.
    summary : dict
        The measured summary (also written as ``plan.json``).
    """
    paths = write_exports(mission, out_dir)
    png = out_dir / "plan.png"
    try:
        draw_mission(mission, png)
    except OSError as exc:
        raise ExportError(f"{png}: cannot write: {exc.strerror or exc}") from None
    summary = mission_summary(mission)
    paths += [png, write_json(summary, out_dir / "plan.json")]
    return paths, summary
