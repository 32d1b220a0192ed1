"""The textregion node as users see it: a separate process talking real rclpy over Fast DDS.

One node process serves this module (models load once); each test states one behaviour.
"""
from __future__ import annotations


import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from engine_fixtures import photo_like
from node_session import NodeSession
from std_msgs.msg import String
from textregion_ros.ros.image_conversions import imgmsg_to_numpy
from textregion_ros.ros.parameters import MIN_RATE_CAP_HZ

QUERIES = ["red mug", "table; desk"]


@pytest.fixture(scope="module")
def session():
    # a reliable image subscription: each frame here is sent once and must arrive, a 4000 x 3000 one
    # too (hundreds of fragments, one of which best effort may lose on a loaded machine); the default
    # best-effort subscription is what the other node modules run with
    with NodeSession(queries=QUERIES, image_reliability="reliable") as running:
        running.wait_until_active()
        yield running


@pytest.fixture
def restores_queries(session):
    """For a test that changes the node's queries: the module's are in force again after it, pass or fail."""
    yield
    assert session.set_queries(QUERIES).success


@pytest.fixture(scope="module")
def first_frame(session):
    """Outputs of one 96x128 frame stamped 1000 with the module's queries."""
    assert session.set_queries(QUERIES).success
    return session.process(session.image(photo_like(96, 128), 1000))


def test_every_output_carries_the_source_header_type_encoding_and_size(first_frame):
    for key, msg in first_frame.items():
        assert (msg.header.stamp.sec, msg.header.frame_id) == (1000, "camera"), key
    for key, encoding in (("labels", "mono8"), ("confidence", "mono8"), ("overlay", "rgb8")):
        image = first_frame[key]
        assert (image.encoding, image.height, image.width) == (encoding, 96, 128), key
    tokens = first_frame["region_tokens"]
    assert tokens.region_count >= 1 and len(tokens.tokens) == tokens.region_count * tokens.token_dim
    assert tokens.region_ids.encoding == "mono16" and (tokens.region_ids.height, tokens.region_ids.width) == (96, 128)
    assert tokens.model == "pe:PE-Core-T-16-384:random"


def test_label_values_index_the_label_info_class_map(session, first_frame):
    expected = [(0, "red mug"), (1, "table; desk")]

    def class_map() -> list:
        return [(c.class_id, c.class_name) for c in session.label_info[-1].class_map] if session.label_info else []

    # the LabelInfo of the queries in force; one of an earlier switch may still be the newest received
    session.spin_until(lambda: class_map() == expected, 30, f"LabelInfo {expected}")
    labels = imgmsg_to_numpy(first_frame["labels"])
    assert set(np.unique(labels)) <= {0, 1, 255} and (labels != 255).any()


def test_detections_name_the_queries_and_their_ids_are_region_id_values(first_frame):
    detections = first_frame["detections"].detections
    ids = imgmsg_to_numpy(first_frame["region_tokens"].region_ids)
    assert detections
    for detection in detections:
        hypothesis = detection.results[0].hypothesis
        assert hypothesis.class_id in QUERIES and 0.0 <= hypothesis.score <= 1.0
        assert int(detection.id) in set(np.unique(ids).tolist()) - {0}
        box = detection.bbox
        assert 0 < box.size_x <= 128 and 0 < box.size_y <= 96
        assert 0 <= box.center.position.x <= 128 and 0 <= box.center.position.y <= 96


def test_a_late_subscriber_still_receives_label_info(session, first_frame):
    from vision_msgs.msg import LabelInfo

    from node_session import LATCHED

    late = session.probe.collect(LabelInfo, session.topic("label_info"), LATCHED)
    session.spin_until(lambda: late, 15, "LabelInfo for a late subscriber")
    assert [c.class_name for c in late[-1].class_map] == QUERIES


