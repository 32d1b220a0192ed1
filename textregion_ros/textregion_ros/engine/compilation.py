"""torch.compile over the engine's fixed-shape model forwards (the `compile` parameter).

Three forwards run at shapes the configuration fixes, so each compiles once into one graph with
static shapes (dynamic=False) and then runs without Python between its kernels:

    sam2_encoder   SAM2's image encoder on [1,3,S,S], S = sam2_image_size
    sam2_decoder   prompt encoder + mask decoder for one batch of grid points (sam2_masks.prompt_decode,
                   with engine/sam2_decoder.py's traffic levers inside the graph); a shorter last
                   batch is padded (with copies of its last point) to the same size and the padding
                   dropped again, so one graph serves every batch (prompts never see each other)
    image_encoder  the image-text encoder on a frame's view batch [V,3,crop,crop]; V follows the
                   image size (tiles) and resize_mode

Each stage keeps one compiled graph per input-shape signature. A new signature (another image
size's view count, a changed point grid, a new engine's sam2_image_size) compiles again, logged
with its time; past MAX_SHAPES signatures a stage runs new shapes eager, logged once per shape.
A compile that fails (at any shape) is a warning naming the stage, which then runs eager for
good; it is never an error of the frame. The text encoder is not compiled: its batch is the
number of phrases, and its results are cached.

Compiling happens at configure (TextRegionEngine.warm_up), timed and logged. Inductor caches
its generated code on disk (TORCHINDUCTOR_CACHE_DIR, default /tmp/torchinductor_$USER), so a
later process with the same models and shapes compiles from that cache in a fraction of the time.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import torch

from ..params import COMPILE_SETTINGS
from .devices import synchronize

log = logging.getLogger(__name__)

AUTO, ON, OFF = COMPILE_SETTINGS
MAX_SHAPES = 4  # compiled shape signatures per stage; later new shapes run eager
WARMUP_IMAGE_SIZE = (480, 640)  # (height, width) whose view batch the image encoder compiles for at configure
Signature = tuple[Any, ...]


def compile_wanted(setting: str, device: torch.device) -> bool:
    """`auto` compiles on CUDA only: on a CPU the first frame would wait minutes for the compiler."""
    if setting not in COMPILE_SETTINGS:
        raise ValueError(f"compile must be one of {', '.join(COMPILE_SETTINGS)}, got {setting!r}")
    return setting == ON or (setting == AUTO and device.type == "cuda")


def inductor_cache_dir() -> str:
    """Where inductor keeps compiled code between processes (TORCHINDUCTOR_CACHE_DIR or its default)."""
    try:
        from torch._inductor.runtime.cache_dir_utils import cache_dir
    except ImportError:  # another torch layout: say where to look instead of failing
        return "$TORCHINDUCTOR_CACHE_DIR (torch's default)"
    return cache_dir()


def signature(args: tuple[Any, ...]) -> Signature:
    """Shape, dtype and device of every tensor among args (lists and tuples flattened), in order."""
    parts: list[Any] = []
    for arg in args:
        if isinstance(arg, torch.Tensor):
            parts.append((tuple(arg.shape), arg.dtype, arg.device.type))
        elif isinstance(arg, (list, tuple)):
            parts.append(signature(tuple(arg)))
        else:
            parts.append(type(arg).__name__)
    return tuple(parts)


def _shapes(sig: Signature) -> str:
    """A signature in words: the tensor shapes only, e.g. [1,3,256,256] [9,1,2]."""
    words = []
    for part in sig:
        if isinstance(part, tuple) and len(part) == 3 and isinstance(part[0], tuple):
            words.append("[" + ",".join(str(n) for n in part[0]) + "]")
        elif isinstance(part, tuple):
            words.append("(" + _shapes(part) + ")")
    return " ".join(words)


def _first_device(args: tuple[Any, ...]) -> Optional[torch.device]:
    for arg in args:
        if isinstance(arg, torch.Tensor):
            return arg.device
        if isinstance(arg, (list, tuple)):
            found = _first_device(tuple(arg))
            if found is not None:
                return found
    return None


@dataclass
class StageReport:
    """What happened to one stage: compile seconds per shape signature, shapes run eager, a failure."""

    name: str
    enabled: bool
    compiled: dict[str, float] = field(default_factory=dict)  # shapes in words -> first-call seconds
    eager_shapes: list[str] = field(default_factory=list)  # past MAX_SHAPES
    failure: Optional[str] = None  # why compiling failed (the stage then runs eager)

    @property
    def mode(self) -> str:
        if not self.enabled:
            return "eager"
        return "failed (eager)" if self.failure else "compiled"


class CompiledStage:
    """One model forward: torch.compile'd per input-shape signature, eager when off or when compiling fails."""

    def __init__(self, name: str, eager: Callable[..., Any], enabled: bool, backend: Union[str, Callable] = "inductor",
                 max_shapes: int = MAX_SHAPES) -> None:
        self.name = name
        self.eager = eager
        self.max_shapes = max_shapes
        self.report = StageReport(name, enabled)
        self._compiled = torch.compile(eager, dynamic=False, backend=backend) if enabled else None
        self._known: set[Signature] = set()
        self._eager: set[Signature] = set()

    @property
    def active(self) -> bool:
        """True while calls may go through the compiled graph (on, and not failed)."""
        return self._compiled is not None

    def __call__(self, *args: Any) -> Any:
        if self._compiled is None:
            return self.eager(*args)
        sig = signature(args)
        if sig in self._known:
            return self._run_compiled(sig, args)
        if sig in self._eager:
            return self.eager(*args)
        if len(self._known) >= self.max_shapes:
            self._eager.add(sig)
            self.report.eager_shapes.append(_shapes(sig))
            log.info("compile: %s already has %d compiled input shapes; %s runs eager", self.name,
                     len(self._known), _shapes(sig))
            return self.eager(*args)
        if self._known:
            log.info("compile: %s input shapes changed to %s: compiling for them (this call is slow)",
                     self.name, _shapes(sig))
        start = time.perf_counter()
        result = self._run_compiled(sig, args)
        if self._compiled is not None:  # compiled (did not fall back)
            device = _first_device(args)
            if device is not None:
                synchronize(device)
            seconds = time.perf_counter() - start
            self._known.add(sig)
            self.report.compiled[_shapes(sig)] = seconds
            log.info("compile: %s compiled for %s in %.1f s (inductor cache: %s)", self.name, _shapes(sig),
                     seconds, inductor_cache_dir())
        return result

    def _run_compiled(self, sig: Signature, args: tuple[Any, ...]) -> Any:
        assert self._compiled is not None
        try:
            return self._compiled(*args)
        except Exception as error:  # any compiler failure: the frame must still be answered
            result = self.eager(*args)  # an error here is the input's, not the compiler's: it propagates
            self._compiled = None
            self.report.failure = _reason(error)
            log.warning("compile: %s failed to compile for %s (%s); it runs eager from now on", self.name,
                        _shapes(sig), self.report.failure)
            return result


