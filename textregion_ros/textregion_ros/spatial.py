"""3D of regions from a registered depth image (DESIGN.md 1.8 "3D"), ROS-free (numpy + torch only).

A region's 3D is read from the depth pixels under its mask: the pixels where mask > 0.5 and the
depth is a valid reading within [min_depth_m, max_depth_m] are back-projected through the pinhole
intrinsics into the camera's optical frame (x right, y down, z forward). Mask edges bleed onto the
background, so points whose depth is more than `outlier_k` scaled MADs (1.4826 * MAD, with an
absolute floor) from the mask's median depth are dropped. From the inliers: the centre is the
per-axis median (robust to what is left of the bleed) and the box the per-axis 2nd-98th percentile
extents (robust to stray pixels, at the price of a box about 4 % smaller than a uniform face).

Conventions, exact:

* Pixels: OpenCV's. Pixel (u, v) = (column, row) has its centre at the integer coordinates (u, v)
  and covers [u - 0.5, u + 0.5] x [v - 0.5, v + 0.5]; the image spans [-0.5, W - 0.5].
  Back-projection: x = (u - cx) * z / fx, y = (v - cy) * z / fy.
* Rescaling (a depth image at another resolution than the masks): the image edges stay aligned,
  so a coordinate u at width W maps to (u + 0.5) * W' / W - 0.5 at width W'. Hence
  fx' = fx * sx and cx' = (cx + 0.5) * sx - 0.5 with sx = W' / W (same for y), and the nearest
  resample takes, for new pixel i, the old pixel whose square holds the new centre:
  floor((i + 0.5) * W / W'), computed in integers as ((2i + 1) * W) // (2 W') (a centre exactly on
  a border goes to the higher pixel). This is torch's 'nearest-exact' and the alignment of the
  engine's bilinear mask upsampling (align_corners=False) and cv2 resizes.
* Quantiles: numpy's default 'linear' method (type 7): for n sorted values v_0..v_{n-1} and level
  q, h = (n - 1) q, value = lerp(v_floor(h), v_floor(h)+1, h - floor(h)), with numpy's own lerp
  (a + (b - a) t for t < 0.5, b - (b - a)(1 - t) otherwise). The median is the 0.5 quantile.
* Precision: depth and the back-projected points are float32 (1 um at 10 m); the statistics are
  interpolated in float64 and returned as float64.

All masks of a frame are done in one vectorised pass (no loop over masks or pixels): the selected
(mask, pixel) pairs come from one nonzero() in mask-major order, and every per-mask median and
quantile is a *segmented* statistic: the values are sorted within their mask by ONE int64 sort of
the key (segment << 32) | order-preserving bits of the float32 value, which is exact (no
rounding of values into a combined float key) and sorts segments apart; each segment's start is
the cumulative count of the segments before it, and a quantile is two gathers at start + floor(h)
and start + floor(h) + 1. The MAD needs no second sort: around the median, a mask's sorted depths
give its deviations as two ascending sequences, and their median is a k-th-of-two-sorted-arrays
bisection run for all masks at once (log2(points) steps on [N] tensors). The inlier test is an
interval of depth, so each mask's inliers are a contiguous run of its sorted depths, found with
searchsorted on the same keys: the depth sort is done once and serves the median, the MAD, the
rejection and the inliers' depth statistics. x and y of the inliers share one more sort.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import torch

MAD_TO_SIGMA = 1.4826  # scaled MAD: a consistent estimator of a normal distribution's sigma
BOX_QUANTILES = (0.02, 0.98)  # box extents: robust to the few stray pixels a mask always has
MASK_THRESHOLD = 0.5  # a pixel is in a soft mask where mask > MASK_THRESHOLD
MILLIMETRE_ENCODINGS = ("16UC1", "mono16")  # REP-118: uint16 millimetres, 0 = no reading
METRE_ENCODINGS = ("32FC1",)  # REP-118: float32 metres, NaN / +-inf (and 0) = no reading
# A principal point more than this fraction of the image size outside the image is taken for a
# broken calibration (wrong resolution, K of another camera), not for an off-centre lens.
PRINCIPAL_POINT_MARGIN = 0.5
QUATERNION_NORM_TOLERANCE = 1e-3

_SEGMENT_SHIFT = 32
_SIGN_FLIP = 0x7FFFFFFF
_BIAS = 1 << 31

MaskInput = Union[torch.Tensor, np.ndarray]


# -- intrinsics -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an image of `width` x `height` pixels (OpenCV pixel-centre convention).

    The size is part of the intrinsics because fx, cx, ... only mean something at one resolution:
    locate() scales them to the masks' resolution, whatever resolution they were given at.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if int(self.width) != self.width or int(self.height) != self.height or self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive integers, got {self.width}x{self.height}")
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0.0:
                raise ValueError(f"focal length {name} must be finite and positive, got {value}")
        for name, value, size in (("cx", self.cx, self.width), ("cy", self.cy, self.height)):
            low, high = -0.5 - PRINCIPAL_POINT_MARGIN * size, size - 0.5 + PRINCIPAL_POINT_MARGIN * size
            if not math.isfinite(value) or not low <= value <= high:
                raise ValueError(
                    f"principal point {name}={value} is far outside the {self.width}x{self.height} image "
                    f"(allowed {low:g}..{high:g}): K of another resolution or camera?")

    @classmethod
    def from_k(cls, k: Sequence[float], width: int, height: int) -> "Intrinsics":
        """From a row-major 3x3 K (sensor_msgs/CameraInfo.k) of an image of width x height.

        A zero K is how CameraInfo says "uncalibrated"; skew and a bottom row other than
        (0, 0, 1) are refused because the back-projection assumes neither.
        """
        values = [float(v) for v in k]
        if len(values) != 9:
            raise ValueError(f"K must have 9 elements (row-major 3x3), got {len(values)}")
        if all(v == 0.0 for v in values):
            raise ValueError("K is all zeros: the camera is uncalibrated (CameraInfo leaves K zero then)")
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"K has non-finite elements: {values}")
        if values[1] != 0.0:
            raise ValueError(f"K has skew {values[1]}: skewed pixels are not supported")
        if values[3] != 0.0 or values[6:] != [0.0, 0.0, 1.0]:
            raise ValueError(f"K is not a pinhole camera matrix (second row starts {values[3]}, "
                             f"third row {values[6:]}, expected 0 and [0, 0, 1])")
        return cls(fx=values[0], fy=values[4], cx=values[2], cy=values[5], width=int(width), height=int(height))

    def scaled_to(self, width: int, height: int) -> "Intrinsics":
        """The same camera at another resolution, image edges aligned (see the module docstring)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(fx=self.fx * sx, fy=self.fy * sy, cx=(self.cx + 0.5) * sx - 0.5,
                          cy=(self.cy + 0.5) * sy - 0.5, width=int(width), height=int(height))


