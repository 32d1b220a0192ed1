"""Counts the operators that would force a host sync on CUDA.

Why: a sync stalls the GPU queue until the host catches up, so the hot path should have a small,
mask-count-independent number of them. The count works on any device: it records the aten ops
whose result size or value must be read back by the host (`.item()`, `.tolist()`, `nonzero`,
boolean-mask indexing, `unique`, ...), which is where CUDA would block.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Iterator

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

# Packet names (overload-free) of the ops whose outputs need the host to know device data.
SYNCING_OPS = frozenset({
    "_local_scalar_dense",  # .item(), .tolist(), bool(t), int(t), float(t)
    "nonzero", "nonzero_static", "masked_select", "argwhere",
    "unique", "_unique", "_unique2", "unique_dim", "unique_consecutive",
    "repeat_interleave",  # with a tensor of repeats the output size is data-dependent
    "nms",  # torchvision.ops.nms keeps a data-dependent number of boxes
    "equal", "is_nonzero", "allclose",
})


@dataclass
class SyncCount:
    """What one audited block did: total syncing ops and which ones."""
    by_op: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_op.values())


def _is_bool_index(func, args) -> bool:
    if func.__name__.split(".")[0] not in ("index", "index_put", "index_put_", "_index_put_impl_"):
        return False
    indices = args[1] if len(args) > 1 else ()
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices if i is not None)


class SyncAudit(TorchDispatchMode):
    """`with SyncAudit() as audit: ...` then `audit.count.total`; nests and works on CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.count = SyncCount()

    def __enter__(self):
        # .tolist() reads device memory without an aten op on CPU: count it one level up
        self._tolist = _ToListCounter(self.count)
        self._tolist.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            self._tolist.__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        if name in SYNCING_OPS or _is_bool_index(func, args):
            self.count.by_op[name] += 1
        return func(*args, **(kwargs or {}))


# Device-to-host copies that on the CPU run no aten op the dispatch mode sees (`.cpu()` of a CPU
# tensor returns it as it is); on CUDA each is a blocking copy.
_HOST_COPIES = {torch.Tensor.tolist: "tolist", torch.Tensor.cpu: "cpu"}


# Observers of the budgeted copies: the CUDA dry run (tooling/cuda_dry_run.py) pushes one, so that the
# host reads inside a budgeted block count as stated syncs and get plausible host values there.
_BUDGET_OBSERVERS: list[Callable[[], ContextManager[None]]] = []


@contextlib.contextmanager
def observing_budgets(observer: Callable[[], ContextManager[None]]) -> Iterator[None]:
    """While active, every budgeted_sync block runs inside `observer()` (and nothing else of it runs)."""
    _BUDGET_OBSERVERS.append(observer)
    try:
        yield
    finally:
        _BUDGET_OBSERVERS.remove(observer)


@contextlib.contextmanager
def budgeted_sync(device: torch.device) -> Iterator[None]:
    """Marks one of the hot path's stated host syncs (the final copies a caller needs).

    Why: the CUDA test runs the hot path under torch.cuda.set_sync_debug_mode("error"), which
    raises at every sync; the budgeted ones lift the mode for just their copy, so any other sync
    (a new `.item()`, a blocking upload) fails that test. Costs nothing on the CPU. Under the CUDA
    dry run (fake tensors, no GPU) the dry run's observer marks the block instead.
    """
    if _BUDGET_OBSERVERS:
        with _BUDGET_OBSERVERS[-1]():
            yield
        return
    if device.type != "cuda":
        yield
        return
    mode = torch.cuda.get_sync_debug_mode()
    if mode:
        torch.cuda.set_sync_debug_mode(0)
    try:
        yield
    finally:
        if mode:
            torch.cuda.set_sync_debug_mode(mode)


class _ToListCounter(TorchFunctionMode):
    """Counts Tensor.tolist and Tensor.cpu, device-to-host copies that on CPU run no aten op the
    dispatch mode sees (on CUDA the copy may also show as an aten op, so one can count twice there)."""

    def __init__(self, count: SyncCount) -> None:
        super().__init__()
        self.count = count

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = _HOST_COPIES.get(func)
        if name is not None:
            self.count.by_op[name] += 1
        return func(*args, **(kwargs or {}))
