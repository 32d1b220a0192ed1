"""Helpers for tests that talk real ROS 2 (rclpy over Fast DDS) with processes they start.

Both entry points re-check that DDS is confined to this machine (conftest.py sets it up) before
anything ROS starts, so a test that edits the environment cannot leak traffic.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile

from textregion_ros.runtime import local_dds, node_command

TEST_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = TEST_DIR.parent
REPO_ROOT = PACKAGE_DIR.parent


class RosChild:
    """A child Python process running ROS code; stopped with SIGINT (then SIGKILL) on exit.

    Its stdout and stderr go to one log file, shown by `log()` and on failures.
    """

    def __init__(self, args: Sequence[str], env: Optional[dict[str, str]] = None) -> None:
        self.args = [sys.executable, *args]
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.process: Optional[subprocess.Popen] = None
        self._log = tempfile.NamedTemporaryFile("w+", prefix="ros_child_", suffix=".log", delete=False)

    def __enter__(self) -> "RosChild":
        local_dds.check(self.env)
        self.process = subprocess.Popen(
            self.args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 10.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")


class TestNode:
    """An rclpy node in the test process with its own context and executor."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "test_probe") -> None:
        local_dds.check(os.environ)
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def __enter__(self) -> "TestNode":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        if self.context.ok():
            rclpy.shutdown(context=self.context)

    def collect(self, msg_type: type, topic: str, qos: QoSProfile | int = 10) -> list:
        """Subscribe and return the list that received messages are appended to."""
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def spin_until(self, condition: Callable[[], bool], timeout: float, what: str = "") -> None:
        """Spin until `condition()` holds; AssertionError naming `what` after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")
            self.executor.spin_once(timeout_sec=0.05)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def call(self, srv_type: type, name: str, request: Any, timeout: float = 30.0) -> Any:
        """Call a service once it is available; the response, or AssertionError on timeout."""
        client = self.node.create_client(srv_type, name)
        try:
            self.spin_until(lambda: client.service_is_ready(), timeout, f"service {name}")
            future = client.call_async(request)
            self.spin_until(future.done, timeout, f"response of {name}")
            return future.result()
        finally:
            self.node.destroy_client(client)


CONFIG_FILE = PACKAGE_DIR / "config" / "textregion.yaml"
# Small real models with random weights: PE-Core-T + SAM2.1-tiny at 256 px, 3x3 points. Random
# weights need the mask filters and global-patch removal off to leave any region (ml-stack notes).
SMALL_NODE_PARAMETERS: dict[str, Any] = {
    "backbone": "pe", "model": "PE-Core-T-16-384", "weights": "random", "sam2_weights": "random",
    "sam2_image_size": 256, "points_per_side": 3, "device": "cpu", "pred_iou_thresh": 0.0,
    "stability_score_thresh": 0.0, "min_mask_area": 0, "remove_global_patches": False, "scale": [448, 336],
}


def node_arguments(name: str = "textregion", remaps: Optional[dict[str, str]] = None, **parameters: Any) -> list[str]:
    """Command line of the node with config/textregion.yaml plus small-model overrides."""
    return node_command.node_arguments({**SMALL_NODE_PARAMETERS, **parameters}, CONFIG_FILE, name, remaps)
