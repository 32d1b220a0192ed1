"""A running textregion node (child process) and a probe node that talks to it over real DDS.

The probe is the package's client harness (ros/client.py, as TestNode); this adds what only the
tests need on top: the session's subscriptions and publishers, parameters, lifecycle, counters."""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator, Optional

import numpy as np
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String
from textregion_msgs.srv import Query, SetQueries

from ros_harness import TestNode, node_process
from textregion_ros.tooling.params_files import NODE_NAME
from textregion_ros.ros.client import output_qos
from textregion_ros.ros.frame_messages import OUTPUTS
from textregion_ros.tooling.node_command import CONFIGURE_FAILED
from textregion_ros.ros.image_conversions import numpy_to_imgmsg

LATCHED = output_qos("label_info")  # the node's latched QoS (reliable, transient local, depth 1)
# Camera input and output history: bursts queue up here while a test is not spinning.
HISTORY_DEPTH = 50
RELIABLE = QoSProfile(depth=HISTORY_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
# The outputs every session subscribes to (so the node computes each); types and QoS from the table.
SESSION_OUTPUTS = ("detections", "labels", "confidence", "overlay", "region_tokens")
OUTPUT_TYPES = {name: OUTPUTS[name].message_type for name in SESSION_OUTPUTS}
CAMERA_TOPIC = "/camera/image"


class NodeSession:
    """The node under test plus subscriptions to everything it publishes."""

    def __init__(self, name: str = NODE_NAME, subscribe_outputs: bool = True,
                 ignored_signals: tuple[int, ...] = (), in_process: bool = False, camera_topic: str = CAMERA_TOPIC,
                 **parameters: Any) -> None:
        """`in_process`: the node runs in this process (InProcessNode: its models within the test's reach);
        `camera_topic`: where `image` is remapped to (another than a session beside it uses keeps their
        frames apart)."""
        self.name = name
        remaps = {"image": camera_topic}
        if in_process:
            from in_process_node import InProcessNode  # imports the node (and its models' code) only here

            self.child: Any = InProcessNode(name, remaps, **parameters)
        else:
            self.child = node_process(name, remaps=remaps, ignored_signals=ignored_signals, **parameters)
        self.probe = TestNode(f"probe_{name}", node_name=name)
        self.outputs: dict[str, list] = {}
        if subscribe_outputs:
            self.outputs = self.probe.collect_outputs(SESSION_OUTPUTS, depth=HISTORY_DEPTH)
        self.label_info = self.probe.collect_outputs(["label_info"])["label_info"]
        self.probe.watch_diagnostics()
        self.camera_topic = camera_topic
        # per camera publisher (id): its matches with image subscriptions so far (total_count), and how
        # many it needs before a frame sent once reaches the node (one more after each activation)
        self._camera_matches: dict[int, int] = {}
        self._matches_needed: dict[int, int] = {}
        self._generation = 0  # bumped by lifecycle transitions and new subscriptions: listening is checked anew
        self._listening: Optional[tuple[int, int, frozenset]] = None
        self.camera = self.camera_publisher()
        self.queries_topic = self.probe.node.create_publisher(String, "queries", LATCHED)

    def camera_publisher(self, msg_type: type = Image, topic: Optional[str] = None) -> Any:
        """A camera publisher (reliable, the session's history depth) whose matches with the node's image
        subscription the session counts, so wait_listening() knows when a frame sent once arrives."""
        key: list[int] = []

        def on_matched(info: Any) -> None:
            self._camera_matches[key[0]] = max(self._camera_matches[key[0]], info.total_count)

        publisher = self.probe.camera_publisher(topic or self.camera_topic, HISTORY_DEPTH, msg_type,
                                                PublisherEventCallbacks(matched=on_matched))
        key.append(id(publisher))  # before any spin: events are delivered by spinning
        self._camera_matches[id(publisher)], self._matches_needed[id(publisher)] = 0, 1
        return publisher

    def topic(self, key: str) -> str:
        return self.probe.topic(key)

    def __enter__(self) -> "NodeSession":
        self.child.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.probe.close()
        self.child.stop()

    # -- waiting ------------------------------------------------------------------------------------
    def spin_until(self, condition, timeout: float, what: str, failure_markers: tuple[str, ...] = ()) -> None:
        """Spin the probe until `condition()`; NodeProcessError (with the node's log) if the node dies first."""
        self.child.wait_until(condition, timeout, what, step=lambda: self.probe.executor.spin_once(timeout_sec=0.05),
                              failure_markers=failure_markers)

    def wait_until_active(self, timeout: float = 120.0) -> None:
        self.spin_until(lambda: self.value("state") == "active", timeout, "the node to become active",
                        failure_markers=(CONFIGURE_FAILED,))

    # -- images ---------------------------------------------------------------------------------------
    def image(self, rgb: np.ndarray, stamp_sec: int, encoding: str = "rgb8", frame_id: str = "camera") -> Image:
        msg = numpy_to_imgmsg(rgb, encoding)
        msg.header.stamp.sec, msg.header.frame_id = stamp_sec, frame_id
        return msg

    def outputs_for(self, stamp_sec: int, keys=tuple(OUTPUT_TYPES),
                    outputs: Optional[dict[str, list]] = None) -> Optional[dict[str, Any]]:
        """The latest output of each of `keys` stamped `stamp_sec`, or None until all are there.

        `outputs`: where the messages are collected (default: the session's own subscriptions).
        """
        outputs = self.outputs if outputs is None else outputs
        found = {}
        for key in keys:
            matches = [m for m in outputs[key] if m.header.stamp.sec == stamp_sec]
            if not matches:
                return None
            found[key] = matches[-1]
        return found

    def process(self, msg: Image, timeout: float = 120.0, keys=tuple(OUTPUT_TYPES),
                outputs: Optional[dict[str, list]] = None) -> dict[str, Any]:
        """Publish `msg` once the node listens (wait_listening), and return the outputs stamped like it."""
        stamp = msg.header.stamp.sec
        self.wait_listening(keys)
        self.camera.publish(msg)
        try:
            self.spin_until(lambda: self.outputs_for(stamp, keys, outputs) is not None, timeout,
                            f"the outputs {', '.join(keys)} of the frame stamped {stamp} (sent once)")
        except Exception as error:  # what the node counted by then says whether the frame arrived
            counts = self.counts(self.status()) if self.status() else "no diagnostics yet"
            raise AssertionError(f"{error}\nthe node's frame counts by then: {counts}") from error
        return self.outputs_for(stamp, keys, outputs)

    def wait_listening(self, keys=(), timeout: float = 60.0) -> None:
        """Until a frame published once on `camera` reaches the node and its `keys` outputs reach us.

        DDS matches each side of a topic on its own, so both sides are checked: ours, the camera's
        matched count (a new match after each activation: the subscription of the last one may still
        count); the node's, its diagnostics (image_publishers: as many as the graph shows on the camera's
        topic; outputs_subscribed: as many subscribers of each of `keys` as the graph shows). Checked
        once per camera, lifecycle transition and set of subscriptions.
        """
        wanted = frozenset(keys)
        camera = id(self.camera)
        state = (camera, self._generation)
        if self._listening is not None and self._listening[:2] == state and wanted <= self._listening[2]:
            return
        # a publisher a test made itself (not camera_publisher()): its current count only
        self.spin_until(lambda: self.camera.get_subscription_count() > 0
                        and self._camera_matches.get(camera, 0) >= self._matches_needed.get(camera, 0), timeout,
                        "the camera publisher to match the node's image subscription")
        topic = self.camera.topic_name

        def node_side(status: dict[str, str]) -> bool:
            subscribers = output_subscribers(status)
            return (int(status.get("image_publishers", "0")) >= max(1, self.probe.node.count_publishers(topic))
                    and all(subscribers.get(key, 0) >= self.probe.node.count_subscribers(self.topic(key))
                            for key in keys))

        self.status_when(node_side, timeout,
                         f"the node to hear the camera and have our {', '.join(keys)} subscriptions")
        self._listening = (*state, wanted)

    @contextlib.contextmanager
    def subscribed(self, keys=tuple(OUTPUT_TYPES)) -> Iterator[dict[str, list]]:
        """Subscribe to the `keys` outputs for the duration of a `with` block (lists of received messages).

        For tests that need outputs nobody else subscribes to (a session with subscribe_outputs=False):
        the node only computes what is subscribed, so the subscriptions end with the block.
        """
        received: dict[str, list] = {key: [] for key in keys}
        subscriptions = [self.probe.subscribe_output(key, received[key].append, HISTORY_DEPTH) for key in keys]
        self._generation += 1
        try:
            yield received
        finally:
            for subscription in subscriptions:
                self.probe.destroy(subscription)
            self._generation += 1

    def wait_for_subscribers(self, keys, count: int, timeout: float = 30.0) -> None:
        """Until the node's diagnostics (outputs_subscribed, the node's own matches) show `count`
        subscribers on each output in `keys`."""
        self.status_when(lambda status: all(output_subscribers(status).get(key, 0) == count for key in keys),
                         timeout, f"the node to see {count} subscriber(s) on {', '.join(keys)}")

    # -- services and parameters -------------------------------------------------------------------
    def set_queries(self, queries: list[str]) -> SetQueries.Response:
        return self.probe.call(SetQueries, self.topic("set_queries"), SetQueries.Request(queries=queries))

    def query(self, queries: list[str], threshold: float = 0.0) -> Query.Response:
        return self.probe.call(Query, self.topic("query"), Query.Request(queries=queries, threshold=threshold))

    def set_parameter(self, name: str, value: Any) -> Any:
        """Like `ros2 param set`: the SetParametersResult."""
        parameter = ParameterMsg(name=name, value=_parameter_value(value))
        response = self.probe.call(SetParameters, self.topic("set_parameters"),
                                   SetParameters.Request(parameters=[parameter]))
        return response.results[0]

    def get_parameter(self, name: str) -> Any:
        response = self.probe.call(GetParameters, self.topic("get_parameters"), GetParameters.Request(names=[name]))
        value = response.values[0]
        return {ParameterType.PARAMETER_STRING_ARRAY: lambda: list(value.string_array_value),
                ParameterType.PARAMETER_INTEGER_ARRAY: lambda: list(value.integer_array_value),
                ParameterType.PARAMETER_STRING: lambda: value.string_value,
                ParameterType.PARAMETER_DOUBLE: lambda: value.double_value,
                ParameterType.PARAMETER_INTEGER: lambda: value.integer_value,
                ParameterType.PARAMETER_BOOL: lambda: value.bool_value}[value.type]()

    def lifecycle(self, transition: int) -> bool:
        """Request a lifecycle transition; whether it succeeded. After an activation, a frame is sent only
        once the camera has matched the new image subscription (one more match than before it)."""
        request = ChangeState.Request()
        request.transition.id = transition
        matches = dict(self._camera_matches)
        success = self.probe.call(ChangeState, self.topic("change_state"), request, timeout=180.0).success
        self._generation += 1
        if success and transition == Transition.TRANSITION_ACTIVATE:
            self._matches_needed.update({camera: count + 1 for camera, count in matches.items()})
        return success

    def lifecycle_state(self) -> str:
        return self.probe.call(GetState, self.topic("get_state"), GetState.Request()).current_state.label

    # -- diagnostics -----------------------------------------------------------------------------------
    def status(self) -> dict[str, str]:
        """Values of the node's latest diagnostics status ({} before the first)."""
        return dict(self.probe.status)

    def value(self, key: str) -> str:
        return self.status().get(key, "")

    def fresh_status(self, timeout: float = 5.0) -> dict[str, str]:
        """The next diagnostics status published from now on."""
        count = self.probe.statuses  # the first to arrive may have been published before this call
        self.spin_until(lambda: self.probe.statuses > count + 1, timeout, "fresh diagnostics")
        return self.status()

    def status_when(self, condition: Callable[[dict[str, str]], bool], timeout: float, what: str,
                    step: Optional[Callable[[], None]] = None) -> dict[str, str]:
        """The first diagnostics status (from now on) for which `condition(status)` holds.

        `step` runs between checks (e.g. publishing a frame), so a test can keep input flowing while it waits.
        """
        seen = self.probe.statuses

        def ready() -> bool:
            if step is not None:
                step()
            if self.probe.statuses == seen:
                return False
            return condition(self.status())

        self.spin_until(ready, timeout, what)
        return self.status()

    def publish_until(self, msg: Image, condition: Callable[[dict[str, str]], bool], timeout: float, what: str,
                      every: float = 3.0) -> dict[str, str]:
        """Publish `msg` on the camera every `every` s until a diagnostics status satisfies `condition`; that status.

        The node takes images best-effort: one message may be lost, so input that must arrive (a
        frame to have in flight, a steady stream of bad frames) is sent until the node says so.
        """
        last_sent = [float("-inf")]

        def send() -> None:
            if time.monotonic() - last_sent[0] >= every:
                self.camera.publish(msg)
                last_sent[0] = time.monotonic()

        return self.status_when(condition, timeout, what, step=send)

    def counts(self, status: Optional[dict[str, str]] = None) -> dict[str, int]:
        """The frame counters of a status (default: a fresh one): received, processed, rejected, dropped, failed."""
        status = status if status is not None else self.fresh_status()
        return {key[len("frames_"):]: int(value) for key, value in status.items() if key.startswith("frames_")}

    # -- the process -------------------------------------------------------------------------------------
    def rss_mib(self) -> float:
        """Resident memory of the node process (VmRSS), in MiB."""
        with open(f"/proc/{self.child.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        raise AssertionError(f"no VmRSS for the node process {self.child.pid}")


def output_subscribers(status: dict[str, str]) -> dict[str, int]:
    """The node's own count of subscribers per output (diagnostics outputs_subscribed, "name:count, ...")."""
    entries = [entry.split(":") for entry in status.get("outputs_subscribed", "").split(", ") if entry]
    return {name: int(count) for name, count in entries}


def _parameter_value(value: Any) -> ParameterValue:
    if isinstance(value, bool):
        return ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    if isinstance(value, int):
        return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    if isinstance(value, str):
        return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    if list(value) and all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return ParameterValue(type=ParameterType.PARAMETER_INTEGER_ARRAY, integer_array_value=list(value))
    return ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=list(value))


TRANSITIONS = {name: getattr(Transition, f"TRANSITION_{name.upper()}") for name in
               ("configure", "activate", "deactivate", "cleanup", "unconfigured_shutdown")}
