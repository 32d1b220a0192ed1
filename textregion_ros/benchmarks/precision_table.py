"""How far each reduced precision moves each backbone's outputs from fp32, and what `auto` would pick.

    python textregion_ros/benchmarks/precision_table.py                       # CPU, every backbone
    python textregion_ros/benchmarks/precision_table.py --device cuda --json /tmp/precision.json

Per backbone (CLIP ViT-B-16, SigLIP2 ViT-B-16-SigLIP2-256, PE-Core-T-16-384 with random weights:
the real architectures, so the real activations' dtype paths; trained weights have other value
ranges, so the GPU record runs this with real weights too) one engine per precision shares the
models; each is compared with the fp32 engine on the same bundled photograph:

    patch cos   the fused image features, per token (min)
    token cos   region tokens of the fp32 engine's SAM2 regions, pooled by each engine (min, mean)
    text cos    template-ensembled text embeddings of the queries (min)
    labels      pixels whose segmentation label equals fp32's (same regions, logit_scale 50)
    finite      no inf / nan anywhere (fp16 overflows above 65504)
    ms          median image-feature time (ratio to fp32 in the same run)

`auto` applies the engine's rule (engine/precision.pick_precision) to the worst of token and text
cosine. A dtype the device cannot autocast to is listed as not supported. Nothing here asserts.
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
from typing import Any

import numpy as np
import torch
from PIL import Image

try:
    import textregion_ros  # noqa: F401
except ImportError:  # a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import benchmark_device, device_name, synchronize
from textregion_ros.engine import EngineConfig, TextRegionEngine
from textregion_ros.params import BY_NAME
from textregion_ros.engine.precision import (COSINE_BAR, DTYPES, Measurement, dtype_problem,
                                             pick_precision)
from textregion_ros.engine.sam2_loading import load_sam2
from textregion_ros.tooling.params_files import preset_file, read_params_file

MODELS = {"clip": "ViT-B-16", "siglip2": "ViT-B-16-SigLIP2-256", "pe": "PE-Core-T-16-384"}
QUERIES = ["a person", "a red mug", "a wooden table", "the sky", "a cat", "a rocket", "grass", "a wall"]
PHOTO = Path(__file__).resolve().parents[1] / "textregion_ros" / "data" / "astronaut.jpg"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--backbones", default="clip,siglip2,pe", help="comma-separated backbone kinds")
    parser.add_argument("--precisions", default="fp16,bf16", help="reduced precisions to compare with fp32")
    parser.add_argument("--size", type=int, default=256, help="long side of the photograph in pixels")
    parser.add_argument("--points-per-side", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2, help="timed image-feature runs per precision")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--txt", type=Path, default=None, help="also write the printed table here")
    parser.add_argument("--queries", default=", ".join(QUERIES), help="comma-separated queries (80 templates each)")
    parser.add_argument("--quick", action="store_true", help="a dry run (run_gpu_checks.sh --quick): PE only, "
                        "a 96-pixel photograph, 2 x 2 points, 1 repeat, 1 query, bf16 only "
                        "(fp16 is emulated, slowly, on a CPU)")
    return parser


def quick(args: argparse.Namespace) -> argparse.Namespace:
    """The smallest settings that still run every measurement once (the CPU dry run of the GPU script)."""
    if args.quick:
        args.backbones, args.size, args.points_per_side, args.repeats = "pe", 96, 2, 1
        args.queries, args.precisions = QUERIES[0], "bf16"
    return args


def photograph(long_side: int) -> np.ndarray:
    image = Image.open(PHOTO).convert("RGB")
    factor = long_side / max(image.size)
    return np.asarray(image.resize((round(image.size[0] * factor), round(image.size[1] * factor))))


def base_config(backbone: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """The cpu_smoke preset (random weights, filters off) with the backbone's model on `device`."""
    values = {k: v for k, v in read_params_file(preset_file("cpu_smoke")).items()
              if k not in ("backbone", "model") and BY_NAME[k].engine}
    return {**values, "backbone": backbone, "model": MODELS[backbone], "device": str(device),
            "points_per_side": args.points_per_side}


def text_tokenizer(model: torch.nn.Module):
    """open_clip's bundled BPE at the model's context length: offline, and with random weights any
    valid token ids do (SigLIP2's own tokenizer would need a download)."""
    import open_clip

    return open_clip.SimpleTokenizer(context_length=int(getattr(model, "context_length", 77)))


