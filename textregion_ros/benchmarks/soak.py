#!/usr/bin/env python3
"""Soak: thousands of frames through the real node over DDS, watching what its process holds.

    python -m benchmarks.soak --preset cpu_smoke -p points_per_side=2 --size 64x48 \\
        --json docs/benchmarks/soak_cpu.json                                   # CPU, 10,000 frames
    python -m benchmarks.soak --preset default --device cuda --size 640x480   # GPU
    python -m benchmarks.soak --preset cpu_smoke ... --frames 2000 --depth --find-every 20 \\
        --stamp-period-s 0.1 -p memory_s=10.0      # 3D, tracks closing, the memory full and ~/find calls

A node that leaks a little per frame runs fine in every test and dies on the robot after a day, so
this pushes --frames frames (default 10,000) through textregion_node, started like every other
benchmark (tooling/node_process.py: DDS confined to this machine, config/textregion.yaml plus
--preset), and every --sample-every frames reads from /proc the node's resident memory (VmRSS),
threads and open file descriptors (tooling/process_stats.py) and, on CUDA, the torch allocated /
reserved memory the node reports in /diagnostics (up to 1 s old: it publishes once a second).
Meanwhile it does what a robot does: every --query-change-every frames new queries (cycling
through a few sets, alternately through ~/set_queries and the `queries` topic), every
--query-every frames a ~/query call, and it subscribes to every frame output so each is computed.
With --depth each frame comes with its own registered 32FC1 depth image (a tilted plane, 1-2 m) and
CameraInfo of the same stamp (use_depth on: 3D, markers, 3D in the tracks and the memory); every
--find-every frames a ~/find call searches the object memory. Every frame goes through the tracker
and the memory; --stamp-period-s spaces the stamps like a camera (default 0: stamps 1 ns apart, as
the first soaks ran, so no track ever ages out), which with a short memory_s lets tracks close and
the memory reach its steady size within the warm-up.

Pacing: closed loop by default (the next frame goes out when the previous frame's detections
arrived, i.e. as fast as the node takes them; a frame without detections after --frame-timeout
counts as lost); --rate HZ publishes open loop instead (the node's latest-frame policy drops what
it cannot keep up with).

Output: the samples as a table and, per series, the least-squares slope per 1,000 frames over the
samples after the warm-up (--warmup frames, default the first 10 %), on stdout; progress on stderr;
with --json a record of the machine, settings, samples, slopes, frame counts, wall time and the
node's exit status after SIGINT. Nothing here is an assertion: test/test_node_leak.py is the test.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from textregion_ros.engine import split_query_text
from textregion_ros.ros.client import output_qos, set_stamp
from textregion_ros.tooling import local_dds, process_stats
from textregion_ros.tooling.node_command import CONFIGURE_FAILED
from textregion_ros.tooling.node_process import NodeProcess, NodeProcessError
from textregion_ros.tooling.params_files import NODE_NAME, preset_names

from .common import DEFAULT_PRESET, device_name
from .node_probe import CAMERA_TOPIC, Probe, benchmark_settings

DEPTH_TOPIC, CAMERA_INFO_TOPIC = "/bench/depth", "/bench/camera_info"  # the node's depth and camera_info, remapped
# Query sets cycled through (the `queries` topic's text form); the text cache holds them all after
# one round, so any growth past the warm-up is not new embeddings being cached. The node's text
# thread encodes only the newest set it was given: changes must be far enough apart (the default
# 250 frames is tens of seconds) for each first encoding to finish within the warm-up.
QUERY_SETS = (
    "person, chair, table; desk, floor; wall",
    "cup, bottle, laptop",
    "door, window; glass, plant, lamp, shelf",
    "car; truck, road, tree, sky",
)
ASK_SETS = (["chair"], ["red mug", "laptop"], ["something to sit on", "floor"])  # ~/query phrases, cycled
FIND_SETS = (["chair", "table"], ["cup"], ["something to sit on", "floor; ground"])  # ~/find phrases, cycled
DISTINCT_FRAMES = 8  # frames differ, so region counts (and allocation sizes) vary frame to frame
SERIES = {  # sample key -> (printed name, unit of its slope per 1,000 frames)
    "rss_kb": ("RSS", "kB"),
    "rss_anon_kb": ("RSS anonymous", "kB"),  # heap and tensors: where a leak shows (process_stats)
    "threads": ("threads", "threads"),
    "open_files": ("open files", "fds"),
    "cuda_allocated_mib": ("CUDA allocated", "MiB"),
    "cuda_reserved_mib": ("CUDA reserved", "MiB"),
}
DIAGNOSTICS_KEYS = {"cuda_allocated_mib": "gpu_memory_allocated_mib", "cuda_reserved_mib": "gpu_memory_reserved_mib",
                    "node_received": "frames_received", "node_processed": "frames_processed",
                    "node_dropped": "frames_dropped", "node_failed": "frames_failed", "node_problems": "problems",
                    "node_without_3d": "frames_without_3d", "tracks_open": "tracks_open",
                    "objects_remembered": "objects_remembered"}
CALL_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 600.0  # model loading on a busy 2-core CPU
WARMUP_REPEAT_S = 10.0  # the warm-up frame is published again after this long without its detections


class SoakProbe(Probe):
    """node_latency's probe (the client harness: frames out, detections in, ~/query) plus what a soak also
    drives and reads: the other frame outputs (counted), /diagnostics (latest status kept), ~/set_queries and the
    `queries` topic, ~/label_info (counted: one per query switch), and service calls kept in flight."""

    def __init__(self, outputs: tuple[str, ...]) -> None:
        super().__init__()
        from std_msgs.msg import String
        from textregion_msgs.srv import Find, SetQueries

        self.String, self.SetQueries = String, SetQueries
        self.received: dict[str, int] = {name: 0 for name in (*outputs, "label_info")}
        for name in (*outputs, "label_info"):
            if name != "detections":  # Probe subscribes to the detections itself
                self.subscribe_output(name, self._counter(name))
        self.watch_diagnostics()  # self.status: the node's latest status; self.statuses: how many so far
        self.set_queries_client = self.service(SetQueries, self.topic("set_queries"))
        self.find_client = self.service(Find, self.topic("find"))
        self.Find = Find
        self.side = self._side_publishers()
        self.queries_topic = self.publisher(String, "queries", output_qos("label_info"))  # latched, as the node's
        self.in_flight: list[tuple[str, Any]] = []
        self.calls: dict[str, dict[str, int]] = {}

    def _side_publishers(self) -> dict[str, Any]:
        """Depth and camera_info publishers (sensor-data QoS, as a camera driver's)."""
        from sensor_msgs.msg import CameraInfo, Image

        return {"depth": self.sensor_publisher(Image, DEPTH_TOPIC),
                "camera_info": self.sensor_publisher(CameraInfo, CAMERA_INFO_TOPIC)}

    def publish_side(self, depth: Any, info: Any, key: int) -> None:
        """A frame's depth and camera_info, stamped like it (sent just before it: the node polls them)."""
        for message, name in ((info, "camera_info"), (depth, "depth")):
            self.side[name].publish(set_stamp(message, key))

    def find(self, phrases: list[str]) -> None:
        self.call("find", self.find_client, self.Find.Request(queries=phrases))

    def _counter(self, name: str) -> Callable[[Any], None]:
        def count(msg: Any) -> None:
            self.received[name] += 1
        return count

    def call(self, kind: str, client: Any, request: Any) -> None:
        """Send a service request without waiting: frames keep flowing while the node answers."""
        self.in_flight.append((kind, client.call_async(request)))
        self.calls.setdefault(kind, {"sent": 0, "ok": 0, "failed": 0})["sent"] += 1

    def collect(self) -> None:
        """Count the answers that arrived (a response with success false counts as failed)."""
        waiting = []
        for kind, future in self.in_flight:
            if not future.done():
                waiting.append((kind, future))
                continue
            response = future.result() if future.exception() is None else None
            self.calls[kind]["ok" if response is not None and response.success else "failed"] += 1
        self.in_flight = waiting

    def answered(self) -> bool:
        """True once every request sent has its answer (collected)."""
        self.collect()
        return not self.in_flight

    def set_queries(self, text: str, via_topic: bool) -> None:
        from textregion_ros.engine import split_query_text

        if via_topic:  # no answer on a topic: ~/label_info (counted in `received`) shows the switch
            self.queries_topic.publish(self.String(data=text))
            self.calls.setdefault("queries_topic", {"sent": 0})["sent"] += 1
        else:
            self.call("set_queries", self.set_queries_client, self.SetQueries.Request(queries=split_query_text(text)))

    def ask(self, phrases: list[str]) -> None:
        self.call("query", self.query_client, self.Query.Request(queries=phrases, threshold=0.0))


def make_frames(width: int, height: int, count: int) -> list[Any]:
    """`count` different rgb8 frames: a gradient with a few random rectangles and noise."""
    from textregion_ros.ros.image_conversions import numpy_to_imgmsg

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for _ in range(count):
        rgb = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                        rng.integers(0, 64, (height, width))], axis=-1).astype(np.uint8)
        for _ in range(int(rng.integers(1, 5))):
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            rgb[y0:y0 + int(rng.integers(2, max(3, height // 2))),
                x0:x0 + int(rng.integers(2, max(3, width // 2)))] = rng.integers(0, 256, 3)
        msg = numpy_to_imgmsg(rgb, "rgb8")
        msg.header.frame_id = "soak_camera"
        frames.append(msg)
    return frames


def make_depth(width: int, height: int, count: int) -> list[Any]:
    """`count` registered 32FC1 depth images: planes tilted differently, 1-2 m (every region gets 3D)."""
    from textregion_ros.ros.image_conversions import numpy_to_imgmsg

    xx = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    images = []
    for k in range(count):
        tilt = k / max(count - 1, 1)
        plane = (1.0 + tilt * xx + (1.0 - tilt) * 0.5 * yy).astype(np.float32)  # [H,W] by broadcasting
        msg = numpy_to_imgmsg(np.ascontiguousarray(plane), "32FC1")
        msg.header.frame_id = "soak_camera"
        images.append(msg)
    return images


def camera_info(width: int, height: int) -> Any:
    """Pinhole intrinsics of the frames: fx = fy = width (a 53 degree horizontal field of view)."""
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo(width=width, height=height, k=[float(width), 0.0, (width - 1) / 2.0, 0.0, float(width),
                                                      (height - 1) / 2.0, 0.0, 0.0, 1.0])
    info.header.frame_id = "soak_camera"
    return info


def wait_for(node: NodeProcess, probe: SoakProbe, condition: Callable[[], bool], timeout: float, what: str) -> bool:
    """Spin the probe until `condition()`: False after `timeout` s; NodeProcessError if the node died."""
    try:
        node.wait_until(condition, timeout, what, probe.spin_once)
        return True
    except NodeProcessError:
        if node.alive():
            return False
        raise


def diagnostics_value(status: dict[str, str], key: str) -> Optional[float]:
    # frames_without_3d is left out of /diagnostics until the first such frame
    value = status.get(DIAGNOSTICS_KEYS[key], "0" if key == "node_without_3d" and status else "")
    try:
        return float(value)
    except ValueError:
        return None


def take_sample(frame: int, started: float, pid: int, probe: SoakProbe) -> dict[str, Any]:
    """One row: /proc figures of the node now, plus the latest /diagnostics figures."""
    row: dict[str, Any] = {"frame": frame, "wall_s": round(time.monotonic() - started, 2)}
    row.update(process_stats.sample(pid).as_dict())
    row.update({key: diagnostics_value(probe.status, key) for key in DIAGNOSTICS_KEYS})
    row["detections_received"] = len(probe.arrivals)
    return row


def slopes(samples: list[dict[str, Any]], warmup: int) -> dict[str, Optional[float]]:
    """Least-squares change per 1,000 frames of each series over the samples at frame >= `warmup`."""
    frames = [row["frame"] for row in samples]
    return {key: process_stats.slope_per(frames, [row.get(key) for row in samples], 1000.0, start=warmup)
            for key in SERIES}


def format_table(samples: list[dict[str, Any]], slope: dict[str, Optional[float]], warmup: int) -> str:
    """The printed record: one row per sample, then the slopes and the spread after the warm-up."""
    def cell(value: Optional[float], width: int, digits: int = 0) -> str:
        return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"

    lines = [f"{'frame':>7}{'wall s':>9}{'RSS kB':>10}{'anon kB':>10}{'threads':>9}{'fds':>6}{'CUDA alloc MiB':>16}"
             f"{'CUDA res MiB':>14}{'detections':>12}{'node dropped':>14}{'no 3D':>7}{'tracks':>8}{'objects':>9}"]
    for row in samples:
        lines.append(f"{row['frame']:>7}{row['wall_s']:>9.1f}{row['rss_kb']:>10}{row['rss_anon_kb']:>10}{row['threads']:>9}"
                     f"{row['open_files']:>6}{cell(row['cuda_allocated_mib'], 16, 1)}"
                     f"{cell(row['cuda_reserved_mib'], 14, 1)}{row['detections_received']:>12}"
                     f"{cell(row['node_dropped'], 14)}{cell(row['node_without_3d'], 7)}{cell(row['tracks_open'], 8)}"
                     f"{cell(row['objects_remembered'], 9)}")
    after = [row for row in samples if row["frame"] >= warmup]
    lines.append(f"\nleast-squares slope per 1,000 frames over the {len(after)} samples from frame {warmup} on "
                 f"(warm-up discarded), and the spread (max - min) there:")
    for key, (name, unit) in SERIES.items():
        values = [row[key] for row in after if row.get(key) is not None]
        if slope[key] is None:
            lines.append(f"  {name:<16} not measured")
        else:
            lines.append(f"  {name:<16}{slope[key]:>+12.2f} {unit}/1k frames   "
                         f"spread {process_stats.spread(values):.1f} {unit}")
    return "\n".join(lines)


def machine(device: str) -> dict[str, Any]:
    """Where the figures come from: CPU model, GPU name on CUDA, and how busy the CPU was."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    info: dict[str, Any] = {"cpu": process_stats.cpu_model(cpuinfo) or platform.processor(),
                            "cpu_threads": os.cpu_count(),
                            "virtual_machine": " hypervisor" in cpuinfo, "load_average_at_start": list(os.getloadavg()),
                            "python": platform.python_version()}
    try:
        import torch

        info["torch"] = torch.__version__
        if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
            info["gpu"] = device_name(device)
    except ImportError:
        pass
    return info


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000, help="frames to publish after the warm-up frame")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop at this rate (Hz); 0 = closed loop")
    parser.add_argument("--preset", choices=[DEFAULT_PRESET, *preset_names()], default="cpu_smoke",
                        help="a config/presets/ file, or 'default': the configured models with random weights")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: the preset's)")
    parser.add_argument("--size", default="64x48", help="WxH of the published frames")
    parser.add_argument("-p", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="extra node parameter (YAML value), repeatable, e.g. -p points_per_side=2")
    parser.add_argument("--sample-every", type=int, default=100, help="frames between samples")
    parser.add_argument("--warmup", type=int, default=None, help="frames left out of the slopes (default 10 %%)")
    parser.add_argument("--query-change-every", type=int, default=250, help="frames between query changes (0: none)")
    parser.add_argument("--query-every", type=int, default=50, help="frames between ~/query calls (0: none)")
    parser.add_argument("--depth", action="store_true",
                        help="use_depth on; each frame comes with its own depth image and camera_info")
    parser.add_argument("--find-every", type=int, default=0, help="frames between ~/find calls (0: none)")
    parser.add_argument("--stamp-period-s", type=float, default=0.0,
                        help="stamp spacing of the frames in s (0: 1 ns apart, as the first soaks)")
    parser.add_argument("--detections-only", action="store_true",
                        help="subscribe to ~/detections only (the node then skips the other outputs)")
    parser.add_argument("--frame-timeout", type=float, default=30.0,
                        help="closed loop: s before a frame counts as lost")
    parser.add_argument("--json", type=Path, help="write the record here")
    args = parser.parse_args()
    if args.frames < 1 or args.sample_every < 1:
        parser.error("--frames and --sample-every must be at least 1")
    if args.warmup is None:
        args.warmup = args.frames // 10
    if args.stamp_period_s < 0.0 or args.find_every < 0:
        parser.error("--stamp-period-s and --find-every must be >= 0")
    if args.depth:
        args.overrides.append("use_depth=true")
    return args


def main() -> int:
    args = parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    params_files, overrides, settings, parameters = benchmark_settings(
        args.preset, split_query_text(QUERY_SETS[0]), args.device, args.overrides)
    from textregion_ros.ros.frame_messages import FRAME_OUTPUTS

    outputs = ("detections",) if args.detections_only else FRAME_OUTPUTS
    record: dict[str, Any] = {
        "machine": machine(str(parameters["device"])), "preset": args.preset,
        "settings": {"frames": args.frames, "rate_hz": args.rate or "closed loop", "size": [width, height],
                     "sample_every": args.sample_every, "warmup_frames": args.warmup,
                     "query_change_every": args.query_change_every, "query_every": args.query_every,
                     "depth": args.depth, "find_every": args.find_every, "find_sets": list(FIND_SETS),
                     "stamp_period_s": args.stamp_period_s,
                     "outputs_subscribed": list(outputs), "frame_timeout_s": args.frame_timeout,
                     "query_sets": list(QUERY_SETS), "ask_sets": list(ASK_SETS),
                     "params_files": [str(path) for path in params_files], "parameters": parameters},
    }
    claim = local_dds.claim()
    claim.apply()
    frames = make_frames(width, height, DISTINCT_FRAMES)
    depths, info = make_depth(width, height, DISTINCT_FRAMES), camera_info(width, height)
    period_ns = int(round(args.stamp_period_s * 1e9)) or 1
    remaps = {"image": CAMERA_TOPIC, "depth": DEPTH_TOPIC, "camera_info": CAMERA_INFO_TOPIC}
    node = NodeProcess.textregion_node(overrides, params_files, NODE_NAME, remaps)
    record["node_log"] = str(node.log_path)
    samples: list[dict[str, Any]] = []
    probe: Optional[SoakProbe] = None
    published = lost = 0
    started = time.monotonic()
    try:
        node.start()
        probe = SoakProbe(outputs)
        node.wait_until(probe.query_client.service_is_ready, READY_TIMEOUT_S, "the node's ~/query service",
                        probe.spin_once, failure_markers=(CONFIGURE_FAILED,))
        # The service being up does not mean the image subscription has matched the probe's publisher:
        # wait for the match, then repeat the warm-up frame (text encoding, allocator; not counted)
        # until its detections arrive, since the node's best-effort input may miss the first copy.
        node.wait_until(probe.frames_matched, READY_TIMEOUT_S,
                        "the node's image subscription and detections publisher", probe.spin_once)
        deadline = time.monotonic() + READY_TIMEOUT_S
        if args.depth:
            node.wait_until(lambda: probe.matched(*probe.side.values()), READY_TIMEOUT_S,
                            "the node's depth and camera_info subscriptions", probe.spin_once)
            probe.publish_side(depths[0], info, period_ns)
        probe.publish(frames[0], period_ns)
        while not wait_for(node, probe, lambda: period_ns in probe.arrivals, WARMUP_REPEAT_S, "the warm-up frame"):
            if time.monotonic() > deadline:
                raise NodeProcessError("no detections for the warm-up frame", node.log_path, node.log_tail())
            probe.publish(frames[0], period_ns)
        wait_for(node, probe, lambda: bool(probe.status), 5.0, "the node's /diagnostics")
        record["startup_s"] = round(time.monotonic() - started, 1)
        progress(f"node up in {record['startup_s']} s (pid {node.pid}); {args.frames} frames, "
                 f"{'closed loop' if not args.rate else f'{args.rate} Hz'}")
        started = time.monotonic()
        samples.append(take_sample(0, started, node.pid, probe))
        query_cycle, ask_cycle = itertools.cycle(QUERY_SETS[1:] + QUERY_SETS[:1]), itertools.cycle(ASK_SETS)
        find_cycle = itertools.cycle(FIND_SETS)
        changes = 0
        for index in range(1, args.frames + 1):
            key = (index + 1) * period_ns
            if args.depth:
                probe.publish_side(depths[index % DISTINCT_FRAMES], info, key)
            probe.publish(frames[index % DISTINCT_FRAMES], key)
            published += 1
            if not args.rate:
                if not wait_for(node, probe, lambda: key in probe.arrivals, args.frame_timeout, f"frame {index}"):
                    lost += 1
            else:
                wait_for(node, probe, lambda: time.monotonic() - started >= index / args.rate, 1.0 / args.rate + 5.0,
                         "the next publish time")
            probe.collect()
            if args.query_change_every and index % args.query_change_every == 0:
                probe.set_queries(next(query_cycle), via_topic=changes % 2 == 1)
                changes += 1
            if args.query_every and index % args.query_every == 0:
                probe.ask(next(ask_cycle))
            if args.find_every and index % args.find_every == 0:
                probe.find(next(find_cycle))
            if index % args.sample_every == 0 or index == args.frames:
                row = take_sample(index, started, node.pid, probe)
                row["lost"] = lost
                samples.append(row)
                progress(f"frame {index}: {row['wall_s']:.0f} s, RSS {row['rss_kb']} kB, threads {row['threads']}, "
                         f"fds {row['open_files']}, lost {lost}")
        if args.rate:  # the last frames may still be in the node
            last = (args.frames + 1) * period_ns
            wait_for(node, probe, lambda: last in probe.arrivals, args.frame_timeout, "the last frame")
        record["wall_s"] = round(time.monotonic() - started, 1)
        wait_for(node, probe, probe.answered, CALL_TIMEOUT_S, "the service answers")
        statuses = probe.statuses  # a fresh diagnostics status (1 Hz) for the node's final counters
        wait_for(node, probe, lambda: probe.statuses > statuses + 1, 5.0, "final diagnostics")
    except (NodeProcessError, KeyboardInterrupt) as error:
        record["error"] = f"{type(error).__name__}: {error}"
        progress(f"stopped early: {record['error']}")
        record.setdefault("wall_s", round(time.monotonic() - started, 1))
    finally:
        if probe is not None:
            record["calls"] = probe.calls
            record["outputs_received"] = dict(probe.received, detections=len(probe.arrivals))
            record["final_diagnostics"] = dict(probe.status)
            probe.close()
        record["node_exit_status"] = node.stop()  # SIGINT first: the node's clean shutdown
        record["machine"]["load_average_at_end"] = list(os.getloadavg())  # the CPU is shared: how busy it was
        claim.release()

    processed = sum(1 for key in (probe.arrivals if probe else {}) if key >= 2 * period_ns)  # not the warm-up frame
    slope = slopes(samples, args.warmup)
    record.update({"frames_published": published, "frames_processed": processed,
                   "frames_dropped": published - processed, "frames_lost_closed_loop": lost,
                   "samples": samples, "slopes_per_1k_frames": slope,
                   "slope_units": {key: unit for key, (_, unit) in SERIES.items()}})
    fps = processed / record["wall_s"] if record.get("wall_s") else 0.0
    print(f"soak: {record['machine'].get('gpu') or record['machine']['cpu']}; preset {args.preset}, "
          f"{width}x{height} frames, {'closed loop' if not args.rate else f'{args.rate} Hz open loop'}, "
          f"points_per_side {parameters['points_per_side']}, device {parameters['device']}; "
          f"depth {'on' if args.depth else 'off'}, ~/find every {args.find_every or '-'} frames, "
          f"stamps {args.stamp_period_s or 1e-9:g} s apart, memory_s {parameters['memory_s']:g}")
    print(f"{published} frames published, {processed} processed ({published - processed} dropped), "
          f"{record.get('wall_s', 0):.0f} s ({fps:.1f} frames/s); node exit status after SIGINT: "
          f"{record['node_exit_status']}; service calls: {record.get('calls', {})}; ~/label_info messages "
          f"(one per query switch, plus the first): {record.get('outputs_received', {}).get('label_info')}\n")
    if samples:
        print(format_table(samples, slope, args.warmup))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return 0 if "error" not in record and record["node_exit_status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