# -- depth ------------------------------------------------------------------------------------------
def depth_in_metres(depth: np.ndarray, encoding: str) -> np.ndarray:
    """A REP-118 depth image as float32 metres, NaN where there is no reading (0, NaN, +-inf).

    16UC1 (and mono16, as some drivers label it) is millimetres; 32FC1 metres. Anything else is
    refused instead of guessed: a colour or disparity image read as depth gives confident nonsense.
    """
    if encoding not in MILLIMETRE_ENCODINGS + METRE_ENCODINGS:
        raise ValueError(f"unsupported depth encoding {encoding!r}: expected one of "
                         f"{', '.join(MILLIMETRE_ENCODINGS + METRE_ENCODINGS)} (REP-118)")
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth image must be 2-D (H, W), got shape {depth.shape}")
    if encoding in MILLIMETRE_ENCODINGS:
        if depth.dtype.kind != "u" or depth.dtype.itemsize != 2:
            raise ValueError(f"depth encoding {encoding!r} needs uint16 data, got {depth.dtype}")
        # float32 division is correctly rounded: the nearest float32 to mm / 1000, as a 32FC1 driver gives.
        metres = depth.astype(np.float32) / np.float32(1000.0)
        metres[depth == 0] = np.nan
        return metres
    if depth.dtype.kind != "f" or depth.dtype.itemsize != 4:
        raise ValueError(f"depth encoding {encoding!r} needs float32 data, got {depth.dtype}")
    metres = np.array(depth, dtype=np.float32, order="C")  # a copy in native byte order
    metres[~np.isfinite(metres) | (metres == 0.0)] = np.nan
    return metres


def nearest_indices(old: int, new: int, device: Union[torch.device, str, None] = None) -> torch.Tensor:
    """For each of `new` pixels along an axis, the nearest of `old` pixels, edges aligned.

    floor((i + 0.5) * old / new) in exact integer arithmetic (see the module docstring).
    """
    index = torch.arange(new, device=device, dtype=torch.int64)
    return ((2 * index + 1) * old) // (2 * new)


