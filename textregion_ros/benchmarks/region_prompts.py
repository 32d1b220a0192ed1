#!/usr/bin/env python3
"""region_prompts: what a `tracks` non-keyframe costs against the `grid`, as ratios measured in one run.

    python textregion_ros/benchmarks/region_prompts.py --device cpu --json docs/benchmarks/region_prompts_cpu.json
    python textregion_ros/benchmarks/region_prompts.py --device cuda --compile
    python textregion_ros/benchmarks/region_prompts.py --device cpu --quick      # tiny models: a dry run

Per config (the defaults: SAM2.1-T at 1024 with 16 x 16 points, CLIP ViT-B-16; and the small_gpu preset, both
as the node resolves them, with random weights and the mask filters off) one engine runs, frame after frame
in alternation (so a slow spell of a shared machine hits every kind alike):
  grid          region_prompts grid: every grid point decoded;
  keyframe      region_prompts tracks, a keyframe: the full grid plus the copy of the next frame's prompt basis;
  tracks T @ C  a non-keyframe with T tracked regions of the previous frame and C of the grid points covered
                by them: T boxes and the uncovered points, capped at max_prompts (tracks first).
The scene is synthetic and moving (T rectangles drifting a few pixels per frame); the previous frame's
regions are injected (perception/prompt_policy.PreviousRegions with chosen boxes and covered points), so
the coverage is exactly C. Random weights make the masks meaningless, not the cost: the table is the cost.
Per kind: prompts decoded (and the padded batch), decoder ms (sam2_decode_filter), SAM2 stage ms (encoder +
decoder + filters), frame ms (regions + segment + ground), and the ratios to `grid` of the same config.
A profile line per config names the stages of the non-keyframe at 80 % coverage, largest first.
--sam2-rounds N adds the SAM2 stage alone (one encoder pass per round, then every kind's decoder on it),
N alternating rounds: cheap enough for several rounds where whole frames are too noisy (a busy CPU);
--no-frames leaves the whole frames out.
Nothing here is a test assertion.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_common, engine_presets (run as a script)

from bench_common import benchmark_device, device_name, format_table
from engine_presets import preset_config

from textregion_ros.engine import EngineConfig, TextRegionEngine
from textregion_ros.engine.region_prompts import PromptBasis, RegionPrompts
from textregion_ros.perception.prompt_policy import PreviousRegions, tracks_prompts

QUERIES = ["person", "chair", "table", "floor", "door"]
QUICK = {"backbone": "pe", "model": "PE-Core-T-16-384", "sam2_image_size": 256, "points_per_side": 4,
         "scale": (448, 336), "resize_mode": "resize", "max_prompts": 8}




def moving_scene(width: int, height: int, objects: int, frame: int) -> np.ndarray:
    """A grey frame with `objects` flat-coloured rectangles, each drifting a few pixels per frame."""
    rng = np.random.default_rng(objects)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 200 // width + 20, yy * 200 // height + 20, np.full_like(xx, 90)], -1).astype(np.uint8)
    sizes = rng.uniform(0.06, 0.2, (objects, 2)) * (width, height)
    starts = rng.uniform(0, 1, (objects, 2)) * ((width, height) - sizes)
    drift = rng.uniform(-3, 3, (objects, 2))
    for k in range(objects):
        x, y = np.clip(starts[k] + drift[k] * frame, 0, (width, height) - sizes[k]).astype(int)
        w, h = sizes[k].astype(int)
        image[y:y + h, x:x + w] = rng.integers(0, 256, 3)
    return image


def injected_previous(tracks: int, coverage: float, side: int, sam2_size: int, seed: int) -> PreviousRegions:
    """A previous frame of `tracks` tracked regions covering exactly round(coverage * side**2) grid points."""
    rng = np.random.default_rng(seed)
    points = side * side
    covered = rng.permutation(points)[:int(round(coverage * points))]
    covers = np.zeros((tracks, points), bool)
    covers[np.arange(covered.size) % tracks, covered] = True
    corner = rng.uniform(0, 0.8 * sam2_size, (tracks, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(0.05, 0.2, (tracks, 2)) * sam2_size], 1)
    basis = PromptBasis(boxes.astype(np.float32), covers, side)
    return PreviousRegions(0, (0, 0), (), False, basis, np.arange(1, tracks + 1, dtype=np.uint32))


def kinds(tracks: Sequence[int], coverages: Sequence[float]) -> list[tuple[str, Optional[tuple[int, float]]]]:
    """(name, (tracks, coverage) or None) of every frame kind timed: grid, keyframe, then the non-keyframes."""
    chosen = [("grid", None), ("keyframe", None)]
    middle = tracks[len(tracks) // 2]
    chosen += [(f"tracks {middle} @ {c:.0%}", (middle, c)) for c in coverages]
    chosen += [(f"tracks {t} @ {coverages[len(coverages) // 2]:.0%}", (t, coverages[len(coverages) // 2]))
               for t in tracks if t != middle]
    return chosen


def run_frame(engine: TextRegionEngine, base: EngineConfig, rgb: np.ndarray, kind: str,
              previous: Optional[PreviousRegions]) -> dict[str, Any]:
    """One frame of `kind`: stage seconds, frame seconds and its prompt record."""
    mode = "grid" if kind == "grid" else "tracks"
    if engine.config.region_prompts != mode:
        engine.apply_config(dataclasses.replace(base, region_prompts=mode))
    prompts = None
    if kind == "keyframe":
        prompts = RegionPrompts.keyframe("benchmark")
    elif previous is not None:
        prompts = tracks_prompts(previous, engine.config.max_prompts)
    started = time.perf_counter()
    regions = engine.regions(rgb, prompts)
    segmentation = engine.segment(regions, QUERIES)
    engine.ground(regions, QUERIES, segmentation=segmentation)
    if engine.device.type == "cuda":
        torch.cuda.synchronize(engine.device)
    frame_s = time.perf_counter() - started
    stages = {**regions.timings, **segmentation.timings}
    return {"frame_s": frame_s, "stages": stages, "prompts": regions.prompts.as_dict(), "regions": len(regions)}


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Medians per kind, and ratios to the grid's."""
    def median(kind: str, get) -> float:
        return statistics.median(get(run) for run in runs[kind])

    def sam2(run):
        return run["stages"].get("sam2_encode", 0.0) + run["stages"].get("sam2_decode_filter", 0.0)

    grid = {"frame": median("grid", lambda r: r["frame_s"]), "sam2": median("grid", sam2),
            "decoded": runs["grid"][-1]["prompts"]["decoded"]}
    out = {}
    for kind, kind_runs in runs.items():
        record = kind_runs[-1]["prompts"]
        decoder = median(kind, lambda r: r["stages"].get("sam2_decode_filter", 0.0))
        stages = {s: median(kind, lambda r, s=s: r["stages"].get(s, 0.0)) for s in kind_runs[-1]["stages"]}
        out[kind] = {"prompts": record, "masks_decoded": 3 * record["decoded"], "decoder_s": decoder,
                     "sam2_s": median(kind, sam2), "frame_s": median(kind, lambda r: r["frame_s"]),
                     "decoded_ratio": record["decoded"] / grid["decoded"],
                     "sam2_ratio": median(kind, sam2) / grid["sam2"],
                     "frame_ratio": median(kind, lambda r: r["frame_s"]) / grid["frame"],
                     "stages_s": stages, "frames_s": [r["frame_s"] for r in kind_runs]}
    return out


