"""Per-stage wall-clock timings that wait for the GPU, for diagnostics and benchmarks."""
from __future__ import annotations

import contextlib
import time
from typing import Iterator

import torch

from .devices import synchronize


class StageTimer:
    """Accumulates seconds per stage name into a dict shared with the result it describes."""

    def __init__(self, device: torch.device, into: dict[str, float] | None = None) -> None:
        self.device = device
        self.seconds: dict[str, float] = {} if into is None else into

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        synchronize(self.device)
        start = time.perf_counter()
        try:
            yield
        finally:
            synchronize(self.device)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
