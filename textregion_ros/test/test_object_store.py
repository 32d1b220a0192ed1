"""The persistent object store against a real SQLite file and a real PostgreSQL server: schema,
round trips, incremental following, forgetting, pruning, refusals, and the password never shown."""
from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
import threading

import numpy as np
import pytest

from store_helpers import MODEL, fresh_location, stored
from textregion_ros.objects.store import open_store
from textregion_ros.objects.store_records import (SCHEMA_VERSION, StoreError, StoreRefused, redact_url, resolve_store,
                                                  store_problem)

KINDS = ("sqlite", "postgresql")


@pytest.fixture(params=KINDS)
def location(request, tmp_path):
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    return fresh_location(request.param, tmp_path, server)


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_objects_round_trip_with_every_field(location):
    store = open_store(location)
    a, b = stored(1), stored(2, centre=None, map_id="")
    store.upsert([a, b])
    back = {obj.track_id: obj for obj in open_store(location).objects()}
    assert set(back) == {1, 2}
    got = back[1]
    assert (got.robot_id, got.session_id, got.model, got.map_id, got.region_3d) == (
        "robot_a", "s1", MODEL, "floor1", "map")
    assert (got.first_seen_ns, got.last_seen_ns, got.sightings, got.box_stamp_ns) == (
        a.first_seen_ns, a.last_seen_ns, 3, a.box_stamp_ns)
    np.testing.assert_array_equal(got.token, a.token)
    assert got.box == a.box and got.centre == a.centre and got.orientation == a.orientation and got.has_3d
    assert not back[2].has_3d and all(np.isnan(back[2].centre))


def test_upsert_updates_the_same_key_and_bumps_its_change_number(location):
    store = open_store(location)
    first = store.upsert([stored(1, seen_ns=10**9)])
    second = store.upsert([stored(1, seen_ns=5 * 10**9)])
    rows = store.objects()
    assert len(rows) == 1 and rows[0].last_seen_ns == 5 * 10**9 and second > first == rows[0].seq - 1


def test_same_track_id_of_two_sessions_or_robots_are_two_objects(location):
    store = open_store(location)
    store.upsert([stored(7, session="boot1"), stored(7, session="boot2"), stored(7, robot="robot_b")])
    assert store.count() == 3


def test_following_reads_only_changes_after_the_last_seen_number(location):
    writer, follower = open_store(location), open_store(location)
    cursor = writer.upsert([stored(1), stored(2)])
    assert [o.track_id for o in follower.objects(since_seq=cursor)] == []
    writer.upsert([stored(2, seen_ns=7 * 10**9), stored(3)])
    assert sorted(o.track_id for o in follower.objects(since_seq=cursor)) == [2, 3]


def test_forget_deletes_rows_and_tells_followers(location):
    store = open_store(location)
    store.upsert([stored(1), stored(2), stored(1, robot="robot_b")])
    cursor = store.last_seq()
    assert store.forget("robot_a", track_ids=[1]) == 1
    assert sorted(o.key for o in store.objects()) == [("robot_a", "s1", 2), ("robot_b", "s1", 1)]
    assert store.forget("robot_b") == 1
    assert [(r, t) for r, _, t, _ in store.forgotten(cursor)] == [("robot_a", 1), ("robot_b", -1)]


def test_prune_deletes_objects_last_seen_before_the_cut(location):
    store = open_store(location)
    store.upsert([stored(1, seen_ns=10**9), stored(2, seen_ns=100 * 10**9)])
    assert store.prune(50 * 10**9) == 1
    assert [o.track_id for o in store.objects()] == [2]