def table(name: str, summary: dict[str, dict[str, Any]]) -> str:
    rows = []
    for kind, s in summary.items():
        p = s["prompts"]
        rows.append([kind, str(p["decoded"]), str(p["padded"]), str(p["from_tracks"]), str(p["discovery"]),
                     str(p["skipped"]), f"{s['decoder_s'] * 1e3:.0f}", f"{s['sam2_s'] * 1e3:.0f}",
                     f"{s['frame_s'] * 1e3:.0f}", f"{s['decoded_ratio']:.2f}", f"{s['sam2_ratio']:.2f}",
                     f"{s['frame_ratio']:.2f}"])
    return f"{name}\n" + format_table(
        ["frame kind", "decoded", "padded", "tracks", "discovery", "skipped", "decoder ms", "SAM2 ms", "frame ms",
         "decoded x", "SAM2 x", "frame x"], rows)


def profile(summary: dict[str, dict[str, Any]], kind: str) -> str:
    """The stages of one kind, largest first, with their share of the frame."""
    s = summary[kind]
    total = s["frame_s"]
    parts = sorted(s["stages_s"].items(), key=lambda item: -item[1])
    return f"profile of '{kind}': " + ", ".join(f"{stage} {sec * 1e3:.0f} ms ({sec / total:.0%})"
                                                  for stage, sec in parts[:6])


