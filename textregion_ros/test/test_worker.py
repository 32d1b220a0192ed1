"""The latest-frame worker: newest frame wins, jobs run between frames, failures do not stop it."""
from __future__ import annotations

import threading
import time

from textregion_ros.runtime.worker import LatestFrameWorker


class Recorder:
    def __init__(self, block_first: bool = False, fail_on: tuple = ()) -> None:
        self.frames: list = []
        self.errors: list = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.block_first = block_first
        self.fail_on = fail_on

    def handle(self, frame) -> None:
        self.started.set()
        if self.block_first and not self.frames:
            self.release.wait(10)
        if frame in self.fail_on:
            raise RuntimeError(f"model failed on {frame}")
        self.frames.append(frame)

    def error(self, error: BaseException, kind: str) -> None:
        self.errors.append((kind, str(error)))


def _wait_idle(worker: LatestFrameWorker, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not worker.idle():
        assert time.monotonic() < deadline, "worker did not become idle"
        time.sleep(0.01)


def test_frames_arriving_while_busy_are_replaced_by_the_newest_and_counted_as_dropped():
    recorder = Recorder(block_first=True)
    worker = LatestFrameWorker(recorder.handle, recorder.error)
    worker.start()
    worker.submit_frame(1)
    assert recorder.started.wait(5)
    for frame in (2, 3, 4, 5):
        worker.submit_frame(frame)
    recorder.release.set()
    _wait_idle(worker)
    worker.stop()
    assert recorder.frames == [1, 5]
    assert (worker.counts.received, worker.counts.processed, worker.counts.dropped) == (5, 2, 3)


def test_jobs_run_between_frames_and_a_waiting_job_with_the_same_key_is_replaced():
    recorder = Recorder(block_first=True)
    worker = LatestFrameWorker(recorder.handle, recorder.error)
    worker.start()
    worker.submit_frame("a")
    assert recorder.started.wait(5)
    worker.submit_job("republish", lambda: recorder.frames.append("job-1"))
    worker.submit_job("republish", lambda: recorder.frames.append("job-2"))
    worker.submit_frame("b")
    recorder.release.set()
    _wait_idle(worker)
    worker.stop()
    assert recorder.frames == ["a", "job-2", "b"]


def test_a_failing_frame_is_reported_and_the_next_frame_is_processed():
    recorder = Recorder(fail_on=("bad",))
    worker = LatestFrameWorker(recorder.handle, recorder.error)
    worker.start()
    worker.submit_frame("bad")
    _wait_idle(worker)
    worker.submit_frame("good")
    _wait_idle(worker)
    worker.stop()
    assert recorder.frames == ["good"]
    assert recorder.errors == [("frame", "model failed on bad")]
    assert worker.counts.failed == 1


def test_with_a_rate_limit_a_frame_waits_and_newer_frames_replace_it():
    recorder = Recorder()
    worker = LatestFrameWorker(recorder.handle, recorder.error)
    worker.set_max_rate(2.0)  # at most one frame every 0.5 s
    worker.start()
    worker.submit_frame(1)
    _wait_idle(worker)
    worker.submit_frame(2)  # must wait for the interval ...
    worker.submit_frame(3)  # ... so this one replaces it
    _wait_idle(worker)
    worker.stop()
    assert recorder.frames == [1, 3] and worker.counts.dropped == 1


def test_stop_ends_the_thread_and_discards_waiting_work():
    recorder = Recorder(block_first=True)
    worker = LatestFrameWorker(recorder.handle, recorder.error)
    worker.start()
    worker.submit_frame(1)
    assert recorder.started.wait(5)
    worker.submit_frame(2)
    recorder.release.set()
    assert worker.stop(timeout=10)
    assert 2 not in recorder.frames
