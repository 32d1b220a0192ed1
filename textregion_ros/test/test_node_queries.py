"""Queries over real DDS: every path checks phrases by the same rules, and encoding never holds anything up.

The four ways in (the `queries` topic, ~/set_queries, the `queries` parameter, ~/query) share one
validation: too long, hidden characters and empty items are refused with the same reason on each.
New phrases are encoded off the frame thread, so frames and ~/query answers for phrases already
encoded go on meanwhile: those tests run a second node in this process and hold its real text model
(or SAM2's image encoder) inside a forward while they check what goes on. One child node serves the
other tests; a test that changes the queries puts them back.
"""
from __future__ import annotations

import pytest
from std_msgs.msg import String
from textregion_msgs.srv import Query

from engine_fixtures import photo_like
from model_gates import ModelGate, text_tower
from node_session import NodeSession

QUERIES = ["red mug", "chair"]
PATHS = ("topic", "service", "parameter", "query")
TOPIC_REJECTED = "rejected queries from the topic: "
# One more character than max_query_chars allows by default (200).
TOO_LONG = ("a red mug on a wooden kitchen table " * 6)[:201]
# name -> (character, how the node describes it)
HIDDEN_CHARACTERS = {
    "escape": ("\x1b", "a control character (U+001B)"),
    "bell": ("\x07", "a control character (U+0007)"),
    "c1 control sequence introducer": ("\x9b", "a control character (U+009B)"),
    "zero width space": ("\u200b", "an invisible format character (U+200B ZERO WIDTH SPACE)"),
    "right-to-left override": ("\u202e", "an invisible format character (U+202E RIGHT-TO-LEFT OVERRIDE)"),
}


@pytest.fixture(scope="module")
def session():
    with NodeSession(name="textregion_queries", queries=QUERIES) as running:
        running.wait_until_active()
        yield running


@pytest.fixture(scope="module")
def first_frame(session):
    """One processed frame (stamp 100), so ~/query has region tokens to answer from; the module's
    queries known in force (LabelInfo), the state every test starts from and compares with."""
    out = session.process(session.image(photo_like(96, 128), 100))
    session.spin_until(lambda: classes_in_force(session) == QUERIES, 30, "LabelInfo of the module's queries")
    return out


def classes_in_force(session) -> list[str]:
    """The classes of the latest LabelInfo: the queries the node's outputs use."""
    return [entry.class_name for entry in session.label_info[-1].class_map] if session.label_info else []


def topic_rejection(session, data: str, timeout: float = 30.0) -> str:
    """Publish `data` on the `queries` topic; the reason the node logs for refusing it ('' if taken).

    The topic has no reply, so the node's log says why (each distinct problem once) and LabelInfo
    says when queries were taken instead.
    """
    logged = session.child.log_text().count(TOPIC_REJECTED)
    classes = classes_in_force(session)
    session.queries_topic.publish(String(data=data))

    def answered() -> bool:
        return session.child.log_text().count(TOPIC_REJECTED) > logged or classes_in_force(session) != classes

    session.spin_until(answered, timeout, f"the node to take or refuse {data!r} from the topic")
    lines = [line for line in session.child.log_text().splitlines() if TOPIC_REJECTED in line]
    return lines[-1].split(TOPIC_REJECTED, 1)[1] if len(lines) > logged else ""


def rejection(session, path: str, queries: list[str]) -> str:
    """Send `queries` on `path`; the reason the node gives for refusing them ('' if taken)."""
    if path == "topic":
        return topic_rejection(session, ",".join(queries))
    if path == "service":
        response = session.set_queries(queries)
        return "" if response.success else response.message
    if path == "parameter":
        result = session.set_parameter("queries", queries)
        return "" if result.successful else result.reason
    response = session.query(queries)
    return "" if response.success else response.message


def detected_classes(detections) -> set[str]:
    return {detection.results[0].hypothesis.class_id for detection in detections.detections}


@pytest.mark.parametrize("path", PATHS)
def test_a_phrase_longer_than_max_query_chars_is_rejected_with_the_reason_on_every_path(session, first_frame, path):
    reason = rejection(session, path, ["red mug", TOO_LONG])
    assert "query 2 has 201 characters; at most 200 are accepted (max_query_chars)" in reason
    assert classes_in_force(session) == QUERIES


@pytest.mark.parametrize("path", ("topic", "service"))
@pytest.mark.parametrize("name", HIDDEN_CHARACTERS)
def test_control_and_invisible_format_characters_in_a_phrase_are_rejected_with_the_reason(session, first_frame,
                                                                                        path, name):
    character, described = HIDDEN_CHARACTERS[name]
    reason = rejection(session, path, ["red mug", f"cu{character}p"])
    assert f"query 2 contains {described}; phrases must be plain printable text" in reason
    assert classes_in_force(session) == QUERIES


