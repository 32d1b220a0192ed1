"""The object store on a PostgreSQL server shared by a fleet (memory_store = postgresql://...).

Client library: psycopg 3 (PyPI `psycopg[binary]`; the binary extra bundles libpq, so nothing else is
installed on the robot). Plain SQL only: no extension (no pgvector) is needed or assumed, because the
node scores tokens itself in RAM.

Connecting waits at most CONNECT_TIMEOUT_S; every error that leaves this module is scrubbed of the
URL's password.
"""
from __future__ import annotations

from typing import Any

from .store import ObjectStore
from .store_records import StoreError

CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 30000
_SCHEMA_LOCK = 0x7465787472  # an advisory-lock number of our own ("textr")


class PostgresStore(ObjectStore):
    """The object store on PostgreSQL, shared by a fleet of robots."""
    MARK = "%s"
    TYPES = {"text": "TEXT", "bigint": "BIGINT", "double": "DOUBLE PRECISION", "blob": "BYTEA"}

    def _connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise StoreError("memory_store is a postgresql:// URL but the PostgreSQL client library is missing: "
                             "pip install 'psycopg[binary]' (rosdep key python3-psycopg)") from None
        try:
            # TCP keepalives: a server that vanished without closing (a robot out of Wi-Fi range) is
            # noticed in about 10 s instead of the kernel's hours; the writer then retries
            conn = psycopg.connect(self.location.target, connect_timeout=CONNECT_TIMEOUT_S,
                                   application_name="textregion_ros", keepalives=1, keepalives_idle=5,
                                   keepalives_interval=2, keepalives_count=3)
            conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
            conn.commit()
            return conn
        except Exception as error:
            # libpq's messages name the host and user, never the password; scrubbed all the same
            raise StoreError(self.location.scrub(f"cannot reach {self.shown}: {str(error).strip()}")) from None

    def _lock_schema(self, cursor: Any) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))

    def _has_table(self, cursor: Any, name: str) -> bool:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        return bool(cursor.fetchone()[0])
