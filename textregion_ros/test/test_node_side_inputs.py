"""The side inputs over real DDS: depth + camera_info at camera rate, ~/camera_info, their rates in
/diagnostics, and the library's warnings on /rosout.

An RGB-D camera publishes depth and camera_info at its frame rate (30 Hz) while the node processes a few
frames a second; those messages must cost no more than a buffer append, so they never starve frames.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from rcl_interfaces.msg import Log
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from engine_fixtures import photo_like
from node_session import RELIABLE, NodeSession
from textregion_ros.ros.image_conversions import numpy_to_imgmsg

QUERIES = ["red mug", "table; desk"]
HEIGHT, WIDTH = 96, 128
K = [100.0, 0.0, 63.5, 0.0, 100.0, 47.5, 0.0, 0.0, 1.0]
NAME = "textregion_side"


@pytest.fixture(scope="module")
def session():
    with NodeSession(NAME, queries=QUERIES, use_depth=True, min_depth_points=5) as running:
        running.camera_info_out = running.probe.collect(CameraInfo, running.topic("camera_info"), RELIABLE)
        running.rosout = running.probe.collect(Log, "/rosout", 100)
        running.depth = running.probe.node.create_publisher(Image, "/depth", qos_profile_sensor_data)
        running.info = running.probe.node.create_publisher(CameraInfo, "/camera_info", qos_profile_sensor_data)
        running.wait_until_active()
        running.probe.spin_until(lambda: (running.depth.get_subscription_count()
                                          and running.info.get_subscription_count()),
                                 30, "the node's depth and camera_info subscriptions")
        yield running


def stamped(msg, sec: int, nanosec: int = 0):
    msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = sec, nanosec, "camera"
    return msg


def camera_info(sec: int, nanosec: int = 0) -> CameraInfo:
    return stamped(CameraInfo(width=WIDTH, height=HEIGHT, k=K), sec, nanosec)


def wall(sec: int, nanosec: int = 0) -> Image:
    return stamped(numpy_to_imgmsg(np.full((HEIGHT, WIDTH), 2.0, np.float32), "32FC1"), sec, nanosec)


def send_side(session, sec: int, nanosec: int = 0) -> None:
    session.info.publish(camera_info(sec, nanosec))
    session.depth.publish(wall(sec, nanosec))


def process_with_depth(session, stamp: int, keys=("labels",)) -> dict:
    for _ in range(3):  # best effort: a few copies, the node keeps a buffer
        send_side(session, stamp)
        session.probe.spin_for(0.1)
    return session.process(session.image(photo_like(HEIGHT, WIDTH, seed=stamp), stamp), keys=keys)


def test_camera_info_is_republished_for_each_frame_stamped_like_the_labels(session):
    out = process_with_depth(session, 100)
    session.probe.spin_until(lambda: [m for m in session.camera_info_out if m.header.stamp.sec == 100], 30,
                             "~/camera_info for the frame")
    info = [m for m in session.camera_info_out if m.header.stamp.sec == 100][-1]
    labels = out["labels"]
    assert (info.header.stamp, info.header.frame_id) == (labels.header.stamp, labels.header.frame_id)
    assert list(info.k) == K and (info.width, info.height) == (WIDTH, HEIGHT)


def test_diagnostics_report_the_side_inputs_rates(session):
    period, sent = 1.0 / 20.0, 0
    started = time.monotonic()
    while time.monotonic() - started < 3.0:  # 20 Hz of each for 3 s
        send_side(session, 150, sent)
        sent += 1
        session.probe.spin_for(period)
    status = session.fresh_status()
    # over the node's 5 s window: 3 s of 20 Hz -> about 12 Hz; at least a third of it arrives best effort
    assert float(status["camera_info_rate_hz"]) > 4.0 and float(status["depth_rate_hz"]) > 4.0


def test_a_tracker_warning_about_stamps_going_back_reaches_rosout(session):
    process_with_depth(session, 1000)
    process_with_depth(session, 10)  # 990 s back: tracks and memory are reset, with a warning
    session.probe.spin_until(
        lambda: any("stamps went back" in m.msg and m.name.endswith(NAME) for m in session.rosout), 30,
        "the stamps-went-back warning on /rosout")
    warning = next(m for m in session.rosout if "stamps went back" in m.msg)
    assert warning.level == Log.WARN


def _phase(session, side_hz: float, seconds: float, frame_hz: float, first_sec: int) -> tuple[int, int]:
    """Frames at frame_hz (each with its own depth + camera_info) and, with side_hz, depth + camera_info
    at side_hz as well: (frames received, frames processed) by the node's own counts."""
    before = session.counts()
    started = time.monotonic()
    next_frame, next_side, frames, sides = started, started if side_hz else float("inf"), 0, 0
    frame = session.image(photo_like(HEIGHT, WIDTH, seed=1), first_sec)
    while time.monotonic() - started < seconds:
        now = time.monotonic()
        if now >= next_frame:
            sec, nanosec = first_sec + frames // 10, (frames % 10) * 100_000_000
            send_side(session, sec, nanosec)
            frame.header.stamp.sec, frame.header.stamp.nanosec = sec, nanosec
            session.camera.publish(frame)
            frames += 1
            next_frame += 1.0 / frame_hz
        if now >= next_side:
            send_side(session, first_sec + sides // 30, (sides % 30) * 33_000_000)
            sides += 1
            next_side += 1.0 / side_hz
        session.probe.executor.spin_once(timeout_sec=max(0.0, min(0.005, min(next_frame, next_side) - now)))
    session.probe.spin_for(3.0)  # the last frame finishes
    after = session.counts()
    return after["received"] - before["received"], after["processed"] - before["processed"]


def test_depth_and_camera_info_at_30_hz_leave_frame_throughput_within_10_percent(session):
    """Phases alternate (without, with, without, with ...) so a load change on the shared machine hits both."""
    totals = {0.0: [0, 0], 30.0: [0, 0]}
    for round_index in range(3):
        for side_hz in (0.0, 30.0):
            received, processed = _phase(session, side_hz, 6.0, 2.0, 2000 + 100 * round_index + int(side_hz))
            totals[side_hz][0] += received
            totals[side_hz][1] += processed
    without, with_side = (processed / received for received, processed in (totals[0.0], totals[30.0]))
    assert totals[0.0][0] >= 20 and totals[30.0][0] >= 20, totals  # the frames arrived
    assert with_side >= 0.9 * without, (f"processed/received {with_side:.2f} with the side streams, "
                                        f"{without:.2f} without")
