"""image_transport "compressed" input: which topic and type the node subscribes to, and the frame of a
CompressedImage, decoded on the frame worker.

Why a module of its own: the node keeps the message undecoded in its callback (the newest-frame rule drops
most frames of a fast camera, and a dropped frame should cost nothing); only a frame the worker takes is
decoded here, with the ROS-free decoder `textregion bag` uses, so both reject the same payloads for the same
reasons. The topic names follow image_transport: `<base>/compressed` and `<base>/compressedDepth`, after the
base name's remapping (a remap of `image` moves the compressed topic with it).
"""
from __future__ import annotations

from typing import Any, Union

import numpy as np
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from ..runtime.compressed_image import CompressedImageError, decode_colour, decode_depth
from .image_conversions import imgmsg_to_numpy, numpy_to_imgmsg

# Largest decoded frame accepted: a small PNG may declare a canvas far beyond any camera.
MAX_DECODED_PIXELS = 8192 * 8192
__all__ = ["CompressedImageError", "MAX_DECODED_PIXELS", "as_image", "depth_pixels", "image_input_qos", "input_topic"]
SUFFIX = {"image": "compressed", "depth": "compressedDepth"}


def image_input_qos(reliability: str) -> QoSProfile:
    """SensorDataQoS (volatile, shallow) with the configured reliability, for either transport."""
    policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2, reliability=policy,
                      durability=DurabilityPolicy.VOLATILE)


def input_topic(node: Any, base: str, transport: str) -> tuple[type, str]:
    """(message type, topic) of the `base` input ("image" or "depth") under `transport`."""
    if transport == "raw":
        return Image, base
    return CompressedImage, f"{node.resolve_topic_name(base)}/{SUFFIX[base]}"


def as_image(msg: Union[Image, CompressedImage]) -> Image:
    """The colour frame as an rgb8 Image (a raw Image is returned as is); CompressedImageError saying why not."""
    if isinstance(msg, Image):
        return msg
    image = numpy_to_imgmsg(decode_colour(msg.format, msg.data, MAX_DECODED_PIXELS), "rgb8")
    image.header = msg.header
    return image


def depth_pixels(msg: Union[Image, CompressedImage]) -> tuple[np.ndarray, str]:
    """(depth array, encoding) of a raw or compressedDepth depth message; CompressedImageError saying why not."""
    if isinstance(msg, Image):
        return imgmsg_to_numpy(msg), msg.encoding
    depth = decode_depth(msg.format, msg.data, MAX_DECODED_PIXELS)
    return depth, "16UC1" if depth.dtype == np.uint16 else "32FC1"
