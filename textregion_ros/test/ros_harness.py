"""Helpers for tests that talk real ROS 2 (rclpy over Fast DDS) with processes they start.

Both entry points re-check that DDS is confined to this machine (conftest.py sets it up) before
anything ROS starts, so a test that edits the environment cannot leak traffic: TestNode here, and
NodeProcess (tooling/node_process.py) for the child processes.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile

from textregion_ros.tooling import local_dds, params_files
from textregion_ros.tooling.node_process import NodeProcess

TEST_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = TEST_DIR.parent
REPO_ROOT = PACKAGE_DIR.parent


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


# The node tests start the node with the files a robot would use: the main params file, then the
# cpu_smoke preset (real architectures, random weights, small sizes, CPU).
NODE_PARAMS_FILES = (params_files.config_file(), params_files.preset_file("cpu_smoke"))
# On top of the preset: a 3 x 3 point grid instead of its 4 x 4, because the node tests push many
# frames (a burst, every encoding, a 4000 x 3000 image) through a node on 2 shared CPU cores.
NODE_TEST_OVERRIDES: dict[str, Any] = {"points_per_side": 3}


def node_process(name: str = params_files.NODE_NAME, remaps: Optional[dict[str, str]] = None,
                 ignored_signals: tuple[int, ...] = (), **parameters: Any) -> NodeProcess:
    """The node as a child process (not started): params files, the test overrides, then `parameters`.

    `ignored_signals`: the child starts with them ignored (NodeProcess), as a shell's `node &` starts it.
    """
    return NodeProcess.textregion_node({**NODE_TEST_OVERRIDES, **parameters}, NODE_PARAMS_FILES, name, remaps,
                                       cwd=REPO_ROOT, ignored_signals=ignored_signals)


def node_ros_args() -> list[str]:
    """The same params files as `--ros-args` for rclpy.init, for a node run inside the test process."""
    return ["--ros-args", *(arg for path in NODE_PARAMS_FILES for arg in ("--params-file", str(path)))]