def test_set_queries_republishes_the_latest_frame_from_cached_tokens(session, first_frame, restores_queries):
    processed = int(session.fresh_status()["frames_processed"])
    labels_before = len(session.outputs["labels"])
    response = session.set_queries(["chair", "red mug"])
    assert response.success and "2 queries" in response.message
    session.spin_until(lambda: [c.class_name for c in session.label_info[-1].class_map] == ["chair", "red mug"],
                       30, "LabelInfo with the new queries")
    session.spin_until(lambda: len(session.outputs["labels"]) > labels_before, 60, "re-published labels")
    assert session.outputs["labels"][-1].header.stamp.sec == 1000  # the cached frame, not a new one
    assert int(session.fresh_status()["frames_processed"]) == processed
    assert session.get_parameter("queries") == ["chair", "red mug"]


def test_query_service_scores_new_phrases_on_the_cached_frame_without_image_work(session, first_frame):
    processed = int(session.fresh_status()["frames_processed"])
    response = session.query(["wooden table", "red mug"])
    assert response.success, response.message
    assert response.detections.header.stamp.sec == 1000
    ids = set(np.unique(imgmsg_to_numpy(first_frame["region_tokens"].region_ids)).tolist())
    assert response.detections.detections
    for detection in response.detections.detections:
        assert detection.results[0].hypothesis.class_id in ("wooden table", "red mug")
        assert int(detection.id) in ids
    assert int(session.fresh_status()["frames_processed"]) == processed
    assert [c.class_name for c in session.label_info[-1].class_map] == QUERIES  # node queries unchanged


def test_query_threshold_leaves_out_detections_scoring_below_it(session, first_frame):
    loose = session.query(["red mug", "chair"], threshold=0.0).detections.detections
    strict = session.query(["red mug", "chair"], threshold=0.99).detections.detections
    assert loose and max(d.results[0].hypothesis.score for d in loose) < 0.99  # two classes share the mass
    assert strict == []
    response = session.query(["red mug"], threshold=1.5)
    assert not response.success and "threshold must be in [0, 1]" in response.message


def test_queries_topic_sets_comma_separated_queries_with_synonyms(session, first_frame, restores_queries):
    session.queries_topic.publish(String(data="cup; mug, floor"))
    session.spin_until(lambda: [c.class_name for c in session.label_info[-1].class_map] == ["cup; mug", "floor"],
                       30, "queries from the topic")


def test_queries_parameter_set_at_run_time_works_like_the_service(session, first_frame, restores_queries):
    result = session.set_parameter("queries", ["lamp", "red mug"])
    assert result.successful, result.reason
    session.spin_until(lambda: [c.class_name for c in session.label_info[-1].class_map] == ["lamp", "red mug"],
                       30, "queries from the parameter")


def test_invalid_parameter_values_are_rejected_with_a_reason(session):
    result = session.set_parameter("backbone", "dino")
    assert not result.successful and "backbone must be one of" in result.reason
    result = session.set_parameter("pred_iou_thresh", 3.0)
    assert not result.successful
    result = session.set_parameter("queries", ["mug", "mug"])
    assert not result.successful and "duplicate" in result.reason
    assert session.get_parameter("backbone") == "pe"


def test_runtime_parameters_apply_without_reloading(session, first_frame):
    assert session.set_parameter("grounding_mode", "best").successful
    try:
        out = session.process(session.image(photo_like(96, 128, seed=5), 1100))
    finally:  # the module's node serves the other tests
        assert session.set_parameter("grounding_mode", "all").successful
    classes = [d.results[0].hypothesis.class_id for d in out["detections"].detections]
    assert sorted(classes) == sorted(QUERIES)  # best: exactly one detection per query


def test_diagnostics_report_rates_counts_latency_and_device(session, first_frame):
    status = session.fresh_status()
    assert status["state"] == "active" and status["device"] == "cpu"
    for key in ("input_rate_hz", "processed_rate_hz", "frames_received", "frames_processed", "frames_dropped",
                "latency_ms_sam2_encode", "latency_ms_image_encoder", "latency_ms_total_since_receipt"):
        assert key in status, key
    assert int(status["frames_processed"]) >= 1


