"""Side streams at camera rate against frame throughput: `node_latency.py --side-rate HZ`.

An RGB-D camera publishes depth and camera_info at its frame rate (30 Hz) while the node processes a
few frames a second. This measures, in one run and against one node process, frames at `--rate` with
their own depth + camera_info (phase "none") and the same frames while depth + camera_info also
stream at the side rate (phase "side"), alternating the phases `--repeats` times so that a load
change on a shared machine hits both alike. It prints processed / received (the node's own
/diagnostics counts), the latency from publishing a frame to its detections (p50 / p95) and the frames
whose ~/detections_3d arrived (3D / sent: the depth paired with them survived the side stream) per phase,
and the side / none ratios.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textregion_ros.ros.client import NodeClient, set_stamp
from textregion_ros.ros.conversions import stamp_ns

PHASES = ("none", "side")


@dataclass
class PhaseResult:
    """One phase's counts (node's /diagnostics deltas) and the probe's per-frame latencies."""

    received: int = 0
    processed: int = 0
    published: int = 0
    with_3d: int = 0  # frames published whose ~/detections_3d arrived (their depth was paired)
    side_messages: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0  # the node process's CPU time (user + system) over the phase
    latencies: list[float] = field(default_factory=list)

    def add(self, other: "PhaseResult") -> None:
        self.received += other.received
        self.processed += other.processed
        self.published += other.published
        self.with_3d += other.with_3d
        self.side_messages += other.side_messages
        self.seconds += other.seconds
        self.cpu_s += other.cpu_s
        self.latencies += other.latencies

    @property
    def ratio(self) -> float:
        return self.processed / self.received if self.received else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class SideProbe(NodeClient):
    """The camera (the client harness, ros/client.py): colour, depth and camera_info publishers;
    detections, detections_3d and /diagnostics subscribers."""

    def __init__(self, width: int, height: int, namespace: str = "/bench") -> None:
        super().__init__("side_rate_probe")
        from sensor_msgs.msg import CameraInfo, Image

        from textregion_ros.ros.image_conversions import numpy_to_imgmsg

        self.camera = self.camera_publisher(f"{namespace}/image")
        self.depth = self.sensor_publisher(Image, f"{namespace}/depth")
        self.info = self.sensor_publisher(CameraInfo, f"{namespace}/camera_info")
        self.arrivals: dict[int, float] = {}
        self.detections = self.subscribe_output("detections", self._on_detections)
        self.arrivals_3d: set[int] = set()
        self.detections_3d = self.subscribe_output("detections_3d",
                                                   lambda msg: self.arrivals_3d.add(stamp_ns(msg.header)))
        self.watch_diagnostics()  # self.status, self.statuses
        yy, xx = np.mgrid[0:height, 0:width]
        rgb = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                        np.random.default_rng(0).integers(0, 256, (height, width))], axis=-1).astype(np.uint8)
        self.frame = numpy_to_imgmsg(rgb, "rgb8")
        self.depth_msg = numpy_to_imgmsg(np.full((height, width), 2.0, np.float32), "32FC1")
        f = 0.8 * width  # about 64 degrees horizontal field of view
        self.info_msg = CameraInfo(width=width, height=height,
                                   k=[f, 0.0, (width - 1) / 2, 0.0, f, (height - 1) / 2, 0.0, 0.0, 1.0])
        for msg in (self.frame, self.depth_msg, self.info_msg):
            msg.header.frame_id = "bench_camera"

    def _on_detections(self, msg: Any) -> None:
        self.arrivals.setdefault(stamp_ns(msg.header), time.perf_counter())

    def fresh_counts(self) -> tuple[int, int]:
        """(frames_received, frames_processed) from a /diagnostics message newer than this call."""
        status = self.fresh_status(5.0)
        return int(status["frames_received"]), int(status["frames_processed"])

    def publish_side(self, key: int) -> None:
        self.info.publish(set_stamp(self.info_msg, key))
        self.depth.publish(set_stamp(self.depth_msg, key))

    def phase(self, rate: float, side_rate: float, seconds: float, pid: int) -> PhaseResult:
        """Frames at `rate` (each with its own depth + camera_info); with side_rate > 0, depth +
        camera_info also at side_rate. Stamps are wall-clock nanoseconds, so a side message pairs too."""
        before = self.fresh_counts()
        cpu_before = cpu_seconds(pid)
        result = PhaseResult()
        sent: dict[int, float] = {}
        started = time.perf_counter()
        next_frame = started if rate > 0 else float("inf")  # rate 0: side streams only (their CPU cost)
        next_side = started if side_rate > 0 else float("inf")
        while True:
            now = time.perf_counter()
            if now - started >= seconds:
                break
            if now >= next_frame:
                key = time.time_ns()
                self.publish_side(key)  # the frame's own depth + camera_info, as a camera sends them
                sent[key] = time.perf_counter()
                self.camera.publish(set_stamp(self.frame, key))
                result.published += 1
                next_frame += 1.0 / rate
            if now >= next_side:
                self.publish_side(time.time_ns())
                result.side_messages += 2
                next_side += 1.0 / side_rate
            wait = max(0.0, min(next_frame, next_side) - time.perf_counter())
            self.spin_once(min(wait, 0.01))
        result.seconds = time.perf_counter() - started
        self.spin_for(4.0)  # the last frame finishes (and its diagnostics count it)
        after = self.fresh_counts()
        result.cpu_s = cpu_seconds(pid) - cpu_before
        result.received, result.processed = after[0] - before[0], after[1] - before[1]
        result.latencies = [self.arrivals[key] - at for key, at in sent.items() if key in self.arrivals]
        result.with_3d = sum(1 for key in sent if key in self.arrivals_3d)
        return result

