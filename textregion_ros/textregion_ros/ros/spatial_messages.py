"""3D results -> vision_msgs/Detection3DArray and visualization_msgs/MarkerArray (for RViz).

The detections' 3D comes from the pipeline (perception/region_3d.py: rows following the detections,
in the output frame); these functions only shape messages. Ids and classes are those of
~/detections, so a consumer can join the 2D and 3D answers by `id`.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from std_msgs.msg import ColorRGBA, Header
from vision_msgs.msg import Detection3D, Detection3DArray
from visualization_msgs.msg import Marker, MarkerArray

from ..engine.results import Detection
from ..outputs.overlay import class_colors
from ..spatial import Boxes3D
from .conversions import copy_header, detection_id, hypothesis, stamp

MARKER_NAMESPACE = "textregion"
BOX_ALPHA = 0.35
TEXT_HEIGHT_M = 0.08


def boxes_header(boxes: Boxes3D) -> Header:
    """The header of 3D in `boxes`' frame at its stamp (the image's stamp, the output frame)."""
    return Header(stamp=stamp(boxes.stamp_ns), frame_id=boxes.frame_id)


def _triple(row: np.ndarray) -> tuple[float, float, float]:
    return float(row[0]), float(row[1]), float(row[2])


def detections_3d_to_msg(detections: Sequence[Detection], boxes: Boxes3D,
                         track_ids: Optional[Sequence[int]] = None) -> Detection3DArray:
    """`~/detections_3d`: one Detection3D per detection with 3D (rows of `boxes` follow `detections`),
    same id (the track id with `track_ids`) / class_id / score as its 2D one."""
    msg = Detection3DArray()
    msg.header = boxes_header(boxes)
    items = []
    for row in np.flatnonzero(boxes.valid):
        detection = detections[row]
        items.append(detection_3d(boxes_header(boxes), detection_id(detection, track_ids), detection.query,
                                  detection.score, _triple(boxes.centres[row]), _triple(boxes.box_centres[row]),
                                  _triple(boxes.sizes[row]), tuple(float(v) for v in boxes.orientations[row])))
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


def markers_to_msg(detections: Sequence[Detection], boxes: Boxes3D, distances_m: Optional[np.ndarray],
                   class_count: int, track_ids: Optional[Sequence[int]] = None) -> MarkerArray:
    """`~/markers`: DELETEALL (the previous frame's markers go), then a translucent box and a text
    label ("red mug 0.71 · 1.42 m": the distance from the camera, whatever frame the boxes are in;
    "#7 red mug ..." with `track_ids`; at the box's centre: no up direction is assumed, since the frame
    may be the optical one or any target_frame) per detection with 3D, in its class colour."""
    header = boxes_header(boxes)
    palette = class_colors(max(class_count, 1))
    clear = Marker()
    clear.header = copy_header(header)
    clear.ns = MARKER_NAMESPACE
    clear.action = Marker.DELETEALL
    markers = [clear]
    for number, row in enumerate(np.flatnonzero(boxes.valid)):
        detection = detections[row]
        red, green, blue = (float(c) / 255.0 for c in palette[detection.class_index % len(palette)])
        box_centre, orientation = _triple(boxes.box_centres[row]), tuple(float(v) for v in boxes.orientations[row])
        box = _marker(header, 2 * number, Marker.CUBE, box_centre, orientation,
                      ColorRGBA(r=red, g=green, b=blue, a=BOX_ALPHA))
        box.scale.x, box.scale.y, box.scale.z = (max(float(s), 1e-3) for s in boxes.sizes[row])
        label = _marker(header, 2 * number + 1, Marker.TEXT_VIEW_FACING, box_centre, orientation,
                        ColorRGBA(r=red, g=green, b=blue, a=1.0))
        label.scale.z = TEXT_HEIGHT_M
        label.text = f"{detection.query} {detection.score:.2f}"
        if distances_m is not None and np.isfinite(distances_m[row]):
            label.text += f" · {float(distances_m[row]):.2f} m"
        if track_ids is not None:
            label.text = f"#{detection_id(detection, track_ids)} {label.text}"
        markers += [box, label]
    return MarkerArray(markers=markers)


def _marker(header: Header, marker_id: int, kind: int, position: tuple[float, float, float],
            orientation: tuple[float, ...], colour: ColorRGBA) -> Marker:
    marker = Marker()
    marker.header = copy_header(header)
    marker.ns = MARKER_NAMESPACE
    marker.id = marker_id
    marker.type = kind
    marker.action = Marker.ADD
    marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = position
    turn = marker.pose.orientation
    turn.x, turn.y, turn.z, turn.w = orientation
    marker.color = colour
    marker.lifetime = Duration()  # until the next frame's DELETEALL
    return marker
