"""3D over real DDS: colour + registered depth + camera_info in, ~/detections_3d and ~/markers out.

The probe plays the camera: a colour frame, a 32FC1 (or 16UC1) depth image of a flat wall at
2.000 m with the same stamp and optical frame, and a CameraInfo. With random weights the regions
are arbitrary, but every region lies on the wall, so every 3D centre must have z = 2.000 and the
2D and 3D answers must name the same ids and classes.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from textregion_msgs.srv import Find
from vision_msgs.msg import Detection3DArray
from visualization_msgs.msg import Marker, MarkerArray

from engine_fixtures import photo_like
from node_session import RELIABLE, NodeSession
from textregion_ros.ros.image_conversions import numpy_to_imgmsg
from textregion_ros.ros.client import NodeClient
from textregion_ros.ros.conversions import tokens_from_msg

QUERIES = ["red mug", "table; desk"]
HEIGHT, WIDTH = 96, 128
WALL_M = 2.0
K = [100.0, 0.0, 63.5, 0.0, 100.0, 47.5, 0.0, 0.0, 1.0]


@pytest.fixture(scope="module")
def session():
    with NodeSession("textregion_depth", queries=QUERIES, use_depth=True, min_depth_points=5) as running:
        running.outputs["detections_3d"] = running.probe.collect(Detection3DArray, running.topic("detections_3d"),
                                                                 RELIABLE)
        running.outputs["markers"] = running.probe.collect(MarkerArray, running.topic("markers"), RELIABLE)
        running.depth = running.probe.node.create_publisher(Image, "/depth", qos_profile_sensor_data)
        running.camera_info = running.probe.node.create_publisher(CameraInfo, "/camera_info", qos_profile_sensor_data)
        running.wait_until_active()
        yield running


def camera_info(stamp_sec: int, k: list[float] = K, frame_id: str = "camera") -> CameraInfo:
    info = CameraInfo(width=WIDTH, height=HEIGHT, k=k)
    info.header.stamp.sec, info.header.frame_id = stamp_sec, frame_id
    return info


def wall(stamp_sec: int, encoding: str = "32FC1", frame_id: str = "camera", scale: int = 1) -> Image:
    if encoding == "16UC1":
        depth = np.full((HEIGHT // scale, WIDTH // scale), int(WALL_M * 1000), np.uint16)
    else:
        depth = np.full((HEIGHT // scale, WIDTH // scale), WALL_M, np.float32)
    msg = numpy_to_imgmsg(depth, encoding)
    msg.header.stamp.sec, msg.header.frame_id = stamp_sec, frame_id
    return msg


def process_with_depth(session, stamp: int, depth: Image, info: CameraInfo, keys) -> dict:
    """Depth and camera_info first (the node pairs from its buffer), then the colour frame."""
    session.probe.spin_until(lambda: (session.depth.get_subscription_count()
                                      and session.camera_info.get_subscription_count()),
                             30, "the node's depth and camera_info subscriptions")
    for _ in range(3):  # best effort: a few copies, the node keeps a buffer
        session.camera_info.publish(info)
        session.depth.publish(depth)
        session.probe.spin_for(0.1)
    return session.process(session.image(photo_like(HEIGHT, WIDTH, seed=stamp), stamp), keys=keys)


def test_detections_3d_name_the_same_ids_and_classes_as_the_2d_detections(session):
    out = process_with_depth(session, 100, wall(100), camera_info(100),
                             ("detections", "detections_3d", "region_tokens"))
    two_d = {(d.id, d.results[0].hypothesis.class_id) for d in out["detections"].detections}
    three_d = {(d.id, d.results[0].hypothesis.class_id) for d in out["detections_3d"].detections}
    assert three_d and three_d == two_d  # every region lies on the wall
    assert (out["detections_3d"].header.stamp.sec, out["detections_3d"].header.frame_id) == (100, "camera")


def test_every_3d_centre_lies_on_the_wall_and_inside_the_view(session):
    out = process_with_depth(session, 101, wall(101), camera_info(101), ("detections_3d",))
    for detection in out["detections_3d"].detections:
        centre = detection.results[0].pose.pose.position
        assert centre.z == pytest.approx(WALL_M, abs=1e-6)
        # x, y inside the frustum of the 128 x 96 view at 2 m
        assert -63.5 * WALL_M / 100 <= centre.x <= 64.0 * WALL_M / 100
        assert -47.5 * WALL_M / 100 <= centre.y <= 48.0 * WALL_M / 100
        assert detection.bbox.size.z == pytest.approx(0.0, abs=1e-6)  # a flat wall has no depth extent


def test_millimetre_depth_at_half_resolution_gives_the_same_3d(session):
    out = process_with_depth(session, 102, wall(102, "16UC1", scale=2), camera_info(102), ("detections_3d",))
    assert out["detections_3d"].detections
    assert all(d.results[0].pose.pose.position.z == pytest.approx(WALL_M, abs=1e-6)
               for d in out["detections_3d"].detections)


def test_markers_clear_the_previous_frame_then_draw_a_box_and_a_label_per_3d_detection(session):
    out = process_with_depth(session, 103, wall(103), camera_info(103), ("detections_3d",))

    def markers_of_the_frame() -> list:  # MarkerArray has no header: its markers carry the stamp
        return [array.markers for array in session.outputs["markers"] if array.markers[0].header.stamp.sec == 103]

    session.spin_until(markers_of_the_frame, 30, "the frame's markers")
    markers = markers_of_the_frame()[-1]
    assert markers[0].action == Marker.DELETEALL
    boxes = [m for m in markers[1:] if m.type == Marker.CUBE]
    labels = [m for m in markers[1:] if m.type == Marker.TEXT_VIEW_FACING]
    assert len(boxes) == len(labels) == len(out["detections_3d"].detections)
    assert all(label.text.endswith(" m") and " · " in label.text for label in labels)
    # each label starts with its detection's track id, "#7 red mug 0.71 · 2.00 m"
    assert sorted(label.text.split(" ", 1)[0] for label in labels) == sorted(
        f"#{d.id}" for d in out["detections_3d"].detections)
    assert all(box.header.frame_id == "camera" and 0 < box.color.a < 1 for box in boxes)


def test_region_tokens_carry_each_region_s_3d_centre(session):
    out = process_with_depth(session, 104, wall(104), camera_info(104), ("region_tokens",))
    tokens = out["region_tokens"]
    centres = np.asarray(tokens.centres_3d, dtype=np.float32).reshape(-1, 3)
    assert centres.shape == (tokens.region_count, 3) and tokens_from_msg(tokens).shape[0] == tokens.region_count
    known = centres[~np.isnan(centres).any(axis=1)]
    assert len(known) and np.allclose(known[:, 2], WALL_M)


def test_query_answers_carry_3d_for_a_frame_that_had_depth(session):
    process_with_depth(session, 105, wall(105), camera_info(105), ("detections",))
    response = session.query(["red mug", "chair"])
    assert response.success, response.message
    assert {d.id for d in response.detections_3d.detections} == {d.id for d in response.detections.detections}
    assert response.detections_3d.header.frame_id == "camera"


def test_find_remembers_the_last_3d_sighting_of_each_object(session):
    out = process_with_depth(session, 106, wall(106), camera_info(106), ("detections",))
    response = session.probe.call(Find, session.topic("find"), Find.Request(queries=QUERIES))
    assert response.success, response.message
    in_view = {d.id for d in out["detections"].detections}
    seen_now = [found for found in response.objects if found.visible_now]
    assert seen_now and {str(found.track_id) for found in seen_now} >= in_view
    placed = [found for found in seen_now if found.has_3d]
    assert placed, "objects on the wall have 3D"
    for found in placed:
        header = found.detection_3d.header
        assert (header.frame_id, header.stamp.sec) == ("camera", 106)
        assert found.detection_3d.results[0].pose.pose.position.z == pytest.approx(WALL_M, abs=1e-3)


@pytest.mark.parametrize(("name", "depth", "info", "reason"), [
    ("unregistered", lambda s: wall(s, frame_id="other_camera"), camera_info, "not registered"),
    ("zero K", wall, lambda s: camera_info(s, k=[0.0] * 9), "unusable K"),
    ("8UC1 depth", lambda s: _raw_depth(s, "8UC1", 1), camera_info, "unusable depth image"),
    ("rgb8 as depth", lambda s: _raw_depth(s, "rgb8", 3), camera_info, "unsupported depth encoding 'rgb8'"),
    ("zero width", lambda s: _empty_depth(s, "32FC1", HEIGHT, 0), camera_info, "depth image is empty"),
    ("zero height", lambda s: _empty_depth(s, "16UC1", 0, WIDTH), camera_info, "depth image is empty"),
    ("0 x 0", lambda s: _empty_depth(s, "32FC1", 0, 0), camera_info, "depth image is empty"),
    ("fx 1e-30", wall, lambda s: camera_info(s, k=[1e-30, 0.0, 63.5, 0.0, 100.0, 47.5, 0.0, 0.0, 1.0]),
     "field of view"),
])
def test_a_frame_without_usable_depth_gets_2d_only_and_says_why(session, name, depth, info, reason):
    stamp = 200 + ["unregistered", "zero K", "8UC1 depth", "rgb8 as depth", "zero width", "zero height",
                   "0 x 0", "fx 1e-30"].index(name)
    before = int(session.fresh_status().get("frames_without_3d", "0") or 0)
    out = process_with_depth(session, stamp, depth(stamp), info(stamp), ("detections",))
    assert out["detections"].header.stamp.sec == stamp  # 2D outputs as before
    session.spin_until(lambda: int(session.value("frames_without_3d") or 0) > before, 30, "the frame counted")
    assert not [m for m in session.outputs["detections_3d"] if m.header.stamp.sec == stamp]
    assert reason in session.child.log_text()


def test_no_depth_within_the_tolerance_gets_2d_only(session):
    before = int(session.fresh_status().get("frames_without_3d", "0") or 0)
    out = process_with_depth(session, 300, wall(250), camera_info(300), ("detections",))  # 50 s apart
    assert out["detections"].header.stamp.sec == 300
    session.spin_until(lambda: int(session.value("frames_without_3d") or 0) > before, 30, "the frame counted")
    assert not [m for m in session.outputs["detections_3d"] if m.header.stamp.sec == 300]


def _raw_depth(stamp_sec: int, encoding: str, channels: int) -> Image:
    """An 8-bit image offered as depth, built by hand (as a misconfigured driver would send it)."""
    msg = Image(height=HEIGHT, width=WIDTH, encoding=encoding, step=WIDTH * channels,
                data=bytes(HEIGHT * WIDTH * channels))
    msg.header.stamp.sec, msg.header.frame_id = stamp_sec, "camera"
    return msg


def _empty_depth(stamp_sec: int, encoding: str, height: int, width: int) -> Image:
    """A depth image with no pixels (a driver's first message, or a bug): width and/or height 0."""
    itemsize = 4 if encoding == "32FC1" else 2
    msg = Image(height=height, width=width, encoding=encoding, step=width * itemsize,
                data=bytes(height * width * itemsize))
    msg.header.stamp.sec, msg.header.frame_id = stamp_sec, "camera"
    return msg


def test_a_target_frame_without_tf2_fails_configure_naming_the_package_and_the_node_stays_up():
    with NodeSession(name="textregion_tf", subscribe_outputs=False, use_depth=True, target_frame="map") as session:
        session.spin_until(lambda: "configure failed" in session.child.log_text(), 120, "the configure failure")
        assert "ros-<distro>-tf2-ros" in session.child.log_text()
        assert session.child.alive()
        # /diagnostics (no service round trip right after start-up); the module's other node publishes there too
        status = session.status_when(lambda values: "state" in values, 30, "this node's diagnostics")
        assert status["state"] == "unconfigured" and status["_message"].startswith("not active")


def flood_depth(stop: threading.Event, rate_hz: float) -> None:
    """A camera's own depth stream at `rate_hz`, stamped far from the test's frames (it can pair with none)."""
    with NodeClient("depth_flood", node_name="textregion_depth", signal_handlers=False) as camera:
        publisher = camera.sensor_publisher(Image, "/depth")
        sec = 10_000
        while not stop.is_set():
            publisher.publish(wall(sec))
            sec += 1
            stop.wait(1.0 / rate_hz)  # the stream's pace, not a wait for an outcome


def test_every_slow_frame_with_its_depth_gets_3d_while_depth_streams_at_60_hz(session):
    stop = threading.Event()
    flood = threading.Thread(target=flood_depth, args=(stop, 60.0), daemon=True)
    flood.start()
    try:
        session.spin_until(lambda: float(session.value("depth_rate_hz") or 0) > 30, 30, "the 60 Hz depth stream")
        stamps = range(400, 405)
        for stamp in stamps:  # each frame sent once its predecessor's outputs are out: slow frames, none dropped
            out = process_with_depth(session, stamp, wall(stamp), camera_info(stamp), ("detections", "detections_3d"))
            assert out["detections_3d"].detections, f"frame {stamp} lost its depth to the stream"
    finally:
        stop.set()
        flood.join(30)
