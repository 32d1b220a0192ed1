#!/usr/bin/env python3
"""What `image_transport: compressed` costs the node per processed frame: the decode on the frame worker,
as a share of the frame time.

    python textregion_ros/benchmarks/compressed_decode.py                       # 640x480, 1280x720, 1920x1080
    python textregion_ros/benchmarks/compressed_decode.py --sizes 640x480 --preset default --json /tmp/d.json

For every size it encodes one camera-like frame (the benchmarks' synthetic scene plus sensor noise, so
the codecs see texture) as image_transport's compressed plugins would publish it (JPEG quality 95, PNG
level 3: the compressed plugin's defaults; compressedDepth: 16UC1 PNG of a depth ramp) and times the very code the frame
worker runs on a taken frame: ros/compressed_input.py's as_image (runtime/compressed_image.decode_colour
+ the rgb8 Image) and depth_pixels (decode_depth). In the same run it times the engine's frame at that
size under --preset (engine_stages.run_frame: regions + segment + ground, random weights), so the share
"decode / (frame + decode)" compares like with like on this machine; it also prints the share against
the GPU frame recorded in docs/benchmarks/engine_stages_h200.json (decode stays on the CPU there).
Frames the latest-frame rule drops are never decoded (ros/compressed_input.py), so this is the whole
cost. Nothing here is a test assertion.
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).resolve().parent))  # engine_stages, bench_common (run as a script)

from bench_common import benchmark_device, cpu_model
from engine_stages import FRAME_STAGES, benchmark_image, format_table, load_line, run_frame

from textregion_ros.cli.settings import resolve_settings
from textregion_ros.engine import TextRegionEngine, parse_queries, split_query_text
from textregion_ros.tooling.params_files import config_file, preset_file, preset_names

GPU_RECORD = Path(__file__).resolve().parents[2] / "docs" / "benchmarks" / "engine_stages_h200.json"
RANDOM = {"weights": "random", "sam2_weights": "random", "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0,
          "min_mask_area": 0, "remove_global_patches": False}
QUERIES = "person, chair, table; desk, floor; ground, door"
FORMATS = {  # what image_transport's plugins write into CompressedImage.format
    "jpeg": "rgb8; jpeg compressed bgr8",
    "png": "rgb8; png compressed bgr8",
    "depth png": "16UC1; compressedDepth png",
}


def camera_frame(width: int, height: int) -> np.ndarray:
    """The benchmarks' scene with sensor-like noise (sigma 3 grey levels): a flat synthetic image would
    compress, hence decode, unrealistically fast."""
    rgb, _ = benchmark_image(width, height, 0)
    noise = np.random.default_rng(0).normal(0.0, 3.0, rgb.shape)
    return np.clip(rgb.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def payloads(rgb: np.ndarray) -> dict[str, bytes]:
    """JPEG q95 and PNG level 3 of the frame, and a 16UC1 compressedDepth payload of a 0.5-4.5 m ramp."""
    found = {}
    for name, options in (("jpeg", {"format": "JPEG", "quality": 95}), ("png", {"format": "PNG", "compress_level": 3})):
        buffer = io.BytesIO()
        PILImage.fromarray(rgb).save(buffer, **options)
        found[name] = buffer.getvalue()
    height, width = rgb.shape[:2]
    depth = (500 + 4000 * np.linspace(0, 1, width)[None, :] * np.ones((height, 1))).astype(np.uint16)
    buffer = io.BytesIO()
    PILImage.fromarray(depth).save(buffer, format="PNG", compress_level=1)  # zlib inflate time barely depends on it
    found["depth png"] = struct.pack("<iff", 0, 0.0, 0.0) + buffer.getvalue()
    return found


def timed(function: Callable[[], Any], repeats: int) -> list[float]:
    function()  # warm-up (imports, allocator)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


def decoders() -> dict[str, Callable[[str, bytes], Any]]:
    """The frame worker's decode of a taken frame, per payload kind (imports ROS messages)."""
    from sensor_msgs.msg import CompressedImage

    from textregion_ros.ros.compressed_input import as_image, depth_pixels

    def message(fmt: str, data: bytes) -> CompressedImage:
        return CompressedImage(format=fmt, data=data)

    return {"jpeg": lambda f, d: as_image(message(f, d)), "png": lambda f, d: as_image(message(f, d)),
            "depth png": lambda f, d: depth_pixels(message(f, d))}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="640x480,1280x720,1920x1080", help="comma-separated WxH")
    parser.add_argument("--preset", default="cpu_smoke", choices=["default", *preset_names()],
                        help="settings of the engine frame the decode is compared with (default = the main file)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20, help="timed decodes per payload (after one warm-up)")
    parser.add_argument("--frame-repeats", type=int, default=3, help="timed engine frames per size (after one)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the node's decode is one thread)")
    parser.add_argument("--json", type=Path, default=None)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = [tuple(int(v) for v in text.lower().split("x")) for text in args.sizes.split(",") if text.strip()]
    device = benchmark_device(args.device, args.threads)
    files = [config_file()] + ([] if args.preset == "default" else [preset_file(args.preset)])
    config = resolve_settings(files, overrides={**RANDOM, "device": str(device)}).config
    engine = TextRegionEngine(config)
    queries = parse_queries(split_query_text(QUERIES))
    gpu = json.loads(GPU_RECORD.read_text()) if GPU_RECORD.is_file() else None
    gpu_frame = gpu["frame"]["total_median_s"] if gpu else None
    decode = decoders()
    machine = f"{cpu_model()} ({torch.get_num_threads()} torch threads)"
    print(f"decode: {machine}; engine frame: preset {args.preset} on {device}, random weights, filters off")
    print(f"host  : {load_line()}")
    rows, record = [], []
    for width, height in sizes:
        rgb = camera_frame(width, height)
        encoded = payloads(rgb)
        run_frame(engine, rgb, queries, keep_text=True)  # warm-up
        frames = [sum(run_frame(engine, rgb, queries, keep_text=True).seconds.get(s, 0.0) for s, _ in FRAME_STAGES)
                  for _ in range(args.frame_repeats)]
        frame = statistics.median(frames)
        for kind, data in encoded.items():
            samples = timed(lambda: decode[kind](FORMATS[kind], data), args.repeats)
            cost = statistics.median(samples)
            share = cost / (frame + cost)
            gpu_share = cost / (gpu_frame + cost) if gpu_frame and (width, height) == (640, 480) else None
            rows.append([f"{width}x{height}", kind, f"{len(data) / 1024:.0f}", f"{cost * 1e3:.2f}",
                         f"{frame * 1e3:.0f}", f"{100 * share:.2f}",
                         "-" if gpu_share is None else f"{100 * gpu_share:.1f}"])
            record.append({"size": [width, height], "payload": kind, "format": FORMATS[kind], "bytes": len(data),
                           "decode_median_s": cost, "decode_samples_s": samples, "frame_median_s": frame,
                           "frame_samples_s": frames, "share_of_frame": share, "share_of_gpu_frame": gpu_share})
    print(f"\ndecode per processed frame (median of {args.repeats}) against the engine frame (median of "
          f"{args.frame_repeats}); share = decode / (frame + decode)")
    gpu_label = f"% of {gpu['device_name']} frame" if gpu else "% of GPU frame"
    print(format_table(["size", "payload", "KiB", "decode ms", "frame ms", "% of this frame", gpu_label], rows))
    if gpu:
        print(f"GPU frame: {gpu_frame * 1e3:.1f} ms at 640x480 from {GPU_RECORD.name} (defaults, {gpu['date']}); "
              "the decode is CPU work on that machine too, timed here on this CPU")
    print(f"host at the end: {load_line()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "cpu": machine,
            "preset": args.preset, "engine_config_device": str(device), "gpu_record": gpu_frame,
            "rows": record}, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
