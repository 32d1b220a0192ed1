"""The textregion node run inside the test's process, with the NodeProcess methods a NodeSession uses.

Why: a test that must hold the node's real models inside a forward (test/model_gates.py) needs the
node's engine in its own process; everything else goes over DDS as with a child process (own rclpy
context, the node's own MultiThreadedExecutor on a thread, the same params files and test overrides).
Its log goes to the test's own output, not to a file: log_text() is empty.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Optional, Sequence

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter

from ros_harness import NODE_TEST_OVERRIDES, node_ros_args
from textregion_ros.ros.node import TextRegionNode


class InProcessNode:
    """`node` is the running TextRegionNode (after start()); remaps as for NodeProcess."""

    def __init__(self, name: str, remaps: Optional[dict[str, str]] = None, **parameters: Any) -> None:
        self.name = name
        self.remaps = remaps or {}
        self.parameters = {**NODE_TEST_OVERRIDES, **parameters}
        self.node: Optional[TextRegionNode] = None
        self.pid = os.getpid()

    def start(self) -> None:
        self.context = Context()
        remaps = [arg for source, target in self.remaps.items() for arg in ("-r", f"{source}:={target}")]
        rclpy.init(context=self.context, args=[*node_ros_args(), *remaps])
        overrides = [Parameter(name, value=value) for name, value in self.parameters.items()]
        self.node = TextRegionNode(self.name, context=self.context, parameter_overrides=overrides)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)  # as node_main runs it
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self.executor.spin, name=f"{self.name}_executor", daemon=True)
        self._spinner.start()

    def stop(self) -> None:
        if self.node is None:
            return
        self.node.on_shutdown(None)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self._spinner.join(10)
        self.node = None

    def alive(self) -> bool:
        return self.node is not None and self._spinner.is_alive()

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str,
                   step: Optional[Callable[[], None]] = None, failure_markers: Sequence[str] = ()) -> None:
        """Like NodeProcess.wait_until (failure_markers: the log is not captured here, so unused)."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.alive():
                raise AssertionError(f"{self.name}'s executor ended while waiting for {what}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            if step is None:
                time.sleep(0.05)
            else:
                step()

    def log_text(self) -> str:
        return ""

    def log_tail(self, lines: int = 40) -> str:
        return ""
