#!/usr/bin/env python3
"""A node frame's work besides the image models, per stage, before and after the overlapped frame loop.

    python -m benchmarks.host_stages --quick                           # CPU, a few minutes
    python -m benchmarks.host_stages --device cuda --json out.json    # on a GPU

The image models are taken out: each frame is a fixed Regions of R synthetic soft masks (ellipses,
benchmarks/scenes.py) with random unit tokens, at 640x480 and 1280x720, R = 8 / 32 / 64, depth
on (a synthetic depth scene) and every frame output wanted. Each stage is the node's own code path:
  decode        sensor_msgs/Image -> HxWx3 RGB (ros/compressed_input.frame_rgb)
  3d            the regions' 3D (FramePipeline._locate: depth pairing, measure, optical frame)
  tracks_memory TrackedObjects.observe (tracker + object memory), frame after frame
  painting      engine.segment (per-pixel labels and confidence)
  grounding     engine.ground
  detections_3d the detections' own 3D (describe's part)
  overlay       before: the numpy renderer (main's); after: what the node now runs (tensor ops where
                the label map lives on an accelerator, the numpy renderer on a CPU) — same bytes
  messages      ros/frame_messages.frame_messages (every frame output)
  serialise     rclpy.serialization.serialize_message of each message
  publish       rclpy publish of each message to a subscriber in this process, over real DDS
                (LOCALHOST discovery, its own domain id: tooling/local_dds)
before = main's loop: every stage on the frame thread, one after the other. after = the overlapped loop
(overlap_host_stage on): the frame thread does decode + 3d + tracks_memory; painting .. publish run on the
host stage while the engine works on the next frame. The frame thread's own host work and the host
stage's work are both reported, and `frame period bound` = max(engine stage, host stage) vs their sum
(here with zero model time: the models add to the engine stage only).
Figures are printed as a table and written as JSON with the machine named; nothing here is a test.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from textregion_ros.cli.depth_files import DepthFile
from textregion_ros.engine import Regions, TextRegionEngine, parse_queries
from textregion_ros.engine.mask_fusion import working_size
from textregion_ros.objects import TrackedObjects
from textregion_ros.outputs.overlay import draw_overlay
from textregion_ros.params import PARAMETERS
from textregion_ros.perception import FrameInput, FramePipeline, ObservedFrame, PipelineSettings
from textregion_ros.tooling import local_dds
from textregion_ros.tooling.small_models import random_config

from .common import (benchmark_device, device_name, format_table, median_seconds, parse_sizes,
                     positive_ints)
from .scenes import blob_masks, camera_for, depth_scene

QUERIES = ["mug", "table; desk", "chair", "floor", "wall", "door", "plant", "person"]
SIZES = ((640, 480), (1280, 720))
COUNTS = (8, 32, 64)
ENGINE_STAGE = ("decode", "3d", "tracks_memory")  # on the frame thread in both loops
HOST_STAGE = ("painting", "grounding", "detections_3d", "overlay", "messages", "serialise", "publish")


def fixed_regions(engine: TextRegionEngine, width: int, height: int, count: int, seed: int) -> Regions:
    """R synthetic soft masks at the engine's working size with random unit tokens: no model runs."""
    generator = torch.Generator().manual_seed(seed)
    work_h, work_w = working_size((height, width))
    masks = blob_masks(count, work_h, work_w, engine.device, generator)
    inside = masks > 0
    rows, cols = inside.any(dim=2), inside.any(dim=1)
    scale = torch.tensor([width / work_w, height / work_h] * 2, device=engine.device)

    def span(hits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.arange(hits.shape[1], device=hits.device).expand_as(hits)
        return (torch.where(hits, index, hits.shape[1]).amin(dim=1).float(),
                torch.where(hits, index + 1, 0).amax(dim=1).float())

    x1, x2 = span(cols)
    y1, y2 = span(rows)
    boxes = torch.stack([x1, y1, x2, y2], dim=1) * scale
    tokens = torch.nn.functional.normalize(torch.randn(count, engine.backbone.embed_dim, generator=generator), dim=1)
    ones = torch.ones(count, device=engine.device)
    areas = inside.flatten(1).sum(dim=1).float() * float(scale[0] * scale[1])
    return Regions(tokens.to(engine.device), masks, boxes, areas, ones, ones, (height, width), engine.config.model_id)


class Publishing:
    """A node with one publisher per frame output and a subscriber for each in this process."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from textregion_ros.ros.frame_messages import FRAME_OUTPUTS, OUTPUTS

        self.dds = local_dds.claim()
        self.dds.apply()
        rclpy.init()
        self.node = rclpy.create_node("host_stages_bench")
        qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        self.publishers = {name: self.node.create_publisher(OUTPUTS[name].message_type, f"bench/{name}", qos)
                           for name in FRAME_OUTPUTS}
        self.subscriptions = [self.node.create_subscription(OUTPUTS[name].message_type, f"bench/{name}",
                                                            lambda msg: None, qos) for name in FRAME_OUTPUTS]
        self.wanted = set(FRAME_OUTPUTS)

    def close(self) -> None:
        import rclpy

        self.node.destroy_node()
        rclpy.shutdown()
        self.dds.release()


def run_case(engine: TextRegionEngine, publishing: Publishing, width: int, height: int, count: int,
             repeats: int, device: torch.device) -> dict[str, float]:
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    from textregion_ros.ros.compressed_input import frame_rgb
    from textregion_ros.ros.frame_messages import frame_messages
    from textregion_ros.ros.image_conversions import numpy_to_imgmsg

    defaults = {p.name: p.default for p in PARAMETERS}
    objects = TrackedObjects.from_parameters(defaults)
    pipeline = FramePipeline(engine, PipelineSettings.from_parameters(defaults), objects)
    camera = camera_for(width, height)
    depth = DepthFile(depth_scene(camera, np.random.default_rng(count)), (camera.fx, camera.fy, camera.cx, camera.cy),
                      (height, width))
    rng = np.random.default_rng(count)
    rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    regions = fixed_regions(engine, width, height, count, seed=count)
    queries = parse_queries(QUERIES)
    engine.prepare(queries)
    msg = numpy_to_imgmsg(rgb, "rgb8")
    msg.header.frame_id = "camera"
    header = Header(frame_id="camera")
    seconds: dict[str, float] = {}
    stamp = [0]

    seconds["decode"], _ = median_seconds(lambda: frame_rgb(msg), repeats, device)

    def locate() -> ObservedFrame:
        observed = ObservedFrame(rgb, stamp[0], "camera", regions, None)
        pipeline._locate(observed, FrameInput(rgb, stamp[0], "camera", depth, None))  # the node's own 3D step
        return observed

    seconds["3d"], observed = median_seconds(locate, repeats, device)

    def track() -> np.ndarray:
        stamp[0] += 100_000_000  # 10 Hz
        return objects.observe(stamp[0], "camera", regions, observed.output_3d)

    seconds["tracks_memory"], observed.track_ids = median_seconds(track, repeats, device)
    seconds["painting"], segmentation = median_seconds(lambda: engine.segment(regions, queries), repeats, device)
    seconds["grounding"], _ = median_seconds(lambda: engine.ground(regions, queries, segmentation=segmentation),
                                             repeats, device)
    result = pipeline.describe(observed, queries, publishing.wanted)  # its overlay: what the node now draws
    seconds["detections_3d"] = result.seconds.get("detections_3d", 0.0)
    seconds["detections"] = float(len(result.detections))
    by_region = {d.region_index: 1.5 for d in result.detections}
    labels_where_made = segmentation.label_map if segmentation.label_map is not None else segmentation.labels

    def overlay(pixels: str, labels: Any) -> Callable[[], np.ndarray]:
        return lambda: draw_overlay(rgb, labels, queries.classes, result.detections, distances=by_region,
                                    track_ids=observed.track_ids, pixels=pixels)

    seconds["overlay_before"], before = median_seconds(overlay("numpy", segmentation.labels), repeats, device)
    seconds["overlay_after"], after = median_seconds(overlay("auto", labels_where_made), repeats, device)
    seconds["overlay_tensor_ops"], tensor = median_seconds(overlay("tensor", labels_where_made), repeats, device)
    seconds["overlay_same_bytes"] = float(np.array_equal(before, after) and np.array_equal(before, tensor))
    seconds["messages"], messages = median_seconds(lambda: frame_messages(result, header, publishing.wanted),
                                                   repeats, device)
    seconds["serialise"], _ = median_seconds(lambda: [serialize_message(m) for m in messages.values()],
                                             repeats, device)
    seconds["publish"], _ = median_seconds(
        lambda: [publishing.publishers[name].publish(m) for name, m in messages.items()], repeats, device)
    return seconds


def summary(seconds: dict[str, float]) -> dict[str, float]:
    """Before: every stage on the frame thread. After: the frame thread's share and the host stage's."""
    engine_s = sum(seconds[name] for name in ENGINE_STAGE)
    host_before = sum(seconds[name] for name in HOST_STAGE if name != "overlay") + seconds["overlay_before"]
    host_after = sum(seconds[name] for name in HOST_STAGE if name != "overlay") + seconds["overlay_after"]
    return {"frame_thread_before_s": engine_s + host_before, "frame_thread_after_s": engine_s,
            "host_stage_after_s": host_after, "period_bound_after_s": max(engine_s, host_after)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 repeats")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0 = torch's choice; 1 on a shared CPU, where 2 threads spin-wait)")
    parser.add_argument("--sizes", type=parse_sizes, default=list(SIZES), help="WxH,WxH (default 640x480,1280x720)")
    parser.add_argument("--regions", type=positive_ints, default=list(COUNTS), help="R values (default 8,32,64)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    device = benchmark_device(args.device, args.threads)
    repeats = 2 if args.quick else args.repeats
    config = random_config("pe", device=str(device), remove_global_patches=True, global_patch_threshold=-1.0,
                           resize_mode="resize", background_queries="")
    engine = TextRegionEngine(config)  # no hidden background: random tokens then give every region a class
    machine = device_name(device)
    publishing = Publishing()
    cases = []
    try:
        for width, height in args.sizes:
            for count in args.regions:
                seconds = run_case(engine, publishing, width, height, count, repeats, device)
                cases.append({"size": f"{width}x{height}", "regions": count, "seconds": seconds,
                              **summary(seconds)})
    finally:
        publishing.close()
    stages = [*ENGINE_STAGE, "painting", "grounding", "detections_3d", "overlay_before", "overlay_after",
              "overlay_tensor_ops", "messages", "serialise", "publish"]
    headers = ["stage (ms)"] + [f"{c['size']} R{c['regions']}" for c in cases]
    rows = [[name] + [f"{c['seconds'][name] * 1e3:.2f}" for c in cases] for name in stages]
    rows.append(["detections (boxes + tags drawn)"] + [f"{c['seconds']['detections']:.0f}" for c in cases])
    rows.append(["overlay: same bytes"] + ["yes" if c["seconds"]["overlay_same_bytes"] else "NO" for c in cases])
    for key, words in (("frame_thread_before_s", "frame thread, before (all stages)"),
                       ("frame_thread_after_s", "frame thread, after (overlapped)"),
                       ("host_stage_after_s", "host stage, after (overlapped)"),
                       ("period_bound_after_s", "period bound after = max(both)")):
        rows.append([words] + [f"{c[key] * 1e3:.2f}" for c in cases])
    print(f"{machine}; torch {torch.__version__}; {repeats} repeats (median); queries {len(QUERIES)}; depth on; "
          f"every frame output; image models out (fixed regions)")
    print(format_table(headers, rows))
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": machine, "device": str(device), "torch": torch.__version__,
                                         "repeats": repeats, "queries": QUERIES, "cases": cases}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