def resample_nearest(depth: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Depth [h, w] at [height, width], nearest neighbour: depths are never interpolated, since
    averaging across an object's edge invents points in mid-air between object and background."""
    old_h, old_w = depth.shape
    rows = nearest_indices(old_h, height, depth.device)
    cols = nearest_indices(old_w, width, depth.device)
    return depth[rows[:, None], cols[None, :]]


# -- settings and results ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DepthSettings:
    """What counts as a point of a mask.

    outlier_k = inf turns outlier rejection off. deviation_floor_m keeps a flat, noise-free face
    (MAD 0) from rejecting its own sub-centimetre ripples.
    """

    min_depth_m: float = 0.1
    max_depth_m: float = 10.0
    outlier_k: float = 3.0
    min_points: int = 20
    deviation_floor_m: float = 0.02

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_depth_m) and math.isfinite(self.max_depth_m)
                and 0.0 <= self.min_depth_m < self.max_depth_m):
            raise ValueError(f"need 0 <= min_depth_m < max_depth_m, both finite; got "
                             f"{self.min_depth_m}, {self.max_depth_m}")
        if math.isnan(self.outlier_k) or self.outlier_k <= 0.0:
            raise ValueError(f"outlier_k must be positive (inf = no rejection), got {self.outlier_k}")
        if int(self.min_points) != self.min_points or self.min_points < 1:
            raise ValueError(f"min_points must be an integer >= 1, got {self.min_points}")
        if not math.isfinite(self.deviation_floor_m) or self.deviation_floor_m < 0.0:
            raise ValueError(f"deviation_floor_m must be finite and >= 0, got {self.deviation_floor_m}")


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


# -- segmented statistics ---------------------------------------------------------------------------
def _ordered_bits(values: torch.Tensor) -> torch.Tensor:
    """float32 -> int64 in [0, 2^32) with the same order as the floats (NaN-free input).

    Non-negative floats already order like their bit patterns; negative ones order backwards,
    so their magnitude bits are flipped.
    """
    bits = values.contiguous().view(torch.int32)
    bits = bits ^ ((bits >> 31) & _SIGN_FLIP)  # arithmetic shift: all ones for negatives, else 0
    return bits.to(torch.int64).add_(_BIAS)


