#!/usr/bin/env python3
"""Frame time of each hardware preset against the defaults, as ratios measured in one run.

    python textregion_ros/benchmarks/engine_presets.py --presets desktop_gpu,small_gpu --device cpu
    python textregion_ros/benchmarks/engine_presets.py --presets small_gpu --device cuda --json /tmp/p.json

Every preset is what the node would run with: config/textregion.yaml, then config/presets/<name>.yaml
(`default` = the main file alone), read by the same code as the node (cli.settings.resolve_settings),
then --device and random weights with the mask filters off (as engine_stages.py --thresholds-off: random
weights keep no masks otherwise; every preset then runs with the most masks its grid yields). One engine
per preset is built first; then each timed round runs one frame of every preset in turn, so a slow spell
of a shared machine hits every preset alike, and the ratios (preset median / default median) are the
figure to read. A second table says what each preset gives up, computed from its settings at --size:
the point spacing (the smallest object certain to get a SAM2 prompt), the CLIP views (tiles) and the
width of the frame one token spans. Nothing here is a test assertion.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # engine_stages, bench_common (run as a script)

from bench_common import benchmark_device, cpu_model
from engine_stages import FRAME_STAGES, benchmark_image, format_table, load_line, run_frame

from textregion_ros.cli.settings import resolve_settings
from textregion_ros.engine import EngineConfig, TextRegionEngine, parse_queries, split_query_text
from textregion_ros.engine.rescale import rescaled_size
from textregion_ros.engine.tiling import plan_views
from textregion_ros.tooling.params_files import config_file, preset_file

DEFAULT = "default"
RANDOM = {"weights": "random", "sam2_weights": "random", "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0,
          "min_mask_area": 0, "remove_global_patches": False}
QUERIES = "person, chair, table; desk, floor; ground, door"
CLIP_CROP, PATCH = 336, 16  # CLIP ViT-B/16 views (crop_size 0 = 336 for CLIP)
MAIN_STAGES = ("sam2_encode", "sam2_decode_filter", "image_encoder")


def preset_config(name: str, device: str, points_per_batch: Optional[int]) -> EngineConfig:
    """The engine config the node would run with under preset `name`, on `device`, with random weights
    (and `points_per_batch`, a memory bound that leaves the work per frame as it is, when given)."""
    files = [config_file()] + ([] if name == DEFAULT else [preset_file(name)])
    extra = {} if points_per_batch is None else {"points_per_batch": points_per_batch}
    return resolve_settings(files, overrides={**RANDOM, "device": device, **extra}).config


def gives_up(config: EngineConfig, width: int, height: int) -> dict[str, Any]:
    """What a config resolves at a width x height frame, from its settings alone."""
    spacing = (width / config.points_per_side, height / config.points_per_side)
    crop = config.crop_size or CLIP_CROP
    rh, rw = rescaled_size(height, width, tuple(config.scale))
    layout = plan_views(rh, rw, crop, config.resize_mode == "multi_resolution")
    grid = layout.grid_shape(crop // PATCH)
    return {"sam2_image_size": config.sam2_image_size, "points": config.points_per_side ** 2,
            "point_spacing_px": spacing, "views": layout.view_count, "tiles": len(layout.tile_boxes),
            "token_grid": grid, "token_px": width / grid[1]}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="desktop_gpu,small_gpu",
                        help="comma-separated presets of config/presets/ timed against the defaults")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (overrides the presets' device)")
    parser.add_argument("--size", default="640x480", help="WxH of the frame")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (after one warm-up round)")
    parser.add_argument("--points-per-batch", type=int, default=None,
                        help="SAM2 prompts per decoder batch for every preset (default: each preset's own; "
                             "a CPU with little memory needs e.g. 64)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--json", type=Path, default=None)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    device = benchmark_device(args.device, args.threads)
    names = [DEFAULT] + [n.strip() for n in args.presets.split(",") if n.strip() and n.strip() != DEFAULT]
    configs = {name: preset_config(name, str(device), args.points_per_batch) for name in names}
    queries = parse_queries(split_query_text(QUERIES))
    rgb, source = benchmark_image(width, height, 0)
    torch.manual_seed(0)
    engines: dict[str, TextRegionEngine] = {}
    for name, config in configs.items():  # presets with the default's very settings share its engine (memory)
        same = next((other for other in engines if configs[other] == config), None)
        engines[name] = engines[same] if same else TextRegionEngine(config)
    same_as = {name: next(other for other in engines if engines[other] is engines[name]) for name in names}
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{cpu_model()} ({torch.get_num_threads()} torch threads)"
    print(f"device: {machine}; torch {torch.__version__}; {width}x{height} {source}; random weights, filters off")
    print(f"host  : {load_line()}")
    runs: dict[str, list] = {name: [] for name in names}
    for round_index in range(args.repeats + 1):  # round 0 warms every engine up
        for name in names:
            # a shared engine still runs a frame of its own
            run = run_frame(engines[name], rgb, queries, keep_text=True)
            print(f"  round {round_index} {name}: {sum(run.seconds.get(s, 0.0) for s, _ in FRAME_STAGES):.2f} s",
                  flush=True)
            if round_index:
                runs[name].append(run)

    def frame_s(run) -> float:
        return sum(run.seconds.get(stage, 0.0) for stage, _ in FRAME_STAGES)

    base = statistics.median(frame_s(run) for run in runs[DEFAULT])
    rows, record = [], {}
    for name in names:
        frame = statistics.median(frame_s(run) for run in runs[name])
        stages = {stage: statistics.median(run.seconds.get(stage, 0.0) for run in runs[name]) for stage in MAIN_STAGES}
        counts = runs[name][-1].stats
        label = name if same_as[name] == name else f"{name} (= {same_as[name]} settings)"
        rows.append([label, f"{frame * 1e3:.0f}", f"{frame / base:.2f}",
                     *(f"{stages[s] * 1e3:.0f}" for s in MAIN_STAGES),
                     str(counts.get("candidates", 0)), str(counts.get("regions", 0))])
        record[name] = {"config": dataclasses.asdict(configs[name]), "frame_median_s": frame, "ratio": frame / base,
                        "stages_median_s": stages, "frames_s": [frame_s(run) for run in runs[name]],
                        "counts": counts, "gives_up": gives_up(configs[name], width, height)}
    print(f"\nframe time, median of {args.repeats} rounds (presets interleaved); ratio = preset / default")
    print(format_table(["preset", "frame ms", "ratio", *(f"{s} ms" for s in MAIN_STAGES), "SAM2 masks", "regions"],
                       rows))
    print(f"\nwhat each gives up at {width}x{height} (from its settings)")
    limits = []
    for name in names:
        g = record[name]["gives_up"]
        limits.append([name, str(g["sam2_image_size"]), str(g["points"]),
                       f"{g['point_spacing_px'][0]:.0f} x {g['point_spacing_px'][1]:.0f}",
                       f"{g['views']} ({g['tiles']} tiles)", f"{g['token_grid'][0]} x {g['token_grid'][1]}",
                       f"{g['token_px']:.0f}"])
    print(format_table(["preset", "SAM2 px", "points", "smallest sure object px", "CLIP views", "token grid",
                        "px per token"], limits))
    print("smallest sure object = one point spacing: anything at least that wide and tall holds a grid point; "
          "smaller objects are masked only when a point lands on them")
    print(f"host at the end: {load_line()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "device": machine, "torch": torch.__version__, "size": [width, height], "image": source,
            "repeats": args.repeats, "cpu_count": os.cpu_count(), "presets": record}, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
