"""The CUDA path proven without a GPU: one steady-state frame on fake `cuda:0` tensors.

    python -m textregion_ros.tooling.cuda_dry_run --backbone clip            # the defaults' shapes
    python -m textregion_ros.tooling.cuda_dry_run --preset small_gpu --precision bf16
    python -m textregion_ros.tooling.cuda_dry_run --real                     # the same checks on a real GPU

Builds the engine's real models (random weights, through the real loading code), the tracker and the
3D stage, moves everything to a fake `cuda:0` (tooling/fake_cuda.py) and runs frames through
FramePipeline.observe + describe: prepare/rescale, SAM2 encoder and decoder, selection, NMS, fusion,
the image features of every view, pooling, global-patch removal, segmentation, grounding, the 3D of
regions and detections, the tracker and the overlay (every product a frame can give). The first frame
fills the caches (text, grid, rescale taps, pinned buffer); the last frame is the audited steady state.
It fails on a device mismatch, a dtype mismatch under the chosen precision, or a host sync outside
engine/sync_audit.py's budgeted copies, each named with its op and Python line. Fake tensors do no
arithmetic: a frame at the defaults' shapes takes seconds on a CPU.

A new device path (a mode of the mask stage, a new output) is covered by running it through the same
pipeline: `--set NAME=VALUE` for its parameter (the audited frame is the second, so anything fed from
the previous frame's tracks is in place), and, if it adds a budgeted host copy whose stand-in zeros
would stop the frame (a count, a convergence flag), a `PlausibleHost._site_<function>` for it.

`--real` runs the same frames on CUDA for real, the audited one under
torch.cuda.set_sync_debug_mode("error"): what the dry run predicts, a GPU confirms
(benchmarks/run_gpu_checks.sh runs it first).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch
import yaml

from .. import params
from ..engine import EngineConfig, TextRegionEngine
from ..engine.queries import parse_queries
from ..engine.rescale import _device_taps
from ..engine.tiling import plan_views
from ..objects import TrackedObjects
from ..perception.depth_source import DepthView
from ..perception.pipeline import FrameInput, FramePipeline, PipelineSettings
from ..perception.products import PRODUCTS
from ..spatial import Intrinsics
from .fake_cuda import Finding, Findings, caller_location, fake_cuda
from .params_files import preset_file, read_params_file

# The model of each backbone the dry run builds (the tests' choices; clip's is the parameter default).
# The reports go to stdout through this logger (main adds the console handler): library code does not print.
log = logging.getLogger("textregion_ros.cuda_dry_run")
log.setLevel(logging.INFO)
log.propagate = False  # the report once, not again through the root logger's handlers

MODELS = {"clip": "ViT-B-16", "siglip2": "ViT-B-16-SigLIP2-256", "pe": "PE-Core-T-16-384"}
QUERIES = ("mug", "table", "floor")
FAILING_KINDS = ("device", "dtype", "sync")
# Every output a frame can give (the node's products), so every stage they need runs.
PRODUCTS_CHECKED = tuple(sorted(PRODUCTS))
# The CI matrix: every backbone at the defaults' shapes (640 x 480, SAM2.1-T at 1024, 16 x 16 points), then
# the small_gpu preset.
MATRIX = (("clip", ""), ("siglip2", ""), ("pe", ""), ("clip", "small_gpu"))
DEPTH_M = 2.0  # the plausible depth of the fake depth image


@dataclass
class DryRunReport:
    """What one dry run (or real CUDA run) saw."""

    backbone: str
    preset: str
    device: str  # "fake cuda:0" or the real device's name
    precision: str = ""
    findings: Findings = field(default_factory=Findings)
    stats: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # what stopped the run early (a real CUDA run stops at its first problem)

    @property
    def failures(self) -> list[Finding]:
        return self.findings.of(*FAILING_KINDS)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.error

    def text(self) -> str:
        lines = [f"CUDA dry run: backbone {self.backbone}, preset {self.preset or '-'}, {self.device}, "
                 f"{self.precision}",
                 "  " + ", ".join(f"{k} {v}" for k, v in self.stats.items())]
        for title, kinds in (("FAILURES (device / dtype mismatches, syncs outside the budget)", FAILING_KINDS),
                             ("budgeted syncs of the steady-state frame", ("budgeted",)),
                             ("not run on fake tensors (stand-ins; the code around them ran)", ("not_run",))):
            found = self.findings.of(*kinds)
            lines.append(f"{title}: {len(found)}")
            for finding in found:
                count = self.findings.counts[(finding.kind, finding.op, finding.where)]
                lines.append(f"  {finding.line()}" + (f"  x{count}" if count > 1 else ""))
        if self.error:
            lines.append(f"stopped: {self.error}")
        lines.append("CUDA dry run: " + ("PASSED" if self.ok else f"FAILED ({len(self.failures)} finding(s))"))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"backbone": self.backbone, "preset": self.preset, "device": self.device, "precision": self.precision,
                "ok": self.ok, "error": self.error, "stats": self.stats,
                "findings": [{**vars(f), "count": self.findings.counts[(f.kind, f.op, f.where)]}
                             for f in self.findings.items]}


class PlausibleHost:
    """Host values for the copies a fake tensor cannot answer: per copy site (the function that makes
    it), values of the copy's own shape that let the frame go on as a real one would.

    A new budgeted copy needs a method here named after its function when zeros would stop the frame
    (a count of 0 survivors, a convergence flag of 0); the others get generic values (`_generic`).
    """

    def __init__(self, regions: int = 48, seed: int = 0) -> None:
        self.regions = regions
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, site: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        count = math.prod(shape)
        maker = getattr(self, f"_site_{site.lstrip('_')}", None)
        values = maker(count, shape) if maker is not None else None
        if values is None:
            values = self._generic(shape, dtype)
        return values.reshape(shape).to(dtype)

    def boxes(self, count: int, side: float) -> torch.Tensor:
        """[count,4] boxes x1 < x2, y1 < y2 inside [0, side), some nested in others (fusion has pairs)."""
        corner = torch.rand(count, 2, generator=self.generator) * side / 2
        extent = 2 + torch.rand(count, 2, generator=self.generator) * side / 2
        return torch.cat([corner, (corner + extent).clamp(max=side - 1)], 1)

    # -- the budgeted copies' sites -------------------------------------------------------------------
    def _site_select_masks(self, count: int, shape) -> torch.Tensor:  # [survivors, converged, boxes of all]
        masks = (count - 2) // 4
        return torch.cat([torch.tensor([float(min(masks, self.regions)), 1.0]), self.boxes(masks, 60.0).flatten()])

    def _site_greedy_labels(self, count: int, shape) -> torch.Tensor:  # [converged, leader of each mask]
        index = torch.arange(count - 1)
        return torch.cat([torch.ones(1, dtype=torch.long), index - index % 3])  # groups of three

    def _site_fuse(self, count: int, shape) -> torch.Tensor:  # every mask its own region
        return torch.arange(count)

    def _site_contained_pairs(self, count: int, shape) -> torch.Tensor:
        return self.boxes(count // 4, 60.0).flatten()

    def _site_ground(self, count: int, shape) -> torch.Tensor:  # [chosen, class, score, box] per region
        rows = count // 7
        return torch.cat([torch.ones(rows, 1), torch.zeros(rows, 1), torch.full((rows, 1), 0.5),
                          self.boxes(rows, 400.0)], 1).double()

    def _site_ground_best(self, count: int, shape) -> Optional[torch.Tensor]:
        if len(shape) == 2 and shape[-1] == 3:  # [region, score, not background] per query
            return torch.tensor([[0.0, 0.5, 1.0]]).expand(shape[0], 3).double()
        return None

    def _site_label_range(self, count: int, shape) -> torch.Tensor:  # the overlay's [min, max] label
        return torch.tensor([-1, 0])  # background and the first query

    def _generic(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """Masks get a filled block each, boxes plausible boxes, other floats values in [0, 1), counts 64."""
        if dtype == torch.bool:
            out = torch.zeros(shape, dtype=torch.bool)
            if len(shape) >= 2:
                out[..., shape[-2] // 4:max(shape[-2] // 2, 1), shape[-1] // 4:max(shape[-1] // 2, 1)] = True
            else:
                out[...] = True
            return out
        if dtype.is_floating_point:
            if len(shape) == 2 and shape[-1] == 4:
                return self.boxes(shape[0], 400.0)
            return torch.rand(shape, generator=self.generator, dtype=torch.float64)
        return torch.full(shape, 64, dtype=torch.long)


class FixedDepth:
    """A depth input that pairs every frame with one plausible depth image (DEPTH_M everywhere)."""

    def __init__(self, height: int, width: int) -> None:
        focal = 0.8 * width
        self.view = DepthView(np.full((height, width), DEPTH_M, np.float32),
                              Intrinsics(focal, focal, (width - 1) / 2, (height - 1) / 2, width, height), "32FC1")

    def depth_for(self, stamp_ns: int, frame_id: str, tolerance_s: float) -> DepthView:
        return self.view


def parameter_values(backbone: str, preset: str = "", precision: str = "", overrides: Mapping[str, Any] = (),
                     device: str = "cuda:0") -> dict[str, Any]:
    """Every parameter: the table's defaults, then the preset, then the dry run's model choice (random
    weights), then `overrides`."""
    values = {p.name: (tuple(p.default) if isinstance(p.default, list) else p.default) for p in params.PARAMETERS}
    if preset:
        values.update(read_params_file(preset_file(preset)))
    values.update(backbone=backbone, model=MODELS[backbone], weights="random", sam2_weights="random", device=device)
    if precision:
        values["precision"] = precision
    values.update(dict(overrides))
    return values


def offline_tokenizer(config: EngineConfig) -> Optional[Any]:
    """open_clip's bundled BPE tokenizer at the model's context length for a model whose own tokenizer
    is a Hugging Face download (SigLIP2) and none is configured; None: the model's own (bundled or
    configured). Tokenising is host work: the ids only need the right shape and range for the device."""
    import open_clip
    from open_clip.tokenizer import SimpleTokenizer

    text_cfg = open_clip.get_model_config(config.model).get("text_cfg", {})
    if not text_cfg.get("hf_tokenizer_name") or config.tokenizer:
        return None
    return SimpleTokenizer(context_length=text_cfg.get("context_length", 64))


def photo(height: int, width: int) -> np.ndarray:
    """A smooth gradient frame (its pixels do not matter to fake tensors; a real run sees structure)."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                     np.full_like(xx, 90)], axis=-1).astype(np.uint8)