def median_ms(engine: TextRegionEngine, frame, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        synchronize(engine.device)
        start = time.perf_counter()
        engine.image_features(frame)
        synchronize(engine.device)
        times.append(1000.0 * (time.perf_counter() - start))
    return statistics.median(times)


def cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.float(), b.float()
    return torch.nn.functional.cosine_similarity(a, b, dim=-1)


def measure_backbone(backbone: str, args: argparse.Namespace, device: torch.device, rgb: np.ndarray) -> dict:
    import open_clip

    config = base_config(backbone, args, device)
    model = open_clip.create_model(MODELS[backbone], pretrained=None).eval().to(device)
    sam2 = load_sam2(EngineConfig(**config), device)
    tokenizer = text_tokenizer(model)

    def engine(precision: str) -> TextRegionEngine:
        return TextRegionEngine(EngineConfig(**config, precision=precision), clip_model=model, sam2_model=sam2,
                                tokenizer=tokenizer)

    queries = [query.strip() for query in args.queries.split(",") if query.strip()]
    reference = engine("fp32")
    regions = reference.regions(rgb)
    frame = reference.prepare_frame(rgb)
    features = reference.image_features(frame).features
    text = reference.encode_text(queries)
    labels = reference.segment(regions, queries).labels
    row: dict[str, Any] = {"backbone": backbone, "model": MODELS[backbone], "regions": len(regions),
                           "fp32_ms": median_ms(reference, frame, args.repeats), "precisions": {}}
    measured: dict[str, Measurement] = {}
    for name in args.precisions.split(","):
        problem = dtype_problem(DTYPES[name], device)
        if problem:
            row["precisions"][name] = {"supported": False, "reason": problem}
            continue
        reduced = engine(name)
        reduced_image = reduced.image_features(frame)
        reduced_features = reduced_image.features
        tokens = reduced.region_tokens(reduced_image, regions.masks).tokens  # the same regions, this precision
        reduced_text = reduced.encode_text(queries)
        reduced_labels = reduced.segment(dataclasses.replace(regions, tokens=tokens), queries).labels
        token_cos, text_cos = cosines(tokens, regions.tokens), cosines(reduced_text, text)
        finite = bool(torch.isfinite(reduced_features).all() and torch.isfinite(tokens).all()
                      and torch.isfinite(reduced_text).all())
        result = {
            "supported": True,
            "patch_cos_min": float(cosines(reduced_features, features).min()),
            "token_cos_min": float(token_cos.min()) if len(token_cos) else 1.0,
            "token_cos_mean": float(token_cos.mean()) if len(token_cos) else 1.0,
            "text_cos_min": float(text_cos.min()),
            "label_agreement": float((reduced_labels == labels).mean()),
            "finite": finite,
            "ms": median_ms(reduced, frame, args.repeats),
        }
        row["precisions"][name] = result
        measured[name] = Measurement(min(result["token_cos_min"], result["text_cos_min"]), not finite)
    row["auto"] = pick_precision(measured)
    return row


def table(rows: list[dict], header: str) -> str:
    lines = [header, "",
             f"{'backbone':<9}{'model':<22}{'dtype':<6}{'patch cos':>10}{'token min':>10}{'token mean':>11}"
             f"{'text min':>10}{'labels':>8}{'finite':>7}{'ms':>9}{'x fp32':>7}"]
    for row in rows:
        lines.append(f"{row['backbone']:<9}{row['model']:<22}{'fp32':<6}{'1':>10}{'1':>10}{'1':>11}{'1':>10}"
                     f"{'100%':>8}{'yes':>7}{row['fp32_ms']:>9.1f}{'1.00':>7}")
        for name, result in row["precisions"].items():
            if not result["supported"]:
                lines.append(f"{'':<9}{'':<22}{name:<6}  not supported: {result['reason']}")
                continue
            lines.append(
                f"{'':<9}{'':<22}{name:<6}{result['patch_cos_min']:>10.6f}{result['token_cos_min']:>10.6f}"
                f"{result['token_cos_mean']:>11.6f}{result['text_cos_min']:>10.6f}"
                f"{100 * result['label_agreement']:>7.1f}%{'yes' if result['finite'] else 'NO':>7}"
                f"{result['ms']:>9.1f}{result['ms'] / row['fp32_ms']:>7.2f}")
        lines.append(f"{'':<9}{'':<22}auto would pick: {row['auto']} (rule: min(token, text) cos >= {COSINE_BAR}, "
                     f"finite; fp16, else bf16, else fp32); {row['regions']} regions")
    return "\n".join(lines)


def main() -> None:
    args = quick(build_parser().parse_args())
    device = benchmark_device(args.device, args.threads)
    torch.manual_seed(0)
    rgb = photograph(args.size)
    rows = [measure_backbone(kind, args, device, rgb) for kind in args.backbones.split(",")]
    header = (f"benchmarks/precision_table.py --device {args.device} --size {args.size} "
              f"--points-per-side {args.points_per_side}\n"
              f"machine: {device_name(device)}, torch {torch.__version__}; image {PHOTO.name} "
              f"{rgb.shape[1]}x{rgb.shape[0]}; random weights (cpu_smoke preset), queries: {args.queries}")
    text = table(rows, header)
    print(text)
    if args.txt:
        args.txt.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps({
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "device": str(device), "device_name": device_name(device), "torch": torch.__version__,
            "cuda": torch.version.cuda, "args": {k: str(v) for k, v in vars(args).items()}, "rows": rows,
        }, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