def sam2_rounds(engine: TextRegionEngine, base: EngineConfig, rgb: np.ndarray,
                previous: dict[str, Optional[PreviousRegions]], rounds: int) -> dict[str, dict[str, float]]:
    """The SAM2 stage alone, `rounds` times, kinds alternating: one encoder pass per round (the same for every
    kind) and each kind's decode + filters on its features. Cheaper than whole frames, so more rounds fit a
    busy machine; SAM2 ms = encoder median + the kind's decoder median."""
    engine.apply_config(dataclasses.replace(base, region_prompts="tracks"))
    frame = engine.prepare_frame(rgb)
    previous = {kind: shape for kind, shape in previous.items() if kind != "keyframe"}  # the grid's decode
    encoder, decoder = [], {kind: [] for kind in previous}
    for _ in range(rounds + 1):  # the first round warms up
        started = time.perf_counter()
        features = engine.masks.encode(frame.image)
        encoder.append(time.perf_counter() - started)
        for kind, shape in previous.items():
            prompts = None if shape is None else tracks_prompts(shape, base.max_prompts)
            started = time.perf_counter()
            proposals = engine.masks.decode(features, prompts)
            if engine.device.type == "cuda":
                torch.cuda.synchronize(engine.device)
            decoder[kind].append((time.perf_counter() - started, proposals.points))
    encoder_s = statistics.median(encoder[1:])
    grid_s = statistics.median(t for t, _ in decoder["grid"][1:])
    return {kind: {"decoded": runs[-1][1], "decoder_s": statistics.median(t for t, _ in runs[1:]),
                   "encoder_s": encoder_s,
                   "sam2_ratio": (encoder_s + statistics.median(t for t, _ in runs[1:])) / (encoder_s + grid_s),
                   "decoder_ratio": statistics.median(t for t, _ in runs[1:]) / grid_s}
            for kind, runs in decoder.items()}


