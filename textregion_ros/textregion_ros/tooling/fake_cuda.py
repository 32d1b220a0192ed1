"""The machinery of the CUDA dry run (cuda_dry_run.py): fake `cuda:0` tensors on a CPU-only machine
and the checks that ride on them.

Why: the engine's CUDA path (pinned uploads, two streams, sync-free filters, a precision policy) hides
its classic defects on a CPU, where every tensor lives on one device and a sync costs nothing. Under
torch's FakeTensorMode, tensors on `cuda:0` are created and propagated without a GPU (no arithmetic,
only shapes, dtypes and devices), so a whole frame can run in seconds and show:

- a device mismatch (a CPU tensor meeting a CUDA one): FakeTensorDeviceMismatchError, caught per op;
- a dtype mismatch that CUDA refuses (fp16 @ fp32 and the like): checked per op here, since the fake
  kernels of several ops do not check it;
- every op that would make the host wait for the device: data-dependent outputs (nonzero, boolean
  indexing, .item(), .tolist()), device-to-host copies and blocking uploads. Inside a budgeted copy
  (engine/sync_audit.py's budgeted_sync) they are the frame's stated syncs; anywhere else a finding.

Fake tensors hold no data, so every host read gets plausible host values of the right shape from a
HostValues provider (cuda_dry_run.py) and the frame goes on; host-only work (numpy, real CPU tensors,
model construction with random weights) runs for real. What fake tensors cannot run at all (streams,
CUDA events, pinned memory, torch.compile's CUDA codegen) is replaced by stand-ins that record why.
"""
from __future__ import annotations

import contextlib
import sys
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode, unset_fake_temporarily
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from ..engine import sync_audit
from ..engine.sync_audit import SYNCING_OPS

DEVICE = torch.device("cuda:0")
PACKAGE = Path(__file__).resolve().parents[1]
_OWN_FILES = {Path(__file__).resolve(), PACKAGE / "tooling" / "cuda_dry_run.py", PACKAGE / "engine" / "sync_audit.py"}
_TORCH = Path(torch.__file__).resolve().parent
# Ops CUDA refuses when their floating-point tensor operands differ in dtype (autocast has already
# cast the operands of the ops it covers before they get here); several fake kernels accept them.
SAME_DTYPE_OPS = frozenset({
    "mm", "bmm", "addmm", "baddbmm", "addbmm", "mv", "addmv", "dot", "convolution", "_convolution",
    "index_put", "index_put_", "_index_put_impl_", "index_add", "index_add_", "index_copy", "index_copy_",
    "index_reduce", "index_reduce_", "scatter", "scatter_", "scatter_add", "scatter_add_", "scatter_reduce",
    "scatter_reduce_", "masked_scatter", "masked_scatter_", "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_flash_attention", "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_attention_math",
})
# Host reads of a tensor's data at the Python level (on CUDA: a device-to-host copy, a host wait).
_HOST_READS = {torch.Tensor.tolist: "tolist", torch.Tensor.item: "item", torch.Tensor.numpy: "numpy",
               torch.Tensor.__bool__: "bool", torch.Tensor.__int__: "int", torch.Tensor.__float__: "float",
               torch.Tensor.__index__: "index"}


@dataclass
class Finding:
    """One thing the dry run saw: kind is device, dtype, sync, budgeted (a stated sync) or not_run."""

    kind: str
    op: str
    where: str  # file:line (function) in this package, innermost first; plus the library frame if any
    detail: str = ""

    def line(self) -> str:
        return f"{self.kind:9s} {self.op:28s} {self.where}" + (f"  ({self.detail})" if self.detail else "")


@dataclass
class Findings:
    """What one dry run recorded, in order (repeats of one op at one line are counted, not repeated)."""

    items: list[Finding] = field(default_factory=list)
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def add(self, kind: str, op: str, detail: str = "", where: Optional[str] = None) -> None:
        where = where if where is not None else caller_location()
        key = (kind, op, where)
        if key not in self.counts:
            self.items.append(Finding(kind, op, where, detail))
            self.counts[key] = 0
        self.counts[key] += 1

    def of(self, *kinds: str) -> list[Finding]:
        return [f for f in self.items if f.kind in kinds]


