"""Depth for `textregion segment`: a folder of depth images matched to the colour images by file stem.

A depth file is `<stem>.png` (16-bit, millimetres, 0 = no reading: what RealSense and most
recorders save) or `<stem>.npy` (float metres, NaN / 0 = no reading), registered to the colour
image with the same stem (same optical frame; any resolution of the same aspect ratio, resampled
with nearest neighbour). `--intrinsics fx,fy,cx,cy` are those of the colour image.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..outputs.result_files import load_png
from ..perception import DepthView
from ..spatial import Boxes3D, Intrinsics, depth_in_metres
from .settings import UsageError

DEPTH_SUFFIXES = (".png", ".npy")


def parse_intrinsics(text: str) -> tuple[float, float, float, float]:
    """'fx,fy,cx,cy' -> four finite numbers; UsageError saying the expected form."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise UsageError(f"--intrinsics must be fx,fy,cx,cy (four numbers, pixels of the colour image), got {text!r}")
    return values  # type: ignore[return-value]


def depth_file(folder: Path, stem: str) -> Optional[Path]:
    """The depth image for the colour image `stem`, if the folder has one."""
    for suffix in DEPTH_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def read_depth(path: Path) -> np.ndarray:
    """Float32 metres, NaN = no reading; ValueError naming what is wrong with the file."""
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        if array.ndim != 2 or array.dtype.kind != "f":
            raise ValueError(f"{path.name}: a .npy depth must be a 2-D float array of metres, got {array.dtype} "
                             f"{array.shape}")
        return depth_in_metres(array.astype(np.float32), "32FC1")
    array = load_png(path)
    if array.dtype != np.uint16 or array.ndim != 2:
        raise ValueError(f"{path.name}: a PNG depth must be 16-bit grey millimetres, got {array.dtype} {array.shape}")
    return depth_in_metres(array, "16UC1")


class DepthFile:
    """A depth file as the pipeline's DepthSource: the one image it holds serves its colour image."""

    def __init__(self, depth_m: np.ndarray, intrinsics: Sequence[float], size: tuple[int, int]) -> None:
        fx, fy, cx, cy = intrinsics
        height, width = size
        self._view = DepthView(depth_m, Intrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height), "file")

    def depth_for(self, stamp_ns: int, frame_id: str, tolerance_s: float) -> DepthView:
        return self._view


def records_3d(boxes: Optional[Boxes3D], count: int) -> list[dict[str, Any]]:
    """Per detection (rows of `boxes` follow the detections): position_m (centre, the median of its
    points) and box_3d (centre and size of the 2nd-98th percentile box), both in metres in the optical
    frame; null where unknown."""
    records = []
    for row in range(count):
        if boxes is not None and boxes.valid[row]:
            records.append({
                "position_m": [round(float(v), 4) for v in boxes.centres[row]],
                "box_3d": {"centre_m": [round(float(v), 4) for v in boxes.box_centres[row]],
                           "size_m": [round(float(v), 4) for v in boxes.sizes[row]]},
            })
        else:
            records.append({"position_m": None, "box_3d": None})
    return records
