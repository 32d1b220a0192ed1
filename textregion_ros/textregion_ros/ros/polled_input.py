"""Subscriptions that no executor waits on: DDS keeps the last messages, the frame worker takes them.

Why (measured, docs/benchmarks/side_rate_cpu.txt): depth and camera_info arrive at the camera's rate
(30 Hz each, 60 messages a second) while a few frames a second are processed. With ordinary
subscriptions, every message wakes rclpy's executor, whose wait-set rebuild, dispatch to a pool thread
and callback run in Python under the GIL; each wake-up takes the GIL from the frame worker between two
torch ops and, on a loaded machine, holds it until the woken threads get a CPU. Frames then took up
to 2-3 times as long and were dropped as superseded, however cheap the callbacks were. Here the
messages cost no Python at all while they arrive: the DDS reader's history (KEEP_LAST `depth`) is the
buffer, and the worker drains it, still serialized, once per processed frame (and /diagnostics once a
second); only the message a frame is paired with is deserialized.

The subscriptions live on a companion node (`<node>_side_inputs`, no parameter services, no rosout)
that is never added to an executor; topic names are resolved by the main node, so its remappings hold.
"""
from __future__ import annotations

import struct
import threading
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message


def companion_node(node: Any, suffix: str = "side_inputs") -> Node:
    """A node in `node`'s context and namespace that no executor spins (its subscriptions are polled)."""
    return Node(f"{node.get_name()}_{suffix}", namespace=node.get_namespace(), context=node.context,
                use_global_arguments=False, start_parameter_services=False, enable_rosout=False)


def header_stamp_ns(serialized: bytes) -> int:
    """The header stamp (ns) of a serialized message that starts with a std_msgs/Header (CDR, either
    byte order), read without deserializing it: 4 bytes of encapsulation, then int32 sec, uint32 nanosec."""
    if len(serialized) < 12:
        raise ValueError(f"a serialized message of {len(serialized)} bytes has no header")
    order = "<" if serialized[1] & 1 else ">"  # encapsulation kind: odd = little-endian
    sec, nanosec = struct.unpack_from(order + "iI", serialized, 4)
    return sec * 1_000_000_000 + nanosec


class PolledSubscription:
    """A raw subscription on a companion node; `take()` drains what DDS kept since the last call."""

    def __init__(self, node: Node, msg_type: type, topic: str, qos: QoSProfile) -> None:
        self.msg_type = msg_type
        self._lock = threading.Lock()
        self._subscription = node.create_subscription(msg_type, topic, _never_called, qos, raw=True)

    def take(self) -> list[tuple[bytes, int]]:
        """(serialized message, received time in ns of the system clock) of every kept message, oldest first."""
        taken = []
        with self._lock, self._subscription.handle:
            while True:
                result = self._subscription.handle.take_message(self.msg_type, True)
                if result is None:
                    return taken
                serialized, info = result
                taken.append((serialized, int(info.get("received_timestamp") or 0)))

    def deserialize(self, serialized: bytes) -> Any:
        return deserialize_message(serialized, self.msg_type)


def _never_called(msg: Any) -> None:  # the companion node is never spun
    raise AssertionError("a polled subscription's callback ran: its node was added to an executor")
