"""Device choice, decided once per engine (precision: precision.py)."""
from __future__ import annotations

import logging
from typing import Optional

import torch

from .errors import ConfigError

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """'auto' = the first CUDA device, else the CPU with a warning; 'cuda:N' must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        log.warning("device=auto: no CUDA device available, running on the CPU (slow: seconds per frame)")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={name!r} but torch sees no CUDA device (CPU-only torch build or no driver)")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device={name!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    return device


def device_problem(name: str) -> Optional[str]:
    """Why `name` cannot be used on this machine now, or None ('auto' always can).

    Lets a parameter change be rejected when it is made, not at the next configure.
    """
    if name == "auto":
        return None
    try:
        resolve_device(name)
    except (ConfigError, RuntimeError) as error:
        return str(error)
    return None


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so stage timings measure the stage and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
