"""One rclpy client of a textregion node, for the tests, the benchmarks and the demo.

Everything that talks to a running node from another process goes through `NodeClient`, so the
ways of doing it that matter are written once:
  - it re-checks that DDS is confined to this machine (tooling/local_dds.py) before rclpy starts;
  - it has its own rclpy Context and SingleThreadedExecutor, so several clients (or a node run in
    the same process) do not share rclpy's global state, and closing one leaves the others running;
  - the node's outputs are subscribed by the outputs table (ros/frame_messages.OUTPUTS: message
    type and QoS), so a client never re-types a topic's type or its reliability / durability;
  - it waits for the graph to match a publisher or subscription before traffic that must arrive
    (a frame published before the node's subscription matched is simply lost);
  - service calls and waits have timeouts and raise ClientTimeout naming what was waited for.
The executor is spun by the caller's thread (spin_once / spin_for / spin_until / poll_until): callbacks, and so
the lists and dicts they fill, change only while the caller spins, never under its feet.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable, Optional, Union

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.client import Client
from rclpy.context import Context
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from rclpy.subscription import Subscription
from sensor_msgs.msg import Image

from ..tooling import local_dds
from ..tooling.params_files import NODE_NAME
from .frame_messages import OUTPUTS
from .conversions import stamp

Endpoint = Union[Publisher, Subscription]


class ClientTimeout(TimeoutError):
    """A wait of the client ran out; the message says what it waited for."""


def set_stamp(message: Any, key: int) -> Any:
    """Stamp `message` with the nanosecond `key` (conversions.stamp_ns's inverse); returns the message."""
    message.header.stamp = stamp(key)
    return message


def output_qos(name: str, depth: Optional[int] = None) -> QoSProfile:
    """The QoS of output `name` from the outputs table; `depth` (this side's history) if given.

    Reliability and durability are what matching depends on and always the table's; the history
    depth is local, so a client that lets bursts queue up while it is not spinning asks for more.
    """
    qos = OUTPUTS[name].qos()
    if depth is not None:
        qos.depth = depth
    return qos


class NodeClient:
    """An rclpy node of its own that talks to the textregion node named `node_name`.

    `signal_handlers`: rclpy's SIGINT handling for this client's context (the test default); a
    console program that handles KeyboardInterrupt itself passes False.
    """

    def __init__(self, name: str, node_name: str = NODE_NAME, signal_handlers: bool = True) -> None:
        local_dds.check(os.environ)
        self.node_name = node_name
        self.context = Context()
        options = SignalHandlerOptions.ALL if signal_handlers else SignalHandlerOptions.NO
        rclpy.init(context=self.context, signal_handler_options=options)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.status: dict[str, Any] = {}  # the node's latest /diagnostics status (watch_diagnostics)
        self.statuses = 0  # how many of the node's statuses arrived so far
        self._diagnostics: Optional[Subscription] = None
        self._services: dict[tuple[type, str], Client] = {}

    def __enter__(self) -> "NodeClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Destroy the node and shut this client's context down (idempotent)."""
        self.executor.shutdown()
        self.node.destroy_node()
        if self.context.ok():
            rclpy.shutdown(context=self.context)

    def topic(self, key: str) -> str:
        """The node's own topic or service `key` (its private namespace ~/key)."""
        return f"/{self.node_name}/{key}"

    # -- spinning -------------------------------------------------------------------------------------
    def spin_once(self, timeout: float = 0.01) -> None:
        """Run at most one callback, waiting up to `timeout` s for one (short: time-paced loops keep pace)."""
        self.executor.spin_once(timeout_sec=timeout)

    def spin_for(self, seconds: float, step: float = 0.05) -> None:
        """Spin (callbacks run) for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=min(step, max(0.0, deadline - time.monotonic())))

    def poll_until(self, condition: Callable[[], Any], timeout: float, step: float = 0.05) -> bool:
        """Spin until `condition()` holds: True, or False after `timeout` s (for waits that may fail,
        such as a benchmark frame that then counts as lost)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=step)
        return True

    def spin_until(self, condition: Callable[[], Any], timeout: float, what: str = "", step: float = 0.05) -> None:
        """Spin until `condition()` holds; ClientTimeout naming `what` after `timeout` s."""
        if not self.poll_until(condition, timeout, step):
            raise ClientTimeout(f"timed out after {timeout:.0f} s waiting for {what or condition}")

    # -- topics ---------------------------------------------------------------------------------------
    def publisher(self, msg_type: type, topic: str, qos: Union[QoSProfile, int] = 10) -> Publisher:
        return self.node.create_publisher(msg_type, topic, qos)

    def camera_publisher(self, topic: str, depth: int = 10, msg_type: type = Image,
                         event_callbacks: Optional[PublisherEventCallbacks] = None) -> Publisher:
        """A camera's image publisher, reliable: it matches the node's image subscription whichever
        reliability that has (image_reliability), and a reliable one loses nothing.

        `event_callbacks`: e.g. `matched`, to learn when the node's image subscription has matched."""
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        return self.node.create_publisher(msg_type, topic, qos, event_callbacks=event_callbacks)

    def sensor_publisher(self, msg_type: type, topic: str) -> Publisher:
        """A publisher with the sensor-data QoS (best effort) a camera driver's depth and camera_info have."""
        return self.node.create_publisher(msg_type, topic, qos_profile_sensor_data)

    def collect(self, msg_type: type, topic: str, qos: Union[QoSProfile, int] = 10) -> list:
        """Subscribe and return the list that received messages are appended to."""
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def subscribe_output(self, name: str, callback: Callable[[Any], None],
                         depth: Optional[int] = None) -> Subscription:
        """Subscribe `callback` to the node's output `name` with the outputs table's type and QoS."""
        return self.node.create_subscription(OUTPUTS[name].message_type, self.topic(name), callback,
                                             output_qos(name, depth))

    def collect_outputs(self, names: Iterable[str], depth: Optional[int] = None) -> dict[str, list]:
        """Subscribe to each output in `names` (outputs table); name -> list of its received messages."""
        received: dict[str, list] = {}
        for name in names:
            received[name] = []
            self.subscribe_output(name, received[name].append, depth)
        return received

    def destroy(self, endpoint: Endpoint) -> None:
        """Remove a subscription or publisher of this client (the node stops computing what nobody wants)."""
        if isinstance(endpoint, Publisher):
            self.node.destroy_publisher(endpoint)
        else:
            self.node.destroy_subscription(endpoint)

    # -- the graph ------------------------------------------------------------------------------------
    @staticmethod
    def matched(*endpoints: Endpoint) -> bool:
        """Whether each publisher has a subscriber and each subscription a publisher (all matched)."""
        return all((e.get_subscription_count() if isinstance(e, Publisher) else e.get_publisher_count()) > 0
                   for e in endpoints)

    def wait_matched(self, endpoints: Iterable[Endpoint], timeout: float, what: str = "") -> None:
        """Spin until every endpoint has matched (matched()); ClientTimeout naming `what` otherwise."""
        endpoints = tuple(endpoints)
        self.spin_until(lambda: self.matched(*endpoints), timeout, what or "the node to match our endpoints")

    # -- services -------------------------------------------------------------------------------------
    def service(self, srv_type: type, name: str) -> Client:
        """A service client kept for this client's lifetime (one per type and name)."""
        key = (srv_type, name)
        if key not in self._services:
            self._services[key] = self.node.create_client(srv_type, name)
        return self._services[key]

    def call(self, srv_type: type, name: str, request: Any, timeout: float = 30.0) -> Any:
        """Call service `name` once it is available: the response, or ClientTimeout after `timeout` s.

        A fresh rclpy client per call, destroyed after it: a call never receives an answer meant for
        an earlier, timed-out one.
        """
        client = self.node.create_client(srv_type, name)
        try:
            self.spin_until(client.service_is_ready, timeout, f"service {name}")
            future = client.call_async(request)
            self.spin_until(future.done, timeout, f"response of {name}")
            return future.result()
        finally:
            self.node.destroy_client(client)

    # -- diagnostics ----------------------------------------------------------------------------------
    def watch_diagnostics(self) -> None:
        """Keep the node's latest /diagnostics status in `status` (its values, plus `_level` and
        `_message`) and count them in `statuses`; statuses of other nodes are ignored."""
        if self._diagnostics is None:
            self._diagnostics = self.node.create_subscription(DiagnosticArray, "/diagnostics",
                                                              self._on_diagnostics, 10)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.hardware_id == f"/{self.node_name}":
                self.status = {kv.key: kv.value for kv in status.values} | {"_level": status.level,
                                                                             "_message": status.message}
                self.statuses += 1

    def fresh_status(self, timeout: float = 5.0) -> dict[str, Any]:
        """A status of the node published after this call (watch_diagnostics first); ClientTimeout if none."""
        seen = self.statuses  # the first one to arrive may have been published before this call
        self.spin_until(lambda: self.statuses > seen + 1, timeout, "fresh diagnostics of the node")
        return self.status