def _run_frames(values: Mapping[str, Any], size: tuple[int, int], frames: int, report: DryRunReport,
                audited: Any) -> None:
    """Build the engine, tracker and 3D stage, and run `frames` frames; `audited(True)` before the last."""
    config = EngineConfig.from_mapping(values)
    engine = TextRegionEngine(config, tokenizer=offline_tokenizer(config))
    report.precision = engine.precision.describe()
    pipeline = FramePipeline(engine, PipelineSettings.from_parameters(values), TrackedObjects.from_parameters(values))
    height, width = size
    queries = parse_queries(list(QUERIES))
    engine.prepare(queries)
    rgb, depth = photo(height, width), FixedDepth(height, width)
    for index in range(frames):
        audited(index == frames - 1)
        observed = pipeline.observe(FrameInput(rgb, stamp_ns=(index + 1) * 100_000_000, frame_id="camera",
                                               depth=depth))
        result = pipeline.describe(observed, queries, PRODUCTS_CHECKED)
        audited(False)
    regions = observed.regions
    image = engine.prepare_frame(rgb).image
    layout = plan_views(int(image.shape[-2]), int(image.shape[-1]), engine.backbone.crop_size,
                        engine.config.resize_mode == "multi_resolution")
    report.stats.update(
        image=f"{width}x{height}", models_see=f"{int(image.shape[-1])}x{int(image.shape[-2])}",
        sam2=f"{engine.config.sam2_model}@{engine.masks.input_size}",
        points=f"{engine.config.points_per_side}x{engine.config.points_per_side}",
        views=layout.view_count,
        regions=len(regions), detections=len(result.detections), frames=frames)
    if regions.prompts is not None:  # what the audited frame's SAM2 decoder was asked (region_prompts)
        report.stats["prompts"] = regions.prompts.summary()
    for name, tensor in (("tokens", regions.tokens), ("masks", regions.masks), ("boxes", regions.boxes),
                         ("predicted_iou", regions.predicted_iou),
                         ("region_class_probability", result.segmentation.region_class_probability)):
        if tensor.dtype != torch.float32:  # the stages after the model forwards stay fp32 (precision.py)
            report.findings.add("dtype", f"Regions.{name}", f"{tensor.dtype}, expected float32 after the forwards",
                                where="engine results")
        if tensor.device.type != engine.device.type:
            report.findings.add("device", f"Regions.{name}", f"on {tensor.device}", where="engine results")


