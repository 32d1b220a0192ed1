#!/usr/bin/env python3
"""Our batched low-resolution mask generator against SAM2's stock automatic mask generator.

    python -m benchmarks.amg_vs_stock --device cuda --size 640x480
    python -m benchmarks.amg_vs_stock --device cpu --size 512x512 --repeats 1

Same SAM2 model object, same image, same grid and thresholds (random weights need the filters
off to keep any mask, which makes both do the most work). The stock generator decodes in
batches of 64 points, upsamples every mask to the image size and filters there; ours decodes
all points at once, filters on the 256x256 logits and upsamples survivors only. Prints one table.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch

from textregion_ros.engine import EngineConfig
from textregion_ros.engine.devices import resolve_device
from textregion_ros.engine.model_image import image_to_float
from textregion_ros.engine.mask_fusion import soft_masks, working_size
from textregion_ros.engine.precision import autocast
from textregion_ros.engine.sam2_loading import load_sam2
from textregion_ros.engine.sam2_masks import Sam2MaskGenerator

from .common import device_name, timed_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--points-per-side", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sam2-image-size", type=int, default=1024, help="SAM2 input size (smaller for CPU dry runs)")
    parser.add_argument("--skip-stock", action="store_true")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the table here")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    device = resolve_device(args.device)
    config = EngineConfig(sam2_weights="random", device=str(device), points_per_side=args.points_per_side,
                          sam2_image_size=args.sam2_image_size,
                          pred_iou_thresh=0.0, stability_score_thresh=0.0, min_mask_area=0)
    model = load_sam2(config, device)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // width, yy * 255 // height, rng.integers(0, 256, (height, width))], -1).astype(np.uint8)
    name = device_name(device)

    ours = Sam2MaskGenerator(model, config)

    def run_ours():
        proposals = ours.decode(ours.encode(image_to_float(torch.as_tensor(rgb, device=device))))
        return soft_masks(proposals, working_size((height, width)))

    rows = []
    times, masks = timed_runs(run_ours, args.repeats, device)
    rows.append(("ours: batched, low-res filters", times, masks.shape[0]))
    if not args.skip_stock:
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

        stock = SAM2AutomaticMaskGenerator(model, points_per_side=args.points_per_side, pred_iou_thresh=0.0,
                                           stability_score_thresh=0.0, min_mask_region_area=0)
        size = args.sam2_image_size  # the stock predictor assumes 1024's feature sizes: give it this size's
        stock.predictor._bb_feat_sizes = [(size // 4, size // 4), (size // 8, size // 8), (size // 16, size // 16)]

        def run_stock():
            with autocast(device, ours.dtype):  # the same SAM2 precision as ours
                return stock.generate(rgb)

        times, masks = timed_runs(run_stock, args.repeats, device)
        rows.append(("stock SAM2AutomaticMaskGenerator", times, len(masks)))
    print(f"device: {name}   image {width}x{height}   grid {args.points_per_side}x{args.points_per_side}   "
          f"sam2.1_hiera_t at {args.sam2_image_size} (random weights)")
    print(f"{'generator':<36}{'median s':>10}{'min s':>10}{'masks':>8}")
    for label, times, count in rows:
        print(f"{label:<36}{statistics.median(times):>10.3f}{min(times):>10.3f}{count:>8}")
    if len(rows) == 2:
        print(f"speed-up: {statistics.median(rows[1][1]) / statistics.median(rows[0][1]):.1f}x")
    if args.json:
        record = {"device": str(device), "device_name": name, "torch": torch.__version__, "cuda": torch.version.cuda,
                  "image": [width, height], "points_per_side": args.points_per_side,
                  "sam2_image_size": args.sam2_image_size,
                  "rows": [{"generator": label, "samples_s": times, "p50_s": float(np.percentile(times, 50)),
                            "p95_s": float(np.percentile(times, 95)), "masks": count} for label, times, count in rows]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
