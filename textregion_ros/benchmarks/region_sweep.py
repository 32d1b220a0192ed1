"""engine_stages.py --region-sweep: TextRegion's own stages for R synthetic soft masks.

The masks are injected in place of SAM2's after the image features were computed once, so the
table shows how pooling, painting and grounding grow with R (per stage, per region, and a
least-squares line). Each pass times every R in turn, so a slow spell of a shared machine
spreads over all R instead of bending the line.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import torch

from textregion_ros.engine import QuerySet, TextRegionEngine
from textregion_ros.engine.model_image import ModelImage
from textregion_ros.engine.mask_fusion import working_size
from textregion_ros.engine.tiling import TokenFeatures
from textregion_ros.engine.timing import StageTimer

from .common import format_table, linear_fit, ms, peak_memory_mib, reset_peak_memory

SWEEP_STAGES = ("mask_to_grid", "global_patch_removal", "pooling", "painting", "grounding")


def synthetic_masks(count: int, height: int, width: int, device: torch.device,
                    generator: torch.Generator) -> torch.Tensor:
    """[R,H,W] soft masks in [0,1]: discs (even rows) and rectangles (odd rows), soft-edged, vectorised."""
    def uniform(low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * torch.rand(count, generator=generator)).to(device)[:, None, None]

    cx, cy = uniform(0.1, 0.9) * width, uniform(0.1, 0.9) * height
    rx, ry = uniform(0.05, 0.3) * width, uniform(0.05, 0.3) * height
    ys = torch.arange(height, device=device, dtype=torch.float32)[None, :, None] + 0.5
    xs = torch.arange(width, device=device, dtype=torch.float32)[None, None, :] + 0.5
    dx, dy = (xs - cx) / rx, (ys - cy) / ry  # [R,1,W], [R,H,1]
    disc = 1.0 - torch.sqrt(dx * dx + dy * dy)
    rectangle = 1.0 - torch.maximum(dx.abs(), dy.abs())
    is_disc = (torch.arange(count, device=device) % 2 == 0)[:, None, None]
    inside = torch.where(is_disc, disc, rectangle)  # > 0 inside; ~0.1 of the radius is a soft edge
    return (inside * 10.0).clamp(0.0, 1.0)


@dataclass
class SweepRow:
    regions: int  # synthetic regions injected in place of SAM2's
    seconds: dict[str, list[float]] = field(default_factory=dict)
    tokens_removed: int = 0
    peak_mib: Optional[float] = None

    def median(self, stage: str) -> float:
        return statistics.median(self.seconds[stage])

    def own_total(self) -> float:
        return sum(self.median(stage) for stage in SWEEP_STAGES)


def time_case(engine: TextRegionEngine, features: TokenFeatures, image_size: tuple[int, int], row: SweepRow,
              queries: QuerySet, seed: int, record: bool) -> None:
    """One pass of the own stages for row.regions synthetic masks at working resolution (recorded unless a warm-up)."""
    device = engine.device
    work_h, work_w = working_size(image_size)
    masks = synthetic_masks(row.regions, work_h, work_w, device, torch.Generator().manual_seed(seed + row.regions))
    reset_peak_memory(device)
    timer = StageTimer(device)
    pooled = engine.region_tokens(features, masks, timer)
    kept = pooled.kept
    ones = torch.ones(int(kept.sum()), device=device)
    regions = engine.build_regions(masks[kept], pooled.tokens[kept], ones, ones, image_size)
    segmentation = engine.segment(regions, queries)
    with timer.stage("region_id_image"):
        regions.region_id_image()
    with timer.stage("grounding"):
        engine.ground(regions, queries, segmentation=segmentation)
    if not record:
        return
    timer.seconds["painting"] = segmentation.timings["painting"] + timer.seconds["region_id_image"]
    for stage in SWEEP_STAGES:
        row.seconds.setdefault(stage, []).append(timer.seconds[stage])
    row.tokens_removed = int(pooled.removed.sum())
    if device.type == "cuda":
        row.peak_mib = max(row.peak_mib or 0.0, peak_memory_mib(device))


def run_sweep(engine: TextRegionEngine, frame: ModelImage, counts: Sequence[int], queries: QuerySet, repeats: int,
              seed: int) -> tuple[list[SweepRow], tuple[int, int]]:
    """Warm-up pass, then `repeats` passes; each pass times every R in turn, so slow spells of a
    shared machine spread over all R instead of bending the line. Returns the rows and the token grid."""
    features = engine.image_features(frame)  # once for every R
    engine.text.encode(queries.phrases)  # text cached before anything is timed
    rows = [SweepRow(count) for count in counts]
    for attempt in range(repeats + 1):
        for row in rows:
            time_case(engine, features, frame.size, row, queries, seed, record=attempt > 0)
    return rows, features.grid


def print_sweep(rows: Sequence[SweepRow]) -> dict[str, Any]:
    stages = list(SWEEP_STAGES)
    has_peak = any(row.peak_mib is not None for row in rows)
    headers = ["R", *[f"{s} ms" for s in stages], "own total ms", "own us/region", "removed tok"]
    headers += ["peak MiB"] if has_peak else []
    table = []
    for row in rows:
        cells = [str(row.regions), *[ms(row.median(s)) for s in stages], ms(row.own_total()),
                 f"{row.own_total() / row.regions * 1e6:.1f}", str(row.tokens_removed)]
        table.append(cells + ([f"{row.peak_mib:.1f}"] if has_peak else []))
    print(format_table(headers, table))
    counts = [row.regions for row in rows]
    fits = {stage: linear_fit(counts, [row.median(stage) for row in rows]) for stage in stages}
    fits["own total"] = linear_fit(counts, [row.own_total() for row in rows])
    print("\nleast-squares fit  time = slope * R + intercept  (medians)")
    fit_rows = [[name, f"{fit.per_region_s * 1e6:.2f}", ms(fit.fixed_s),
                 f"{fit.r_squared:.4f}"] for name, fit in fits.items()]
    print(format_table(["stage", "slope us/region", "intercept ms", "R^2"], fit_rows))
    return {
        "rows": [{"regions": row.regions, "samples_s": row.seconds,
                  "median_s": {s: row.median(s) for s in stages}, "own_total_median_s": row.own_total(),
                  "tokens_removed": row.tokens_removed, "peak_memory_mib": row.peak_mib} for row in rows],
        # the JSON keeps its field names: slope (s per region) and intercept (s)
        "fits": {name: {"slope": fit.per_region_s, "intercept": fit.fixed_s, "r_squared": fit.r_squared}
                 for name, fit in fits.items()},
    }
