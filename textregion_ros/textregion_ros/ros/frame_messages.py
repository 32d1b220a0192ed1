"""A FrameResult -> the node's output messages; used by the node and by `textregion bag`.

The outputs table (names, message types, QoS) lives here once: the node creates its publishers
from it and the bag writer offers the same QoS, so a recorded bag replays like the live node.
Pure conversion: which work runs for which output is the pipeline's rule (perception/products.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from textregion_msgs.msg import RegionTokens
from vision_msgs.msg import Detection2DArray, Detection3DArray, LabelInfo
from visualization_msgs.msg import MarkerArray

from ..perception import FrameResult
from ..perception.products import SPATIAL_PRODUCTS
from . import conversions
from .image_conversions import numpy_to_imgmsg
from .spatial_messages import detections_3d_to_msg, markers_to_msg


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
SPATIAL_OUTPUTS = tuple(name for name in FRAME_OUTPUTS if name in SPATIAL_PRODUCTS)


def frame_messages(result: FrameResult, header: Header, wanted: Collection[str]) -> dict[str, Any]:
    """The messages of the `wanted` frame outputs that `result` holds (pipeline.describe was asked for
    the same `wanted`), all stamped with the image's `header`; the 3D ones in the output frame.

    Region tokens carry the regions' 3D centres in the optical frame, ~/detections and the 3D outputs
    the track ids, ~/labels the label values (stable class ids) of the result.
    """
    messages: dict[str, Any] = {}
    frame, tracks = result.frame, result.track_ids
    if "region_tokens" in wanted:
        centres = frame.camera_3d.centres if frame.camera_3d is not None else None
        messages["region_tokens"] = conversions.region_tokens_to_msg(frame.regions, header, centres_3d=centres,
                                                                     track_ids=tracks)
    if "overlay" in wanted and result.overlay is not None:
        messages["overlay"] = numpy_to_imgmsg(result.overlay, "rgb8", header)
    if result.segmentation is None:
        return messages
    if "detections" in wanted:
        messages["detections"] = conversions.detections_to_msg(result.detections, header, tracks)
    if "labels" in wanted:
        messages["labels"] = conversions.labels_to_image(result.segmentation.labels, len(result.queries), header,
                                                         result.label_values)
    if "confidence" in wanted:
        messages["confidence"] = conversions.confidence_to_image(result.segmentation.confidence, header)
    boxes, distances = result.detections_output_3d, result.distances_m()
    if boxes is not None and "detections_3d" in wanted:
        messages["detections_3d"] = detections_3d_to_msg(result.detections, boxes, tracks)
    if boxes is not None and "markers" in wanted:
        messages["markers"] = markers_to_msg(result.detections, boxes, distances, len(result.queries), tracks)
    return messages
