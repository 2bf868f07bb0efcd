"""A throwaway PostgreSQL server in a temporary directory, for tests and benchmarks.

Runs Debian's (or any) ``initdb``/``pg_ctl`` on a free port of 127.0.0.1 with trust
authentication, and removes everything when it stops. PostgreSQL refuses to run as root, so as
root the server runs as the ``postgres`` user (``runuser``), which Debian's ``postgresql``
package creates. pytest-postgresql is not used: it runs ``pg_ctl`` as the calling user, and
CI runs as root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from vigia.errors import StoreError

__all__ = ["TemporaryPostgres", "find_pg_bin"]


def find_pg_bin() -> Path:
    """Return the directory holding ``initdb`` and ``pg_ctl`` (newest Debian version first).

    Raises
    ------
    StoreError
        If PostgreSQL's server programs are not installed.
    """
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
        reverse=True,
    )
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).resolve()))
    for c in candidates:
        if Path(c).with_name("pg_ctl").exists():
            return Path(c).parent
    raise StoreError(
        "PostgreSQL server programs (initdb, pg_ctl) not found: install Debian's `postgresql` "
        "package (apt-get install -y postgresql); scripts/check does this as root"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TemporaryPostgres:
    """A PostgreSQL server that lives as long as a ``with`` block.

    Parameters
    ----------
    durable : bool
        Keep PostgreSQL's crash safety (``fsync``, synchronous commit). Tests turn it off for
        speed (a killed client still loses only its own uncommitted transaction); benchmarks
        keep it.

    Attributes
    ----------
    url : URL
        ``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres`` once started.

    Examples
    --------
    >>> with TemporaryPostgres() as pg:  # doctest: +SKIP
    ...     url = pg.create_database("vigia")
    """

    def __init__(self, *, durable: bool = True) -> None:
        self.durable = durable
        self.url: URL | None = None
        self._dir: Path | None = None
        self._run_as: list[str] = []

    def start(self) -> URL:
        """Create a cluster and start the server; return the URL of its ``postgres`` database.

        Raises
        ------
        StoreError
            If the server cannot be created or started (the message holds its log).
        """
        bindir = find_pg_bin()
        self._dir = Path(tempfile.mkdtemp(prefix="vigia-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise StoreError(
                    "running as root, and there is no `postgres` user to run PostgreSQL as "
                    "(install Debian's `postgresql` package)"
                ) from None
            os.chown(self._dir, user.pw_uid, user.pw_gid)
            self._run_as = ["runuser", "-u", "postgres", "--"]
        data, log = self._dir / "data", self._dir / "server.log"
        port = _free_port()
        options = [f"-p {port}", f"-k {self._dir}", "-c listen_addresses=127.0.0.1"]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._pg(bindir / "initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        self._pg(
            bindir / "pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60",
            "-o", " ".join(options), "start",
        )  # fmt: skip
        self._bindir = bindir
        self.url = URL.create(
            "postgresql+psycopg", username="postgres", host="127.0.0.1", port=port,
            database="postgres",
        )  # fmt: skip
        return self.url

    def _pg(self, *args: str | Path) -> None:
        cmd = [*self._run_as, *map(str, args)]
        # cwd: the postgres user may not be allowed into the caller's directory (CI's clone).
        r = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self._dir)
        if r.returncode != 0:
            log = ""
            if self._dir is not None and (self._dir / "server.log").exists():
                log = (self._dir / "server.log").read_text()[-2000:]
            raise StoreError(
                f"PostgreSQL: `{' '.join(cmd)}` failed ({r.returncode}): "
                f"{r.stderr.strip() or r.stdout.strip()} {log}".strip()
            )

    def create_database(self, name: str, template: str | None = None) -> URL:
        """Create a database (optionally a copy of ``template``) and return its URL.

        Parameters
        ----------
        name : str
            Database name (letters, digits, underscores).
        template : str, optional
            A database to copy (it must have no open connections).

        Returns
        -------
        URL
            The new database's URL.
        """
        if self.url is None:
            raise StoreError("the temporary PostgreSQL server is not running")
        for ident in (name, template or "x"):
            if not ident.replace("_", "").isalnum():
                raise StoreError(f"database name {ident!r}: letters, digits and _ only")
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                suffix = f" TEMPLATE {template}" if template else ""
                conn.execute(text(f"CREATE DATABASE {name}{suffix}"))
        finally:
            engine.dispose()
        return self.url.set(database=name)

    def stop(self) -> None:
        """Stop the server and remove its files."""
        if self._dir is None:
            return
        if self.url is not None:
            with contextlib.suppress(StoreError):
                self._pg(self._bindir / "pg_ctl", "-D", str(self._dir / "data"), "-m", "fast",
                         "-w", "stop")  # fmt: skip
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir, self.url = None, None

    def __enter__(self) -> TemporaryPostgres:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
