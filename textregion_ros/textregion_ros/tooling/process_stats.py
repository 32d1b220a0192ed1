"""What a process holds, read from /proc, and the straight-line fit that says whether it grows.

The soak benchmark (benchmarks/soak.py) and the leak test (test/test_node_leak.py) watch the node
the same way: resident memory, threads and open file descriptors of its process, sampled while
frames flow, and a least-squares slope per 1,000 frames over the samples after a warm-up. Keeping
the reading and the fit here means a figure in docs/performance.md and a test's verdict are measured
alike.

Linux only (/proc); ROS-free and stdlib-only, so it can watch any process, not just a ROS node.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessSample:
    """One look at a process: resident memory (kB), threads, open file descriptors.

    `rss_kb` (VmRSS) is the sum of the three parts after it, kept apart because they move for
    different reasons: anonymous memory (heap, tensors) is where a leak shows; file-backed pages
    (the code of torch and the ROS libraries) come and go as the kernel pages them in and out;
    shared memory is Fast DDS's transport segments, mapped pages counted as they are touched.
    """

    rss_kb: int
    threads: int
    open_files: int
    rss_anon_kb: int = 0
    rss_file_kb: int = 0
    rss_shmem_kb: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def parse_status(text: str) -> dict[str, str]:
    r"""The `Key:\tvalue` lines of /proc/<pid>/status as a dict (values stripped, units kept)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if separator:
            fields[key.strip()] = value.strip()
    return fields


def kilobytes(value: str) -> int:
    """`'123456 kB'` -> 123456; /proc reports memory in kB whatever the suffix says about kiB."""
    number, _, unit = value.partition(" ")
    if unit and unit.strip() != "kB":
        raise ValueError(f"unexpected memory unit in {value!r}")
    return int(number)


def status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status parsed; ProcessLookupError when the process is gone."""
    try:
        return parse_status((PROC / str(pid) / "status").read_text())
    except FileNotFoundError:
        raise ProcessLookupError(f"no process {pid}") from None


def open_files(pid: int) -> int:
    """Number of open file descriptors (sockets, pipes, shared memory included), like `ls /proc/<pid>/fd`."""
    try:
        return len(os.listdir(PROC / str(pid) / "fd"))
    except FileNotFoundError:
        raise ProcessLookupError(f"no process {pid}") from None


def sample(pid: int) -> ProcessSample:
    """RSS (VmRSS), thread count (Threads) and open files of process `pid` now.

    ProcessLookupError when it is gone. A zombie has no VmRSS line: that reads as gone too, since
    what it held is already released.
    """
    fields = status(pid)
    if "VmRSS" not in fields:
        raise ProcessLookupError(f"process {pid} has exited (no VmRSS)")
    parts = {f"rss_{name.lower()}_kb": kilobytes(fields[f"Rss{name}"])
             for name in ("Anon", "File", "Shmem") if f"Rss{name}" in fields}  # Linux >= 4.5
    return ProcessSample(rss_kb=kilobytes(fields["VmRSS"]), threads=int(fields["Threads"]),
                         open_files=open_files(pid), **parts)


def cpu_model(cpuinfo: Optional[str] = None) -> str:
    """The CPU's model name from /proc/cpuinfo ("" when it has none, e.g. some ARM kernels)."""
    text = cpuinfo if cpuinfo is not None else (PROC / "cpuinfo").read_text()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return ""


@dataclass(frozen=True)
class LineFit:
    """y = intercept + slope * x by least squares over `n` points."""

    slope: float
    intercept: float
    n: int

    def per(self, step: float) -> float:
        """The change of y over `step` units of x (e.g. 1,000 frames)."""
        return self.slope * step


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> LineFit:
    """Ordinary least-squares line through (xs, ys).

    A slope, not last-minus-first, because one sample caught mid-allocation (an allocator arena
    just grown, a garbage collection not yet run) moves a difference of two points a lot and a
    fit over all points little. ValueError for fewer than two points or all xs equal.
    """
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values but {len(ys)} y values")
    n = len(xs)
    if n < 2:
        raise ValueError(f"a line needs at least two points, got {n}")
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("all x values are equal: no slope")
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    slope = sxy / sxx
    return LineFit(slope=slope, intercept=mean_y - slope * mean_x, n=n)


def slope_per(xs: Sequence[float], ys: Sequence[Optional[float]], step: float = 1000.0,
              start: float = float("-inf")) -> Optional[float]:
    """Least-squares change of y per `step` of x over the points with x >= `start` (the warm-up cut).

    Points whose y is None (a value not measured at that sample, e.g. GPU memory on a CPU) are left
    out; None when fewer than two points remain.
    """
    points = [(x, y) for x, y in zip(xs, ys) if x >= start and y is not None]
    if len(points) < 2 or len({x for x, _ in points}) < 2:
        return None
    return fit_line([x for x, _ in points], [y for _, y in points]).per(step)


def spread(values: Iterable[float]) -> float:
    """max - min: how far a series wandered, next to its slope (0 for an empty series)."""
    values = list(values)
    return max(values) - min(values) if values else 0.0
