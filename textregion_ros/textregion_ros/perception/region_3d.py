"""A frame's 3D, per region and per detection, in the optical frame and in the output frame.

Two frames, one type (spatial.Boxes3D): the optical frame is where distances from the camera and
RegionTokens.centres_3d are measured; the output frame (target_frame, or the optical frame without one)
is where everything a robot acts on is published and where tracks associate by 3D distance. A frame
whose transform is unknown keeps its optical 3D (tokens still carry centres) and publishes none.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from ..engine.results import Detection
from ..spatial import Boxes3D, DepthSettings, Located, RigidTransform, locate, move_located
from .depth_source import DepthView, No3D


def measure(masks: torch.Tensor, view: DepthView, settings: DepthSettings) -> Located:
    """The 3D of masks [N,h,w] (bool) from the paired depth; No3D when the depth cannot serve them."""
    try:
        return locate(masks, view.depth_m, view.intrinsics, settings)
    except ValueError as error:
        raise No3D(f"unusable depth image: {error}", f"depth-{view.encoding}") from None


def to_output_frame(located: Located, transform: Optional[RigidTransform], optical_frame: str,
                    stamp_ns: int) -> Boxes3D:
    """Boxes3D of `located` in the transform's frame (the optical frame without one); No3D when any
    valid row is not finite (a NaN pose is no place a robot can go to)."""
    boxes = move_located(located, transform, optical_frame, stamp_ns)
    problem = boxes.nonfinite_problem()
    if problem:
        raise No3D(problem, "nonfinite")
    return boxes


def detection_boxes(detections: Sequence[Detection], regions_3d: Boxes3D, part_masks: Optional[torch.Tensor],
                    parts: Sequence[int], view: Optional[DepthView], settings: DepthSettings,
                    transform: Optional[RigidTransform]) -> Boxes3D:
    """Rows following `detections`, in the frame of `regions_3d` (the optical frame with transform None).

    A detection whose mask is its region's takes its region's row; one whose mask is a connected part
    of the region (grounding_mode best: the largest component) is measured on that part: the rows
    `parts` (indices into detections) from `part_masks` [P,h,w], all located in one call.
    """
    rows = regions_3d.take([d.region_index for d in detections])
    if not len(parts) or view is None or part_masks is None:
        return rows
    located = measure(part_masks, view, settings)
    moved = move_located(located, transform, regions_3d.frame_id if transform is None else "", regions_3d.stamp_ns)
    index = np.asarray(parts, dtype=np.int64)
    rows.centres[index], rows.box_centres[index] = moved.centres, moved.box_centres
    rows.sizes[index], rows.orientations[index] = moved.sizes, moved.orientations
    rows.valid[index] = moved.valid & moved.finite_rows()
    return rows


def distances_m(camera_rows: Boxes3D) -> np.ndarray:
    """[N] distance of each row's centre from the camera (rows in the optical frame); NaN without 3D."""
    distance = np.linalg.norm(camera_rows.centres, axis=1)
    return np.where(camera_rows.valid, distance, np.nan)
