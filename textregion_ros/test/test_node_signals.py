"""Stopping the node with a signal: a clean shutdown and exit status 0, even mid-frame.

SIGINT comes from Ctrl-C and ros2 launch, SIGTERM from systemd, docker stop and process managers,
and either may arrive while a frame is being processed: the frame is finished, the models are
freed, and the process exits with 0 (a supervisor reads anything else as a crash). A node started
from a script with `node &` inherits SIGINT ignored and must stop on it all the same. Each test
stops its own node.
"""
from __future__ import annotations

import signal
import subprocess
import time

import pytest

from engine_fixtures import photo_like
from node_session import NodeSession

EXIT_TIMEOUT_S = 120.0


def stop_mid_frame(session: NodeSession, signum: int, then: tuple[int, float] = ()) -> int:
    """Send `signum` while a frame is being processed (and `then` = (signal, seconds later)); the exit status."""
    session.wait_until_active()
    before = session.counts()
    status = session.publish_until(session.image(photo_like(96, 128), 1),
                                   lambda s: int(s["frames_received"]) > before["received"], 60,
                                   "the frame to reach the node")
    assert int(status["frames_processed"]) == before["processed"], "the frame was done before the signal"
    session.child.process.send_signal(signum)
    if then:
        time.sleep(then[1])  # the sequence under test: the second signal this long after the first
        session.child.process.send_signal(then[0])
    try:
        return session.child.process.wait(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the node was still running {EXIT_TIMEOUT_S:.0f} s after {signal.Signals(signum).name}\n"
                    f"--- node log ---\n{session.child.log_tail()}")


def assert_clean_shutdown(session: NodeSession, status: int) -> None:
    log = session.child.log_text()
    assert status == 0, log[-3000:]
    assert "models freed" in log  # the shutdown path ran
    assert "Traceback" not in log, log[-3000:]


# points_per_side 24: a dense SAM2 point grid, so one frame takes seconds on a CPU and is surely in flight
def test_sigint_stops_a_node_started_with_sigint_ignored_cleanly_mid_frame():
    with NodeSession(name="textregion_sigint", subscribe_outputs=False, ignored_signals=(signal.SIGINT,),
                     points_per_side=24) as session:
        assert_clean_shutdown(session, stop_mid_frame(session, signal.SIGINT))


def test_sigterm_stops_the_node_cleanly_mid_frame():
    with NodeSession(name="textregion_sigterm", subscribe_outputs=False, points_per_side=24) as session:
        assert_clean_shutdown(session, stop_mid_frame(session, signal.SIGTERM))


# A launch system escalates SIGINT to SIGTERM when the shutdown is slow, and a user presses Ctrl-C twice:
# a second signal while the node is shutting down must not abort it.
@pytest.mark.parametrize(("first", "second", "gap_s"), [
    (signal.SIGINT, signal.SIGTERM, 0.2),
    (signal.SIGTERM, signal.SIGTERM, 0.05),
    (signal.SIGINT, signal.SIGINT, 1.0),
], ids=["sigint-then-sigterm-0.2s", "sigterm-twice-0.05s", "sigint-twice-1s"])
def test_a_second_signal_during_the_shutdown_of_a_frame_still_exits_cleanly(first, second, gap_s):
    name = f"textregion_{first.name.lower()}_{second.name.lower()}"
    with NodeSession(name=name, subscribe_outputs=False, points_per_side=24) as session:
        assert_clean_shutdown(session, stop_mid_frame(session, first, then=(second, gap_s)))


def test_signals_during_configure_exit_cleanly_without_activating():
    with NodeSession(name="textregion_sig_configure", subscribe_outputs=False) as session:
        session.child.wait_until(lambda: "loading models" in session.child.log_text(), 120, "configure to start")
        session.child.process.send_signal(signal.SIGINT)
        time.sleep(0.2)  # the sequence under test: SIGTERM 0.2 s after SIGINT (not a wait for an outcome)
        session.child.process.send_signal(signal.SIGTERM)
        status = session.child.process.wait(timeout=EXIT_TIMEOUT_S)
        assert_clean_shutdown(session, status)
        log = session.child.log_text()
        assert "active: listening" not in log and "engine closed" not in log, log[-3000:]
