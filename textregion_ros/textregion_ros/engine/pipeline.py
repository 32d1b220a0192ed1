"""TextRegionEngine: SAM2 regions + region tokens + text queries, with no ROS in sight."""
from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from . import mask_fusion
from .backbones import Backbone, build_backbone, load_open_clip, load_tokenizer
from .backbones.loading import Tokenizer
from .config import RELOAD_FIELDS, EngineConfig
from .devices import resolve_device
from .errors import ImageError, QueryError
from .global_patches import global_token_mask
from .queries import QuerySet, parse_queries
from .results import Detection, Regions, Segmentation
from .sam2_loading import load_sam2
from .sam2_masks import Sam2MaskGenerator, masks_to_boxes
from .segmentation import ground, segment
from .text import TextEncoder
from .tiling import cut_views, fuse_views, image_to_float, plan_views
from .timing import StageTimer

log = logging.getLogger(__name__)
ImageLike = Union[np.ndarray, torch.Tensor]
Queries = Union[Sequence[str], QuerySet]
MAX_IMAGE_PIXELS = 64_000_000


class TextRegionEngine:
    """The TextRegion method on one device.

    `regions` and `pool` run the image models: call them from one thread. `encode_text`,
    `segment` and `ground` only read a Regions result and the (locked) text cache, so another
    thread may call them meanwhile, e.g. to answer a query while the next frame is processed.
    """

    def __init__(self, config: Optional[EngineConfig] = None, clip_model: Optional[torch.nn.Module] = None,
                 sam2_model: Optional[torch.nn.Module] = None, tokenizer: Optional[Tokenizer] = None) -> None:
        self.config = config or EngineConfig()
        self.device = resolve_device(self.config.device)
        model = load_open_clip(self.config, self.device) if clip_model is None else clip_model.to(self.device).eval()
        self.backbone: Backbone = build_backbone(self.config, model, tokenizer or load_tokenizer(self.config))
        sam2 = load_sam2(self.config, self.device) if sam2_model is None else sam2_model.to(self.device).eval()
        self.masks = Sam2MaskGenerator(sam2, self.config)
        self.text = TextEncoder(self.backbone)
        log.info("TextRegion engine ready: %s + SAM2 %s on %s", self.config.model_id, self.config.sam2_model, self.device)

    # -- regions -------------------------------------------------------------------------------
    @torch.no_grad()
    def regions(self, rgb: ImageLike) -> Regions:
        """SAM2 regions of an HxWx3 uint8 RGB image and their region tokens."""
        image = self._image_tensor(rgb)
        height, width = image.shape[-2:]
        timings: dict[str, float] = {}
        timer = StageTimer(self.device, timings)
        with timer.stage("sam2_encode"):
            features = self.masks.encode(image)
        with timer.stage("sam2_decode_filter"):
            proposals = self.masks.decode(features)
        del features
        with timer.stage("mask_fusion"):
            work = mask_fusion.working_size((height, width))
            soft = mask_fusion.soft_masks(proposals, work)
            fused = mask_fusion.fuse(proposals, soft, self.config.fuse_mask_threshold, self.config.fuse_masks)
            del soft
        stats = {"points": proposals.points, "candidates": proposals.candidates,
                 "proposals": len(proposals), "fused": int(fused.masks.shape[0]), "regions": 0}
        if fused.masks.shape[0] == 0:
            return self._regions(torch.zeros(0, self.backbone.embed_dim, device=self.device), fused.masks,
                                 fused.iou, fused.stability, (height, width), timings, stats)
        tokens, kept = self._tokens(image, fused.masks, timer)
        stats["regions"] = int(kept.sum())
        return self._regions(tokens[kept], fused.masks[kept], fused.iou[kept], fused.stability[kept],
                             (height, width), timings, stats)

    @torch.no_grad()
    def pool(self, rgb: ImageLike, masks: ImageLike) -> torch.Tensor:
        """Region tokens [R,D] for caller-given soft masks [R,H,W] in [0,1] (no SAM2).

        A mask that covers no image token (or only removed global tokens) gets an all-zero row.
        """
        image = self._image_tensor(rgb)
        masks = torch.as_tensor(masks, device=self.device).float()
        if masks.dim() != 3 or tuple(masks.shape[-2:]) != tuple(image.shape[-2:]):
            raise ImageError(f"masks must be [R,H,W] with H,W = {tuple(image.shape[-2:])}, got {tuple(masks.shape)}")
        if masks.shape[0] == 0:
            return torch.zeros(0, self.backbone.embed_dim, device=self.device)
        tokens, kept = self._tokens(image, masks.clamp(0.0, 1.0), StageTimer(self.device))
        return tokens * kept[:, None]

    # -- text, segmentation, grounding ---------------------------------------------------------
    def encode_text(self, queries: Sequence[str]) -> torch.Tensor:
        """[Q,D] template-ensembled, L2-normalised embeddings of literal phrases (cached)."""
        query_set = parse_queries(queries)
        if len(query_set.phrases) != len(query_set.classes):
            raise QueryError("encode_text takes single phrases; ';' synonyms belong to segment/ground")
        return self.text.encode(query_set.phrases)

    def segment(self, regions: Regions, queries: Queries, prob_threshold: Optional[float] = None) -> Segmentation:
        """Labels (HxW int, -1 unlabeled), confidence and classes for the queries."""
        query_set = self._query_set(queries)
        timer = StageTimer(self.device)
        with timer.stage("text"):
            text = self.text.encode(query_set.phrases)
        threshold = self.config.prob_threshold if prob_threshold is None else prob_threshold
        with timer.stage("painting"):
            result = segment(regions, query_set, text, self.config.logit_scale, threshold)
        result.timings.update(timer.seconds)
        return result

    def ground(self, regions: Regions, queries: Queries, mode: Optional[str] = None, min_score: float = 0.0,
               segmentation: Optional[Segmentation] = None, prob_threshold: Optional[float] = None) -> list[Detection]:
        """Detections for the queries ('all': one per matching region; 'best': one per query).

        Pass the Segmentation of the same regions and queries to reuse it.
        """
        query_set = self._query_set(queries)
        mode = mode or self.config.grounding_mode
        if mode not in ("all", "best"):
            raise QueryError(f"grounding mode must be 'all' or 'best', got {mode!r}")
        threshold = self.config.prob_threshold if prob_threshold is None else prob_threshold
        if segmentation is None or segmentation.classes != query_set.classes:
            segmentation = self.segment(regions, query_set, threshold)
        text = self.text.encode(query_set.phrases)
        return ground(regions, query_set, text, segmentation, mode, threshold, min_score)

    def prepare(self, queries: Queries) -> QuerySet:
        """Validate `queries` and encode their phrases now (cached), so later frames run no text model.

        The node calls this off its frame thread before switching to new queries.
        """
        query_set = self._query_set(queries)
        self.text.encode(query_set.phrases)
        return query_set

    def apply_config(self, config: EngineConfig) -> list[str]:
        """Switch to `config`'s run-time fields between frames; returns the configure-time fields
        that differ (pending: they need a new engine, so the current models keep their values)."""
        pending = sorted(f for f in RELOAD_FIELDS if getattr(config, f) != getattr(self.config, f))
        kept = {name: getattr(self.config, name) for name in pending}
        self.config = dataclasses.replace(config, **kept)
        self.masks.config = self.config
        return pending

    def close(self) -> None:
        """Drop the models and free cached GPU memory."""
        for name in ("backbone", "masks", "text"):
            self.__dict__.pop(name, None)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- internals ------------------------------------------------------------------------------
    def _query_set(self, queries: Queries) -> QuerySet:
        query_set = queries if isinstance(queries, QuerySet) else parse_queries(queries)
        if len(query_set) == 0:
            raise QueryError("no queries given")
        return query_set

    def _image_tensor(self, rgb: ImageLike) -> torch.Tensor:
        """Validated [3,H,W] float image in [0,1] on the engine's device."""
        with warnings.catch_warnings():
            # a read-only view of a ROS message buffer is fine: the pixels are only read, then copied to float
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            array = torch.as_tensor(rgb) if not isinstance(rgb, torch.Tensor) else rgb
        if array.dim() != 3 or array.shape[-1] != 3:
            raise ImageError(f"expected an HxWx3 RGB image, got shape {tuple(array.shape)}")
        if array.dtype != torch.uint8:
            raise ImageError(f"expected uint8 pixels, got {array.dtype}")
        height, width = int(array.shape[0]), int(array.shape[1])
        if height == 0 or width == 0:
            raise ImageError(f"empty image ({height}x{width})")
        if height * width > MAX_IMAGE_PIXELS:
            raise ImageError(f"image of {height}x{width} exceeds {MAX_IMAGE_PIXELS} pixels")
        return image_to_float(array.to(self.device, non_blocking=True))

    def _features(self, image: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Fused token features [N,C] of the image and their grid (rows, cols)."""
        config, backbone = self.config, self.backbone
        height, width = image.shape[-2:]
        layout = plan_views(height, width, config.scale, backbone.crop_size, config.resize_mode == "multi_resolution")
        views = torch.stack([backbone.prepare_view(view) for view in cut_views(image, layout)])
        fused = fuse_views(backbone.encode_views(views), layout, backbone.global_weight)
        return fused.reshape(-1, fused.shape[-1]), (int(fused.shape[0]), int(fused.shape[1]))

    def _tokens(self, image: torch.Tensor, masks: torch.Tensor, timer: StageTimer) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens [R,D] for soft masks [R,h,w] and which rows are valid (cover a kept token)."""
        with timer.stage("image_encoder"):
            features, grid = self._features(image)
        weights = F.interpolate(masks[:, None].float(), size=grid, mode="bilinear", align_corners=False)
        weights = weights[:, 0].clamp_(0.0, 1.0).flatten(1)  # [R,N]
        kept = weights.sum(dim=1) > 0
        with timer.stage("global_patch_removal"):
            if self.config.remove_global_patches and bool(kept.any()):
                remove = global_token_mask(features, weights[kept], self.config.global_patch_threshold)
                weights[:, remove] = 0.0
                kept = weights.sum(dim=1) > 0
        with timer.stage("pooling"):
            tokens = torch.zeros(masks.shape[0], self.backbone.embed_dim, device=self.device)
            if bool(kept.any()):
                tokens[kept] = self.backbone.pool(weights[kept], features)
        return tokens, kept

    def _regions(self, tokens: torch.Tensor, masks: torch.Tensor, iou: torch.Tensor, stability: torch.Tensor,
                 image_size: tuple[int, int], timings: dict[str, float], stats: dict[str, int]) -> Regions:
        height, width = image_size
        work_h, work_w = masks.shape[-2:]
        binary = masks > 0
        scale = torch.tensor([width / work_w, height / work_h] * 2, device=masks.device)
        boxes = masks_to_boxes(binary) * scale
        areas = torch.round(binary.flatten(1).sum(1).float() * (height * width) / (work_h * work_w)).long()
        return Regions(tokens=tokens, masks=masks, boxes=boxes, areas=areas, scores=iou.float(),
                       stability=stability.float(), image_size=(height, width), model_id=self.config.model_id,
                       logit_affine=self.backbone.logit_affine(), timings=timings, stats=stats)
