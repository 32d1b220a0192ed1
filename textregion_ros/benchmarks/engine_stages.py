"""Per-stage timings of the TextRegion engine, and how its own cost grows with the region count.

Run it on the machine you care about and read the tables; nothing here asserts a time. Timed
assertions do not belong in tests (they fail on slow or busy machines and pass on fast ones
for the wrong reasons): tests check behaviour, benchmarks print tables.

    # GPU, the robot's settings (random weights need --thresholds-off to yield any masks)
    python textregion_ros/benchmarks/engine_stages.py --device cuda --size 640x480 \
        --weights random --sam2-weights random --thresholds-off --region-sweep 8,16,32,64,128

    # real weights (from the Hugging Face cache, see `textregion-download`)
    python textregion_ros/benchmarks/engine_stages.py --device cuda --weights openai \
        --sam2-weights facebook/sam2.1-hiera-tiny --json /tmp/engine_stages.json

    # a quick CPU smoke run
    python textregion_ros/benchmarks/engine_stages.py --backbone pe --model PE-Core-T-16-384 \
        --sam2-image-size 256 --points-per-side 4 --size 160x120 --thresholds-off --repeats 1 \
        --region-sweep 4,8,16

What it prints:
  1. the device, torch version and engine config;
  2. one table of every stage of a frame (median and min over --repeats, after one warm-up
     run), marked as a model forward (SAM2 encoder/decoder, image tower, text tower) or as
     TextRegion's own work (mask fusion, global-patch removal, pooling, painting, grounding),
     each stage's share of the frame, the own-stages share as one line, the counts (grid
     points, SAM2 candidates, proposals, fused and final regions) and the peak memory;
  3. with --region-sweep R1,R2,...: TextRegion's own stages timed for R synthetic soft masks
     (no SAM2; the image features are computed once; --sweep-repeats passes over all R, one R
     after the other, so a slow spell hits every R), per stage and per region, with a
     least-squares line (slope per region, intercept, R^2) showing the cost is linear in R.
     The stage-by-stage tokens are checked against engine.pool() on the same masks.

On a shared CPU machine, other busy processes make multi-threaded torch very noisy (the load
average is printed at the start and the end); --threads 1 gives steadier CPU numbers.

--json PATH writes every number, the config, the device, the torch version and the date.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

try:
    import textregion_ros.engine  # noqa: F401  (installed, or run from a colcon/pip install)
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textregion_ros.engine import EngineConfig, QuerySet, Regions, TextRegionEngine, parse_queries, split_query_text
from textregion_ros.engine.devices import synchronize
from textregion_ros.engine.global_patches import global_token_mask
from textregion_ros.engine.mask_fusion import working_size
from textregion_ros.engine.sam2_masks import masks_to_boxes
from textregion_ros.engine.text import TextEncoder

T = TypeVar("T")

MODEL = "model"
OWN = "own"
GLUE = "glue"
# Frame stages in pipeline order, with whether each is a model forward or TextRegion's own work.
FRAME_STAGES: tuple[tuple[str, str], ...] = (
    ("sam2_encode", MODEL),
    ("sam2_decode_filter", MODEL),
    ("mask_fusion", OWN),
    ("image_encoder", MODEL),
    ("global_patch_removal", OWN),
    ("pooling", OWN),
    ("text", MODEL),  # cached: what a frame with unchanged queries pays
    ("painting", OWN),  # segment()'s painting + region_id_image()
    ("grounding", OWN),
    ("untimed_glue", GLUE),  # frame wall time minus the stages: transfers, boxes, small steps
)
UNCACHED_TEXT = "text_uncached"  # first encoding of the queries; paid once per query change
SWEEP_STAGES = ("mask_to_grid", "global_patch_removal", "pooling", "painting", "grounding")
DEFAULT_QUERIES = "mug, table; desk, chair, laptop; computer, floor; ground, background; wall; sky"
RANDOM_WEIGHTS = "random"


# -- command line ----------------------------------------------------------------------------------
def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (width, height)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from error
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return width, height


def parse_int_list(text: str) -> list[int]:
    """'8,16,32' -> [8, 16, 32] (sorted, unique, each >= 1)."""
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from error
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_scale(text: str) -> tuple[int, int]:
    """'2016,672' -> (2016, 672): long-side and short-side bound of the image encoder rescale."""
    try:
        pair = [int(v) for v in text.replace("x", ",").split(",") if v.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"scale must be LONG,SHORT, got {text!r}") from error
    if len(pair) != 2:
        raise argparse.ArgumentTypeError(f"scale must be LONG,SHORT, got {text!r}")
    return pair[0], pair[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time every stage of the TextRegion engine (see the module docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    model = parser.add_argument_group("models")
    model.add_argument("--backbone", default="clip", choices=("clip", "siglip2", "pe"))
    model.add_argument("--model", default="ViT-B-16", help="open_clip model name")
    model.add_argument("--weights", default=RANDOM_WEIGHTS, help="open_clip pretrained tag, file or 'random'")
    model.add_argument("--sam2-model", default="sam2.1_hiera_t")
    model.add_argument("--sam2-weights", default=RANDOM_WEIGHTS, help="SAM2 checkpoint, hub id or 'random'")
    model.add_argument("--sam2-image-size", type=int, default=1024)
    model.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    model.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    method = parser.add_argument_group("method")
    method.add_argument("--points-per-side", type=int, default=16)
    method.add_argument("--points-per-batch", type=int, default=None, help="default: the engine's")
    method.add_argument("--resize-mode", default=None, choices=("multi_resolution", "resize"))
    method.add_argument("--scale", type=parse_scale, default=None, help="LONG,SHORT rescale bound (default: the engine's)")
    method.add_argument("--thresholds-off", action="store_true",
                        help="pred_iou_thresh = stability_score_thresh = min_mask_area = 0 and, unless "
                             "--global-patch-threshold is given, global_patch_threshold = -1 (removes nothing, "
                             "still computed), so random weights yield masks and tokens")
    method.add_argument("--global-patch-threshold", type=float, default=None)
    run = parser.add_argument_group("run")
    run.add_argument("--size", type=parse_size, default=(640, 480), help="image WIDTHxHEIGHT")
    run.add_argument("--queries", default=DEFAULT_QUERIES, help="comma-separated; 'a; b' are synonyms")
    run.add_argument("--repeats", type=int, default=3, help="timed runs (after 1 warm-up run)")
    run.add_argument("--region-sweep", type=parse_int_list, default=None, metavar="R1,R2,...",
                     help="also time the own stages for these numbers of synthetic regions")
    run.add_argument("--sweep-repeats", type=int, default=5,
                     help="timed runs per R in the region sweep (after 1 warm-up; no model forwards, so cheap)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    run.add_argument("--json", type=Path, default=None, metavar="PATH", help="write all results here")
    return parser


def engine_config(args: argparse.Namespace) -> EngineConfig:
    changes: dict[str, Any] = {
        "backbone": args.backbone, "model": args.model, "weights": args.weights,
        "sam2_model": args.sam2_model, "sam2_weights": args.sam2_weights,
        "sam2_image_size": args.sam2_image_size, "device": args.device,
        "points_per_side": args.points_per_side, "amp": not args.no_amp,
    }
    optional = {"points_per_batch": args.points_per_batch, "resize_mode": args.resize_mode, "scale": args.scale,
                "global_patch_threshold": args.global_patch_threshold}
    changes.update({k: v for k, v in optional.items() if v is not None})
    if args.thresholds_off:
        changes.update(pred_iou_thresh=0.0, stability_score_thresh=0.0, min_mask_area=0)
        if args.global_patch_threshold is None:
            changes["global_patch_threshold"] = -1.0
    return EngineConfig(**changes)


# -- environment -------------------------------------------------------------------------------------
def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({torch.get_num_threads()} torch threads)"
    except OSError:
        pass
    return (platform.processor() or platform.machine()) + f" ({torch.get_num_threads()} torch threads)"


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device) -> float:
    """CUDA: max_memory_allocated since the last reset. CPU: the process's lifetime peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024.0


