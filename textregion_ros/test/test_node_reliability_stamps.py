"""Stamps, tracking and memory settings an outside client tried, over real DDS.

Image stamps that step back a little, repeat, jump years ahead or are zero; `memory_size 1`,
`track_min_similarity` 0 and 1; two cameras of different resolutions on one image topic. The node
must process every such frame and answer `~/find` with records whose first_seen <= last_seen. One
node serves the module, in file order (the stamps move on from test to test). background_queries ""
makes every region one of the queries, so `~/find` always has objects to answer with.
"""
from __future__ import annotations

import time

import pytest
from sensor_msgs.msg import Image
from textregion_msgs.srv import Find

from engine_fixtures import photo_like
from node_session import CAMERA_TOPIC, RELIABLE, NodeSession

QUERIES = ["red mug", "chair"]
HEIGHT, WIDTH = 48, 64
NEAR_2027 = 1_800_000_000  # the outside run's stamps (January 2027)


@pytest.fixture(scope="module")
def session():
    with NodeSession(name="textregion_stamps", queries=QUERIES, background_queries="", track_max_age_s=0.5) as running:
        running.wait_until_active()
        yield running


def frame(session, sec: int, nanosec: int = 0, seed: int = 7, height: int = HEIGHT, width: int = WIDTH) -> Image:
    msg = session.image(photo_like(height, width, seed=seed), sec)
    msg.header.stamp.nanosec = nanosec
    return msg


def find(session, **fields) -> Find.Response:
    response = session.probe.call(Find, session.topic("find"), Find.Request(queries=QUERIES, **fields))
    assert response.success, response.message
    return response


def stamp_s(time_msg) -> float:
    return time_msg.sec + time_msg.nanosec * 1e-9


def process_exact(session, msg: Image, timeout: float = 120.0) -> dict:
    """Like session.process, matching the stamp to the nanosecond and waiting for one more output of it
    (so it also serves a stamp the node already answered)."""
    def labels_of(sec: int, nanosec: int) -> list:
        return [m for m in session.outputs["labels"] if (m.header.stamp.sec, m.header.stamp.nanosec) == (sec, nanosec)]

    sec, nanosec = msg.header.stamp.sec, msg.header.stamp.nanosec
    before = len(labels_of(sec, nanosec))
    deadline, sent = time.monotonic() + timeout, float("-inf")
    while time.monotonic() < deadline:
        if time.monotonic() - sent > 2.0:
            session.camera.publish(msg)
            sent = time.monotonic()
        session.probe.executor.spin_once(timeout_sec=0.05)
        if len(labels_of(sec, nanosec)) > before:
            session.probe.spin_for(0.3)  # the frame's other outputs
            return {key: [m for m in session.outputs[key] if (m.header.stamp.sec, m.header.stamp.nanosec) ==
                          (sec, nanosec)][-1] for key in ("labels", "detections", "region_tokens")}
    raise AssertionError(f"no new outputs for the frame stamped {sec}.{nanosec:09d}\n{session.child.log_tail()}")


def test_after_stamps_step_back_a_little_find_answers_first_seen_before_last_seen(session):
    """As an outside client sent them: 1800000000.0 then 1799999999.9 (0.1 s back, under track_max_age_s)
    gave first_seen 1800000000.0 > last_seen 1799999999.9 on every later ~/find."""
    session.process(frame(session, NEAR_2027))
    session.process(frame(session, NEAR_2027 - 1, 900_000_000))
    for _ in range(2):  # and keeps them ordered on later calls and frames
        objects = find(session).objects
        assert objects
        assert all(stamp_s(o.first_seen) <= stamp_s(o.last_seen) for o in objects), \
            [(stamp_s(o.first_seen), stamp_s(o.last_seen)) for o in objects]
        assert any(stamp_s(o.first_seen) == pytest.approx(NEAR_2027 - 0.1) and stamp_s(o.last_seen) == NEAR_2027
                   for o in objects)
        process_exact(session, frame(session, NEAR_2027 - 1, 950_000_000))


