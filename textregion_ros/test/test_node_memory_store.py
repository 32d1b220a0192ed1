"""The object memory across reboots and robots over real DDS: two node processes with two robot ids
sharing one real PostgreSQL server (robot B finds what robot A saw; the server lost mid-run and back), and
a node restarted on the same SQLite file answering ~/find with what it saw before. Four node processes in
all, the fleet's shared by its tests: this is the costly part of the store's tests."""
from __future__ import annotations

import time

import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from textregion_msgs.srv import Find, Forget

from engine_fixtures import photo_like
from node_session import NodeSession
from store_helpers import fresh_postgres_url
from textregion_ros.objects.store import open_store
from textregion_ros.objects.store_records import resolve_store

QUERIES = ["red mug", "chair"]
STORE = dict(queries=QUERIES, background_queries="", memory_flush_s=0.2, memory_retry_s=0.5)


def find(session, robot_ids=(), map_id=""):
    request = Find.Request(queries=list(QUERIES), robot_ids=list(robot_ids), map_id=map_id)
    return session.probe.call(Find, session.topic("find"), request)


def find_until(session, condition, what: str, timeout: float = 60.0, **kwargs):
    """~/find again until its answer satisfies `condition` (the store is followed every flush)."""
    deadline = time.monotonic() + timeout
    while True:
        response = find(session, **kwargs)
        if condition(response):
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: last answer {response.message!r}")
        session.spin_until(lambda: True, 1.0, "a spin")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def fleet(postgres_server):
    url = fresh_postgres_url(postgres_server)
    with NodeSession(name="textregion_robot_a", robot_id="robot_a", memory_store=url, **STORE) as a, \
            NodeSession(name="textregion_robot_b", robot_id="robot_b", memory_store=url, **STORE) as b:
        a.wait_until_active()
        b.wait_until_active()
        yield a, b, url


def test_robot_b_finds_what_robot_a_saw(fleet):
    a, b, _ = fleet
    seen = a.process(a.image(photo_like(96, 128, seed=3), 100))
    tracks = {int(t) for t in seen["region_tokens"].track_ids}
    assert tracks
    response = find_until(b, lambda r: r.success and r.objects, "robot B to follow robot A", robot_ids=["robot_a"])
    assert {o.robot_id for o in response.objects} == {"robot_a"}
    assert {o.track_id for o in response.objects} <= tracks and not any(o.visible_now for o in response.objects)


def test_robot_filter_leaves_out_other_robots(fleet):
    a, b, _ = fleet
    find_until(b, lambda r: r.success and r.objects, "robot A's objects", robot_ids=["robot_a"])
    response = find(b, robot_ids=["robot_c"])
    assert response.success and not response.objects


def test_a_bad_store_url_is_refused_when_set_without_showing_its_password(fleet):
    a, _, _ = fleet
    result = a.set_parameter("memory_store", "mysql://fleet:Hunter-22@db/memory")
    assert not result.successful and "unsupported kind" in result.reason and "Hunter-22" not in result.reason


def test_forget_of_own_track_ids_leaves_them_out_of_find(fleet):
    a, _, _ = fleet
    seen = a.process(a.image(photo_like(96, 128, seed=4), 150))
    tracks = sorted(int(t) for t in seen["region_tokens"].track_ids)
    assert tracks and {o.track_id for o in find(a, robot_ids=["robot_a"]).objects} >= set(tracks)
    forgot = a.probe.call(Forget, a.topic("forget"), Forget.Request(track_ids=tracks[:1]))
    assert forgot.success and forgot.forgotten >= 1
    left = find(a, robot_ids=["robot_a"]).objects
    assert tracks[0] not in {o.track_id for o in left if o.session_id == a.value("store_session")}


def test_diagnostics_name_the_store_without_its_password(fleet):
    a, _, url = fleet
    status = a.status_when(lambda s: s.get("store_state") == "ok", 30.0, "the store to be ok")
    password = url.split(":")[2].split("@")[0]
    assert password not in repr(status) and ":***@" in status["store"] and status["store_robot_id"] == "robot_a"


def test_forget_on_robot_b_removes_robot_a_objects_from_its_answers_and_the_store(fleet):
    a, b, url = fleet
    find_until(b, lambda r: r.success and r.objects, "robot A's objects", robot_ids=["robot_a"])
    forgot = b.probe.call(Forget, b.topic("forget"), Forget.Request(robot_id="robot_a"))
    assert forgot.success and forgot.forgotten >= 1
    assert not find(b, robot_ids=["robot_a"]).objects
    store = open_store(resolve_store(url))
    deadline = time.monotonic() + 30.0
    while store.objects(robot_ids=["robot_a"]):  # B's writer deletes them at its next flush
        assert time.monotonic() < deadline, "the store still holds robot A's objects"
        time.sleep(0.2)


def test_store_lost_mid_run_frames_go_on_diagnostics_warn_without_the_password_then_it_is_back(fleet,
                                                                                                 postgres_server):
    """Last in the module's fleet tests: the shared server stops and starts again."""
    a, _, url = fleet
    password = url.split(":")[2].split("@")[0]
    postgres_server.stop_only()
    try:
        seen = a.process(a.image(photo_like(96, 128, seed=8), 400))  # frames never wait for the database
        assert seen["region_tokens"].region_count >= 1
        status = a.status_when(lambda s: s.get("store_state") == "unreachable", 60.0, "the store to be lost")
        assert status["_level"] == DiagnosticStatus.WARN and "object store unreachable" in status["_message"]
        assert find(a, robot_ids=["robot_a"]).objects  # ~/find answers from RAM meanwhile
    finally:
        postgres_server.restart_stopped()
    a.status_when(lambda s: s.get("store_state") == "ok", 60.0, "the store to be back")
    text = repr(a.status()) + a.child.log_text()
    assert password not in text and "textregion:***@127.0.0.1" in text


def test_a_node_restarted_on_the_same_sqlite_file_finds_what_it_saw(tmp_path):
    store = dict(STORE, memory_store=str(tmp_path / "memory.sqlite"), robot_id="robot_r")
    with NodeSession(name="textregion_reboot", **store) as first:
        first.wait_until_active()
        seen = first.process(first.image(photo_like(96, 128, seed=5), 200))
        tracks = {int(t) for t in seen["region_tokens"].track_ids}
        first.status_when(lambda s: int(s.get("store_written", "0")) >= len(tracks), 30.0, "the objects written")
        session_before = first.value("store_session")
    with NodeSession(name="textregion_reboot", **store) as second:
        second.wait_until_active()
        second.status_when(lambda s: s.get("store_state") == "ok", 30.0, "the store loaded")
        response = find(second)
        assert response.success, response.message
        assert {o.track_id for o in response.objects} == tracks
        assert {o.session_id for o in response.objects} == {session_before} != {second.value("store_session")}
