"""Per-stage timings for diagnostics and benchmarks, without stalling the GPU.

On CUDA a stage is bracketed by two CUDA events, recorded on the stream; nothing waits until
`seconds` is read, which waits once for the last event (after the frame's final host copy it is
long done) and reads every pair. On the CPU, wall-clock time (the work is synchronous anyway).
A disabled timer (what stages get when the caller asked for no timings) records nothing.
"""
from __future__ import annotations

import contextlib
import time
from typing import Iterator

import torch


class StageTimer:
    """Accumulates seconds per stage name into a dict shared with the result it describes."""

    def __init__(self, device: torch.device, into: dict[str, float] | None = None, enabled: bool = True) -> None:
        self.device = device
        self.enabled = enabled
        self._seconds: dict[str, float] = {} if into is None else into
        self._events: list[tuple[str, torch.cuda.Event, torch.cuda.Event]] = []  # not read yet

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds per stage so far; on CUDA this reads the events (one wait, for the last one)."""
        if self._events:
            self._events[-1][2].synchronize()
            for name, start, end in self._events:
                self._seconds[name] = self._seconds.get(name, 0.0) + start.elapsed_time(end) / 1e3
            self._events.clear()
        return self._seconds

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        if self.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            try:
                yield
            finally:
                end.record()
                self._events.append((name, start, end))
            return
        begin = time.perf_counter()
        try:
            yield
        finally:
            self._seconds[name] = self._seconds.get(name, 0.0) + time.perf_counter() - begin
