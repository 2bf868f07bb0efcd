"""``vigia ingest``: take detection files into the store and refresh the sites."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigia.cli.options import DataDir, console
from vigia.settings import load_settings
from vigia.store.db import open_store
from vigia.store.fusion import refresh_sites
from vigia.store.ingest import ingest_detections

__all__ = ["ingest_command"]


def ingest_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="detections.geojson files written by vigia detect.", show_default=False
        ),
    ],
    data_dir: DataDir = None,
) -> None:
    """Store detections (each file once: by content hash) and fuse them into sites."""
    factory = open_store(load_settings(data_dir))
    for path in files:
        res = ingest_detections(factory, path)
        console.print(f"{path}: {res.summary()}")
    with console.status("Fusing detections into sites…"):
        out = refresh_sites(factory)
    console.print(
        f"{len(out.site_ids)} sites ({len(out.new)} new); "
        f"{len(out.revisits)} revisit requests filed"
    )
