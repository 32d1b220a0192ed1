"""The node's health in numbers and in one verdict, ROS-free (ros/diagnostics.py publishes it).

Why a verdict of its own: a node that rejects every frame, or receives frames but processes none,
must not report OK. `assess` turns counters into a level and a message that says why, and is
unit-tested without starting ROS.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

WINDOW_S = 5.0  # rates and "the last N s" counts
STALE_INPUT_S = 5.0  # no input for this long: WARN
STALLED_FRAME_FACTOR = 3.0  # frames accepted but none processed for max(STALE, this x the last frame time): ERROR
OK, WARN, ERROR = 0, 1, 2


class EventWindow:
    """Events (with an optional reason) over the last WINDOW_S seconds, plus totals (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._events: collections.deque[tuple[float, str]] = collections.deque()
        self._lock = threading.Lock()
        self.last: Optional[float] = None  # clock time of the latest event
        self.first: Optional[float] = None
        self.total = 0

    def tick(self, reason: str = "") -> None:
        now = self._clock()
        with self._lock:
            self._events.append((now, reason))
            self.last, self.total = now, self.total + 1
            if self.first is None:
                self.first = now

    def recent(self) -> list[str]:
        """Reasons of the events of the last WINDOW_S seconds, oldest first."""
        now = self._clock()
        with self._lock:
            while self._events and now - self._events[0][0] > WINDOW_S:
                self._events.popleft()
            return [reason for _, reason in self._events]

    def rate(self) -> float:
        return len(self.recent()) / WINDOW_S

    def age(self) -> Optional[float]:
        """Seconds since the latest event (None: never)."""
        return None if self.last is None else self._clock() - self.last


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


@dataclass(frozen=True)
class HealthInputs:
    """What the verdict is made of: a snapshot of the node's counters."""

    state: str  # lifecycle state label
    received_recent: int  # frames received in the last WINDOW_S
    rejected_recent: list[str]  # reasons of the frames rejected in the last WINDOW_S
    input_age_s: Optional[float]  # since the last frame arrived (None: never)
    waiting_s: float = 0.0  # since the last processed frame, or since frames started arriving again
    last_frame_s: float = 0.0  # how long the last processed frame took
    failed_recent: int = 0
    last_problem: str = ""
    pending_reconfigure: tuple[str, ...] = ()
    qos_problem: str = ""
    without_3d_recent: list[str] = field(default_factory=list)  # reasons of frames that got no 3D (use_depth)
    callback_errors_recent: int = 0  # exceptions from callbacks the executor loop caught, last WINDOW_S
    rate_cap_hz: float = 0.0  # max_rate_hz in force (0: none): frames wait for it by design
    duplicate_name: str = ""  # another node in the graph has this node's name (said as an ERROR)


def assess(inputs: HealthInputs) -> tuple[int, str]:
    """(OK / WARN / ERROR, message naming every reason) for the snapshot.

    ERROR: frames arrive but none has been processed for longer than a frame may take (the
    longer of STALE_INPUT_S and 3x the last frame's time): a hung or failing model. WARN: not
    active, no input, frames rejected (with the reason), failures, incompatible QoS, parameters
    waiting for the next configure.
    """
    findings: list[tuple[int, str]] = []
    rejected = inputs.rejected_recent
    if inputs.state != "active":
        findings.append((WARN, f"not active ({inputs.state})"))
    elif inputs.input_age_s is None or inputs.input_age_s > STALE_INPUT_S:
        findings.append((WARN, f"no images received in the last {STALE_INPUT_S:.0f} s"))
    else:
        cap_interval = 1.0 / inputs.rate_cap_hz if inputs.rate_cap_hz > 0 else 0.0
        # a frame may wait for the cap's interval by design: only a wait beyond it is a hung model
        stalled_after = max(STALE_INPUT_S, STALLED_FRAME_FACTOR * inputs.last_frame_s) + cap_interval
        if cap_interval:
            findings.append((OK, f"processing capped at {inputs.rate_cap_hz:g} Hz by max_rate_hz (one frame every "
                                 f"{cap_interval:g} s)"))
        all_rejected = bool(rejected) and len(rejected) >= inputs.received_recent
        if inputs.waiting_s > stalled_after and not all_rejected:
            findings.append((ERROR, f"images arrive but none has been processed for {inputs.waiting_s:.0f} s"))
        if rejected:
            share = f"all {len(rejected)}" if all_rejected else f"{len(rejected)} of {inputs.received_recent}"
            findings.append((WARN, f"{share} frames of the last {WINDOW_S:.0f} s rejected: {rejected[-1]}"))
    if inputs.failed_recent:
        findings.append((WARN, f"{inputs.failed_recent} frame(s) failed in the last {WINDOW_S:.0f} s; last "
                               f"problem: {inputs.last_problem}"))
    if inputs.without_3d_recent:
        findings.append((WARN, f"{len(inputs.without_3d_recent)} frame(s) of the last {WINDOW_S:.0f} s without 3D: "
                               f"{inputs.without_3d_recent[-1]}"))
    if inputs.qos_problem:
        findings.append((WARN, inputs.qos_problem))
    if inputs.pending_reconfigure:
        findings.append((WARN, f"pending reconfigure: {', '.join(inputs.pending_reconfigure)}"))
    if inputs.duplicate_name:
        findings.append((ERROR, f"another node named {inputs.duplicate_name} is running: every output is published "
                                f"twice and services reach only one of them (rename or stop one)"))
    if inputs.callback_errors_recent:
        findings.append((ERROR, f"{inputs.callback_errors_recent} callback error(s) in the last {WINDOW_S:.0f} s "
                                f"(the node goes on; the log has the traceback): {inputs.last_problem}"))
    if not findings:
        return OK, "ok"
    level = max(level for level, _ in findings)
    # an OK note (the rate cap) is said alone or after the problems
    return level, "; ".join([text for level_, text in findings if level_ != OK] +
                            [text for level_, text in findings if level_ == OK])


@dataclass(frozen=True)
class FrameCounts:
    """Totals since start: every received frame ends as exactly one of the other four (or still waits)."""

    received: int = 0
    processed: int = 0
    dropped: int = 0
    failed: int = 0
    rejected: int = 0  # bad input: not a failure and not processed


class FrameHealth:
    """The one set of frame counters (the frame worker ticks them) and the node's verdict on them
    (thread-safe: the worker and the callbacks tick; the diagnostics timer reads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.received, self.rejected, self.failed = EventWindow(clock), EventWindow(clock), EventWindow(clock)
        self.processed, self.without_3d = EventWindow(clock), EventWindow(clock)
        self.dropped = EventWindow(clock)
        self._stream_start: Optional[float] = None  # when frames started arriving after a pause
        self._last_frame_s = 0.0
        self.qos_problem = ""

    def on_received(self) -> None:
        age = self.received.age()
        if age is None or age > STALE_INPUT_S:
            self._stream_start = self._clock()
        self.received.tick()

    def on_processed(self, seconds: float) -> None:
        self._last_frame_s = seconds
        self.processed.tick()

    def counts(self) -> FrameCounts:
        return FrameCounts(self.received.total, self.processed.total, self.dropped.total, self.failed.total,
                           self.rejected.total)

    def values(self) -> dict[str, str]:
        """Totals, rates and 3D counts for /diagnostics."""
        counts = self.counts()
        values = {f"frames_{name}": str(getattr(counts, name))
                  for name in ("received", "processed", "rejected", "dropped", "failed")}
        values.update({"input_rate_hz": f"{self.received.rate():.2f}",
                       "processed_rate_hz": f"{self.processed.rate():.2f}"})
        if self.without_3d.total:
            values["frames_without_3d"] = str(self.without_3d.total)
        return values

    def assess(self, state: str, last_problem: str, pending_reconfigure: tuple[str, ...],
               callback_errors: int = 0, rate_cap_hz: float = 0.0, duplicate_name: str = "") -> tuple[int, str]:
        now = self._clock()
        waiting = now - max(self.processed.last or 0.0, self._stream_start or now)
        return assess(HealthInputs(
            state=state, received_recent=len(self.received.recent()), rejected_recent=self.rejected.recent(),
            input_age_s=self.received.age(), waiting_s=waiting, last_frame_s=self._last_frame_s,
            failed_recent=len(self.failed.recent()), last_problem=last_problem,
            pending_reconfigure=pending_reconfigure, qos_problem=self.qos_problem,
            without_3d_recent=self.without_3d.recent(), callback_errors_recent=callback_errors,
            rate_cap_hz=rate_cap_hz, duplicate_name=duplicate_name))


def device_memory(device: str) -> dict[str, str]:
    """Allocated, peak and reserved GPU memory in MiB (empty on the CPU)."""
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
