"""A full lifecycle cycle leaves nothing holding the models: after cleanup the engine, its SAM2 and CLIP
models, the pipeline and the workers are garbage, so a node cycled for hours does not grow by a model
set per cycle (a cache keyed on the engine, a callback or thread keeping a worker, would keep them).

In-process (real rclpy, real models with random weights): the test holds weak references only, and
frames and service calls go through the node's own callbacks, as the executor would call them.
"""
from __future__ import annotations

import gc
import threading
import time
import weakref

import rclpy
from rclpy.context import Context
from rclpy.parameter import Parameter
from textregion_msgs.srv import Find, Query, SetQueries

from engine_fixtures import photo_like
from ros_harness import NODE_TEST_OVERRIDES, node_ros_args
from textregion_ros.ros.image_conversions import numpy_to_imgmsg
from textregion_ros.ros.node import TextRegionNode


def wait_until(condition, timeout: float, what: str) -> None:
    """Poll a counter the worker thread advances (no executor runs here)."""
    deadline, tick = time.monotonic() + timeout, threading.Event()
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        tick.wait(0.02)


def test_a_configure_activate_work_deactivate_cleanup_cycle_leaves_no_reference_to_the_models():
    context = Context()
    rclpy.init(context=context, args=node_ros_args())
    overrides = [Parameter(k, value=v) for k, v in {**NODE_TEST_OVERRIDES, "autostart": False,
                                                     "queries": ["red mug"]}.items()]
    node = TextRegionNode("textregion_cycle_release", context=context, parameter_overrides=overrides)
    try:
        node.trigger_configure()
        node.trigger_activate()
        engine = node._models.engine
        held = {"engine": weakref.ref(engine), "sam2": weakref.ref(engine.masks.model),
                "pipeline": weakref.ref(node._loop.pipeline), "worker": weakref.ref(node._loop.worker),
                "text worker": weakref.ref(node._queries.text_worker), "host stage": weakref.ref(node._loop.host)}
        del engine
        msg = numpy_to_imgmsg(photo_like(32, 48), "rgb8")
        msg.header.stamp.sec, msg.header.frame_id = 1, "camera"
        node._loop.on_image(msg)
        wait_until(lambda: node._loop.worker.counts.processed >= 1, 60, "the frame processed")
        assert node._calls.on_query(Query.Request(queries=["chair"]), Query.Response()).success
        assert node._calls.on_find(Find.Request(queries=["red mug"]), Find.Response()).message
        request = SetQueries.Request(queries=["red mug", "chair"])
        assert node._calls.on_set_queries(request, SetQueries.Response()).success
        node.trigger_deactivate()
        node.trigger_cleanup()
        gc.collect()
        assert [name for name, ref in held.items() if ref() is not None] == []
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
