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
    access_log: Annotated[
        bool,
        typer.Option(
            help=(
                "Log a line per request (address, method, path, status). Off by default: "
                "the audit log already records every change, export and refusal, with who."
            ),
        ),
    ] = False,
) -> None:
    """Serve the API: OGC API – Features, releases, outcomes, sorties, metrics."""
    from vigia.service import create_app
    from vigia.service.server import run_server, server_config, server_stack

    settings = load_settings(data_dir)
    factory = open_store(settings)
    app = create_app(factory, max_body_bytes=max_body_bytes, plans_dir=settings.data_dir)
    config = server_config(
        app, host=host, port=port, log_level=settings.log_level, access_log=access_log
    )
    loop, parser = server_stack(config)
    typer.echo(
        f"vigia: serving http://{host}:{port} on {describe_url(settings.resolved_database_url)} "
        f"({loop}, {parser}; access log {'on' if access_log else 'off'})",
        err=True,
    )
    run_server(config)
