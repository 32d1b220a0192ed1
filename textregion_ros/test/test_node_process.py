"""The child-process helper: confined DDS, one log, readiness waits that fail fast, a stop that always ends it.

The children here are tiny Python programs, not ROS nodes, so each behaviour (a child that
ignores SIGINT, one that exits early, one that logs a failure) can be produced on purpose.
"""
from __future__ import annotations

import os
import signal
import sys

import pytest

from textregion_ros.tooling import local_dds, node_command
from textregion_ros.tooling.node_process import NodeProcess, NodeProcessError


def child(body: str, setup: str = "") -> list[str]:
    """Arguments of a Python child that runs `setup`, prints "ready", then runs `body`."""
    return ["-c", f"import os, signal, sys, time\n{setup}print('ready', flush=True)\n{body}"]


SLEEP_FOREVER = "while True:\n    time.sleep(1)\n"
EXIT_3_ON_SIGINT = "signal.signal(signal.SIGINT, lambda *_: (print('got SIGINT', flush=True), os._exit(3)))\n"
IGNORE_SIGINT = "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
IGNORE_SIGTERM = "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"


def _wait_ready(node: NodeProcess) -> None:
    node.wait_until(lambda: "ready" in node.log_text(), 60, "the child to start")


def test_stop_interrupts_the_child_and_returns_its_exit_status():
    node = NodeProcess(child(SLEEP_FOREVER, setup=EXIT_3_ON_SIGINT)).start()
    _wait_ready(node)
    assert node.stop() == 3
    assert "got SIGINT" in node.log_text()
    assert not node.alive()


def test_a_child_that_ignores_sigint_is_terminated():
    node = NodeProcess(child(SLEEP_FOREVER, setup=IGNORE_SIGINT)).start()
    _wait_ready(node)
    assert node.stop(interrupt_timeout=0.5, terminate_timeout=60) == -signal.SIGTERM


def test_a_child_that_ignores_sigint_and_sigterm_is_killed():
    node = NodeProcess(child(SLEEP_FOREVER, setup=IGNORE_SIGINT + IGNORE_SIGTERM)).start()
    _wait_ready(node)
    assert node.stop(interrupt_timeout=0.2, terminate_timeout=0.2) == -signal.SIGKILL


def test_a_child_started_with_sigint_ignored_sees_it_ignored_and_still_gets_its_arguments():
    script = "print('sigint ignored:', signal.getsignal(signal.SIGINT) == signal.SIG_IGN, sys.argv[1:])\n"
    with NodeProcess(child(script) + ["--flag", "value"], ignored_signals=[signal.SIGINT]) as node:
        node.wait_until(lambda: not node.alive(), 60, "the child to exit")
    assert "sigint ignored: True ['--flag', 'value']" in node.log_text()
    assert node.returncode == 0


def test_a_child_started_normally_does_not_ignore_sigint():
    script = "print('sigint ignored:', signal.getsignal(signal.SIGINT) == signal.SIG_IGN)\n"
    with NodeProcess(child(script)) as node:
        node.wait_until(lambda: not node.alive(), 60, "the child to exit")
    assert "sigint ignored: False" in node.log_text()


def test_stop_without_start_returns_none_and_a_second_stop_the_same_status():
    node = NodeProcess(child("sys.exit(5)"))
    assert node.stop() is None
    node.start()
    node.wait_until(lambda: not node.alive(), 60, "the child to exit")
    assert node.stop() == 5 and node.stop() == 5


def test_the_context_manager_starts_the_child_and_stops_it_on_exit():
    with NodeProcess(child(SLEEP_FOREVER)) as node:
        _wait_ready(node)
        assert node.alive()
    assert not node.alive() and node.returncode is not None


def test_a_child_is_refused_unless_dds_is_confined_to_this_machine():
    environ = dict(os.environ)
    environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE")
    node = NodeProcess(child(SLEEP_FOREVER), env=environ)
    with pytest.raises(local_dds.DdsIsolationError, match="ROS_AUTOMATIC_DISCOVERY_RANGE"):
        node.start()
    assert node.process is None


def test_the_child_inherits_the_confined_environment_and_logs_stdout_and_stderr_to_one_file(tmp_path):
    script = "print(os.environ['ROS_DOMAIN_ID'], os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'])\n" \
             "print('to stderr', file=sys.stderr)\n"
    with NodeProcess(child(script), log_path=tmp_path / "child.log") as node:
        node.wait_until(lambda: not node.alive(), 60, "the child to exit")
    text = (tmp_path / "child.log").read_text()
    assert f"{os.environ['ROS_DOMAIN_ID']} LOCALHOST" in text and "to stderr" in text
    assert node.log_tail(lines=1) == "to stderr"


def test_wait_until_fails_at_once_when_the_child_exits_and_shows_its_log():
    with NodeProcess(child("print('giving up', flush=True)\nsys.exit(4)")) as node:
        with pytest.raises(NodeProcessError, match=r"exited \(status 4\) while waiting for the service") as error:
            node.wait_until(lambda: False, 120, "the service")
    assert "giving up" in error.value.log_tail and error.value.log_path == node.log_path


def test_wait_until_fails_at_once_on_a_failure_marker_in_the_log():
    body = f"print('[ERROR] {node_command.CONFIGURE_FAILED}: no weights', flush=True)\n{SLEEP_FOREVER}"
    with NodeProcess(child(body)) as node:
        with pytest.raises(NodeProcessError, match="reported a failure while waiting for outputs.*no weights"):
            node.wait_until(lambda: False, 120, "outputs", failure_markers=[node_command.CONFIGURE_FAILED])
        assert node.alive()


def test_wait_until_times_out_naming_what_it_waited_for():
    with NodeProcess(child(SLEEP_FOREVER)) as node:
        with pytest.raises(NodeProcessError, match="timed out after .* waiting for the answer"):
            node.wait_until(lambda: False, 0.2, "the answer")


def test_wait_until_calls_step_between_checks_until_ready():
    steps: list[int] = []
    with NodeProcess(child(SLEEP_FOREVER)) as node:
        node.wait_until(lambda: len(steps) == 3, 120, "three steps", step=lambda: steps.append(1))
    assert len(steps) == 3


def test_textregion_node_layers_params_files_in_order_then_parameters_then_remaps(tmp_path):
    main, preset = tmp_path / "main.yaml", tmp_path / "preset.yaml"
    node = NodeProcess.textregion_node({"points_per_side": 3, "queries": ["a b"]}, [main, preset], "probe_node",
                                       {"image": "/camera/image"})
    assert node.command == [
        sys.executable, "-m", "textregion_ros.ros.node_main", "--ros-args",
        "--params-file", str(main), "--params-file", str(preset),
        "-p", "points_per_side:=3", "-p", 'queries:=["a b"]',
        "-r", "__node:=probe_node", "-r", "image:=/camera/image",
    ]