def test_a_small_step_back_keeps_the_track_ids(session):
    ahead = session.process(frame(session, NEAR_2027 + 10))
    back = session.process(frame(session, NEAR_2027 + 9, 800_000_000))  # 0.2 s back
    assert sorted(d.id for d in back["detections"].detections) == sorted(d.id for d in ahead["detections"].detections)


def test_a_repeated_stamp_is_processed_and_not_another_sighting(session):
    first = session.process(frame(session, NEAR_2027 + 20))
    sightings = {o.track_id: o.sightings for o in find(session).objects}
    again = process_exact(session, frame(session, NEAR_2027 + 20))
    assert sorted(d.id for d in again["detections"].detections) == sorted(d.id for d in first["detections"].detections)
    assert {o.track_id: o.sightings for o in find(session).objects} == sightings


def test_a_stamp_years_ahead_is_processed_and_find_answers_from_it(session):
    years_ahead = NEAR_2027 + 10 * 365 * 86400  # 2037: still an int32 of seconds
    out = session.process(frame(session, years_ahead))
    assert out["labels"].header.stamp.sec == years_ahead
    visible = [o for o in find(session).objects if o.visible_now]
    assert visible and all(o.last_seen.sec == years_ahead for o in visible)


def test_a_zero_stamp_is_processed_and_find_answers_from_it(session):
    out = session.process(frame(session, 0))  # years back: a new timeline, tracks and memory start again
    assert (out["labels"].header.stamp.sec, out["labels"].header.stamp.nanosec) == (0, 0)
    objects = find(session).objects
    assert objects and all((o.first_seen.sec, o.last_seen.sec) == (0, 0) for o in objects)


def test_memory_size_1_remembers_only_the_latest_object(session):
    assert session.set_parameter("memory_size", 1).successful
    try:
        session.process(frame(session, 100, seed=8))
        assert len(find(session).objects) == 1
        session.process(frame(session, 101, seed=9))
        [latest] = find(session).objects
        assert latest.last_seen.sec == 101
    finally:
        assert session.set_parameter("memory_size", 5000).successful


def test_track_min_similarity_0_keeps_the_ids_of_the_same_image(session):
    assert session.set_parameter("track_min_similarity", 0.0).successful
    try:
        first = process_exact(session, frame(session, 200, seed=10))
        second = process_exact(session, frame(session, 200, 200_000_000, seed=10))  # within track_max_age_s
        ids = sorted(d.id for d in first["detections"].detections)
        assert ids and sorted(d.id for d in second["detections"].detections) == ids
    finally:
        assert session.set_parameter("track_min_similarity", 0.5).successful


def test_track_min_similarity_1_still_gives_every_region_a_distinct_track(session):
    assert session.set_parameter("track_min_similarity", 1.0).successful
    try:
        for sec in (300, 301):
            out = session.process(frame(session, sec, seed=11))
            tracks = list(out["region_tokens"].track_ids)
            assert tracks and len(set(tracks)) == len(tracks)
            assert {d.id for d in out["detections"].detections} <= {str(t) for t in tracks}
        assert find(session).objects
    finally:
        assert session.set_parameter("track_min_similarity", 0.5).successful


def test_two_publishers_of_different_resolutions_on_the_image_topic_each_get_their_own_size(session):
    other_camera = session.probe.node.create_publisher(Image, CAMERA_TOPIC, RELIABLE)
    try:
        session.probe.spin_until(lambda: session.probe.node.count_publishers(CAMERA_TOPIC) >= 2, 30, "two publishers")
        for k in range(3):
            small = frame(session, 400 + 2 * k)
            session.camera.publish(small)
            big = frame(session, 401 + 2 * k, height=2 * HEIGHT, width=2 * WIDTH)
            other_camera.publish(big)
            small_out = session.process(small)
            big_out = session.process(big)  # the same publisher again if the first copy was superseded
            assert (small_out["labels"].width, small_out["labels"].height) == (WIDTH, HEIGHT)
            assert (big_out["labels"].width, big_out["labels"].height) == (2 * WIDTH, 2 * HEIGHT)
    finally:
        session.probe.node.destroy_publisher(other_camera)
