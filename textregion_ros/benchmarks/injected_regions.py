"""engine_stages.py --injected-regions R1,R2,...: R synthetic SAM2 proposals through the engine after
SAM2, per stage, with the host syncs of each frame, before vs after the sync-free hot path.

Each frame: the same R low-res candidate logits (rectangles, nested parts of earlier ones, exact
ties, a few empty; at SAM2's low-res size) go through the engine's own mask selection (box NMS,
area, order), then fusion, the image encoder, pooling, painting and grounding, exactly as a SAM2
frame would after the decoder. So the per-mask cost of selection and fusion is visible.

"before" is the engine package as it was at --before-commit (default 828d448: the last engine with
the per-mask Python fusion loop and torchvision NMS; 6e0b7a6 is main before the sync-free frame),
extracted from git into a temporary folder and imported under another name (textregion_<commit>),
sharing this run's model objects; "after" is the code of this checkout. Frames alternate before /
after, so a slow spell of a shared machine hits both. Syncs are counted with this checkout's
SyncAudit (engine/sync_audit.py: the ops that block on CUDA, `.cpu()` and `.tolist()` included)
around one extra frame per side. Without git (or with --before-commit ''), only "after" runs.
"""
from __future__ import annotations

import importlib
import importlib.util
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from textregion_ros.engine import TextRegionEngine
from textregion_ros.engine.sam2_masks import select_masks
from textregion_ros.engine.sync_audit import SyncAudit
from textregion_ros.engine.timing import StageTimer

from .common import format_table, ms
from .scenes import candidates

BEFORE_COMMIT = "828d448"  # the last engine with the per-mask fusion loop (fa12189 replaced it)
PACKAGE_PATH = "textregion_ros/textregion_ros"  # the python package (engine/ imports ..params)
STAGES = ("select_nms", "mask_fusion", "image_encoder", "mask_to_grid", "global_patch_removal", "pooling",
          "painting", "grounding")


