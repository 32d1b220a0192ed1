"""An op-level estimate of the memory traffic of a block of torch code, by aten op and by module.

Why: on a GPU most of the SAM2 decoder's time is memory traffic, not arithmetic, and which ops and
modules move the bytes tells which lever pays. Every aten op that launches a kernel is counted
with the bytes of its tensor inputs and outputs, each tensor counted as the elements it addresses
(a broadcast, stride-0 dimension counts once, as a kernel reading it from cache would). Views
move no data and are not counted. It is an estimate: it ignores caches and fusion and counts an
in-place op's input and output both. Works on any device (the CPU included).

Each op is attributed to the innermost submodule of the root whose forward is running, or, in the
root's own code or in code that calls submodules directly, to the submodule entered last, so one
computation is attributed alike whether it runs in the root's forward or outside it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

NO_DATA_OPS = frozenset({"_unsafe_view", "alias", "detach", "lift_fresh", "_to_copy_noop"})
ROOT = "(root)"
OUTSIDE = "(before any submodule)"


def addressed_bytes(tensor: torch.Tensor) -> int:
    """Bytes of the distinct elements a tensor addresses (stride-0 dimensions count once)."""
    elements = 1
    for size, stride in zip(tensor.shape, tensor.stride()):
        if stride != 0:
            elements *= size
    return elements * tensor.element_size() if tensor.numel() else 0


@dataclass
class Traffic:
    """Bytes moved and kernels launched, by aten op and by module name."""

    bytes_by_op: Counter = field(default_factory=Counter)
    bytes_by_module: Counter = field(default_factory=Counter)
    kernels_by_module: Counter = field(default_factory=Counter)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_by_op.values())

    @property
    def kernels(self) -> int:
        return sum(self.kernels_by_module.values())


class OpTraffic(TorchDispatchMode):
    """`with OpTraffic(root) as traffic: ...` then `traffic.result`; module names are root's (named_modules)."""

    def __init__(self, root: Optional[torch.nn.Module] = None) -> None:
        super().__init__()
        self.result = Traffic()
        self._names = {id(m): name or ROOT for name, m in root.named_modules()} if root is not None else {}
        self._stack: list[str] = []
        self._last = OUTSIDE
        self._hooks: list[Any] = []

    def __enter__(self):
        modules = torch.nn.modules.module
        self._hooks = [modules.register_module_forward_pre_hook(self._enter_module),
                       modules.register_module_forward_hook(self._leave_module)]
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            for hook in self._hooks:
                hook.remove()

    def _enter_module(self, module: torch.nn.Module, _inputs: Any) -> None:
        name = self._names.get(id(module))
        if name is not None:
            self._stack.append(name)
            if name != ROOT:
                self._last = name

    def _leave_module(self, module: torch.nn.Module, _inputs: Any, _output: Any) -> None:
        if self._names.get(id(module)) is not None and self._stack:
            self._stack.pop()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.__name__.split(".")[0]
        if getattr(func, "is_view", False) or name in NO_DATA_OPS:
            return out
        moved = sum(addressed_bytes(t) for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor))
        module = self._stack[-1] if self._stack and self._stack[-1] != ROOT else self._last
        self.result.bytes_by_op[name] += moved
        self.result.bytes_by_module[module] += moved
        self.result.kernels_by_module[module] += 1
        return out
