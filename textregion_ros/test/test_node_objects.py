"""Region tracks and the object memory over real DDS: stable detection ids, ~/find, ~/clear_memory.

Random weights make which class wins a region arbitrary, so the node runs with background_queries
"" (every region is one of the two queries): the tests check identity, stamps and errors, not
which phrase a region matches. One node serves the module, in file order: ~/find before any frame
first.
"""
from __future__ import annotations

import math

import pytest
from std_srvs.srv import Trigger
from textregion_msgs.srv import Find

from engine_fixtures import photo_like
from node_session import TRANSITIONS, NodeSession
from textregion_ros.ros.conversions import tokens_from_msg

QUERIES = ["red mug", "chair"]
FIRST_STAMP = 500
REPEATS = 5


@pytest.fixture(scope="module")
def session():
    with NodeSession(name="textregion_objects", queries=QUERIES, background_queries="") as running:
        running.wait_until_active()
        yield running


def find(session, queries=QUERIES, max_results: int = 0, min_score: float = 0.0, max_age_s: float = 0.0):
    request = Find.Request(queries=list(queries), max_results=max_results, min_score=min_score, max_age_s=max_age_s)
    return session.probe.call(Find, session.topic("find"), request)


@pytest.fixture(scope="module")
def repeated(session):
    """The same image five times, one second apart: the outputs of each."""
    rgb = photo_like(96, 128, seed=7)
    return [session.process(session.image(rgb, FIRST_STAMP + k)) for k in range(REPEATS)]


def test_find_before_any_frame_fails_saying_nothing_was_processed(session):
    response = find(session)
    assert not response.success and "no processed frame yet" in response.message


def test_the_same_frame_five_times_keeps_the_same_detection_ids(repeated):
    ids = [sorted(d.id for d in out["detections"].detections) for out in repeated]
    assert ids[0], "the frame has detections (background_queries is off)"
    assert all(frame_ids == ids[0] for frame_ids in ids)


def test_region_tokens_map_every_region_to_a_distinct_track(repeated):
    tokens = repeated[-1]["region_tokens"]
    tracks = list(tokens.track_ids)
    assert len(tracks) == tokens.region_count == tokens_from_msg(tokens).shape[0]
    assert len(set(tracks)) == len(tracks) and min(tracks) >= 1


def test_detection_ids_are_the_track_ids_of_their_regions(repeated):
    out = repeated[-1]
    assert {d.id for d in out["detections"].detections} <= {str(t) for t in out["region_tokens"].track_ids}


def test_find_returns_the_remembered_objects_with_first_and_last_sighting(session, repeated):
    response = find(session)
    assert response.success, response.message
    tracks = {str(t) for t in repeated[-1]["region_tokens"].track_ids}
    assert response.objects and {str(o.track_id) for o in response.objects} <= tracks
    for found in response.objects:
        assert found.first_seen.sec == FIRST_STAMP and found.last_seen.sec == FIRST_STAMP + REPEATS - 1
        assert found.sightings == REPEATS and found.visible_now and not found.has_3d
        assert found.query in QUERIES and 0.0 <= found.score <= 1.0
        assert found.detection.header.stamp.sec == FIRST_STAMP + REPEATS - 1
        assert found.detection.header.frame_id == "camera" and found.detection.id == str(found.track_id)
        assert found.detection.bbox.size_x > 0 and found.detection.bbox.size_y > 0


def test_find_orders_best_first_and_honours_max_results_and_min_score(session, repeated):
    everything = find(session).objects
    scores = [o.score for o in everything]
    assert scores == sorted(scores, reverse=True)
    assert [o.track_id for o in find(session, max_results=1).objects] == [everything[0].track_id]
    cut = scores[0]
    assert all(o.score >= cut for o in find(session, min_score=cut).objects)


def test_find_age_limit_leaves_out_objects_seen_before_it(session, repeated):
    other = photo_like(96, 128, seed=99)
    later = FIRST_STAMP + 100
    session.process(session.image(other, later))
    recent = find(session, max_age_s=10.0)
    assert recent.success and all(o.last_seen.sec == later for o in recent.objects)
    assert len(find(session).objects) >= len(recent.objects)


@pytest.mark.parametrize(("queries", "min_score", "max_age_s", "reason"), [
    ([], 0.0, 0.0, "no queries given"),
    ([f"thing {k}" for k in range(10_000)], 0.0, 0.0, "exceed max_queries"),
    (QUERIES, 1.5, 0.0, "min_score must be in [0, 1]"),
    (QUERIES, math.nan, 0.0, "min_score must be in [0, 1]"),
    (QUERIES, 0.0, -1.0, "max_age_s must be 0"),
    (QUERIES, math.inf, 0.0, "min_score must be in [0, 1]"),
    (QUERIES, -math.inf, 0.0, "min_score must be in [0, 1]"),
    (QUERIES, 0.0, math.nan, "max_age_s must be 0"),
    (QUERIES, 0.0, math.inf, "max_age_s must be 0"),
    (QUERIES, 0.0, 1e308, "max_age_s must be 0"),  # finite, but no stamp difference can be that large
    (["mug; "], 0.0, 0.0, "empty synonym"),
])
def test_bad_find_requests_get_a_clear_error(session, repeated, queries, min_score, max_age_s, reason):
    response = find(session, queries, min_score=min_score, max_age_s=max_age_s)
    assert not response.success and reason in response.message
    assert "Error" not in response.message  # a plain reason, never an exception's text


@pytest.mark.parametrize("threshold", [math.nan, math.inf, -math.inf, -0.5, 1.5])
def test_bad_query_thresholds_get_a_clear_error(session, repeated, threshold):
    response = session.query(QUERIES, threshold=threshold)
    assert not response.success and "threshold must be in [0, 1]" in response.message
    assert "Error" not in response.message


def test_clear_memory_forgets_every_object(session, repeated):
    assert find(session).objects
    cleared = session.probe.call(Trigger, session.topic("clear_memory"), Trigger.Request())
    assert cleared.success and cleared.message.startswith("forgot ")
    response = find(session)
    assert not response.objects


def test_tracking_weights_that_leave_nothing_to_compare_are_refused(session):
    assert session.set_parameter("track_weight_mask_iou", 0.0).successful
    try:
        result = session.set_parameter("track_weight_token", 0.0)
        assert not result.successful and result.reason.startswith("tracking: ")
    finally:
        assert session.set_parameter("track_weight_mask_iou", 1.0).successful


def test_memory_s_zero_turns_find_off_with_a_reason(session, repeated):
    assert session.set_parameter("memory_s", 0.0).successful
    try:
        response = find(session)
        assert not response.success and "memory is off" in response.message
    finally:
        assert session.set_parameter("memory_s", 600.0).successful


def test_cleanup_forgets_the_memory_and_a_new_configure_starts_empty(session, repeated):
    session.process(session.image(photo_like(96, 128, seed=11), FIRST_STAMP + 200))  # after the clears above
    assert find(session).objects
    for transition in ("deactivate", "cleanup", "configure", "activate"):
        assert session.lifecycle(TRANSITIONS[transition]), transition
    response = find(session)
    assert not response.objects
