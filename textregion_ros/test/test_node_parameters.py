"""Parameter changes over real DDS: when each applies, and what is refused when it is set.

A configure-time parameter (sam2_image_size) changed at run time waits for the next configure and
says so; it must not freeze the run-time parameters changed after it. One node serves the module.
"""
from __future__ import annotations


import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from engine_fixtures import photo_like
from node_session import NodeSession
from textregion_ros.params import BOOL, DOUBLE, INTEGER, INTEGER_ARRAY, PARAMETERS, RUN_TIME, STRING_ARRAY
from textregion_ros.ros.image_conversions import imgmsg_to_numpy

QUERIES = ["red mug", "chair"]
PENDING_LOG = "sam2_image_size changed: applies at the next configure"


@pytest.fixture(scope="module")
def session():
    with NodeSession(name="textregion_params", queries=QUERIES) as running:
        running.wait_until_active()
        yield running


@pytest.fixture(scope="module")
def first_frame(session):
    return session.process(session.image(photo_like(96, 128), 100))


def republished(session, key: str, change: tuple[str, object], timeout: float = 60.0):
    """Set one engine parameter and return the next `key` output: the latest frame, re-published with it.

    Every engine parameter change re-publishes (a pending one too, with the values in force), so a
    test waits for each one before the next, to tell them apart.
    """
    counts = {name: len(messages) for name, messages in session.outputs.items()}
    result = session.set_parameter(*change)
    assert result.successful, result.reason
    session.spin_until(lambda: all(len(session.outputs[name]) > count for name, count in counts.items()), timeout,
                       f"every output re-published after {change[0]} = {change[1]!r}")
    return session.outputs[key][counts[key]]


@pytest.fixture(scope="module")
def pending_image_size(session, first_frame):
    """sam2_image_size changed at run time (a configure-time parameter): pending until reconfigured."""
    republished(session, "labels", ("sam2_image_size", 512))
    yield
    republished(session, "labels", ("sam2_image_size", 256))  # the loaded value: nothing pending


def test_a_pending_configure_time_change_is_named_in_diagnostics_and_logged_once(session, pending_image_size):
    for value in (0.1, 0.0):  # later run-time changes look at the pending one again
        republished(session, "labels", ("prob_threshold", value))
    status = session.status_when(lambda s: s.get("pending_reconfigure") == "sam2_image_size", 30,
                                 "diagnostics naming the pending parameter")
    assert status["_level"] == DiagnosticStatus.WARN
    assert "pending reconfigure: sam2_image_size" in status["_message"]
    assert session.child.log_text().count(PENDING_LOG) == 1


def test_run_time_changes_apply_at_once_while_a_configure_time_change_is_pending(session, pending_image_size):
    detections = republished(session, "detections", ("grounding_mode", "best"))
    try:
        # best: exactly one detection per query
        assert sorted(d.results[0].hypothesis.class_id for d in detections.detections) == sorted(QUERIES)
    finally:
        republished(session, "detections", ("grounding_mode", "all"))  # settled before the next change

    stamp = session.outputs["labels"][-1].header.stamp.sec
    labels = imgmsg_to_numpy(session.outputs_for(stamp, ("labels",))["labels"])
    confidence = imgmsg_to_numpy(session.outputs_for(stamp, ("confidence",))["confidence"]).astype(int)
    levels = np.unique(confidence[labels != 255])
    assert len(levels) >= 1, "no labelled pixel to threshold"
    # just above the lowest labelled level: those pixels must lose their class (random weights may
    # give a single level, so the cut cannot assume a spread)
    cut = int(levels[0]) + 1
    thresholded = republished(session, "labels", ("prob_threshold", cut / 255.0))
    try:
        after = imgmsg_to_numpy(thresholded)
        assert thresholded.header.stamp.sec == stamp  # the same frame, re-published at once
        # pixels clearly below the threshold lose their class, those clearly above keep it
        below, above = confidence < cut, confidence > cut
        assert (after[below] == 255).all() and (after[above] == labels[above]).all()
        assert (labels[below] != 255).any()  # so the change is visible
    finally:
        republished(session, "labels", ("prob_threshold", 0.0))


def test_a_device_this_machine_lacks_is_rejected_when_set(session, first_frame):
    result = session.set_parameter("device", "cuda:9")
    assert not result.successful
    assert result.reason.startswith("device: ") and "cuda:9" in result.reason
    assert session.get_parameter("device") == "cpu"
    assert "device" not in session.fresh_status()["pending_reconfigure"]


def test_max_rate_hz_reaches_the_worker(session, first_frame):
    # No timing: the cap and its dropped count are the worker's (test_worker.py, on a manual clock).
    # Here a 1000 s cap, counted from the frame processed last, holds the next frames back (the
    # second replacing the first); removing it lets the waiting one through at once. Neither could
    # happen unless both values reached the node's worker.
    frame = session.image(photo_like(48, 64, seed=1), 400)
    assert session.set_parameter("max_rate_hz", 0.001).successful
    try:
        held = session.counts()
        for _ in range(2):
            received = session.counts()["received"]
            session.camera.publish(frame)
            session.status_when(lambda status: session.counts(status)["received"] > received, 30.0,  # noqa: B023
                                "a frame under the cap received")
        capped = session.counts()
        assert capped["processed"] == held["processed"]  # both held back ...
        assert capped["dropped"] > held["dropped"]  # ... the second replacing the first
    finally:
        assert session.set_parameter("max_rate_hz", 0.0).successful
    session.status_when(lambda status: session.counts(status)["processed"] > capped["processed"], 60.0,
                        "the waiting frame processed once the cap is gone")


