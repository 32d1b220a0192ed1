"""3D in the offline tools: `textregion segment --depth/--intrinsics` and `textregion bag --depth-topic`.

The scene is a flat wall at 2.000 m behind every pixel, so every region's 3D centre must be at
z = 2.000, whatever regions the random-weight models cut.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from test_cli import QUERIES, checkpoints, config_file, read_output_bag, run_cli, small_photo  # noqa: F401

WALL_M = 2.0
K = [100.0, 0.0, 79.5, 0.0, 100.0, 59.5, 0.0, 0.0, 1.0]  # 160 x 120 colour images


def test_segment_with_depth_adds_each_detection_s_3d_position_to_the_json(tmp_path, config_file):
    photo = small_photo(tmp_path / "images", "kitchen.png", (160, 120))
    depth = tmp_path / "depth"
    depth.mkdir()
    np.save(depth / "kitchen.npy", np.full((60, 80), WALL_M, np.float32))  # half resolution: resampled
    out = tmp_path / "out"
    assert run_cli("segment", photo, "--config", config_file, "--depth", depth, "--intrinsics", "100,100,79.5,59.5",
                   "-p", "min_depth_points=5", "--out", out) == 0
    detections = json.loads((out / "kitchen_detections.json").read_text())["detections"]
    placed = [d for d in detections if d["position_m"] is not None]
    assert placed, detections
    for detection in placed:
        assert detection["position_m"][2] == WALL_M and detection["box_3d"]["size_m"][2] == 0.0


def test_segment_depth_needs_intrinsics(tmp_path, capsys):
    assert run_cli("segment", tmp_path, "--queries", "cat", "--depth", tmp_path, "--out", tmp_path / "o") == 2
    assert "--depth and --intrinsics go together" in capsys.readouterr().err


def write_depth_bag(path: Path) -> list[dict[str, Any]]:
    """3 colour frames, each with a 32FC1 wall recorded 10 ms later (aligned depth comes after its
    colour frame), and one CameraInfo first; all in the optical frame 'camera'."""
    from builtin_interfaces.msg import Time
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    from sensor_msgs.msg import CameraInfo
    from std_msgs.msg import Header

    from engine_fixtures import photo_like
    from textregion_ros.ros.image_conversions import numpy_to_imgmsg

    typestore = get_typestore(Stores.ROS2_JAZZY)
    frames = []
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        image = writer.add_connection("/camera/color", "sensor_msgs/msg/Image", typestore=typestore)
        depth = writer.add_connection("/camera/depth", "sensor_msgs/msg/Image", typestore=typestore)
        info = writer.add_connection("/camera/camera_info", "sensor_msgs/msg/CameraInfo", typestore=typestore)
        camera = CameraInfo(header=Header(stamp=Time(sec=1000), frame_id="camera"), width=160, height=120, k=K)
        writer.write(info, 4_900_000_000, serialize_message(camera))
        for index in range(3):
            header = Header(stamp=Time(sec=1000 + index), frame_id="camera")
            timestamp = 5_000_000_000 + index * 100_000_000
            writer.write(image, timestamp, serialize_message(
                numpy_to_imgmsg(photo_like(120, 160, seed=index), "rgb8", header)))
            writer.write(depth, timestamp + 10_000_000, serialize_message(
                numpy_to_imgmsg(np.full((120, 160), WALL_M, np.float32), "32FC1", header)))
            frames.append({"header": header, "timestamp": timestamp})
    return frames


def test_bag_with_depth_writes_detections_3d_and_markers_that_match_the_2d_detections(tmp_path, config_file):
    from rclpy.serialization import deserialize_message
    from vision_msgs.msg import Detection2DArray, Detection3DArray
    from visualization_msgs.msg import Marker, MarkerArray

    frames = write_depth_bag(tmp_path / "in_bag")
    out = tmp_path / "out_bag"
    assert run_cli("bag", tmp_path / "in_bag", "--image-topic", "/camera/color", "--depth-topic", "/camera/depth",
                   "--camera-info-topic", "/camera/camera_info", "--config", config_file, "--queries",
                   ", ".join(QUERIES), "-p", "min_depth_points=5", "--out", out) == 0
    bag = read_output_bag(out)
    assert len(bag["/camera/depth"]) == 3 and len(bag["/camera/camera_info"]) == 1  # copied: the bag replays alone
    detections = [deserialize_message(raw, Detection2DArray) for _, raw, _ in bag["/textregion/detections"]]
    detections_3d = [deserialize_message(raw, Detection3DArray) for _, raw, _ in bag["/textregion/detections_3d"]]
    markers = [deserialize_message(raw, MarkerArray) for _, raw, _ in bag["/textregion/markers"]]
    assert len(detections) == len(detections_3d) == len(markers) == len(frames)
    for frame, flat, spatial, drawn in zip(frames, detections, detections_3d, markers):
        assert spatial.header == frame["header"]
        assert {(d.id, d.results[0].hypothesis.class_id) for d in spatial.detections} == {
            (d.id, d.results[0].hypothesis.class_id) for d in flat.detections}
        assert all(d.results[0].pose.pose.position.z == WALL_M for d in spatial.detections)
        assert drawn.markers[0].action == Marker.DELETEALL
        assert len(drawn.markers) == 1 + 2 * len(spatial.detections)


def test_bag_depth_topic_needs_the_camera_info_topic(tmp_path, capsys):
    write_depth_bag(tmp_path / "in_bag")
    assert run_cli("bag", tmp_path / "in_bag", "--image-topic", "/camera/color", "--depth-topic", "/camera/depth",
                   "--queries", "cat", "--out", tmp_path / "out") == 2
    assert "--depth-topic and --camera-info-topic go together" in capsys.readouterr().err