def sam2_table(rounds: int, result: dict[str, dict[str, float]]) -> str:
    rows = [[kind, str(r["decoded"]), f"{r['decoder_s'] * 1e3:.0f}", f"{(r['encoder_s'] + r['decoder_s']) * 1e3:.0f}",
             f"{r['decoder_ratio']:.2f}", f"{r['sam2_ratio']:.2f}"] for kind, r in result.items()]
    encoder_s = next(iter(result.values()))["encoder_s"]
    return (f"SAM2 stage alone, median of {rounds} alternating rounds (encoder {encoder_s * 1e3:.0f}"
            " ms, the same for every kind)\n" + format_table(
                ["frame kind", "decoded", "decoder ms", "SAM2 ms", "decoder x", "SAM2 x"], rows))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--presets", default="default,small_gpu", help="configs: default and/or presets")
    parser.add_argument("--size", default="640x480", help="WxH of the frame")
    parser.add_argument("--tracks", default="8,30,64", help="tracked regions of the previous frame (middle one: "
                        "the coverage rows)")
    parser.add_argument("--coverages", default="50,80,95", help="percent of the grid points previous regions cover")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds (after one warm-up round)")
    parser.add_argument("--compile", action="store_true", help="compile on (GPU); the warm-up round then runs "
                        "every kind (each batch size compiles there), else only a grid and a tracks frame")
    parser.add_argument("--quick", action="store_true", help="a dry run of the script: the default config only "
                        "with tiny models (PE-T, SAM2 at 256, 4 x 4 points, max_prompts 8), 4 tracks at 50 and 80 %%, "
                        "one round, 96x64")
    parser.add_argument("--sam2-rounds", type=int, default=0, help="also time the SAM2 stage alone (encoder + "
                        "each kind's decoder) for this many alternating rounds: cheaper, so steadier on a busy machine")
    parser.add_argument("--frames", action=argparse.BooleanOptionalAction, default=True,
                        help="time whole frames (--no-frames: only the SAM2 rounds)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    device = benchmark_device(args.device, args.threads)
    width, height = (int(v) for v in ("96x64" if args.quick else args.size).lower().split("x"))
    tracks = [4] if args.quick else [int(t) for t in args.tracks.split(",")]
    coverages = [0.5, 0.8] if args.quick else [int(c) / 100 for c in args.coverages.split(",")]
    presets = ["default"] if args.quick else [n.strip() for n in args.presets.split(",") if n.strip()]
    repeats = 1 if args.quick else args.repeats
    extra = {"compile": "on" if args.compile else "off", **(QUICK if args.quick else {})}
    print(f"device: {device_name(device)}; torch {torch.__version__}; {width}x{height} synthetic moving scene; "
          f"random weights, filters off; {repeats} timed round(s), kinds alternating", flush=True)
    record: dict[str, Any] = {"device": device_name(device), "torch": torch.__version__, "size": [width, height],
                              "quick": args.quick, "repeats": repeats, "compile": args.compile, "configs": {},
                              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    texts = []
    for name in presets:
        base = dataclasses.replace(preset_config(name, str(device), None), **extra)
        engine = TextRegionEngine(base)
        side, sam2_size = base.points_per_side, base.sam2_image_size
        frame_kinds = kinds(tracks, coverages)
        previous = {kind: injected_previous(*shape, side, sam2_size, seed=i) if shape else None
                    for i, (kind, shape) in enumerate(frame_kinds)}
        texts_before = len(texts)
        if args.sam2_rounds:
            rgb = moving_scene(width, height, tracks[len(tracks) // 2], 0)
            alone = sam2_rounds(engine, base, rgb, previous, args.sam2_rounds)
            text = f"{name}: SAM2 {base.sam2_model} at {sam2_size}, {side} x {side} points\n" + \
                sam2_table(args.sam2_rounds, alone)
            print("\n" + text, flush=True)
            texts.append(text)
            record["configs"].setdefault(name, {})["sam2_alone"] = alone
        if not args.frames:
            del engine
            continue
        runs: dict[str, list] = {kind: [] for kind, _ in frame_kinds}
        for round_index in range(repeats + 1):  # round 0 warms up (text cache, lazy state, compiled shapes)
            rgb = moving_scene(width, height, tracks[len(tracks) // 2], round_index)
            warm = frame_kinds if args.compile or round_index else frame_kinds[:1] + frame_kinds[2:3]
            for kind, _ in (frame_kinds if round_index else warm):
                run = run_frame(engine, base, rgb, kind, previous[kind])
                if round_index:
                    runs[kind].append(run)
            print(f"  {name}: round {round_index} done", flush=True)
        summary = summarise(runs)
        coverage_kind = next(kind for kind, shape in frame_kinds if shape == (tracks[len(tracks) // 2],
                                                                           coverages[len(coverages) // 2]))
        title = (f"{name}: SAM2 {base.sam2_model} at {sam2_size}, {side} x {side} points, max_prompts "
                 f"{base.max_prompts}, {base.backbone} {base.model} ({base.resize_mode}); medians; x = ratio to grid")
        text = table(title, summary) + "\n" + profile(summary, coverage_kind)
        print("\n" + text, flush=True)
        texts.insert(texts_before, text)
        record["configs"].setdefault(name, {}).update({"config": dataclasses.asdict(base), "kinds": summary})
        del engine
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2, default=str))
        args.json.with_suffix(".txt").write_text(f"# {record['device']}; torch {record['torch']}; {record['date']}\n"
                                                 + "\n\n".join(texts) + "\n")
        print(f"wrote {args.json} and {args.json.with_suffix('.txt')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
