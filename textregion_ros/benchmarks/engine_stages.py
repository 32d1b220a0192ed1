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
     injected in place of SAM2's (the image features are computed once; --sweep-repeats passes
     over all R, one R after the other, so a slow spell hits every R), per stage and per region,
     with a least-squares line (slope per region, intercept, R^2) showing the cost is linear in R.
  4. with --injected-regions R1,R2,...: R synthetic SAM2 candidates through mask selection (NMS),
     fusion and the rest of the frame, per stage and host syncs per frame, before (the engine at
     --before-commit, from git) vs after (this checkout), frames alternating (injected_regions.py);
  5. with --compile: each stage eager vs compiled (compile=off vs on on the same models, frames
     alternating), p50 / p95 and the ratio, plus the configure-time compile per stage (compiled_stages.py).

Every stage is the engine's own code, timed by the engine's StageTimer: a frame is
engine.regions() (its Regions.timings), segment(), region_id_image() and ground(); the sweep calls
the engine's public stages (image_features once, then region_tokens and build_regions per R).

On a shared CPU machine, other busy processes make multi-threaded torch very noisy (the load
average is printed at the start and the end); --threads 1 gives steadier CPU numbers.

--json PATH writes every number, the config, the device (device, device_name), the torch version
and the date; frame.total_median_s is the steady-state frame, counts.regions its final regions,
region_sweep.rows[].regions the injected region counts; injected_regions.rows[] one per R and side
(before / after) with syncs, syncs_by_op, median_s per stage and fusion_nms_median_s.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

try:
    import textregion_ros.engine  # noqa: F401  (installed, or run from a colcon/pip install)
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import format_table, ms, peak_memory_mib, reset_peak_memory
from injected_regions import BEFORE_COMMIT, run_injected
from region_sweep import print_sweep, run_sweep
from textregion_ros.engine import EngineConfig, QuerySet, TextRegionEngine, parse_queries, split_query_text
from textregion_ros.engine.precision import PRECISIONS
from textregion_ros.engine.rescale import resize_linear_uint8
from textregion_ros.engine.timing import StageTimer

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
DEFAULT_QUERIES = "mug, table; desk, chair, laptop; computer, floor; ground, background; wall; sky"
RANDOM_WEIGHTS = "random"


