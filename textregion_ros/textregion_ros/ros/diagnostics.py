"""/diagnostics messages from the node's health verdict (runtime/health.py holds the logic), and the
node's report on itself (NodeReport: problems, callback errors, the duplicate-name check)."""
from __future__ import annotations

from typing import Any, Mapping, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.exceptions import InvalidHandle

from ..objects.persistent_memory import PersistentMemory, store_level
from ..runtime import health
from ..runtime.callback_errors import CallbackErrors
from ..runtime.health import FrameHealth, ProblemLog

LEVELS = {health.OK: DiagnosticStatus.OK, health.WARN: DiagnosticStatus.WARN, health.ERROR: DiagnosticStatus.ERROR}


def status_message(name: str, hardware_id: str, level: int, message: str, values: dict[str, str],
                   stamp) -> DiagnosticArray:
    """One DiagnosticStatus (level from runtime.health) with the values as KeyValues."""
    status = DiagnosticStatus(level=LEVELS[level], name=name, message=message, hardware_id=hardware_id)
    status.values = [KeyValue(key=key, value=str(value)) for key, value in values.items()]
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array


def other_nodes_named_like(node) -> bool:
    """Whether the ROS graph holds another node of this node's name and namespace: ROS 2 does not stop a
    second one, whose outputs then mix with this one's (its own tools only warn)."""
    name, namespace = node.get_name(), node.get_namespace()
    return sum(1 for other, ns in node.get_node_names_and_namespaces() if other == name and ns == namespace) > 1


class NodeReport:
    """What the node says about itself: its problems (each kind logged once, all counted), the exceptions
    callbacks raised, the duplicate-name check and the /diagnostics message built from them."""

    def __init__(self, node: Any, health: FrameHealth) -> None:
        self._node = node
        self._health = health  # the one set of frame counters (the frame worker ticks it)
        self.problems = ProblemLog()
        # exceptions the executor loop caught (node_main.spin_guarded): logged once, counted
        self.callback_errors = CallbackErrors(self.problems, node.get_logger().error)
        self._duplicate_said = False
        self._publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def problem(self, key: str, message: str) -> None:
        """A problem of kind `key`: logged the first time, counted every time."""
        if self.problems.report(key, message):
            self._node.get_logger().warning(message + " (further repeats are counted in /diagnostics, not logged)")

    def worker_error(self, error: BaseException, kind: str) -> None:
        """A worker thread's job or frame raised: the node goes on with the next."""
        reason = f"{type(error).__name__}: {error}"
        self.problem(f"worker-{kind}-{type(error).__name__}-{str(error)[:60]}",
                     f"processing failed ({kind}): {reason}; continuing with the next frame")

    def duplicate_name(self) -> str:
        """This node's full name when another node in the graph has it too ('' otherwise); said once in the log.

        Checked at activation and with every /diagnostics: ROS 2 does not stop a second node of the same
        name, whose outputs then mix with this one's (its own tools only warn, as this does)."""
        node = self._node
        duplicate = node.get_fully_qualified_name() if other_nodes_named_like(node) else ""
        if duplicate and not self._duplicate_said:
            node.get_logger().error(f"another node named {duplicate} is running: every output is published twice and "
                                    f"services reach only one of the two (rename or stop one)")
        self._duplicate_said = bool(duplicate)
        return duplicate

    def publish(self, state: str, values: dict[str, str], pending: tuple[str, ...], rate_cap_hz: float,
                persistence: Optional[PersistentMemory], refused_calls: int) -> None:
        """One /diagnostics message: the verdict on the frame counters, problems and pending parameters,
        with the node's values (`values` first, then the counters and problems, as keys)."""
        values = {**values, **self._health.values(), "problems": str(self.problems.total),
                  "last_problem": self.problems.last, "callback_errors": str(self.callback_errors.window.total),
                  "service_calls_refused": str(refused_calls)}
        level, message = self._health.assess(state, self.problems.last, pending,
                                             callback_errors=len(self.callback_errors.window.recent()),
                                             rate_cap_hz=rate_cap_hz, duplicate_name=self.duplicate_name())
        level, message = store_level(persistence, level, message)
        node = self._node
        self._publisher.publish(status_message(f"{node.get_name()}: TextRegion", node.get_fully_qualified_name(),
                                               level, message, values, node.get_clock().now().to_msg()))


def matched_endpoints(image_input: Optional[Any], outputs: Mapping[str, Any]) -> dict[str, str]:
    """What the node's endpoints have matched, as the node sees it (DDS matches each side on its own):
    image_publishers, the publishers its image subscription hears (0 while inactive); outputs_subscribed,
    each output with subscribers and how many ("labels:1, ..."), the only ones it computes. A camera or a
    client that must not lose its first frame waits for these, then sends once."""
    try:
        publishers = image_input.get_publisher_count() if image_input is not None else 0
        subscribed = {name: publisher.get_subscription_count() for name, publisher in outputs.items()}
    except InvalidHandle:  # a transition destroyed them meanwhile: the next status says
        return {}
    return {"image_publishers": str(publishers),
            "outputs_subscribed": ", ".join(f"{name}:{count}" for name, count in subscribed.items() if count)}
