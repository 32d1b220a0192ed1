"""3D results -> vision_msgs/Detection3DArray and visualization_msgs/MarkerArray (for RViz).

The detections' 3D comes from spatial.locate per region (the detection's region); these
functions only shape messages. Ids and classes are those of ~/detections, so a consumer can join
the 2D and 3D answers by `id`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from std_msgs.msg import ColorRGBA, Header
from vision_msgs.msg import Detection3D, Detection3DArray
from visualization_msgs.msg import Marker, MarkerArray

from ..engine.results import Detection
from ..outputs.overlay import class_colors
from ..spatial import Boxes3D
from .conversions import copy_header, detection_id, hypothesis

MARKER_NAMESPACE = "textregion"
BOX_ALPHA = 0.35
TEXT_HEIGHT_M = 0.08


@dataclass(frozen=True)
class Placed:
    """One detection with its 3D in the output frame (metres): the object's centre (median of its
    points), and its box: midpoint, size along the box's axes, orientation (x, y, z, w); and its
    distance from the camera, which is what a person reading "red mug · 1.42 m" means whatever frame
    the boxes are published in (with target_frame: map, |centre| would be the distance from the map's
    origin)."""

    detection: Detection
    centre: tuple[float, float, float]
    box_centre: tuple[float, float, float]
    size: tuple[float, float, float]
    orientation: tuple[float, float, float, float]
    distance_m: float  # from the camera: |centre| in the optical frame


def place(detections: Sequence[Detection], boxes: Boxes3D, camera_centres: Optional[np.ndarray] = None) -> list[Placed]:
    """The detections whose region has 3D (per-region rows indexed by Detection.region_index).

    camera_centres [N,3]: the same regions' centres in the camera's optical frame (Located.centres),
    for the distance from the camera; without them the boxes are taken to be in the optical frame.
    """
    optical = boxes.centres if camera_centres is None else np.asarray(camera_centres, dtype=np.float64)
    placed = []
    for detection in detections:
        index = detection.region_index
        if 0 <= index < len(boxes.valid) and bool(boxes.valid[index]):
            placed.append(Placed(detection, _triple(boxes.centres[index]), _triple(boxes.box_centres[index]),
                                 _triple(boxes.sizes[index]), tuple(float(v) for v in boxes.orientations[index]),
                                 float(np.linalg.norm(optical[index]))))
    return placed


def _triple(row: np.ndarray) -> tuple[float, float, float]:
    return float(row[0]), float(row[1]), float(row[2])


def detections_3d_to_msg(placed: Sequence[Placed], header: Optional[Header],
                         track_ids: Optional[Sequence[int]] = None) -> Detection3DArray:
    """`~/detections_3d`: one Detection3D per placed detection, same id (the track id with
    `track_ids`) / class_id / score as its 2D one."""
    msg = Detection3DArray()
    msg.header = copy_header(header)
    items = []
    for item in placed:
        items.append(detection_3d(copy_header(header), detection_id(item.detection, track_ids), item.detection.query,
                                  item.detection.score, item.centre, item.box_centre, item.size, item.orientation))
    msg.detections = items
    return msg


def detection_3d(header: Header, detection_id: str, query: str, score: float, centre: Sequence[float],
                 box_centre: Sequence[float], size: Sequence[float], orientation: Sequence[float]) -> Detection3D:
    """One Detection3D as ~/detections_3d, ~/query and ~/find carry it: the hypothesis pose is the
    object's centre (median of its points), the bbox its box (midpoint, size, orientation x, y, z, w)."""
    detection = Detection3D()
    detection.header = header
    detection.id = detection_id
    result = hypothesis(query, score)
    position = result.pose.pose.position
    position.x, position.y, position.z = (float(v) for v in centre)
    result.pose.pose.orientation.w = 1.0
    detection.results = [result]
    bbox_centre = detection.bbox.center
    bbox_centre.position.x, bbox_centre.position.y, bbox_centre.position.z = (float(v) for v in box_centre)
    turn = bbox_centre.orientation
    turn.x, turn.y, turn.z, turn.w = (float(v) for v in orientation)
    detection.bbox.size.x, detection.bbox.size.y, detection.bbox.size.z = (float(v) for v in size)
    return detection


def markers_to_msg(placed: Sequence[Placed], header: Optional[Header], class_count: int,
                   track_ids: Optional[Sequence[int]] = None) -> MarkerArray:
    """`~/markers`: DELETEALL (the previous frame's markers go), then a translucent box and a text
    label ("red mug 0.71 · 1.42 m", "#7 red mug ..." with `track_ids`; at the box's centre: no up
    direction is assumed, since the frame may be the optical one or any target_frame) per placed
    detection, in its class colour."""
    palette = class_colors(max(class_count, 1))
    clear = Marker()
    clear.header = copy_header(header)
    clear.ns = MARKER_NAMESPACE
    clear.action = Marker.DELETEALL
    markers = [clear]
    for number, item in enumerate(placed):
        red, green, blue = (float(c) / 255.0 for c in palette[item.detection.class_index % len(palette)])
        box = _marker(header, 2 * number, Marker.CUBE, item, ColorRGBA(r=red, g=green, b=blue, a=BOX_ALPHA))
        box.scale.x, box.scale.y, box.scale.z = (max(s, 1e-3) for s in item.size)
        label = _marker(header, 2 * number + 1, Marker.TEXT_VIEW_FACING, item, ColorRGBA(r=red, g=green, b=blue, a=1.0))
        label.scale.z = TEXT_HEIGHT_M
        label.text = f"{item.detection.query} {item.detection.score:.2f} · {item.distance_m:.2f} m"
        if track_ids is not None:
            label.text = f"#{detection_id(item.detection, track_ids)} {label.text}"
        markers += [box, label]
    return MarkerArray(markers=markers)


def _marker(header: Optional[Header], marker_id: int, kind: int, item: Placed, colour: ColorRGBA) -> Marker:
    marker = Marker()
    marker.header = copy_header(header)
    marker.ns = MARKER_NAMESPACE
    marker.id = marker_id
    marker.type = kind
    marker.action = Marker.ADD
    marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = item.box_centre
    orientation = marker.pose.orientation
    orientation.x, orientation.y, orientation.z, orientation.w = item.orientation
    marker.color = colour
    marker.lifetime = Duration()  # until the next frame's DELETEALL
    return marker