@pytest.mark.parametrize("path", PATHS)
def test_an_empty_item_is_rejected_as_the_same_query_on_every_path(session, first_frame, path):
    # "mug,,cup" on the topic is the list ["mug", "", "cup"] elsewhere: one splitting rule, one answer
    reason = rejection(session, path, ["mug", "", "cup"])
    assert "query 2 is empty" in reason
    assert classes_in_force(session) == QUERIES


def test_max_queries_cannot_drop_below_the_number_of_queries_in_force(session, first_frame):
    result = session.set_parameter("max_queries", 1)
    assert not result.successful
    assert "max_queries = 1 is below the 2 queries in force" in result.reason
    assert session.get_parameter("max_queries") == 256
    assert session.set_parameter("max_queries", 2).successful  # as many as are in force is fine
    assert session.set_parameter("max_queries", 256).successful


# -- encoding never holds anything up: the node runs in this process and the test holds its real text
# model (or SAM2's image encoder) inside a forward, so "meanwhile" is a fact, not a race against the CPU
@pytest.fixture(scope="module")
def held():
    """A node in this process with one processed frame (stamp 100), its models within reach (model_gates)."""
    with NodeSession(name="textregion_queries_held", in_process=True, camera_topic="/camera/held/image",
                     queries=QUERIES) as running:
        running.wait_until_active()
        running.process(running.image(photo_like(96, 128), 100))
        yield running


def engine(session):
    return session.child.node._models.engine


def test_new_queries_are_encoded_off_the_frame_thread_and_switch_in_with_label_info(held):
    new = ["blue kettle", "green sofa", "wooden ladder", "paper lantern"]
    with ModelGate(text_tower(engine(held).backbone)) as text_model:
        response = held.set_queries(new)
        assert response.success, response.message  # answered before the phrases are encoded
        held.spin_until(text_model.entered.is_set, 60, "the new phrases to reach the text model")
        out = held.process(held.image(photo_like(96, 128, seed=3), 200), keys=("labels", "detections"))
        # a frame processed meanwhile is not held up by the encoding and uses the queries in force
        assert classes_in_force(held) == QUERIES
        assert out["detections"].detections and detected_classes(out["detections"]) <= set(QUERIES)

    # the switch: LabelInfo names the new classes, and the latest frame is re-published with them
    held.spin_until(lambda: classes_in_force(held) == new, 300, "LabelInfo with the new queries")
    held.spin_until(lambda: any(m.header.stamp.sec == 200 and m.detections and detected_classes(m) <= set(new)
                                for m in held.outputs["detections"]), 60,
                    "the latest frame's detections for the new queries")

    assert held.set_queries(QUERIES).success  # encoded before: in force again without new text work
    held.spin_until(lambda: classes_in_force(held) == QUERIES, 60, "the module's queries back in force")


def test_a_query_for_encoded_phrases_is_answered_while_another_query_encodes_new_phrases(held):
    slow_client = held.probe.node.create_client(Query, held.topic("query"))
    fast_client = held.probe.node.create_client(Query, held.topic("query"))
    uncached = ["copper teapot", "folding chair", "glass vase", "rubber duck"]
    try:
        held.spin_until(lambda: slow_client.service_is_ready() and fast_client.service_is_ready(), 30,
                        "the ~/query service")
        with ModelGate(text_tower(engine(held).backbone)) as text_model:
            slow = slow_client.call_async(Query.Request(queries=uncached, threshold=0.0))
            held.spin_until(text_model.entered.is_set, 60, "the query for new phrases to reach the text model")
            fast = fast_client.call_async(Query.Request(queries=QUERIES, threshold=0.0))
            held.spin_until(fast.done, 60, "the answer for encoded phrases while the other query encodes")
            assert not slow.done()  # still inside its encoding: the answer did not wait behind it
            assert fast.result().success, fast.result().message
        held.spin_until(slow.done, 300, "the answer for the new phrases")
        assert slow.result().success, slow.result().message
        assert detected_classes(slow.result().detections) <= set(uncached)
    finally:
        held.probe.node.destroy_client(slow_client)
        held.probe.node.destroy_client(fast_client)


def test_a_query_is_answered_from_the_latest_tokens_while_a_new_frame_is_processed(held):
    held.wait_listening(("labels",))
    with ModelGate(engine(held).masks.model.image_encoder) as sam2:
        held.camera.publish(held.image(photo_like(96, 128, seed=8), 300))
        held.spin_until(sam2.entered.is_set, 60, "the new frame to be inside SAM2's image encoder")
        response = held.query(["red mug"])
        assert response.success, response.message
        assert response.detections.header.stamp.sec != 300  # the tokens of the frame before
        assert held.outputs_for(300, ("labels",)) is None  # the new frame is still being processed
    held.spin_until(lambda: held.outputs_for(300, ("labels",)) is not None, 300, "the new frame's labels")
