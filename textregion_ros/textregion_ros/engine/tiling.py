"""Multi-resolution views of an image and the fusion of their features (DESIGN.md 1.2).

The views are cut from the image the encoder sees (already rescaled, see frame.py): one global
view (the whole image, squashed to crop x crop by the backbone) plus non-overlapping tiles (the
last tile in a row or column shifted back to end at the border). Their feature grids are fused
onto one grid of tiles x (crop / patch) tokens per axis: fused = w * upsample_bilinear(global) + tile.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ViewLayout:
    """Where each view comes from in the image; views are global first, then tiles."""

    image_size: tuple[int, int]  # (h, w) of the image the views are cut from
    tiles: tuple[int, int]  # (rows, cols); (1, 1) with no tile views in resize mode
    tile_boxes: tuple[tuple[int, int, int, int], ...]  # (y1, y2, x1, x2) per tile, row-major
    crop_size: int

    @property
    def view_count(self) -> int:
        return 1 + len(self.tile_boxes)

    def grid_shape(self, grid_size: int) -> tuple[int, int]:
        """Token grid (rows, cols) of the fused features for a per-view grid of grid_size."""
        return self.tiles[0] * grid_size, self.tiles[1] * grid_size


@dataclass(frozen=True)
class TokenFeatures:
    """The fused token features of one image: what masks are pooled over."""

    features: torch.Tensor  # [N,C] with N = rows * cols, row-major
    grid: tuple[int, int]  # (rows, cols) of the token grid


def plan_views(height: int, width: int, crop_size: int, multi_resolution: bool) -> ViewLayout:
    """Views of an image of height x width: the global view, plus max(h // crop, 1) x max(w // crop, 1) tiles."""
    if not multi_resolution:
        return ViewLayout((height, width), (1, 1), (), crop_size)
    rows, cols = max(height // crop_size, 1), max(width // crop_size, 1)
    tile_h, tile_w = math.ceil(height / rows), math.ceil(width / cols)
    boxes = []
    for i in range(rows):
        y2 = min(i * tile_h + tile_h, height)
        y1 = max(y2 - tile_h, 0)
        for j in range(cols):
            x2 = min(j * tile_w + tile_w, width)
            x1 = max(x2 - tile_w, 0)
            boxes.append((y1, y2, x1, x2))
    return ViewLayout((height, width), (rows, cols), tuple(boxes), crop_size)


def cut_views(image: torch.Tensor, layout: ViewLayout) -> list[torch.Tensor]:
    """[3,h,w] float image -> the views' source pixels: the whole image, then each tile (no copies)."""
    return [image, *(image[:, y1:y2, x1:x2] for (y1, y2, x1, x2) in layout.tile_boxes)]


def fuse_views(features: torch.Tensor, layout: ViewLayout, global_weight: float) -> torch.Tensor:
    """[V,g,g,C] view features -> [rows*g, cols*g, C] fused token grid."""
    global_features = features[0]
    if not layout.tile_boxes:
        return global_features
    grid = features.shape[1]
    rows, cols = layout.tiles
    channels = features.shape[-1]
    # tiles [rows*cols, g, g, C] -> [rows, g, cols, g, C] -> [rows*g, cols*g, C]
    tiles = features[1:].reshape(rows, cols, grid, grid, channels).permute(0, 2, 1, 3, 4)
    tiled = tiles.reshape(rows * grid, cols * grid, channels)
    upsampled = F.interpolate(global_features.permute(2, 0, 1)[None], size=(rows * grid, cols * grid),
                              mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
    return global_weight * upsampled + tiled
