"""One processed frame -> the node's output messages; used by the node and by `textregion bag`.

The outputs table (names, message types, QoS) lives here once: the node creates its publishers
from it and the bag writer offers the same QoS, so a recorded bag replays like the live node.
Work is lazy: the segmentation runs only when an output that needs it is wanted, grounding only
for detections or the overlay.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Collection, Optional, Sequence

import numpy as np
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from textregion_msgs.msg import RegionTokens
from vision_msgs.msg import Detection2DArray, Detection3DArray, LabelInfo
from visualization_msgs.msg import MarkerArray

from ..engine import QuerySet, Regions, TextRegionEngine
from ..outputs.overlay import draw_overlay
from . import conversions
from .depth_input import Spatial3D
from .image_conversions import numpy_to_imgmsg
from .spatial_messages import detections_3d_to_msg, markers_to_msg, place


@dataclass(frozen=True)
class Output:
    """One output topic: message type, QoS (all reliable) and the parameter that switches it off."""

    message_type: type
    depth: int
    latched: bool = False  # transient local: late subscribers get the last message
    switch: str = ""  # publish_* parameter; "" = always on

    def qos(self) -> QoSProfile:
        durability = DurabilityPolicy.TRANSIENT_LOCAL if self.latched else DurabilityPolicy.VOLATILE
        return QoSProfile(depth=self.depth, reliability=ReliabilityPolicy.RELIABLE, durability=durability)


OUTPUTS: dict[str, Output] = {
    "detections": Output(Detection2DArray, 10),
    "labels": Output(Image, 2),
    "confidence": Output(Image, 2, switch="publish_confidence"),
    "overlay": Output(Image, 2, switch="publish_overlay"),
    "region_tokens": Output(RegionTokens, 10, switch="publish_region_tokens"),
    "detections_3d": Output(Detection3DArray, 10),  # with use_depth only
    "markers": Output(MarkerArray, 2),  # with use_depth only
    "label_info": Output(LabelInfo, 1, latched=True),
    "camera_info": Output(CameraInfo, 10),  # with use_depth only: the colour camera's, stamped like labels
}
# Outputs made from a frame's regions (label_info is published when the queries change instead, and
# camera_info by the node, the latest one restamped, for each processed frame).
FRAME_OUTPUTS = tuple(name for name in OUTPUTS if name not in ("label_info", "camera_info"))
SPATIAL_OUTPUTS = ("detections_3d", "markers")
_NEED_SEGMENTATION = {"detections", "labels", "confidence", "overlay", *SPATIAL_OUTPUTS}
_NEED_GROUNDING = {"detections", "overlay", *SPATIAL_OUTPUTS}


def frame_messages(engine: TextRegionEngine, rgb: np.ndarray, regions: Regions, queries: QuerySet,
                   header: Header, wanted: Collection[str],
                   stage_seconds: Optional[dict[str, float]] = None,
                   spatial: Optional[Spatial3D] = None, track_ids: Optional[np.ndarray] = None,
                   label_values: Optional[Sequence[int]] = None) -> dict[str, Any]:
    """The messages of the `wanted` frame outputs for this frame and query set.

    Without queries there is nothing to segment: the overlay is the plain image and detections,
    labels and confidence are not produced. `stage_seconds`, when given, receives the text,
    segmentation and grounding times. With `spatial` (the frame's 3D), region tokens carry the
    regions' 3D centres, the overlay the distances, and ~/detections_3d and ~/markers are made
    (in spatial.header's frame) unless spatial.boxes is None. `track_ids` (one per region) become
    the detections' ids and RegionTokens.track_ids; `label_values` (one per query: the stable class
    ids) the pixel values of ~/labels, else the class index.
    """
    messages: dict[str, Any] = {}
    if "region_tokens" in wanted:
        centres = spatial.located.centres if spatial is not None else None
        messages["region_tokens"] = conversions.region_tokens_to_msg(regions, header, centres_3d=centres,
                                                                     track_ids=track_ids)
    if not len(queries):
        if "overlay" in wanted:
            messages["overlay"] = numpy_to_imgmsg(rgb, "rgb8", header)
        return messages
    if not _NEED_SEGMENTATION & set(wanted):
        return messages
    segmentation = engine.segment(regions, queries)
    if stage_seconds is not None:
        stage_seconds.update(segmentation.timings)
    detections = []
    if _NEED_GROUNDING & set(wanted):
        started = time.perf_counter()
        detections = engine.ground(regions, queries, segmentation=segmentation)
        if stage_seconds is not None:
            stage_seconds["grounding"] = time.perf_counter() - started
    if "detections" in wanted:
        messages["detections"] = conversions.detections_to_msg(detections, header, track_ids)
    if "labels" in wanted:
        messages["labels"] = conversions.labels_to_image(segmentation.labels, len(queries), header, label_values)
    if "confidence" in wanted:
        messages["confidence"] = conversions.confidence_to_image(segmentation.confidence, header)
    placed = (place(detections, spatial.boxes, spatial.located.centres)
              if spatial is not None and spatial.boxes is not None else None)
    if "overlay" in wanted:
        distances = {p.detection.region_index: p.distance_m for p in placed} if placed else None
        overlay = draw_overlay(rgb, segmentation.labels, queries.classes, detections, distances=distances,
                               track_ids=track_ids)
        messages["overlay"] = numpy_to_imgmsg(overlay, "rgb8", header)
    if placed is not None and "detections_3d" in wanted:
        messages["detections_3d"] = detections_3d_to_msg(placed, spatial.header, track_ids)
    if placed is not None and "markers" in wanted:
        messages["markers"] = markers_to_msg(placed, spatial.header, len(queries), track_ids)
    return messages
