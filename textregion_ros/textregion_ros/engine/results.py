"""What the engine returns: regions of a frame, a segmentation, and grounded detections."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Optional

import numpy as np
import torch

from ..spatial.camera import resample_nearest
from .region_prompts import PromptBasis, PromptRecord


@dataclass
class Regions:
    """The regions of one frame and their text-aligned tokens.

    Masks are soft (0..3, SAM2 logits clamped) at a working resolution: the image size, scaled
    down so the long side is at most 1024 px, so large frames never hold R full-size masks.
    `region_id_image` and Detection.mask upsample on demand.
    """

    tokens: torch.Tensor  # [R,D] L2-normalised region tokens
    masks: torch.Tensor  # [R,h,w] soft masks in [0,3] at working resolution
    boxes: torch.Tensor  # [R,4] x1,y1,x2,y2 in image pixels (x2,y2 exclusive), of mask > 0
    areas: torch.Tensor  # [R] mask > 0 area in image pixels
    predicted_iou: torch.Tensor  # [R] SAM2's predicted IoU (best of the fused group)
    stability: torch.Tensor  # [R] SAM2 stability score (best of the fused group)
    image_size: tuple[int, int]  # (H, W)
    model_id: str = ""
    logit_affine: Optional[tuple[float, float]] = None  # (scale, bias) for SigLIP2
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    prompts: Optional[PromptRecord] = None  # what SAM2's decoder was asked (engine/region_prompts.py)
    prompt_basis: Optional[PromptBasis] = None  # region_prompts tracks: what the next frame's prompts come from
    _region_ids: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def work_size(self) -> tuple[int, int]:
        return int(self.masks.shape[-2]), int(self.masks.shape[-1])

    def region_id_image(self) -> np.ndarray:
        """HxW uint16: k where region k-1 has the largest mask weight, 0 where no region covers.

        The argmax runs at working resolution and the ids are upsampled nearest-neighbour with
        centre-aligned pixels (spatial/camera.py's resample_nearest, as for depth; F.interpolate's
        'nearest' would shift them up-left by up to half a working pixel), so an id lands where its
        region's bilinear-upsampled mask is (identical at image size for images up to 1024 px;
        ids are never interpolated). Computed once per Regions.
        """
        if self._region_ids is None:
            height, width = self.image_size
            if len(self) == 0:
                self._region_ids = np.zeros((height, width), dtype=np.uint16)
            else:
                weight, index = self.masks.max(dim=0)
                ids = torch.where(weight > 0, index + 1, torch.zeros_like(index)).to(torch.int32)
                self._region_ids = resample_nearest(ids, height, width).cpu().numpy().astype(np.uint16)
        return self._region_ids


@dataclass
class Segmentation:
    """Per-pixel classes of one frame for one query set."""

    labels: np.ndarray  # HxW int32 class index, -1 = unlabeled
    confidence: np.ndarray  # HxW float32 probability of the label (0 where unlabeled by coverage)
    classes: tuple[str, ...]
    region_class_probability: torch.Tensor  # [R,Q] mean class probability over each region's pixels
    # [R] the same for the hidden background class (background_queries); None without one
    region_background_probability: Optional[torch.Tensor] = None
    timings: dict[str, float] = field(default_factory=dict)
    # HxW int32 labels left on the accelerator they were made on (None on the CPU: `labels` is the map):
    # the overlay tints and outlines there instead of on the host
    label_map: Optional[torch.Tensor] = field(default=None, repr=False)

    def region_labels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(best visible probability [R], class [R]) per region; class -1 where the background is
        more probable than every query (such a region is never a detection)."""
        best, label = self.region_class_probability.max(dim=1)
        if self.region_background_probability is not None:
            label = torch.where(self.region_background_probability >= best, torch.full_like(label, -1), label)
        return best, label


@dataclass
class Detection:
    """One grounded instance: a region that matches a query."""

    query: str  # the class (query text) it matches
    class_index: int
    score: float  # mean class probability over the region's pixels, in [0, 1]
    box: tuple[float, float, float, float]  # x1,y1,x2,y2 image pixels, x2,y2 exclusive
    region_index: int  # index into Regions; the region-id image holds region_index + 1
    image_size: tuple[int, int] = (0, 0)
    # The mask at working resolution: an explicit one (largest component, mode 'best') or the
    # region's own, read from the Regions masks only when `mask` is asked for (mode 'all').
    mask_work: Optional[np.ndarray] = field(default=None, repr=False)
    region_masks: Optional[torch.Tensor] = field(default=None, repr=False)

    @property
    def instance_id(self) -> int:
        """Value of this instance in the region-id image."""
        return self.region_index + 1

    @cached_property
    def mask(self) -> np.ndarray:
        """HxW bool mask at image size."""
        if self.mask_work is not None:
            work = torch.from_numpy(self.mask_work)
        else:
            assert self.region_masks is not None, "a detection carries its part mask or the regions' masks"
            work = self.region_masks[self.region_index] > 0
        if tuple(work.shape) != tuple(self.image_size):  # centre-aligned, as region_id_image
            work = resample_nearest(work, *self.image_size)
        return work.cpu().numpy()
