"""numpy <-> sensor_msgs/Image without cv_bridge.

cv_bridge for ROS 2 is not installable from PyPI, and the PyPI package of that name is a ROS 1
port that ignores row padding. This module replaces it for the encodings this package meets, with
the same call shapes: `imgmsg_to_cv2(msg, desired_encoding)` and `cv2_to_imgmsg(array, encoding)`.

Arrays are numpy, channels last. Unlike cv_bridge, "passthrough" names the ROS encoding (e.g.
"rgb8" rather than "8UC3") when the array is built, because callers here work in RGB.
Reading is zero-copy when the message is in host byte order and needs no colour conversion: the
returned array then views the message's buffer (read-only when the buffer is `bytes`).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

_HOST_IS_BIGENDIAN = sys.byteorder == "big"


@dataclass(frozen=True)
class EncodingInfo:
    """Layout of one ROS image encoding."""

    dtype: np.dtype
    channels: int


ENCODINGS: dict[str, EncodingInfo] = {
    "rgb8": EncodingInfo(np.dtype(np.uint8), 3),
    "bgr8": EncodingInfo(np.dtype(np.uint8), 3),
    "rgba8": EncodingInfo(np.dtype(np.uint8), 4),
    "bgra8": EncodingInfo(np.dtype(np.uint8), 4),
    "mono8": EncodingInfo(np.dtype(np.uint8), 1),
    "mono16": EncodingInfo(np.dtype(np.uint16), 1),
    "16UC1": EncodingInfo(np.dtype(np.uint16), 1),
    "32FC1": EncodingInfo(np.dtype(np.float32), 1),
}

# Channel order of the 8-bit colour encodings, as indices into an RGBA view of the pixel.
_COLOR_ORDER: dict[str, tuple[int, ...]] = {
    "rgb8": (0, 1, 2),
    "bgr8": (2, 1, 0),
    "rgba8": (0, 1, 2, 3),
    "bgra8": (2, 1, 0, 3),
}
# ITU-R BT.601 luma, as used by OpenCV's RGB2GRAY.
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Encodings that hold the same bytes under two names.
_ALIASES = {frozenset(("mono16", "16UC1"))}


def encoding_info(encoding: str) -> EncodingInfo:
    """Layout of `encoding`, or a ValueError naming the supported ones."""
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ValueError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}"
        ) from None


def imgmsg_to_numpy(msg: Image, desired_encoding: str = "passthrough") -> np.ndarray:
    """Pixels of `msg` as an array: HxW for one channel, HxWxC otherwise, in host byte order.

    Honours `step` (row padding) and `is_bigendian`. Raises ValueError for unsupported
    encodings, a step shorter than a row, data shorter than step*height, or a conversion this
    module does not know.
    """
    info = encoding_info(msg.encoding)
    height, width = int(msg.height), int(msg.width)
    row_bytes = width * info.channels * info.dtype.itemsize
    step = int(msg.step)
    if height and width and step < row_bytes:
        raise ValueError(
            f"{msg.encoding} image step {step} is shorter than one row "
            f"({width} px x {info.channels} ch x {info.dtype.itemsize} B = {row_bytes} B)"
        )
    needed = step * height
    available = len(msg.data)
    if available < needed:
        raise ValueError(
            f"image data has {available} bytes, expected at least step*height = "
            f"{step}*{height} = {needed}"
        )
    if height == 0 or width == 0:
        array = np.zeros((height, width, info.channels), dtype=info.dtype)
    else:
        raw = np.frombuffer(msg.data, dtype=np.uint8, count=needed).reshape(height, step)
        pixel_dtype = info.dtype.newbyteorder(">" if msg.is_bigendian else "<")
        array = raw[:, :row_bytes].view(pixel_dtype).reshape(height, width, info.channels)
        if info.dtype.itemsize > 1 and bool(msg.is_bigendian) != _HOST_IS_BIGENDIAN:
            array = array.astype(info.dtype)  # byte swap into host order (copies)
    array = _convert(array, msg.encoding, desired_encoding)
    return array[:, :, 0] if array.shape[2] == 1 else array


def numpy_to_imgmsg(
    array: np.ndarray, encoding: str = "passthrough", header: Optional[Header] = None
) -> Image:
    """Build an Image from an HxW or HxWxC array (one copy into the message's bytes).

    "passthrough" picks the encoding from dtype and channels: uint8 HxW mono8, HxWx3 rgb8,
    HxWx4 rgba8; uint16 HxW mono16; float32 HxW 32FC1.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"expected an HxW or HxWxC array, got shape {array.shape}")
    if encoding == "passthrough":
        encoding = _infer_encoding(array)
    info = encoding_info(encoding)
    if array.shape[2] != info.channels or array.dtype.newbyteorder("=") != info.dtype:
        raise ValueError(
            f"{encoding} needs {info.channels} channel(s) of {info.dtype}, "
            f"got shape {array.shape} of {array.dtype}"
        )
    native = np.ascontiguousarray(array, dtype=info.dtype)  # host byte order, C order
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(native.shape[0]), int(native.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(_HOST_IS_BIGENDIAN and info.dtype.itemsize > 1)
    msg.step = int(native.shape[1] * info.channels * info.dtype.itemsize)
    msg.data = native.tobytes()
    return msg


# cv_bridge-compatible names, so code written against cv_bridge reads the same here.
imgmsg_to_cv2 = imgmsg_to_numpy
cv2_to_imgmsg = numpy_to_imgmsg


def _infer_encoding(array: np.ndarray) -> str:
    channels, dtype = array.shape[2], array.dtype.newbyteorder("=")
    if dtype == np.uint8 and channels in (1, 3, 4):
        return {1: "mono8", 3: "rgb8", 4: "rgba8"}[channels]
    if dtype == np.uint16 and channels == 1:
        return "mono16"
    if dtype == np.float32 and channels == 1:
        return "32FC1"
    raise ValueError(
        f"cannot infer an encoding for shape {array.shape} of {array.dtype}; pass encoding="
    )


def _convert(array: np.ndarray, source: str, target: str) -> np.ndarray:
    """HxWxC array from `source` to `target` encoding; no copy when nothing changes."""
    if target in ("passthrough", source) or frozenset((source, target)) in _ALIASES:
        return array
    encoding_info(target)
    colour = set(_COLOR_ORDER) | {"mono8"}
    if source not in colour or target not in colour:
        raise ValueError(f"cannot convert a {source} image to {target}")
    if source == "mono8":
        rgba = np.concatenate([np.repeat(array, 3, axis=2), _opaque(array)], axis=2)
    else:
        rgba = array[:, :, list(_COLOR_ORDER[source])]
        if rgba.shape[2] == 3:
            rgba = np.concatenate([rgba, _opaque(array)], axis=2)
    if target == "mono8":
        luma = rgba[:, :, :3].astype(np.float32) @ _LUMA_WEIGHTS
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, :, None]
    # the same index list maps RGBA to the target order (each order is its own inverse)
    return np.ascontiguousarray(rgba[:, :, list(_COLOR_ORDER[target])])


def _opaque(array: np.ndarray) -> np.ndarray:
    return np.full(array.shape[:2] + (1,), 255, dtype=np.uint8)
