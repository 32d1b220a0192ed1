"""FramePipeline: one frame through the engine, its 3D, the tracker and the memory (observe), then
the outputs someone wants for the queries in force (describe).

Why two steps: a frame is observed once (tracks and memory see each frame once, in order), but
described again when the queries change (the node republishes the latest frame) and for every
~/query request; describing runs no image model and never touches the tracks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping, Optional, Sequence, cast

import numpy as np
import torch

from ..engine import QuerySet, Regions, Segmentation, TextRegionEngine
from ..engine.region_prompts import RegionPrompts
from ..engine.results import Detection
from ..objects import TrackedObjects
from ..outputs.overlay import draw_overlay
from ..settings_rows import TableSettings
from ..spatial import Boxes3D, DepthSettings, RigidTransform
from .depth_source import DepthSource, DepthView, No3D, OutputTransform
from .region_3d import detection_boxes, distances_m, to_output_frame, measure
from .products import work_for
from .prompt_policy import KeyframeSettings, PreviousRegions, PromptPolicy, region_settings_key


@dataclass(frozen=True)
class PipelineSettings(TableSettings):
    """The pipeline's own parameters (the engine's are EngineConfig, the tracks' TrackedObjects'): its
    own rows (ROWS) and the depth and keyframe settings, each checked by settings_rows.py."""

    depth: DepthSettings = field(default_factory=DepthSettings)
    depth_sync_tolerance_s: float = 0.05
    tf_timeout_s: float = 0.05
    keyframes: KeyframeSettings = field(default_factory=KeyframeSettings)  # region_prompts tracks (prompt_policy.py)

    ROWS = {"depth_sync_tolerance_s": "depth_sync_tolerance_s", "tf_timeout_s": "tf_timeout_s"}
    PARAMETERS = frozenset(ROWS.values()) | DepthSettings.parameters() | KeyframeSettings.parameters()

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any]) -> "PipelineSettings":
        """From the node's parameter values; ValueError naming them on a bad value or a rule between
        them (min_depth_m < max_depth_m). Parameters not given keep their defaults."""
        return cls(depth=DepthSettings.from_parameters(values), keyframes=KeyframeSettings.from_parameters(values),
                   **cls.row_arguments(values))


@dataclass
class FrameInput:
    """One colour frame (HxWx3 uint8 RGB) and where its 3D can come from: `depth` and `output_transform`
    are asked only after the masks exist (a depth image or transform arriving meanwhile still serves)."""

    rgb: np.ndarray
    stamp_ns: int = 0
    frame_id: str = ""
    depth: Optional[DepthSource] = None  # None: no 3D
    output_transform: Optional[OutputTransform] = None  # None: the optical frame is the output frame


@dataclass
class ObservedFrame:
    """A frame after observe(): its regions, tracks and 3D; what describe() and ~/query work from."""

    rgb: np.ndarray
    stamp_ns: int
    frame_id: str
    regions: Regions
    track_ids: Optional[np.ndarray]  # [R] uint32, None without tracking
    previous: Optional[PreviousRegions] = None  # what the next frame's region prompts are built from
    view: Optional[DepthView] = None  # the paired depth (kept: detections' own parts are measured on it)
    transform: Optional[RigidTransform] = None  # into the output frame; None = the optical frame
    camera_3d: Optional[Boxes3D] = None  # per region, optical frame; None = no 3D for this frame
    output_3d: Optional[Boxes3D] = None  # per region, output frame; None = no 3D published
    problem_3d: Optional[No3D] = None  # why camera_3d or output_3d is None (with depth asked for)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class FrameResult:
    """Everything one frame gives for one query set (unwanted parts are None / empty)."""

    frame: ObservedFrame
    queries: QuerySet
    label_values: Optional[tuple[int, ...]]  # pixel value per query in the label image; None = class index
    segmentation: Optional[Segmentation]
    detections: list[Detection]
    detections_camera_3d: Optional[Boxes3D]  # rows follow detections, optical frame
    detections_output_3d: Optional[Boxes3D]  # rows follow detections, output frame (None: not published)
    overlay: Optional[np.ndarray]  # HxWx3 uint8
    seconds: dict[str, float]  # stage -> seconds (the frame's own stages and this description's)

    @property
    def regions(self) -> Regions:
        return self.frame.regions

    @property
    def track_ids(self) -> Optional[np.ndarray]:
        return self.frame.track_ids

    def distances_m(self) -> Optional[np.ndarray]:
        """[D] each detection's distance from the camera (NaN without 3D); None when no 3D is published."""
        if self.detections_camera_3d is None or self.detections_output_3d is None:
            return None
        return distances_m(self.detections_camera_3d)


