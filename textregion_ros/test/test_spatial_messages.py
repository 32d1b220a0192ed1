"""3D results as messages (ros/spatial_messages.py): published in the boxes' frame, the distance a marker
states from the camera."""
from __future__ import annotations

import numpy as np
import pytest

from textregion_ros.engine.results import Detection
from textregion_ros.perception.region_3d import distances_m
from textregion_ros.ros.spatial_messages import detections_3d_to_msg, markers_to_msg
from textregion_ros.spatial import RigidTransform, move_located
from textregion_ros.spatial.locate import Located

CAMERA_CENTRE = np.array([[0.6, 0.0, 0.8]])  # 1.0 m from the camera, in the optical frame
MUG = Detection(query="red mug", class_index=0, score=0.71, box=(10.0, 10.0, 30.0, 30.0), region_index=0)
TO_MAP = RigidTransform((10.0, -4.0, 0.5), (0.0, 0.0, 0.0, 1.0), "map")
STAMP_NS = 12_000_000_345


def located_mug() -> Located:
    return Located(centres=CAMERA_CENTRE.copy(), box_min=CAMERA_CENTRE - 0.05, box_max=CAMERA_CENTRE + 0.05,
                   sizes=np.full((1, 3), 0.1), valid=np.array([True]), inliers=np.array([50]),
                   candidates=np.array([60]))


def test_detections_3d_are_published_in_the_output_frame_at_the_image_stamp():
    in_map = move_located(located_mug(), TO_MAP, "camera_optical", STAMP_NS)
    msg = detections_3d_to_msg([MUG], in_map)
    assert msg.header.frame_id == "map" and (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 345)
    position = msg.detections[0].results[0].pose.pose.position
    assert (position.x, position.y, position.z) == pytest.approx((10.6, -4.0, 1.3))


def test_the_marker_label_states_the_distance_from_the_camera_not_from_the_maps_origin():
    located = located_mug()
    camera = move_located(located, None, "camera_optical", STAMP_NS)
    in_map = move_located(located, TO_MAP, "camera_optical", STAMP_NS)
    markers = markers_to_msg([MUG], in_map, distances_m(camera), class_count=1)
    [label] = [m for m in markers.markers if m.text]
    assert label.text == "red mug 0.71 · 1.00 m"
    assert markers.markers[1].pose.position.x == pytest.approx(10.6)


def test_rows_without_3d_give_no_detection_and_no_marker():
    located = located_mug()
    located.valid[:] = False
    boxes = move_located(located, None, "camera_optical", STAMP_NS)
    assert detections_3d_to_msg([MUG], boxes).detections == []
    assert [m.action for m in markers_to_msg([MUG], boxes, distances_m(boxes), 1).markers] == [3]  # DELETEALL only
