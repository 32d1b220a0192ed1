"""Region logits -> per-pixel semantic segmentation (DESIGN.md 1.6-1.7); grounding.py turns it into detections."""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import torch

from .queries import QuerySet
from .results import Regions, Segmentation
from .sync_audit import budgeted_sync
from .uploads import to_device
from .upsample import bilinear_bands


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
            prob_threshold: float, background: bool = False) -> Segmentation:
    """Per-pixel labels and confidence at image size; -1 where unlabeled.

    With `background`, the last class of `queries` is the hidden background (queries.with_background):
    it takes part in every softmax, but pixels it wins are unlabeled with confidence 0, and the
    Segmentation lists and scores only the visible classes.
    """
    height, width = regions.image_size
    classes = len(queries)
    visible = classes - 1 if background else classes
    labels = np.full((height, width), -1, dtype=np.int32)
    confidence = np.zeros((height, width), dtype=np.float32)
    if len(regions) == 0:
        return Segmentation(labels, confidence, queries.classes[:visible], torch.zeros(0, visible),
                            torch.zeros(0) if background else None)
    phrase_class = to_device(np.asarray(queries.phrase_class, dtype=np.int64), regions.tokens.device)
    logits = region_logits(regions.tokens, text, regions.logit_affine)  # [R,P]
    soft = regions.masks.float().clamp(0.0, 1.0)
    work_h, work_w = regions.work_size
    seg = (logits.T @ soft.flatten(1)).view(-1, work_h, work_w)  # overlapping regions add up
    coverage = soft.amax(dim=0, keepdim=True)
    work_probability = class_probability(seg, phrase_class, classes, temperature)  # [Q,h,w]
    bands: Iterable[tuple[int, torch.Tensor, torch.Tensor]]
    if (work_h, work_w) == (height, width):  # masks at image size: the work-size softmax is the answer
        bands = [(0, work_probability, coverage[0])]
    else:  # softmax after bilinear upsampling, band by band
        bands = ((y0, class_probability(band[:-1], phrase_class, classes, temperature), band[-1])
                 for y0, band in bilinear_bands(torch.cat([seg, coverage]), (height, width)))
    # the label map kept where it is made
    on_device: Optional[list[torch.Tensor]] = [] if regions.tokens.device.type != "cpu" else None
    for y0, probability, band_coverage in bands:
        best, label = probability.max(dim=0)
        covered = band_coverage > 0
        if background:
            covered = covered & (label < visible)  # the background's pixels: unlabeled, confidence 0
        label = torch.where(covered & (best >= prob_threshold), label, torch.full_like(label, -1))
        if on_device is not None:
            on_device.append(label.to(torch.int32))
        rows = slice(y0, y0 + probability.shape[1])
        # one copy per band (float32 holds the class indices exactly)
        band = torch.stack([label.float(), torch.where(covered, best, torch.zeros_like(best)).float()])
        with budgeted_sync(band.device):
            host = band.cpu().numpy()
        labels[rows] = host[0].astype(np.int32)
        confidence[rows] = host[1]
    inside = (regions.masks > 0).float().flatten(1)  # [R,hw]
    region_probability = (inside @ work_probability.flatten(1).T) / inside.sum(dim=1, keepdim=True).clamp_min(1.0)
    label_map = torch.cat(on_device) if on_device else None
    if background:
        return Segmentation(labels, confidence, queries.classes[:visible], region_probability[:, :visible],
                            region_probability[:, visible], label_map=label_map)
    return Segmentation(labels, confidence, queries.classes, region_probability, label_map=label_map)


def token_scores(tokens: torch.Tensor, queries: QuerySet, text: torch.Tensor, affine: Optional[tuple[float, float]],
                 temperature: float, background: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(class [N], probability [N]) of tokens scored on their own, as one pixel covered by one region
    would be: softmax(temperature * logits) over phrases, max-pooled per class. Class -1 where the
    hidden background (the last class, with `background`) is the most probable. For ~/find on the
    averaged tokens of remembered objects."""
    classes = len(queries)
    if tokens.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0)
    phrase_class = torch.tensor(queries.phrase_class, device=tokens.device)
    probability = class_probability(region_logits(tokens, text, affine).T, phrase_class, classes, temperature)
    best, label = probability.max(dim=0)
    if background:
        label = torch.where(label == classes - 1, torch.full_like(label, -1), label)
    return label, best
