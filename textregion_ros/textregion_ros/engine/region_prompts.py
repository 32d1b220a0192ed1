"""What SAM2's decoder is asked on one frame: the full grid, or boxes from the tracks plus discovery points.

`region_prompts: grid` decodes every grid point on every frame. `tracks` (on a non-keyframe) decodes one
box per region of the previous frame that continued or opened a track, plus the grid points no region of
the previous frame covered; the caller (perception/prompt_policy.py, which sees every frame in order)
decides keyframes and builds these prompts. The engine keeps no state across frames: what it needs from
the previous frame rides on that frame's Regions (`prompt_basis`, made in the same host copy as the
regions' compaction) and comes back as a RegionPrompts argument.

Prompt format: every prompt is two SAM2 prompt tokens, [B,2,2] coordinates and [B,2] labels, exactly as
SAM2's prompt encoder embeds them: a box alone is its two corners with labels 2 and 3 (what
PromptEncoder(boxes=...) makes); a point is the point with label 1 and a not-a-point token (label -1,
what PromptEncoder(points=...) pads with). One batch then holds both kinds, and one compiled graph per
batch size serves them. Per box all three multimask outputs are kept, as for a grid point: the filters,
NMS, the whole/part/sub-part order and nested-mask fusion downstream are then the ones `grid` runs, and a
tracked region that was a part of an object finds its own granularity again (SAM2's single-mask output
for boxes would always give the box's largest plausible object).

The variable prompt count is padded to a few fixed batch sizes (PROMPT_BUCKETS) with a validity mask
over the padding, so nothing is compiled per frame and nothing is synced to find the valid prompts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

# Batch sizes a prompt batch is padded to (largest first used as the chunk size for more prompts):
# three graphs beside the grid's own keep the decoder within compilation.MAX_SHAPES.
PROMPT_BUCKETS = (16, 32, 64)
BOX_LABELS = (2, 3)  # SAM2's labels of a box's top-left and bottom-right corners
POINT_LABELS = (1, -1)  # a foreground point and SAM2's not-a-point padding token


@dataclass(frozen=True)
class PromptRecord:
    """Per-frame prompt counts: on Regions.prompts, in /diagnostics, the bag's and CLI's records."""

    mode: str  # the region_prompts setting in force: grid | tracks
    decoded: int  # prompts through SAM2's decoder (3 masks each), padding not counted
    from_tracks: int  # box prompts from the previous frame's tracked regions
    discovery: int  # grid points decoded (all of them on a keyframe)
    skipped: int  # uncovered grid points left out by max_prompts
    keyframe: bool
    reason: str = ""  # why a keyframe (empty on a non-keyframe)
    padded: int = 0  # batch slots decoded, padding included

    def as_dict(self) -> dict:
        return asdict(self)

    def diagnostics(self) -> dict[str, str]:
        """The record as /diagnostics key-values (prefixed prompts_)."""
        return {"region_prompts": self.mode, "prompts_decoded": str(self.decoded),
                "prompts_from_tracks": str(self.from_tracks), "prompts_discovery": str(self.discovery),
                "prompts_skipped": str(self.skipped), "prompts_keyframe": str(self.keyframe).lower(),
                "prompts_keyframe_reason": self.reason}

    def summary(self) -> str:
        """One line for logs and diagnostics."""
        kind = f"keyframe ({self.reason})" if self.keyframe else "non-keyframe"
        return (f"{self.mode} {kind}: decoded {self.decoded} (tracks {self.from_tracks}, discovery "
                f"{self.discovery}), skipped {self.skipped}")


@dataclass(frozen=True)
class RegionPrompts:
    """The prompts of one frame. `full_grid`: a keyframe, decoded exactly as `grid` mode.

    boxes: [B,4] float32 x1,y1,x2,y2 in SAM2 input pixels (tracks' regions of the previous frame);
    points: [D] int64 indices into the engine's point grid (row-major, points_per_side squared).
    """

    full_grid: bool = True
    reason: str = ""
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    points: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    skipped: int = 0

    @classmethod
    def keyframe(cls, reason: str) -> "RegionPrompts":
        return cls(full_grid=True, reason=reason)

    def __len__(self) -> int:
        return int(self.boxes.shape[0] + self.points.shape[0])


@dataclass(frozen=True)
class PromptBasis:
    """What the next frame's prompts are built from, per kept region of this frame (host arrays).

    boxes_sam2: [R,4] float32 region boxes (mask > 0, inclusive corners) in SAM2 input pixels;
    covers: [R,P] bool, region r's mask covers grid point p (sampled at the point's pixel).
    """

    boxes_sam2: np.ndarray
    covers: np.ndarray
    grid_side: int


def batch_sizes(chunk: int) -> list[int]:
    """The decoder batch sizes of tracks mode: the buckets below `chunk`, and `chunk`."""
    return sorted({b for b in PROMPT_BUCKETS if b < chunk} | {chunk})


def bucket_plan(count: int, chunk: int) -> list[tuple[int, int, int]]:
    """(start, real prompts, batch size) per decoder call for `count` prompts: chunks of `chunk`, the
    last padded up to the smallest bucket (or chunk) that holds it."""
    sizes = batch_sizes(chunk)
    plan = []
    for start in range(0, count, chunk):
        real = min(chunk, count - start)
        plan.append((start, real, next(s for s in sizes if s >= real)))
    return plan


def prompt_chunk(points_per_batch: int) -> int:
    """Prompts per decoder call in tracks mode: the largest bucket, or fewer if points_per_batch says so."""
    return max(1, min(points_per_batch, PROMPT_BUCKETS[-1]))


def grid_record(points: int, mode: str = "grid", reason: Optional[str] = None) -> PromptRecord:
    """The record of a full-grid decode (grid mode, or a tracks keyframe)."""
    return PromptRecord(mode, points, 0, points, 0, True, reason or "grid mode", points)
