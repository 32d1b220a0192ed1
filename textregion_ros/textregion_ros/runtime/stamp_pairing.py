"""Pairing messages by stamp: the depth image that belongs to a colour frame (ROS-free).

Cameras publish colour and depth as separate streams whose stamps agree only approximately (and
not at all when one stream drops a frame), so each colour frame takes the buffered depth image
with the nearest stamp, if it is within a tolerance, instead of whatever arrived last. What is kept is
decided by time (drop_before: the stamps no waiting frame can still want), with a count only as a
memory bound, so a fast side stream cannot push out the depth a slow frame is waiting for.
"""
from __future__ import annotations

import collections
import threading
from typing import Generic, Optional, TypeVar

Item = TypeVar("Item")


class StampBuffer(Generic[Item]):
    """The last `size` items with their stamps (nanoseconds); thread-safe (ROS callbacks add, the worker reads)."""

    def __init__(self, size: int = 30) -> None:
        self._items: collections.deque[tuple[int, Item]] = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, stamp_ns: int, item: Item) -> None:
        with self._lock:
            self._items.append((stamp_ns, item))

    def nearest(self, stamp_ns: int, tolerance_ns: int) -> Optional[Item]:
        """The item whose stamp is nearest `stamp_ns`, if no farther than `tolerance_ns`; ties go to the newer."""
        with self._lock:
            best: Optional[tuple[int, Item]] = None
            for stamp, item in self._items:
                gap = abs(stamp - stamp_ns)
                if gap <= tolerance_ns and (best is None or gap <= best[0]):
                    best = (gap, item)
            return None if best is None else best[1]

    def drop_before(self, stamp_ns: int) -> None:
        """Forget the items stamped before `stamp_ns` (no frame still to be paired can want them)."""
        with self._lock:
            self._items = collections.deque((item for item in self._items if item[0] >= stamp_ns),
                                            maxlen=self._items.maxlen)

    def latest_stamp(self) -> Optional[int]:
        """The stamp of the item added last (None when empty)."""
        with self._lock:
            return self._items[-1][0] if self._items else None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
