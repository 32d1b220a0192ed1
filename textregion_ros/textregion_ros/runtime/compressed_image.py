"""Decoding of sensor_msgs/CompressedImage payloads, ROS-free (format string + bytes).

One decoder shared by `textregion bag` and the node, so a payload the node rejects is rejected offline for the
same reason. Format strings are read as image_transport writes them: "rgb8; jpeg compressed bgr8", "png", a bare
"jpeg", and "16UC1; compressedDepth png" / "32FC1; compressedDepth png" for compressed_depth_image_transport,
whose payload is a 12-byte header (int32 format, float32 depthQuantA, depthQuantB) followed by a 16-bit PNG
(for 32FC1 the PNG holds quantised inverse depth: depth = A / (value - B), 0 = no depth; codec.cpp upstream).
"""

from __future__ import annotations

import io
import struct

import numpy as np

DEPTH_HEADER = struct.Struct("<iff")  # compressed_depth_image_transport ConfigHeader
COLOUR_CODECS = ("jpeg", "jpg", "png")


class CompressedImageError(ValueError):
    """A payload that cannot become a frame; the message says why."""


def _codec(fmt: str) -> str:
    words = fmt.replace(";", " ").lower().split()
    for word in words:
        if word in COLOUR_CODECS:
            return "jpeg" if word == "jpg" else word
    raise CompressedImageError(f"unknown compressed image format {fmt!r} (expected jpeg or png)")


def _open_checked(data: bytes, max_pixels: int):
    """PIL image of `data` whose size was checked before decoding (a small PNG may declare a huge canvas)."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise CompressedImageError(f"decoded size is over the image limit: {error}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise CompressedImageError(f"cannot read the compressed image: {error}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise CompressedImageError(f"decoded size {width}x{height} is over the image limit of {max_pixels} pixels")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CompressedImageError(f"cannot decode the compressed image (truncated or corrupt): {error}") from None
    return image


def decode_colour(fmt: str, data: bytes, max_pixels: int = 64_000_000) -> np.ndarray:
    """HxWx3 uint8 RGB of a JPEG/PNG payload; the decoder yields true colour whatever the source encoding."""
    if "compresseddepth" in fmt.lower():
        raise CompressedImageError(f"format {fmt!r} is a depth image, not a colour image")
    _codec(fmt)
    with _open_checked(bytes(data), max_pixels) as image:
        return np.array(image.convert("RGB"))


def decode_depth(fmt: str, data: bytes, max_pixels: int = 64_000_000) -> np.ndarray:
    """HxW depth of a compressedDepth payload: uint16 (16UC1, millimetres) or float32 metres (32FC1, NaN = none)."""
    data = bytes(data)
    encoding = fmt.split(";")[0].strip().upper()
    if "compresseddepth" not in fmt.lower() or encoding not in ("16UC1", "32FC1"):
        raise CompressedImageError(f"unknown compressed depth format {fmt!r} (expected 16UC1/32FC1; compressedDepth png)")
    if "rvl" in fmt.lower():
        raise CompressedImageError(f"compressedDepth RVL ({fmt!r}) is not supported; publish with format png")
    if len(data) <= DEPTH_HEADER.size:
        raise CompressedImageError(f"compressedDepth payload of {len(data)} bytes has no image after its header")
    _, quant_a, quant_b = DEPTH_HEADER.unpack_from(data)
    with _open_checked(data[DEPTH_HEADER.size:], max_pixels) as image:
        raw = np.array(image)
    if raw.ndim != 2:
        raise CompressedImageError(f"compressedDepth image has shape {raw.shape}, expected one 16-bit channel")
    raw = raw.astype(np.uint16)
    if encoding == "16UC1":
        return raw
    depth = np.full(raw.shape, np.nan, dtype=np.float32)
    valid = raw != 0
    depth[valid] = quant_a / (raw[valid].astype(np.float32) - quant_b)
    return depth
