"""`textregion-demo`: the real node on a replayed camera stream of bundled photographs.

What it does, with no manual step and no network traffic leaving this machine:
  1. claims an isolated DDS domain (tooling/local_dds.py) for itself and the node;
  2. picks the weights: the configured real ones when they are cached or downloadable, else
     random weights with small CPU-friendly settings under a banner (labels then meaningless);
  3. starts `python -m textregion_ros.ros.node_main` as a child (tooling/node_process.py) with
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

from .outputs import result_files
from .tooling.params_files import NODE_NAME, UnknownPresetError, config_file, preset_file
from .tooling.node_command import CONFIGURE_FAILED
from .tooling.node_process import NodeProcess, NodeProcessError

if TYPE_CHECKING:  # the ROS side is imported when the node runs (ros/demo_client.py)
    from .ros.demo_client import DemoClient, FrameOutputs

DATA_DIR = Path(__file__).resolve().parent / "data"
PHOTOS = ("astronaut.jpg", "coffee.jpg", "chelsea.jpg", "rocket.jpg")
QUERIES = ["person", "cat", "coffee cup", "rocket", "sky"]
SHORT_QUERIES = ["person", "cat"]
IMAGE_TOPIC = "/demo/camera/image"
FRAME_ID = "demo_camera"
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
    """The demo's narration, through logging so it interleaves with the node's own lines."""
    log.info(text)


def load_photos() -> list[tuple[str, np.ndarray]]:
    """The bundled photos the demo replays as a camera; an unreadable one ends the demo with its name."""
    from .cli.segment import read_image

    photos = []
    for name in PHOTOS:
        try:
            photos.append((name, read_image(DATA_DIR / name)))
        except ValueError as error:
            raise SystemExit(f"[demo] bundled photo {DATA_DIR / name} is unusable ({error}); "
                             "reinstall the package") from error
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
    """The warning shown when no real weights are at hand: the answers are then not meaningful."""
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
# The frames (their ROS side is ros/demo_client.py: this module imports no rclpy or messages)
# ---------------------------------------------------------------------------------------------
@dataclass
class Frame:
    """One bundled photo as the demo publishes it, with the stamp that pairs it with the node's outputs."""
    index: int
    name: str
    rgb: np.ndarray
    stamp: int = 0  # header stamp in ns, set when published
    sent: float = 0.0  # monotonic time it was published


def wait(client: "DemoClient", node: NodeProcess, condition: Callable[[], Any], timeout: float, what: str) -> None:
    """Spin the client until `condition()`; NodeProcessError at once if the node exits or cannot load its models."""
    node.wait_until(condition, timeout, what, step=lambda: client.spin_once(0.05), failure_markers=(CONFIGURE_FAILED,))


def write_frame(out: Path, frame: Frame, got: "FrameOutputs", classes: list[str]) -> list[tuple[str, float]]:
    """The frame's PNGs and detections JSON from its outputs `got`; returns (query, score) per detection."""
    stem = f"{frame.index:03d}_{Path(frame.name).stem}"
    result_files.save_png(got.overlay, out / f"{stem}_overlay.png")
    result_files.save_png(got.labels, out / f"{stem}_labels.png")
    result_files.save_png(got.confidence, out / f"{stem}_confidence.png")
    records = [result_files.detection_record(d.query, classes.index(d.query) if d.query in classes else -1, d.score,
                                             d.box, d.instance, d.area) for d in got.detections]
    height, width = frame.rgb.shape[:2]
    sec, nanosec = divmod(frame.stamp, 1_000_000_000)
    result_files.write_json(out / f"{stem}_detections.json", result_files.detections_document(
        f"textregion_ros/data/{frame.name}", (height, width), classes, records,
        {"frame": frame.index, "stamp": {"sec": sec, "nanosec": nanosec},
         "latency_s": round(got.arrived - frame.sent, 3), "regions": got.regions, "model": got.model}))
    return [(d.query, d.score) for d in got.detections]


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The `textregion-demo` flags."""
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
    """Entry point of `textregion-demo`: starts the node, replays the photos, saves and prints its outputs."""
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
    from .ros.demo_client import DemoClient

    client = None
    status = 0
    try:
        node.start()
        client = DemoClient(IMAGE_TOPIC, FRAME_ID)
        wait(client, node, lambda: client.classes() == queries and client.connected(), args.startup_timeout,
             "the node to load its models and come up")
        client.spin_for(0.5)  # let the node's publishers see our subscriptions too
        classes = client.classes() or []
        result_files.write_json(out / "labels.json", result_files.class_map(classes))
        say(f"node active after {time.monotonic() - started:.1f} s; sending {len(frames)} frames on {IMAGE_TOPIC}")
        latencies = []
        for frame in frames:
            frame.sent = time.monotonic()
            frame.stamp = client.publish(frame.rgb)
            wait(client, node, lambda: client.complete(frame.stamp), args.frame_timeout,  # noqa: B023 (waited on here)
                 f"the outputs of frame {frame.index} ({frame.name})")
            got = client.take(frame.stamp)
            scored = write_frame(out, frame, got, classes)
            latency = got.arrived - frame.sent
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
                log.error(f"the node exited with status {code} {how}. "
                          f"Last lines of its log:\n{indent(node.log_tail())}")
                status = 1
    return status


def indent(text: str) -> str:
    """Log lines indented under the demo's own message."""
    return "\n".join("    " + line for line in text.splitlines())


if __name__ == "__main__":
    sys.exit(main())
