"""image_transport "compressed" input over real DDS: the node subscribes to `<image>/compressed`, decodes
only the frames it processes, and rejects bad payloads with a reason while it keeps running.

One node process: a raw frame first (image_transport: raw), then the node is deactivated, switched to
compressed (an activate-time parameter) and activated again, so both transports run the same models.
"""
from __future__ import annotations

import io
import struct
import time

import numpy as np
import pytest
from lifecycle_msgs.msg import Transition
from PIL import Image as PILImage
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage
from vision_msgs.msg import Detection3DArray

from engine_fixtures import photo_like
from node_session import CAMERA_TOPIC, RELIABLE, NodeSession
from textregion_ros.ros.image_conversions import imgmsg_to_numpy

QUERIES = ["red mug", "table; desk"]
KEYS = ("detections", "labels")


def _encoded(rgb: np.ndarray, codec: str, **options) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, format=codec, **options)
    return buffer.getvalue()


def _compressed(fmt: str, data: bytes, stamp: int) -> CompressedImage:
    msg = CompressedImage(format=fmt, data=data)
    msg.header.stamp.sec, msg.header.frame_id = stamp, "camera"
    return msg


def _results(outputs) -> list[tuple[str, float]]:
    return sorted((d.results[0].hypothesis.class_id, round(d.results[0].hypothesis.score, 4))
                  for d in outputs["detections"].detections)


@pytest.fixture(scope="module")
def session():
    with NodeSession(name="textregion_compressed", queries=QUERIES) as running:
        running.wait_until_active()
        yield running


@pytest.fixture(scope="module")
def raw_and_compressed(session):
    """(outputs of the raw frame, session switched to compressed input with its camera publishing there)."""
    raw = session.process(session.image(photo_like(96, 128), 1), keys=KEYS)
    assert session.lifecycle(Transition.TRANSITION_DEACTIVATE)
    session.set_parameter("image_transport", "compressed")
    assert session.lifecycle(Transition.TRANSITION_ACTIVATE)
    session.camera = session.camera_publisher(CompressedImage, f"{CAMERA_TOPIC}/compressed")
    return raw, session


def test_a_png_frame_gives_the_same_detections_and_labels_as_the_raw_frame(raw_and_compressed):
    raw, session = raw_and_compressed
    png = session.process(_compressed("rgb8; png compressed rgb8", _encoded(photo_like(96, 128), "PNG"), 2), keys=KEYS)
    assert _results(png) == _results(raw) and _results(raw)
    assert np.array_equal(imgmsg_to_numpy(png["labels"]), imgmsg_to_numpy(raw["labels"]))


def test_a_jpeg_frame_is_processed_with_labels_close_to_the_raw_frame(raw_and_compressed):
    raw, session = raw_and_compressed
    jpeg = _encoded(photo_like(96, 128), "JPEG", quality=95)
    outputs = session.process(_compressed("rgb8; jpeg compressed bgr8", jpeg, 3), keys=KEYS)
    agreement = (imgmsg_to_numpy(outputs["labels"]) == imgmsg_to_numpy(raw["labels"])).mean()
    assert outputs["labels"].height == 96 and agreement >= 0.5, agreement


