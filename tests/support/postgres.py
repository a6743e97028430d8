"""A private PostgreSQL server for tests that stop, restart or crash the database: its own data
directory under a temporary directory, its own free port on 127.0.0.1, trust authentication for
the superuser `postgres`. The suite's shared server is never touched.

PostgreSQL refuses to run as root; when the tests do (a container), the server's programs run as
the `postgres` system user (runuser), who then owns the directory."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

BIN_DIRS = [Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")), Path("/usr/lib/postgresql/16/bin")]


def _bin_dir() -> Path | None:
    for candidate in BIN_DIRS:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """`start()`, `restart()`, `stop()`, `crash()` (SIGKILL of the postmaster: no clean shutdown),
    `url(database)`, `create_database(name)`."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            pytest.skip("PostgreSQL server programs (initdb, pg_ctl) are not installed")
        self.bin = bin_dir
        # Its own directory in /tmp, not pytest's tmp_path: that one sits in a directory only the
        # test's user may enter, and the server may run as another user.
        base = Path(tempfile.mkdtemp(prefix="trialsite-pg-"))
        self.base = base
        self.data = base / "data"
        self.sockets = base / "sockets"
        self.log = base / "postgres.log"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root without a `postgres` user to run PostgreSQL as")
            self._as = ["runuser", "-u", "postgres", "--"]
            for path in (base, self.sockets):
                path.mkdir(parents=True, exist_ok=True)
                os.chown(path, user.pw_uid, user.pw_gid)
        else:
            self.sockets.mkdir(parents=True, exist_ok=True)

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed: {result.stdout}{result.stderr}\n{log}")

    def init(self) -> PrivatePostgres:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        return self

    def start(self) -> PrivatePostgres:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """A clean restart: every session is ended (what a failover or `systemctl restart` does)."""
        self.stop("fast")
        self.start()

    def crash(self) -> None:
        """Kill the postmaster and its children without a shutdown; `start()` then recovers."""
        pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        subprocess.run([*self._as, "kill", "-KILL", str(pid)], check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        # Its backends die with it (they notice the postmaster is gone); wait until the port is free.
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.1)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        """Stop the server (if running) and remove its directory."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
