"""What an outside client broke, over real DDS: each bad input is refused with its reason
and the node keeps working. One node serves the module.
"""
from __future__ import annotations

import pytest
from rclpy.qos import qos_profile_parameters
from textregion_msgs.srv import Find, Query

from engine_fixtures import photo_like
from node_session import NodeSession

QUERIES = ["red mug", "chair"]


@pytest.fixture(scope="module")
def session():
    with NodeSession(name="textregion_reliability", queries=QUERIES) as running:
        running.wait_until_active()
        yield running


@pytest.mark.parametrize("bad, reason", [
    ("mug; " + "x" * 400, "characters"),
    ("mug; bell\a", "control character"),
    ("object; things; Object", "duplicate query phrase"),
], ids=["over_max_query_chars", "control_character", "duplicate_phrase"])
def test_a_bad_background_queries_is_refused_when_set_and_the_one_in_force_kept(session, bad, reason):
    in_force = session.get_parameter("background_queries")
    result = session.set_parameter("background_queries", bad)
    assert not result.successful
    assert result.reason.startswith("background_queries: ") and reason in result.reason
    assert session.get_parameter("background_queries") == in_force


def test_frames_and_queries_still_work_after_a_refused_background_queries(session):
    assert not session.set_parameter("background_queries", "mug; " + "x" * 400).successful
    outputs = session.process(session.image(photo_like(48, 64, seed=3), 1900))
    assert outputs["labels"].width == 64
    response = session.query(["cup"])
    assert response.success, response.message


# -- 19.4: bursts of service calls -----------------------------------------------------------------
BURST = 200


def burst(session, srv_type, service: str, request) -> int:
    """Send BURST calls at once from one client (its own reply queue holds them all); how many got an answer."""
    client = session.probe.node.create_client(srv_type, session.topic(service), qos_profile=qos_profile_parameters)
    try:
        session.probe.spin_until(client.service_is_ready, 30, f"service {service}")
        futures = [client.call_async(request) for _ in range(BURST)]
        try:
            session.probe.spin_until(lambda: all(f.done() for f in futures), 60, f"{BURST} answers of {service}")
        except AssertionError:
            pass  # counted below
        return sum(f.done() for f in futures)
    finally:
        session.probe.node.destroy_client(client)


@pytest.fixture(scope="module")
def processed(session):
    """One processed frame, so ~/query and ~/find have something to answer from."""
    return session.process(session.image(photo_like(48, 64, seed=5), 1950))


def test_a_burst_of_find_calls_from_one_client_is_answered_in_full(session, processed):
    request = Find.Request(queries=["cup"], max_results=1)
    assert burst(session, Find, "find", request) == BURST


def test_a_burst_of_query_calls_from_one_client_is_answered_in_full(session, processed):
    request = Query.Request(queries=["cup"], threshold=0.0)
    assert burst(session, Query, "query", request) == BURST
