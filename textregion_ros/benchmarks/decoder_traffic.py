"""Bytes the SAM2 mask decoder moves per frame, before and after each traffic lever.

    OMP_NUM_THREADS=1 python -m benchmarks.decoder_traffic \
        --json docs/benchmarks/decoder_traffic_cpu.json --txt docs/benchmarks/decoder_traffic_cpu.txt

For each --sizes sam2_image_size (default 1024, the parameter's default, and 256), the decoder
(SAM2.1-T, random weights: traffic depends on shapes, not values) decodes point batches of each
--batches size on one encoded image; engine/op_traffic.py sums the bytes of every aten op's tensor
inputs and outputs (an estimate: no caches, no fusion) by op and by module. Bytes grow linearly
with the batch, so two batch sizes give `fixed + per_prompt * B`, extrapolated to --points prompts
(256 = the default 16 x 16 grid, 3 masks each). Configurations, in one run:

    eager fp32              SAM2's MaskDecoder.forward as the engine called it before (repeat_image=True)
    + broadcast image       no per-prompt copy of the image; block 1's image side once (sam2_decoder.py)
    + used outputs only     the 3 multimask masks and IoUs only (= the engine's fp32 decoder now)
    eager bf16 autocast     what CUDA ran before (SAM2 in bf16)
    all levers, bf16        the three levers above plus the image inputs cast to bf16 once per frame
                            (= the engine's decoder on CUDA now)

Each row also gives the largest difference of its outputs from its eager baseline (fp32 rows from
eager fp32, bf16 rows from eager bf16). Then the decoder's eager time on this device, before
(SAM2's forward) and after (all levers), fp32, a --time-batch point batch, alternating runs,
median of --repeats, as a ratio in the same run. Nothing here asserts.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import torch

from textregion_ros.engine import EngineConfig
from textregion_ros.engine.model_image import image_to_float
from textregion_ros.engine.op_traffic import OpTraffic, Traffic
from textregion_ros.engine.precision import autocast
from textregion_ros.engine.sam2_decoder import DecoderLevers, ImageInputs, cast_inputs, decode_masks, sam2_decode
from textregion_ros.engine.sam2_loading import load_sam2
from textregion_ros.engine.sam2_masks import Sam2MaskGenerator

from .common import benchmark_device, device_name, positive_ints, synchronize
from .scenes import astronaut as photograph

GB = 1e9


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=positive_ints, default=[1024, 256], help="sam2_image_size values to measure")
    parser.add_argument("--batches", type=positive_ints, default=[8, 16], help="two point-batch sizes to measure")
    parser.add_argument("--points", type=int, default=256, help="prompts per frame to extrapolate to")
    parser.add_argument("--time-batch", type=int, default=16, help="point batch of the eager timing (0: no timing)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side (after one warm-up each)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--txt", type=Path, default=None)
    return parser


def module_group(name: str) -> str:
    """transformer.layers.N / transformer.final_attn... / output_upscaling / hypernetworks / heads."""
    parts = name.split(".")
    if parts[0] == "transformer":
        return ".".join(parts[:3]) if len(parts) > 2 and parts[1] == "layers" else "transformer (final attention)"
    if parts[0] == "output_hypernetworks_mlps":
        return "hypernetworks + mask product"
    return parts[0]


class DecoderBench:
    """One SAM2 model at one sam2_image_size with one encoded photograph, and its prompt batches."""

    def __init__(self, size: int, device: torch.device) -> None:
        self.device = device
        config = EngineConfig(sam2_weights="random", sam2_image_size=size, device=str(device), precision="fp32")
        self.model = load_sam2(config, device)
        self.generator = Sam2MaskGenerator(self.model, config)
        with torch.no_grad():
            features = self.generator.encode(image_to_float(torch.as_tensor(photograph(640), device=device)))
            self.image = ImageInputs(features["image_embed"], self.model.sam_prompt_encoder.get_dense_pe(),
                                     tuple(features["high_res_feats"]))

    def prompts(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        points = self.generator.grid_points()[:batch, None, :]
        if points.shape[0] < batch:
            points = points.repeat(-(-batch // points.shape[0]), 1, 1)[:batch]
        labels = torch.ones(points.shape[:2], dtype=torch.int, device=self.device)
        return self.model.sam_prompt_encoder(points=(points, labels), boxes=None, masks=None)

    def eager(self, sparse: torch.Tensor, dense: torch.Tensor):
        return sam2_decode(self.model.sam_mask_decoder, self.image, sparse, dense)

    def lean(self, levers: DecoderLevers, dtype: torch.dtype | None) -> Callable:
        def run(sparse: torch.Tensor, dense: torch.Tensor):
            inputs = cast_inputs(self.image.embedding, self.image.positional, self.image.high_res, dtype)
            return decode_masks(self.model.sam_mask_decoder, inputs, sparse, dense, levers)
        return run


def traffic_rows(bench: DecoderBench, args: argparse.Namespace) -> list[dict]:
    """One row per configuration: bytes per frame (fixed + per prompt), kernels, by module and op, output diffs."""
    bf16 = torch.bfloat16
    configs: list[tuple[str, Callable, torch.dtype, str]] = [
        ("eager fp32", bench.eager, torch.float32, "eager fp32"),
        ("+ broadcast image, block 1 once", bench.lean(DecoderLevers(True, False), None), torch.float32, "eager fp32"),
        ("+ used outputs only", bench.lean(DecoderLevers(True, True), None), torch.float32, "eager fp32"),
        ("eager bf16 autocast", bench.eager, bf16, "eager bf16 autocast"),
        ("all levers, bf16 cast once", bench.lean(DecoderLevers(True, True), bf16), bf16, "eager bf16 autocast"),
    ]
    rows, outputs = [], {}
    decoder = bench.model.sam_mask_decoder
    for label, run, dtype, baseline in configs:
        measured: list[Traffic] = []
        for batch in args.batches:
            with torch.no_grad():
                sparse, dense = bench.prompts(batch)
                with autocast(bench.device, dtype), OpTraffic(decoder) as traffic:
                    masks, iou = run(sparse, dense)
            measured.append(traffic.result)
            if batch == args.batches[-1]:
                outputs[label] = (masks.float(), iou.float())
        (b1, b2), (t1, t2) = args.batches[:2], measured[:2]
        per_prompt = (t2.total_bytes - t1.total_bytes) / (b2 - b1)
        fixed = t1.total_bytes - per_prompt * b1

        def extrapolated(counter_1: Counter, counter_2: Counter) -> dict[str, float]:
            keys = set(counter_1) | set(counter_2)
            return {k: counter_1[k] + (counter_2[k] - counter_1[k]) / (b2 - b1) * (args.points - b1) for k in keys}

        by_module: Counter = Counter()
        for name, moved in extrapolated(t1.bytes_by_module, t2.bytes_by_module).items():
            by_module[module_group(name)] += moved
        ref_masks, ref_iou = outputs[baseline]
        masks, iou = outputs[label]
        rows.append({
            "config": label, "fixed_bytes": fixed, "per_prompt_bytes": per_prompt,
            "frame_bytes": fixed + per_prompt * args.points, "kernels": t2.kernels,
            "by_module": dict(by_module), "by_op": extrapolated(t1.bytes_by_op, t2.bytes_by_op),
            "max_mask_diff": float((masks - ref_masks).abs().max()), "max_iou_diff": float((iou - ref_iou).abs().max()),
        })
    return rows


def decoder_times(bench: DecoderBench, args: argparse.Namespace) -> dict[str, float]:
    """Median seconds of one --time-batch decoder call, before (SAM2's forward) and after (levers), fp32 eager."""
    sides = {"before": bench.eager, "after": bench.lean(DecoderLevers(), None)}
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    with torch.no_grad():
        sparse, dense = bench.prompts(args.time_batch)
        for run in sides.values():  # warm-up
            run(sparse, dense)
        for _ in range(args.repeats):
            for name, run in sides.items():  # alternating, so drift on a shared machine hits both
                synchronize(bench.device)
                start = time.perf_counter()
                run(sparse, dense)
                synchronize(bench.device)
                seconds[name].append(time.perf_counter() - start)
    before, after = statistics.median(seconds["before"]), statistics.median(seconds["after"])
    return {"batch": args.time_batch, "repeats": args.repeats, "before_s": before, "after_s": after,
            "before_over_after": before / after}


def main() -> None:
    args = build_parser().parse_args()
    device = benchmark_device(args.device, args.threads)
    results = []
    for size in args.sizes:
        bench = DecoderBench(size, device)
        rows = traffic_rows(bench, args)
        timing = decoder_times(bench, args) if args.time_batch > 0 else None
        results.append({"sam2_image_size": size, "rows": rows, "timing": timing})
        del bench
    text = report(results, args, device)
    print(text)
    if args.txt:
        args.txt.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps({"device_name": device_name(device), "torch": torch.__version__,
                                         "threads": torch.get_num_threads(),
                                         "args": {k: str(v) for k, v in vars(args).items()}, "sizes": results},
                                        indent=2))


