"""The two-stage frame loop: the engine stage (LatestFrameWorker) observes frame N+1 while the host
stage (HostStage) describes and publishes frame N, without changing what the node promises.

Every step is ordered by events, never by sleeps; the timeouts only bound a broken loop.
"""
from __future__ import annotations

import threading

import pytest

from textregion_ros.runtime.health import FrameCounts, FrameHealth
from textregion_ros.runtime.host_stage import HANDED_OVER, HostStage, overlap_for
from textregion_ros.runtime.worker import DROPPED, LatestFrameWorker

TIMEOUT = 60.0


class Loop:
    """Both stages wired as the node wires them, with hooks to hold a frame in either stage.

    The engine stage records what it observed and hands the frame over with the queries in force at
    that moment; the host stage 'publishes' (frame, queries) to `published`. Jobs publish a LabelInfo
    ('info', queries) the way the node's query switch does.
    """

    def __init__(self, overlap: bool = True, fail_host_on: tuple = (), drop_host_on: tuple = ()) -> None:
        self.observed: list = []
        self.published: list = []
        self.errors: list = []
        self.queries = "A"
        self.engine_threads: set = set()
        self.host_threads: set = set()
        self.hold_engine: dict = {}  # frame -> Event the engine stage waits on
        self.hold_host: dict = {}
        self.engine_started: dict = {}  # frame -> Event set when the engine stage began it
        self.host_started: dict = {}
        self.events: list = []  # ("engine", frame) at each engine start, ("host-done", frame) at each host end
        self.observed_event: dict = {}  # frame -> Event set once the engine stage observed it
        self.fail_host_on, self.drop_host_on = fail_host_on, drop_host_on
        self.health = FrameHealth()
        self.host = HostStage(self._finish, self._error, self.health, overlap=overlap)
        self.engine = LatestFrameWorker(self._observe, self._error, health=self.health, before_job=self.host.drain)
        self.host.start()
        self.engine.start()

    def hold(self, stage: str, frame) -> threading.Event:
        release = threading.Event()
        (self.hold_engine if stage == "engine" else self.hold_host)[frame] = release
        (self.engine_started if stage == "engine" else self.host_started)[frame] = threading.Event()
        return release

    def _observe(self, frame):
        self.engine_threads.add(threading.current_thread().name)
        self.events.append(("engine", frame))
        if frame in self.engine_started:
            self.engine_started[frame].set()
        if frame in self.hold_engine:
            assert self.hold_engine[frame].wait(TIMEOUT), "the test never released the engine stage"
        self.observed.append(frame)
        self.observed_event.setdefault(frame, threading.Event()).set()
        return self.host.hand_over((frame, self.queries), 0.0)

    def _finish(self, item):
        frame, queries = item
        self.host_threads.add(threading.current_thread().name)
        if frame in self.host_started:
            self.host_started[frame].set()
        if frame in self.hold_host:
            assert self.hold_host[frame].wait(TIMEOUT), "the test never released the host stage"
        if frame in self.fail_host_on:
            raise RuntimeError(f"overlay failed on {frame}")
        if frame in self.drop_host_on:
            return DROPPED
        self.published.append((frame, queries))
        self.events.append(("host-done", frame))
        return True

    def _error(self, error: BaseException, kind: str) -> None:
        self.errors.append((kind, str(error)))

    def switch(self, queries: str) -> None:
        """A query switch: a between-frames job that changes the queries and publishes their LabelInfo."""
        def job() -> None:
            self.queries = queries
            self.published.append(("info", queries))
        self.engine.submit_job("switch_queries", job)

    def settle(self) -> None:
        assert self.engine.wait_until_idle(TIMEOUT)
        assert self.host.drain(TIMEOUT)

    def stop(self) -> None:
        assert self.engine.stop(TIMEOUT)
        assert self.host.stop(TIMEOUT)


def test_the_engine_stage_works_on_the_next_frame_while_the_host_stage_holds_the_previous():
    loop = Loop()
    release = loop.hold("host", 1)
    loop.engine.submit_frame(1)
    assert loop.host_started[1].wait(TIMEOUT)
    observed_2 = loop.observed_event.setdefault(2, threading.Event())
    loop.engine.submit_frame(2)
    assert observed_2.wait(TIMEOUT)  # observed while the host stage still holds frame 1
    assert loop.host.holds_frame() and loop.published == []
    release.set()
    loop.settle()
    loop.stop()
    assert loop.observed == [1, 2] and [frame for frame, _ in loop.published] == [1, 2]


def test_the_engine_stage_starts_no_third_frame_before_the_host_stage_let_the_first_go():
    loop = Loop()
    release = loop.hold("host", 1)
    loop.engine.submit_frame(1)
    assert loop.host_started[1].wait(TIMEOUT)
    observed_2 = loop.observed_event.setdefault(2, threading.Event())
    loop.engine.submit_frame(2)
    assert observed_2.wait(TIMEOUT)
    loop.engine.submit_frame(3)  # the engine stage is handing frame 2 over: frame 3 waits for it
    release.set()
    loop.settle()
    loop.stop()
    assert loop.events.index(("engine", 3)) > loop.events.index(("host-done", 1))
    assert [frame for frame, _ in loop.published] == [1, 2, 3]


