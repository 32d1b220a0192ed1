"""Pairing a colour frame with the depth image of the nearest stamp (runtime/stamp_pairing.py)."""
from __future__ import annotations

from textregion_ros.runtime.stamp_pairing import StampBuffer

MS = 1_000_000


def test_the_nearest_stamp_within_the_tolerance_is_paired():
    buffer: StampBuffer[str] = StampBuffer()
    for stamp in (0, 33, 66, 100):
        buffer.add(stamp * MS, f"depth@{stamp}")
    assert buffer.nearest(70 * MS, 50 * MS) == "depth@66"
    assert buffer.nearest(34 * MS, 5 * MS) == "depth@33"


def test_nothing_is_paired_beyond_the_tolerance():
    buffer: StampBuffer[str] = StampBuffer()
    buffer.add(0, "depth@0")
    assert buffer.nearest(60 * MS, 50 * MS) is None


def test_an_exact_tie_goes_to_the_newer_image():
    buffer: StampBuffer[str] = StampBuffer()
    buffer.add(0, "older")
    buffer.add(20 * MS, "newer")
    assert buffer.nearest(10 * MS, 50 * MS) == "newer"


def test_only_the_last_images_are_kept():
    buffer: StampBuffer[int] = StampBuffer(size=3)
    for stamp in range(5):
        buffer.add(stamp * MS, stamp)
    assert len(buffer) == 3 and buffer.nearest(0, 1 * MS) is None and buffer.nearest(4 * MS, 0) == 4


def test_forget_keeps_what_a_frame_may_still_want_and_what_arrived_recently():
    now = [100.0]
    buffer: StampBuffer[str] = StampBuffer(size=100, clock=lambda: now[0])
    buffer.add(1_000, "old, long ago")
    buffer.add(5_000, "new stamp, long ago")
    now[0] = 105.0
    buffer.add(900, "old stamp, just arrived")  # a stamp jumping back: its frame may be on its way
    buffer.forget(stamped_before_ns=2_000, arrived_before=104.0)
    assert buffer.nearest(1_000, 0) is None
    assert buffer.nearest(5_000, 0) == "new stamp, long ago"
    assert buffer.nearest(900, 0) == "old stamp, just arrived"
