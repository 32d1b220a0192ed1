"""The frame loop's second stage: a frame's host-side work (describing it for the queries in force,
the overlay, message conversion, publishing) on a thread of its own while the engine works on the next.

Why: the engine stage (LatestFrameWorker running observe: models, 3D, tracks, memory) and the host
work each took a share of every frame; one after the other, the accelerator idles while the host
draws and converts, and the host idles while the accelerator runs the models. Overlapped, the frame
period is the longer of the two instead of their sum.

The rules that keep the node's meaning:
- at most one frame in this stage: `hand_over` waits until the previous frame has left, so frames
  leave in the order the engine stage observed them (stamp order) and no observed frame is dropped for
  space; the latest-frame policy stays the engine stage's (its one waiting slot);
- `drain` (the engine stage calls it before every between-frames job: a query switch, LabelInfo, a
  republish) returns once this stage is empty, so a LabelInfo is never published while a label image
  of the queries before it is still on its way;
- a frame handed over is counted here, exactly once, in the FrameHealth shared with the engine stage:
  processed, dropped (`finish` returned DROPPED: e.g. the node was deactivated meanwhile) or failed
  (`finish` raised: reported to `on_error`; only that frame is lost);
- `stop` finishes the frame this stage holds before the thread ends, so cleanup loses nothing.

With `overlap` False, `hand_over` runs `finish` at once on the caller's thread, with the same counting
(the CPU-only default: there the engine's torch threads already use every core, and a second busy
thread only takes cores from the models; see the node's `overlap_host_stage` parameter).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from .health import FrameHealth
from .worker import DROPPED, HANDED_OVER, ErrorHandler

__all__ = ["HANDED_OVER", "HostStage", "overlap_for"]


def overlap_for(setting: str, device: str) -> bool:
    """The `overlap_host_stage` rule: "on" / "off" as said; "auto" overlaps only when the engine runs on
    CUDA. On a CPU the engine's torch threads already keep every core busy, so a second busy thread only
    takes cores from the models (the frame period stays the sum of both stages' CPU time) while adding a
    hand-over; on a GPU the host work would otherwise leave the device idle."""
    if setting == "auto":
        return str(device).startswith("cuda")
    return setting == "on"


class HostStage:
    """Runs `finish(item)` for handed-over frames, one at a time, in hand-over order."""

    def __init__(self, finish: Callable[[Any], Any], on_error: ErrorHandler, health: FrameHealth,
                 overlap: bool = True, name: str = "textregion_host",
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`health` is the engine stage's (one set of counters); `clock` times a frame from its
        engine-stage start (the `started` given to hand_over) to the end of its host work."""
        self._finish = finish
        self._on_error = on_error
        self._health = health
        self._clock = clock
        self.overlap = overlap
        self._condition = threading.Condition()
        self._item: Optional[tuple[Any, float]] = None  # handed over, not yet finished
        self._running = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        if self.overlap:
            self._running = True
            self._thread.start()

    def hand_over(self, item: Any, started: float) -> object:
        """Give a frame observed by the engine stage (which began it at clock time `started`) its host
        work; returns HANDED_OVER (the engine stage does not count it). Overlapped, this waits only while
        the previous frame is still in this stage."""
        if not self.overlap:
            self._finish_counted(item, started)
            return HANDED_OVER
        with self._condition:
            self._condition.wait_for(lambda: self._item is None or not self._running)
            if not self._running:  # stopped meanwhile: never worked on
                self._health.dropped.tick()
                return HANDED_OVER
            self._item = (item, started)
            self._condition.notify_all()
        return HANDED_OVER

    def holds_frame(self) -> bool:
        with self._condition:
            return self._item is not None

    def drain(self, timeout: Optional[float] = None) -> bool:
        """Block until no frame is in this stage; False if that did not happen within `timeout` s."""
        with self._condition:
            return self._condition.wait_for(lambda: self._item is None, timeout)

    def stop(self, timeout: float = 30.0) -> bool:
        """Finish the frame held (if any), then end the thread; True when it ended within `timeout`."""
        with self._condition:
            self._running = False
            self._condition.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _finish_counted(self, item: Any, started: float) -> None:
        try:
            verdict = self._finish(item)
        except Exception as error:  # only this frame is lost; the next one is worked on as usual
            self._health.failed.tick()
            self._on_error(error, "frame")
            return
        if verdict is DROPPED:
            self._health.dropped.tick()
        else:
            self._health.on_processed(max(self._clock() - started, 0.0))

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._item is not None or not self._running)
                if self._item is None:
                    return  # stopped with nothing held
                item, started = self._item
            try:
                self._finish_counted(item, started)
            finally:
                with self._condition:
                    self._item = None
                    self._condition.notify_all()  # wakes hand_over and drain
