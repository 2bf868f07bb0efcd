"""``vigia serve``: run the sharing service (FastAPI under uvicorn) on the store."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

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
    read_cache_mb: Annotated[
        float,
        typer.Option(
            help=(
                "Memory for answers of repeated site reads, MB per worker (checked against "
                "the store on every request); 0 turns the read cache off."
            ),
            min=0.0,
        ),
    ] = 64.0,
    workers: Annotated[
        int,
        typer.Option(
            help=(
                "Worker processes on the one port (each with its own read cache, all checked "
                "against the store's change counter on every request)."
            ),
            min=1,
            max=64,
        ),
    ] = 1,
) -> None:
    """Serve the API: OGC API – Features, releases, outcomes, sorties, metrics."""
    from vigia.service import create_app
    from vigia.service.server import (
        APP_FACTORY,
        SERVE_ENV,
        run_server,
        run_workers,
        server_config,
        server_stack,
    )

    settings = load_settings(data_dir)
    cache_bytes = int(read_cache_mb * 2**20)
    factory = open_store(settings)  # opened (and checked) here whatever the workers
    if workers == 1:
        app: Any = create_app(factory, max_body_bytes=max_body_bytes, plans_dir=settings.data_dir)
        stack = server_config(app)
    else:
        os.environ[SERVE_ENV] = json.dumps(
            {
                "data_dir": str(settings.data_dir),
                "max_body_bytes": max_body_bytes,
                "cache_bytes": cache_bytes,
            }
        )
        app = APP_FACTORY
        stack = server_config(create_app(factory, plans_dir=settings.data_dir))
    config = server_config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level,
        access_log=access_log,
        workers=workers,
    )
    loop, parser = server_stack(stack)
    typer.echo(
        f"vigia: serving http://{host}:{port} on {describe_url(settings.resolved_database_url)} "
        f"({loop}, {parser}; access log {'on' if access_log else 'off'}"
        f"{'; read cache off' if cache_bytes == 0 else ''}"
        f"{f'; {workers} workers' if workers > 1 else ''})",
        err=True,
    )
    if workers == 1:
        run_server(config)
    else:
        run_workers(config)
