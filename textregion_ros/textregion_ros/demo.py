"""`textregion-demo`: the real node on a replayed camera stream of bundled photographs.

What it does, with no manual step and no network traffic leaving this machine:
  1. claims an isolated DDS domain (tooling/local_dds.py) for itself and the node;
  2. picks the weights: the configured real ones when they are cached or downloadable, else
     random weights with small CPU-friendly settings under a banner (labels then meaningless);
  3. starts `python -m textregion_ros.ros.node` as a child (tooling/node_process.py) with
     config/textregion.yaml, for random weights a preset on top (config/presets/cpu_demo.yaml, or
     cpu_smoke.yaml with --short), and overrides (queries that fit the photos, reliable image QoS),
     remapped to /demo/camera/image;
  4. publishes the photos in textregion_ros/data/ one by one as sensor_msgs/Image (rgb8, rising
     stamps, frame_id demo_camera), waits for each frame's outputs and writes overlay, labels,
     confidence PNGs and detections JSON into --out, printing one line per frame;
  5. stops the node with SIGINT and waits for it.
Every wait has a timeout; if the node dies or stalls, the tail of its log is shown.
"""
from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .outputs import result_files
from .tooling.params_files import NODE_NAME, UnknownPresetError, config_file, preset_file
from .tooling.node_command import CONFIGURE_FAILED
from .tooling.node_process import NodeProcess, NodeProcessError

DATA_DIR = Path(__file__).resolve().parent / "data"
PHOTOS = ("astronaut.jpg", "coffee.jpg", "chelsea.jpg", "rocket.jpg")
QUERIES = ["person", "cat", "coffee cup", "rocket", "sky"]
SHORT_QUERIES = ["person", "cat"]
IMAGE_TOPIC = "/demo/camera/image"
FRAME_ID = "demo_camera"
OUTPUTS = ("detections", "labels", "confidence", "overlay", "region_tokens")
# Random weights: presets (params files) with the real architectures at CPU-friendly sizes; --short
# takes the smallest one plus the global view only.
RANDOM_PRESET = "cpu_demo"
RANDOM_SHORT_PRESET = "cpu_smoke"
RANDOM_SHORT: dict[str, Any] = {"resize_mode": "resize"}
REAL_SHORT: dict[str, Any] = {"points_per_side": 8, "resize_mode": "resize"}
# Real weights without a GPU: an 8 x 8 grid keeps a frame within about half a minute on a laptop CPU.
REAL_CPU: dict[str, Any] = {"points_per_side": 8}
BANNER = "=" * 78


log = logging.getLogger("textregion_ros.demo")


def configure_output() -> None:
    """Progress lines to stdout, problems to stderr, each prefixed "[demo]" (a console program)."""
    if log.handlers:
        return
    formatter = logging.Formatter("[demo] %(message)s")
    progress = logging.StreamHandler(sys.stdout)
    progress.addFilter(lambda record: record.levelno < logging.WARNING)
    problems = logging.StreamHandler(sys.stderr)
    problems.setLevel(logging.WARNING)
    for handler in (progress, problems):
        handler.setFormatter(formatter)
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def say(text: str) -> None:
    log.info(text)


def load_photos() -> list[tuple[str, np.ndarray]]:
    from .cli.segment import read_image

    photos = []
    for name in PHOTOS:
        try:
            photos.append((name, read_image(DATA_DIR / name)))
        except ValueError as error:
            raise SystemExit(f"[demo] bundled photo {DATA_DIR / name} is unusable ({error}); reinstall the package")
    return photos


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------
def choose_weights(mode: str, params_file: Optional[Path], device: Optional[str]) -> tuple[bool, str]:
    """(use real weights?, paragraph to show when not). Downloads when the hub is reachable."""
    from .cli.download import fetch_weights
    from .cli.settings import UsageError, resolve_settings

    if mode == "random":
        return False, "--weights random was given."
    try:
        config = resolve_settings(params_files=[params_file] if params_file else [], flags={"device": device}).config
        _, problem = fetch_weights(config, announce=say)
    except UsageError as error:
        return False, f"The configured weights cannot be used: {error}."
    return (not problem), problem


