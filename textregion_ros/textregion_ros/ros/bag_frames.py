"""The ROS side of `textregion bag`: CDR bytes of the bag's messages in, CDR bytes of the node's
messages out, so cli/bag.py (the bag's topics, the progress, the report) imports no rclpy.

The frames go through the same pipeline and frame_messages() as the live node; depth and camera_info
feed the same DepthPairing the node's inputs do.
"""
from __future__ import annotations

from typing import Any, Collection, Optional

from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from ..perception import FrameInput, FrameResult
from . import conversions
from .compressed_input import frame_rgb
from .depth_input import DepthPairing
from .frame_messages import OUTPUTS, frame_messages

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"


def message_type_name(message_type: type) -> str:
    """'vision_msgs/msg/Detection2DArray' for the rclpy class, as bags name types."""
    return f"{message_type.__module__.split('.')[0]}/msg/{message_type.__name__}"


OUTPUT_TYPES = {name: message_type_name(output.message_type) for name, output in OUTPUTS.items()}


class BagFrames:
    """Decodes the bag's colour frames (raw or compressed) and side inputs; serializes the outputs."""

    def __init__(self, input_type: str, with_depth: bool) -> None:
        self._image_class = Image if input_type == IMAGE_TYPE else CompressedImage
        self.pairing: Optional[DepthPairing] = DepthPairing() if with_depth else None

    def add_depth(self, raw: bytes) -> None:
        self.pairing.add_depth(deserialize_message(bytes(raw), Image))

    def set_camera_info(self, raw: bytes) -> None:
        self.pairing.set_camera_info(deserialize_message(bytes(raw), CameraInfo))

    def frame(self, raw: bytes) -> tuple[Header, FrameInput]:
        """The frame's header and the pipeline's input; ImageError (InputImageError) saying why not."""
        msg, rgb = frame_rgb(deserialize_message(bytes(raw), self._image_class))
        header = conversions.copy_header(msg.header)
        return header, FrameInput(rgb, conversions.stamp_ns(header), header.frame_id, depth=self.pairing)

    @staticmethod
    def messages(result: FrameResult, header: Header, wanted: Collection[str]) -> dict[str, bytes]:
        return {name: serialize_message(msg) for name, msg in frame_messages(result, header, wanted).items()}

    @staticmethod
    def label_info(classes: Any, header: Header, threshold: float) -> bytes:
        return serialize_message(conversions.label_info(
            classes, Header(stamp=header.stamp, frame_id=header.frame_id), threshold))

