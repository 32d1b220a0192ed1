"""The arrival rate of a polled input from the receive times of the messages taken (ROS-free).

A polled subscription (ros/polled_input.py) keeps only its last N messages, so counting what is taken
undercounts a fast stream; the receive times of one drained batch are consecutive messages, though, and
their spacing is the stream's rate whatever was overwritten before.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

QUIET_S = 5.0  # no message received for this long: the rate is 0


class ArrivalRate:
    """Messages per second from the latest batch of receive times (ns, system clock)."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self._rate = 0.0
        self._last_ns = 0
        self._previous_ns = 0  # newest receive time of the batch before, to rate a batch of one

    def add(self, received_ns: Sequence[int]) -> None:
        """Receive times of the messages of one drain, oldest first."""
        stamps = [int(t) for t in received_ns if t]
        if not stamps:
            return
        with self._lock:
            first = stamps[0] if len(stamps) > 1 else self._previous_ns
            count = len(stamps) - 1 if len(stamps) > 1 else 1
            if first and stamps[-1] > first:
                self._rate = count * 1e9 / (stamps[-1] - first)
            self._previous_ns = self._last_ns = stamps[-1]

    def rate(self) -> float:
        with self._lock:
            if not self._last_ns or self._clock_ns() - self._last_ns > QUIET_S * 1e9:
                return 0.0
            return self._rate