def random_banner() -> str:
    return "\n".join([
        BANNER,
        "  RANDOM WEIGHTS: this run shows the pipeline working end to end (node, topics, files),",
        "  but the models have random weights: every label, score and detection is MEANINGLESS.",
        "  Run `textregion-download` (network needed) and start the demo again for real results.",
        BANNER,
    ])


def node_settings(real: bool, short: bool, queries: list[str], device: Optional[str],
                  params_file: Path) -> tuple[list[Path], dict[str, Any]]:
    """The node's params files (main file, then a preset for random weights) and its overrides."""
    params_files = [params_file]
    values: dict[str, Any] = {}
    if not real:
        params_files.append(preset_file(RANDOM_SHORT_PRESET if short else RANDOM_PRESET))
        if short:
            values.update(RANDOM_SHORT)
        values["device"] = device or "cpu"
    else:
        if not gpu_expected(device):
            say("no GPU: real models on the CPU with an 8 x 8 point grid (expect tens of seconds per frame)")
            values.update(REAL_CPU)
        if short:
            values.update(REAL_SHORT)
        if device:
            values["device"] = device
    values["queries"] = list(queries)
    values["image_reliability"] = "reliable"  # the demo waits for every frame: lose none
    return params_files, values


def gpu_expected(device: Optional[str]) -> bool:
    """Whether the node will run on CUDA (device cuda*, or auto/unset with a CUDA device present)."""
    if device and device.startswith("cuda"):
        return True
    if device == "cpu":
        return False
    import torch

    return bool(torch.cuda.is_available())


# ---------------------------------------------------------------------------------------------
# The camera + output side (rclpy, in this process)
# ---------------------------------------------------------------------------------------------
@dataclass
class Frame:
    index: int
    name: str
    rgb: np.ndarray
    stamp: tuple[int, int] = (0, 0)
    sent: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)
    last_output: float = 0.0


