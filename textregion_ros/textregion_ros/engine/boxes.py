"""Tight boxes of binary masks, in the two conventions the engine needs (DESIGN.md 1.1, 1.7).

- exclusive (x1, y1, x2, y2) with x2, y2 one past the last mask column / row: a box is a pixel
  slice `mask[y1:y2, x1:x2]` and its width is x2 - x1. Every box the engine publishes
  (Regions.boxes, Detection.box, the ROS messages, the result files) is exclusive.
- inclusive (x2, y2 = the last mask column / row), as SAM2's `batched_mask_to_box`: the reference
  feeds these to box NMS and to the fusion box-IoU gate, where torchvision measures a box as
  (x2 - x1) * (y2 - y1), one pixel smaller per axis than the mask's extent. Using them there keeps
  the IoUs (and so which masks survive or fuse) the reference's.

Both give all-zero boxes for empty masks (as SAM2 does).
"""
from __future__ import annotations

import torch


def exclusive_boxes(binary: torch.Tensor) -> torch.Tensor:
    """[M,h,w] bool -> [M,4] float tight boxes x1,y1,x2,y2 with exclusive x2,y2 (zeros if empty)."""
    if binary.shape[0] == 0:
        return torch.zeros(0, 4, device=binary.device)
    height, width = binary.shape[-2:]
    rows, cols = binary.any(dim=2), binary.any(dim=1)
    y1 = rows.float().argmax(dim=1)
    y2 = height - rows.flip(1).float().argmax(dim=1)
    x1 = cols.float().argmax(dim=1)
    x2 = width - cols.flip(1).float().argmax(dim=1)
    boxes = torch.stack([x1, y1, x2, y2], dim=1).float()
    return boxes * rows.any(dim=1, keepdim=True)


def inclusive_boxes(binary: torch.Tensor) -> torch.Tensor:
    """[M,h,w] bool -> [M,4] float x1,y1,x2,y2 with x2,y2 the last column / row (zeros if empty)."""
    boxes = exclusive_boxes(binary)
    nonempty = binary.flatten(1).any(dim=1, keepdim=True)
    return torch.cat([boxes[:, :2], boxes[:, 2:] - 1.0], dim=1) * nonempty  # no host constant: no upload
