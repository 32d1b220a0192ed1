"""The writer between the frame thread and the store, on real SQLite files and a real PostgreSQL server:
batching, following another robot, continuation across restarts, forgetting, and each fault (store
unreachable at start, lost mid-run, refused file, full queue)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from store_helpers import MODEL, fresh_postgres_url, stored, token
from textregion_ros.objects.persistent_memory import PersistenceSettings, PersistentMemory
from textregion_ros.objects.store import open_store
from textregion_ros.objects.store_records import resolve_store
from textregion_ros.spatial.transform import Boxes3D

NS = 10**9


def spatial(centres) -> Boxes3D:
    centres = np.asarray(centres, dtype=np.float64)
    n = centres.shape[0]
    return Boxes3D(centres, centres, np.full((n, 3), 0.2), np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)), np.ones(n, bool),
                   "map", 0)


def settings(store: str, robot: str = "robot_a", **changes) -> PersistenceSettings:
    values = dict(location=resolve_store(store), robot_id=robot, map_id="floor1", flush_s=0.05, retry_s=0.1)
    values.update(changes)
    return PersistenceSettings(**values)


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def frame(memory: PersistentMemory, stamp_s: int, track_ids, seeds, centres=None) -> None:
    tokens = np.stack([token(s) for s in seeds])
    boxes = np.tile([1.0, 2.0, 30.0, 40.0], (len(track_ids), 1))
    memory.enqueue(stamp_s * NS, "camera", np.asarray(track_ids), tokens, boxes,
                   spatial(centres) if centres is not None else None)


@pytest.fixture
def sqlite_path(tmp_path):
    return str(tmp_path / "memory.sqlite")


def test_frames_reach_the_store_in_batches(sqlite_path):
    memory = PersistentMemory(settings(sqlite_path), MODEL).start()
    for stamp in range(1, 6):
        frame(memory, stamp, [1, 2], [11, 12])
    wait_for(lambda: memory.written >= 2 and memory._queue.qsize() == 0 and not memory._dirty, "the writes")
    memory.stop()
    rows = {o.track_id: o for o in open_store(resolve_store(sqlite_path)).objects()}
    assert set(rows) == {1, 2} and rows[1].sightings == 5 and rows[1].last_seen_ns == 5 * NS
    assert rows[1].first_seen_ns == NS and rows[1].session_id == memory.session_id and rows[1].model == MODEL


def test_enqueue_never_blocks_and_counts_overflow(sqlite_path):
    memory = PersistentMemory(settings(sqlite_path, queue_size=3), MODEL)  # writer not started: nothing drains
    accepted = [memory.enqueue(i * NS, "camera", np.array([1]), token(1)[None], np.zeros((1, 4)), None)
                for i in range(10)]
    assert accepted == [True] * 3 + [False] * 7 and memory.status()["store_queue_overflow"] == "7"


def test_a_restarted_session_loads_what_the_last_one_wrote(sqlite_path):
    first = PersistentMemory(settings(sqlite_path), MODEL).start()
    frame(first, 1, [1], [21], [[1.0, 1.0, 0.5]])
    wait_for(lambda: first.written == 1, "the write")
    first.stop()
    second = PersistentMemory(settings(sqlite_path), MODEL).start()
    wait_for(lambda: second.state == "ok", "the store to open")
    assert second.loaded == 1 and len(second.index) == 1 and second.session_id != first.session_id
    second.stop()


def test_retention_drops_objects_unseen_for_longer_at_start(sqlite_path):
    now = time.time_ns()
    open_store(resolve_store(sqlite_path)).upsert([stored(1, seen_ns=now - 7200 * NS), stored(2, seen_ns=now)])
    memory = PersistentMemory(settings(sqlite_path, retention_s=3600.0), MODEL).start()
    wait_for(lambda: memory.state == "ok", "the store to open")
    memory.stop()
    assert memory.loaded == 1 and [o.track_id for o in open_store(resolve_store(sqlite_path)).objects()] == [2]


def test_tokens_of_another_model_are_never_indexed(sqlite_path):
    store = open_store(resolve_store(sqlite_path))
    store.upsert([stored(1, model="clip:ViT-B-16:openai"), stored(2)])
    memory = PersistentMemory(settings(sqlite_path), MODEL).start()
    wait_for(lambda: memory.state == "ok", "the store to open")
    assert [o.obj.track_id for o in memory.index.search(lambda t: (np.zeros(len(t)), np.ones(len(t))), 0)] == [2]
    memory.stop()


def test_a_new_track_at_the_same_place_with_a_similar_token_continues_the_old_record(sqlite_path):
    open_store(resolve_store(sqlite_path)).upsert([stored(7, session="old", seed=5, centre=(1.0, 2.0, 0.5))])
    memory = PersistentMemory(settings(sqlite_path), MODEL).start()
    wait_for(lambda: memory.state == "ok", "the store to open")
    # track 1: same place (0.1 m off), same token -> continues; track 2: same token, 2 m away -> new record
    frame(memory, 50, [1, 2], [5, 5], [[1.1, 2.0, 0.5], [3.0, 2.0, 0.5]])
    wait_for(lambda: memory.written >= 2, "the writes")
    memory.stop()
    rows = {(o.session_id, o.track_id): o for o in open_store(resolve_store(sqlite_path)).objects()}
    assert set(rows) == {("old", 7), (memory.session_id, 2)}
    assert rows[("old", 7)].sightings == 4 and rows[("old", 7)].last_seen_ns == 50 * NS and memory.continued == 1


def test_a_different_token_or_another_map_never_continues_a_record(sqlite_path):
    open_store(resolve_store(sqlite_path)).upsert([stored(7, session="old", seed=5), stored(8, session="old", seed=6,
                                                                                             map_id="floor2")])
    memory = PersistentMemory(settings(sqlite_path), MODEL).start()
    wait_for(lambda: memory.state == "ok", "the store to open")
    frame(memory, 50, [1, 2], [99, 6], [[1.0, 2.0, 0.5], [1.0, 2.0, 0.5]])
    wait_for(lambda: memory.written >= 2, "the writes")
    memory.stop()
    assert memory.continued == 0 and open_store(resolve_store(sqlite_path)).count() == 4


def test_forget_removes_from_the_index_and_the_store(sqlite_path):
    open_store(resolve_store(sqlite_path)).upsert([stored(1, session="old"), stored(2, session="old")])
    memory = PersistentMemory(settings(sqlite_path), MODEL).start()
    wait_for(lambda: memory.state == "ok", "the store to open")
    assert memory.forget("robot_a", "old", (1,)) == 1 and len(memory.index) == 1
    wait_for(lambda: open_store(resolve_store(sqlite_path)).count() == 1, "the store's delete")
    memory.stop()


def test_a_frame_queued_before_a_forget_does_not_bring_the_object_back(sqlite_path):
    memory = PersistentMemory(settings(sqlite_path), MODEL)  # not started: both wait in the queue, in order
    frame(memory, 1, [1, 2], [1, 2])
    memory.forget("robot_a", memory.session_id, (1,))
    memory.start()
    wait_for(lambda: memory.flushes >= 1 and memory.written >= 1, "the flush")
    memory.stop()
    assert [o.track_id for o in open_store(resolve_store(sqlite_path)).objects()] == [2]
    assert [o.track_id for o in memory.index._objects] == [2]


def test_two_sessions_on_one_sqlite_file_see_each_other(sqlite_path):
    a = PersistentMemory(settings(sqlite_path, robot="robot_a"), MODEL).start()
    b = PersistentMemory(settings(sqlite_path, robot="robot_b"), MODEL).start()
    frame(a, 1, [1], [31])
    frame(b, 1, [1], [32])
    wait_for(lambda: {o.robot_id for o in b.index._objects} == {"robot_a", "robot_b"}, "b to follow a")
    wait_for(lambda: {o.robot_id for o in a.index._objects} == {"robot_a", "robot_b"}, "a to follow b")
    a.stop()
    b.stop()


def test_a_refused_file_leaves_the_memory_in_ram_and_untouched(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"my notes, not a database")
    memory = PersistentMemory(settings(str(path)), MODEL).start()
    wait_for(lambda: memory.state == "refused", "the refusal")
    frame(memory, 1, [1], [1])
    memory.stop()
    assert "not a SQLite database" in memory.status()["store_reason"] and memory.degraded
    assert path.read_bytes() == b"my notes, not a database"


# -- PostgreSQL: a fleet, and a server that is away ------------------------------------------------------------
def test_robot_b_indexes_what_robot_a_wrote_within_a_flush(postgres_server):
    url = fresh_postgres_url(postgres_server)
    a = PersistentMemory(settings(url, robot="robot_a"), MODEL).start()
    b = PersistentMemory(settings(url, robot="robot_b"), MODEL).start()
    wait_for(lambda: a.state == b.state == "ok", "both stores")
    frame(a, 1, [4], [41], [[0.0, 0.0, 1.0]])
    wait_for(lambda: len(b.index) == 1, "b to follow a")
    seen = b.index._objects[0]
    assert (seen.robot_id, seen.track_id, seen.map_id) == ("robot_a", 4, "floor1")
    a.stop()
    b.stop()


def test_store_unreachable_at_start_then_back_gets_what_was_queued(postgres_server, tmp_path):
    """The server is down at start: RAM + the reason; once it is up, everything seen meanwhile is written."""
    url = fresh_postgres_url(postgres_server)
    postgres_server.stop_only()
    try:
        memory = PersistentMemory(settings(url), MODEL).start()
        wait_for(lambda: memory.state == "unreachable", "the first failed try")
        frame(memory, 1, [1, 2], [1, 2])
        frame(memory, 2, [1], [1])
        assert "cannot reach" in memory.status()["store_reason"] and memory.degraded
    finally:
        postgres_server.restart_stopped()
    wait_for(lambda: memory.state == "ok" and not memory._dirty, "the store back and flushed")
    memory.stop()
    rows = {o.track_id: o for o in open_store(resolve_store(url)).objects()}
    assert set(rows) == {1, 2} and rows[1].sightings == 2


def test_store_lost_mid_run_never_blocks_frames(postgres_server):
    url = fresh_postgres_url(postgres_server)
    memory = PersistentMemory(settings(url), MODEL).start()
    frame(memory, 1, [1], [1])
    wait_for(lambda: memory.written == 1, "the first write")
    postgres_server.stop_only()
    try:
        frame(memory, 2, [1, 3], [1, 3])
        wait_for(lambda: memory.state == "unreachable", "the lost store")
        accepted = [memory.enqueue((3 + i) * NS, "camera", np.array([3]), token(3)[None], np.zeros((1, 4)), None)
                    for i in range(50)]
        assert all(accepted)  # the writer keeps draining into RAM while the server is away
    finally:
        postgres_server.restart_stopped()
    wait_for(lambda: memory.state == "ok" and not memory._dirty, "the store back and flushed")
    memory.stop()
    assert {o.track_id: o.sightings for o in open_store(resolve_store(url)).objects()} == {1: 2, 3: 51}


def test_status_never_shows_the_password(postgres_server):
    secret = "Wrong-Pass-99"
    memory = PersistentMemory(settings(postgres_server.url(password=secret)), MODEL).start()
    wait_for(lambda: memory.state == "unreachable", "the failed try")
    memory.stop()
    assert secret not in repr(memory.status()) and "***" in memory.status()["store"]