ARRAY_ROWS = [p for p in PARAMETERS if p.kind in (INTEGER_ARRAY, STRING_ARRAY)]
# A second valid value of each array row besides its current one (rclpy hands integer arrays as array.array).
OTHER_ARRAY_VALUE = {"scale": [448, 336], "queries": ["chair"]}


@pytest.mark.parametrize("row", ARRAY_ROWS, ids=lambda row: row.name)
def test_every_array_parameter_is_settable_at_run_time_the_current_value_included(session, first_frame, row):
    current = session.get_parameter(row.name)
    for value in (current, OTHER_ARRAY_VALUE[row.name], current):
        result = session.set_parameter(row.name, value)
        assert result.successful, f"{row.name} = {value!r}: {result.reason}"
        assert session.get_parameter(row.name) == value


DEFERRED_ROWS = [p for p in PARAMETERS if not p.engine and p.applies != RUN_TIME]


def other_value(row):
    """A valid value of a deferred row other than its default."""
    if row.choices:
        return next(choice for choice in row.choices if choice != row.default)
    if row.kind == BOOL:
        return not row.default
    if row.kind in (INTEGER, DOUBLE):
        value = row.default + 1
        return row.minimum if row.maximum is not None and value > row.maximum else value
    if row.name == "memory_store":  # never opened: the node is not configured again while it is pending
        return "/nonexistent/textregion_pending_check.sqlite"
    return "some_frame"


@pytest.mark.parametrize("row", DEFERRED_ROWS, ids=lambda row: row.name)
def test_a_deferred_parameter_says_it_is_pending_in_the_log_and_diagnostics_until_set_back(session, first_frame, row):
    original = session.get_parameter(row.name)
    value = other_value(row)
    result = session.set_parameter(row.name, value)
    assert result.successful, result.reason
    try:
        status = session.status_when(lambda s: row.name in s.get("pending_parameters", ""), 30,
                                     f"diagnostics naming {row.name} as pending")
        assert status["_level"] >= DiagnosticStatus.WARN and row.name in status["_message"]
        session.spin_until(lambda: f"{row.name} changed: applies at the next {row.applies}" in session.child.log_text(),
                           30, f"the log line saying {row.name} is pending")
    finally:
        assert session.set_parameter(row.name, original).successful
    session.status_when(lambda s: row.name not in s.get("pending_parameters", ""), 30,
                        f"{row.name} no longer pending once set back")


def test_an_unknown_parameter_set_through_the_parameter_service_is_refused_naming_it(session):
    result = session.set_parameter("prob_treshold", 0.3)  # `ros2 param set` of a misspelt name
    assert not result.successful
    assert "'prob_treshold' (did you mean prob_threshold?)" in result.reason and "[]" not in result.reason


@pytest.mark.parametrize("cap", [1e-9, 0.0002])
def test_a_rate_cap_below_one_frame_an_hour_is_refused(session, first_frame, cap):
    result = session.set_parameter("max_rate_hz", cap)
    assert not result.successful and "one frame an hour" in result.reason
    assert session.get_parameter("max_rate_hz") == 0.0


# -- region_prompts tracks over DDS ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tracks_mode(session, first_frame):
    """region_prompts tracks, keyframes only by event (no interval or coverage keyframes on random weights)."""
    for name, value in (("keyframe_interval_s", 3600.0), ("keyframe_min_coverage", 0.0),
                        ("region_prompts", "tracks")):
        result = session.set_parameter(name, value)
        assert result.successful, result.reason
    yield
    for name, value in (("region_prompts", "grid"), ("keyframe_interval_s", 1.0), ("keyframe_min_coverage", 0.5)):
        assert session.set_parameter(name, value).successful


def prompts_of(session, image, stamp: int) -> dict[str, str]:
    """Process one frame (its outputs seen) and return the next diagnostics: the prompt counts of that frame."""
    session.process(session.image(image, stamp))
    return session.fresh_status()


def test_a_bad_region_prompts_value_is_refused_with_the_choices(session, first_frame):
    result = session.set_parameter("region_prompts", "boxes")
    assert not result.successful and "grid, tracks" in result.reason
    assert session.get_parameter("region_prompts") == "grid"


def test_tracks_mode_publishes_prompt_counts_through_query_switches_stamp_jumps_and_a_size_change(session,
                                                                                                tracks_mode):
    image = photo_like(96, 128, seed=4)
    first = prompts_of(session, image, 500)
    assert first["region_prompts"] == "tracks" and first["prompts_keyframe"] == "true"
    steady = prompts_of(session, image, 501)
    assert steady["prompts_keyframe"] == "false", steady
    decoded = int(steady["prompts_decoded"])
    assert decoded == int(steady["prompts_from_tracks"]) + int(steady["prompts_discovery"]) > 0
    assert decoded <= session.get_parameter("max_prompts")

    assert session.set_queries(["chair", "floor"]).success  # queries touch no region: no keyframe
    assert prompts_of(session, image, 502)["prompts_keyframe"] == "false"

    jumped = prompts_of(session, image, 450)  # 52 s back: a new timeline for the tracks too
    assert jumped["prompts_keyframe"] == "true" and "new timeline" in jumped["prompts_keyframe_reason"]

    resized = prompts_of(session, photo_like(64, 80, seed=4), 451)
    assert resized["prompts_keyframe_reason"] == "image size changed"
    assert prompts_of(session, photo_like(64, 80, seed=4), 452)["prompts_keyframe"] == "false"
    assert session.value("state") == "active"
    assert session.set_queries(QUERIES).success