def _segment_keys(values: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """int64 keys ordering by (segment, value) exactly."""
    return _ordered_bits(values).add_(segments.to(torch.int64) << _SEGMENT_SHIFT)


def _segment_sort(values: torch.Tensor, segments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(values sorted by (segment, value), their sorted keys): one int64 sort for all segments."""
    keys, order = torch.sort(_segment_keys(values, segments))
    return values[order], keys


def _segment_starts(counts: torch.Tensor) -> torch.Tensor:
    """Where each segment starts in the segment-major order: the counts of the segments before it."""
    return torch.cumsum(counts, 0) - counts


def _segment_quantiles(sorted_values: torch.Tensor, starts: torch.Tensor, counts: torch.Tensor,
                       levels: Sequence[float]) -> torch.Tensor:
    """[S, Q] float64 'linear' quantiles (numpy's default) of each run sorted_values[start:start+count].

    Empty runs give NaN.
    """
    q = torch.tensor(levels, dtype=torch.float64, device=sorted_values.device)
    n = counts.to(torch.float64)[:, None]
    position = (n - 1.0) * q[None, :]
    lower = torch.floor(position)
    fraction = position - lower
    lower_index = lower.to(torch.int64).clamp_(min=0)
    upper_index = torch.minimum(lower_index + 1, (counts[:, None] - 1).clamp(min=0))
    last = max(int(sorted_values.shape[0]) - 1, 0)
    if sorted_values.shape[0] == 0:
        return torch.full(position.shape, float("nan"), dtype=torch.float64, device=sorted_values.device)
    a = sorted_values[(starts[:, None] + lower_index).clamp_(max=last)].to(torch.float64)
    b = sorted_values[(starts[:, None] + upper_index).clamp_(max=last)].to(torch.float64)
    difference = b - a
    value = torch.where(fraction >= 0.5, b - difference * (1.0 - fraction), a + difference * fraction)
    return torch.where(counts[:, None] > 0, value, torch.full_like(value, float("nan")))


def _segment_median_deviation(sorted_values: torch.Tensor, starts: torch.Tensor, counts: torch.Tensor,
                              median: torch.Tensor) -> torch.Tensor:
    """[S] float64 median of |v - median| over each run sorted_values[start:start+count] (the MAD),
    given the run's own median (the 0.5 'linear' quantile); NaN for empty runs. No sort needed.

    The median lies between the run's values floor(n/2) - 1 and floor(n/2), so the deviations are
    two ascending sequences: A_i = median - v[floor(n/2) - 1 - i] leftwards and
    B_j = v[floor(n/2) + j] - median rightwards. Their k-th smallest (k = (n - 1) // 2) is found
    for all runs at once by bisecting how many of the k + 1 smallest come from A (the classic
    k-th of two sorted arrays): bit_length(total) steps over S-element tensors instead of a sort
    of every deviation. The next smallest, for even n, is the smaller of the two next candidates.
    """
    device = sorted_values.device
    total = int(sorted_values.shape[0])
    if total == 0:
        return torch.full(counts.shape, float("nan"), dtype=torch.float64, device=device)
    split = counts // 2
    left, right = split, counts - split  # lengths of A and B
    k = torch.clamp((counts - 1) // 2, min=0)
    last = total - 1

    def from_left(i: torch.Tensor) -> torch.Tensor:
        return median - sorted_values[(starts + split - 1 - i).clamp_(0, last)].to(torch.float64)

    def from_right(j: torch.Tensor) -> torch.Tensor:
        return sorted_values[(starts + split + j).clamp_(0, last)].to(torch.float64) - median

    low = torch.clamp(k + 1 - right, min=0)  # fewest of the k + 1 smallest that can come from A
    high = torch.minimum(k + 1, left)  # most that can
    for _ in range(total.bit_length() + 1):  # bisection steps: log2 of the longest run, not a loop over data
        active = low < high
        middle = torch.div(low + high, 2, rounding_mode="floor")
        take_more = active & (from_right(k - middle) > from_left(middle))  # B's last taken > A's first left
        low = torch.where(take_more, middle + 1, low)
        high = torch.where(active & ~take_more, middle, high)
    taken_left, taken_right = low, k + 1 - low
    inf = torch.tensor(math.inf, dtype=torch.float64, device=device)
    kth = torch.maximum(torch.where(taken_left > 0, from_left(taken_left - 1), -inf),
                        torch.where(taken_right > 0, from_right(taken_right - 1), -inf))
    following = torch.minimum(torch.where(taken_left < left, from_left(taken_left), inf),
                              torch.where(taken_right < right, from_right(taken_right), inf))
    mad = torch.where(counts % 2 == 0, following - (following - kth) * 0.5, kth)  # numpy's lerp at t = 0.5
    return torch.where(counts > 0, mad, torch.full_like(mad, float("nan")))


def _as_masks(masks: MaskInput) -> torch.Tensor:
    masks = torch.as_tensor(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be [N, H, W], got shape {tuple(masks.shape)}")
    return masks


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
    depth = torch.as_tensor(depth_m, device=device).to(torch.float32).contiguous()  # numpy views keep strides
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
    mask_index, pixel = selected.view(count, height * width).nonzero(as_tuple=True)  # mask-major
    del selected
    flat_depth = depth.view(-1)
    candidates = torch.bincount(mask_index, minlength=count)
    starts = _segment_starts(candidates)
    # Each mask's points sorted by depth. The masks stay where they were (the sort is mask-major
    # and mask_index already is), so mask_index still labels the sorted points.
    z_keys, order = torch.sort(_segment_keys(flat_depth[pixel], mask_index))
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
        median = _segment_quantiles(sorted_z, starts, candidates, (0.5,))[:, 0]
        mad = _segment_median_deviation(sorted_z, starts, candidates, median)
        allowed = torch.clamp(settings.outlier_k * MAD_TO_SIGMA * mad, min=settings.deviation_floor_m)
        has_points = candidates > 0  # the others' NaN bounds would make meaningless keys
        low = torch.where(has_points, median - allowed, torch.zeros_like(median)).to(torch.float32)
        high = torch.where(has_points, median + allowed, torch.zeros_like(median)).to(torch.float32)
        segments = torch.arange(count, device=device)
        first = torch.searchsorted(z_keys, _segment_keys(low, segments), side="left")
        after = torch.searchsorted(z_keys, _segment_keys(high, segments), side="right")
        inliers = after - first
        # The runs laid end to end: the k-th inlier of mask m sits at first[m] + k in sorted order.
        total = int(inliers.sum())
        shift = torch.repeat_interleave(first - _segment_starts(inliers), inliers, output_size=total)
        kept = torch.arange(total, device=device).add_(shift)
        kept_mask = torch.repeat_interleave(segments, inliers, output_size=total)
        kept_pixel, kept_z = pixel[kept], sorted_z[kept]
        del kept, shift
    del z_keys, mask_index, pixel

    z_stats = _segment_quantiles(sorted_z, first, inliers, levels)  # [N, 3 levels]
    # x and y in one buffer with segments axis * N + mask, so one sort serves both axes.
    kept_count = int(kept_z.shape[0])
    xy = torch.empty(2 * kept_count, device=device)
    columns = (kept_pixel % width).to(torch.float32)
    rows = torch.div(kept_pixel, width, rounding_mode="floor").to(torch.float32)
    torch.mul(columns.sub_(camera.cx), kept_z, out=xy[:kept_count]).div_(camera.fx)
    torch.mul(rows.sub_(camera.cy), kept_z, out=xy[kept_count:]).div_(camera.fy)
    del columns, rows
    sorted_xy, _ = _segment_sort(xy, torch.cat((kept_mask, kept_mask + count)))
    xy_counts = torch.cat((inliers, inliers))
    xy_stats = _segment_quantiles(sorted_xy, _segment_starts(xy_counts), xy_counts, levels).view(2, count, 3)
    stats = torch.stack((xy_stats[0], xy_stats[1], z_stats), dim=1).cpu().numpy()  # [N, axis, level]

    inliers_np = inliers.cpu().numpy().astype(np.int64)
    valid = inliers_np >= settings.min_points
    stats[~valid] = np.nan
    box_min, centres, box_max = stats[:, :, 0].copy(), stats[:, :, 1].copy(), stats[:, :, 2].copy()
    return Located(centres=centres, box_min=box_min, box_max=box_max, sizes=box_max - box_min, valid=valid,
                   inliers=inliers_np, candidates=candidates.cpu().numpy().astype(np.int64))


# -- rigid transform --------------------------------------------------------------------------------
@dataclass
class Boxes3D:
    """Located boxes in a target frame, shaped for vision_msgs/BoundingBox3D (center pose + size).

    The boxes are axis-aligned in the optical frame, so in the target frame each keeps its size
    and is turned by the transform's rotation: orientation = that quaternion for every box.
    """

    centres: np.ndarray  # [N,3] median centres (the object's position, e.g. a hypothesis pose)
    box_centres: np.ndarray  # [N,3] box midpoints (BoundingBox3D.center.position)
    sizes: np.ndarray  # [N,3] along the box's own axes (the optical frame's x, y, z)
    orientations: np.ndarray  # [N,4] x, y, z, w (BoundingBox3D.center.orientation)
    valid: np.ndarray  # [N] bool


def unit_quaternion(rotation_xyzw: Sequence[float]) -> np.ndarray:
    """The quaternion (x, y, z, w) renormalised; ValueError unless it is a unit quaternion
    (a tf2 rotation always is, to rounding; anything else is a bug upstream, e.g. all zeros)."""
    q = np.asarray(rotation_xyzw, dtype=np.float64)
    if q.shape != (4,) or not np.all(np.isfinite(q)):
        raise ValueError(f"rotation must be 4 finite numbers x, y, z, w; got {rotation_xyzw}")
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise ValueError(f"rotation is not a unit quaternion (norm {norm:.6g}); expected x, y, z, w")
    return q / norm


def rotation_matrix(rotation_xyzw: Sequence[float]) -> np.ndarray:
    """3x3 rotation matrix of a unit quaternion (x, y, z, w)."""
    x, y, z, w = unit_quaternion(rotation_xyzw)
    return np.array([
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w)],
        [2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w)],
        [2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y)],
    ])


def transform_boxes(located: Located, translation: Sequence[float] = (0.0, 0.0, 0.0),
                    rotation_xyzw: Sequence[float] = (0.0, 0.0, 0.0, 1.0)) -> Boxes3D:
    """Centres and boxes moved by a rigid transform: p' = R p + t.

    translation and rotation_xyzw are a geometry_msgs/TransformStamped's transform from the optical
    frame (child_frame_id) to the target frame (header.frame_id), i.e. what tf2's
    lookup_transform(target, optical, stamp) returns. The defaults give the optical frame itself.
    """
    t = np.asarray(translation, dtype=np.float64)
    if t.shape != (3,) or not np.all(np.isfinite(t)):
        raise ValueError(f"translation must be 3 finite numbers, got {translation}")
    q = unit_quaternion(rotation_xyzw)
    r = rotation_matrix(q)
    count = len(located)
    return Boxes3D(centres=located.centres @ r.T + t, box_centres=located.box_centres @ r.T + t,
                   sizes=located.sizes.copy(), orientations=np.tile(q, (count, 1)),
                   valid=located.valid.copy())
