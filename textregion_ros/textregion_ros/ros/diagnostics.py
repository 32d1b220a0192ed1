"""Node health in numbers: rates, dropped frames, per-stage latency, device memory."""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

RATE_WINDOW_S = 5.0
STALE_INPUT_S = 5.0


class RateMeter:
    """Events per second over the last RATE_WINDOW_S seconds (thread-safe)."""

    def __init__(self) -> None:
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.last: Optional[float] = None

    def tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._times.append(now)
            self.last = now

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] > RATE_WINDOW_S:
                self._times.popleft()
            return len(self._times) / RATE_WINDOW_S


@dataclass
class ProblemLog:
    """Each distinct problem is logged once; repeats are only counted (and shown in diagnostics)."""

    seen: dict[str, int] = field(default_factory=dict)
    last: str = ""

    def report(self, key: str, message: str) -> bool:
        """Count the problem; True the first time this key is seen (the caller logs it then)."""
        self.seen[key] = self.seen.get(key, 0) + 1
        self.last = message
        return self.seen[key] == 1

    @property
    def total(self) -> int:
        return sum(self.seen.values())


def device_memory(device: str) -> dict[str, str]:
    """Allocated and peak GPU memory in MiB (empty on the CPU)."""
    if not device.startswith("cuda"):
        return {}
    import torch

    index = torch.device(device).index or 0
    mib = 1024.0 * 1024.0
    return {
        "gpu_name": torch.cuda.get_device_name(index),
        "gpu_memory_allocated_mib": f"{torch.cuda.memory_allocated(index) / mib:.1f}",
        "gpu_memory_peak_mib": f"{torch.cuda.max_memory_allocated(index) / mib:.1f}",
        "gpu_memory_reserved_mib": f"{torch.cuda.memory_reserved(index) / mib:.1f}",
    }


def status_message(name: str, hardware_id: str, level: bytes, message: str, values: dict[str, str],
                   stamp) -> DiagnosticArray:
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id)
    status.values = [KeyValue(key=key, value=str(value)) for key, value in values.items()]
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array
