"""Eager against compiled (the engine's `compile` setting) per frame stage, as ratios in one run.

Used by engine_stages.py --compile. Two engines share the same model objects: one with
compile=off, one with compile=on (its configure-time compile is timed here, per stage). Frames
alternate between them (eager, compiled, eager, ...) so a slow spell of a shared machine hits
both; each stage reports p50 and p95 over --repeats frames and the ratio eager p50 / compiled p50
(> 1: compiled is faster). Only the model forwards are compiled (sam2_encode, the model part of
sam2_decode_filter, image_encoder); the other rows show that the rest is unchanged.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch

from textregion_ros.engine import TextRegionEngine
from textregion_ros.engine.compilation import inductor_cache_dir
from textregion_ros.engine.devices import synchronize

STAGES = ("rescale", "sam2_encode", "sam2_decode_filter", "mask_fusion", "image_encoder", "mask_to_grid",
          "global_patch_removal", "pooling")
FRAME = "frame (regions call)"
Table = Callable[[Sequence[str], Sequence[Sequence[str]]], str]


def percentile(samples: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q)) if samples else float("nan")


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def timed_frame(engine: TextRegionEngine, rgb: np.ndarray) -> tuple[dict[str, float], float | None]:
    """Seconds per stage of one engine.regions call (plus the whole call) and the CUDA peak MiB."""
    device = engine.device
    _peak_reset(device)
    synchronize(device)
    start = time.perf_counter()
    regions = engine.regions(rgb)
    synchronize(device)
    seconds = dict(regions.timings)
    seconds[FRAME] = time.perf_counter() - start
    return seconds, _peak_mib(device)


def compare_compiled(engine: TextRegionEngine, rgb: np.ndarray, repeats: int, table: Table) -> dict[str, Any]:
    """Build eager and compiled engines on `engine`'s models, time `repeats` alternating frames, print the table."""
    clip, sam2 = engine.backbone.model, engine.masks.model
    eager = TextRegionEngine(dataclasses.replace(engine.config, compile="off"), clip_model=clip, sam2_model=sam2,
                             tokenizer=engine.backbone.tokenizer)
    start = time.perf_counter()
    compiled = TextRegionEngine(dataclasses.replace(engine.config, compile="on"), clip_model=clip, sam2_model=sam2,
                                tokenizer=engine.backbone.tokenizer)
    configure_s = time.perf_counter() - start
    reports = compiled.compiled.report()
    for candidate in (eager, compiled):  # warm-up frame each (the compiled one compiles nothing new here)
        candidate.regions(rgb)
    samples: dict[str, dict[str, list[float]]] = {"eager": {}, "compiled": {}}
    peaks: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(repeats):
        for name, candidate in (("eager", eager), ("compiled", compiled)):
            seconds, peak = timed_frame(candidate, rgb)
            for stage, value in seconds.items():
                samples[name].setdefault(stage, []).append(value)
            if peak is not None:
                peaks[name].append(peak)
    rows, record = [], {}
    for stage in (*STAGES, FRAME):
        e, c = samples["eager"].get(stage, []), samples["compiled"].get(stage, [])
        if not e or not c:
            continue
        stats = {"eager_p50_s": percentile(e, 50), "eager_p95_s": percentile(e, 95),
                 "compiled_p50_s": percentile(c, 50), "compiled_p95_s": percentile(c, 95),
                 "eager_samples_s": e, "compiled_samples_s": c}
        stats["ratio_eager_over_compiled"] = (stats["eager_p50_s"] / stats["compiled_p50_s"]
                                              if stats["compiled_p50_s"] else None)
        record[stage] = stats
        rows.append([stage, *(f"{stats[k] * 1e3:.2f}" for k in ("eager_p50_s", "eager_p95_s", "compiled_p50_s",
                                                                  "compiled_p95_s")),
                     f"{stats['ratio_eager_over_compiled']:.2f}x" if stats["ratio_eager_over_compiled"] else "-"])
    print(table(["stage", "eager p50 ms", "eager p95 ms", "compiled p50 ms", "compiled p95 ms", "eager/compiled"],
                rows))
    compile_rows = [[report.name, report.mode, shape, f"{seconds:.1f}"]
                    for report in reports.values() for shape, seconds in report.compiled.items()]
    compile_rows += [[report.name, report.mode, "-", "-"] for report in reports.values() if not report.compiled]
    print(f"\ncompile at configure: {configure_s:.1f} s for the compiled engine (inductor cache: "
          f"{inductor_cache_dir()}; a warm cache makes it much shorter)")
    print(table(["stage", "mode", "input shapes", "first call s"], compile_rows))
    result = {
        "stages": record,
        "configure_s": configure_s,
        "compile": {name: dataclasses.asdict(report) for name, report in reports.items()},
        "inductor_cache_dir": inductor_cache_dir(),
        "repeats": repeats,
        "order": "alternating eager, compiled per repeat, after one warm-up frame each",
    }
    if peaks["eager"]:
        result["peak_memory_mib"] = {name: max(values) for name, values in peaks.items()}
        print(f"peak CUDA memory per frame: eager {result['peak_memory_mib']['eager']:.0f} MiB, "
              f"compiled {result['peak_memory_mib']['compiled']:.0f} MiB (max_memory_allocated, models included)")
    for candidate in (eager, compiled):
        candidate.close()
    return result
