#!/usr/bin/env python3
"""How much `region_prompts: tracks` changes the answers against `grid`, on your own frames and weights.

    python -m benchmarks.prompt_agreement ~/frames --queries "person, chair, door"
    python -m benchmarks.prompt_agreement ~/run.bag --image-topic /camera/image \\
        --params-file textregion_ros/config/presets/small_gpu.yaml --json /tmp/agreement.json

Both modes run on the same frames, in order, each with its own tracks (as two nodes would): one engine,
switched between the modes per frame (run-time parameters, so the models are shared). Per frame: whether
`tracks` ran a keyframe (and why), the prompts it decoded, the label agreement (share of pixels with the
same label in both) and the detection recall of `tracks` against `grid` (a grid detection is found when a
tracks detection of the same query overlaps its box by IoU >= 0.5). Per query: the recall over the run.
Objects the grid finds that tracks misses: per miss (by the grid's track id), how many frames passed
until tracks found it again (a keyframe usually), or that it never did.

A folder is read in name order at --fps (stamps for the keyframe interval); a bag in its order, stamps from
the messages. With random weights (tests) every figure is meaningless and the report says so.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from textregion_ros.cli.segment import collect_images, read_image
from textregion_ros.cli.settings import resolve_settings
from textregion_ros.engine import TextRegionEngine, parse_queries, split_query_text
from textregion_ros.objects import TrackedObjects
from textregion_ros.perception import FrameInput, FramePipeline, PipelineSettings

MATCH_IOU = 0.5
RANDOM_WARNING = ("RANDOM weights: every figure below is meaningless (the tool's own test runs this way); "
                  "run it with your checkpoints on your robot's frames")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[A,B] IoU of x1,y1,x2,y2 boxes."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2:] - x[:, :2], 0, None).prod(-1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def folder_frames(folder: Path, fps: float) -> Iterator[FrameInput]:
    files, _ = collect_images([str(folder)], recursive=False)
    for index, path in enumerate(files):
        yield FrameInput(read_image(path), int(index * 1e9 / fps), "camera")


def bag_frames(bag: Path, topic: str) -> Iterator[FrameInput]:
    from rosbags.rosbag2 import Reader

    from textregion_ros.ros.bag_frames import BagFrames

    with Reader(bag) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            raise SystemExit(f"the bag has no topic {topic!r}")
        frames = BagFrames(connections[0].msgtype, with_depth=False)
        for _, _, raw in reader.messages(connections=connections):
            yield frames.frame(raw)[1]


class MissLog:
    """Grid objects (by the grid's track id) that tracks missed, and the frames until tracks found them."""

    def __init__(self) -> None:
        self.open: dict[int, int] = {}  # grid track id -> frames missed so far
        self.caught: list[int] = []

    def update(self, missed_ids: set[int], found_ids: set[int]) -> None:
        for track in list(self.open):  # one more frame since the miss; found now: caught after that many
            self.open[track] += 1
            if track in found_ids:
                self.caught.append(self.open.pop(track))
        for track in missed_ids:
            self.open.setdefault(track, 0)

    def summary(self) -> dict[str, Any]:
        return {"misses": len(self.caught) + len(self.open), "caught": len(self.caught),
                "frames_until_caught_mean": float(np.mean(self.caught)) if self.caught else None,
                "frames_until_caught_max": max(self.caught) if self.caught else None, "never_caught": len(self.open)}


def compare(pipelines: dict[str, FramePipeline], engine: TextRegionEngine, frames: Iterator[FrameInput],
            queries: Any, limit: int) -> dict[str, Any]:
    """Run both modes over the frames; per-frame rows, per-query recall and the miss log."""
    base = engine.config
    rows, hits, totals, misses = [], defaultdict(int), defaultdict(int), MissLog()
    for index, frame in enumerate(frames):
        if index >= limit:
            break
        results = {}
        for mode, pipeline in pipelines.items():
            engine.apply_config(dataclasses.replace(base, region_prompts=mode))
            observed = pipeline.observe(frame)
            results[mode] = pipeline.describe(observed, queries, {"labels", "detections"})
        grid, tracks = results["grid"], results["tracks"]
        agreement = float((grid.segmentation.labels == tracks.segmentation.labels).mean())
        found_grid: set[int] = set()
        missed_grid: set[int] = set()
        frame_hits = frame_total = 0
        for query in queries.classes:
            g = [d for d in grid.detections if d.query == query]
            t = [d for d in tracks.detections if d.query == query]
            iou = box_iou(np.array([d.box for d in g], float).reshape(-1, 4),
                          np.array([d.box for d in t], float).reshape(-1, 4))
            matched = iou.max(axis=1) >= MATCH_IOU if iou.size else np.zeros(len(g), bool)
            hits[query] += int(matched.sum())
            totals[query] += len(g)
            frame_hits, frame_total = frame_hits + int(matched.sum()), frame_total + len(g)
            ids = grid.track_ids
            for detection, hit in zip(g, matched):
                track = int(ids[detection.region_index]) if ids is not None else -1
                (found_grid if hit else missed_grid).add(track)
        misses.update(missed_grid, found_grid)
        record = tracks.regions.prompts
        rows.append({"frame": index, "keyframe": record.keyframe, "reason": record.reason, "decoded": record.decoded,
                     "grid_decoded": grid.regions.prompts.decoded, "label_agreement": agreement,
                     "recall": frame_hits / frame_total if frame_total else None})
    engine.apply_config(base)
    recall = {q: (hits[q] / totals[q] if totals[q] else None) for q in queries.classes}
    return {"frames": rows, "recall_per_query": recall, "misses": misses.summary()}


def report(result: dict[str, Any], random_weights: bool) -> str:
    lines = [RANDOM_WARNING] if random_weights else []
    lines.append("frame  keyframe  reason                           decoded/grid  agreement  recall")
    for r in result["frames"]:
        recall = "-" if r["recall"] is None else f"{r['recall']:.2f}"
        lines.append(f"{r['frame']:5d}  {'yes' if r['keyframe'] else 'no':8s}  {r['reason'][:31]:31s}  "
                     f"{r['decoded']:5d}/{r['grid_decoded']:<6d}  {r['label_agreement']:9.3f}  {recall:>6s}")
    frames = result["frames"]
    steady = [r for r in frames if not r["keyframe"]]
    if frames:
        lines.append(f"label agreement: mean {np.mean([r['label_agreement'] for r in frames]):.3f} over all frames"
                     + (f", {np.mean([r['label_agreement'] for r in steady]):.3f} over the non-keyframes"
                        if steady else ""))
    lines.append("recall of tracks against grid per query: " + ", ".join(
        f"{q} {'-' if v is None else f'{v:.2f}'}" for q, v in result["recall_per_query"].items()))
    m = result["misses"]
    lines.append(f"objects grid finds and tracks misses: {m['misses']} ({m['caught']} found again, mean "
                 f"{m['frames_until_caught_mean'] if m['frames_until_caught_mean'] is not None else '-'} frames, max "
                 f"{m['frames_until_caught_max'] if m['frames_until_caught_max'] is not None else '-'}; "
                 f"{m['never_caught']} never)")
    if random_weights:
        lines.append(RANDOM_WARNING)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help="a folder of images (name order) or a rosbag2 bag")
    parser.add_argument("--queries", default="person, chair, table, door", help="'a, b; c': classes, ';' synonyms")
    parser.add_argument("--params-file", action="append", default=[], type=Path, help="params files, in order")
    parser.add_argument("-p", dest="assignments", action="append", default=[], help="name:=value overrides")
    parser.add_argument("--image-topic", default="/camera/image", help="bag input: the image topic")
    parser.add_argument("--fps", type=float, default=10.0, help="folder input: frames per second of stamp time")
    parser.add_argument("--max-frames", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    settings = resolve_settings(args.params_file, args.assignments)
    engine = TextRegionEngine(settings.config)
    values = {**settings.node, **dataclasses.asdict(settings.config)}
    pipelines = {mode: FramePipeline(engine, PipelineSettings.from_parameters(values),
                                     TrackedObjects.from_parameters(values)) for mode in ("grid", "tracks")}
    queries = parse_queries(split_query_text(args.queries))
    is_folder = args.input.is_dir() and not (args.input / "metadata.yaml").exists()
    frames = folder_frames(args.input, args.fps) if is_folder else bag_frames(args.input, args.image_topic)
    result = compare(pipelines, engine, frames, queries, args.max_frames)
    random_weights = "random" in (settings.config.weights, settings.config.sam2_weights)
    result["random_weights"] = random_weights
    print(report(result, random_weights))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
