"""The benchmarks' side of a node run over real DDS: the settings a benchmark starts the node with
(--preset, the queries, --device, -p NAME=VALUE, validated as the node would) and the probe that
publishes frames and times their detections. node_latency and soak use both.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Optional

from textregion_ros.cli.settings import Settings, parse_assignment, resolve_settings, typed_value
from textregion_ros.ros.client import NodeClient, set_stamp
from textregion_ros.ros.conversions import stamp_ns
from textregion_ros.tooling.small_models import RANDOM_WEIGHTS

from .common import DEFAULT_PRESET, preset_files

CAMERA_TOPIC = "/bench/image"  # the node's `image`, remapped


def node_settings(preset: str, overrides: dict[str, Any]) -> tuple[list[Path], dict[str, Any]]:
    """The node's params files and its `-p` overrides for `--preset`, plus the command line's."""
    # --preset default: the main file's (real) architectures with random weights, filters off so random
    # weights leave regions; any other preset is a params file in config/presets/ (e.g. cpu_smoke), as it is
    if preset == DEFAULT_PRESET:
        return preset_files(preset), {**RANDOM_WEIGHTS, **overrides}
    return preset_files(preset), dict(overrides)


def benchmark_settings(preset: str, queries: list[str], device: Optional[str],
                       assignments: list[str]) -> tuple[list[Path], dict[str, Any], Settings, dict[str, Any]]:
    """What a benchmark starts the node with: (params files, its -p overrides, the validated settings,
    every parameter value for the record), from --preset, the queries, --device and -p NAME=VALUE.

    The node is given each override as validated (typed_value): `-p nms_iou=1` reaches it as the
    double 1.0 its parameter is declared as, not the YAML integer 1 that the node would refuse.
    UsageError for a value the node would reject, before any node starts."""
    requested: dict[str, Any] = {"queries": queries}
    if device:
        requested["device"] = device
    requested.update(parse_assignment(text) for text in assignments)
    params_files, raw = node_settings(preset, requested)
    overrides = {name: typed_value(name, value, f"-p {name}") for name, value in raw.items()}
    settings = resolve_settings(params_files, overrides=overrides)  # what the node will run with
    parameters = {**dataclasses.asdict(settings.config), **settings.node, "queries": settings.queries}
    return params_files, overrides, settings, parameters


class Probe(NodeClient):
    """The client harness (ros/client.py) as the benchmarks' camera: frames out, the first arrival
    of each frame's detections in (by stamp), and a ~/query client."""

    def __init__(self, name: str = "latency_probe") -> None:
        super().__init__(name)
        from textregion_msgs.srv import Query

        self.camera = self.camera_publisher(CAMERA_TOPIC)
        self.arrivals: dict[int, float] = {}  # stamp (ns) -> when its detections arrived (perf_counter)
        self.detections = self.subscribe_output("detections", self._on_detections)
        self.query_client = self.service(Query, self.topic("query"))
        self.Query = Query

    def _on_detections(self, msg: Any) -> None:
        self.arrivals.setdefault(stamp_ns(msg.header), time.perf_counter())

    def frames_matched(self) -> bool:
        """Whether the node's image subscription and its detections publisher have matched ours."""
        return self.matched(self.camera, self.detections)

    def publish(self, message: Any, key: int) -> float:
        """Publish `message` stamped `key` (ns); when it was sent (perf_counter)."""
        set_stamp(message, key)
        sent = time.perf_counter()
        self.camera.publish(message)
        return sent

    def query(self, phrases: list[str]) -> float:
        request = self.Query.Request(queries=phrases, threshold=0.0)
        started = time.perf_counter()
        future = self.query_client.call_async(request)
        self.spin_until(future.done, 300, "the ~/query answer", step=0.01)
        if not future.result().success:
            raise RuntimeError(f"~/query failed: {future.result().message}")
        return time.perf_counter() - started
