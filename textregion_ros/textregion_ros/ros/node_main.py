"""The node's process: `ros2 run textregion_ros textregion_node` and `python -m textregion_ros.ros.node_main`.

Why apart from node.py: the process's signal handling and executor are not the node's concern (tests
start TextRegionNode in their own process and executor).
"""
from __future__ import annotations

import signal
from typing import Any, Optional

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from .node import TextRegionNode


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(args: Optional[list[str]] = None) -> None:
    """Spin the node; on SIGINT/SIGTERM stop the worker before the ROS context goes away."""
    # rclpy's own handlers would invalidate the context while a frame is still being published.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    # Installed explicitly for both: a process started with SIGINT ignored (a script's `node &`,
    # some process managers) gets no KeyboardInterrupt from Python and would ignore Ctrl-C.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_keyboard_interrupt)
    node = TextRegionNode()
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.on_shutdown(None)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
