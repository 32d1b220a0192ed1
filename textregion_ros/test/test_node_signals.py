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

import pytest

from engine_fixtures import photo_like
from node_session import NodeSession

EXIT_TIMEOUT_S = 120.0


def stop_mid_frame(session: NodeSession, signum: int) -> int:
    """Send `signum` while a frame is being processed; the node's exit status."""
    session.wait_until_active()
    before = session.counts()
    status = session.publish_until(session.image(photo_like(96, 128), 1),
                                   lambda s: int(s["frames_received"]) > before["received"], 60,
                                   "the frame to reach the node")
    assert int(status["frames_processed"]) == before["processed"], "the frame was done before the signal"
    session.child.process.send_signal(signum)
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
