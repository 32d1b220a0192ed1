"""What the node listens with: the QoS of its image input, its queries topic and its services' requests.

Service requests: rclpy's default service QoS keeps the last 10 requests (KEEP_LAST, depth 10), so
a client that sends more at once than the node answers in the meantime loses the older ones in the
node's request reader and waits forever for their replies (an outside client saw 10-13 of 200
~/find calls answered). The node's services use the depth of rclpy's own parameter services
instead, 1000 (rclpy.qos.qos_profile_parameters): a burst such as a planner asking about every
object class at once, or 20 clients x 10 calls, fits with room to spare, and a queued request costs
about its own size (a few hundred bytes for a few phrases), so even a full queue is well under
1 MB. Reliable and volatile like the default: no answer goes to a client that was not there to ask.
A client that sends bursts needs a reply queue as deep (qos_profile=qos_profile_parameters), or it
drops the replies itself.
"""
from __future__ import annotations

from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSPolicyKind, QoSProfile, ReliabilityPolicy

from .frame_messages import OUTPUTS

SERVICE_REQUEST_DEPTH = 1000
SERVICE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=SERVICE_REQUEST_DEPTH,
                         reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)

# The queries input: reliable and transient local, so a query published before the node started arrives.
QUERIES_INPUT = OUTPUTS["label_info"].qos()


def image_input_qos(reliability: str) -> QoSProfile:
    """SensorDataQoS (volatile, shallow) with the configured reliability."""
    policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2, reliability=policy,
                      durability=DurabilityPolicy.VOLATILE)


def incompatible_image_qos(info: Any, reliability: str) -> tuple[str, str]:
    """(policy name, the problem to report) for a publisher on `image` this subscription can never hear
    (rclpy's QoSRequestedIncompatibleQoSInfo), with `reliability` the image_reliability in force."""
    policy = QoSPolicyKind(info.last_policy_kind).name
    return policy, (f"image subscription ({reliability}) is incompatible with a publisher's {policy} policy "
                    f"({info.total_count} publisher(s)); its frames never arrive"
                    + ("; a best-effort camera needs image_reliability: best_effort" if policy == "RELIABILITY"
                       else ""))

