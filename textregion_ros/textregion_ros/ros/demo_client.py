"""The demo's ROS side: its camera and the node's outputs, read back as plain arrays and records.

`textregion-demo` (demo.py) stays free of rclpy and message packages: it hands photos to
DemoClient and writes files from what `take` returns. The outputs it waits for are the outputs
table's 2D frame outputs (ros/frame_messages.py: FRAME_OUTPUTS without the 3D ones, which need
depth), subscribed with the table's types and QoS through the client harness (ros/client.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
from std_msgs.msg import Header

from .client import NodeClient
from .conversions import stamp_ns
from .frame_messages import FRAME_OUTPUTS, SPATIAL_OUTPUTS
from .image_conversions import imgmsg_to_numpy, numpy_to_imgmsg

DEMO_OUTPUTS = tuple(name for name in FRAME_OUTPUTS if name not in SPATIAL_OUTPUTS)


@dataclass(frozen=True)
class DetectionSeen:
    """One detection of ~/detections, as the demo records it."""

    query: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    instance: int  # the region's 1-based instance id (0 when the id is not a number)
    area: int  # the region's pixel count from ~/region_tokens (0 when unknown)


@dataclass(frozen=True)
class FrameOutputs:
    """One frame's outputs: the images as arrays, the detections and the region summary."""

    overlay: np.ndarray  # [H, W, 3] uint8 RGB
    labels: np.ndarray  # [H, W] label image as published
    confidence: np.ndarray  # [H, W] confidence image as published
    detections: list[DetectionSeen]
    regions: int
    model: str
    arrived: float  # monotonic time the frame's last output arrived


class DemoClient(NodeClient):
    """Publishes the camera frames and collects the node's outputs by header stamp.

    rclpy's SIGINT handling is off: the demo handles Ctrl-C itself and stops the node cleanly.
    """

    def __init__(self, image_topic: str, frame_id: str) -> None:
        super().__init__("textregion_demo", signal_handlers=False)
        self.frame_id = frame_id
        self.camera = self.camera_publisher(image_topic)
        self.received: dict[int, dict[str, Any]] = {}  # stamp (ns) -> output name -> message
        self.arrival: dict[int, float] = {}  # stamp (ns) -> when its latest output arrived
        self.label_info: Optional[Any] = None
        self.subscriptions = [self.subscribe_output(name, self._collector(name)) for name in DEMO_OUTPUTS]
        self.subscribe_output("label_info", self._on_label_info)

    def _collector(self, name: str) -> Callable[[Any], None]:
        def collect(msg: Any) -> None:
            key = stamp_ns(msg.header)
            self.received.setdefault(key, {})[name] = msg
            self.arrival[key] = time.monotonic()
        return collect

    def _on_label_info(self, msg: Any) -> None:
        self.label_info = msg

    def classes(self) -> Optional[list[str]]:
        """The class names of the latest ~/label_info, in class-id order (None before the first)."""
        return None if self.label_info is None else [c.class_name for c in self.label_info.class_map]

    def connected(self) -> bool:
        """Whether the node's image subscription and every output publisher matched ours."""
        return self.matched(self.camera, *self.subscriptions)

    def publish(self, rgb: np.ndarray) -> int:
        """Publish an RGB frame stamped with this client's clock now; the stamp (ns)."""
        header = Header(stamp=self.node.get_clock().now().to_msg(), frame_id=self.frame_id)
        self.camera.publish(numpy_to_imgmsg(rgb, "rgb8", header))
        return stamp_ns(header)

    def complete(self, key: int) -> bool:
        """Whether every demo output stamped `key` has arrived."""
        return set(DEMO_OUTPUTS) <= set(self.received.get(key, {}))

    def take(self, key: int) -> FrameOutputs:
        """The outputs stamped `key` (complete first), removed from what is kept."""
        got = self.received.pop(key)
        arrived = self.arrival.pop(key)
        tokens = got["region_tokens"]
        areas = list(tokens.areas)
        return FrameOutputs(
            overlay=np.array(imgmsg_to_numpy(got["overlay"], "rgb8")),
            labels=np.array(imgmsg_to_numpy(got["labels"])),
            confidence=np.array(imgmsg_to_numpy(got["confidence"])),
            detections=[_detection(d, areas) for d in got["detections"].detections],
            regions=int(tokens.region_count), model=str(tokens.model), arrived=arrived)


def _detection(detection: Any, areas: list[int]) -> DetectionSeen:
    """A vision_msgs/Detection2D as the demo records it (best hypothesis, corner box, region area)."""
    hypothesis = detection.results[0].hypothesis if detection.results else None
    bbox = detection.bbox
    cx, cy = bbox.center.position.x, bbox.center.position.y
    box = (cx - bbox.size_x / 2, cy - bbox.size_y / 2, cx + bbox.size_x / 2, cy + bbox.size_y / 2)
    instance = int(detection.id) if detection.id.isdigit() else 0
    area = int(areas[instance - 1]) if 0 < instance <= len(areas) else 0
    return DetectionSeen(query=hypothesis.class_id if hypothesis else "",
                         score=float(hypothesis.score) if hypothesis else 0.0, box=box, instance=instance, area=area)