def load_line() -> str:
    """The 1-minute load average against the CPU count: other busy processes inflate CPU timings."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    busy = " (more runnable work than CPUs: CPU timings will be noisy; try --threads 1)" if load > cores else ""
    return f"1-min load average {load:.2f} on {cores} CPUs, this process included{busy}"


def memory_kind(device: torch.device) -> str:
    if device.type == "cuda":
        return ("torch.cuda.max_memory_allocated, reset before each run: every live tensor, model weights "
                "included; not the CUDA context or the allocator's cached-but-free blocks")
    return "process peak RSS from getrusage (lifetime of the process, models included; cannot be reset per run)"


# -- test image ------------------------------------------------------------------------------------
def photograph() -> Optional[tuple[np.ndarray, str]]:
    """A real photograph from scikit-image when it is installed."""
    try:
        from skimage import data
    except ImportError:
        return None
    for name in ("astronaut", "chelsea"):
        try:
            return np.ascontiguousarray(getattr(data, name)()[..., :3]), f"skimage.data.{name}()"
        except Exception:  # data files may be missing from a trimmed install
            continue
    return None


def synthetic_image(width: int, height: int, seed: int) -> np.ndarray:
    """A gradient with a few solid discs and rectangles, HxWx3 uint8."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xs / max(width - 1, 1), ys / max(height - 1, 1)
    image = np.stack([60 + 120 * u, 80 + 100 * v, 170 - 90 * u * v], axis=-1)
    colours = [(220, 40, 40), (40, 180, 60), (240, 210, 40), (50, 70, 210), (200, 90, 200), (30, 30, 30)]
    for index, colour in enumerate(colours):
        cx, cy = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
        rx, ry = rng.uniform(0.06, 0.18) * width, rng.uniform(0.06, 0.18) * height
        if index % 2 == 0:
            inside = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
        else:
            inside = (np.abs(xs - cx) <= rx) & (np.abs(ys - cy) <= ry)
        image[inside] = colour
    return image.clip(0, 255).astype(np.uint8)


