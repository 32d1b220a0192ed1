"""The persistent object store: one table of objects, a change counter, a table of forgotten keys.

SQLite (a file on the robot, WAL mode) and PostgreSQL (one server for a fleet) share this code; only
connecting, the column types and the parameter marks differ (store_sqlite.py, store_postgres.py).

Every write (a batch of upserts, a forget, a prune) is one transaction that first bumps the one
counter row: the row lock orders the writers, so change numbers are handed out in commit order and a
reader that has seen number N has seen every change up to N. That is what makes following a shared
store incremental ("rows with seq > the last one I saw") without missing a row another robot was
still committing.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Iterator, Optional, Sequence

import numpy as np

from .store_records import (APPLICATION, FORGOTTEN_TABLE, META_TABLE, OBJECTS_TABLE, SCHEMA_VERSION, StoredObject,
                            StoreError, StoreLocation, StoreRefused, token_bytes, token_from_bytes)

logger = logging.getLogger(__name__)
COUNTER_TABLE = "textregion_counter"

# Columns after the key, in the order of StoredObject's fields (box, centre, ... flattened).
_VALUE_COLUMNS = (
    ("model", "text"), ("first_seen_ns", "bigint"), ("last_seen_ns", "bigint"), ("sightings", "bigint"),
    ("token", "blob"),
    ("box_x1", "double"), ("box_y1", "double"), ("box_x2", "double"), ("box_y2", "double"),
    ("box_frame", "text"), ("box_stamp_ns", "bigint"), ("has_3d", "bigint"),
    ("centre_x", "double"), ("centre_y", "double"), ("centre_z", "double"),
    ("box_centre_x", "double"), ("box_centre_y", "double"), ("box_centre_z", "double"),
    ("size_x", "double"), ("size_y", "double"), ("size_z", "double"),
    ("orientation_x", "double"), ("orientation_y", "double"), ("orientation_z", "double"),
    ("orientation_w", "double"),
    ("region_3d", "text"), ("stamp_3d_ns", "bigint"), ("map_id", "text"), ("seq", "bigint"),
)
_KEY_COLUMNS = (("robot_id", "text"), ("session_id", "text"), ("track_id", "bigint"))
COLUMNS = tuple(name for name, _ in _KEY_COLUMNS + _VALUE_COLUMNS)


def _finite_or_none(value: float) -> Optional[float]:
    return float(value) if np.isfinite(value) else None


def _row(obj: StoredObject, seq: int) -> tuple:
    """The row of one object (NaN as NULL: PostgreSQL and SQLite both keep NULL, not every NaN)."""
    numbers = [*obj.box, *obj.centre, *obj.box_centre, *obj.size, *obj.orientation]
    b, c, bc, s, o = (numbers[0:4], numbers[4:7], numbers[7:10], numbers[10:13], numbers[13:17])
    f = _finite_or_none
    return (obj.robot_id, obj.session_id, int(obj.track_id), obj.model, int(obj.first_seen_ns),
            int(obj.last_seen_ns), int(obj.sightings), token_bytes(obj.token),
            *[f(v) for v in b], obj.box_frame, int(obj.box_stamp_ns), int(bool(obj.has_3d)),
            *[f(v) for v in c], *[f(v) for v in bc], *[f(v) for v in s], *[f(v) for v in o],
            obj.region_3d, int(obj.stamp_3d_ns), obj.map_id, int(seq))


def _nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _object(row: Sequence[Any]) -> StoredObject:
    (robot, session, track, model, first, last, sightings, token, *rest) = row
    n = [_nan(v) for v in rest[0:4]]
    box_frame, box_stamp, has_3d = rest[4], rest[5], rest[6]
    g = [_nan(v) for v in rest[7:20]]
    region_3d, stamp_3d, map_id, seq = rest[20], rest[21], rest[22], rest[23]
    return StoredObject(str(robot), str(session), int(track), str(model), int(first), int(last), int(sightings),
                        token_from_bytes(token), tuple(n), str(box_frame), int(box_stamp), bool(has_3d),
                        tuple(g[0:3]), tuple(g[3:6]), tuple(g[6:9]), tuple(g[9:13]), str(region_3d), int(stamp_3d),
                        str(map_id), int(seq))


class ObjectStore:
    """Common SQL of both back ends. Not thread-safe: one thread (the writer, or the CLI) uses it."""

    MARK = "?"  # the driver's parameter mark
    TYPES = {"text": "TEXT", "bigint": "BIGINT", "double": "DOUBLE PRECISION", "blob": "BLOB"}

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self._conn: Any = None

    # -- connection (back ends) ------------------------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _begin_write(self, cursor: Any) -> None:
        """Start a write transaction (SQLite takes its write lock here)."""

    def _lock_schema(self, cursor: Any) -> None:
        """Serialise schema creation between processes (PostgreSQL); SQLite's write lock does it."""

    def _foreign_tables(self, cursor: Any) -> list[str]:
        """Tables that are not ours, in a database without our meta table (refused when any)."""
        return []

    def _has_table(self, cursor: Any, name: str) -> bool:
        raise NotImplementedError

    @property
    def shown(self) -> str:
        return self.location.shown

    def open(self) -> "ObjectStore":
        """Connect, check the schema (refuse a newer or foreign one), create it when the store is new."""
        try:
            self._conn = self._connect()
            self._check_or_create()
        except StoreError:
            self.close()
            raise
        except Exception as error:
            self.close()
            raise StoreError(self.location.scrub(f"{self.shown}: {error}")) from None
        return self

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken: nothing more to release
                pass
            self._conn = None

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def _sql(self, text: str) -> str:
        return text.replace("?", self.MARK) if self.MARK != "?" else text

    def _check_or_create(self) -> None:
        cursor = self._conn.cursor()
        self._begin_write(cursor)
        self._lock_schema(cursor)
        if self._has_table(cursor, META_TABLE):
            cursor.execute(f"SELECT key, value FROM {META_TABLE}")
            meta = {str(k): str(v) for k, v in cursor.fetchall()}
            self._conn.rollback()
            check_meta(meta, self.shown)
            return
        foreign = self._foreign_tables(cursor)
        if foreign:
            self._conn.rollback()
            raise StoreRefused(f"{self.shown} is not a textregion_ros store (it holds other tables: "
                               f"{', '.join(sorted(foreign)[:5])}); left untouched")
        columns = ", ".join(f"{name} {self.TYPES[kind]}" for name, kind in _KEY_COLUMNS + _VALUE_COLUMNS)
        cursor.execute(f"CREATE TABLE {OBJECTS_TABLE} ({columns}, PRIMARY KEY (robot_id, session_id, track_id))")
        cursor.execute(f"CREATE INDEX {OBJECTS_TABLE}_seq ON {OBJECTS_TABLE} (seq)")
        cursor.execute(f"CREATE INDEX {OBJECTS_TABLE}_last_seen ON {OBJECTS_TABLE} (last_seen_ns)")
        cursor.execute(f"CREATE TABLE {FORGOTTEN_TABLE} (robot_id TEXT NOT NULL, session_id TEXT NOT NULL, "
                       f"track_id BIGINT NOT NULL, seq BIGINT NOT NULL)")
        cursor.execute(f"CREATE INDEX {FORGOTTEN_TABLE}_seq ON {FORGOTTEN_TABLE} (seq)")
        cursor.execute(f"CREATE TABLE {COUNTER_TABLE} (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL)")
        cursor.execute(f"INSERT INTO {COUNTER_TABLE} VALUES (1, 0)")
        cursor.execute(f"CREATE TABLE {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        cursor.executemany(self._sql(f"INSERT INTO {META_TABLE} VALUES (?, ?)"),
                           [("application", APPLICATION), ("schema_version", str(SCHEMA_VERSION))])
        self._conn.commit()
        logger.info("created a new object store in %s (schema %d)", self.shown, SCHEMA_VERSION)

    # -- writing ---------------------------------------------------------------------------------------
    def _next_seq(self, cursor: Any, count: int) -> int:
        """Reserve `count` change numbers; returns the first. Holds the counter row until commit."""
        cursor.execute(self._sql(f"UPDATE {COUNTER_TABLE} SET seq = seq + ? WHERE id = 1"), (int(count),))
        cursor.execute(f"SELECT seq FROM {COUNTER_TABLE} WHERE id = 1")
        return int(cursor.fetchone()[0]) - int(count) + 1

    def _write(self, work) -> Any:
        """Run work(cursor) in one write transaction; errors leave nothing half-written."""
        if self._conn is None:
            raise StoreError(f"{self.shown}: not open")
        try:
            cursor = self._conn.cursor()
            self._begin_write(cursor)
            result = work(cursor)
            self._conn.commit()
            return result
        except Exception as error:
            try:
                self._conn.rollback()
            except Exception:
                pass
            if isinstance(error, StoreError):
                raise
            raise StoreError(self.location.scrub(f"{self.shown}: {error}")) from None

    def upsert(self, objects: Sequence[StoredObject]) -> int:
        """Insert or update these objects in one transaction; returns the last change number."""
        if not objects:
            return 0
        updates = ", ".join(f"{name} = excluded.{name}" for name, _ in _VALUE_COLUMNS)
        sql = self._sql(f"INSERT INTO {OBJECTS_TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
                        f"ON CONFLICT (robot_id, session_id, track_id) DO UPDATE SET {updates}")

        def work(cursor: Any) -> int:
            first = self._next_seq(cursor, len(objects))
            cursor.executemany(sql, [_row(obj, first + i) for i, obj in enumerate(objects)])
            return first + len(objects) - 1
        return self._write(work)

    def forget(self, robot_id: str, session_id: str = "", track_ids: Iterable[int] = ()) -> int:
        """Delete one robot's objects (of one session, and/or these track ids); followers learn it
        from the forgotten table. Returns how many rows went."""
        tracks = [int(t) for t in track_ids]
        where, args = "robot_id = ?", [robot_id]
        if session_id:
            where, args = where + " AND session_id = ?", args + [session_id]

        def work(cursor: Any) -> int:
            seq = self._next_seq(cursor, 1)
            deleted = 0
            if tracks:
                for track in tracks:
                    cursor.execute(self._sql(f"DELETE FROM {OBJECTS_TABLE} WHERE {where} AND track_id = ?"),
                                   (*args, track))
                    deleted += max(cursor.rowcount, 0)
                marks = [(robot_id, session_id, track, seq) for track in tracks]
            else:
                cursor.execute(self._sql(f"DELETE FROM {OBJECTS_TABLE} WHERE {where}"), tuple(args))
                deleted = max(cursor.rowcount, 0)
                marks = [(robot_id, session_id, -1, seq)]
            cursor.executemany(self._sql(f"INSERT INTO {FORGOTTEN_TABLE} VALUES (?, ?, ?, ?)"), marks)
            return deleted
        return self._write(work)

    def prune(self, last_seen_before_ns: int) -> int:
        """Delete objects last seen before this stamp (memory_retention_s); returns how many."""
        def work(cursor: Any) -> int:
            cursor.execute(self._sql(f"DELETE FROM {OBJECTS_TABLE} WHERE last_seen_ns < ?"),
                           (int(last_seen_before_ns),))
            return max(cursor.rowcount, 0)
        return self._write(work)

    # -- reading ---------------------------------------------------------------------------------------
    def _read(self, sql: str, args: tuple = ()) -> list:
        if self._conn is None:
            raise StoreError(f"{self.shown}: not open")
        try:
            cursor = self._conn.cursor()
            cursor.execute(self._sql(sql), args)
            rows = cursor.fetchall()
            self._conn.commit()  # end the read transaction: the next read sees newer commits
            return rows
        except Exception as error:
            try:
                self._conn.rollback()
            except Exception:
                pass
            raise StoreError(self.location.scrub(f"{self.shown}: {error}")) from None

    def objects(self, since_seq: int = 0, robot_ids: Sequence[str] = ()) -> list[StoredObject]:
        """Objects changed after change number `since_seq` (0 = all), oldest change first."""
        where, args = "seq > ?", [int(since_seq)]
        if robot_ids:
            where += f" AND robot_id IN ({', '.join('?' * len(robot_ids))})"
            args += list(robot_ids)
        rows = self._read(f"SELECT {', '.join(COLUMNS)} FROM {OBJECTS_TABLE} WHERE {where} ORDER BY seq", tuple(args))
        return [_object(row) for row in rows]

    def object_chunks(self, since_seq: int = 0, chunk: int = 5000) -> Iterator[list[StoredObject]]:
        """objects() in chunks of at most `chunk` (keyset pages on the change number): a cold start of
        100k objects never holds every row twice."""
        last = int(since_seq)
        while True:
            rows = self._read(f"SELECT {', '.join(COLUMNS)} FROM {OBJECTS_TABLE} WHERE seq > ? ORDER BY seq "
                              f"LIMIT {int(chunk)}", (last,))
            if not rows:
                return
            objects = [_object(row) for row in rows]
            yield objects
            last = objects[-1].seq
            if len(rows) < chunk:
                return

    def forgotten(self, since_seq: int) -> list[tuple[str, str, int, int]]:
        """(robot_id, session_id or '', track_id or -1, seq) forgotten after `since_seq`."""
        rows = self._read(f"SELECT robot_id, session_id, track_id, seq FROM {FORGOTTEN_TABLE} "
                          "WHERE seq > ? ORDER BY seq", (int(since_seq),))
        return [(str(r), str(s), int(t), int(q)) for r, s, t, q in rows]

    def last_seq(self) -> int:
        return int(self._read(f"SELECT seq FROM {COUNTER_TABLE} WHERE id = 1")[0][0])

    def count(self) -> int:
        return int(self._read(f"SELECT COUNT(*) FROM {OBJECTS_TABLE}")[0][0])


def check_meta(meta: dict[str, str], shown: str) -> None:
    """Refuse a store of another application or of a newer schema (never written to: left as it is)."""
    if meta.get("application") != APPLICATION:
        raise StoreRefused(f"{shown} is not a textregion_ros store (application {meta.get('application')!r}); "
                           f"left untouched")
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        raise StoreRefused(f"{shown} has no readable schema version; left untouched") from None
    if version > SCHEMA_VERSION:
        raise StoreRefused(f"{shown} was written by a newer textregion_ros (schema {version}; this one reads up to "
                           f"{SCHEMA_VERSION}): upgrade textregion_ros or point memory_store elsewhere; left untouched")


def open_store(location: StoreLocation) -> ObjectStore:
    """The opened store of a resolved location (sqlite or postgresql); StoreError says why not."""
    if location.kind == "sqlite":
        from .store_sqlite import SqliteStore
        return SqliteStore(location).open()
    if location.kind == "postgresql":
        from .store_postgres import PostgresStore
        return PostgresStore(location).open()
    raise StoreError("memory_store is empty: the memory is in RAM only, there is no store to open")
