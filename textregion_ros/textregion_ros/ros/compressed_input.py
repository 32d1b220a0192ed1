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
from sensor_msgs.msg import CompressedImage, Image

from ..engine.errors import ImageError
from ..engine.model_image import MAX_IMAGE_PIXELS
from ..runtime.compressed_image import CompressedImageError, decode_colour, decode_depth
from .image_conversions import imgmsg_to_numpy, numpy_to_imgmsg

# Largest decoded frame accepted: a small PNG may declare a canvas far beyond any camera, and one
# larger than the engine takes would only be refused after the decode.
MAX_DECODED_PIXELS = MAX_IMAGE_PIXELS
INPUT_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
__all__ = ["CompressedImageError", "INPUT_ENCODINGS", "InputImageError", "MAX_DECODED_PIXELS", "as_image",
           "depth_pixels", "frame_rgb", "input_topic"]


class InputImageError(ImageError):
    """A colour message the node cannot read; str() completes "dropped ...", `key` groups repeats."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key
SUFFIX = {"image": "compressed", "depth": "compressedDepth"}


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


def frame_rgb(msg: Union[Image, CompressedImage]) -> tuple[Image, np.ndarray]:
    """(the frame as an Image, its HxWx3 RGB pixels); InputImageError saying why not. The engine's own
    ImageError then covers the pixels it refuses (empty, too large)."""
    try:  # a CompressedImage is decoded here, on the worker: only frames processed cost a decode
        msg = as_image(msg)
    except CompressedImageError as error:
        raise InputImageError(f"a compressed image: {error}", f"compressed: {str(error)[:60]}") from None
    if msg.encoding not in INPUT_ENCODINGS:
        raise InputImageError(f"an image with encoding {msg.encoding!r}; supported: {', '.join(INPUT_ENCODINGS)}",
                              f"encoding {msg.encoding}")
    try:
        return msg, imgmsg_to_numpy(msg, "rgb8")
    except ValueError as error:
        raise InputImageError(f"an image: {error}", str(error)[:80]) from None


def depth_pixels(msg: Union[Image, CompressedImage]) -> tuple[np.ndarray, str]:
    """(depth array, encoding) of a raw or compressedDepth depth message; CompressedImageError saying why not."""
    if isinstance(msg, Image):
        return imgmsg_to_numpy(msg), msg.encoding
    depth = decode_depth(msg.format, msg.data, MAX_DECODED_PIXELS)
    return depth, "16UC1" if depth.dtype == np.uint16 else "32FC1"