def resize_rgb(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    if rgb.shape[:2] == (height, width):
        return rgb
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    resized = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return resized[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def benchmark_image(width: int, height: int, seed: int) -> tuple[np.ndarray, str]:
    found = photograph()
    if found is None:
        return synthetic_image(width, height, seed), "synthetic (gradient + shapes; scikit-image not installed)"
    rgb, source = found
    return resize_rgb(rgb, width, height), source


# -- timing helpers ----------------------------------------------------------------------------------
def timed(device: torch.device, function: Callable[[], T]) -> tuple[T, float]:
    """(result, seconds) of function(), waiting for queued GPU work before and after."""
    synchronize(device)
    start = time.perf_counter()
    result = function()
    synchronize(device)
    return result, time.perf_counter() - start


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


def run_frame(engine: TextRegionEngine, rgb: np.ndarray, queries: QuerySet) -> FrameRun:
    """regions -> segment (uncached text, then cached) -> region-id image -> ground."""
    device = engine.device
    reset_peak_memory(device)
    engine.text = TextEncoder(engine.backbone)  # empty text cache: the first segment() encodes the queries
    regions, regions_wall = timed(device, lambda: engine.regions(rgb))
    first = engine.segment(regions, queries)
    synchronize(device)
    start = time.perf_counter()  # the steady-state frame leaves out the uncached text call above
    segmentation = engine.segment(regions, queries)
    _, id_seconds = timed(device, regions.region_id_image)
    detections, ground_seconds = timed(device, lambda: engine.ground(regions, queries, segmentation=segmentation))
    wall = regions_wall + time.perf_counter() - start
    seconds = dict(regions.timings)
    seconds["text"] = segmentation.timings["text"]
    seconds[UNCACHED_TEXT] = first.timings["text"]
    seconds["painting"] = segmentation.timings["painting"] + id_seconds
    seconds["segment_painting"] = segmentation.timings["painting"]
    seconds["region_id_image"] = id_seconds
    seconds["grounding"] = ground_seconds
    stage_sum = sum(seconds.get(name, 0.0) for name, kind in FRAME_STAGES if kind != GLUE)
    seconds["untimed_glue"] = max(0.0, wall - stage_sum)
    seconds["frame_wall"] = wall
    stats = {"points": 0, "candidates": 0, "proposals": 0, "fused": 0, "regions": 0, **regions.stats}
    return FrameRun(seconds, stats, len(detections), peak_memory_mib(device))


# -- region sweep ------------------------------------------------------------------------------------
def synthetic_masks(count: int, height: int, width: int, device: torch.device, generator: torch.Generator) -> torch.Tensor:
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
    regions: int
    seconds: dict[str, list[float]] = field(default_factory=dict)
    tokens_removed: int = 0
    pool_max_abs_diff: float = 0.0
    peak_mib: Optional[float] = None

    def median(self, stage: str) -> float:
        return statistics.median(self.seconds[stage])

    def own_total(self) -> float:
        return sum(self.median(stage) for stage in SWEEP_STAGES)


class OwnStages:
    """TextRegion's own stages on fixed image features, timed one by one (mirrors engine._tokens)."""

    def __init__(self, engine: TextRegionEngine, rgb: np.ndarray) -> None:
        self.engine = engine
        self.device = engine.device
        image = engine._image_tensor(rgb)  # noqa: SLF001  (a benchmark may look inside)
        self.features, self.grid = engine._features(image)  # noqa: SLF001  once for every R
        self.image_size = (int(image.shape[-2]), int(image.shape[-1]))

    def tokens(self, masks: torch.Tensor, seconds: dict[str, list[float]]) -> tuple[torch.Tensor, int]:
        """Region tokens [R,D] (zero rows for regions with no kept token) and the tokens removed."""
        config, backbone, device = self.engine.config, self.engine.backbone, self.device

        def to_grid() -> torch.Tensor:
            grid = F.interpolate(masks[:, None], size=self.grid, mode="bilinear", align_corners=False)
            return grid[:, 0].clamp_(0.0, 1.0).flatten(1)

        weights, t_grid = timed(device, to_grid)
        kept = weights.sum(dim=1) > 0

        def remove() -> torch.Tensor:
            if not (config.remove_global_patches and bool(kept.any())):
                return torch.zeros(weights.shape[1], dtype=torch.bool, device=device)
            return global_token_mask(self.features, weights[kept], config.global_patch_threshold)

        removed, t_remove = timed(device, remove)
        weights[:, removed] = 0.0
        kept = weights.sum(dim=1) > 0

        def pool() -> torch.Tensor:
            tokens = torch.zeros(masks.shape[0], backbone.embed_dim, device=device)
            if bool(kept.any()):
                tokens[kept] = backbone.pool(weights[kept], self.features)
            return tokens

        tokens, t_pool = timed(device, pool)
        for stage, value in (("mask_to_grid", t_grid), ("global_patch_removal", t_remove), ("pooling", t_pool)):
            seconds.setdefault(stage, []).append(value)
        return tokens, int(removed.sum())

    def regions(self, tokens: torch.Tensor, masks: torch.Tensor) -> Regions:
        """A Regions object as the engine would return it, with masks at working resolution."""
        height, width = self.image_size
        work_h, work_w = working_size(self.image_size)
        work = masks
        if (work_h, work_w) != (height, width):
            work = F.interpolate(masks[:, None], size=(work_h, work_w), mode="bilinear", align_corners=False)[:, 0]
        binary = work > 0
        scale = torch.tensor([width / work_w, height / work_h] * 2, device=work.device)
        areas = torch.round(binary.flatten(1).sum(1).float() * (height * width) / (work_h * work_w)).long()
        ones = torch.ones(masks.shape[0], device=work.device)
        return Regions(tokens=tokens, masks=work, boxes=masks_to_boxes(binary) * scale, areas=areas,
                       scores=ones, stability=ones, image_size=self.image_size, model_id=self.engine.config.model_id,
                       logit_affine=self.engine.backbone.logit_affine())


@dataclass
class SweepCase:
    """One region count of the sweep; its masks are regenerated from `seed` (one R in memory at a time)."""

    count: int
    seed: int
    reference: torch.Tensor  # engine.pool tokens of these masks (image encoder included)
    row: SweepRow


def sweep_masks(own: OwnStages, case_count: int, seed: int) -> torch.Tensor:
    height, width = own.image_size
    return synthetic_masks(case_count, height, width, own.device, torch.Generator().manual_seed(seed))


def prepare_case(own: OwnStages, rgb: np.ndarray, count: int, seed: int, queries: QuerySet) -> SweepCase:
    masks = sweep_masks(own, count, seed)
    reference = own.engine.pool(rgb, masks)  # cross-check of the stage-by-stage path
    own.engine.segment(own.regions(reference, masks), queries)  # text cached before anything is timed
    return SweepCase(count, seed, reference, SweepRow(count))


def time_case(own: OwnStages, case: SweepCase, queries: QuerySet, record: bool) -> None:
    """One timed pass of the own stages for one region count (recorded unless a warm-up)."""
    engine, device, row = own.engine, own.device, case.row
    masks = sweep_masks(own, case.count, case.seed)
    reset_peak_memory(device)
    seconds: dict[str, list[float]] = row.seconds if record else {}
    tokens, removed = own.tokens(masks, seconds)
    regions = own.regions(tokens, masks)
    segmentation = engine.segment(regions, queries)
    _, id_seconds = timed(device, regions.region_id_image)
    _, ground_seconds = timed(device, lambda: engine.ground(regions, queries, segmentation=segmentation))
    seconds.setdefault("painting", []).append(segmentation.timings["painting"] + id_seconds)
    seconds.setdefault("grounding", []).append(ground_seconds)
    row.tokens_removed = removed
    row.pool_max_abs_diff = float((tokens - case.reference).abs().max())
    if device.type == "cuda" and record:
        row.peak_mib = max(row.peak_mib or 0.0, peak_memory_mib(device))


def run_sweep(own: OwnStages, rgb: np.ndarray, counts: Sequence[int], queries: QuerySet, repeats: int,
              seed: int) -> list[SweepRow]:
    """Warm-up pass, then `repeats` passes; each pass times every R in turn, so slow spells of a
    shared machine spread over all R instead of bending the line."""
    cases = [prepare_case(own, rgb, count, seed + count, queries) for count in counts]
    for attempt in range(repeats + 1):
        for case in cases:
            time_case(own, case, queries, record=attempt > 0)
    return [case.row for case in cases]


@dataclass
class LinearFit:
    slope: float  # seconds per region
    intercept: float  # seconds
    r_squared: float


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> LinearFit:
    """Least-squares y = slope * x + intercept and its coefficient of determination."""
    x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0:
        return LinearFit(float("nan"), float(y.mean()) if len(y) else float("nan"), float("nan"))
    design = np.stack([x, np.ones_like(x)], axis=1)
    (slope, intercept), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = float(((y - (slope * x + intercept)) ** 2).sum())
    total = float(((y - y.mean()) ** 2).sum())
    r_squared = 1.0 - residual / total if total > 0 else 1.0
    return LinearFit(float(slope), float(intercept), r_squared)


# -- tables --------------------------------------------------------------------------------------------
def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned plain text: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def kind_label(kind: str) -> str:
    return {MODEL: "model fwd", OWN: "TextRegion", GLUE: "-"}[kind]


def frame_stage_stats(runs: Sequence[FrameRun]) -> list[StageStats]:
    return [StageStats(name, kind, [run.seconds.get(name, 0.0) for run in runs],
                       ran=any(name in run.seconds for run in runs)) for name, kind in FRAME_STAGES]


def print_frame_report(stages: list[StageStats], runs: Sequence[FrameRun], device: torch.device) -> dict[str, Any]:
    total = sum(stage.median for stage in stages)
    rows = [[s.name, kind_label(s.kind), ms(s.median), ms(s.minimum), f"{100 * s.median / total:.1f}" if total else "-"]
            if s.ran else [s.name, kind_label(s.kind), "not run", "not run", "-"] for s in stages]
    uncached = StageStats(UNCACHED_TEXT, MODEL, [run.seconds[UNCACHED_TEXT] for run in runs])
    rows.append(["total (steady-state frame)", "", ms(total), ms(sum(s.minimum for s in stages)), "100.0"])
    rows.append([f"{UNCACHED_TEXT} (once per query change, not in total)", kind_label(MODEL),
                 ms(uncached.median), ms(uncached.minimum), "-"])
    print(format_table(["stage", "kind", "median ms", "min ms", "share %"], rows))
    own = sum(s.median for s in stages if s.kind == OWN)
    model = sum(s.median for s in stages if s.kind == MODEL)
    print(f"\nTextRegion's own stages: {ms(own)} ms of {ms(total)} ms = "
          f"{100 * own / total if total else 0:.1f} % of the frame (model forwards {100 * model / total if total else 0:.1f} %, "
          f"own : model = {own / model if model else float('nan'):.3f})")
    painting = [[name, ms(statistics.median(run.seconds[name] for run in runs))]
                for name in ("segment_painting", "region_id_image")]
    print("painting = " + " + ".join(f"{name} {value} ms" for name, value in painting) + " (medians)")
    peak = max(run.peak_mib for run in runs)
    print(f"peak memory: {peak:.1f} MiB ({memory_kind(device)})")
    return {
        "stages": {s.name: {"kind": s.kind, "ran": s.ran, "median_s": s.median, "min_s": s.minimum, "samples_s": s.samples,
                            "share": s.median / total if total else None} for s in stages},
        UNCACHED_TEXT: {"kind": MODEL, "median_s": uncached.median, "min_s": uncached.minimum,
                        "samples_s": uncached.samples},
        "total_median_s": total,
        "own_median_s": own,
        "model_median_s": model,
        "own_share": own / total if total else None,
        "detail_samples_s": {name: [run.seconds[name] for run in runs]
                             for name in ("segment_painting", "region_id_image", "frame_wall")},
        "peak_memory_mib": peak,
        "peak_memory_kind": memory_kind(device),
        "peak_memory_per_run_mib": [run.peak_mib for run in runs],
    }


def print_counts(run: FrameRun) -> dict[str, int]:
    counts = {**run.stats, "detections": run.detections}
    names = ("points", "candidates", "proposals", "fused", "regions", "detections")
    print(format_table(["count", "value"], [[name, str(counts.get(name, 0))] for name in names]))
    return counts


def print_sweep(rows: Sequence[SweepRow]) -> dict[str, Any]:
    stages = list(SWEEP_STAGES)
    has_peak = any(row.peak_mib is not None for row in rows)
    headers = ["R", *[f"{s} ms" for s in stages], "own total ms", "own us/region", "removed tok", "pool |diff|"]
    headers += ["peak MiB"] if has_peak else []
    table = []
    for row in rows:
        cells = [str(row.regions), *[ms(row.median(s)) for s in stages], ms(row.own_total()),
                 f"{row.own_total() / row.regions * 1e6:.1f}", str(row.tokens_removed), f"{row.pool_max_abs_diff:.1e}"]
        table.append(cells + ([f"{row.peak_mib:.1f}"] if has_peak else []))
    print(format_table(headers, table))
    counts = [row.regions for row in rows]
    fits = {stage: linear_fit(counts, [row.median(stage) for row in rows]) for stage in stages}
    fits["own total"] = linear_fit(counts, [row.own_total() for row in rows])
    print("\nleast-squares fit  time = slope * R + intercept  (medians)")
    fit_rows = [[name, f"{fit.slope * 1e6:.2f}", ms(fit.intercept), f"{fit.r_squared:.4f}"] for name, fit in fits.items()]
    print(format_table(["stage", "slope us/region", "intercept ms", "R^2"], fit_rows))
    return {
        "rows": [{"regions": row.regions, "samples_s": row.seconds,
                  "median_s": {s: row.median(s) for s in stages}, "own_total_median_s": row.own_total(),
                  "tokens_removed": row.tokens_removed, "pool_max_abs_diff_vs_engine_pool": row.pool_max_abs_diff,
                  "peak_memory_mib": row.peak_mib} for row in rows],
        "fits": {name: dataclasses.asdict(fit) for name, fit in fits.items()},
    }


# -- main ----------------------------------------------------------------------------------------------
def print_header(engine: TextRegionEngine, args: argparse.Namespace, image_source: str, queries: QuerySet) -> dict[str, Any]:
    config = engine.config
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": str(engine.device),
        "device_name": device_name(engine.device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if engine.device.type == "cuda" else None,
        "python": platform.python_version(),
        "image": {"source": image_source, "width": args.size[0], "height": args.size[1]},
        "queries": list(queries.classes),
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_start": list(os.getloadavg()),
    }
    print(f"device : {info['device']} = {info['device_name']}")
    print(f"torch  : {info['torch']}" + (f" (CUDA {info['cuda']})" if info["cuda"] else ""))
    print(f"image  : {args.size[0]}x{args.size[1]} {image_source}")
    print(f"models : {config.backbone} {config.model} weights={config.weights}; SAM2 {config.sam2_model} "
          f"weights={config.sam2_weights} at {config.sam2_image_size}; amp={config.amp and engine.device.type == 'cuda'}")
    print(f"method : points_per_side={config.points_per_side} points_per_batch={config.points_per_batch} "
          f"pred_iou>{config.pred_iou_thresh} stability>={config.stability_score_thresh} "
          f"min_mask_area={config.min_mask_area} resize_mode={config.resize_mode} scale={list(config.scale)} "
          f"global_patch_threshold={config.global_patch_threshold}")
    print(f"host   : {load_line()}")
    print(f"queries: {', '.join(queries.classes)}")
    print(f"runs   : 1 warm-up + {args.repeats} timed")
    for note in random_weight_notes(args):
        print(f"note   : {note}")
    return info


def random_weight_notes(args: argparse.Namespace) -> list[str]:
    notes = []
    if RANDOM_WEIGHTS in (args.weights, args.sam2_weights):
        notes.append("random weights: timings are real, labels and scores are meaningless.")
    if args.sam2_weights == RANDOM_WEIGHTS and not args.thresholds_off:
        notes.append("random SAM2 weights with the default thresholds keep no masks (predicted IoU ~0.55, "
                     "stability ~0): pass --thresholds-off to time the stages after SAM2 on real regions.")
    if args.weights == RANDOM_WEIGHTS and not args.thresholds_off and args.global_patch_threshold is None:
        notes.append("random image weights make every token look global, so global-patch removal at 0.07 "
                     "removes them all and pooling has nothing to do: pass --thresholds-off.")
    return notes


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeats < 1 or args.sweep_repeats < 1:
        raise SystemExit("--repeats and --sweep-repeats must be >= 1")
    torch.manual_seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    config = engine_config(args)
    queries = parse_queries(split_query_text(args.queries))
    rgb, image_source = benchmark_image(args.size[0], args.size[1], args.seed)

    engine = TextRegionEngine(config)
    results: dict[str, Any] = {"config": dataclasses.asdict(config), "args": _jsonable(vars(args))}
    results.update(print_header(engine, args, image_source, queries))

    print(f"\n== frame stages (median / min over {args.repeats} runs) ==")
    run_frame(engine, rgb, queries)  # warm-up
    runs = [run_frame(engine, rgb, queries) for _ in range(args.repeats)]
    results["frame"] = print_frame_report(frame_stage_stats(runs), runs, engine.device)
    print()
    results["counts"] = print_counts(runs[-1])

    if args.region_sweep:
        print(f"\n== region sweep: TextRegion's own stages for R synthetic masks "
              f"(image features computed once; median over {args.sweep_repeats} runs) ==")
        own = OwnStages(engine, rgb)
        rows = run_sweep(own, rgb, args.region_sweep, queries, args.sweep_repeats, args.seed)
        print(f"token grid {own.grid[0]}x{own.grid[1]} = {own.grid[0] * own.grid[1]} tokens. mask_to_grid = bilinear "
              f"masks -> token grid (no stage timer in the engine: part of untimed_glue above); painting = "
              f"segment painting + region_id_image; pool |diff| = max |these tokens - engine.pool(rgb, masks)|")
        results["region_sweep"] = {"token_grid": list(own.grid), **print_sweep(rows)}

    print(f"\nhost at the end: {load_line()}")
    results["load_average_end"] = list(os.getloadavg())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwrote {args.json}")
    return 0


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()}


if __name__ == "__main__":
    sys.exit(main())
