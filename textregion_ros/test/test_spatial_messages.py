"""3D results as messages (ros/spatial_messages.py): the distance a marker states is from the camera."""
from __future__ import annotations

import numpy as np
import pytest

from textregion_ros.engine.results import Detection
from textregion_ros.ros.spatial_messages import markers_to_msg, place
from textregion_ros.spatial import transform_boxes
from textregion_ros.spatial.locate import Located

CAMERA_CENTRE = np.array([[0.6, 0.0, 0.8]])  # 1.0 m from the camera, in the optical frame
MUG = Detection(query="red mug", class_index=0, score=0.71, box=(10.0, 10.0, 30.0, 30.0), region_index=0)


def located_mug() -> Located:
    return Located(centres=CAMERA_CENTRE.copy(), box_min=CAMERA_CENTRE - 0.05, box_max=CAMERA_CENTRE + 0.05,
                   sizes=np.full((1, 3), 0.1), valid=np.array([True]), inliers=np.array([50]),
                   candidates=np.array([60]))


def test_the_distance_is_from_the_camera_when_the_boxes_are_in_another_frame():
    located = located_mug()
    in_map = transform_boxes(located, translation=(10.0, -4.0, 0.5))  # e.g. target_frame: map
    [placed] = place([MUG], in_map, located.centres)
    assert placed.centre == pytest.approx((10.6, -4.0, 1.3))  # published where the map has it
    assert placed.distance_m == pytest.approx(1.0)


def test_the_marker_label_states_the_distance_from_the_camera():
    located = located_mug()
    markers = markers_to_msg(place([MUG], transform_boxes(located, translation=(10.0, -4.0, 0.5)), located.centres),
                             None, class_count=1)
    [label] = [m for m in markers.markers if m.text]
    assert label.text == "red mug 0.71 · 1.00 m"


def test_boxes_in_the_optical_frame_need_no_separate_centres():
    [placed] = place([MUG], transform_boxes(located_mug()))
    assert placed.distance_m == pytest.approx(1.0)
