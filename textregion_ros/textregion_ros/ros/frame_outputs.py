"""The node's frame outputs: its lifecycle publishers, the latest frame, and one frame's messages published.

Why an object of its own: the frame worker, the host stage, a query switch (LabelInfo, then the latest
frame again), ~/query and /diagnostics all read the latest frame or publish through these publishers;
here they share one lock and one way to publish.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from std_msgs.msg import Header

from ..engine import QuerySet
from ..perception import FramePipeline, ObservedFrame
from . import conversions
from .frame_messages import FRAME_OUTPUTS, OUTPUTS, frame_messages


@dataclass
class LatestFrame:
    """The node's latest observed frame with its header: ~/query answers on it, query switches republish it."""

    header: Header
    received: float  # monotonic time the frame was handed to the worker
    observed: ObservedFrame


class FrameOutputs:
    """Publishers of every output (created at configure, destroyed at cleanup) and the latest frame."""

    def __init__(self, node: Any, value: Callable[[str], Any]) -> None:
        self._node = node
        self._value = value
        self._lock = threading.Lock()
        self._latest: Optional[LatestFrame] = None
        self._publishers: dict[str, Any] = {}
        self.stage_ms: dict[str, float] = {}  # the latest frame's stage times, for /diagnostics

    def create(self) -> None:
        """The lifecycle publishers of every output (they publish once the node is active)."""
        self._publishers = {name: self._node.create_lifecycle_publisher(output.message_type, f"~/{name}", output.qos())
                            for name, output in OUTPUTS.items()}

    def destroy(self) -> None:
        """The publishers go and the latest frame is forgotten (cleanup)."""
        for publisher in self._publishers.values():
            self._node.destroy_lifecycle_publisher(publisher)
        self._publishers = {}
        with self._lock:
            self._latest = None

    @property
    def latest(self) -> Optional[LatestFrame]:
        with self._lock:
            return self._latest

    def keep(self, frame: LatestFrame) -> None:
        """`frame` is the latest from now on (~/query answers on it, a switch republishes it)."""
        with self._lock:
            self._latest = frame

    def wanted(self) -> set[str]:
        """Frame outputs someone subscribes to and whose switch is on: nothing else is computed."""
        wanted = set()
        for name in FRAME_OUTPUTS:
            publisher, switch = self._publishers.get(name), OUTPUTS[name].switch
            if publisher is not None and (not switch or self._value(switch)) and publisher.get_subscription_count():
                wanted.add(name)
        return wanted

    def publish_frame(self, pipeline: Optional[FramePipeline], frame: LatestFrame, queries: QuerySet,
                      label_values: tuple[int, ...], republish: bool = False) -> None:
        """`frame`'s wanted products for `queries`, as messages; its stage times kept for /diagnostics."""
        if pipeline is None:
            return
        started = time.perf_counter()
        wanted = self.wanted()
        result = pipeline.describe(frame.observed, queries, wanted, label_values)
        for name, msg in frame_messages(result, frame.header, wanted).items():
            self._publishers[name].publish(msg)
        stage_ms = {name: 1000.0 * s for name, s in result.seconds.items()}
        stage_ms["outputs"] = 1000.0 * (time.perf_counter() - started)  # text + painting + messages
        if republish:  # new queries on the same frame: its receipt-to-output latency stays the frame's own
            stage_ms["total_since_receipt"] = self.stage_ms.get("total_since_receipt", 0.0)
        else:
            stage_ms["total_since_receipt"] = 1000.0 * (time.monotonic() - frame.received)
        self.stage_ms = stage_ms

    @property
    def publishers(self) -> dict[str, Any]:
        """The output publishers by output name (empty while not configured)."""
        return dict(self._publishers)

    def diagnostics(self) -> dict[str, str]:
        """The latest frame's region-prompt counts and stage times."""
        latest = self.latest
        prompts = latest.observed.regions.prompts if latest is not None else None
        return {**(prompts.diagnostics() if prompts is not None else {}),
                **{f"latency_ms_{name}": f"{ms:.1f}" for name, ms in self.stage_ms.items()}}

    def publish_camera_info(self, info: Any) -> None:
        """~/camera_info: the colour camera's, stamped like ~/labels."""
        self._publishers["camera_info"].publish(info)

    def publish_label_info(self, queries: QuerySet, label_values: tuple[int, ...]) -> None:
        """~/label_info for the queries in force, in the latest frame's frame id."""
        publisher = self._publishers.get("label_info")
        if publisher is None:
            return
        latest = self.latest
        header = Header(stamp=self._node.get_clock().now().to_msg(), frame_id=latest.header.frame_id if latest else "")
        publisher.publish(conversions.label_info(queries.classes, header, float(self._value("prob_threshold")),
                                                 label_values))