def dry_run(backbone: str = "clip", preset: str = "", precision: str = "", overrides: Mapping[str, Any] = (),
            size: tuple[int, int] = (480, 640), frames: int = 2,
            host_values: Optional[PlausibleHost] = None) -> DryRunReport:
    """One dry run on fake cuda:0; see the module's docstring."""
    report = DryRunReport(backbone, preset, "fake cuda:0")
    values = parameter_values(backbone, preset, precision, overrides, "cuda:0")
    try:
        with fake_cuda(report.findings, host_values or PlausibleHost()) as checks:
            _run_frames(values, size, frames, report, lambda on: setattr(checks, "auditing", on))
    finally:
        _device_taps.cache_clear()  # cached fake device tensors must not outlive their fake mode
    return report


def real_run(backbone: str = "clip", preset: str = "", precision: str = "", overrides: Mapping[str, Any] = (),
             size: tuple[int, int] = (480, 640), frames: int = 2) -> DryRunReport:
    """The same frames on real CUDA, the last under set_sync_debug_mode("error") (budgeted copies lift it);
    compile off unless `overrides` set it."""
    if not torch.cuda.is_available():
        raise RuntimeError("--real needs a CUDA device; without one, run the dry run (no --real)")
    report = DryRunReport(backbone, preset, torch.cuda.get_device_name(0))

    def audited(on: bool) -> None:
        if on:
            torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error" if on else "default")

    # eager unless asked: the hot path's own code, not inductor's (and no minutes of compiling per run)
    values = parameter_values(backbone, preset, precision, {"compile": "off", **dict(overrides)}, "cuda:0")
    try:
        _run_frames(values, size, frames, report, audited)
    except Exception as error:  # the first problem stops a real run: name it with its line
        torch.cuda.set_sync_debug_mode("default")
        message = " ".join(str(error).split())[:300]
        kind = ("sync" if "synchroniz" in message else "device" if "same device" in message or "device" in message
                else "dtype" if "dtype" in message or "Half" in message or "BFloat16" in message else "")
        where = _error_location(error)
        if kind:
            report.findings.add(kind, type(error).__name__, message, where=where)
        else:
            report.error = f"{type(error).__name__}: {message} at {where}"
    return report


