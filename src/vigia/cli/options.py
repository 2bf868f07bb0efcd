"""Options shared by several commands, and the consoles commands print to."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["DataDir", "console", "err_console", "summary_table"]

console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory (default: $VIGIA_DATA_DIR or the user's data directory).",
        file_okay=False,
    ),
]


def summary_table(summary: dict[str, Any]) -> Table:
    """Render a mission summary (see :func:`vigia.plan.summary.mission_summary`) as a table."""
    t = Table(title=f"Plan {summary['name']} ({summary['approval']}, partner {summary['partner']})")
    for col in (
        "sortie",
        "km",
        "hours",
        "lines",
        "areas",
        "inside restricted m",
        "tightest turn m",
    ):
        t.add_column(col, justify="left" if col == "areas" else "right")
    for s in summary["sorties"]:
        t.add_row(
            str(s["sortie"]),
            f"{s['length_km']:.1f}",
            f"{s['duration_h']:.2f}",
            str(s["lines"]),
            ", ".join(s["areas"]),
            f"{s['inside_restricted_m']:.0f}",
            f"{s['tightest_turn_m']:.0f}",
        )
    return t
