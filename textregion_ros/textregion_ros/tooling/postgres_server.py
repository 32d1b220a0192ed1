"""A throwaway PostgreSQL server for tests and benchmarks: Debian's `postgresql` package, a cluster in a temp folder.

initdb refuses to run as root, so under root (CI) the cluster belongs to the unprivileged `nobody`
user. The server listens on 127.0.0.1 at a free port with password (scram) authentication, so the
tests connect with a real `postgresql://user:password@host:port/db` URL, as a robot would. stop()
shuts it down and removes the folder.

Without the package: the tests that need it fail in CI (CI=true: the set-up must have installed it)
and are skipped elsewhere with the reason.
"""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

USER = "textregion"
PASSWORD = "s3cret-Pw.for_tests"
DATABASE = "postgres"
_DATABASES = itertools.count(1)


def postgres_bin() -> Optional[Path]:
    """The newest /usr/lib/postgresql/N/bin holding initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One started cluster; url() is the URL with the password."""

    def __init__(self) -> None:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="textregion-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._user: Optional[str] = "nobody" if os.geteuid() == 0 else None
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        password_file = self.root / "pw"
        password_file.write_text(PASSWORD + "\n")
        if self._user:
            os.chown(password_file, pwd.getpwnam(self._user).pw_uid, pwd.getpwnam(self._user).pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={password_file}", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run([str(self.bin / tool), *args], capture_output=True, text=True, user=self._user,
                                cwd=str(self.root), timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr[-2000:]}")

    def url(self, password: str = PASSWORD, database: str = DATABASE) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server (fast) and remove its folder."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        except RuntimeError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def restart_stopped(self) -> None:
        """Start again after stop_only() (same data, same port)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop_only(self) -> None:
        """Stop the server but keep its data (a store lost mid-run)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop")


def fresh_database_url(server: "PostgresServer") -> str:
    """A new empty database on `server`, by URL (one per test or case: stores never see each other's rows)."""
    import psycopg

    name = f"t{next(_DATABASES)}_{os.getpid()}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.url(database=name)
