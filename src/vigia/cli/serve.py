"""``vigia serve``: run the sharing service (FastAPI under uvicorn) on the store."""

from __future__ import annotations

from typing import Annotated

import typer

from vigia.cli.options import DataDir
from vigia.settings import load_settings
from vigia.store.db import describe_url, open_store

__all__ = ["serve_command"]


def serve_command(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    max_body_bytes: Annotated[
        int, typer.Option(help="Largest request body accepted, bytes.", min=1)
    ] = 1_000_000,
) -> None:
    """Serve the API: OGC API – Features, releases, outcomes, sorties, metrics."""
    import uvicorn

    from vigia.service import create_app

    settings = load_settings(data_dir)
    factory = open_store(settings)
    app = create_app(factory, max_body_bytes=max_body_bytes, plans_dir=settings.data_dir)
    typer.echo(
        f"vigia: serving http://{host}:{port} on {describe_url(settings.resolved_database_url)}",
        err=True,
    )
    # Client addresses are audited: never take them from X-Forwarded-For unasked.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
        server_header=False,
    )
