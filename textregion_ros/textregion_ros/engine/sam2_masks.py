"""Automatic mask proposals from SAM2, batched and filtered at low resolution (DESIGN.md 1.1).

SAM2's own automatic generator upsamples every mask of every grid point to the image size
before filtering (about a minute per frame on a CPU). Here the image encoder runs once, all
grid points go through the prompt encoder and mask decoder in batches of points_per_batch
(the decoder without its per-prompt image traffic: engine/sam2_decoder.py), and every filter runs
on the 256 x 256 low-resolution logits, vectorised over masks. Only survivors are ever upsampled (by the caller).

Filter order, as the reference: predicted IoU and stability per batch; then box NMS over all
masks on SAM2's inclusive boxes; then the area filter. The area filter comes after NMS on
purpose: a small mask with a higher predicted IoU may suppress a larger one and then be dropped
itself (see select_masks).

No host syncs until the survivors are known: every candidate keeps its slot through
the filters and NMS (validity masks, engine/nms.py), and one copy to the host brings the survivor
count, NMS's convergence flag and the survivors' boxes (which mask fusion plans its work with).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .boxes import inclusive_boxes
from .config import EngineConfig
from .nms import start_nms
from .precision import autocast, resolve_precision
from .region_prompts import BOX_LABELS, POINT_LABELS, RegionPrompts, batch_sizes, bucket_plan, prompt_chunk
from .sam2_decoder import ImageInputs, Sam2Module, cast_inputs, decode_masks
from .sync_audit import budgeted_sync
from .uploads import to_device

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
REFERENCE_LOWRES = 256  # min_mask_area is counted on a 256 x 256 grid (sam2_image_size 1024)
LOGIT_LIMIT = 32.0
STABILITY_OFFSET = 1.0


@dataclass
class MaskProposals:
    """Surviving masks in pipeline order: whole, then part, then sub-part; each by IoU descending."""

    logits: torch.Tensor  # [M,h,w] float16, low-res logits clamped to +-32
    iou: torch.Tensor  # [M] predicted IoU
    stability: torch.Tensor  # [M] stability score
    boxes: torch.Tensor  # [M,4] float x1,y1,x2,y2 of logits > 0 in low-res pixels, inclusive (SAM2's)
    granularity: torch.Tensor  # [M] 0 sub-part, 1 part, 2 whole
    points: int  # grid points decoded
    candidates: int  # masks decoded: 3 per point
    # `boxes` on the host ([M,4] float32), when the producer already copied them (select_masks does,
    # in its one transfer): mask fusion plans its pair crops from them without another sync.
    host_boxes: Optional[np.ndarray] = None
    padded: Optional[int] = None  # decoder batch slots incl. padding (prompted decode); None: the grid

    def __len__(self) -> int:
        return int(self.iou.shape[0])


def stability_scores(logits: torch.Tensor) -> torch.Tensor:
    """|logits > +1| / |logits > -1| per mask (mask threshold 0, offset 1); 0 for empty masks."""
    inner = (logits > STABILITY_OFFSET).flatten(1).sum(1).float()
    outer = (logits > -STABILITY_OFFSET).flatten(1).sum(1).float()
    return torch.where(outer > 0, inner / outer.clamp_min(1.0), torch.zeros_like(outer))


def image_forward(model: Sam2Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """SAM2's image encoder on a normalised [1,3,S,S] input: (image embedding, high-res feature maps)."""
    backbone_out = model.forward_image(x)
    _, features, _, sizes = model._prepare_backbone_features(backbone_out)
    if model.directly_add_no_mem_embed:
        features[-1] = features[-1] + model.no_mem_embed
    maps = [f.permute(1, 2, 0).reshape(1, -1, h, w) for f, (h, w) in zip(features, sizes)]
    return maps[-1], maps[:-1]


