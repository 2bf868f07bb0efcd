"""What every route depends on, declared once: the service's configuration and the audit.

The configuration (store, clock, body limit) lives on ``app.state``; :data:`Config` hands it
to a route. :func:`audit_ok` writes the audit entry of a change inside the change's own
transaction; refusals are audited by :mod:`vigia.service.problems`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope

from vigia.errors import InputError
from vigia.store.access import Principal, TokenGrant
from vigia.store.audit import append_audit
from vigia.store.db import SessionFactory, StatementConnections
from vigia.store.loop import LoopConnections

__all__ = [
    "READ_THREADS",
    "Config",
    "ServiceConfig",
    "action_of",
    "audit_ok",
    "client_of",
    "config_of",
    "object_of",
    "on_shutdown",
    "read_threads",
]


READ_THREADS: Final = 5
"""Worker threads of a service's site reads on a database server (PostgreSQL) whose pool's
size is not known: SQLAlchemy's default pool size. :func:`read_threads` gives as many as the
pool keeps (its ``size``)."""


def read_threads(factory: SessionFactory) -> int:
    """Return how many threads a service's site reads get on a store.

    SQLite reads run on the process's own CPUs (its statements let go of the GIL, so a
    thread a CPU works alongside the event loop); more threads only contend: at 50 requests
    at once, 16 threads spent twice the CPU a page that 2 did on 2 CPUs (each with its own
    connection and page cache, and the GIL passed between them). On a database server, as
    many threads as the pool keeps connections: with more (16 on a pool of 5), the pool
    closed the connections it lent beyond its size as they came back and opened others,
    ~50 PostgreSQL backends started a second under load, and with 2–4 threads the same
    load read pages 10–20 % faster with p99 about half (measured on 2 CPUs, the server,
    PostgreSQL and the load sharing them).

    Parameters
    ----------
    factory : SessionFactory
        The store.

    Returns
    -------
    int
        The number of threads.
    """
    engine = factory.kw.get("bind")
    if engine is not None and engine.dialect.name == "sqlite":
        return max(2, os.cpu_count() or 1)
    size = getattr(getattr(engine, "pool", None), "size", None)
    return max(1, int(size())) if callable(size) else READ_THREADS


@dataclass(frozen=True)
class ServiceConfig:
    """What the service runs on.

    Attributes
    ----------
    factory : SessionFactory
        The store.
    clock : callable
        Returns the time now, UTC-aware (tests pass a fixed clock).
    max_body_bytes : int
        Largest request body accepted, bytes.
    plans_dir : Path or None
        The only directory sortie plans are read from (``None``: no plan is read).
    grants : dict
        What the tokens the service accepted grant, by the token's SHA-256, each with the
        store's change count it was accepted at (:attr:`TokenGrant.changes`): the reads of
        :class:`vigia.service.auth.Reader` use one only in a statement that reads the same
        count (nothing that decides authentication changed since).
    readers : ThreadPoolExecutor
        The threads :class:`vigia.service.auth.Reader` reads on, off the event loop
        (:func:`read_threads` of them). A plain executor: handing a call to it and back costs
        a third of what the thread pool of FastAPI's ``run_in_threadpool`` (anyio) costs.
    statements : StatementConnections
        The connections the reads with a kept grant run on (:func:`vigia.service.auth.read_kept`):
        one kept open a reader thread, closed when the service shuts down.
    loop : LoopConnections or None
        On PostgreSQL, the connections those reads run on first, on the event loop (each
        read on a thread above when it needs one: :class:`vigia.store.loop.NotOnLoop`);
        ``None`` on SQLite, whose reads stay on the threads.
    """

    factory: SessionFactory
    clock: Callable[[], datetime]
    max_body_bytes: int
    plans_dir: Path | None = None
    grants: dict[str, TokenGrant] = field(default_factory=dict, compare=False, repr=False)
    readers: ThreadPoolExecutor = field(init=False, compare=False, repr=False)
    statements: StatementConnections = field(init=False, compare=False, repr=False)
    loop: LoopConnections | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        threads = read_threads(self.factory)
        readers = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vigia-read")
        object.__setattr__(self, "readers", readers)  # a frozen dataclass's own field
        object.__setattr__(self, "statements", StatementConnections(self.factory))
        object.__setattr__(self, "loop", LoopConnections.of(self.factory))

    def plan_path(self, given: str) -> Path:
        """Resolve a plan path sent by a client inside :attr:`plans_dir`.

        Parameters
        ----------
        given : str
            A path relative to the plans directory (or absolute, inside it).

        Returns
        -------
        Path
            The resolved path.

        Raises
        ------
        InputError
            If no plans directory is configured or the path leads out of it.
        """
        if self.plans_dir is None:
            raise InputError(
                "this service reads no plans: it was started without a plans directory"
            )
        root = self.plans_dir.resolve()
        path = (root / given).resolve()
        if not path.is_relative_to(root) or path == root:
            raise InputError(f"plan_path {given!r}: give a plan inside the plans directory")
        return path


async def config_of(request: Request) -> ServiceConfig:
    """Return the service configuration of the app serving ``request``.

    A coroutine, though it does no I/O: FastAPI runs a plain function dependency on its
    thread pool, and that hop cost more than the rest of it.
    """
    config: ServiceConfig = request.app.state.vigia
    return config


Config = Annotated[ServiceConfig, Depends(config_of)]


def on_shutdown(receive: Receive, *closers: Callable[[], object]) -> Receive:
    """Wrap an ASGI lifespan's ``receive`` so that each ``close()`` runs when the server shuts down.

    Parameters
    ----------
    receive : callable
        The lifespan's ``receive``.
    *closers : callable
        Each called once ``lifespan.shutdown`` is received, in turn, before it is handed on
        (awaited when it returns an awaitable).

    Returns
    -------
    callable
        The wrapped ``receive``.
    """

    async def watched() -> Message:
        message = await receive()
        if message["type"] == "lifespan.shutdown":
            for close in closers:
                done = close()
                if inspect.isawaitable(done):
                    await done
        return message

    return watched


def action_of(scope: Scope) -> str:
    """Return the audited action of a request: its method and route template.

    Parameters
    ----------
    scope : Scope
        The ASGI scope (after routing, when a route matched).

    Returns
    -------
    str
        ``"PATCH /releases/{release_id}"``; the raw path when no route matched.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return f"{scope.get('method', '-')} {template or scope.get('path', '-')}"


def object_of(scope: Scope) -> str:
    """Return the object a request names: its path parameters joined by ``/`` (``-`` if none)."""
    params: dict[str, Any] = scope.get("path_params") or {}
    return "/".join(str(v) for v in params.values()) or "-"


def client_of(scope: Scope) -> str | None:
    """Return the client's address (IP or host name), or ``None`` when the server gives none."""
    client = scope.get("client")
    return str(client[0]) if client else None


def audit_ok(
    session: Session,
    request: Request,
    p: Principal,
    obj: str,
    *,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append the audit entry of a change that succeeded, in the change's transaction.

    Parameters
    ----------
    session : Session
        The write transaction that made the change.
    request : Request
        The request (its route template is the action, its client the address).
    p : Principal
        Who made the change.
    obj : str
        What was changed (a release, site or sortie id).
    now : datetime
        UTC time of the change.
    detail : dict, optional
        JSON-ready detail.

    Returns
    -------
    int
        The audit entry's id.
    """
    return append_audit(
        session,
        actor=p.user,
        org=p.org,
        role=p.role,
        action=action_of(request.scope),
        obj=obj,
        outcome="ok",
        client=client_of(request.scope),
        detail=detail,
        now=now,
    )