def side_rate_run(node: Any, rate: float, side_rate: float, seconds: float, repeats: int,
                  width: int, height: int) -> dict[str, PhaseResult]:
    """Both phases, alternated `repeats` times against the running node process `node`."""
    from textregion_ros.tooling.node_command import CONFIGURE_FAILED

    node.start()
    probe = SideProbe(width, height)
    totals = {phase: PhaseResult() for phase in PHASES}
    try:
        node.wait_until(lambda: probe.status.get("state") == "active", 600, "the node to become active",
                        probe.spin_once, failure_markers=(CONFIGURE_FAILED,))
        node.wait_until(lambda: probe.matched(probe.camera, probe.depth, probe.info, probe.detections), 30,
                        "the node to match the camera's publishers and the detections subscription", probe.spin_once)
        warm = time.time_ns()
        probe.publish_side(warm)
        probe.camera.publish(set_stamp(probe.frame, warm))
        node.wait_until(lambda: warm in probe.arrivals, 600, "detections for the warm-up frame", probe.spin_once)
        for _ in range(repeats):
            for phase in PHASES:
                totals[phase].add(probe.phase(rate, side_rate if phase == "side" else 0.0, seconds, node.pid))
    finally:
        probe.close()
        node.stop()
    return totals


TABLE_HEADER = (f"{'code':<8}{'side streams':<30}{'received':>9}{'processed':>10}{'proc/recv':>10}{'p50 s':>8}"
                f"{'p95 s':>8}{'node CPU':>9}{'3D/sent':>10}")


def side_rate_table(totals: dict[str, PhaseResult], side_rate: float, code: str = "") -> str:
    """Rows of side_rate_run's results (TABLE_HEADER's columns) and the side / none ratios; node CPU is
    the node process's CPU seconds per second of the phase (2.0 = both cores of this machine)."""
    lines = []
    for phase, result in totals.items():
        name = "none (own depth+info/frame)" if phase == "none" else f"depth + camera_info {side_rate:g} Hz"
        lines.append(f"{code:<8}{name:<30}{result.received:>9}{result.processed:>10}{result.ratio:>10.2f}"
                     f"{percentile(result.latencies, 50):>8.2f}{percentile(result.latencies, 95):>8.2f}"
                     f"{result.cpu_s / result.seconds if result.seconds else 0.0:>9.2f}"
                     f"{f'{result.with_3d}/{result.published}':>10}")
    none, side = totals["none"], totals["side"]
    p50 = percentile(side.latencies, 50) / percentile(none.latencies, 50) if none.latencies else float("nan")
    lines.append(f"{code:<8}ratio side / none: processed/received "
                 f"{side.ratio / none.ratio if none.ratio else float('nan'):.2f}, latency p50 {p50:.2f}  "
                 f"({side.side_messages} side messages in {side.seconds:.0f} s)")
    return "\n".join(lines)


def summary_dict(totals: dict[str, PhaseResult]) -> dict[str, Any]:
    return {phase: {"received": r.received, "processed": r.processed, "ratio": r.ratio,
                    "latency_p50_s": percentile(r.latencies, 50), "latency_p95_s": percentile(r.latencies, 95),
                    "side_messages": r.side_messages, "frames_with_3d": r.with_3d, "frames_sent": r.published,
                    "seconds": r.seconds, "node_cpu_s": r.cpu_s,
                    "latency_median_s": statistics.median(r.latencies) if r.latencies else None}
            for phase, r in totals.items()}