def caller_location() -> str:
    """Where the op being checked comes from (see `caller`)."""
    return caller()[1]


def _is_library(path: Path) -> bool:
    """A frame worth naming below ours: not torch, not the standard library, not frozen bootstrap code."""
    if _TORCH in path.parents or path.name.startswith("<"):
        return False
    return "site-packages" in path.parts or Path(sys.base_prefix).resolve() not in path.parents


def caller() -> tuple[str, str]:
    """(function, location): the innermost frame of this package outside the dry run's own files, and
    the innermost library frame (sam2, open_clip, a test's planted function) below it when there is one."""
    ours, library, function = None, None, "?"
    for frame in reversed(traceback.extract_stack()[:-1]):
        path = Path(frame.filename).resolve()
        if path in _OWN_FILES or path.name == "contextlib.py":
            continue
        inside = PACKAGE in path.parents
        if inside and ours is None:
            ours, function = f"{path.relative_to(PACKAGE.parent)}:{frame.lineno} ({frame.name})", frame.name
            break
        if not inside and library is None and _is_library(path):
            library = f"{path.name}:{frame.lineno} ({frame.name})"
    where = ours or "outside textregion_ros"
    return function, where + (f" via {library}" if library else "")


def caller_function() -> tuple[str, str]:
    """(function name, location) of the code that entered a budgeted_sync block."""
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename).resolve()
        if path not in _OWN_FILES and path.name != "contextlib.py":
            where = f"{path.relative_to(PACKAGE.parent) if PACKAGE in path.parents else path.name}:{frame.f_lineno}"
            return frame.f_code.co_name, f"{where} ({frame.f_code.co_name})"
        frame = frame.f_back
    return "?", "?"


# A provider of plausible host values: (site function, shape, dtype) -> a real CPU tensor.
HostValues = Callable[[str, tuple[int, ...], torch.dtype], torch.Tensor]


