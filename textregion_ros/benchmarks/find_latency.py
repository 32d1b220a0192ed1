"""~/find latency as the node answers it: the engine's text scoring over the object memory, then messages.

Nothing here asserts a time; run it on the machine you care about and read the table.

    python textregion_ros/benchmarks/find_latency.py                      # CPU, cpu_smoke models
    python textregion_ros/benchmarks/find_latency.py --preset "" --device cuda --json /tmp/find.json

The engine is the one the node builds from config/textregion.yaml plus --preset (the real text model;
random weights with cpu_smoke, which cost the same as real ones), with background_queries at the
table's default, so every score is a softmax over the queries plus the background. The queries'
phrases are encoded once first (the node caches them), so each call is what `~/find` does for phrases
seen before: score_tokens on the memory's token matrix (memory.find), then one FoundObject message per
returned object (ros/find_service.found_object; message classes only, no DDS). Memories of N objects
with random unit tokens of the model's width; median over --calls calls:

    score     engine.score_tokens on all N tokens
    top 10    memory.find(max_results=10) + 10 messages: what a robot asking "best 3 / 10" pays
    all       memory.find() + a message per match (every object the background does not win)
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

try:
    import textregion_ros  # noqa: F401
except ImportError:  # a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import positive_ints
from textregion_ros import params
from textregion_ros.cli.settings import resolve_settings
from textregion_ros.engine import TextRegionEngine, parse_queries
from textregion_ros.objects import ObjectMemory
from textregion_ros.tooling.params_files import config_file, preset_file

QUERIES = ["red mug", "chair", "coffee table; desk", "person", "laptop"]
DEFAULT_MEMORIES = "100,1000,10000"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu_smoke", help="params preset over the main file ('' = none)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--memories", type=positive_ints, default=positive_ints(DEFAULT_MEMORIES),
                        help=f"remembered object counts N (default {DEFAULT_MEMORIES})")
    parser.add_argument("--calls", type=int, default=100, help="timed calls per N (default 100)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser


def build_engine(args: argparse.Namespace) -> TextRegionEngine:
    files = [config_file()] + ([preset_file(args.preset)] if args.preset else [])
    background = params.BY_NAME["background_queries"].default
    settings = resolve_settings(files, overrides={"device": args.device, "background_queries": background})
    return TextRegionEngine(settings.config)


def filled_memory(count: int, dim: int, rng: np.random.Generator) -> ObjectMemory:
    """N remembered objects (ids 1..N, last seen over the past N ms) with random unit tokens."""
    memory = ObjectMemory(memory_s=600.0, memory_size=count)
    for start in range(0, count, 256):
        ids = np.arange(start + 1, min(count, start + 256) + 1, dtype=np.uint32)
        tokens = rng.normal(size=(ids.shape[0], dim)).astype(np.float32)
        tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
        boxes = np.tile([10.0, 10.0, 50.0, 50.0], (ids.shape[0], 1))
        memory.observe(start * 1_000_000, "camera", ids, tokens, boxes)
    return memory


def median_ms(call: Callable[[], Any], calls: int, synchronize: Callable[[], None]) -> float:
    call()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        synchronize()
        times.append(1e3 * (time.perf_counter() - started))
    return statistics.median(times)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from textregion_ros.ros.find_service import found_object  # message classes only: no node, no DDS

    engine = build_engine(args)
    device = engine.device
    synchronize = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    queries = parse_queries(QUERIES)
    engine.prepare(queries)  # phrases and background encoded once, as the node has them cached
    dim = engine.backbone.embed_dim
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{engine.config.model_id} text scoring on {device} ({name}), {os.cpu_count()} CPUs, "
          f"1-min load {os.getloadavg()[0]:.2f}; {len(queries)} queries + background, D = {dim}\n")

    def score(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return engine.score_tokens(tokens, queries)

    def answer(memory: ObjectMemory, limit: int) -> int:
        found = memory.find(score, max_results=limit)
        [found_object(item, queries.classes[item.class_index]) for item in found]
        return len(found)

    rows = []
    print(f"{'N':>7} {'score ms':>9} {'top 10 ms':>10} {'x N=' + str(args.memories[0]):>8} {'all ms':>8} "
          f"{'matches':>8} {'us/match':>9}")
    for count in args.memories:
        memory = filled_memory(count, dim, np.random.default_rng(count))
        handed: list[np.ndarray] = []
        memory.find(lambda tokens: handed.append(np.array(tokens)) or score(tokens))
        tokens = handed[0]
        row = {"objects": count,
               "score_ms": median_ms(lambda: score(tokens), args.calls, synchronize),
               "top10_ms": median_ms(lambda: answer(memory, 10), args.calls, synchronize),
               "all_ms": median_ms(lambda: answer(memory, 0), max(5, args.calls // 10), synchronize),
               "matches": answer(memory, 0)}
        rows.append(row)
        base = rows[0]["top10_ms"]
        print(f"{count:>7} {row['score_ms']:>9.3f} {row['top10_ms']:>10.3f} {row['top10_ms'] / base:>8.1f} "
              f"{row['all_ms']:>8.2f} {row['matches']:>8} "
              f"{1e3 * (row['all_ms'] - row['top10_ms']) / max(1, row['matches'] - 10):>9.2f}")
    if args.json:
        args.json.write_text(json.dumps({
            "model": engine.config.model_id, "device": str(device), "device_name": name, "queries": QUERIES,
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "calls": args.calls, "rows": rows,
        }, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
