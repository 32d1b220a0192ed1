"""One frame through the whole engine, timed per stage: what engine_stages, engine_presets and
compressed_decode measure a frame with (regions -> segment -> region-id image -> ground).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from textregion_ros.engine import QuerySet, TextRegionEngine
from textregion_ros.engine.timing import StageTimer

from .common import peak_memory_mib, reset_peak_memory

MODEL = "model"
OWN = "own"
INPUT = "input"
GLUE = "glue"
# Frame stages in pipeline order, with whether each is a model forward or TextRegion's own work.
FRAME_STAGES: tuple[tuple[str, str], ...] = (
    ("rescale", INPUT),  # validation + the aspect-keeping rescale both models see
    ("sam2_encode", MODEL),
    ("sam2_decode_filter", MODEL),
    ("mask_fusion", OWN),
    ("image_encoder", MODEL),
    ("mask_to_grid", OWN),
    ("global_patch_removal", OWN),
    ("pooling", OWN),
    ("text", MODEL),  # cached: what a frame with unchanged queries pays
    ("painting", OWN),  # segment()'s painting + region_id_image()
    ("grounding", OWN),
    ("untimed_glue", GLUE),  # frame wall time minus the stages: transfers, boxes, small steps
)
UNCACHED_TEXT = "text_uncached"  # first encoding of the queries; paid once per query change


@dataclass
class StageStats:
    name: str
    kind: str
    samples: list[float]
    ran: bool = True  # False when no run reached the stage (e.g. zero masks: no image encoder)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else 0.0

    @property
    def minimum(self) -> float:
        return min(self.samples) if self.samples else 0.0


@dataclass
class FrameRun:
    """One frame through the whole engine: seconds per stage, counts, peak memory."""

    seconds: dict[str, float]
    stats: dict[str, int]
    detections: int
    peak_mib: float


def run_frame(engine: TextRegionEngine, rgb: np.ndarray, queries: QuerySet, keep_text: bool = False) -> FrameRun:
    """regions -> segment (uncached text unless keep_text, then cached) -> region-id image -> ground."""
    device = engine.device
    reset_peak_memory(device)
    if not keep_text:  # keep_text: callers that time only the steady-state frame skip re-encoding the queries
        engine.text.clear()  # the first segment() below encodes the queries
    timer = StageTimer(device)
    with timer.stage("regions_call"):
        regions = engine.regions(rgb)
    first = engine.segment(regions, queries)
    with timer.stage("steady_rest"):  # the steady-state frame leaves out the uncached text call above
        segmentation = engine.segment(regions, queries)
        with timer.stage("region_id_image"):
            regions.region_id_image()
        with timer.stage("grounding"):
            detections = engine.ground(regions, queries, segmentation=segmentation)
    seconds = {**regions.timings, "text": segmentation.timings["text"], UNCACHED_TEXT: first.timings["text"],
               "segment_painting": segmentation.timings["painting"],
               "region_id_image": timer.seconds["region_id_image"],
               "grounding": timer.seconds["grounding"]}
    seconds["painting"] = seconds["segment_painting"] + seconds["region_id_image"]
    seconds["frame_wall"] = timer.seconds["regions_call"] + timer.seconds["steady_rest"]
    stage_sum = sum(seconds.get(name, 0.0) for name, kind in FRAME_STAGES if kind != GLUE)
    seconds["untimed_glue"] = max(0.0, seconds["frame_wall"] - stage_sum)
    stats = {"points": 0, "candidates": 0, "proposals": 0, "fused": 0, "regions": 0, **regions.stats}
    return FrameRun(seconds, stats, len(detections), peak_memory_mib(device))


def kind_label(kind: str) -> str:
    return {MODEL: "model fwd", OWN: "TextRegion", INPUT: "input prep", GLUE: "-"}[kind]


def frame_stage_stats(runs: Sequence[FrameRun]) -> list[StageStats]:
    return [StageStats(name, kind, [run.seconds.get(name, 0.0) for run in runs],
                       ran=any(name in run.seconds for run in runs)) for name, kind in FRAME_STAGES]
