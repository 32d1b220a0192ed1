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
from typing import Any

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
    except UnidentifiedImageError:  # PIL's own words name the in-memory file object (a memory address)
        raise CompressedImageError(f"cannot read the compressed image: {_not_an_image(data)}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise CompressedImageError(f"cannot read the compressed image: {error}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise CompressedImageError(f"decoded size {width}x{height} is over the image limit of {max_pixels} pixels")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CompressedImageError(f"cannot decode the compressed image (truncated or corrupt): {error}") from None
    return image


def _not_an_image(data: bytes) -> str:
    """Why PIL could not identify a payload, in the sender's terms: its size and first bytes (a file's
    signature tells a JPEG, PNG or text apart at a glance)."""
    if not data:
        return "the payload is empty"
    return (f"the {len(data)}-byte payload is not a JPEG or PNG file (it starts with "
            f"{data[:8].hex(' ')}; JPEG starts with ff d8 ff, PNG with 89 50 4e 47)")


EIGHT_BIT_MODES = ("RGB", "L", "RGBA", "P", "LA", "CMYK", "YCbCr", "RGBX", "1", "PA", "La", "RGBa")
SIXTEEN_BIT_FULL_SCALE = 65535.0


def rgb8(image: Any) -> np.ndarray:
    """HxWx3 uint8 RGB of a decoded PIL image: the one rule of the node's compressed input and the CLI's files.

    8-bit images (any palette, alpha or colour space) are converted to RGB. Greys of more than 8 bits are
    scaled, never clipped: integer ones (16-bit PNG / TIFF) from their full range, 0..65535 -> 0..255, so a
    ramp keeps 256 levels and a frame's brightness does not depend on its content; floating-point ones
    have no nominal range and are scaled so that their brightest pixel is 255.
    """
    if image.mode in EIGHT_BIT_MODES:
        return np.array(image.convert("RGB"))  # a writable copy (the engine wraps it without copying)
    values = np.asarray(image)
    if values.dtype.kind == "f":
        finite = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(finite.max()) if finite.size else 0.0
        grey = finite * (255.0 / peak) if peak > 0 else np.zeros_like(finite)
    else:
        grey = values.astype(np.float32) * (255.0 / SIXTEEN_BIT_FULL_SCALE)
    grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    if grey.ndim == 3:  # a multi-channel image of more than 8 bits: its first three channels
        return np.ascontiguousarray(grey[..., :3] if grey.shape[2] >= 3 else np.repeat(grey[..., :1], 3, axis=2))
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def decode_colour(fmt: str, data: bytes, max_pixels: int = 64_000_000) -> np.ndarray:
    """HxWx3 uint8 RGB of a JPEG/PNG payload (rgb8's rule for greys of more than 8 bits)."""
    if "compresseddepth" in fmt.lower():
        raise CompressedImageError(f"format {fmt!r} is a depth image, not a colour image")
    _codec(fmt)
    with _open_checked(bytes(data), max_pixels) as image:
        return rgb8(image)


def decode_depth(fmt: str, data: bytes, max_pixels: int = 64_000_000) -> np.ndarray:
    """HxW depth of a compressedDepth payload: uint16 (16UC1, millimetres) or float32 metres (32FC1, NaN = none)."""
    data = bytes(data)
    encoding = fmt.split(";")[0].strip().upper()
    if "compresseddepth" not in fmt.lower() or encoding not in ("16UC1", "32FC1"):
        raise CompressedImageError(f"unknown compressed depth format {fmt!r} "
                                   "(expected 16UC1/32FC1; compressedDepth png)")
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