class DryRunChecks(TorchDispatchMode):
    """Per op: runs host-only work for real, checks devices and dtypes, turns syncs into findings."""

    def __init__(self, findings: Findings, host_values: HostValues) -> None:
        super().__init__()
        self.findings = findings
        self.host_values = host_values
        self.auditing = False  # syncs count only in the audited (steady-state) frame
        self.site: Optional[tuple[str, str]] = None  # (function, location) of the budgeted copy being made
        self.fake_mode: Optional[FakeTensorMode] = None  # set by fake_cuda

    # -- budgets (engine/sync_audit.observing_budgets calls this for every budgeted_sync block) ---------
    @contextlib.contextmanager
    def budget(self) -> Iterator[None]:
        outer, self.site = self.site, caller_function()
        try:
            yield
        finally:
            self.site = outer

    def sync(self, op: str, detail: str = "") -> str:
        """Record a host sync (a budgeted one or a finding); returns the site whose values to use."""
        if self.site is not None:
            if self.auditing:
                self.findings.add("budgeted", op, detail, where=self.site[1])
            return self.site[0]
        function, where = caller()
        if self.auditing:
            self.findings.add("sync", op, detail, where=where)
        return function

    def host_tensor(self, site: str, tensor: torch.Tensor) -> torch.Tensor:
        with unset_fake_temporarily():
            return self.host_values(site, tuple(tensor.shape), tensor.dtype)

    # -- dispatch -------------------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        name = func.__name__.split(".")[0]
        if kwargs.get("pin_memory"):
            self.findings.add("not_run", "pin_memory", "pinned host memory needs a CUDA driver: an ordinary host "
                              "tensor stands in (the upload after it still runs, non_blocking)")
            kwargs["pin_memory"] = False
        tensors = [t for t in pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        target = kwargs.get("device")
        target = torch.device(target) if target is not None else None
        if _host_only(tensors, target):
            with unset_fake_temporarily():
                return func(*args, **kwargs)
        on_device = [t for t in tensors if t.device.type == "cuda"]
        if name in ("_to_copy", "copy_"):
            moved = self._transfer(func, name, args, kwargs, target)
            if moved is not None:
                return moved
        if on_device and (_data_dependent_size(name, args, kwargs) or sync_audit._is_bool_index(func, args)):
            return self._data_dependent(func, name, args, kwargs)
        if name in SAME_DTYPE_OPS:
            self._check_dtypes(name, tensors)
        try:
            return func(*args, **kwargs)
        except Exception as error:  # a device mismatch: record it, then go on with the host operands moved
            if type(error).__name__ != "FakeTensorDeviceMismatchError" and "same device" not in str(error):
                raise
            self.findings.add("device", name, " ".join(str(error).split())[:160])
            args, kwargs = pytree.tree_map(self._to_fake_device, (args, kwargs))
            return func(*args, **kwargs)

    def _transfer(self, func, name: str, args, kwargs, target: Optional[torch.device]):
        source = args[1] if name == "copy_" else args[0]
        destination = args[0].device if name == "copy_" else (target or source.device)
        if source.device.type == "cuda" and destination.type == "cpu":  # a download: the host waits
            site = self.sync(f"{name} (to host)")
            host = self.host_tensor(site, source)
            if name == "copy_":
                with unset_fake_temporarily():
                    return args[0].copy_(host) if not isinstance(args[0], FakeTensor) else args[0]
            with unset_fake_temporarily():
                return host.to(kwargs.get("dtype") or host.dtype)
        if source.device.type == "cpu" and destination.type == "cuda" and not kwargs.get("non_blocking", False) \
                and not (len(args) > 2 and args[2]):
            self.sync(f"{name} (blocking upload)", "a copy from host memory without non_blocking waits for the "
                      "device queue")
        return None

    def _data_dependent(self, func, name: str, args, kwargs):
        """A data-dependent op: a finding (or a budgeted sync), then a plausible output: every element
        selected (nonzero, boolean index, masked_select), every value distinct, every test true."""
        self.sync(name)
        source = args[0]
        if name in ("nonzero", "argwhere"):
            return torch.empty((source.numel(), source.dim()), dtype=torch.long, device=source.device)
        if name == "nonzero_static":
            return torch.empty((kwargs.get("size", args[1] if len(args) > 1 else 0), source.dim()),
                               dtype=torch.long, device=source.device)
        if name == "masked_select":
            return torch.empty(torch.broadcast_shapes(source.shape, args[1].shape).numel(), dtype=source.dtype,
                               device=source.device)
        if name == "bincount":  # its length is max(minlength, max + 1): the max comes to the host
            return torch.empty(kwargs.get("minlength", args[2] if len(args) > 2 else 0) or source.numel(),
                               dtype=torch.long if len(args) < 2 or args[1] is None else args[1].dtype,
                               device=source.device)
        if name == "repeat_interleave":  # every repeat 1
            return torch.empty(source.numel(), dtype=source.dtype, device=source.device)
        if name == "_local_scalar_dense":
            return True if source.dtype == torch.bool else (1 if not source.is_floating_point() else 0.5)
        if name in ("equal", "is_nonzero", "allclose"):
            return True
        if name in ("index", "index_put", "index_put_", "_index_put_impl_"):  # every element selected
            indices = []
            for index in args[1]:
                if index is not None and index.dtype == torch.bool:
                    indices += [torch.empty(index.numel(), dtype=torch.long, device=index.device)] * max(index.dim(), 1)
                else:
                    indices.append(index)
            return func(source, indices, *args[2:], **kwargs)
        raise NotImplementedError(f"the dry run cannot continue past {name} (a data-dependent output size) "
                                  f"at {caller_location()}")

    def _to_fake_device(self, value: Any) -> Any:
        """A host operand of a mismatch moved to the fake device, so the frame goes on past the finding."""
        if isinstance(value, torch.Tensor) and value.device.type == "cpu" and value.dim() > 0:
            if not isinstance(value, FakeTensor):
                value = self.fake_mode.from_tensor(value)
            return value.to(DEVICE)
        return value

    def _check_dtypes(self, name: str, tensors: list[torch.Tensor]) -> None:
        floating = {t.dtype for t in tensors if t.is_floating_point() and t.dim() > 0}
        if len(floating) > 1:
            self.findings.add("dtype", name, "operands in " + ", ".join(sorted(str(d) for d in floating)))


def _data_dependent_size(name: str, args: tuple, kwargs: dict) -> bool:
    """An op whose output size or value needs device data on the host (CUDA syncs for it)."""
    if name == "repeat_interleave":  # only with tensor repeats and no output_size
        return kwargs.get("output_size") is None and (len(args) < 2 or isinstance(args[1], torch.Tensor)) \
            and not (len(args) > 3 and args[3] is not None)
    return name in SYNCING_OPS or name in ("bincount", "histc")


def _host_only(tensors: list[torch.Tensor], target: Optional[torch.device]) -> bool:
    """Real CPU work: no fake tensor among the operands and nothing created or copied to the device."""
    if target is not None and target.type != "cpu":
        return False
    return all(not isinstance(t, FakeTensor) and t.device.type == "cpu" for t in tensors)




class HostReads(TorchFunctionMode):
    """Python-level host reads of fake device tensors (.tolist(), .item(), .cpu(), bool(t), ...):
    a sync (budgeted or a finding) answered with plausible host values; record_stream of a stand-in
    stream is skipped and named."""

    def __init__(self, checks: DryRunChecks) -> None:
        super().__init__()
        self.checks = checks

    def tolist(self, tensor: FakeTensor) -> Any:
        """FakeTensor.tolist (a Python method that would read element by element): one host read."""
        return self.__torch_function__(torch.Tensor.tolist, (FakeTensor,), (tensor,))

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        source = args[0] if args and isinstance(args[0], torch.Tensor) else None
        fake = isinstance(source, FakeTensor)
        if func is torch.Tensor.record_stream:
            self.checks.findings.add("not_run", "record_stream", "CUDA streams need a device: the allocator's "
                                     "cross-stream bookkeeping is not exercised")
            return None
        read = _HOST_READS.get(func)
        if read is not None and fake:
            if source.device.type == "cuda" and read == "numpy":
                self.checks.findings.add("device", "numpy", "numpy() of a CUDA tensor raises on CUDA: copy it "
                                         "to the host first")
            if source.device.type == "cuda":
                site = self.checks.sync(read)
            else:
                site, where = caller()
                self.checks.findings.add("not_run", read, "a host value computed from fake tensors: plausible "
                                         "values stand in", where=where)
            host = self.checks.host_tensor(site, source)
            with unset_fake_temporarily():
                return func(host, *args[1:], **kwargs)
        return func(*args, **kwargs)


# -- the CUDA runtime stand-ins ------------------------------------------------------------------------
class FakeStream(torch.Stream):
    """A stand-in for torch.cuda.Stream: ordering calls are accepted (nothing to order without a device).
    A torch.Stream (of the CPU) so that Tensor.record_stream accepts it."""

    def __new__(cls, device: Any = None, *_: Any, **__: Any) -> "FakeStream":
        return super().__new__(cls, device="cpu")

    def __init__(self, device: Any = None, *_: Any, **__: Any) -> None:
        pass

    def wait_stream(self, stream: Any) -> None:
        pass

    def wait_event(self, event: Any) -> None:
        pass

    def record_event(self, event: Any = None) -> "FakeEvent":
        return event or FakeEvent()

    def synchronize(self) -> None:
        _runtime_sync("Stream.synchronize")

    def query(self) -> bool:
        return True


class FakeEvent:
    """A stand-in for torch.cuda.Event: records nothing; synchronize is a host wait (named)."""

    def __init__(self, *_: Any, **__: Any) -> None:
        pass

    def record(self, stream: Any = None) -> None:
        pass

    def wait(self, stream: Any = None) -> None:
        pass

    def query(self) -> bool:
        return True

    def synchronize(self) -> None:
        _runtime_note("Event.synchronize", "a host wait on a CUDA event: its cost (none when the event is long "
                      "done) cannot be measured without a device")

    def elapsed_time(self, other: "FakeEvent") -> float:
        return 0.0


_ACTIVE: list[DryRunChecks] = []


def _runtime_note(op: str, detail: str) -> None:
    if _ACTIVE and _ACTIVE[-1].auditing:
        _ACTIVE[-1].findings.add("not_run", op, detail)


def _runtime_sync(op: str) -> None:
    if _ACTIVE:
        _ACTIVE[-1].sync(op)


@contextlib.contextmanager
def _stream_context(stream: Any = None) -> Iterator[None]:
    yield


def _compile_stand_in(fn: Optional[Callable] = None, **options: Any) -> Any:
    """torch.compile: inductor's CUDA code generation needs a GPU (triton); the stages' wrappers
    (signatures, padded point batches) still run, around the eager forward."""
    if _ACTIVE:
        _ACTIVE[-1].findings.add("not_run", "torch.compile", "inductor's CUDA codegen (triton) needs a GPU: the "
                                 "compiled stages' wrappers run around the eager forwards", where="torch.compile")
    if fn is None:
        return lambda f: f
    return fn


class _NoDeviceFakeMode(FakeTensorMode):
    """FakeTensorMode that knows there is no device, although torch.cuda.is_available() says True here:
    it must not constant-fold onto the device or initialise it."""

    @property
    def avoid_device_init(self) -> bool:
        return True


@contextlib.contextmanager
def fake_cuda(findings: Findings, host_values: HostValues, bf16: bool = True) -> Iterator[DryRunChecks]:
    """FakeTensorMode with the checks on top, torch.cuda's runtime calls answered by stand-ins, and
    engine/sync_audit's budgeted copies observed. Yields the checks (set `.auditing` for the frame
    whose syncs count)."""
    checks = DryRunChecks(findings, host_values)
    stand_ins = {
        "is_available": lambda: True, "device_count": lambda: 1, "current_device": lambda: 0,
        "get_device_name": lambda *_: "fake CUDA device (dry run)", "is_bf16_supported": lambda *_, **__: bf16,
        "get_device_capability": lambda *_: (9, 0) if bf16 else (7, 5), "Stream": FakeStream, "Event": FakeEvent,
        "stream": _stream_context, "current_stream": lambda *_: FakeStream(), "default_stream": lambda *_: FakeStream(),
        "synchronize": lambda *_: _runtime_sync("torch.cuda.synchronize"), "empty_cache": lambda: None,
        "get_sync_debug_mode": lambda: 0, "set_sync_debug_mode": lambda *_: None,
        "memory_allocated": lambda *_: 0, "max_memory_allocated": lambda *_: 0, "memory_reserved": lambda *_: 0,
        "reset_peak_memory_stats": lambda *_: None,
    }
    saved = {name: getattr(torch.cuda, name) for name in stand_ins}
    saved_compile, saved_tolist = torch.compile, FakeTensor.tolist
    reads = HostReads(checks)
    mode = _NoDeviceFakeMode(allow_non_fake_inputs=True)
    checks.fake_mode = mode
    try:
        for name, value in stand_ins.items():
            setattr(torch.cuda, name, value)
        torch.compile, FakeTensor.tolist = _compile_stand_in, lambda tensor: reads.tolist(tensor)
        _ACTIVE.append(checks)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Accessing the data pointer of FakeTensor")
            with mode, checks, reads, sync_audit.observing_budgets(checks.budget):
                yield checks
    finally:
        _ACTIVE.remove(checks)
        torch.compile, FakeTensor.tolist = saved_compile, saved_tolist
        for name, value in saved.items():
            setattr(torch.cuda, name, value)
