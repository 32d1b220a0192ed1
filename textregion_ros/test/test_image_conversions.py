"""numpy <-> sensor_msgs/Image: every supported encoding, padding, byte order and bad input."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from sensor_msgs.msg import Image

from textregion_ros.ros.image_conversions import (
    ENCODINGS,
    cv2_to_imgmsg,
    imgmsg_to_cv2,
    imgmsg_to_numpy,
    numpy_to_imgmsg,
)

RNG = np.random.default_rng(0)


def _random_pixels(encoding: str, height: int = 5, width: int = 7) -> np.ndarray:
    info = ENCODINGS[encoding]
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    if info.dtype == np.float32:
        return RNG.standard_normal(shape).astype(np.float32)
    return RNG.integers(0, np.iinfo(info.dtype).max, size=shape, endpoint=True).astype(info.dtype)


def _padded_message(array: np.ndarray, encoding: str, pad: int, big_endian: bool = False) -> Image:
    """Hand-built message with `pad` junk bytes after every row."""
    info = ENCODINGS[encoding]
    dtype = info.dtype.newbyteorder(">" if big_endian else "<")
    rows = np.ascontiguousarray(array.astype(dtype)).reshape(array.shape[0], -1).view(np.uint8)
    junk = np.full((rows.shape[0], pad), 0xAB, dtype=np.uint8)
    msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding)
    msg.is_bigendian = int(big_endian)
    msg.step = rows.shape[1] + pad
    msg.data = np.concatenate([rows, junk], axis=1).tobytes()
    return msg


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_round_trip_is_exact_for_every_supported_encoding(encoding: str) -> None:
    pixels = _random_pixels(encoding)
    msg = numpy_to_imgmsg(pixels, encoding)
    assert (msg.height, msg.width, msg.encoding) == (5, 7, encoding)
    assert msg.step == 7 * ENCODINGS[encoding].channels * ENCODINGS[encoding].dtype.itemsize
    back = imgmsg_to_numpy(msg)
    assert back.dtype == pixels.dtype and back.shape == pixels.shape
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_row_padding_in_step_is_skipped(encoding: str) -> None:
    pixels = _random_pixels(encoding)
    np.testing.assert_array_equal(imgmsg_to_numpy(_padded_message(pixels, encoding, pad=3)), pixels)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1", "32FC1"])
def test_big_endian_data_is_returned_in_host_order(encoding: str) -> None:
    pixels = _random_pixels(encoding)
    result = imgmsg_to_numpy(_padded_message(pixels, encoding, pad=2, big_endian=True))
    assert result.dtype.isnative
    np.testing.assert_array_equal(result, pixels)


def test_reading_host_order_data_shares_the_message_buffer() -> None:
    msg = numpy_to_imgmsg(_random_pixels("rgb8"), "rgb8")
    array = imgmsg_to_numpy(msg)
    assert np.shares_memory(array, np.frombuffer(msg.data, dtype=np.uint8))


def test_bgr8_is_converted_to_rgb8_on_request() -> None:
    rgb = _random_pixels("rgb8")
    msg = numpy_to_imgmsg(rgb[:, :, ::-1], "bgr8")
    np.testing.assert_array_equal(imgmsg_to_numpy(msg, "rgb8"), rgb)


@pytest.mark.parametrize("encoding", ["rgba8", "bgra8"])
def test_alpha_is_dropped_when_rgb8_is_requested(encoding: str) -> None:
    rgba = _random_pixels("rgba8")
    source = rgba if encoding == "rgba8" else rgba[:, :, [2, 1, 0, 3]]
    np.testing.assert_array_equal(imgmsg_to_numpy(numpy_to_imgmsg(source, encoding), "rgb8"), rgba[:, :, :3])


def test_mono8_is_replicated_into_three_channels() -> None:
    grey = _random_pixels("mono8")
    rgb = imgmsg_to_numpy(numpy_to_imgmsg(grey, "mono8"), "rgb8")
    assert rgb.shape == grey.shape + (3,)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[:, :, channel], grey)


def test_rgb8_to_mono8_uses_bt601_luma() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], dtype=np.uint8)
    grey = imgmsg_to_numpy(numpy_to_imgmsg(rgb, "rgb8"), "mono8")
    np.testing.assert_array_equal(grey, [[76, 150, 29, 255]])


def test_mono16_and_16uc1_are_interchangeable() -> None:
    depth = _random_pixels("16UC1")
    np.testing.assert_array_equal(imgmsg_to_numpy(numpy_to_imgmsg(depth, "16UC1"), "mono16"), depth)


def test_passthrough_picks_the_encoding_from_dtype_and_channels() -> None:
    assert numpy_to_imgmsg(np.zeros((2, 3), np.uint8)).encoding == "mono8"
    assert numpy_to_imgmsg(np.zeros((2, 3, 3), np.uint8)).encoding == "rgb8"
    assert numpy_to_imgmsg(np.zeros((2, 3, 4), np.uint8)).encoding == "rgba8"
    assert numpy_to_imgmsg(np.zeros((2, 3), np.uint16)).encoding == "mono16"
    assert numpy_to_imgmsg(np.zeros((2, 3), np.float32)).encoding == "32FC1"


def test_written_messages_declare_host_byte_order() -> None:
    msg = numpy_to_imgmsg(np.zeros((2, 3), np.uint16), "mono16")
    assert msg.is_bigendian == int(sys.byteorder == "big")


def test_non_native_input_arrays_are_written_correctly() -> None:
    depth = _random_pixels("mono16")
    swapped = depth.astype(depth.dtype.newbyteorder("S"))
    np.testing.assert_array_equal(imgmsg_to_numpy(numpy_to_imgmsg(swapped, "mono16")), depth)


def test_header_is_carried_over() -> None:
    from std_msgs.msg import Header

    header = Header(frame_id="camera")
    header.stamp.sec = 42
    assert numpy_to_imgmsg(np.zeros((1, 1), np.uint8), header=header).header == header


def test_cv_bridge_names_are_the_same_functions() -> None:
    assert imgmsg_to_cv2 is imgmsg_to_numpy and cv2_to_imgmsg is numpy_to_imgmsg


def test_unsupported_encoding_is_a_clear_value_error() -> None:
    msg = Image(height=1, width=1, encoding="yuv422", step=2, data=b"\x00\x00")
    with pytest.raises(ValueError, match="unsupported image encoding 'yuv422'.*rgb8"):
        imgmsg_to_numpy(msg)


def test_data_shorter_than_step_times_height_is_a_clear_value_error() -> None:
    msg = Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(12 * 4 - 1))
    with pytest.raises(ValueError, match=r"47 bytes, expected at least step\*height = 12\*4 = 48"):
        imgmsg_to_numpy(msg)


def test_step_shorter_than_a_row_is_a_clear_value_error() -> None:
    msg = Image(height=2, width=4, encoding="rgb8", step=10, data=bytes(40))
    with pytest.raises(ValueError, match="step 10 is shorter than one row"):
        imgmsg_to_numpy(msg)


def test_empty_image_gives_an_empty_array() -> None:
    assert imgmsg_to_numpy(Image(height=0, width=0, encoding="rgb8", step=0), "rgb8").shape == (0, 0, 3)


def test_unknown_conversion_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="cannot convert a 32FC1 image to rgb8"):
        imgmsg_to_numpy(numpy_to_imgmsg(np.zeros((2, 2), np.float32)), "rgb8")


def test_array_that_does_not_fit_the_encoding_is_rejected() -> None:
    with pytest.raises(ValueError, match="rgb8 needs 3 channel"):
        numpy_to_imgmsg(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(ValueError, match="cannot infer an encoding"):
        numpy_to_imgmsg(np.zeros((2, 2, 2), np.uint8))
