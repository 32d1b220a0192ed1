"""Top operators per stage (torch.profiler) of a frame of R injected proposals, after SAM2.

    OMP_NUM_THREADS=1 python textregion_ros/benchmarks/stage_profile.py --regions 8,256 --size 640x480

For each R: the stages after the SAM2 decoder (mask selection, soft masks + fusion, image features,
region tokens, painting, grounding) run once to warm up, then once each under torch.profiler; for
each stage the table lists its wall time and the operators with the most self time, so what
dominates a stage is named rather than guessed. The config is the small CPU one (PE-Core-T, random
weights, filters off); the masks are injected_regions.py's synthetic candidates.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

try:
    import textregion_ros.engine  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import benchmark_device, cpu_model, positive_ints
from engine_stages import benchmark_image
from injected_regions import candidates
from torch.profiler import ProfilerActivity, profile

from textregion_ros.engine import EngineConfig, TextRegionEngine
from textregion_ros.engine import mask_fusion
from textregion_ros.engine.sam2_masks import select_masks

QUERIES = ["mug", "table; desk", "chair", "floor", "wall"]


def stages(engine: TextRegionEngine, rgb, count: int) -> list[tuple[str, Callable[[dict], Any]]]:
    """The stages as closures over one shared state dict, in frame order."""
    config = engine.config
    cands = candidates(count, config.sam2_image_size // 4, count, engine.device)
    frame = engine.prepare_frame(rgb)

    def select(state: dict) -> None:
        state["proposals"] = select_masks(*cands, config.box_nms_thresh, config.min_mask_area, points=count)

    def fuse(state: dict) -> None:
        proposals = state["proposals"]
        soft = mask_fusion.soft_masks(proposals, mask_fusion.working_size(frame.size))
        state["fused"] = mask_fusion.fuse(proposals, soft, config.fuse_mask_threshold)

    def features(state: dict) -> None:
        state["features"] = engine.image_features(frame)

    def tokens(state: dict) -> None:
        state["regions"] = engine.finish_regions(frame, state["proposals"], features=state["features"],
                                                 fused=state["fused"])

    def painting(state: dict) -> None:
        state["segmentation"] = engine.segment(state["regions"], QUERIES)

    def grounding(state: dict) -> None:
        engine.ground(state["regions"], QUERIES, segmentation=state["segmentation"])

    return [("select_nms", select), ("mask_fusion", fuse), ("image_encoder", features),
            ("region_tokens", tokens), ("painting", painting), ("grounding", grounding)]


def profile_stages(engine: TextRegionEngine, rgb, count: int, top: int) -> dict[str, Any]:
    plan = stages(engine, rgb, count)
    state: dict = {}
    for _, fn in plan:  # warm-up (text cache, allocator)
        fn(state)
    report = {}
    for name, fn in plan:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            fn(state)
            wall = time.perf_counter() - start
        events = sorted((e for e in prof.key_averages() if not e.key.startswith("ProfilerStep")),
                        key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
        total = sum(e.self_cpu_time_total for e in prof.key_averages()) or 1.0
        report[name] = {"wall_s": wall, "top": [{"op": e.key, "self_ms": e.self_cpu_time_total / 1e3,
                                                 "share": e.self_cpu_time_total / total, "calls": e.count}
                                                for e in events]}
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=positive_ints, default=[8, 256])
    parser.add_argument("--size", default="640x480", help="image WIDTHxHEIGHT")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    device = benchmark_device("cpu", args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    config = EngineConfig(backbone="pe", model="PE-Core-T-16-384", weights="random", sam2_weights="random",
                          device=str(device), pred_iou_thresh=0.0, stability_score_thresh=0.0, min_mask_area=0,
                          global_patch_threshold=-1.0, resize_mode="resize")
    engine = TextRegionEngine(config)
    rgb, source = benchmark_image(width, height, 0)
    print(f"{cpu_model()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}; {width}x{height} "
          f"{source}; PE-Core-T random weights; candidates at {config.sam2_image_size // 4} px")
    for count in args.regions:
        report = profile_stages(engine, rgb, count, args.top)
        print(f"\n== R = {count} injected candidates ==")
        for name, stage in report.items():
            ops = "; ".join(f"{op['op']} {op['self_ms']:.2f} ms ({op['share']:.0%}, {op['calls']}x)"
                            for op in stage["top"])
            print(f"{name:<14} {stage['wall_s'] * 1e3:8.2f} ms | {ops}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