def report(results: list[dict], args: argparse.Namespace, device: torch.device) -> str:
    lines = [f"python -m benchmarks.decoder_traffic --sizes {','.join(map(str, args.sizes))} --batches "
             f"{','.join(map(str, args.batches))} --points {args.points} --time-batch {args.time_batch} "
             f"--repeats {args.repeats}",
             f"machine: {device_name(device)}, torch {torch.__version__}; "
             f"SAM2.1-T random weights; op-level estimate (engine/op_traffic.py), extrapolated to "
             f"{args.points} prompts x 3 masks"]
    for result in results:
        lines += ["", f"== sam2_image_size {result['sam2_image_size']} =="] + size_report(result)
    return "\n".join(lines)


def size_report(result: dict) -> list[str]:
    rows = result["rows"]
    first = rows[0]["frame_bytes"]
    lines = [f"{'configuration':<34}{'GB / frame':>11}{'x eager':>8}{'MB / prompt':>12}{'fixed MB':>10}"
             f"{'kernels':>9}{'max |d mask|':>14}{'max |d iou|':>12}"]
    for row in rows:
        lines.append(f"{row['config']:<34}{row['frame_bytes'] / GB:>11.2f}{row['frame_bytes'] / first:>8.2f}"
                     f"{row['per_prompt_bytes'] / 1e6:>12.1f}{row['fixed_bytes'] / 1e6:>10.1f}{row['kernels']:>9}"
                     f"{row['max_mask_diff']:>14.2e}{row['max_iou_diff']:>12.2e}")
    groups = sorted({g for row in rows for g in row["by_module"]}, key=lambda g: -rows[0]["by_module"].get(g, 0))
    lines += ["", "GB / frame by module    " + "".join(f"{row['config'][:14]:>16}" for row in rows)]
    for group in groups:
        lines.append(f"{group:<24}" + "".join(f"{row['by_module'].get(group, 0) / GB:>16.2f}" for row in rows))
    ops = sorted({op for row in rows for op in row["by_op"]},
                 key=lambda op: -max(r["by_op"].get(op, 0) for r in rows))[:12]
    lines += ["", "GB / frame by aten op   " + "".join(f"{row['config'][:14]:>16}" for row in rows)]
    for op in ops:
        lines.append(f"{op:<24}" + "".join(f"{row['by_op'].get(op, 0) / GB:>16.2f}" for row in rows))
    timing = result["timing"]
    if timing:
        lines += ["", f"decoder eager time, fp32, {timing['batch']} prompts, median of {timing['repeats']}: "
                  f"before (SAM2's forward) {timing['before_s'] * 1e3:.0f} ms, after (all levers) "
                  f"{timing['after_s'] * 1e3:.0f} ms: {timing['before_over_after']:.2f}x"]
    return lines


if __name__ == "__main__":
    main()