def _error_location(error: BaseException) -> str:
    package = Path(__file__).resolve().parents[1]
    frames = [f for f in traceback.extract_tb(error.__traceback__) if package in Path(f.filename).resolve().parents]
    if not frames:
        return caller_location()
    frame = frames[-1]
    return f"{Path(frame.filename).resolve().relative_to(package.parent)}:{frame.lineno} ({frame.name})"


def _setting(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or name not in params.BY_NAME:
        raise argparse.ArgumentTypeError(f"--set takes name=value with a parameter name, got {text!r}")
    return name, yaml.safe_load(value)


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(height), int(width)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the CUDA dry run: runs the chosen cases, prints each report, writes JSON on request."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", choices=sorted(MODELS), default="clip")
    parser.add_argument("--preset", default="", help="a preset of config/presets (e.g. small_gpu), over the defaults")
    parser.add_argument("--precision", default="", choices=("",) + tuple(params.PRECISIONS),
                        help="the precision parameter (default: the preset's or the table's)")
    parser.add_argument("--set", dest="overrides", action="append", type=_setting, default=[], metavar="NAME=VALUE",
                        help="any parameter, last (e.g. --set grounding_mode=best)")
    parser.add_argument("--size", type=_size, default=(480, 640), help="frame WIDTHxHEIGHT (default 640x480)")
    parser.add_argument("--frames", type=int, default=2, help="frames run; the last is the audited steady state")
    parser.add_argument("--real", action="store_true", help="run on a real CUDA device instead of fake tensors")
    parser.add_argument("--matrix", action="store_true",
                        help="every backbone at the defaults' shapes, then the small_gpu preset "
                             "(ignores --backbone, --preset)")
    parser.add_argument("--json", type=Path, help="write the report(s) as JSON here")
    args = parser.parse_args(argv)
    run = real_run if args.real else dry_run
    cases = MATRIX if args.matrix else ((args.backbone, args.preset),)
    reports = []
    console = logging.StreamHandler(sys.stdout)  # the reports are this command's output, one block per case
    console.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(console)
    try:
        for backbone, preset in cases:
            report = run(backbone, preset, args.precision, dict(args.overrides), args.size, max(args.frames, 1))
            log.info(report.text())
            console.flush()
            reports.append(report)
    finally:
        log.removeHandler(console)
    if args.json:
        records = [report.to_json() for report in reports]
        record = {"ok": all(r["ok"] for r in records), "runs": records} if args.matrix else records[0]
        args.json.write_text(json.dumps(record, indent=2, default=str))
    return 0 if all(report.ok for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
