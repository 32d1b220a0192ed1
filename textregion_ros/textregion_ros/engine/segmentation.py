"""Region logits -> semantic segmentation and grounded detections (DESIGN.md 1.6-1.7)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from scipy import ndimage

from .queries import QuerySet
from .results import Detection, Regions, Segmentation
from .sam2_masks import masks_to_boxes
from .upsample import bilinear_bands

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def region_logits(tokens: torch.Tensor, text: torch.Tensor, affine: Optional[tuple[float, float]]) -> torch.Tensor:
    """[R,P] cosine similarities; exp(logit_scale) * cos + logit_bias for SigLIP2."""
    logits = tokens.float() @ text.float().T
    if affine is not None:
        logits = logits * affine[0] + affine[1]
    return logits


def per_class(values: torch.Tensor, phrase_class: torch.Tensor, classes: int) -> torch.Tensor:
    """Max over each class's phrases along dim 0: [P,...] -> [Q,...]."""
    if values.shape[0] == classes:
        return values  # one phrase per class, in class order
    index = phrase_class.view(-1, *([1] * (values.dim() - 1))).expand_as(values)
    out = values.new_full((classes, *values.shape[1:]), float("-inf"))
    return out.scatter_reduce(0, index, values, reduce="amax", include_self=True)


def class_probability(seg: torch.Tensor, phrase_class: torch.Tensor, classes: int, temperature: float) -> torch.Tensor:
    """softmax(temperature * seg) over phrases, max-pooled over each class's synonyms."""
    return per_class(torch.softmax(temperature * seg, dim=0), phrase_class, classes)


def segment(regions: Regions, queries: QuerySet, text: torch.Tensor, temperature: float,
            prob_threshold: float) -> Segmentation:
    """Per-pixel labels and confidence at image size; -1 where unlabeled."""
    height, width = regions.image_size
    classes = len(queries)
    labels = np.full((height, width), -1, dtype=np.int32)
    confidence = np.zeros((height, width), dtype=np.float32)
    if len(regions) == 0:
        return Segmentation(labels, confidence, queries.classes, torch.zeros(0, classes))
    phrase_class = torch.tensor(queries.phrase_class, device=regions.tokens.device)
    logits = region_logits(regions.tokens, text, regions.logit_affine)  # [R,P]
    soft = regions.masks.float().clamp(0.0, 1.0)
    work_h, work_w = regions.work_size
    seg = (logits.T @ soft.flatten(1)).view(-1, work_h, work_w)  # overlapping regions add up
    coverage = soft.amax(dim=0, keepdim=True)
    work_probability = class_probability(seg, phrase_class, classes, temperature)  # [Q,h,w]
    if (work_h, work_w) == (height, width):  # masks at image size: the work-size softmax is the answer
        bands = [(0, work_probability, coverage[0])]
    else:  # softmax after bilinear upsampling, band by band
        bands = ((y0, class_probability(band[:-1], phrase_class, classes, temperature), band[-1])
                 for y0, band in bilinear_bands(torch.cat([seg, coverage]), (height, width)))
    for y0, probability, band_coverage in bands:
        best, label = probability.max(dim=0)
        covered = band_coverage > 0
        label = torch.where(covered & (best >= prob_threshold), label, torch.full_like(label, -1))
        rows = slice(y0, y0 + probability.shape[1])
        labels[rows] = label.to(torch.int32).cpu().numpy()
        confidence[rows] = torch.where(covered, best, torch.zeros_like(best)).cpu().numpy()
    inside = (regions.masks > 0).float().flatten(1)  # [R,hw]
    region_probability = (inside @ work_probability.flatten(1).T) / inside.sum(dim=1, keepdim=True).clamp_min(1.0)
    return Segmentation(labels, confidence, queries.classes, region_probability)


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
    """
    if len(regions) == 0 or len(queries) == 0:
        return []
    probability = segmentation.region_class_probability  # [R,Q]
    if mode == "best":
        return _ground_best(regions, queries, text, probability, min_score)
    best, label = probability.max(dim=1)
    chosen = torch.nonzero((best >= prob_threshold) & (best >= min_score)).flatten()
    rows = zip(chosen.tolist(), label[chosen].tolist(), best[chosen].tolist(), regions.boxes[chosen].tolist())
    detections = [
        Detection(query=queries.classes[c], class_index=c, score=min(max(score, 0.0), 1.0), box=tuple(box),
                  region_index=r, image_size=regions.image_size, region_masks=regions.masks)
        for r, c, score, box in rows
    ]
    return sorted(detections, key=lambda d: d.score, reverse=True)


def _ground_best(regions: Regions, queries: QuerySet, text: torch.Tensor, probability: torch.Tensor,
                 min_score: float) -> list[Detection]:
    phrase_class = torch.tensor(queries.phrase_class, device=regions.tokens.device)
    class_logits = per_class(region_logits(regions.tokens, text, regions.logit_affine).T, phrase_class, len(queries))
    best_region = class_logits.argmax(dim=1)  # [Q]
    scores = probability[best_region, torch.arange(len(queries), device=best_region.device)]
    regions_of = best_region.tolist()
    masks = (regions.masks[best_region] > 0).cpu().numpy()  # one transfer for all queries
    height, width = regions.image_size
    work_h, work_w = regions.work_size
    scale = np.array([width / work_w, height / work_h, width / work_w, height / work_h])
    detections = []
    for class_index, (region, score) in enumerate(zip(regions_of, scores.tolist())):
        if score < min_score:
            continue
        component = _largest_component_in_box(masks[class_index])
        box = masks_to_boxes(torch.from_numpy(component)[None])[0].numpy() * scale
        detections.append(Detection(
            query=queries.classes[class_index], class_index=class_index, score=min(max(score, 0.0), 1.0),
            box=tuple(float(v) for v in box), region_index=region, image_size=(height, width), mask_work=component,
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
