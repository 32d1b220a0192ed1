"""Grounded detections from a segmentation: referring expressions and multi-object grounding (DESIGN.md 1.7)."""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from .boxes import exclusive_boxes
from .queries import QuerySet
from .results import Detection, Regions, Segmentation
from .segmentation import per_class, region_logits
from .sync_audit import budgeted_sync
from .uploads import to_device

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a bool mask (empty stays empty)."""
    components, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
    if count <= 1:
        return mask
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == int(sizes.argmax())


def ground(regions: Regions, queries: QuerySet, text: torch.Tensor, segmentation: Segmentation, mode: str,
           prob_threshold: float, min_score: float = 0.0) -> list[Detection]:
    """Detections, best score first.

    mode 'best' (referring expressions): for each query, the region with the highest logit over
    its synonyms; its box is the tight box of the mask's largest connected component.
    mode 'all' (multi-object grounding): every region whose most probable class (mean over its
    pixels) is a query with probability >= prob_threshold, one detection per region, with the
    region's own box and mask; no per-region pixel work, so it scales to hundreds of regions.
    In both modes a region whose most probable class is the hidden background (background_queries)
    is never a detection.
    """
    if len(regions) == 0 or len(queries) == 0:
        return []
    probability = segmentation.region_class_probability  # [R,Q]
    best, label = segmentation.region_labels()  # label -1: the hidden background wins the region
    if mode == "best":
        return _ground_best(regions, queries, text, probability, label >= 0, min_score)
    chosen = (label >= 0) & (best >= prob_threshold) & (best >= min_score)
    # one copy to the host (float64 holds the float32 scores and boxes exactly), filtered there
    with budgeted_sync(regions.boxes.device):
        table = np.asarray(torch.cat([chosen[:, None].double(), label[:, None].double(), best[:, None].double(),
                                      regions.boxes.double()], 1).tolist(), dtype=np.float64).reshape(-1, 7)
    rows = np.flatnonzero(table[:, 0] > 0)
    detections = [
        Detection(query=queries.classes[int(table[r, 1])], class_index=int(table[r, 1]),
                  score=min(max(float(table[r, 2]), 0.0), 1.0), box=_box(table[r, 3:]),
                  region_index=int(r), image_size=regions.image_size, region_masks=regions.masks)
        for r in rows
    ]
    return sorted(detections, key=lambda d: d.score, reverse=True)


def _ground_best(regions: Regions, queries: QuerySet, text: torch.Tensor, probability: torch.Tensor,
                 not_background: torch.Tensor, min_score: float) -> list[Detection]:
    """`text` holds the phrases of `queries` first (any background phrases after them are ignored)."""
    phrase_class = to_device(np.asarray(queries.phrase_class, dtype=np.int64), regions.tokens.device)  # no sync
    text = text[:len(queries.phrases)]
    class_logits = per_class(region_logits(regions.tokens, text, regions.logit_affine).T, phrase_class, len(queries))
    best_region = class_logits.argmax(dim=1)  # [Q]
    scores = probability[best_region, torch.arange(len(queries), device=best_region.device)]
    # mode best's two copies: the small per-query values (float64 holds the indices and float32 scores
    # exactly) and the chosen regions' masks, one transfer for all queries
    with budgeted_sync(best_region.device):
        table = torch.stack([best_region.double(), scores.double(), not_background[best_region].double()], 1).tolist()
        masks = (regions.masks[best_region] > 0).cpu().numpy()
    height, width = regions.image_size
    work_h, work_w = regions.work_size
    scale = np.array([width / work_w, height / work_h, width / work_w, height / work_h])
    detections = []
    for class_index, (region, score, keep) in enumerate(table):
        region = int(region)
        if score < min_score or not keep:
            continue
        component = _largest_component_in_box(masks[class_index])
        box = exclusive_boxes(torch.from_numpy(component)[None])[0].numpy() * scale
        detections.append(Detection(
            query=queries.classes[class_index], class_index=class_index, score=min(max(score, 0.0), 1.0),
            box=_box(box), region_index=region, image_size=(height, width), mask_work=component,
        ))
    return sorted(detections, key=lambda d: d.score, reverse=True)


def _largest_component_in_box(mask: np.ndarray) -> np.ndarray:
    """largest_component, labelling only the mask's bounding box (the cost follows the object)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return mask
    y1, y2, x1, x2 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    component = np.zeros_like(mask)
    component[y1:y2, x1:x2] = largest_component(mask[y1:y2, x1:x2])
    return component


def _box(values: np.ndarray) -> tuple[float, float, float, float]:
    """x1, y1, x2, y2 as Python floats."""
    x1, y1, x2, y2 = (float(v) for v in values)
    return x1, y1, x2, y2
