"""The latest-frame worker: newest frame wins, jobs run between frames, failures do not stop it.

Every step is ordered by events or by the worker's own idle signal, and the rate limit runs on a
clock the test advances by hand, so no outcome depends on how fast the machine schedules threads.
The timeouts only bound a broken worker; a correct one never reaches them.
"""
from __future__ import annotations

import threading

from textregion_ros.runtime.worker import LatestFrameWorker

TIMEOUT = 60.0


class Recorder:
    """Frame handler and error handler; with `block_first` the first frame waits for `release`."""

    def __init__(self, block_first: bool = False, fail_on: tuple = ()) -> None:
        self.frames: list = []
        self.errors: list = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.block_first = block_first
        self.fail_on = fail_on

    def handle(self, frame) -> None:
        self.started.set()
        if self.block_first and not self.frames and not self.release.wait(TIMEOUT):
            raise RuntimeError("the test never released the first frame")
        if frame in self.fail_on:
            raise RuntimeError(f"model failed on {frame}")
        self.frames.append(frame)

    def error(self, error: BaseException, kind: str) -> None:
        self.errors.append((kind, str(error)))


class ManualClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _started_worker(recorder: Recorder, **kwargs) -> LatestFrameWorker:
    worker = LatestFrameWorker(recorder.handle, recorder.error, **kwargs)
    worker.start()
    return worker


def test_frames_arriving_while_busy_are_replaced_by_the_newest_and_counted_as_dropped():
    recorder = Recorder(block_first=True)
    worker = _started_worker(recorder)
    worker.submit_frame(1)
    assert recorder.started.wait(TIMEOUT)
    for frame in (2, 3, 4, 5):
        worker.submit_frame(frame)
    recorder.release.set()
    assert worker.wait_until_idle(TIMEOUT)
    worker.stop()
    assert recorder.frames == [1, 5]
    assert (worker.counts.received, worker.counts.processed, worker.counts.dropped) == (5, 2, 3)


def test_jobs_run_between_frames_and_a_waiting_job_with_the_same_key_is_replaced():
    recorder = Recorder(block_first=True)
    worker = _started_worker(recorder)
    worker.submit_frame("a")
    assert recorder.started.wait(TIMEOUT)
    worker.submit_job("republish", lambda: recorder.frames.append("job-1"))
    worker.submit_job("republish", lambda: recorder.frames.append("job-2"))
    worker.submit_frame("b")
    recorder.release.set()
    assert worker.wait_until_idle(TIMEOUT)
    worker.stop()
    assert recorder.frames == ["a", "job-2", "b"]


def test_a_failing_frame_is_reported_and_the_next_frame_is_processed():
    recorder = Recorder(fail_on=("bad",))
    worker = _started_worker(recorder)
    worker.submit_frame("bad")
    assert worker.wait_until_idle(TIMEOUT)
    worker.submit_frame("good")
    assert worker.wait_until_idle(TIMEOUT)
    worker.stop()
    assert recorder.frames == ["good"]
    assert recorder.errors == [("frame", "model failed on bad")]
    assert worker.counts.failed == 1


def test_with_a_rate_limit_a_frame_waits_for_the_interval_and_newer_frames_replace_it():
    recorder, clock = Recorder(), ManualClock()
    worker = LatestFrameWorker(recorder.handle, recorder.error, clock=clock)
    worker.set_max_rate(2.0)  # at most one frame every 0.5 s of `clock`
    worker.start()
    worker.submit_frame(1)
    assert worker.wait_until_idle(TIMEOUT)
    worker.submit_frame(2)  # the clock stands still: 2 has to wait for the interval ...
    worker.submit_frame(3)  # ... so 3 replaces it
    assert recorder.frames == [1] and not worker.idle() and worker.counts.dropped == 1
    clock.advance(0.5)
    assert worker.wait_until_idle(TIMEOUT)
    worker.stop()
    assert recorder.frames == [1, 3]


def test_a_rate_cap_processes_one_frame_per_interval_and_counts_every_other_one_as_dropped():
    recorder, clock = Recorder(), ManualClock()
    worker = LatestFrameWorker(recorder.handle, recorder.error, clock=clock)
    worker.set_max_rate(4.0)  # one frame per 0.25 s of `clock` (exact in binary: no rounding drift)
    worker.start()
    worker.submit_frame(0)
    assert worker.wait_until_idle(TIMEOUT)
    for interval in range(3):  # four frames per interval arrive while the clock stands still ...
        for k in range(1, 5):
            worker.submit_frame(4 * interval + k)
        assert not worker.idle() and len(recorder.frames) == interval + 1  # ... and none of them starts
        clock.advance(0.25)  # the interval is over: the newest of the four runs
        assert worker.wait_until_idle(TIMEOUT)
    worker.stop()
    assert recorder.frames == [0, 4, 8, 12]
    counts = worker.counts
    assert (counts.received, counts.processed, counts.dropped) == (13, 4, 9)


def test_removing_the_rate_cap_releases_the_waiting_frame_at_once():
    recorder, clock = Recorder(), ManualClock()
    worker = LatestFrameWorker(recorder.handle, recorder.error, clock=clock)
    worker.set_max_rate(0.001)  # one frame per 1000 s
    worker.start()
    worker.submit_frame(1)
    assert worker.wait_until_idle(TIMEOUT)
    worker.submit_frame(2)
    assert not worker.idle()
    worker.set_max_rate(0.0)  # the clock never moves: only the new cap can let 2 start
    assert worker.wait_until_idle(TIMEOUT)
    worker.stop()
    assert recorder.frames == [1, 2]


def test_stop_discards_waiting_work_and_ends_the_thread_after_the_current_frame():
    recorder = Recorder(block_first=True)
    worker = _started_worker(recorder)
    worker.submit_frame(1)
    assert recorder.started.wait(TIMEOUT)
    worker.submit_frame(2)
    worker.submit_job("republish", lambda: recorder.frames.append("job"))
    worker.request_stop()  # while frame 1 is still running
    recorder.release.set()
    assert worker.stop(timeout=TIMEOUT)
    assert recorder.frames == [1]
    assert worker.counts.processed == 1