def _reason(error: BaseException) -> str:
    """The compiler's error in one line, with the error that caused it (dynamo wraps backend errors)."""
    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    text = type(error).__name__ + (f" from {type(root).__name__}: {root}" if root is not error else f": {error}")
    return " ".join(text.split())[:300]


class PaddedPointBatch:
    """The SAM2 decoder stage with every point batch padded to `batch_size()` while it compiles.

    Prompts are independent in SAM2's decoder, so padding with copies of the last point and
    dropping their outputs leaves the real prompts' outputs as they were; one graph then serves
    the shorter last batch too. Eager calls are not padded (nothing to gain).
    """

    def __init__(self, stage: CompiledStage, batch_size: Callable[[], int]) -> None:
        self.stage = stage
        self.batch_size = batch_size

    def __call__(self, coords: torch.Tensor, labels: torch.Tensor, *rest: Any) -> tuple[torch.Tensor, torch.Tensor]:
        count, batch = int(coords.shape[0]), self.batch_size()
        # two-token prompts (region_prompts.py) arrive padded to their own fixed sizes already
        if not self.stage.active or count >= batch or coords.shape[1] != 1:
            return self.stage(coords, labels, *rest)
        pad = batch - count
        coords = torch.cat([coords, coords[-1:].expand(pad, *coords.shape[1:])])
        labels = torch.cat([labels, labels[-1:].expand(pad, *labels.shape[1:])])
        lowres, iou = self.stage(coords, labels, *rest)
        return lowres[:count], iou[:count]


@dataclass
class CompiledForwards:
    """The engine's three compilable forwards (eager ones when compile is off)."""

    sam2_encoder: CompiledStage
    sam2_decoder: CompiledStage
    image_encoder: CompiledStage
    enabled: bool

    @property
    def stages(self) -> tuple[CompiledStage, ...]:
        return self.sam2_encoder, self.sam2_decoder, self.image_encoder

    def report(self) -> dict[str, StageReport]:
        return {stage.name: stage.report for stage in self.stages}

    def summary(self) -> str:
        """One line: each stage's mode and compile seconds."""
        parts = []
        for stage in self.stages:
            report = stage.report
            seconds = ", ".join(f"{shape}: {s:.1f} s" for shape, s in report.compiled.items())
            parts.append(f"{stage.name} {report.mode}" + (f" ({seconds})" if seconds else ""))
        return "; ".join(parts)


def compile_forwards(setting: str, device: torch.device, sam2_forwards: Any, encode_views: Callable[..., Any],
                     point_batch: Callable[[], int],
                     backend: Union[str, Callable] = "inductor") -> tuple[CompiledForwards, Any]:
    """The three stages for `setting` on `device`, and SAM2 forwards that go through them.

    `sam2_forwards` is the mask generator's Sam2Forwards (eager); the returned one calls the
    stages instead (the decoder's batches padded to point_batch()).
    """
    enabled = compile_wanted(setting, device)
    encoder = CompiledStage("sam2_encoder", sam2_forwards.encoder, enabled, backend)
    decoder = CompiledStage("sam2_decoder", sam2_forwards.decoder, enabled, backend)
    image = CompiledStage("image_encoder", encode_views, enabled, backend)
    forwards = type(sam2_forwards)(encoder, PaddedPointBatch(decoder, point_batch))
    return CompiledForwards(encoder, decoder, image, enabled), forwards
