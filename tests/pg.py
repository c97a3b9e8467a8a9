"""A throwaway PostgreSQL server for the tests: initdb into a temp dir, start, hand out DSNs.

The binaries are found on PATH or in /usr/lib/postgresql/*/bin (Debian/Ubuntu keep them off
PATH). PostgreSQL refuses to run as root, so under root the cluster belongs to ``nobody``
(or a dedicated system user created with useradd when there is no ``nobody``), and its
directory is a fresh one under the system temp dir, which that user can reach.

The server trades durability for speed (``fsync=off``): a test server never survives a
power cut anyway. ``tests/conftest.py`` exposes it as the session fixture ``postgres``.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

SEARCH = "/usr/lib/postgresql/*/bin"
SUPERUSER = "postgres"
FALLBACK_USER = "reprolam-pg"


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl (newest version first), or None."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    candidates = sorted(
        glob.glob(f"{SEARCH}/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    for initdb in reversed(candidates):
        if (Path(initdb).parent / "pg_ctl").exists():
            return Path(initdb).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves, unless we are root (postgres refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("nobody", FALLBACK_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(FALLBACK_USER)


@dataclass
class PgServer:
    """A running server: DSNs for its databases, and helpers to make fresh ones."""

    bindir: Path
    root: Path
    port: int
    password: str
    user: pwd.struct_passwd | None
    _counter: list[int] = field(default_factory=lambda: [0])
    _databases: set[str] = field(default_factory=set)

    def dsn(self, dbname: str = "postgres", *, password: str | None = None, **params: str) -> str:
        secret = quote(self.password if password is None else password, safe="")
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        return f"postgresql://{SUPERUSER}:{secret}@127.0.0.1:{self.port}/{dbname}" + (
            f"?{query}" if query else ""
        )

    def admin(self, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(self.dsn(dbname), autocommit=True)

    def unique(self, prefix: str) -> str:
        self._counter[0] += 1
        return f"{prefix}_{os.getpid()}_{self._counter[0]}"

    def create_database(self, prefix: str = "reprolam") -> str:
        """A new empty database; its DSN."""
        name = self.unique(prefix)
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def database(self, name: str) -> str:
        """The database ``name``, created on first use (shared by the tests that ask for it)."""
        if name not in self._databases:
            with self.admin() as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self._databases.add(name)
        return name

    def create_schema(self, dbname: str, prefix: str = "store") -> str:
        """A new empty schema in ``dbname``; a DSN whose search_path selects it."""
        name = self.unique(prefix)
        with self.admin(dbname) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return self.dsn(dbname, options=f"-csearch_path={name}")

    def _run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        ids: dict[str, Any] = {}
        if self.user is not None:
            ids = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            text=True,
            cwd=self.root,
            env={**os.environ, "HOME": str(self.root), "LC_ALL": "C"},
            timeout=60,
            **ids,
            **kwargs,
        )

    def start(self) -> None:
        data = self.root / "data"
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.user is not None:
            for path in (self.root, pwfile):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.serve()

    def serve(self) -> None:
        """Start the server on its initialized data directory (again, after ``stop``)."""
        data = self.root / "data"
        for attempt in range(3):
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-c port={self.port}",
                    f"-c unix_socket_directories={self.root}",
                    "-c fsync=off",
                    "-c full_page_writes=off",
                    "-c max_connections=100",
                ]
            )
            try:
                log = str(self.root / "server.log")
                self._run("pg_ctl", "start", "-w", "-D", str(data), "-l", log, "-o", options)
                return
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                self.port = _free_port()  # someone took the port in the meantime

    def stop(self) -> None:
        with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "stop", "-m", "immediate", "-D", str(self.root / "data"))

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def running_server(bindir: Path) -> Iterator[PgServer]:
    """Start a throwaway server; stop it and delete its files afterwards."""
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="reprolam-pg-"))
    server = PgServer(bindir, root, _free_port(), secrets.token_hex(12), user)
    try:
        try:
            server.start()
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"could not start PostgreSQL ({' '.join(map(str, exc.cmd))}): "
                f"{exc.stderr}\n{server.log()}"
            ) from exc
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
