"""Multi-resolution views of an image and the fusion of their features (DESIGN.md 1.2).

The image is rescaled (keeping aspect) so that its long side is at most scale[0] and its short
side at most scale[1], whichever binds first, up or down. The encoder then sees one global view
(the whole image squashed to crop x crop) plus non-overlapping tiles of the rescaled image
(the last tile in a row or column shifted back to end at the border). Their feature grids are
fused onto one grid of tiles x (crop / patch) tokens per axis:
fused = w * upsample_bilinear(global) + tile.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ViewLayout:
    """Where each view comes from in the rescaled image; views are global first, then tiles."""

    image_size: tuple[int, int]  # (H, W) of the input image
    resized_size: tuple[int, int]  # (h, w) after the aspect-keeping rescale
    tiles: tuple[int, int]  # (rows, cols); (1, 1) with no tile views in resize mode
    tile_boxes: tuple[tuple[int, int, int, int], ...]  # (y1, y2, x1, x2) per tile, row-major
    crop_size: int

    @property
    def view_count(self) -> int:
        return 1 + len(self.tile_boxes)

    def grid_shape(self, grid_size: int) -> tuple[int, int]:
        """Token grid (rows, cols) of the fused features for a per-view grid of grid_size."""
        return self.tiles[0] * grid_size, self.tiles[1] * grid_size


def rescaled_size(height: int, width: int, scale: tuple[int, int]) -> tuple[int, int]:
    long_side, short_side = max(height, width), min(height, width)
    factor = min(scale[0] / long_side, scale[1] / short_side)
    return max(1, int(round(height * factor))), max(1, int(round(width * factor)))


def plan_views(height: int, width: int, scale: tuple[int, int], crop_size: int, multi_resolution: bool) -> ViewLayout:
    resized_h, resized_w = rescaled_size(height, width, scale)
    if not multi_resolution:
        return ViewLayout((height, width), (resized_h, resized_w), (1, 1), (), crop_size)
    rows, cols = max(resized_h // crop_size, 1), max(resized_w // crop_size, 1)
    tile_h, tile_w = math.ceil(resized_h / rows), math.ceil(resized_w / cols)
    boxes = []
    for i in range(rows):
        y2 = min(i * tile_h + tile_h, resized_h)
        y1 = max(y2 - tile_h, 0)
        for j in range(cols):
            x2 = min(j * tile_w + tile_w, resized_w)
            x1 = max(x2 - tile_w, 0)
            boxes.append((y1, y2, x1, x2))
    return ViewLayout((height, width), (resized_h, resized_w), (rows, cols), tuple(boxes), crop_size)


def image_to_float(rgb: torch.Tensor) -> torch.Tensor:
    """HxWx3 uint8 tensor -> 3xHxW float in [0, 1]."""
    return rgb.permute(2, 0, 1).float().div_(255.0)


def cut_views(image: torch.Tensor, layout: ViewLayout) -> list[torch.Tensor]:
    """[3,H,W] float image -> the views' source pixels: the whole image, then each tile."""
    resized = image
    if layout.resized_size != layout.image_size:
        resized = F.interpolate(image[None], size=layout.resized_size, mode="bilinear",
                                align_corners=False, antialias=True)[0]
    views = [resized]
    views.extend(resized[:, y1:y2, x1:x2] for (y1, y2, x1, x2) in layout.tile_boxes)
    return views


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