# -- command line ----------------------------------------------------------------------------------
def positive_ints(text: str, count: int = 0, separators: str = ",") -> list[int]:
    """'8,16,32' -> [8, 16, 32]; with `count`, exactly that many ('640x480' -> [640, 480] with separators 'x')."""
    for separator in separators[1:]:
        text = text.lower().replace(separator, separators[0])
    try:
        values = [int(v) for v in text.split(separators[0]) if v.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected integers, got {text!r}") from error
    if not values or min(values) < 1 or (count and len(values) != count):
        raise argparse.ArgumentTypeError(f"expected {count or 'some'} positive integers, got {text!r}")
    return values


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (width, height)."""
    width, height = positive_ints(text, 2, "x")
    return width, height


def parse_scale(text: str) -> tuple[int, int]:
    """'2016,672' -> (2016, 672): long-side and short-side bound of the rescale."""
    long_side, short_side = positive_ints(text, 2, ",x")
    return long_side, short_side


def parse_int_list(text: str) -> list[int]:
    """'8,16,32' -> [8, 16, 32] (sorted, unique)."""
    return sorted(set(positive_ints(text)))


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
    model.add_argument("--precision", default="auto", choices=PRECISIONS,
                       help="autocast of the models (the engine's precision parameter)")
    method = parser.add_argument_group("method")
    method.add_argument("--points-per-side", type=int, default=16)
    method.add_argument("--points-per-batch", type=int, default=None, help="default: the engine's")
    method.add_argument("--resize-mode", default=None, choices=("multi_resolution", "resize"))
    method.add_argument("--scale", type=parse_scale, default=None,
                        help="LONG,SHORT rescale bound (default: the engine's)")
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
    run.add_argument("--injected-regions", type=parse_int_list, default=None, metavar="R1,R2,...",
                     help="R synthetic SAM2 proposals through selection, fusion and the rest of the frame, "
                          "per stage and syncs per frame, before (--before-commit) vs after (injected_regions.py)")
    run.add_argument("--before-commit", default=BEFORE_COMMIT,
                     help="git commit of the 'before' engine for --injected-regions ('' = after only)")
    run.add_argument("--compile", action="store_true",
                     help="also time every stage eager vs compiled (compile=off vs on, same models) as ratios; "
                          "the main table then runs eager")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    run.add_argument("--json", type=Path, default=None, metavar="PATH", help="write all results here")
    return parser


def engine_config(args: argparse.Namespace) -> EngineConfig:
    changes: dict[str, Any] = {
        "backbone": args.backbone, "model": args.model, "weights": args.weights,
        "sam2_model": args.sam2_model, "sam2_weights": args.sam2_weights,
        "sam2_image_size": args.sam2_image_size, "device": args.device,
        "points_per_side": args.points_per_side, "precision": args.precision,
        "compile": "off" if args.compile else "auto",  # --compile: this engine eager, the comparison compiles
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


def benchmark_image(width: int, height: int, seed: int) -> tuple[np.ndarray, str]:
    found = photograph()
    if found is None:
        return synthetic_image(width, height, seed), "synthetic (gradient + shapes; scikit-image not installed)"
    rgb, source = found
    return resize_linear_uint8(torch.from_numpy(rgb), (height, width)).numpy(), source


# -- frame stages ------------------------------------------------------------------------------------
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


# -- tables --------------------------------------------------------------------------------------------
def kind_label(kind: str) -> str:
    return {MODEL: "model fwd", OWN: "TextRegion", INPUT: "input prep", GLUE: "-"}[kind]


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
          f"{100 * own / total if total else 0:.1f} % of the frame "
          f"(model forwards {100 * model / total if total else 0:.1f} %, "
          f"own : model = {own / model if model else float('nan'):.3f})")
    painting = [[name, ms(statistics.median(run.seconds[name] for run in runs))]
                for name in ("segment_painting", "region_id_image")]
    print("painting = " + " + ".join(f"{name} {value} ms" for name, value in painting) + " (medians)")
    peak = max(run.peak_mib for run in runs)
    print(f"peak memory: {peak:.1f} MiB ({memory_kind(device)})")
    return {
        "stages": {s.name: {"kind": s.kind, "ran": s.ran, "median_s": s.median, "min_s": s.minimum,
                            "samples_s": s.samples,
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


# -- main ----------------------------------------------------------------------------------------------
def print_header(engine: TextRegionEngine, args: argparse.Namespace, image_source: str,
                 queries: QuerySet) -> dict[str, Any]:
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
          f"weights={config.sam2_weights} at {config.sam2_image_size}; "
          f"precision={config.precision}: {engine.precision.describe()}")
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
        rows, grid = run_sweep(engine, engine.prepare_frame(rgb), args.region_sweep, queries, args.sweep_repeats,
                               args.seed)
        print(f"token grid {grid[0]}x{grid[1]} = {grid[0] * grid[1]} tokens. mask_to_grid = bilinear masks -> token "
              f"grid; painting = segment painting + region_id_image")
        results["region_sweep"] = {"token_grid": list(grid), **print_sweep(rows)}

    if args.injected_regions:
        print(f"\n== injected regions: R synthetic proposals from mask selection on (median over {args.repeats} "
              f"frames per R and side, alternating) ==")
        results["injected_regions"] = run_injected(engine, rgb, split_query_text(args.queries), args.injected_regions,
                                                   args.repeats, args.before_commit, args.seed, format_table)

    if args.compile:  # eager vs compiled per stage (benchmarks/compiled_stages.py)
        from compiled_stages import compare_compiled
        print(f"\n== eager vs compiled per stage (p50 / p95 over {args.repeats} alternating frames each) ==")
        results["compiled"] = compare_compiled(engine, rgb, args.repeats, format_table)

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
