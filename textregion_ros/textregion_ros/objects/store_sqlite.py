"""The object store in a SQLite file on the robot (the default: $ROS_HOME/textregion/memory.sqlite).

WAL mode: a reader (the CLI on the same robot, a second node) never blocks the writer, and a crash
(kill -9, power loss) loses at most the transaction being written. Two nodes may share one file: each
writes in short IMMEDIATE transactions and waits up to busy_timeout for the other.

An existing file is checked read-only first (SQLite header, our meta table, the schema version), so
a corrupt or foreign file, or one of a newer schema, is refused without a single byte changed.
"""
from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path
from typing import Any

from .store import ObjectStore, check_meta
from .store_records import META_TABLE, StoreError, StoreRefused

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 10.0


class SqliteStore(ObjectStore):
    """The object store in one SQLite file on the robot's own disk."""
    TYPES = {"text": "TEXT", "bigint": "INTEGER", "double": "REAL", "blob": "BLOB"}

    @property
    def path(self) -> Path:
        return Path(self.location.target)

    def _connect(self) -> Any:
        path = self.path
        if path.is_dir():
            raise StoreRefused(f"{path} is a folder, not a SQLite file")
        if path.exists() and path.stat().st_size > 0:
            if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):  # WAL needs the folder too
                raise StoreError(f"{path} is read-only (the file or its folder cannot be written): give the node a "
                                 f"writable memory_store path (or '' for RAM only)")
            self._check_existing(path)
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"cannot create the folder of {path}: {error.strerror or error}") from None
        try:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open {path}: {error}") from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses at most the last commit
            conn.execute("PRAGMA foreign_keys=OFF")
        except sqlite3.OperationalError as error:
            conn.close()
            raise StoreError(_write_problem(path, error)) from None
        return conn

    def _check_existing(self, path: Path) -> None:
        """Refuse (without writing) a file that is not SQLite, is corrupt, foreign or of a newer schema."""
        try:
            with open(path, "rb") as handle:
                header = handle.read(len(SQLITE_HEADER))
        except OSError as error:
            raise StoreError(f"cannot read {path}: {error.strerror or error}") from None
        if header != SQLITE_HEADER:
            raise StoreRefused(f"{path} is not a SQLite database (corrupt or another kind of file); left untouched")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                check = conn.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise StoreRefused(f"{path} is a damaged SQLite database ({check}); left untouched")
                tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if META_TABLE in tables:
                    meta = {str(k): str(v) for k, v in conn.execute(f"SELECT key, value FROM {META_TABLE}")}
                    check_meta(meta, str(path))
                elif tables:
                    raise StoreRefused(f"{path} is not a textregion_ros store (it holds other tables: "
                                       f"{', '.join(sorted(tables)[:5])}); left untouched")
            finally:
                conn.close()
        except sqlite3.OperationalError as error:
            raise StoreError(f"cannot open {path}: {error}") from None
        except sqlite3.DatabaseError as error:
            raise StoreRefused(f"{path} is a damaged SQLite database ({error}); left untouched") from None

    def _begin_write(self, cursor: Any) -> None:
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise StoreError(_write_problem(self.path, error)) from None

    def _has_table(self, cursor: Any, name: str) -> bool:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return cursor.fetchone() is not None

    def _foreign_tables(self, cursor: Any) -> list[str]:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return [str(row[0]) for row in cursor.fetchall()]

    def _check_or_create(self) -> None:
        try:
            super()._check_or_create()
        except sqlite3.OperationalError as error:
            raise StoreError(_write_problem(self.path, error)) from None

    def disk_bytes(self) -> int:
        """The file plus its WAL (what the store costs on disk now)."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())


def _write_problem(path: Path, error: Exception) -> str:
    text = str(error)
    if "readonly" in text.replace("-", "").replace(" ", "") or "read only" in text:
        return (f"{path} is read-only ({text}): give the node a writable memory_store path "
                f"(or '' for RAM only)")
    if not os.access(path.parent, os.W_OK):
        return f"{path}: its folder is not writable ({os.strerror(errno.EACCES)})"
    return f"{path}: {text}"
