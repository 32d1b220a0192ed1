"""runtime/compressed_image: JPEG/PNG and compressedDepth payloads as image_transport writes them, and the
reasons bad payloads are rejected with."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from textregion_ros.runtime.compressed_image import CompressedImageError, decode_colour, decode_depth


def _picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    picture = np.zeros((48, 64, 3), dtype=np.uint8)
    picture[:, :32] = (200, 30, 30)  # red left half, blue right half: a swapped channel order shows
    picture[:, 32:] = (30, 30, 200)
    return np.clip(picture.astype(int) + rng.integers(-3, 4, picture.shape), 0, 255).astype(np.uint8)


def _encoded(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["png", "rgb8; png compressed bgr8", "bgr8; png compressed bgr8"])
def test_png_payload_decodes_to_the_exact_rgb_picture(fmt):
    picture = _picture()
    assert np.array_equal(decode_colour(fmt, _encoded(picture, "PNG")), picture)


@pytest.mark.parametrize("fmt", ["jpeg", "rgb8; jpeg compressed bgr8"])
def test_jpeg_payload_decodes_to_rgb_within_jpeg_loss(fmt):
    picture = _picture()
    decoded = decode_colour(fmt, _encoded(picture, "JPEG"))
    assert decoded.shape == picture.shape
    assert np.abs(decoded.astype(int) - picture.astype(int)).mean() < 6
    assert decoded[:, :32, 0].mean() > decoded[:, :32, 2].mean()  # red stays red


def test_mono_jpeg_becomes_three_equal_channels():
    grey = np.full((16, 16), 120, dtype=np.uint8)
    decoded = decode_colour("mono8; jpeg compressed mono8", _encoded(grey, "JPEG"))
    assert decoded.shape == (16, 16, 3) and np.array_equal(decoded[..., 0], decoded[..., 2])


def test_truncated_jpeg_is_rejected_with_a_reason():
    data = _encoded(_picture(), "JPEG")
    with pytest.raises(CompressedImageError, match="truncated or corrupt|cannot read"):
        decode_colour("jpeg", data[: len(data) // 2])


@pytest.mark.parametrize("data", [b"", b"hello, not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40],
                         ids=["empty", "text", "png signature only"])
def test_a_payload_that_is_no_image_is_refused_in_the_senders_terms_without_a_memory_address(data):
    with pytest.raises(CompressedImageError) as refused:
        decode_colour("png", data)
    message = str(refused.value)
    assert "0x" not in message and "BytesIO" not in message
    assert ("payload is empty" if not data else f"{len(data)}-byte payload is not a JPEG or PNG") in message


def test_a_compressed_depth_payload_that_is_no_image_is_refused_without_a_memory_address():
    with pytest.raises(CompressedImageError) as refused:
        decode_depth("16UC1; compressedDepth png", struct.pack("<iff", 0, 0.0, 0.0) + b"not a png")
    assert "0x" not in str(refused.value) and "9-byte payload is not a JPEG or PNG" in str(refused.value)


def test_unknown_format_is_rejected():
    with pytest.raises(CompressedImageError, match="unknown compressed image format"):
        decode_colour("rgb8; webp compressed", _encoded(_picture(), "PNG"))


def test_png_bomb_is_rejected_before_decoding():
    # a tiny PNG declaring a 100000x100000 canvas: only the header is read
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
            + chunk(b"IEND", b""))
    with pytest.raises(CompressedImageError, match="over the image limit"):
        decode_colour("png", bomb, max_pixels=4_000_000)


def test_decoded_size_over_the_limit_is_rejected():
    with pytest.raises(CompressedImageError, match="over the image limit"):
        decode_colour("png", _encoded(_picture(), "PNG"), max_pixels=100)


def test_16uc1_compressed_depth_decodes_to_the_millimetres():
    raw = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 37
    buffer = io.BytesIO()
    Image.fromarray(raw).save(buffer, format="PNG")
    payload = struct.pack("<iff", 0, 0.0, 0.0) + buffer.getvalue()
    assert np.array_equal(decode_depth("16UC1; compressedDepth png", payload), raw)


def test_32fc1_compressed_depth_inverts_the_quantisation_and_keeps_holes():
    z0, depth_max = 100.0, 10.0  # image_transport's defaults; codec.cpp's quantisation
    quant_a = z0 * (z0 + 1.0)
    quant_b = 1.0 - quant_a / depth_max
    depth = np.array([[1.0, 2.0], [5.0, np.nan]], dtype=np.float32)
    raw = np.where(np.isnan(depth), 0, np.round(quant_a / np.nan_to_num(depth, nan=1.0) + quant_b)).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(raw).save(buffer, format="PNG")
    decoded = decode_depth("32FC1; compressedDepth png", struct.pack("<iff", 0, quant_a, quant_b) + buffer.getvalue())
    assert np.isnan(decoded[1, 1])
    assert np.allclose(decoded[~np.isnan(depth)], depth[~np.isnan(depth)], rtol=0.01)


def test_compressed_depth_without_an_image_is_rejected():
    with pytest.raises(CompressedImageError, match="no image after its header"):
        decode_depth("16UC1; compressedDepth png", struct.pack("<iff", 0, 0.0, 0.0))


def test_colour_format_is_not_taken_as_depth():
    with pytest.raises(CompressedImageError, match="unknown compressed depth format"):
        decode_depth("png", _encoded(_picture(), "PNG"))


def test_rvl_compressed_depth_is_rejected_as_unsupported():
    with pytest.raises(CompressedImageError, match="RVL"):
        decode_depth("16UC1; compressedDepth rvl", struct.pack("<iff", 0, 0.0, 0.0) + b"\0" * 16)


def _sixteen_bit_ramp_png() -> bytes:
    """A 320 x 240 ramp 0..65535 saved as a 16-bit grey PNG."""
    ramp = np.tile(np.linspace(0, 65535, 320).round().astype(np.uint16), (240, 1))
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped_and_the_cli_reads_the_same_picture(tmp_path):
    from textregion_ros.cli.segment import read_image

    payload = _sixteen_bit_ramp_png()
    decoded = decode_colour("png", payload)
    (tmp_path / "ramp.png").write_bytes(payload)
    assert np.array_equal(read_image(tmp_path / "ramp.png"), decoded)  # one decoder, one answer
    grey = decoded[..., 0]
    assert len(np.unique(grey)) == 256 and (grey[:, 0].min(), grey[:, -1].max()) == (0, 255)
    assert (grey == 255).mean() < 0.01  # scaled over the range, not clipped to white
