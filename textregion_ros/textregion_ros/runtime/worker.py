"""One inference thread that only ever works on the newest frame.

ROS callbacks hand frames over and return at once: a frame that arrives while another waits
replaces it (the older one is counted as dropped), so latency never builds up behind a slow
model. Other jobs (re-publishing after a query change) run between frames.

Every frame's fate is counted once, in the FrameHealth the worker is given (the node's: /diagnostics
reads its totals and rates): received on hand-over; then exactly one of dropped (replaced by a newer
one, discarded at stop, or the handler said DROPPED: e.g. the node was deactivated meanwhile),
rejected (the handler returned Rejected: bad input), failed (it raised) or processed. A handler that
returns HANDED_OVER has passed the frame to a second stage (runtime/host_stage.py), which counts it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from .health import FrameCounts, FrameHealth


@dataclass(frozen=True)
class Rejected:
    """A handler's verdict on bad input: counted as rejected (with the reason), not as a failure."""

    reason: str = ""


DROPPED = object()  # a handler's verdict: the frame was not worked on (counted as dropped)
HANDED_OVER = object()  # a handler's verdict: a second stage took the frame and counts it
FrameHandler = Callable[[Any], Union[None, bool, Rejected, object]]  # False = Rejected("")
ErrorHandler = Callable[[BaseException, str], None]


class LatestFrameWorker:
    """Runs `handle_frame(frame)` on the newest submitted frame, at most `max_rate_hz` per second."""

    def __init__(self, handle_frame: FrameHandler, on_error: ErrorHandler, name: str = "textregion_worker",
                 clock: Callable[[], float] = time.monotonic, health: Optional[FrameHealth] = None,
                 before_job: Optional[Callable[[], Any]] = None) -> None:
        """`clock` (seconds, monotonic) paces `max_rate_hz`; tests pass a clock they advance by hand.
        `health` receives the frame counts (a new one on `clock` by default). `before_job` runs on the
        worker thread before every job (a second stage's drain: jobs see no frame still in flight)."""
        self._handle_frame = handle_frame
        self._before_job = before_job
        self._on_error = on_error
        self._clock = clock
        self._condition = threading.Condition()
        self._frame: Optional[Any] = None
        self._jobs: dict[str, Callable[[], None]] = {}
        self._running = False
        self._busy = False
        self._next_start = 0.0
        self._last_start: Optional[float] = None  # clock() when the latest frame started
        self.min_interval = 0.0
        self.health = health if health is not None else FrameHealth(clock)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._running = True
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop after the current job; True when the thread ended within `timeout`."""
        self.request_stop()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def counts(self) -> FrameCounts:
        return self.health.counts()

    def request_stop(self) -> None:
        """Discard waiting work and let the thread end after the current job, without waiting for it."""
        with self._condition:
            self._running = False
            if self._frame is not None:
                self.health.dropped.tick()
            self._frame = None
            self._jobs.clear()
            self._condition.notify_all()

    def set_max_rate(self, max_rate_hz: float) -> None:
        """A new cap, counted from the latest frame's start: raising or removing it releases a
        waiting frame at once instead of after the old, longer interval."""
        with self._condition:
            self.min_interval = 1.0 / max_rate_hz if max_rate_hz > 0 else 0.0
            if self._last_start is not None:
                self._next_start = self._last_start + self.min_interval
            self._condition.notify_all()

    def submit_frame(self, frame: Any) -> None:
        """Hand over a frame; never blocks on processing."""
        with self._condition:
            self.health.on_received()
            if self._frame is not None:
                self.health.dropped.tick()
            self._frame = frame
            self._condition.notify_all()

    def submit_job(self, key: str, job: Callable[[], None]) -> None:
        """Run `job` between frames; a job with the same key still waiting is replaced."""
        with self._condition:
            self._jobs[key] = job
            self._condition.notify_all()

    def idle(self) -> bool:
        with self._condition:
            return self._is_idle()

    def wait_until_idle(self, timeout: Optional[float] = None) -> bool:
        """Block until no frame or job waits or runs; False if that did not happen within `timeout` s."""
        with self._condition:
            return self._condition.wait_for(self._is_idle, timeout)

    def _is_idle(self) -> bool:
        return self._frame is None and not self._jobs and not self._busy

    def _next_work(self) -> Optional[tuple[str, Any]]:
        """Wait for a job or a frame that may start now; None once stopped."""
        with self._condition:
            while self._running:
                if self._jobs:
                    key = next(iter(self._jobs))
                    self._busy = True
                    return "job:" + key, self._jobs.pop(key)
                wait = self._next_start - self._clock()
                if self._frame is not None and wait <= 0:
                    frame, self._frame = self._frame, None
                    self._busy = True
                    self._last_start = self._clock()
                    self._next_start = self._last_start + self.min_interval
                    return "frame", frame
                self._condition.wait(timeout=wait if self._frame is not None else None)
            return None

    def _count(self, verdict: Any, started: float) -> None:
        if verdict is HANDED_OVER:
            return
        if verdict is DROPPED:
            self.health.dropped.tick()
        elif verdict is False or isinstance(verdict, Rejected):
            self.health.rejected.tick(verdict.reason if isinstance(verdict, Rejected) else "")
        else:
            self.health.on_processed(max(self._clock() - started, 0.0))

    def _run(self) -> None:
        while True:
            work = self._next_work()
            if work is None:
                return
            kind, item = work
            try:
                if kind == "frame":
                    started = self._clock()
                    self._count(self._handle_frame(item), started)
                else:
                    if self._before_job is not None:
                        self._before_job()
                    item()
            except Exception as error:  # keep the node alive after any failure, report it
                if kind == "frame":
                    self.health.failed.tick()
                self._on_error(error, kind)
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()  # wakes wait_until_idle
