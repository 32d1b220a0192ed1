"""A model call that raises inside the running node is reported once; the node goes on.

The node runs in this process (real rclpy, real models) so the test can make the real SAM2
image encoder raise, as a CUDA out-of-memory error would.
"""
from __future__ import annotations

import threading

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from engine_fixtures import photo_like
from node_session import RELIABLE
from ros_harness import NODE_TEST_OVERRIDES, TestNode, node_ros_args
from textregion_ros.ros.image_conversions import numpy_to_imgmsg
from textregion_ros.ros.node import TextRegionNode


def test_a_model_call_that_raises_is_logged_once_and_the_next_frame_is_processed(capfd):
    context = Context()
    rclpy.init(context=context, args=node_ros_args())  # the params files the node tests use
    overrides = [Parameter(k, value=v) for k, v in {**NODE_TEST_OVERRIDES, "queries": ["red mug", "chair"]}.items()]
    node = TextRegionNode("textregion_inproc", context=context, parameter_overrides=overrides)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    probe = TestNode("probe_inproc")
    try:
        probe.spin_until(lambda: node.state_label() == "active", 120, "the in-process node to activate")
        failures = {"left": 2}

        def out_of_memory(module, args):
            if failures["left"] > 0:
                failures["left"] -= 1
                raise RuntimeError("simulated CUDA out of memory in the SAM2 image encoder")

        hook = node._models.engine.masks.model.image_encoder.register_forward_pre_hook(out_of_memory)
        labels = probe.collect(Image, "/textregion_inproc/labels", RELIABLE)
        camera = probe.node.create_publisher(Image, "/textregion_inproc/image_in", RELIABLE)
        node.destroy_subscription(node._inputs[0])  # listen on a topic this test alone publishes
        node._inputs[0] = node.create_subscription(Image, "/textregion_inproc/image_in", node._loop.on_image, RELIABLE)

        def publish(stamp):
            msg = numpy_to_imgmsg(photo_like(48, 64), "rgb8")
            msg.header.stamp.sec = stamp
            camera.publish(msg)

        for stamp in (1, 2):  # both fail inside the model
            publish(stamp)
            probe.spin_until(lambda: node._loop.worker.counts.failed >= stamp, 60, f"failure {stamp}")  # noqa: B023
        while not labels:
            publish(3)
            probe.spin_for(1.0)
            assert node._loop.worker.counts.processed < 20, "the node never produced outputs after the failure"
        hook.remove()
        assert labels[-1].header.stamp.sec == 3
        assert node._loop.worker.counts.failed == 2
        captured = capfd.readouterr()
        assert (captured.out + captured.err).count("simulated CUDA out of memory") == 1
    finally:
        probe.close()
        node.on_shutdown(None)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