def prompt_decode(model: Sam2Module, coords: torch.Tensor, labels: torch.Tensor, image_embed: torch.Tensor,
                  dense_pe: torch.Tensor, high_res_feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt encoder + mask decoder for a batch of prompts: (low-res logits [B,3,h,w], IoU [B,3]).

    [B,1,2] coordinates are grid points, embedded by SAM2's prompt encoder as it pads them; [B,2,2]
    are two-token prompts given whole (boxes as corners labelled 2, 3; points with their not-a-point
    token: engine/region_prompts.py), embedded by the same encoder without more padding.

    The image inputs come cast once per frame (Sam2MaskGenerator.decode, sam2_decoder.cast_inputs);
    the decoder runs with every traffic lever of engine/sam2_decoder.py (its outputs equal SAM2's
    own MaskDecoder.forward, test_sam2_decoder.py). This is the function the compiled stage traces,
    so the levers are inside the compiled graph too.
    """
    encoder = model.sam_prompt_encoder
    if coords.shape[1] == 1:
        sparse, dense = encoder(points=(coords, labels), boxes=None, masks=None)
    else:  # PromptEncoder.forward without its padding token: the same embedding ops and dense input
        sparse = encoder._embed_points(coords, labels, pad=False)
        dense = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(coords.shape[0], -1,
                                                                         *encoder.image_embedding_size)
    return decode_masks(model.sam_mask_decoder, ImageInputs(image_embed, dense_pe, tuple(high_res_feats)), sparse,
                        dense)


@dataclass
class Sam2Forwards:
    """The two model forwards of the generator: eager by default, compiled ones swapped in by the engine
    (engine/compilation.py) without the generator knowing."""

    encoder: Callable[[torch.Tensor], tuple[torch.Tensor, list[torch.Tensor]]]
    decoder: Callable[..., tuple[torch.Tensor, torch.Tensor]]

    @classmethod
    def eager(cls, model: Sam2Module) -> "Sam2Forwards":
        return cls(functools.partial(image_forward, model), functools.partial(prompt_decode, model))


class Sam2MaskGenerator:
    """Grid-prompted SAM2 masks for one image at a time."""

    def __init__(self, model: Sam2Module, config: EngineConfig, dtype: torch.dtype | None = None) -> None:
        self.model = model
        self.config = config
        self.device = next(model.parameters()).device
        self.dtype = resolve_precision(config.precision, config.backbone, self.device).sam2 if dtype is None else dtype
        self.input_size = int(model.image_size)
        self.forwards = Sam2Forwards.eager(model)
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        self._grid: dict[tuple[int, int], torch.Tensor] = {}  # grid points, made once per size on the device

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """[3,H,W] float image in [0,1] -> image embedding + high-res features (one encoder pass)."""
        size = self.input_size
        x = F.interpolate(image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=False)
        x = (x - self._mean) / self._std
        with autocast(self.device, self.dtype):
            image_embed, high_res_feats = self.forwards.encoder(x)
        return {"image_embed": image_embed, "high_res_feats": high_res_feats}

    def grid_points(self) -> torch.Tensor:
        """[P,2] x,y cell centres of a points_per_side grid, in SAM2 input pixels."""
        n = self.config.points_per_side
        key = (n, self.input_size)
        if key not in self._grid:
            centres = (torch.arange(n, device=self.device, dtype=torch.float32) + 0.5) / n * self.input_size
            ys, xs = torch.meshgrid(centres, centres, indexing="ij")
            self._grid = {key: torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)}
        return self._grid[key]

    @torch.no_grad()
    def decode(self, features: dict, prompts: Optional[RegionPrompts] = None) -> MaskProposals:
        """Decode every grid point (3 masks each), or the given non-keyframe prompts; filter, NMS and
        order the survivors."""
        if prompts is not None and not prompts.full_grid:
            return self.decode_prompts(features, prompts)
        config, model = self.config, self.model
        points = self.grid_points()
        image = cast_inputs(features["image_embed"], model.sam_prompt_encoder.get_dense_pe(),
                            features["high_res_feats"], self.dtype)  # once per frame, not per batch
        batches: list[tuple[torch.Tensor, ...]] = []
        for start in range(0, points.shape[0], config.points_per_batch):
            coords = points[start:start + config.points_per_batch, None, :]
            labels = torch.ones(coords.shape[:2], dtype=torch.int, device=self.device)
            with autocast(self.device, self.dtype):
                lowres, iou = self.forwards.decoder(coords, labels, image.embedding, image.positional,
                                                    list(image.high_res))
            logits = lowres.float().clamp_(-LOGIT_LIMIT, LOGIT_LIMIT).flatten(0, 1)  # [B*3,h,w]
            iou = iou.float().flatten()
            granularity = torch.arange(3, device=self.device).repeat(coords.shape[0])
            stability = stability_scores(logits)
            valid = self._filter(logits, iou, stability)  # a mask, not an index: no sync
            batches.append((logits.half(), iou, stability, granularity, valid))
        logits, iou, stability, granularity, valid = (torch.cat(parts) for parts in zip(*batches))
        return select_masks(logits, iou, stability, granularity, config.box_nms_thresh, config.min_mask_area,
                            points=int(points.shape[0]), valid=valid)

    @torch.no_grad()
    def decode_prompts(self, features: dict, prompts: RegionPrompts) -> MaskProposals:
        """Decode box and point prompts (region_prompts.py's format), padded to fixed batch sizes.

        The padding slots are not-a-point prompts whose masks the validity mask drops before NMS, so
        the survivors are those of the real prompts alone, with no sync to find them.
        """
        config, model = self.config, self.model
        count = len(prompts)
        plan = bucket_plan(count, prompt_chunk(config.points_per_batch))
        total = plan[-1][0] + plan[-1][2] if plan else 0
        coords, labels = self.prompt_tensors(prompts, total)
        valid_prompt = to_device(np.arange(total) < count, self.device)
        image = cast_inputs(features["image_embed"], model.sam_prompt_encoder.get_dense_pe(),
                            features["high_res_feats"], self.dtype)
        batches: list[tuple[torch.Tensor, ...]] = []
        for start, _, size in plan:
            with autocast(self.device, self.dtype):
                lowres, iou = self.forwards.decoder(coords[start:start + size], labels[start:start + size],
                                                    image.embedding, image.positional, list(image.high_res))
            logits = lowres.float().clamp_(-LOGIT_LIMIT, LOGIT_LIMIT).flatten(0, 1)
            iou = iou.float().flatten()
            granularity = torch.arange(3, device=self.device).repeat(size)
            stability = stability_scores(logits)
            valid = self._filter(logits, iou, stability) & valid_prompt[start:start + size].repeat_interleave(3)
            batches.append((logits.half(), iou, stability, granularity, valid))
        if not batches:
            side = self.input_size // 4
            empty = torch.zeros(0, device=self.device)
            batches.append((torch.zeros(0, side, side, device=self.device).half(), empty, empty,
                            torch.zeros(0, dtype=torch.long, device=self.device),
                            torch.zeros(0, dtype=torch.bool, device=self.device)))
        logits, iou, stability, granularity, valid = (torch.cat(parts) for parts in zip(*batches))
        proposals = select_masks(logits, iou, stability, granularity, config.box_nms_thresh, config.min_mask_area,
                                 points=count, valid=valid)
        proposals.padded = total
        return proposals

    def warm_up_prompts(self, features: dict) -> None:
        """Decode one prompt batch of every padded size tracks mode uses (compiles them at configure)."""
        points = self.config.points_per_side ** 2
        for size in batch_sizes(prompt_chunk(self.config.points_per_batch)):
            self.decode_prompts(features, RegionPrompts(full_grid=False, points=np.arange(size) % points))

    def prompt_tensors(self, prompts: RegionPrompts, total: int) -> tuple[torch.Tensor, torch.Tensor]:
        """[total,2,2] coordinates and [total,2] labels: boxes, then points, then not-a-point padding."""
        boxes, points = prompts.boxes.astype(np.float32).reshape(-1, 2, 2), prompts.points.astype(np.int64)
        pad = total - boxes.shape[0] - points.shape[0]
        labels = np.concatenate([np.tile(np.array(BOX_LABELS, np.int32), (boxes.shape[0], 1)),
                                 np.tile(np.array(POINT_LABELS, np.int32), (points.shape[0], 1)),
                                 np.full((pad, 2), -1, np.int32)])
        grid = self.grid_points()
        if points.size and (points.min() < 0 or points.max() >= grid.shape[0]):
            raise ValueError(f"point prompts must index the {grid.shape[0]} grid points")
        point_xy = grid[to_device(points, self.device)]
        point_coords = torch.stack([point_xy, torch.zeros_like(point_xy)], dim=1)
        coords = torch.cat([to_device(boxes, self.device), point_coords,
                            torch.zeros(pad, 2, 2, device=self.device)])
        return coords, to_device(labels, self.device)

    def grid_cover(self, masks: torch.Tensor) -> torch.Tensor:
        """[R,P] bool: mask r (> 0, at any resolution covering the image) covers grid point p, sampled at
        the working pixel the point falls in (grid points are in SAM2 input pixels of the squashed image)."""
        height, width = masks.shape[-2:]
        grid = self.grid_points()
        xs = (grid[:, 0] * width / self.input_size).long().clamp_(0, width - 1)
        ys = (grid[:, 1] * height / self.input_size).long().clamp_(0, height - 1)
        return masks[:, ys, xs] > 0

    def _filter(self, logits: torch.Tensor, iou: torch.Tensor, stability: torch.Tensor) -> torch.Tensor:
        """Masks that pass predicted-IoU and stability, and are not empty (per batch, before NMS).

        Dropping empty masks here changes nothing: their all-zero box has zero area, so NMS never
        lets them suppress anything, and the area filter after NMS would drop them anyway.
        """
        config = self.config
        keep = (logits > 0).flatten(1).any(dim=1)
        if config.pred_iou_thresh > 0:
            keep &= iou > config.pred_iou_thresh
        if config.stability_score_thresh > 0:
            keep &= stability >= config.stability_score_thresh
        return keep


def select_masks(logits: torch.Tensor, iou: torch.Tensor, stability: torch.Tensor, granularity: torch.Tensor,
                 box_nms_thresh: float, min_mask_area: int, points: int,
                 valid: Optional[torch.Tensor] = None) -> MaskProposals:
    """Box NMS, then the area filter, then pipeline order, over the candidates that are `valid` (default:
    all; the per-batch filters' verdict).

    NMS runs over all three granularities together, scored by predicted IoU, on SAM2's inclusive
    boxes (torchvision then measures a box one pixel smaller per axis than the mask, as in the
    reference). Masks whose area (low-res logits > 0, scaled to a 256 x 256 grid) is at or below
    min_mask_area are dropped only after NMS, so a small mask may first suppress a larger one.
    Everything stays fixed-size until one copy to the host (count, NMS convergence, boxes); the
    survivors are then the first `count` of one sort, gathered by index.
    """
    count = iou.shape[0]
    binary = logits > 0
    boxes = inclusive_boxes(binary)
    valid = torch.ones(count, dtype=torch.bool, device=iou.device) if valid is None else valid
    min_area = min_mask_area * logits.shape[-1] * logits.shape[-2] / REFERENCE_LOWRES**2
    large = binary.flatten(1).sum(1) > max(min_area, 0)
    state = start_nms(boxes, iou, valid, box_nms_thresh) if count and 0.0 < box_nms_thresh < 1.0 else None
    while True:
        survivors = (valid if state is None else state.keep) & large
        by_iou = torch.sort(iou, descending=True, stable=True).indices
        rank_key = torch.where(survivors, granularity, torch.full_like(granularity, -1))[by_iou]
        order = by_iou[torch.sort(rank_key, descending=True, stable=True).indices]  # survivors first
        converged = torch.ones((), device=iou.device) if state is None else state.converged.float()
        summary = torch.cat([survivors.sum().float().view(1), converged.view(1), boxes[order].flatten()])
        with budgeted_sync(iou.device):
            host = summary.tolist()  # the one host sync of mask selection
        if host[1]:
            break
        assert state is not None  # without a suppression state the summary says converged
        state.sweep()  # a longer chain of suppressions than one block: one more block, one more check
    order = order[:int(host[0])]
    host_boxes = np.asarray(host[2:], dtype=np.float32).reshape(-1, 4)[:int(host[0])]
    return MaskProposals(logits[order], iou[order], stability[order], boxes[order], granularity[order],
                         points=points, candidates=3 * points, host_boxes=host_boxes)
