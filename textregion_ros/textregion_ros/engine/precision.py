"""Numeric precision of the model forwards, chosen per backbone and checked against the device.

The `precision` parameter (auto / fp32 / fp16 / bf16) sets the autocast dtype of the image-text
backbone's forwards (image views and texts); pooling, fusion and everything after stay fp32.
bf16 keeps about 3 significant digits, fp16 about 4 but overflows above 65504, and the
segmentation multiplies cosines by logit_scale = 50, so a small token error can move a label:
which dtype is safe is a property of the backbone, measured by benchmarks/precision_table.py.

`auto` follows AUTO_ON_CUDA, a table of measured choices made by the rule in `pick_precision`:
fp16 where it stays within cosine COSINE_BAR of fp32 and never overflows, else bf16 under the
same bar, else fp32. On the CPU `auto` is always fp32: CPUs have no fast fp16 matmul (torch
emulates it, many times slower than fp32) and bf16 is fast only with AMX/AVX512-BF16.

SAM2 runs in bf16 on CUDA (as its authors run it) unless precision is fp32, and in fp32 on the CPU.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import ContextManager, Mapping, Optional

import torch

from ..params import PRECISIONS
from .errors import ConfigError

log = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
COSINE_BAR = 0.9995  # min token / text-embedding cosine to fp32 a reduced precision must keep

# What `auto` picks on CUDA per backbone kind. The reference runs OpenAI CLIP in fp16 and
# SigLIP2 / PE in fp32. The CPU measurement with random weights (docs/benchmarks/precision_cpu.txt,
# benchmarks/precision_table.py) is the rule's first input; the GPU record issue runs the same
# script with real weights on a GPU (benchmarks/run_gpu_checks.sh) and updates this table from it.
AUTO_ON_CUDA: dict[str, str] = {"clip": "fp16", "siglip2": "fp32", "pe": "fp32"}
SAM2_ON_CUDA = "bf16"


@dataclass(frozen=True)
class Precision:
    """The dtypes an engine runs its forwards in (float32 = no autocast)."""

    backbone: torch.dtype
    sam2: torch.dtype

    def describe(self) -> str:
        return f"image-text {dtype_name(self.backbone)}, SAM2 {dtype_name(self.sam2)}"


@dataclass(frozen=True)
class Measurement:
    """How one reduced precision compares with fp32 on one backbone (benchmarks/precision_table.py)."""

    min_cosine: float  # the worst token or text-embedding cosine to fp32
    overflow: bool  # any non-finite value appeared


def dtype_name(dtype: torch.dtype) -> str:
    """The parameter value ("float16", ...) that names `dtype`, for logs and benchmark records."""
    return {value: key for key, value in DTYPES.items()}[dtype]


def pick_precision(measurements: Mapping[str, Measurement], bar: float = COSINE_BAR) -> str:
    """The auto rule: fp16 if within `bar` of fp32 and no overflow, else bf16 likewise, else fp32.

    `measurements` maps 'fp16' / 'bf16' to their Measurement; a missing one (not measurable on
    the device) does not qualify.
    """
    for name in ("fp16", "bf16"):
        measured = measurements.get(name)
        if measured is not None and not measured.overflow and measured.min_cosine >= bar:
            return name
    return "fp32"


def dtype_problem(dtype: torch.dtype, device: torch.device) -> Optional[str]:
    """Why `device` cannot run forwards under autocast to `dtype`, or None."""
    if dtype == torch.float32:
        return None
    name = dtype_name(dtype)
    if device.type == "cuda":
        if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported(including_emulation=False):
            return f"{torch.cuda.get_device_name(device)} has no native bf16 (needs compute capability 8.0+)"
        return None
    try:  # the CPU: autocast support depends on the torch build
        with torch.autocast(device.type, dtype=dtype):
            probe = torch.nn.functional.linear(torch.ones(2, 2, device=device), torch.ones(2, 2, device=device))
    except (RuntimeError, AssertionError) as error:
        return f"torch cannot autocast to {name} on {device.type}: {error}"
    if probe.dtype != dtype:
        return f"torch's {device.type} autocast does not run matmuls in {name}"
    return None


def resolve_precision(precision: str, backbone: str, device: torch.device) -> Precision:
    """The dtypes for `precision` with `backbone` on `device`; ConfigError if the device cannot run them."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if device.type != "cuda":
        if precision == "auto":
            return Precision(torch.float32, torch.float32)
        dtype = DTYPES[precision]
        problem = dtype_problem(dtype, device)
        if problem:
            raise ConfigError(f"precision={precision} on {device}: {problem}; use precision=fp32 or auto")
        if dtype == torch.float16:
            log.warning("precision=fp16 on the CPU: CPUs have no fast fp16 matmul, expect it slower than fp32")
        return Precision(dtype, torch.float32)
    sam2 = torch.float32 if precision == "fp32" else DTYPES[SAM2_ON_CUDA]
    if sam2 != torch.float32 and dtype_problem(sam2, device):
        log.warning("SAM2 runs in fp32: %s", dtype_problem(sam2, device))
        sam2 = torch.float32
    if precision == "auto":
        dtype = DTYPES[AUTO_ON_CUDA.get(backbone, "fp32")]
        if dtype_problem(dtype, device):  # e.g. bf16 on a pre-Ampere GPU: auto never fails
            dtype = torch.float32
        return Precision(dtype, sam2)
    dtype = DTYPES[precision]
    problem = dtype_problem(dtype, device)
    if problem:
        raise ConfigError(f"precision={precision} on {device}: {problem}; use precision=fp16, fp32 or auto")
    return Precision(dtype, sam2)


def autocast(device: torch.device, dtype: torch.dtype) -> ContextManager:
    """Autocast to `dtype` on `device`; a no-op for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