def test_a_newer_schema_is_refused_and_left_untouched(location):
    open_store(location).close()
    if location.kind == "sqlite":
        with sqlite3.connect(location.target) as conn:
            conn.execute("UPDATE textregion_meta SET value = ? WHERE key = 'schema_version'",
                         (str(SCHEMA_VERSION + 1),))
        before = _digest(location.target)
    else:
        import psycopg
        with psycopg.connect(location.target, autocommit=True) as conn:
            conn.execute("UPDATE textregion_meta SET value = %s WHERE key = 'schema_version'",
                         (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreRefused, match="newer textregion_ros"):
        open_store(location)
    if location.kind == "sqlite":
        assert _digest(location.target) == before


def test_writers_on_two_connections_never_lose_a_row(location):
    """Two writers at once (two nodes on one file / one server): every row lands, change numbers unique."""
    stores = [open_store(location), open_store(location)]

    def write(store, robot):
        for i in range(20):
            store.upsert([stored(i, robot=robot)])
    threads = [threading.Thread(target=write, args=(s, r)) for s, r in zip(stores, ("robot_a", "robot_b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = open_store(location).objects()
    assert len(rows) == 40 and len({o.seq for o in rows}) == 40


# -- SQLite files -------------------------------------------------------------------------------------------
def test_sqlite_store_is_in_wal_mode(tmp_path):
    location = resolve_store(str(tmp_path / "m.sqlite"))
    open_store(location).upsert([stored(1)])
    with sqlite3.connect(location.target) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_store_is_under_ros_home(monkeypatch, tmp_path):
    monkeypatch.setenv("ROS_HOME", str(tmp_path / "rh"))
    location = resolve_store("$ROS_HOME/textregion/memory.sqlite")
    assert location.kind == "sqlite" and location.target == str(tmp_path / "rh" / "textregion" / "memory.sqlite")
    monkeypatch.delenv("ROS_HOME")
    assert resolve_store("$ROS_HOME/x.sqlite").target == os.path.expanduser("~/.ros/x.sqlite")


def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "memory.sqlite"
    path.write_bytes(b"this is not a database\n" * 100)
    before = _digest(path)
    with pytest.raises(StoreRefused, match="not a SQLite database"):
        open_store(resolve_store(str(path)))
    assert _digest(path) == before


def test_a_damaged_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "memory.sqlite"
    store = open_store(resolve_store(str(path)))
    store.upsert([stored(i) for i in range(50)])
    store.close()  # the last connection checkpoints the WAL into the file
    data = bytearray(path.read_bytes())
    data[len(data) // 2:len(data) // 2 + 2048] = b"\xff" * 2048  # a page in the middle
    path.write_bytes(bytes(data))
    before = _digest(path)
    with pytest.raises(StoreRefused):
        open_store(resolve_store(str(path)))
    assert _digest(path) == before


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "rtabmap.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE Node (id INTEGER)")
    before = _digest(path)
    with pytest.raises(StoreRefused, match="not a textregion_ros store.*Node"):
        open_store(resolve_store(str(path)))
    assert _digest(path) == before


@contextlib.contextmanager
def read_only(*paths):
    """These paths read-only even for root (CI runs as root: the immutable attribute; else the modes)."""
    root = os.geteuid() == 0
    for path in paths:
        subprocess.run(["chattr", "+i", str(path)], check=True) if root else os.chmod(path, 0o555)
    try:
        yield
    finally:
        for path in paths:
            subprocess.run(["chattr", "-i", str(path)], check=True) if root else os.chmod(path, 0o755)


def test_a_read_only_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    target = folder / "sub" / "memory.sqlite"
    with read_only(folder), pytest.raises(StoreError, match="cannot create the folder of .*memory.sqlite"):
        open_store(resolve_store(str(target)))


def test_a_read_only_store_file_is_a_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    target = folder / "memory.sqlite"
    store = open_store(resolve_store(str(target)))
    store.upsert([stored(1)])
    store.close()
    with read_only(target, folder), pytest.raises(StoreError, match="read-only") as error:
        open_store(resolve_store(str(target))).upsert([stored(2)])
    assert str(target) in str(error.value)


def test_a_store_survives_kill_9_during_writes(tmp_path):
    """A writer killed mid-batch: the file opens again and holds every batch reported committed."""
    path = tmp_path / "memory.sqlite"
    code = ("import sys\nsys.path.insert(0, %r)\nfrom store_helpers import stored\n"
            "from textregion_ros.objects.store import open_store\n"
            "from textregion_ros.objects.store_records import resolve_store\n"
            "store = open_store(resolve_store(%r))\n"
            "for batch in range(100000):\n"
            "    store.upsert([stored(batch * 50 + i) for i in range(50)])\n"
            "    print(batch + 1, flush=True)\n") % (os.path.dirname(__file__), str(path))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    committed = 0
    while committed < 20:
        committed = int(child.stdout.readline())
    child.kill()
    child.wait()
    rows = open_store(resolve_store(str(path))).count()
    assert rows >= committed * 50 and rows % 50 == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- PostgreSQL URLs ----------------------------------------------------------------------------------------
def test_bad_urls_are_refused_with_a_reason():
    assert "unsupported kind" in store_problem("mysql://u:p@h/db")
    assert "without a host" in store_problem("postgresql:///db")
    assert "not a valid" in store_problem("postgresql://u:p@h:notaport/db")
    assert store_problem("postgresql://u:p@h:5432/db") is None and store_problem("") is None


def test_password_is_redacted_in_shown_urls():
    assert redact_url("postgresql://fleet:hunter2@db:5432/mem") == "postgresql://fleet:***@db:5432/mem"
    with pytest.raises(StoreRefused) as refused:
        resolve_store("postgresql://fleet:hunter2@db:badport/mem")
    assert "hunter2" not in str(refused.value)


def test_unreachable_server_error_never_shows_the_password(postgres_server):
    secret = "wrong-Secret-42"
    with pytest.raises(StoreError) as wrong_password:
        open_store(resolve_store(postgres_server.url(password=secret)))
    assert secret not in str(wrong_password.value) and "***" in str(wrong_password.value)
    with pytest.raises(StoreError) as closed_port:
        open_store(resolve_store(f"postgresql://u:{secret}@127.0.0.1:1/db"))
    assert secret not in str(closed_port.value) and "cannot reach" in str(closed_port.value)


def test_the_memory_store_parameter_refuses_a_bad_url_without_showing_its_password():
    from textregion_ros.params import BY_NAME, value_problem

    problem = value_problem(BY_NAME["memory_store"], "mysql://fleet:hunter2@db/mem")
    assert problem.startswith("memory_store is a URL of an unsupported kind") and "hunter2" not in problem
    assert "fleet:***@db" in problem
    assert value_problem(BY_NAME["memory_store"], "postgresql://fleet:hunter2@db/mem") is None


def test_object_chunks_page_through_every_object_once(location):
    store = open_store(location)
    store.upsert([stored(i) for i in range(23)])
    chunks = list(store.object_chunks(chunk=5))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 3]
    assert sorted(o.track_id for c in chunks for o in c) == list(range(23))
