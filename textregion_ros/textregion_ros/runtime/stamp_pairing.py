"""Pairing messages by stamp: the depth image that belongs to a colour frame (ROS-free).

Cameras publish colour and depth as separate streams whose stamps agree only approximately (and
not at all when one stream drops a frame), so each colour frame takes the buffered depth image
with the nearest stamp, if it is within a tolerance, instead of whatever arrived last. What is kept is
decided by time (forget: the stamps no waiting frame can still want), with a count only as a
memory bound, so a fast side stream cannot push out the depth a slow frame is waiting for.
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Generic, Optional, TypeVar

Item = TypeVar("Item")


class StampBuffer(Generic[Item]):
    """The last `size` items with their stamps (nanoseconds); thread-safe (ROS callbacks add, the worker reads)."""

    def __init__(self, size: int = 30, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: collections.deque[tuple[int, Item, float]] = collections.deque(maxlen=size)
        self._lock = threading.Lock()
        self._clock = clock  # arrival times (seconds), for forget()

    def add(self, stamp_ns: int, item: Item) -> None:
        with self._lock:
            self._items.append((stamp_ns, item, self._clock()))

    def nearest(self, stamp_ns: int, tolerance_ns: int) -> Optional[Item]:
        """The item whose stamp is nearest `stamp_ns`, if no farther than `tolerance_ns`; ties go to the newer."""
        with self._lock:
            best: Optional[tuple[int, Item]] = None
            for stamp, item, _ in self._items:
                gap = abs(stamp - stamp_ns)
                if gap <= tolerance_ns and (best is None or gap <= best[0]):
                    best = (gap, item)
            return None if best is None else best[1]

    def forget(self, stamped_before_ns: int, arrived_before: float) -> None:
        """Forget the items stamped before `stamped_before_ns` that arrived before `arrived_before` (clock
        seconds): no frame still to be paired wants them, and a recent arrival is kept for a frame that may
        follow it with an earlier stamp (a stamp jumping back)."""
        with self._lock:
            self._items = collections.deque(
                (entry for entry in self._items if entry[0] >= stamped_before_ns or entry[2] >= arrived_before),
                maxlen=self._items.maxlen)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
