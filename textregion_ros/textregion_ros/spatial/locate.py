"""locate(): the 3D of every mask of a frame from a registered depth image, in one vectorised pass.

A region's 3D is read from the depth pixels under its mask: the pixels where mask > 0.5 and the
depth is a valid reading within [min_depth_m, max_depth_m] are back-projected through the pinhole
intrinsics into the camera's optical frame (camera.py has the pixel conventions). Mask edges bleed
onto the background, so points whose depth is more than `outlier_k` scaled MADs (1.4826 * MAD,
with an absolute floor) from the mask's median depth are dropped. From the inliers: the centre is
the per-axis median (robust to what is left of the bleed) and the box the per-axis 2nd-98th
percentile extents (robust to stray pixels, at the price of a box about 4 % smaller than a
uniform face).

No loop over masks or pixels: the selected (mask, pixel) pairs come from one nonzero() in
mask-major order, and every per-mask statistic is a segmented one (segmented.py). The depths are
sorted once per mask (one int64 sort for all masks); the median is read off that sort, the MAD
needs no second sort (segment_median_deviation), and because the inlier test is an interval of
depth, each mask's inliers are a contiguous run of its sorted depths, found with searchsorted on
the same keys; that run also gives the inliers' depth statistics. x and y are computed for the
inliers only and share one more sort.

Precision: depth and the back-projected points are float32 (1 um at 10 m); the statistics are
interpolated in float64 and returned as float64.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

from ..engine.sync_audit import budgeted_sync
from ..settings_rows import TableSettings
from .camera import Intrinsics, resample_nearest
from .segmented import segment_keys, segment_median_deviation, segment_quantiles, segment_sort, segment_starts

MAD_TO_SIGMA = 1.4826  # scaled MAD: a consistent estimator of a normal distribution's sigma
BOX_QUANTILES = (0.02, 0.98)  # box extents: robust to the few stray pixels a mask always has
MASK_THRESHOLD = 0.5  # a pixel is in a soft mask where mask > MASK_THRESHOLD

MaskInput = Union[torch.Tensor, np.ndarray]


# -- settings and results ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DepthSettings(TableSettings):
    """What counts as a point of a mask.

    Each parameter-backed field is a row of the table (params.py; ROWS names it): its type, range
    and default are the row's (settings_rows.py checks them, and the rule min_depth_m < max_depth_m),
    so the node, the CLI and a library caller accept the same values; beyond the table,
    outlier_k = inf turns outlier rejection off (for tests and benchmarks; a parameter cannot be
    inf). deviation_floor_m (no parameter) keeps a flat, noise-free face (MAD 0) from rejecting its
    own sub-centimetre ripples.
    """

    min_depth_m: float = 0.1
    max_depth_m: float = 10.0
    outlier_k: float = 3.0
    min_points: int = 20
    deviation_floor_m: float = 0.02

    ROWS = {"min_depth_m": "min_depth_m", "max_depth_m": "max_depth_m", "outlier_k": "depth_outlier_k",
            "min_points": "min_depth_points"}
    BEYOND_TABLE = {"outlier_k": (math.inf,)}  # no rejection

    def __post_init__(self) -> None:
        super().__post_init__()
        if not math.isfinite(self.deviation_floor_m) or self.deviation_floor_m < 0.0:
            raise ValueError(f"deviation_floor_m must be finite and >= 0, got {self.deviation_floor_m}")


# ROS parameter name -> DepthSettings field (deviation_floor_m has no parameter).
PARAMETER_FIELDS = {parameter: name for name, parameter in DepthSettings.ROWS.items()}


@dataclass
class Located:
    """The 3D of N masks in the camera's optical frame (metres). Row i belongs to mask i.

    Rows of masks without 3D (valid False) are NaN. `candidates` and `inliers` say why a row is
    invalid: candidates 0 = no valid depth under the mask; inliers < min_points with candidates
    >= min_points = the depth under the mask is too scattered.
    """

    centres: np.ndarray  # [N,3] float64 per-axis median of the inliers
    box_min: np.ndarray  # [N,3] float64 per-axis 2nd percentile (axis-aligned in the optical frame)
    box_max: np.ndarray  # [N,3] float64 per-axis 98th percentile
    sizes: np.ndarray  # [N,3] float64 box_max - box_min
    valid: np.ndarray  # [N] bool: inliers >= min_points
    inliers: np.ndarray  # [N] int64 points kept after outlier rejection
    candidates: np.ndarray  # [N] int64 pixels with mask > 0.5 and a valid depth in range

    def __len__(self) -> int:
        return int(self.valid.shape[0])

    @property
    def box_centres(self) -> np.ndarray:
        """[N,3] midpoints of the boxes: the centre a BoundingBox3D needs to cover the extents
        (the median centre is where the object's mass is, not the middle of its box)."""
        return (self.box_min + self.box_max) / 2.0

    @classmethod
    def empty(cls, count: int = 0) -> "Located":
        """N rows without 3D."""
        nan = np.full((count, 3), np.nan)
        zeros = np.zeros(count, dtype=np.int64)
        return cls(nan, nan.copy(), nan.copy(), nan.copy(), np.zeros(count, dtype=bool), zeros, zeros.copy())


def _as_masks(masks: MaskInput) -> torch.Tensor:
    masks = torch.as_tensor(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be [N, H, W], got shape {tuple(masks.shape)}")
    return masks


def _depth_on(depth_m: Union[np.ndarray, torch.Tensor], device: torch.device) -> torch.Tensor:
    """The depth image on `device`, contiguous float32; a host array goes up without a host wait (a
    blocking upload would make the host wait for the frame's queued kernels)."""
    if isinstance(depth_m, np.ndarray):  # numpy views keep strides: made contiguous first
        return torch.from_numpy(np.ascontiguousarray(depth_m, dtype=np.float32)).to(device, non_blocking=True)
    return torch.as_tensor(depth_m, device=device).to(torch.float32).contiguous()


def _check_same_view(what: str, size: tuple[int, int], mask_size: tuple[int, int]) -> None:
    """Refuse a depth image or intrinsics of another aspect ratio than the masks (to one pixel):
    rescaling cannot make them the same view, so it is another camera or a cropped image."""
    (w, h), (mask_w, mask_h) = size, mask_size
    if abs(h * mask_w / w - mask_h) > 1.0 and abs(w * mask_h / h - mask_w) > 1.0:
        raise ValueError(f"{what} is {w}x{h}, not the view of the {mask_w}x{mask_h} masks "
                         f"(another aspect ratio): depth and camera_info must be registered to the colour image")


# -- locate -----------------------------------------------------------------------------------------
def locate(masks: MaskInput, depth_m: Union[np.ndarray, torch.Tensor], intrinsics: Intrinsics,
           settings: DepthSettings = DepthSettings()) -> Located:
    """The 3D of each of N masks [N, H, W] (soft, thresholded at > 0.5, or bool) from a depth image
    in metres (depth_in_metres()) registered to the masks' image, in the optical frame.

    The depth may be at any resolution (nearest-resampled to H x W) and the intrinsics at any
    resolution (scaled to W x H); both describe the same field of view as the masks. Runs on the
    masks' device.
    """
    masks = _as_masks(masks)
    count, height, width = (int(s) for s in masks.shape)
    if count == 0:
        return Located.empty(0)
    device = masks.device
    depth = _depth_on(depth_m, device)
    if depth.ndim != 2:
        raise ValueError(f"depth must be [H, W], got shape {tuple(depth.shape)}")
    _check_same_view("depth image", (int(depth.shape[1]), int(depth.shape[0])), (width, height))
    _check_same_view("intrinsics", (intrinsics.width, intrinsics.height), (width, height))
    if tuple(depth.shape) != (height, width):
        depth = resample_nearest(depth, height, width)
    camera = intrinsics.scaled_to(width, height)

    usable = (depth >= settings.min_depth_m) & (depth <= settings.max_depth_m)  # NaN compares False
    if masks.dtype == torch.bool:
        selected = masks.clone(memory_format=torch.contiguous_format)
    else:
        selected = (masks > MASK_THRESHOLD).contiguous()  # a permuted input gives a permuted result
    selected &= usable
    candidates = selected.view(count, height * width).sum(1)  # per mask (bincount would sync for its length)
    with budgeted_sync(device):  # the stage's first sync: the selected pixels (a data-dependent count)
        mask_index, pixel = selected.view(count, height * width).nonzero(as_tuple=True)  # mask-major
    del selected
    flat_depth = depth.view(-1)
    starts = segment_starts(candidates)
    # Each mask's points sorted by depth. The masks stay where they were (the sort is mask-major
    # and mask_index already is), so mask_index still labels the sorted points.
    z_keys, order = torch.sort(segment_keys(flat_depth[pixel], mask_index))
    pixel = pixel[order]
    del order
    sorted_z = flat_depth[pixel]
    levels = (BOX_QUANTILES[0], 0.5, BOX_QUANTILES[1])

    if math.isinf(settings.outlier_k):
        first, inliers = starts, candidates
        kept_mask, kept_pixel, kept_z = mask_index, pixel, sorted_z
    else:
        # Outlier rejection keeps an interval of depth, [median - allowed, median + allowed] (float32
        # bounds), so each mask's inliers are a run sorted_z[first:after], found on the sorted keys.
        median = segment_quantiles(sorted_z, starts, candidates, (0.5,))[:, 0]
        mad = segment_median_deviation(sorted_z, starts, candidates, median)
        allowed = torch.clamp(settings.outlier_k * MAD_TO_SIGMA * mad, min=settings.deviation_floor_m)
        has_points = candidates > 0  # the others' NaN bounds would make meaningless keys
        low = torch.where(has_points, median - allowed, torch.zeros_like(median)).to(torch.float32)
        high = torch.where(has_points, median + allowed, torch.zeros_like(median)).to(torch.float32)
        segments = torch.arange(count, device=device)
        first = torch.searchsorted(z_keys, segment_keys(low, segments), side="left")
        after = torch.searchsorted(z_keys, segment_keys(high, segments), side="right")
        inliers = after - first
        # The runs laid end to end: the k-th inlier of mask m sits at first[m] + k in sorted order.
        with budgeted_sync(device):  # the second: the inlier total sizes the gathers below
            total = int(inliers.sum())
        shift = torch.repeat_interleave(first - segment_starts(inliers), inliers, output_size=total)
        kept = torch.arange(total, device=device).add_(shift)
        kept_mask = torch.repeat_interleave(segments, inliers, output_size=total)
        kept_pixel, kept_z = pixel[kept], sorted_z[kept]
        del kept, shift
    del z_keys, mask_index, pixel

    z_stats = segment_quantiles(sorted_z, first, inliers, levels)  # [N, 3 levels]
    # x and y in one buffer with segments axis * N + mask, so one sort serves both axes.
    kept_count = int(kept_z.shape[0])
    xy = torch.empty(2 * kept_count, device=device)
    columns = (kept_pixel % width).to(torch.float32)
    rows = torch.div(kept_pixel, width, rounding_mode="floor").to(torch.float32)
    torch.mul(columns.sub_(camera.cx), kept_z, out=xy[:kept_count]).div_(camera.fx)
    torch.mul(rows.sub_(camera.cy), kept_z, out=xy[kept_count:]).div_(camera.fy)
    del columns, rows
    sorted_xy, _ = segment_sort(xy, torch.cat((kept_mask, kept_mask + count)))
    xy_counts = torch.cat((inliers, inliers))
    xy_stats = segment_quantiles(sorted_xy, segment_starts(xy_counts), xy_counts, levels).view(2, count, 3)
    stats = torch.stack((xy_stats[0], xy_stats[1], z_stats), dim=1)  # [N, axis, level] float64
    # the third: every result in one copy (float64 holds the counts exactly)
    packed = torch.cat([stats.reshape(count, 9), inliers[:, None].to(torch.float64),
                        candidates[:, None].to(torch.float64)], 1)
    with budgeted_sync(device):
        packed = packed.cpu().numpy()
    stats = packed[:, :9].reshape(count, 3, 3)
    inliers_np = packed[:, 9].astype(np.int64)
    valid = inliers_np >= settings.min_points
    stats[~valid] = np.nan
    box_min, centres, box_max = stats[:, :, 0].copy(), stats[:, :, 1].copy(), stats[:, :, 2].copy()
    return Located(centres=centres, box_min=box_min, box_max=box_max, sizes=box_max - box_min, valid=valid,
                   inliers=inliers_np, candidates=packed[:, 10].astype(np.int64))
