"""The node's process: `ros2 run textregion_ros textregion_node` and `python -m textregion_ros.ros.node_main`.

Why apart from node.py: the process's signal handling and executor are not the node's concern (tests
start TextRegionNode in their own process and executor).

Two rules keep the process alive and its exit clean:
  - the executor loop is guarded: an exception from any callback (service, subscription, timer) is
    handed to the node, which logs it once with its traceback and counts it in /diagnostics, and the
    loop goes on spinning; nothing a callback raises ends the process;
  - a signal only sets a flag: the first SIGINT or SIGTERM ends the loop, the node then shuts down
    (waiting for a transition or a frame in progress), and any later signal is only noted. No exception is
    ever raised into whatever the main thread is doing, so a second signal during the shutdown (a launch
    system escalating SIGINT to SIGTERM) cannot abort it half way: the exit status is 0.
"""
from __future__ import annotations

import signal
import threading
from typing import Any, Callable, Optional

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from .node import TextRegionNode

SPIN_STEP_S = 0.1  # how soon the loop sees a stop request


def spin_guarded(executor: Executor, stop: threading.Event, on_error: Callable[[BaseException], None]) -> None:
    """Spin `executor` until `stop` is set or its context shuts down; a callback's exception goes to `on_error`."""
    while not stop.is_set() and executor.context.ok():
        try:
            executor.spin_once(timeout_sec=SPIN_STEP_S)
        except ExternalShutdownException:
            return
        except Exception as error:  # a callback's: reported, never the end of the process
            on_error(error)


def main(args: Optional[list[str]] = None) -> None:
    """Spin the node; on SIGINT/SIGTERM stop the worker before the ROS context goes away."""
    # rclpy's own handlers would invalidate the context while a frame is still being published.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    node_box: list[TextRegionNode] = []

    def on_signal(signum: int, frame: Any) -> None:
        if node_box:
            node_box[0].request_shutdown(signal.Signals(signum).name, again=stop.is_set())
        stop.set()

    # Installed explicitly for both: a process started with SIGINT ignored (a script's `node &`,
    # some process managers) would otherwise ignore Ctrl-C.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    node = TextRegionNode()
    node_box.append(node)
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        spin_guarded(executor, stop, node.callback_failed)
    finally:
        node.request_shutdown("exit", again=False)
        node.on_shutdown(None)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