class FramePipeline:
    """The engine plus the 3D, the tracks and the memory, for a node, a bag or a folder of images.

    Thread-safety: observe() from one thread (the frame worker); describe() from any thread, also
    concurrently with observe() (it reads an ObservedFrame and the engine's text cache only).
    """

    def __init__(self, engine: TextRegionEngine, settings: PipelineSettings,
                 objects: Optional[TrackedObjects] = None) -> None:
        self.engine = engine
        self.settings = settings
        self.objects = objects  # None: no tracks and no memory (independent images)
        self.prompts = PromptPolicy(settings.keyframes)
        # The last observed frame's regions, for region_prompts tracks. A frame loop that finishes frames
        # on another thread hands them along instead (observe's `previous`).
        self.previous: Optional[PreviousRegions] = None

    def configure(self, settings: PipelineSettings) -> None:
        """New settings between frames (the caller rebuilds them only when a parameter changed)."""
        self.settings = settings
        self.prompts.settings = settings.keyframes

    def observe(self, frame: FrameInput, previous: Optional[PreviousRegions] = None) -> ObservedFrame:
        """Regions, 3D and track ids of one frame; the memory learns the tracks' sightings.

        `previous`: the previous processed frame's ObservedFrame.previous (default: the last one this
        pipeline observed). Raises the engine's ImageError for pixels it refuses (empty, too large):
        bad input, not a failure.
        """
        started = time.perf_counter()
        previous = self.previous if previous is None else previous
        config = self.engine.config
        key = region_settings_key(config)
        prompts = None
        if config.region_prompts == "tracks":
            if self.objects is None:  # independent images: no tracks to prompt from
                prompts = RegionPrompts.keyframe("independent images")
            else:
                prompts = self.prompts.prompts(previous, frame.stamp_ns, tuple(frame.rgb.shape[:2]), key,
                                               config.max_prompts)
        regions = self.engine.regions(frame.rgb, prompts)
        observed = ObservedFrame(frame.rgb, frame.stamp_ns, frame.frame_id, regions, None,
                                 seconds=dict(regions.timings))
        if frame.depth is not None:
            spatial_started = time.perf_counter()
            self._locate(observed, frame)
            observed.seconds["spatial"] = time.perf_counter() - spatial_started
        if self.objects is not None:
            observed.track_ids = self.objects.observe(frame.stamp_ns, frame.frame_id, regions, observed.output_3d)
        keyframe = regions.prompts is None or regions.prompts.keyframe
        track_ids = observed.track_ids if observed.track_ids is not None else np.zeros(len(regions), np.uint32)
        image_size = cast(tuple[int, int], tuple(regions.image_size))
        observed.previous = PreviousRegions(frame.stamp_ns, image_size, key, keyframe, regions.prompt_basis,
                                            np.asarray(track_ids))
        self.previous = observed.previous
        observed.seconds["observe"] = time.perf_counter() - started
        return observed

    def _locate(self, observed: ObservedFrame, frame: FrameInput) -> None:
        settings = self.settings
        assert frame.depth is not None  # called for frames with a depth source only
        try:
            view = frame.depth.depth_for(frame.stamp_ns, frame.frame_id, settings.depth_sync_tolerance_s)
            # The soft masks hold clamped SAM2 logits: a pixel is in the region where the logit is > 0
            # (mask probability > 0.5), the rule of the region's own area and box.
            located = measure(observed.regions.masks > 0, view, settings.depth)
            observed.camera_3d = to_output_frame(located, None, frame.frame_id, frame.stamp_ns)
        except No3D as reason:
            observed.problem_3d = reason
            return
        observed.view = view
        if frame.output_transform is None:
            observed.output_3d = observed.camera_3d
            return
        try:  # optical-frame results are never published as output-frame ones
            observed.transform = frame.output_transform.transform_at(frame.frame_id, frame.stamp_ns,
                                                                 settings.tf_timeout_s)
            observed.output_3d = to_output_frame(located, observed.transform, frame.frame_id, frame.stamp_ns)
        except No3D as reason:
            observed.problem_3d = reason

    def describe(self, frame: ObservedFrame, queries: QuerySet, wanted: Collection[str],
                 label_values: Optional[Sequence[int]] = None, min_score: float = 0.0) -> FrameResult:
        """The wanted products of an observed frame for these queries; only the work they need runs.

        Without queries there is nothing to segment: the overlay is the plain image and there are no
        detections. `min_score` drops weaker detections (~/query's threshold).
        """
        work = work_for(wanted)
        seconds = dict(frame.seconds)
        values = tuple(label_values) if label_values is not None else None
        result = FrameResult(frame, queries, values, None, [], None, None, None, seconds)
        if not len(queries):
            result.overlay = frame.rgb if work.overlay else None
            return result
        if not work.segmentation:
            return result
        result.segmentation = self.engine.segment(frame.regions, queries)
        seconds.update(result.segmentation.timings)
        if work.grounding:
            started = time.perf_counter()
            result.detections = self.engine.ground(frame.regions, queries, segmentation=result.segmentation,
                                                   min_score=min_score)
            seconds["grounding"] = time.perf_counter() - started
        if work.detection_3d and frame.camera_3d is not None:
            started = time.perf_counter()
            self._detections_3d(result)
            seconds["detections_3d"] = time.perf_counter() - started
        if work.overlay:
            started = time.perf_counter()
            result.overlay = self._overlay(result)
            seconds["overlay"] = time.perf_counter() - started
        return result

    def _detections_3d(self, result: FrameResult) -> None:
        frame, detections = result.frame, result.detections
        parts = [i for i, d in enumerate(detections) if d.mask_work is not None]
        part_masks = (torch.from_numpy(np.stack([d.mask_work for d in detections if d.mask_work is not None]))
                      .to(frame.regions.masks.device, non_blocking=True) if parts else None)  # no host wait
        depth = self.settings.depth
        assert frame.camera_3d is not None  # called for frames with regions in 3D only
        try:
            result.detections_camera_3d = detection_boxes(detections, frame.camera_3d, part_masks, parts, frame.view,
                                                          depth, None)
            if frame.output_3d is not None:
                result.detections_output_3d = (
                    result.detections_camera_3d if frame.output_3d is frame.camera_3d else
                    detection_boxes(detections, frame.output_3d, part_masks, parts, frame.view, depth,
                                    frame.transform))
        except No3D:  # the frame's depth served its regions, so it serves their parts: kept as no 3D
            result.detections_camera_3d = result.detections_output_3d = None

    def _overlay(self, result: FrameResult) -> np.ndarray:
        distances = result.distances_m()
        by_region = None
        if distances is not None:
            by_region = {d.region_index: float(m) for d, m in zip(result.detections, distances) if np.isfinite(m)}
        segmentation = result.segmentation  # the label map on the device where it lives there
        assert segmentation is not None  # the overlay is drawn on the segmentation
        labels = segmentation.label_map if segmentation.label_map is not None else segmentation.labels
        return draw_overlay(result.frame.rgb, labels, result.queries.classes, result.detections,
                            distances=by_region, track_ids=result.frame.track_ids)
