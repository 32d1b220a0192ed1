"""/diagnostics messages from the node's health verdict (runtime/health.py holds the logic)."""
from __future__ import annotations

from typing import Any, Mapping, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.exceptions import InvalidHandle

from ..runtime import health

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


def matched_endpoints(image_input: Optional[Any], outputs: Mapping[str, Any]) -> dict[str, str]:
    """What the node's endpoints have matched, as the node sees it (DDS matches each side on its own):
    image_publishers, the publishers its image subscription hears (0 while inactive); outputs_subscribed,
    each output with subscribers and how many ("labels:1, ..."), the only ones it computes. A camera or a client that must not lose
    its first frame waits for these, then sends once."""
    try:
        publishers = image_input.get_publisher_count() if image_input is not None else 0
        subscribed = {name: publisher.get_subscription_count() for name, publisher in outputs.items()}
    except InvalidHandle:  # a transition destroyed them meanwhile: the next status says
        return {}
    return {"image_publishers": str(publishers),
            "outputs_subscribed": ", ".join(f"{name}:{count}" for name, count in subscribed.items() if count)}
