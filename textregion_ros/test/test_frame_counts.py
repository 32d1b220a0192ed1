"""One set of frame counters (runtime/health.FrameHealth, ticked by the frame worker): every received
frame ends as exactly one of processed, dropped, rejected or failed, whatever the handler says."""
from __future__ import annotations

import threading

from textregion_ros.runtime.health import FrameCounts, FrameHealth
from textregion_ros.runtime.worker import DROPPED, LatestFrameWorker, Rejected

TIMEOUT = 60.0


def _verdicts(frame):
    if frame == "inactive":
        return DROPPED
    if frame == "bad":
        return Rejected("encoding yuv422")
    if frame == "broken":
        raise RuntimeError("model failed")
    return True


def _run(frames, health=None) -> LatestFrameWorker:
    worker = LatestFrameWorker(_verdicts, lambda error, kind: None, health=health)
    worker.start()
    for frame in frames:  # one at a time, so none is replaced by the next
        worker.submit_frame(frame)
        assert worker.wait_until_idle(TIMEOUT)
    worker.stop()
    return worker


def test_a_frame_the_handler_drops_counts_as_dropped_not_processed():
    assert _run(["inactive", "good"]).counts == FrameCounts(received=2, processed=1, dropped=1)


def test_each_verdict_is_counted_once_in_the_health_the_node_reads():
    health = FrameHealth()
    _run(["good", "bad", "broken", "inactive", "good"], health)
    assert health.counts() == FrameCounts(received=5, processed=2, dropped=1, failed=1, rejected=1)
    assert health.rejected.recent() == ["encoding yuv422"]
    values = health.values()
    assert (values["frames_received"], values["frames_processed"], values["frames_failed"]) == ("5", "2", "1")


def test_a_frame_still_waiting_at_stop_counts_as_dropped():
    release, started = threading.Event(), threading.Event()

    def slow(frame):
        started.set()
        release.wait(TIMEOUT)
        return True

    worker = LatestFrameWorker(slow, lambda error, kind: None)
    worker.start()
    worker.submit_frame(1)
    assert started.wait(TIMEOUT)
    worker.submit_frame(2)  # waits behind frame 1
    worker.request_stop()  # deactivate / cleanup: frame 2 never runs
    release.set()
    assert worker.stop(TIMEOUT)
    counts = worker.counts
    assert counts.received == 2 and counts.processed == 1 and counts.dropped == 1