def test_frames_leave_the_host_stage_in_the_order_the_engine_stage_observed_them():
    loop = Loop()
    releases = {frame: loop.hold("host", frame) for frame in range(0, 40, 5)}
    for frame in range(40):
        loop.engine.submit_frame(frame)
        if frame in releases:
            assert loop.host_started[frame].wait(TIMEOUT)
            releases[frame].set()
    loop.settle()
    loop.stop()
    published = [frame for frame, _ in loop.published]
    assert published == loop.observed and published == sorted(published)
    counts = loop.health.counts()
    assert counts.received == 40 and counts.processed == len(published) and counts.dropped == 40 - len(published)


def test_a_query_switch_waits_until_the_host_stage_published_the_frame_of_the_old_queries():
    loop = Loop()
    release = loop.hold("host", 1)
    loop.engine.submit_frame(1)
    assert loop.host_started[1].wait(TIMEOUT)
    loop.switch("B")  # queued while frame 1 of queries A is still in the host stage
    loop.engine.submit_frame(2)
    release.set()
    loop.settle()
    loop.stop()
    assert loop.published == [(1, "A"), ("info", "B"), (2, "B")]


@pytest.mark.parametrize("overlap", [True, False])
def test_every_label_message_agrees_with_the_label_info_before_it_under_many_switches(overlap: bool):
    loop = Loop(overlap=overlap)
    loop.published.append(("info", "A"))
    for frame in range(60):
        loop.engine.submit_frame(frame)
        if frame % 7 == 3:
            loop.switch(f"Q{frame}")
    loop.settle()
    loop.stop()
    in_force = None
    for item, queries in loop.published:
        if item == "info":
            in_force = queries
        else:
            assert queries == in_force, f"frame {item} of {queries} published after the LabelInfo of {in_force}"


def test_stopping_while_both_stages_hold_a_frame_finishes_both_and_counts_every_frame_once():
    loop = Loop()
    host_release = loop.hold("host", 1)
    engine_release = loop.hold("engine", 2)
    loop.engine.submit_frame(1)
    assert loop.host_started[1].wait(TIMEOUT)
    loop.engine.submit_frame(2)
    assert loop.engine_started[2].wait(TIMEOUT)
    loop.engine.submit_frame(3)  # waits in the engine stage's slot: discarded by the stop
    stopper = threading.Thread(target=loop.stop)
    stopper.start()
    engine_release.set()
    host_release.set()
    stopper.join(TIMEOUT)
    assert not stopper.is_alive()
    assert [frame for frame, _ in loop.published] == [1, 2]
    assert loop.health.counts() == FrameCounts(received=3, processed=2, dropped=1)


def test_a_failure_in_the_host_stage_costs_that_frame_only():
    loop = Loop(fail_host_on=(2,))
    for frame in (1, 2, 3):
        loop.engine.submit_frame(frame)
        loop.settle()
    loop.stop()
    assert [frame for frame, _ in loop.published] == [1, 3]
    assert loop.errors == [("frame", "overlay failed on 2")]
    assert loop.health.counts() == FrameCounts(received=3, processed=2, failed=1)


def test_a_frame_the_host_stage_drops_counts_as_dropped_once():
    loop = Loop(drop_host_on=(2,))
    for frame in (1, 2, 3):
        loop.engine.submit_frame(frame)
        loop.settle()
    loop.stop()
    assert loop.health.counts() == FrameCounts(received=3, processed=2, dropped=1)


@pytest.mark.parametrize("overlap", [True, False])
def test_the_host_work_runs_on_its_own_thread_only_when_overlapped(overlap: bool):
    loop = Loop(overlap=overlap)
    for frame in (1, 2):
        loop.engine.submit_frame(frame)
        loop.settle()
    loop.stop()
    assert (loop.host_threads == loop.engine_threads) is not overlap
    assert loop.health.counts() == FrameCounts(received=2, processed=2)


def test_a_frame_handed_over_after_the_stop_is_counted_as_dropped():
    health = FrameHealth()
    host = HostStage(lambda item: True, lambda error, kind: None, health)
    host.start()
    assert host.stop(TIMEOUT)
    health.on_received()
    assert host.hand_over("late", 0.0) is HANDED_OVER
    assert health.counts() == FrameCounts(received=1, dropped=1)


@pytest.mark.parametrize("setting,device,overlap", [
    ("auto", "cuda:0", True), ("auto", "cuda", True), ("auto", "cpu", False),
    ("on", "cpu", True), ("off", "cuda:0", False),
])
def test_auto_overlaps_only_when_the_engine_runs_on_cuda(setting: str, device: str, overlap: bool):
    assert overlap_for(setting, device) is overlap