class DemoClient:
    """Publishes the camera frames and collects the node's outputs by header stamp."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.signals import SignalHandlerOptions
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from textregion_msgs.msg import RegionTokens
        from vision_msgs.msg import Detection2DArray, LabelInfo

        self.context = Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("textregion_demo", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.camera = self.node.create_publisher(Image, IMAGE_TOPIC, reliable)
        self.received: dict[tuple[int, int], dict[str, Any]] = {}
        self.arrival: dict[tuple[int, int], float] = {}
        self.label_info: Optional[Any] = None
        types = {"detections": Detection2DArray, "labels": Image, "confidence": Image, "overlay": Image,
                 "region_tokens": RegionTokens}
        self.subscriptions = [
            self.node.create_subscription(msg_type, f"/{NODE_NAME}/{name}", self._collector(name), reliable)
            for name, msg_type in types.items()
        ]
        self.node.create_subscription(LabelInfo, f"/{NODE_NAME}/label_info", self._on_label_info, latched)

    def _collector(self, name: str):
        def collect(msg: Any) -> None:
            key = (int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))
            self.received.setdefault(key, {})[name] = msg
            self.arrival[key] = time.monotonic()
        return collect

    def _on_label_info(self, msg: Any) -> None:
        self.label_info = msg

    def spin_until(self, condition, timeout: float, what: str, node: NodeProcess) -> None:
        """Spin until `condition()`; NodeProcessError at once if the node exits or cannot load its models."""
        node.wait_until(condition, timeout, what, step=lambda: self.executor.spin_once(timeout_sec=0.05),
                        failure_markers=(CONFIGURE_FAILED,))

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def connected(self) -> bool:
        return self.camera.get_subscription_count() > 0 and all(
            sub.get_publisher_count() > 0 for sub in self.subscriptions)

    def publish(self, frame: Frame) -> None:
        from std_msgs.msg import Header

        from .ros.image_conversions import numpy_to_imgmsg

        stamp = self.node.get_clock().now().to_msg()
        frame.stamp = (int(stamp.sec), int(stamp.nanosec))
        frame.sent = time.monotonic()
        self.camera.publish(numpy_to_imgmsg(frame.rgb, "rgb8", Header(stamp=stamp, frame_id=FRAME_ID)))

    def complete(self, frame: Frame) -> bool:
        return set(OUTPUTS) <= set(self.received.get(frame.stamp, {}))

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        if self.context.ok():
            rclpy.shutdown(context=self.context)


def write_frame(out: Path, frame: Frame, classes: list[str]) -> list[tuple[str, float]]:
    """The frame's PNGs and detections JSON; returns (query, score) per detection."""
    from .ros.image_conversions import imgmsg_to_numpy

    got = frame.outputs
    stem = f"{frame.index:03d}_{Path(frame.name).stem}"
    result_files.save_png(np.array(imgmsg_to_numpy(got["overlay"], "rgb8")), out / f"{stem}_overlay.png")
    result_files.save_png(np.array(imgmsg_to_numpy(got["labels"])), out / f"{stem}_labels.png")
    result_files.save_png(np.array(imgmsg_to_numpy(got["confidence"])), out / f"{stem}_confidence.png")
    areas = list(got["region_tokens"].areas)
    records, scored = [], []
    for detection in got["detections"].detections:
        hypothesis = detection.results[0].hypothesis if detection.results else None
        query = hypothesis.class_id if hypothesis else ""
        score = float(hypothesis.score) if hypothesis else 0.0
        bbox = detection.bbox
        cx, cy = bbox.center.position.x, bbox.center.position.y
        box = (cx - bbox.size_x / 2, cy - bbox.size_y / 2, cx + bbox.size_x / 2, cy + bbox.size_y / 2)
        instance = int(detection.id) if detection.id.isdigit() else 0
        area = int(areas[instance - 1]) if 0 < instance <= len(areas) else 0
        class_index = classes.index(query) if query in classes else -1
        records.append(result_files.detection_record(query, class_index, score, box, instance, area))
        scored.append((query, score))
    height, width = frame.rgb.shape[:2]
    result_files.write_json(out / f"{stem}_detections.json", result_files.detections_document(
        f"textregion_ros/data/{frame.name}", (height, width), classes, records,
        {"frame": frame.index, "stamp": {"sec": frame.stamp[0], "nanosec": frame.stamp[1]},
         "latency_s": round(frame.last_output - frame.sent, 3), "regions": int(got["region_tokens"].region_count),
         "model": got["region_tokens"].model}))
    return scored


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textregion-demo",
        description="Start the TextRegion node, replay bundled photos as a camera, save and print its outputs.")
    parser.add_argument("--short", action="store_true", help="CI mode: 2 frames, the smallest settings")
    parser.add_argument("--frames", type=int, default=None, help=f"frames to send (default {len(PHOTOS)}; "
                                                                 "photos repeat beyond that)")
    parser.add_argument("--out", default="demo_output", help="output folder (default demo_output/)")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: the config's; cpu "
                                                       "with random weights)")
    parser.add_argument("--weights", choices=("auto", "real", "random"), default="auto",
                        help="auto: real weights when cached or downloadable, else random (default)")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds for the node to come up")
    parser.add_argument("--frame-timeout", type=float, default=300.0, help="seconds per frame")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    configure_output()
    frames_wanted = args.frames if args.frames is not None else (2 if args.short else len(PHOTOS))
    if frames_wanted < 1:
        log.error("--frames must be >= 1")
        return 2
    out = Path(args.out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        log.error(f"cannot create {out}: {error.strerror or error}")
        return 2
    started = time.monotonic()
    try:
        params_file = config_file()
    except FileNotFoundError as error:
        log.error(f"{error}; reinstall the package")
        return 2

    from .tooling import local_dds

    dds = local_dds.claim()
    dds.apply()  # this process and the node child: DDS stays on this machine, on a domain of our own
    say(f"DDS confined to this machine (ROS_DOMAIN_ID={dds.domain_id}, discovery LOCALHOST)")

    try:
        real, reason = choose_weights(args.weights, params_file, args.device)
        if not real:
            if args.weights != "random":
                say(reason)
                if args.weights == "real":
                    return 2
            say(random_banner())
        queries = SHORT_QUERIES if args.short else QUERIES
        try:
            params_files, overrides = node_settings(real, args.short, queries, args.device, params_file)
        except UnknownPresetError as error:
            log.error(f"{error}; reinstall the package")
            return 2
        photos = load_photos()
        return run_demo(args, out, params_files, real, queries, overrides, photos, frames_wanted, started)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    finally:
        dds.release()


def run_demo(args: argparse.Namespace, out: Path, params_files: list[Path], real: bool, queries: list[str],
             overrides: dict[str, Any], photos: list[tuple[str, np.ndarray]], frames_wanted: int,
             started: float) -> int:
    """Start the node, stream the frames, write and print the results, stop the node."""
    frames = [Frame(i + 1, name, rgb) for i, (name, rgb) in
              zip(range(frames_wanted), itertools.cycle(photos))]
    node = NodeProcess.textregion_node(overrides, params_files, NODE_NAME, {"image": IMAGE_TOPIC},
                                       log_path=out / "node.log", name="the node")
    say(f"starting the node ({'real' if real else 'random'} weights, queries: {', '.join(queries)}); "
        f"log: {node.log_path}")
    client = None
    status = 0
    try:
        node.start()
        client = DemoClient()
        client.spin_until(lambda: client.label_info is not None and list(
            c.class_name for c in client.label_info.class_map) == queries and client.connected(),
            args.startup_timeout, "the node to load its models and come up", node)
        client.spin_for(0.5)  # let the node's publishers see our subscriptions too
        classes = [c.class_name for c in client.label_info.class_map]
        result_files.write_json(out / "labels.json", result_files.class_map(classes))
        say(f"node active after {time.monotonic() - started:.1f} s; sending {len(frames)} frames on {IMAGE_TOPIC}")
        latencies = []
        for frame in frames:
            client.publish(frame)
            client.spin_until(lambda: client.complete(frame), args.frame_timeout,
                              f"the outputs of frame {frame.index} ({frame.name})", node)
            frame.outputs = client.received.pop(frame.stamp)
            frame.last_output = client.arrival.pop(frame.stamp)
            scored = write_frame(out, frame, classes)
            latency = frame.last_output - frame.sent
            latencies.append(latency)
            height, width = frame.rgb.shape[:2]
            found = ", ".join(f"{q} {s:.2f}" for q, s in sorted(scored, key=lambda x: -x[1])[:6])
            more = f" (+{len(scored) - 6} more)" if len(scored) > 6 else ""
            say(f"frame {frame.index}/{len(frames)} {frame.name} {width}x{height}: {latency:.1f} s, "
                f"{len(scored)} detection{'s' if len(scored) != 1 else ''}" + (f": {found}{more}" if scored else ""))
        say(f"done: {len(frames)} frames, mean latency {sum(latencies) / len(latencies):.1f} s, "
            f"outputs in {out}/" + ("" if real else "  (RANDOM WEIGHTS: labels are meaningless)"))
    except NodeProcessError as error:
        log.error(f"error: {error.reason}. Last lines of the node's log ({node.log_path}):\n{indent(error.log_tail)}")
        status = 1
    except KeyboardInterrupt:
        log.error("interrupted")
        status = 130
    finally:
        if client is not None:
            client.close()
        code = node.stop()
        if code is not None:
            if code == 0 or status:
                say(f"node stopped (exit status {code}) after {time.monotonic() - started:.1f} s in all")
            else:
                how = f"(ended by signal {-code})" if code < 0 else "on SIGINT"
                log.error(f"the node exited with status {code} {how}. Last lines of its log:\n{indent(node.log_tail())}")
                status = 1
    return status


def indent(text: str) -> str:
    """Log lines indented under the demo's own message."""
    return "\n".join("    " + line for line in text.splitlines())


if __name__ == "__main__":
    sys.exit(main())
