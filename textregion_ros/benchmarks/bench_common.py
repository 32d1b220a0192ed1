"""Helpers every benchmark script shares: argument parsing, the machine's name, device syncs.

Imported by the scripts of this folder (run as `python textregion_ros/benchmarks/<script>.py`, which
puts this folder on sys.path); not part of the installed package.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

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
