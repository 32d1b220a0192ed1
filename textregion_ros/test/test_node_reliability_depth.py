"""Depth an outside client tried, over real DDS: images without a usable reading, big-endian
millimetres, a 4000 x 3000 depth image, and depth floods while images stream.

A depth image without one usable reading (all NaN, all inf, negative, denormal) costs that frame its
3D only: the 2D outputs come as always and no region gets a 3D detection; the next good depth works
again. Depth is polled by the frame worker (ros/polled_input.py): the probe sends it just before the
colour frame it belongs to. One node serves the module.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from vision_msgs.msg import Detection3DArray

from engine_fixtures import photo_like
from node_session import RELIABLE, NodeSession
from textregion_ros.ros.image_conversions import numpy_to_imgmsg

QUERIES = ["red mug", "table; desk"]
HEIGHT, WIDTH = 48, 64
K = [50.0, 0.0, 31.5, 0.0, 50.0, 23.5, 0.0, 0.0, 1.0]
WALL_M = 2.0


@pytest.fixture(scope="module")
def session():
    with NodeSession("textregion_depth_abuse", queries=QUERIES, use_depth=True, min_depth_points=5) as running:
        running.outputs["detections_3d"] = running.probe.collect(Detection3DArray, running.topic("detections_3d"),
                                                                 RELIABLE)
        running.depth = running.probe.node.create_publisher(Image, "/depth", qos_profile_sensor_data)
        running.info = running.probe.node.create_publisher(CameraInfo, "/camera_info", qos_profile_sensor_data)
        running.wait_until_active()
        running.probe.spin_until(
            lambda: running.depth.get_subscription_count() and running.info.get_subscription_count(), 30,
            "the node's depth and camera_info subscriptions")
        yield running


def stamped(msg, sec: int, nanosec: int = 0):
    msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = sec, nanosec, "camera"
    return msg


def depth_image(values: np.ndarray, encoding: str, sec: int, nanosec: int = 0) -> Image:
    return stamped(numpy_to_imgmsg(values, encoding), sec, nanosec)


def filled(value: float, sec: int) -> Image:
    return depth_image(np.full((HEIGHT, WIDTH), value, np.float32), "32FC1", sec)


def process_with_depth(session, sec: int, depth: Image, keys=("detections",)) -> dict:
    for _ in range(3):  # best effort: a few copies, the node keeps a buffer
        session.info.publish(stamped(CameraInfo(width=WIDTH, height=HEIGHT, k=K), sec))
        session.depth.publish(depth)
        session.probe.spin_for(0.1)
    return session.process(session.image(photo_like(HEIGHT, WIDTH, seed=sec), sec), keys=keys)


def three_d_of(session, sec: int) -> list:
    """The 3D detections published for the frame stamped `sec` (none at all: [])."""
    return [d for m in session.outputs["detections_3d"] if m.header.stamp.sec == sec for d in m.detections]


def wall_3d(session, sec: int, depth: Image) -> list:
    """Process a frame with this depth of the 2 m wall; its 3D detections, each checked to lie on the wall."""
    out = process_with_depth(session, sec, depth, keys=("detections", "detections_3d"))
    detections = out["detections_3d"].detections
    assert detections, "regions on the wall get 3D"
    assert all(d.results[0].pose.pose.position.z == pytest.approx(WALL_M, abs=1e-3) for d in detections)
    return detections


@pytest.mark.parametrize(("value", "sec"), [(np.nan, 100), (np.inf, 101), (-2.0, 102), (1e-40, 103)],
                         ids=["all_nan", "all_inf", "negative", "denormal"])
def test_depth_without_a_usable_reading_costs_only_that_frame_s_3d(session, value, sec):
    out = process_with_depth(session, sec, filled(value, sec))
    assert out["detections"].header.stamp.sec == sec and out["detections"].detections  # 2D as always
    session.probe.spin_for(0.5)
    assert three_d_of(session, sec) == []
    wall_3d(session, sec + 10, filled(WALL_M, sec + 10))  # the next good depth gives 3D again


def test_big_endian_millimetre_depth_is_read_as_the_same_wall(session):
    millimetres = np.full((HEIGHT, WIDTH), int(WALL_M * 1000), dtype=">u2")
    msg = Image(height=HEIGHT, width=WIDTH, encoding="16UC1", is_bigendian=1, step=2 * WIDTH,
                data=millimetres.tobytes())
    wall_3d(session, 200, stamped(msg, 200))


def test_a_4000_by_3000_depth_image_is_scaled_to_the_frame_and_gives_its_3d(session):
    big = depth_image(np.full((3000, 4000), int(WALL_M * 1000), np.uint16), "16UC1", 300)
    wall_3d(session, 300, big)


def _phase(session, flood_hz: float, first_sec: int, seconds: float = 6.0) -> tuple[int, int]:
    """Images at 2 Hz for `seconds`, with depth at flood_hz besides (0: none): (received, processed) by
    the node's own counts."""
    before = session.counts()
    flood = filled(WALL_M, first_sec)
    frame = session.image(photo_like(HEIGHT, WIDTH, seed=5), first_sec)
    started, frames, sent = time.monotonic(), 0, 0
    while time.monotonic() - started < seconds:
        elapsed = time.monotonic() - started
        if elapsed >= frames / 2.0:
            # on the depth's timeline: every 250th depth image has the stamp of a frame
            frame.header.stamp.sec, frame.header.stamp.nanosec = first_sec + frames // 2, (frames % 2) * 500_000_000
            session.camera.publish(frame)
            frames += 1
        while sent < elapsed * flood_hz:
            flood.header.stamp.sec, flood.header.stamp.nanosec = first_sec + sent // 500, (sent % 500) * 2_000_000
            session.depth.publish(flood)
            sent += 1
        session.probe.executor.spin_once(timeout_sec=0.001)
    session.probe.spin_for(3.0)  # the last frame finishes
    after = session.counts()
    return after["received"] - before["received"], after["processed"] - before["processed"]


def test_a_depth_flood_while_images_stream_leaves_frames_processed_and_3d_working(session):
    """500 Hz of depth while images come at 2 Hz (the outside run saw 2 of 37 frames processed, against
    38 of 38 without): the frames processed stay within 30 % of the same phase without the flood.
    Phases alternate (without, with, without, with) so a load change on the shared machine hits both;
    the comparison, not an absolute count, because the probe and the node share a busy CPU."""
    totals = {0.0: [0, 0], 500.0: [0, 0]}
    for round_index in range(2):
        for flood_hz in (0.0, 500.0):
            received, processed = _phase(session, flood_hz, 1000 + 100 * round_index + int(flood_hz))
            totals[flood_hz][0] += received
            totals[flood_hz][1] += processed
    assert totals[0.0][0] >= 12 and totals[500.0][0] >= 12, totals  # the frames arrived
    assert totals[500.0][1] >= 0.7 * totals[0.0][1], totals
    wall_3d(session, 3000, filled(WALL_M, 3000))  # and depth still gives 3D after the flood
