"""The camera side of 3D: pinhole intrinsics, REP-118 depth images, and resampling between resolutions.

Conventions, exact:

* Pixels: OpenCV's. Pixel (u, v) = (column, row) has its centre at the integer coordinates (u, v)
  and covers [u - 0.5, u + 0.5] x [v - 0.5, v + 0.5]; the image spans [-0.5, W - 0.5].
  Back-projection: x = (u - cx) * z / fx, y = (v - cy) * z / fy (optical frame: x right, y down,
  z forward).
* Rescaling (a depth image or K at another resolution than the masks): the image edges stay
  aligned, so a coordinate u at width W maps to (u + 0.5) * W' / W - 0.5 at width W'. Hence
  fx' = fx * sx and cx' = (cx + 0.5) * sx - 0.5 with sx = W' / W (same for y), and the nearest
  resample takes, for new pixel i, the old pixel whose square holds the new centre:
  floor((i + 0.5) * W / W'), computed in integers as ((2i + 1) * W) // (2 W') (a centre exactly on
  a border goes to the higher pixel). This is torch's 'nearest-exact' and the alignment of the
  engine's bilinear mask upsampling (align_corners=False) and of cv2's resizes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import torch

MILLIMETRE_ENCODINGS = ("16UC1", "mono16")  # REP-118: uint16 millimetres, 0 = no reading
METRE_ENCODINGS = ("32FC1",)  # REP-118: float32 metres, NaN / +-inf (and 0) = no reading
# A principal point more than this fraction of the image size outside the image is taken for a
# broken calibration (wrong resolution, K of another camera), not for an off-centre lens.
PRINCIPAL_POINT_MARGIN = 0.5
# The field of view a focal length implies across the image, 2 atan(size / (2 f)), must lie in this range
# (degrees). Below 0.1 degrees no robot camera looks (a 2000 mm telephoto on a full-frame sensor sees about
# 1 degree); above 170 degrees a pinhole K describes no lens (the pinhole view reaches 180 degrees only as
# f -> 0, and even a 220-degree fisheye's K implies about 125). Outside it the K is broken, and
# back-projection x = (u - cx) z / fx turns it into nonsense such as x = 1.9e31 m for fx = 1e-30.
FIELD_OF_VIEW_DEG = (0.1, 170.0)


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
        for name, value, size in (("fx", self.fx, self.width), ("fy", self.fy, self.height)):
            fov = math.degrees(2.0 * math.atan(size / (2.0 * value)))
            low, high = FIELD_OF_VIEW_DEG
            if not low <= fov <= high:
                raise ValueError(
                    f"focal length {name}={value:g} px implies a {fov:.3g} degree field of view across the "
                    f"{size} px image, outside the physical {low:g}..{high:g} degrees: K of another camera "
                    f"or resolution?")
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
    averaging across an object's edge invents points in mid-air between object and background.
    The engine's region-id image and Detection.mask are upsampled with it too (ids and masks are
    never interpolated either)."""
    old_h, old_w = depth.shape
    rows = nearest_indices(old_h, height, depth.device)
    cols = nearest_indices(old_w, width, depth.device)
    return depth[rows[:, None], cols[None, :]]
