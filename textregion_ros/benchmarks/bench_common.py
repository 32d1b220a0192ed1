"""Helpers every benchmark script shares: argument parsing, the machine's name, device syncs, peak
memory, plain-text tables and the least-squares line of a cost against a count.

Imported by the scripts of this folder (run as `python textregion_ros/benchmarks/<script>.py`, which
puts this folder on sys.path); not part of the installed package.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch


def positive_ints(text: str, separator: str = ",") -> list[int]:
    """'8,16,32' -> [8, 16, 32]; argparse's error for anything else."""
    try:
        values = [int(v) for v in text.lower().split(separator) if v.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected integers, got {text!r}") from error
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), for the record of every CPU figure."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model with its core and torch thread counts: every record names its machine."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads"


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