@pytest.mark.parametrize(("kind", "reason"), [
    ("truncated jpeg", "dropped a compressed image: cannot decode the compressed image (truncated or corrupt)"),
    ("unknown format", "dropped a compressed image: unknown compressed image format 'rgb8; tiff compressed rgb8'"),
    # more pixels than the engine takes: refused before the decode, by the engine's own limit (one limit
    # for one fact), and a rejected frame like any bad input, not a failed one
    ("over the engine's size", "dropped a compressed image: decoded size 8100x8000 is over the image limit of "
                               "64000000 pixels"),
])
def test_a_bad_payload_is_rejected_with_its_reason_and_a_later_good_frame_is_processed(raw_and_compressed, kind,
                                                                                      reason):
    _, session = raw_and_compressed
    stamp = {"truncated jpeg": 10, "unknown format": 11, "over the engine's size": 12}[kind]
    jpeg = _encoded(photo_like(96, 128, seed=stamp), "JPEG")
    bad = {"truncated jpeg": lambda: _compressed("jpeg", jpeg[: len(jpeg) // 2], stamp),
           "unknown format": lambda: _compressed("rgb8; tiff compressed rgb8", jpeg, stamp),
           "over the engine's size": lambda: _compressed("png", _encoded(np.zeros((8000, 8100, 3), np.uint8), "PNG"),
                                                         stamp)}[kind]()
    rejected_before = session.counts()["rejected"]
    last_sent = [float("-inf")]

    def reported() -> bool:  # sent until the node says why: the newest-frame rule may drop a copy unread
        if time.monotonic() - last_sent[0] >= 0.5:
            session.camera.publish(bad)
            last_sent[0] = time.monotonic()
        return reason in session.child.log_text()

    session.spin_until(reported, 60, f"the node to report {reason!r}")
    assert session.counts()["rejected"] > rejected_before
    good = session.process(_compressed("png", _encoded(photo_like(96, 128, seed=stamp), "PNG"), stamp + 100),
                           keys=KEYS)
    assert good["labels"].header.stamp.sec == stamp + 100 and session.child.alive()


# -- compressed colour with depth: like raw colour with depth (2D and 3D) ---------------------------------
DEPTH_K = [100.0, 0.0, 63.5, 0.0, 100.0, 47.5, 0.0, 0.0, 1.0]
WALL_MM = 2000


def _compressed_depth(stamp: int) -> CompressedImage:
    """A 96 x 128 wall at 2 m as compressed_depth_image_transport publishes 16UC1: a 12-byte header, then a
    16-bit PNG."""
    buffer = io.BytesIO()
    PILImage.fromarray(np.full((96, 128), WALL_MM, np.uint16)).save(buffer, format="PNG")
    return _compressed("16UC1; compressedDepth png", struct.pack("<iff", 0, 0.0, 0.0) + buffer.getvalue(), stamp)


@pytest.fixture(scope="module")
def compressed_with_depth(raw_and_compressed):
    """The compressed session with use_depth on (an activate-time parameter), publishing depth and camera_info."""
    _, session = raw_and_compressed
    assert session.lifecycle(Transition.TRANSITION_DEACTIVATE)
    assert session.set_parameter("use_depth", True).successful
    assert session.set_parameter("min_depth_points", 5).successful  # as test_node_depth: small regions count
    assert session.lifecycle(Transition.TRANSITION_ACTIVATE)
    session.outputs["detections_3d"] = session.probe.collect(Detection3DArray, session.topic("detections_3d"), RELIABLE)
    session.depth = session.probe.node.create_publisher(CompressedImage, "/depth/compressedDepth",
                                                        qos_profile_sensor_data)
    session.camera_info = session.probe.node.create_publisher(CameraInfo, "/camera_info", qos_profile_sensor_data)
    session.probe.spin_until(lambda: (session.depth.get_subscription_count()
                                      and session.camera_info.get_subscription_count()),
                             30, "the node's compressedDepth and camera_info subscriptions")
    return session


@pytest.mark.parametrize("codec", ["PNG", "JPEG"])
def test_compressed_colour_with_compressed_depth_gives_2d_and_3d(compressed_with_depth, codec):
    session = compressed_with_depth
    stamp = {"PNG": 30, "JPEG": 31}[codec]
    info = CameraInfo(width=128, height=96, k=DEPTH_K)
    info.header.stamp.sec, info.header.frame_id = stamp, "camera"
    depth = _compressed_depth(stamp)
    colour = _compressed(f"rgb8; {codec.lower()} compressed rgb8", _encoded(photo_like(96, 128, seed=stamp), codec),
                         stamp)
    for _ in range(3):  # best effort: a few copies; the node pairs from its buffer
        session.camera_info.publish(info)
        session.depth.publish(depth)
        session.probe.spin_for(0.1)
    outputs = session.process(colour, keys=("detections", "detections_3d"))
    assert outputs["detections"].detections and outputs["detections_3d"].detections
    assert all(d.results[0].pose.pose.position.z == pytest.approx(WALL_MM / 1000.0, abs=1e-6)
               for d in outputs["detections_3d"].detections)
    assert "processing failed" not in session.child.log_text()
