"""The executor loop of the node's process survives any exception a callback raises.

The node runs in this process (real rclpy, no models: it stays unconfigured) under the process's own
loop (node_main.spin_guarded), so the test can add a callback that raises, as a future bug would.
"""
from __future__ import annotations

import threading

import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from textregion_msgs.srv import SetQueries

from ros_harness import TestNode, node_ros_args
from textregion_ros.ros.node import TextRegionNode
from textregion_ros.ros.node_main import spin_guarded


def test_a_raising_callback_is_logged_once_counted_as_an_error_and_the_node_keeps_serving(capfd):
    context = Context()
    rclpy.init(context=context, args=node_ros_args())
    node = TextRegionNode("textregion_guard", context=context,
                          parameter_overrides=[Parameter("autostart", value=False)])
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    raised = {"times": 0}

    def broken_callback() -> None:
        if raised["times"] < 3:
            raised["times"] += 1
            raise RuntimeError("a bug in a future callback")

    node.create_timer(0.05, broken_callback)
    stop = threading.Event()
    spinner = threading.Thread(target=spin_guarded, args=(executor, stop, node.callback_failed), daemon=True)
    spinner.start()
    probe = TestNode("probe_guard", node_name="textregion_guard")
    try:
        probe.watch_diagnostics()
        probe.spin_until(lambda: probe.status.get("callback_errors") == "3", 30, "three callback errors counted")
        assert probe.status["_level"] == DiagnosticStatus.ERROR and "callback error" in probe.status["_message"]
        response = probe.call(SetQueries, "/textregion_guard/set_queries", SetQueries.Request(queries=["red mug"]))
        assert response.success  # still serving after the raising callbacks
        assert spinner.is_alive()
        captured = capfd.readouterr()
        log = captured.out + captured.err
        assert log.count("a callback raised RuntimeError: a bug in a future callback") == 1  # once, not per repeat
        assert "Traceback" in log and "broken_callback" in log
    finally:
        probe.close()
        stop.set()
        spinner.join(10)
        node.on_shutdown(None)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