def test_latest_frame_policy_keeps_only_the_newest_waiting_frame_and_counts_the_others_dropped(session, first_frame):
    # the lowest max_rate_hz (one frame an hour) holds every frame of the burst, so they wait together
    # whatever the machine's speed; lifting the cap releases the one the policy kept
    before = session.counts(session.status_when(_nothing_in_flight, 60, "the node to have no frame in flight"))
    rgb = photo_like(96, 128, seed=2)
    assert session.set_parameter("max_rate_hz", MIN_RATE_CAP_HZ).successful
    try:
        session.wait_listening(("labels",))
        for stamp in range(2000, 2030):
            session.camera.publish(session.image(rgb, stamp))

        def one_waits(status: dict[str, str]) -> bool:  # each frame of the burst replaced by the next
            received = _delta(session, status, before, "received")
            return received >= 2 and _delta(session, status, before, "dropped") == received - 1

        held = session.counts(session.status_when(one_waits, 60, "all but the newest received frame dropped"))
    finally:
        assert session.set_parameter("max_rate_hz", 0.0).successful
    assert held["processed"] == before["processed"]  # none started while held
    session.spin_until(lambda: session.outputs_for(2029, ("labels",)) is not None, 90, "the newest frame's labels")
    after = session.counts(session.status_when(_nothing_in_flight, 60, "the node to have no frame in flight"))
    received, processed, dropped = (after[key] - before[key] for key in ("received", "processed", "dropped"))
    # every frame the node received is processed or dropped (and counted); the frames kept are published
    assert received == processed + dropped and dropped >= 1
    processed_stamps = {m.header.stamp.sec for m in session.outputs["labels"]} & set(range(2000, 2030))
    assert 2029 in processed_stamps and len(processed_stamps) == processed


def _delta(session, status: dict[str, str], before: dict[str, int], key: str) -> int:
    return session.counts(status)[key] - before[key]


# -- robustness: each bad input is reported once with its reason, and the next good frame works ---
def _bad_image(session, kind):
    good = session.image(photo_like(8, 8), 1)
    if kind == "32FC1":
        from textregion_ros.ros.image_conversions import numpy_to_imgmsg
        return numpy_to_imgmsg(np.zeros((8, 8), np.float32), "32FC1")
    if kind == "yuv422":
        good.encoding = "yuv422"
        return good
    if kind == "empty":
        from sensor_msgs.msg import Image
        return Image(height=0, width=0, encoding="rgb8", step=0)
    if kind == "short":
        good.data = bytes(good.data)[:-5]
        return good
    raise ValueError(kind)


def _turned_away(counts: dict[str, int]) -> int:
    return counts["rejected"] + counts["failed"]


def _nothing_in_flight(status: dict[str, str]) -> bool:
    """Every frame the node received has been processed, turned away or replaced by a newer one."""
    counts = {key[len("frames_"):]: int(value) for key, value in status.items() if key.startswith("frames_")}
    return counts["received"] == counts["processed"] + _turned_away(counts) + counts["dropped"]


@pytest.mark.parametrize(("kind", "reason"), [
    ("32FC1", "encoding '32FC1'"),
    ("yuv422", "encoding 'yuv422'"),
    ("empty", "empty image (0x0)"),
    ("short", "expected at least step*height"),
])
def test_bad_images_are_reported_once_and_the_next_good_frame_is_processed(session, first_frame, kind, reason):
    stamp = {"32FC1": 3001, "yuv422": 3002, "empty": 3003, "short": 3004}[kind]
    bad = _bad_image(session, kind)
    # sent exactly once, into an idle node: the worker keeps only the newest frame, so the bad one
    # must not meet a copy of a good frame still on its way (the previous test's re-sends)
    settled = session.status_when(_nothing_in_flight, 60, "the node to have no frame in flight")
    before = session.counts(settled)
    session.wait_listening()
    session.camera.publish(bad)
    session.status_when(lambda status: _turned_away(session.counts(status)) > _turned_away(before)
                        and _nothing_in_flight(status), 60, f"the node to turn the {kind} image away")
    assert reason in session.child.log_text()
    session.process(session.image(photo_like(96, 128, seed=stamp), stamp))
    log = session.child.log_text()
    assert log.count(reason) == 1, log[-3000:]
    assert session.child.alive()


def test_an_image_with_odd_row_padding_is_read_correctly(session, first_frame):
    msg = session.image(photo_like(33, 47, seed=9), 3100)
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(33, 47 * 3)
    msg.data = np.concatenate([rows, np.full((33, 3), 7, np.uint8)], axis=1).tobytes()
    msg.step = 47 * 3 + 3
    out = session.process(msg)
    assert (out["overlay"].height, out["overlay"].width) == (33, 47)


