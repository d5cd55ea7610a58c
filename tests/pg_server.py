"""A throwaway PostgreSQL server for tests, run from Debian's `postgresql` binaries.

`PgServer` makes a cluster in a temporary folder (``initdb``), starts it on a free local port
with its unix socket in that folder, hands out empty databases, and can be stopped and started
again mid-test (the "database briefly unavailable" fault). When the tests run as root the
server runs as the ``postgres`` system user the Debian package creates (``initdb`` refuses
root). Missing binaries are a clear failure, never a skip: ``scripts/setup.sh --test``
installs them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

PG_ROOT = Path("/usr/lib/postgresql")
INSTALL_HINT = (
    "run `bash scripts/setup.sh --test` (it installs Debian's `postgresql` package), or "
    "`apt-get install postgresql`"
)
START_TIMEOUT_S = 30
SOCKET_PARENT = "/tmp" if Path("/tmp").is_dir() else None


class PgServerError(RuntimeError):
    """The test PostgreSQL server could not be found, set up or started."""


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl.

    Raises:
        PgServerError: when no PostgreSQL server binaries are installed.
    """
    found = []
    for initdb in PG_ROOT.glob("*/bin/initdb"):
        version = initdb.parent.parent.name
        if (initdb.parent / "pg_ctl").exists() and version.isdigit():
            found.append((int(version), initdb.parent))
    if not found:
        raise PgServerError(
            f"PostgreSQL server binaries not found under {PG_ROOT}/*/bin: " + INSTALL_HINT
        )
    return max(found)[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One throwaway cluster: `start`, `stop`, `new_database`, `close`."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        """Create (not start) a cluster in a new temporary folder."""
        self.bin_dir = bin_dir or find_bin_dir()
        self._as_user: str | None = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PgServerError(
                    "running as root, and there is no `postgres` system user to run the test "
                    "server as (initdb refuses root): " + INSTALL_HINT
                ) from None
            self._as_user = pw.pw_name
        # Under /tmp: short enough for the unix socket's path, and reachable by `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="mockint-pg-", dir=SOCKET_PARENT))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.user = "mockint"
        try:
            self._init_cluster()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _init_cluster(self) -> None:
        if self._as_user is not None:
            pw = pwd.getpwnam(self._as_user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        # Test-only speed-ups: nothing here needs to survive a power cut.
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                "\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nmax_connections = 60\n"
            )

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / tool), *args]
        if self._as_user is not None:
            cmd = ["runuser", "-u", self._as_user, "--", *cmd]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        proc = subprocess.run(
            cmd, cwd=self.root, env=env, capture_output=True, text=True, timeout=120
        )
        if check and proc.returncode != 0:
            raise PgServerError(
                f"{tool} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
                + self._log_tail()
            )
        return proc

    def _log_tail(self) -> str:
        try:
            return "\nserver log:\n" + "\n".join(
                self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            )
        except OSError:
            return ""

    @classmethod
    def started(cls) -> PgServer:
        """A new cluster, started (its folder is removed again when it cannot start)."""
        server = cls()
        try:
            server.start()
        except BaseException:
            server.close()
            raise
        return server

    @property
    def running(self) -> bool:
        """Whether the server process is up (``pg_ctl status``)."""
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t",
            str(START_TIMEOUT_S), "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` ends every session at once, as in a restart)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of a database on this server (TCP on 127.0.0.1)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """The libpq connection string of a database on this server."""
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={dbname}"

    def new_database(self) -> str:
        """Create an empty database and return its name."""
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any sessions still connected to it."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        """Stop the server (when running) and remove its folder."""
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def pg_server() -> Iterator[PgServer]:
    """A started throwaway server, stopped and removed on exit."""
    server = PgServer.started()
    try:
        yield server
    finally:
        server.close()
