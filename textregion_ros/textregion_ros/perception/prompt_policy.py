"""region_prompts tracks: when a frame is a keyframe, and the prompts of one that is not (ROS-free).

A keyframe decodes SAM2's full grid, exactly as `grid` mode. Any other frame decodes one box per
region of the previous processed frame that continued or opened a track, plus the grid points no
region of the previous frame covered (new objects appear there), at most max_prompts in all.

Keyframes: the first frame; every keyframe_interval_s of stamp time; when the previous frame's
regions cover less than keyframe_min_coverage of the grid points; when fewer than half of the last
keyframe's tracks were found again; after a stamp jump either way larger than the tracker's
track_max_age_s (the tracker then closes every track, the same rule); after the image size or a
SAM2 / mask / region-token / prompt parameter changed (queries touch no region: they trigger nothing).

The only state here is the last keyframe (stamp, tracks); the previous frame is handed in by the
caller (the frame pipeline), whichever thread finished it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, cast

import numpy as np

from .. import params
from ..engine.region_prompts import PromptBasis, RegionPrompts
from ..settings_rows import TableSettings

NS_PER_S = 1_000_000_000
# Engine rows whose change changes the regions themselves (queries and painting do not).
REGION_GROUPS = ("models", "masks", "region tokens", "region prompts")


def region_settings_key(config: Any) -> tuple:
    """The values of every engine parameter that shapes the regions (a change forces a keyframe)."""
    return tuple((p.name, getattr(config, p.name)) for p in params.ENGINE_PARAMETERS if p.group in REGION_GROUPS)


@dataclass(frozen=True)
class KeyframeSettings(TableSettings):
    """The keyframe rules' parameters (rows of the table, ROWS names them; settings_rows.py checks them)."""

    interval_s: float = 1.0
    min_coverage: float = 0.5
    max_age_s: float = 3.0  # the tracker's: the same stamp-jump rule

    ROWS = {"interval_s": "keyframe_interval_s", "min_coverage": "keyframe_min_coverage",
            "max_age_s": "track_max_age_s"}
    PARAMETERS = frozenset(ROWS.values())


@dataclass(frozen=True)
class PreviousRegions:
    """What the next frame's prompts need from a processed frame (host arrays only)."""

    stamp_ns: int
    image_size: tuple[int, int]
    settings_key: tuple
    keyframe: bool
    basis: Optional[PromptBasis]  # None: the frame ran in grid mode
    track_ids: np.ndarray  # [R] uint32 per region, 0 = no track

    @property
    def coverage(self) -> float:
        """Share of the grid points some region covers."""
        if self.basis is None or self.basis.covers.shape[1] == 0:
            return 0.0
        return float(self.basis.covers.any(axis=0).mean()) if self.basis.covers.shape[0] else 0.0


def discovery_points(uncovered: np.ndarray, room: int) -> np.ndarray:
    """Up to `room` of the uncovered grid indices, spread evenly over them (all when they fit)."""
    count = uncovered.shape[0]
    if count <= room:
        return uncovered
    if room <= 0:
        return uncovered[:0]
    return uncovered[((np.arange(room) + 0.5) * count / room).astype(np.int64)]


def tracks_prompts(previous: PreviousRegions, max_prompts: int) -> RegionPrompts:
    """Boxes of the previous frame's tracked regions, then its uncovered grid points, capped at max_prompts."""
    basis = previous.basis
    assert basis is not None, "tracks prompts need the previous frame's prompt basis"
    tracked = np.flatnonzero(np.asarray(previous.track_ids).reshape(-1) != 0)
    boxes = basis.boxes_sam2[tracked]
    kept_boxes = boxes[:max_prompts]
    uncovered = np.flatnonzero(~basis.covers.any(axis=0)) if basis.covers.shape[0] else \
        np.arange(basis.grid_side ** 2)
    points = discovery_points(uncovered, max_prompts - kept_boxes.shape[0])
    skipped = (boxes.shape[0] - kept_boxes.shape[0]) + (uncovered.shape[0] - points.shape[0])
    return RegionPrompts(full_grid=False, boxes=kept_boxes.astype(np.float32), points=points.astype(np.int64),
                         skipped=int(skipped))


class PromptPolicy:
    """Decides each frame's prompts in tracks mode; frames must come in processing order."""

    def __init__(self, settings: KeyframeSettings = KeyframeSettings()) -> None:
        self.settings = settings
        self._keyframe_stamp: Optional[int] = None
        self._keyframe_tracks: Optional[np.ndarray] = None  # track ids of the last keyframe

    def reset(self) -> None:
        self._keyframe_stamp = self._keyframe_tracks = None

    def prompts(self, previous: Optional[PreviousRegions], stamp_ns: int, image_size: tuple[int, int],
                settings_key: tuple, max_prompts: int) -> RegionPrompts:
        """This frame's prompts: a keyframe (with its reason) or the tracks' boxes and discovery points."""
        if previous is not None and previous.keyframe:
            self._keyframe_tracks = np.unique(previous.track_ids[previous.track_ids != 0])
        reason = self.keyframe_reason(previous, stamp_ns, cast(tuple[int, int], tuple(image_size)), settings_key)
        if reason:
            self._keyframe_stamp, self._keyframe_tracks = stamp_ns, None
            return RegionPrompts.keyframe(reason)
        assert previous is not None  # keyframe_reason makes the first frame a keyframe
        return tracks_prompts(previous, max_prompts)

    def keyframe_reason(self, previous: Optional[PreviousRegions], stamp_ns: int, image_size: tuple[int, int],
                        settings_key: tuple) -> str:
        """Why this frame must be a keyframe, or '' when it need not be."""
        settings = self.settings
        if previous is None or previous.basis is None or self._keyframe_stamp is None:
            return "first frame"
        if previous.image_size != image_size:
            return "image size changed"
        if previous.settings_key != settings_key:
            return "SAM2 or region parameters changed"
        max_age_ns = settings.max_age_s * NS_PER_S
        if stamp_ns < previous.stamp_ns - max_age_ns:
            return "new timeline (stamps went back)"
        if stamp_ns - previous.stamp_ns > max_age_ns:
            return "stamp jump"
        if abs(stamp_ns - self._keyframe_stamp) >= settings.interval_s * NS_PER_S:
            return "interval"
        if previous.coverage < settings.min_coverage:
            return f"coverage {previous.coverage:.2f} below {settings.min_coverage:.2f}"
        if self._keyframe_tracks is not None and self._keyframe_tracks.size:
            found = np.isin(self._keyframe_tracks, previous.track_ids).sum()
            if 2 * found < self._keyframe_tracks.size:
                return f"{int(found)} of the keyframe's {self._keyframe_tracks.size} tracks found again"
        return ""
