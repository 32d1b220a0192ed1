"""/diagnostics and the image subscription's QoS, over real DDS: the node says why it produces nothing.

A node that gets no input, rejects every frame, or can never hear its camera must not look
healthy. This module's node subscribes to images reliably (image_reliability: reliable), the
setting for a camera driver that publishes reliably.
"""
from __future__ import annotations

import re

import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from engine_fixtures import photo_like
from node_session import CAMERA_TOPIC, NodeSession

ALL_REJECTED = re.compile(r"all (\d+) frames of the last 5 s rejected: encoding yuv422")
INCOMPATIBLE = "image subscription (reliable) is incompatible with a publisher's RELIABILITY policy"


@pytest.fixture(scope="module")
def session():
    with NodeSession(name="textregion_health", image_reliability="reliable", queries=["red mug"]) as running:
        running.wait_until_active()
        yield running


def test_no_input_is_a_warning(session):
    status = session.status_when(lambda s: "no images received in the last 5 s" in s["_message"], 30,
                                 "diagnostics saying no images arrive")
    assert status["_level"] == DiagnosticStatus.WARN and status["state"] == "active"


def test_a_reliable_image_subscription_receives_frames_from_a_reliable_camera(session):
    out = session.process(session.image(photo_like(48, 64), 10), keys=("labels",))
    assert out["labels"].header.stamp.sec == 10
    assert INCOMPATIBLE not in session.child.log_text()


def test_frames_in_an_unsupported_encoding_are_counted_as_rejected_and_make_diagnostics_warn(session):
    before = session.counts()
    frame = session.image(photo_like(8, 8), 20)
    frame.encoding = "yuv422"
    # about 4 frames a second, until the last 5 s hold only yuv422 frames
    status = session.publish_until(frame, lambda s: ALL_REJECTED.search(s["_message"]) is not None, 60,
                                   "diagnostics saying every recent frame was rejected", every=0.25)
    after = session.counts(status)
    assert status["_level"] == DiagnosticStatus.WARN
    recent = int(ALL_REJECTED.search(status["_message"]).group(1))
    assert 1 <= recent <= after["rejected"] - before["rejected"]
    assert after["processed"] == before["processed"]  # rejected frames are not counted as processed
    assert after["failed"] == before["failed"]


def test_a_best_effort_camera_is_reported_as_an_incompatible_qos(session):
    best_effort = QoSProfile(depth=2, reliability=ReliabilityPolicy.BEST_EFFORT)
    camera = session.probe.node.create_publisher(Image, CAMERA_TOPIC, best_effort)
    try:
        status = session.status_when(lambda s: INCOMPATIBLE in s["_message"], 30,
                                     "diagnostics naming the incompatible camera")
        assert status["_level"] == DiagnosticStatus.WARN
        assert "a best-effort camera needs image_reliability: best_effort" in status["_message"]
        assert session.child.log_text().count(INCOMPATIBLE) == 1
    finally:
        session.probe.node.destroy_publisher(camera)
