"""How the service is served: uvicorn's settings, and the event loop and HTTP parser they pick.

``vigia serve`` and ``bench/api.py`` (for the service and for its reference apps alike) build
their uvicorn configuration here, so that what is measured is what is deployed. uvicorn's
``auto`` loop and HTTP protocol pick uvloop and httptools when they are installed (they are
dependencies of Vigía) and fall back silently to asyncio and h11 otherwise, several times
slower; :func:`server_stack` says which were picked, so that the fallback does not go unseen.

The access log is off unless asked for: the hash-chained audit log already records every
change, export and refusal with the principal behind it (:mod:`vigia.store.audit`), which an
access log line (address, method, path, status) cannot name, and writing a line per request
costs the event loop what it could spend answering.

With ``--workers N`` uvicorn's supervisor starts N worker processes on one socket; each builds
its own application (:func:`app_from_environment`, from the settings ``vigia serve`` leaves in
the environment). Nothing the workers keep needs them to agree: every request reads the
store's change counter before it trusts its process's read cache, so a change committed
through one worker (a revoked token, a release) is seen by the next request to any other, and
audit appends are serialised by the database (SQLite's write lock, a PostgreSQL advisory
lock), not by the process.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
from pathlib import Path
from typing import Any, Final

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

__all__ = [
    "APP_FACTORY",
    "SERVE_ENV",
    "app_from_environment",
    "freeze_heap",
    "run_server",
    "run_workers",
    "server_config",
    "server_stack",
]

SERVE_ENV: Final = "VIGIA_SERVE_APP"
"""Environment variable through which ``vigia serve`` hands its settings to worker processes."""
APP_FACTORY: Final = "vigia.service.server:app_from_environment"
"""Import string of the application factory the worker processes call."""


def server_config(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    access_log: bool = False,
    workers: int = 1,
) -> uvicorn.Config:
    """Return the uvicorn configuration the service is served with.

    Parameters
    ----------
    app : ASGI application
        The application (:func:`vigia.service.create_app`, or a reference app of the bench).
    host : str
        Address to listen on.
    port : int
        TCP port to listen on.
    log_level : str
        uvicorn's log level (``debug``, ``info``, ``warning``, ``error``, ``critical``).
    access_log : bool
        Whether uvicorn writes a line per request, at ``INFO`` whatever ``log_level`` (off by
        default: see the module's notes).
    workers : int
        Worker processes; more than one needs ``app`` as an import string of a factory
        (:data:`APP_FACTORY`).

    Returns
    -------
    uvicorn.Config
        The configuration: loop and HTTP protocol ``auto`` (uvloop and httptools when
        installed), no ``Server`` header, and client addresses taken from the connection,
        never from ``X-Forwarded-For`` (they are audited).

    Examples
    --------
    >>> from fastapi import FastAPI
    >>> config = server_config(FastAPI(), port=8080)
    >>> config.access_log, config.proxy_headers, config.server_header
    (False, False, False)
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http="auto",
        log_level=log_level.lower(),
        access_log=access_log,
        proxy_headers=False,
        server_header=False,
        workers=workers,
        factory=isinstance(app, str),
    )
    if access_log:  # asked for: written whatever the level of the other logs (INFO, its own)
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    return config


def server_stack(config: uvicorn.Config) -> tuple[str, str]:
    """Return the event loop and the HTTP parser a configuration serves with.

    Parameters
    ----------
    config : uvicorn.Config
        A configuration from :func:`server_config` (loaded here if it was not yet).

    Returns
    -------
    (str, str)
        The event loop's module (``uvloop`` or ``asyncio``) and the HTTP protocol
        implementation (``httptools`` or ``h11``).

    Examples
    --------
    >>> from fastapi import FastAPI
    >>> server_stack(server_config(FastAPI()))
    ('uvloop', 'httptools')
    """
    if not config.loaded:
        config.load()
    factory = config.get_loop_factory()
    loop = "asyncio" if factory is None else factory.__module__.partition(".")[0]
    protocol = config.http_protocol_class.__module__.rpartition(".")[2]
    return loop, protocol.removesuffix("_impl")


def freeze_heap() -> int:
    """Leave every object alive now out of the cyclic garbage collector's passes.

    What a server has built before it serves (modules, the application, its routes, schemas
    and store) lives as long as the process. Left in the collector's oldest generation, each
    full pass walks all of it while the event loop waits: on this project's machine such a
    pass held every request in flight for 0.15-0.2 s, the p99 of cached reads under load
    (``bench/api.py``; 16-40 ms with the heap frozen). Objects made later are collected as
    before (:func:`gc.freeze`).

    Returns
    -------
    int
        How many objects are frozen now.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def app_from_environment() -> Any:
    """Build the service in a worker process from the settings ``vigia serve`` handed down.

    Reads :data:`SERVE_ENV` (JSON: ``data_dir``, ``max_body_bytes``, ``cache_bytes``), opens
    the store as ``vigia serve`` does and freezes the heap built (:func:`freeze_heap`).

    Returns
    -------
    fastapi.FastAPI
        The application.

    Raises
    ------
    RuntimeError
        The variable is not set (the factory is for ``vigia serve --workers`` only).
    """
    from vigia.service import create_app
    from vigia.settings import load_settings
    from vigia.store.db import open_store

    raw = os.environ.get(SERVE_ENV)
    if raw is None:
        raise RuntimeError(f"{SERVE_ENV} is not set: start workers with vigia serve --workers")
    opts = json.loads(raw)
    settings = load_settings(Path(opts["data_dir"]) if opts.get("data_dir") else None)
    app = create_app(
        open_store(settings),
        max_body_bytes=int(opts["max_body_bytes"]),
        plans_dir=settings.data_dir,
        cache_bytes=int(opts.get("cache_bytes", 64 * 2**20)),
    )
    freeze_heap()
    return app


def run_workers(config: uvicorn.Config) -> None:
    """Serve with ``config.workers`` processes on one socket until interrupted.

    Parameters
    ----------
    config : uvicorn.Config
        A configuration from :func:`server_config` with ``workers`` > 1 and the application
        as :data:`APP_FACTORY`.

    Raises
    ------
    SystemExit
        With status 3 if the address could not be bound.
    """
    try:
        sock = config.bind_socket()
    except SystemExit:
        raise SystemExit(3) from None
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[sock]).run()


def run_server(config: uvicorn.Config) -> None:
    """Serve until interrupted, in this process (as :func:`uvicorn.run` with one worker).

    The heap built so far is frozen first (:func:`freeze_heap`).

    Parameters
    ----------
    config : uvicorn.Config
        A configuration from :func:`server_config`.

    Raises
    ------
    SystemExit
        With uvicorn's start-up failure status (3) if the server could not start (the port
        taken, say).
    """
    server = uvicorn.Server(config)
    freeze_heap()
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(3)