@pytest.mark.parametrize("encoding", ["bgr8", "rgba8", "bgra8", "mono8"])
def test_every_supported_input_encoding_is_processed(session, first_frame, encoding):
    rgb = photo_like(40, 56, seed=11)
    pixels = {"bgr8": rgb[:, :, ::-1], "rgba8": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
              "bgra8": np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 255, np.uint8)]),
              "mono8": rgb[:, :, 0]}[encoding]
    stamp = 3200 + ["bgr8", "rgba8", "bgra8", "mono8"].index(encoding)
    out = session.process(session.image(np.ascontiguousarray(pixels), stamp, encoding=encoding))
    assert (out["labels"].height, out["labels"].width) == (40, 56)


def test_a_4000_by_3000_image_is_processed(session, first_frame):
    out = session.process(session.image(photo_like(3000, 4000, seed=4), 3300), timeout=300,
                          keys=("labels", "confidence", "detections", "region_tokens"))
    assert (out["labels"].height, out["labels"].width) == (3000, 4000)
    assert (out["region_tokens"].region_ids.height, out["region_tokens"].region_ids.width) == (3000, 4000)


@pytest.mark.parametrize(("queries", "reason"), [
    ([""], "query 1 is empty"),
    (["   "], "query 1 is empty"),
    ([f"thing {i}" for i in range(1000)], "1000 queries exceed max_queries = 256"),
    (["mug", "Mug"], "duplicate query phrase"),
])
def test_bad_query_sets_fail_the_service_with_the_reason_and_are_logged_once(session, first_frame, queries, reason):
    for _ in range(2):
        response = session.set_queries(queries)
        assert not response.success and reason in response.message
    assert session.child.log_text().count(reason) == 1
    assert [c.class_name for c in session.label_info[-1].class_map] == QUERIES  # old queries stay


def test_whitespace_only_queries_topic_is_rejected_and_logged_once(session, first_frame):
    problems = int(session.fresh_status()["problems"])
    for sent in (1, 2):  # one at a time: the topic keeps only the latest message
        session.queries_topic.publish(String(data="   "))
        session.status_when(lambda status: int(status["problems"]) >= problems + sent, 30,  # noqa: B023
                            f"rejection {sent} counted in /diagnostics")
    assert session.child.log_text().count("the string is empty") == 1
    assert [c.class_name for c in session.label_info[-1].class_map] == QUERIES


def test_non_ascii_queries_are_accepted_and_labelled(session, first_frame, restores_queries):
    queries = ["tasse à café", "椅子", "Küchentisch; стол"]
    response = session.set_queries(queries)
    assert response.success, response.message
    # in force once encoded (LabelInfo says when); frames meanwhile keep the old queries
    session.spin_until(lambda: [c.class_name for c in session.label_info[-1].class_map] == queries, 60,
                       "the new queries in force")
    out = session.process(session.image(photo_like(96, 128, seed=6), 3400), keys=("labels", "detections"))
    assert {d.results[0].hypothesis.class_id for d in out["detections"].detections} <= {
        "tasse à café", "椅子", "Küchentisch; стол"}


def test_query_service_without_queries_or_with_an_empty_synonym_says_why(session, first_frame):
    response = session.query([])
    assert not response.success and "no queries" in response.message
    response = session.query(["a;;b"])
    assert not response.success and "empty synonym" in response.message


def test_diagnostics_count_problems_after_bad_input(session, first_frame):
    from textregion_ros.ros.image_conversions import numpy_to_imgmsg

    problems_before = int(session.fresh_status()["problems"])
    session.wait_listening()
    session.camera.publish(numpy_to_imgmsg(np.zeros((4, 4), np.uint16), "16UC1"))
    session.spin_until(lambda: int(session.value("problems") or 0) > problems_before, 30, "the problem to be counted")
    status = session.status()  # the first status after the rejection: it is within the last 5 s
    assert "16UC1" in status["last_problem"]
    assert status["_level"] == DiagnosticStatus.WARN
    assert "rejected: " in status["_message"] and "16UC1" in status["_message"]