def load_before(commit: str) -> Optional[ModuleType]:
    """The engine package at `commit` (from this checkout's git), imported as textregion_<commit>.engine."""
    if not commit:
        return None
    here = Path(__file__).resolve().parent
    try:
        top = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"], check=True,
                             capture_output=True, text=True).stdout.strip()
        archive = subprocess.run(["git", "-C", top, "archive", f"{commit}:{PACKAGE_PATH}"],
                                 check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        print(f"note   : no 'before' engine ({commit}): {detail.decode(errors='replace').strip() or error}")
        return None
    commit = subprocess.run(["git", "-C", top, "rev-parse", "--short=7", commit], check=True, capture_output=True,
                            text=True).stdout.strip()
    name = f"textregion_{commit}"
    root = Path(tempfile.mkdtemp(prefix="textregion_before_"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root / name, filter="data")
    package = importlib.util.spec_from_file_location(name, root / name / "__init__.py",
                                                     submodule_search_locations=[str(root / name)])
    module = importlib.util.module_from_spec(package)
    sys.modules[name] = module  # its own relative imports (engine/ imports ..params) resolve under `name`
    package.loader.exec_module(module)
    return importlib.import_module(f"{name}.engine")


def before_engine(module: ModuleType, engine: TextRegionEngine) -> TextRegionEngine:
    """The old engine class on this run's config and model objects (no second copy of the weights)."""
    old_config = module.EngineConfig
    fields = {name: getattr(engine.config, name) for name in old_config.__dataclass_fields__
              if hasattr(engine.config, name)}
    return module.TextRegionEngine(old_config(**fields), clip_model=engine.backbone.model,
                                   sam2_model=engine.masks.model, tokenizer=engine.backbone.tokenizer)


def after_frame(engine: TextRegionEngine, rgb: np.ndarray, cands: tuple[torch.Tensor, ...], queries: list[str],
                timer: StageTimer):
    """This checkout: select_masks, then finish_regions (fusion, features, tokens), segment, ground."""
    frame = engine.prepare_frame(rgb, timer)
    config = engine.config
    with timer.stage("select_nms"):
        proposals = select_masks(*cands, config.box_nms_thresh, config.min_mask_area, points=cands[1].shape[0])
    regions = engine.finish_regions(frame, proposals, timer)
    return regions, _segment_and_ground(engine, regions, queries, timer)


def before_frame(module: ModuleType, engine: Any, rgb: np.ndarray, cands: tuple[torch.Tensor, ...],
                 queries: list[str], timer: StageTimer):
    """The old engine: its select_masks, then the tail of its regions() (it had no finish_regions)."""
    frame = engine.prepare_frame(rgb, timer)
    config = engine.config
    with timer.stage("select_nms"):
        proposals = module.sam2_masks.select_masks(*cands, config.box_nms_thresh, config.min_mask_area,
                                                   points=cands[1].shape[0])
    fused = engine.fuse_masks(proposals, frame.size, timer)
    if fused.masks.shape[0] == 0:
        tokens = torch.zeros(0, engine.backbone.embed_dim, device=engine.device)
        kept = torch.zeros(0, dtype=torch.bool, device=engine.device)
    else:
        pooled = engine.region_tokens(engine.image_features(frame, timer), fused.masks, timer)
        tokens, kept = pooled.tokens, pooled.kept
    regions = engine.build_regions(fused.masks[kept], tokens[kept], fused.iou[kept], fused.stability[kept],
                                   frame.size)
    return regions, _segment_and_ground(engine, regions, queries, timer)


def _segment_and_ground(engine: Any, regions: Any, queries: list[str], timer: StageTimer) -> int:
    segmentation = engine.segment(regions, queries)
    timer.seconds["painting"] = timer.seconds.get("painting", 0.0) + segmentation.timings["painting"]
    with timer.stage("grounding"):
        return len(engine.ground(regions, queries, segmentation=segmentation))


@dataclass
class SideRow:
    """One R on one side: seconds per stage over the timed frames, syncs of one frame, what came out."""

    side: str
    regions_in: int
    seconds: dict[str, list[float]] = field(default_factory=dict)
    syncs: int = 0
    syncs_by_op: dict[str, int] = field(default_factory=dict)
    regions_out: int = 0
    boxes: Optional[np.ndarray] = None

    def median(self, stage: str) -> float:
        return statistics.median(self.seconds.get(stage, [0.0]))

    def fusion_nms(self) -> float:
        return self.median("select_nms") + self.median("mask_fusion")

    def total(self) -> float:
        return statistics.median(self.seconds["frame"])


def _run(row: SideRow, frame_fn: Callable[[StageTimer], Any], device: torch.device, record: bool) -> None:
    timer = StageTimer(device)
    with timer.stage("frame"):
        regions, _ = frame_fn(timer)
    if record:
        for name, value in timer.seconds.items():
            row.seconds.setdefault(name, []).append(value)
    row.regions_out, row.boxes = len(regions), regions.boxes.detach().cpu().numpy()


def run_injected(engine: TextRegionEngine, rgb: np.ndarray, queries: list[str], counts: Sequence[int],
                 repeats: int, before_commit: str, seed: int) -> dict[str, Any]:
    """Warm-up, then `repeats` frames per R and side (alternating), then one audited frame each; prints two tables."""
    module = load_before(before_commit)
    old = before_engine(module, engine) if module is not None else None
    lowres = engine.config.sam2_image_size // 4
    sides: list[tuple[str, Callable]] = [("after", lambda c, t: after_frame(engine, rgb, c, queries, t))]
    if old is not None:
        sides.insert(0, ("before", lambda c, t: before_frame(module, old, rgb, c, queries, t)))
    rows: dict[tuple[str, int], SideRow] = {}
    for count in counts:
        cands = candidates(count, lowres, seed + count, engine.device)
        for attempt in range(repeats + 1):
            for side, fn in sides:
                row = rows.setdefault((side, count), SideRow(side, count))
                _run(row, lambda timer: fn(cands, timer), engine.device, record=attempt > 0)
        for side, fn in sides:
            with SyncAudit() as audit:
                fn(cands, StageTimer(engine.device, enabled=False))
            rows[(side, count)].syncs, rows[(side, count)].syncs_by_op = audit.count.total, dict(audit.count.by_op)
    return _report(rows, counts, [side for side, _ in sides], before_commit if old is not None else None,
                   lowres)


def _report(rows: dict[tuple[str, int], SideRow], counts: Sequence[int], sides: list[str], commit: Optional[str],
            lowres: int) -> dict[str, Any]:
    has_before = "before" in sides
    print(f"candidates at {lowres}x{lowres} (SAM2's low-res size); fusion+NMS = select_nms + mask_fusion; "
          f"frame = prepare_frame to ground; syncs: one frame, engine/sync_audit.py")
    if has_before:
        print(f"before = engine at {commit}; after = this checkout; same = same regions out, boxes equal")
        headers = ["R", "syncs before", "syncs after", "fusion+NMS ms before", "after", "ratio",
                   "frame ms before", "after", "ratio", "regions", "same"]
        table = []
        for count in counts:
            b, a = rows[("before", count)], rows[("after", count)]
            same = b.regions_out == a.regions_out and np.allclose(b.boxes, a.boxes)
            table.append([str(count), str(b.syncs), str(a.syncs), ms(b.fusion_nms()), ms(a.fusion_nms()),
                          f"{b.fusion_nms() / a.fusion_nms():.2f}", ms(b.total()), ms(a.total()),
                          f"{b.total() / a.total():.2f}", str(a.regions_out), str(same)])
    else:
        headers = ["R", "syncs", "fusion+NMS ms", "frame ms", "regions"]
        table = [[str(c), str(rows[("after", c)].syncs), ms(rows[("after", c)].fusion_nms()),
                  ms(rows[("after", c)].total()), str(rows[("after", c)].regions_out)] for c in counts]
    print(format_table(headers, table))
    print("\nper stage, median ms" + (" (before / after)" if has_before else ""))
    stage_rows = []
    for count in counts:
        cells = [str(count)]
        for stage in STAGES:
            values = [ms(rows[(side, count)].median(stage)) for side in sides]
            cells.append(" / ".join(values))
        stage_rows.append(cells)
    print(format_table(["R", *STAGES], stage_rows))
    return {
        "before_commit": commit, "lowres": lowres, "stages": list(STAGES),
        "rows": [{"side": r.side, "regions": r.regions_in, "regions_out": r.regions_out, "syncs": r.syncs,
                  "syncs_by_op": r.syncs_by_op, "median_s": {s: r.median(s) for s in (*STAGES, "frame")},
                  "fusion_nms_median_s": r.fusion_nms(), "samples_s": r.seconds} for r in rows.values()],
    }
