"""What every benchmark shares: argument parsing, the machine's name and load, device syncs, the
median timer, peak memory, plain-text tables, the least-squares line of a cost against a count, and
the node's presets with random weights. The small random-weights config is tooling/small_models.py's
(the tests build the same one); synthetic scenes are in scenes.py.

Part of the `benchmarks` package (run `python -m benchmarks.<name>` with textregion_ros/ on the
path); not part of the installed package.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar, Union

import numpy as np
import torch

from textregion_ros.cli.settings import resolve_settings
from textregion_ros.engine import EngineConfig
from textregion_ros.tooling import process_stats
from textregion_ros.tooling.params_files import config_file, preset_file
from textregion_ros.tooling.small_models import RANDOM_WEIGHTS

T = TypeVar("T")
DEFAULT_PRESET = "default"  # the main params file alone (config/textregion.yaml)


def positive_ints(text: str, separator: str = ",") -> list[int]:
    """'8,16,32' -> [8, 16, 32]; argparse's error for anything else."""
    try:
        values = [int(v) for v in text.lower().split(separator) if v.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected integers, got {text!r}") from error
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (width, height); argparse's error for anything else."""
    values = positive_ints(text.lower(), "x")
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}")
    return values[0], values[1]


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'640x480,1280x720' -> [(640, 480), (1280, 720)] as (width, height)."""
    return [parse_size(item) for item in text.split(",")]


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo, as process_stats reads it), for the record of every CPU figure."""
    try:
        return process_stats.cpu_model() or platform.processor() or platform.machine()
    except OSError:
        return platform.processor() or platform.machine()


def device_name(device: Union[torch.device, str]) -> str:
    """The GPU's name, or the CPU's model with its core and torch thread counts: every record names its
    machine. A string is a --device value as the node takes it ('auto' names the GPU when torch sees one)."""
    if isinstance(device, str):
        device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                              "cpu" if device == "auto" else device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads"


def load_line() -> str:
    """The 1-minute load average against the CPU count: other busy processes inflate CPU timings."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    busy = " (more runnable work than CPUs: CPU timings will be noisy; try --threads 1)" if load > cores else ""
    return f"1-min load average {load:.2f} on {cores} CPUs, this process included{busy}"


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so a timer around it measures the work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def benchmark_device(name: str, threads: int = 0) -> torch.device:
    """The --device to time on, with --threads applied (0 = torch's choice); exits with status 2 and
    a message when CUDA is asked for and torch sees none."""
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"--device {name}: torch sees no CUDA device", file=sys.stderr)
        raise SystemExit(2)
    return device


def timed_runs(fn: Callable[[], T], repeats: int, device: Optional[torch.device] = None,
               warmup: int = 1) -> tuple[list[float], T]:
    """Seconds of each of `repeats` calls of `fn` after `warmup` untimed ones, and the last result. On
    CUDA each timed call is fenced by device syncs, so the time is the work's, not its queueing."""
    result: Any = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        if device is not None:
            synchronize(device)
        start = time.perf_counter()
        result = fn()
        if device is not None:
            synchronize(device)
        times.append(time.perf_counter() - start)
    return times, result


def median_seconds(fn: Callable[[], T], repeats: int, device: Optional[torch.device] = None,
                   warmup: int = 1) -> tuple[float, T]:
    """(median seconds of `repeats` timed calls after `warmup` untimed ones, the last result)."""
    times, result = timed_runs(fn, repeats, device, warmup)
    return statistics.median(times), result


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device) -> float:
    """CUDA: max_memory_allocated since the last reset. CPU: the process's lifetime peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024.0


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned plain text: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


@dataclass
class LinearFit:
    """time = per_region_s * count + fixed_s (least squares), with its coefficient of determination."""

    per_region_s: float  # seconds per unit of the count (region, point, ...)
    fixed_s: float
    r_squared: float


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> LinearFit:
    """Least-squares y = per_region * x + fixed; NaN slope for fewer than two distinct x."""
    x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0:
        return LinearFit(float("nan"), float(y.mean()) if len(y) else float("nan"), float("nan"))
    (slope, intercept), *_ = np.linalg.lstsq(np.stack([x, np.ones_like(x)], axis=1), y, rcond=None)
    residual = float(((y - (slope * x + intercept)) ** 2).sum())
    total = float(((y - y.mean()) ** 2).sum())
    return LinearFit(float(slope), float(intercept), 1.0 - residual / total if total > 0 else 1.0)


def preset_files(name: str) -> list[Path]:
    """The params files the node layers for preset `name`: the main file, then config/presets/<name>.yaml."""
    return [config_file()] + ([] if name == DEFAULT_PRESET else [preset_file(name)])


def preset_config(name: str, device: str, points_per_batch: Optional[int] = None) -> EngineConfig:
    """The engine config the node would run with under preset `name`, on `device`, with random weights and
    the filters off (and `points_per_batch`, a memory bound that leaves the work per frame as it is, when given)."""
    extra = {} if points_per_batch is None else {"points_per_batch": points_per_batch}
    return resolve_settings(preset_files(name), overrides={**RANDOM_WEIGHTS, "device": device, **extra}).config
