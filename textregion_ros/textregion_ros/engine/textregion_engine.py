"""TextRegionEngine: SAM2 regions + region tokens + text queries, with no ROS in sight.

`regions()` is a chain of public stage methods, each timed under its stage names into
Regions.timings by one StageTimer:

    prepare_frame    rescale                                  (validate, rescale once for both models)
    propose_masks    sam2_encode, sam2_decode_filter          (DESIGN.md 1.1)
    finish_regions   (the rest, after SAM2; injected proposals enter here)
    fuse_masks       mask_fusion
    image_features   image_encoder                            (1.2)
    region_tokens    mask_to_grid, global_patch_removal, pooling   (1.3-1.5)
    build_regions    (boxes, areas: untimed)

Benchmarks call the same stages with their own StageTimer instead of copying them.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from . import mask_fusion
from .backbones import Backbone, build_backbone, load_open_clip, load_tokenizer
from .backbones.loading import Tokenizer
from .boxes import exclusive_boxes
from .compilation import WARMUP_IMAGE_SIZE, StageReport, compile_forwards
from .config import RELOAD_FIELDS, EngineConfig
from .devices import resolve_device
from .errors import EngineError, ImageError, QueryError
from .model_image import ModelImage, ImageLike, make_frame, uint8_image
from .global_patches import global_token_mask
from .grounding import ground
from .precision import resolve_precision
from .queries import QuerySet, background_phrases, parse_queries, with_background
from .region_prompts import PromptBasis, PromptRecord, RegionPrompts, grid_record
from .results import Detection, Regions, Segmentation
from .sam2_loading import load_sam2
from .sam2_masks import MaskProposals, Sam2MaskGenerator
from .segmentation import segment, token_scores
from .streams import FrameStreams
from .sync_audit import budgeted_sync
from .text import TextEncoder
from .tiling import TokenFeatures, cut_views, fuse_views, plan_views
from .timing import StageTimer
from .uploads import FrameUploader, to_device

log = logging.getLogger(__name__)
Queries = Union[Sequence[str], QuerySet]


@dataclass
class PooledTokens:
    """Region tokens of a set of masks, and what global-patch removal did to them."""

    tokens: torch.Tensor  # [R,D]; all-zero rows where `kept` is False
    kept: torch.Tensor  # [R] bool: the mask covers at least one token that was not removed
    removed: torch.Tensor  # [N] bool: tokens removed from every region's pooling as global patches


class TextRegionEngine:
    """The TextRegion method on one device.

    `regions` and `pool` run the image models: call them from one thread. `encode_text`,
    `segment` and `ground` only read a Regions result and the (locked) text cache, so another
    thread may call them meanwhile, e.g. to answer a query while the next frame is processed.
    After `close`, every call raises EngineError.
    """

    def __init__(self, config: Optional[EngineConfig] = None, clip_model: Optional[torch.nn.Module] = None,
                 sam2_model: Optional[torch.nn.Module] = None, tokenizer: Optional[Tokenizer] = None) -> None:
        self.config = config or EngineConfig()
        self.device = resolve_device(self.config.device)
        self.precision = resolve_precision(self.config.precision, self.config.backbone, self.device)
        model = load_open_clip(self.config, self.device) if clip_model is None else clip_model.to(self.device).eval()
        self.backbone: Backbone = build_backbone(self.config, model, tokenizer or load_tokenizer(self.config),
                                                 self.precision.backbone)
        sam2 = load_sam2(self.config, self.device) if sam2_model is None else sam2_model.to(self.device).eval()
        self.masks = Sam2MaskGenerator(sam2, self.config, self.precision.sam2)
        self.text = TextEncoder(self.backbone)
        self.uploads, self.streams = FrameUploader(self.device), FrameStreams(self.device)
        self._closed = False
        self.compiled, self.masks.forwards = compile_forwards(self.config.compile, self.device, self.masks.forwards,
                                                              self.backbone.encode_views, self._point_batch)
        if self.compiled.enabled:
            self.warm_up()
        log.info("TextRegion engine ready: %s + SAM2 %s on %s (%s)", self.config.model_id, self.config.sam2_model,
                 self.device, self.precision.describe())

    @torch.no_grad()
    def warm_up(self, image_size: tuple[int, int] = WARMUP_IMAGE_SIZE) -> dict[str, StageReport]:
        """Run the model forwards once on a grey image of image_size (height, width), so that with
        `compile` on they compile now (at configure) rather than on the first frame; logs the time."""
        self._check_open()
        start = time.perf_counter()
        frame = self.prepare_frame(np.full((*image_size, 3), 128, np.uint8))
        features = self.masks.encode(frame.image)
        self.masks.decode(features)
        if self.config.region_prompts == "tracks":  # the non-keyframes' padded batch sizes compile now too
            self.masks.warm_up_prompts(features)
        self.image_features(frame)
        log.info("warm-up (%dx%d frame) took %.1f s; %s", image_size[1], image_size[0], time.perf_counter() - start,
                 self.compiled.summary())
        return self.compiled.report()

    # -- regions -------------------------------------------------------------------------------
    @torch.no_grad()
    def regions(self, rgb: ImageLike, prompts: Optional[RegionPrompts] = None) -> Regions:
        """SAM2 regions of an HxWx3 uint8 RGB image and their region tokens.

        `prompts`: what SAM2's decoder is asked (region_prompts.py); None or a keyframe = the full grid.
        The engine keeps nothing across frames: the caller builds prompts from the previous frame's
        Regions.prompt_basis (perception/prompt_policy.py).
        """
        timer = StageTimer(self.device)
        frame = self.prepare_frame(rgb, timer)
        features = None
        if self.streams.enabled:  # CUDA: the image encoder overlaps SAM2 (streams.py); else only if needed
            with self.streams.branch("encoder", frame.image):
                features = self.image_features(frame, timer)
        with self.streams.branch("sam2", frame.image):
            proposals = self.propose_masks(frame, timer, prompts)
            fused = self.fuse_masks(proposals, frame.size, timer)
        self.streams.join()
        regions = self.finish_regions(frame, proposals, timer, features=features, fused=fused)
        regions.prompts = self.prompt_record(proposals, prompts)
        return regions

    @torch.no_grad()
    def finish_regions(self, frame: ModelImage, proposals: MaskProposals, timer: Optional[StageTimer] = None,
                       features: Optional[TokenFeatures] = None,
                       fused: Optional[mask_fusion.FusedMasks] = None) -> Regions:
        """The stages of regions() after SAM2: fusion, image features, region tokens, the Regions.

        Public so benchmarks and tests can feed injected proposals (sam2_masks.select_masks of
        synthetic candidates) through the same code; regions() passes the features and fused masks
        it already made on its two streams. One host sync: the final compaction.
        """
        timer = timer if timer is not None else StageTimer(self.device, enabled=False)
        fused = self.fuse_masks(proposals, frame.size, timer) if fused is None else fused
        stats = {"points": proposals.points, "candidates": proposals.candidates,
                 "proposals": len(proposals), "fused": int(fused.masks.shape[0]), "regions": 0}
        if fused.masks.shape[0] == 0:
            kept = torch.zeros(0, dtype=torch.bool, device=self.device)
            tokens = torch.zeros(0, self.backbone.embed_dim, device=self.device)
        else:
            features = self.image_features(frame, timer) if features is None else features
            pooled = self.region_tokens(features, fused.masks, timer)
            tokens, kept = pooled.tokens, pooled.kept
        basis = None
        if self.config.region_prompts == "tracks":  # the next frame's prompt basis rides on the same copy
            index, basis = self._compact_with_basis(kept, fused.masks)
        else:
            with budgeted_sync(self.device):
                index = kept.nonzero().flatten()  # the one compaction of the regions: one host sync
        stats["regions"] = int(index.shape[0])
        masks, tokens, iou, stability = (t.index_select(0, index) for t in (fused.masks, tokens, fused.iou,
                                                                            fused.stability))
        regions = self.build_regions(masks, tokens, iou, stability, frame.size)
        regions.timings, regions.stats, regions.prompt_basis = timer.seconds, stats, basis
        return regions

    def _compact_with_basis(self, kept: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, PromptBasis]:
        """The regions' compaction and their prompt basis (boxes in SAM2 input pixels, grid points covered)
        in one host copy: tracks mode costs no sync more than grid mode."""
        side, size = self.config.points_per_side, float(self.masks.input_size)
        count, points = int(masks.shape[0]), side * side
        if count:
            work_h, work_w = masks.shape[-2:]
            scale = to_device(np.array([size / work_w, size / work_h] * 2, dtype=np.float32), masks.device)
            boxes = exclusive_boxes(masks > 0) * scale
            covers = self.masks.grid_cover(masks)
            summary = torch.cat([kept.float(), covers.flatten().float(), boxes.flatten().float()])
        else:
            summary = torch.zeros(0, device=masks.device)
        with budgeted_sync(self.device):
            host = summary.cpu().numpy()  # the one compaction of the regions: one host sync
        kept_host = host[:count] > 0
        covers_host = host[count:count + count * points].reshape(count, points) > 0
        boxes_host = host[count + count * points:].reshape(count, 4).astype(np.float32)
        index = np.flatnonzero(kept_host)
        basis = PromptBasis(boxes_host[index], covers_host[index], side)
        return to_device(index.astype(np.int64), self.device), basis

    def prompt_record(self, proposals: MaskProposals, prompts: Optional[RegionPrompts]) -> PromptRecord:
        """The frame's prompt counts (keyframe reason from the caller's prompts; 'grid mode' without)."""
        mode = self.config.region_prompts
        if prompts is None or prompts.full_grid:
            reason = prompts.reason if prompts is not None and prompts.reason else None
            if reason is None and mode == "tracks":
                reason = "no prompts given"  # a caller without a keyframe policy (the engine alone)
            return grid_record(proposals.points, mode, reason)
        return PromptRecord(mode, len(prompts), int(prompts.boxes.shape[0]), int(prompts.points.shape[0]),
                            int(prompts.skipped), False, "", int(proposals.padded or len(prompts)))

    @torch.no_grad()
    def pool(self, rgb: ImageLike, masks: ImageLike) -> torch.Tensor:
        """Region tokens [R,D] for caller-given soft masks [R,H,W] in [0,1] (no SAM2).

        A mask that covers no image token (or only removed global tokens) gets an all-zero row.
        """
        frame = self.prepare_frame(rgb)
        masks = torch.as_tensor(masks, device=self.device).float()
        if masks.dim() != 3 or tuple(masks.shape[-2:]) != frame.size:
            raise ImageError(f"masks must be [R,H,W] with H,W = {frame.size}, got {tuple(masks.shape)}")
        if masks.shape[0] == 0:
            return torch.zeros(0, self.backbone.embed_dim, device=self.device)
        return self.region_tokens(self.image_features(frame), masks.clamp(0.0, 1.0)).tokens

    # -- the stages of regions(), public so benchmarks time them without copying them -------------
    @torch.no_grad()
    def prepare_frame(self, rgb: ImageLike, timer: Optional[StageTimer] = None) -> ModelImage:
        """Validate an image and make the one image SAM2 and the image encoder both see.

        multi_resolution mode: the aspect-keeping rescale (cv2 INTER_LINEAR on the uint8 image);
        resize mode: the original.
        """
        self._check_open()
        pixels = self.uploads.upload(uint8_image(rgb))  # pinned, asynchronous on CUDA (uploads.py)
        scale = None
        if self.config.resize_mode == "multi_resolution":
            long_side, short_side = self.config.scale  # the table's rule: exactly two sizes
            scale = (long_side, short_side)
        with _timed(timer, self.device).stage("rescale"):
            return make_frame(pixels, scale)

    @torch.no_grad()
    def propose_masks(self, frame: ModelImage, timer: Optional[StageTimer] = None,
                      prompts: Optional[RegionPrompts] = None) -> MaskProposals:
        """SAM2's filtered, ordered low-res mask proposals for the frame (one encoder pass); `prompts`
        as regions() takes them."""
        self._check_open()
        timer = _timed(timer, self.device)
        with timer.stage("sam2_encode"):
            features = self.masks.encode(frame.image)
        with timer.stage("sam2_decode_filter"):
            return self.masks.decode(features, prompts)

    @torch.no_grad()
    def fuse_masks(self, proposals: MaskProposals, image_size: tuple[int, int],
                   timer: Optional[StageTimer] = None) -> mask_fusion.FusedMasks:
        """Soft masks at working resolution for an image of image_size, nested ones fused."""
        self._check_open()
        with _timed(timer, self.device).stage("mask_fusion"):
            soft = mask_fusion.soft_masks(proposals, mask_fusion.working_size(image_size))
            return mask_fusion.fuse(proposals, soft, self.config.fuse_mask_threshold, self.config.fuse_masks)

    @torch.no_grad()
    def image_features(self, frame: ModelImage, timer: Optional[StageTimer] = None) -> TokenFeatures:
        """Fused token features of the frame's views (global view, then tiles in multi_resolution mode)."""
        self._check_open()
        backbone = self.backbone
        with _timed(timer, self.device).stage("image_encoder"):
            height, width = frame.image.shape[-2:]
            layout = plan_views(height, width, backbone.crop_size, self.config.resize_mode == "multi_resolution")
            views = torch.stack([backbone.prepare_view(view) for view in cut_views(frame.image, layout)])
            fused = fuse_views(self.compiled.image_encoder(views), layout, backbone.global_weight)
        return TokenFeatures(fused.reshape(-1, fused.shape[-1]), (int(fused.shape[0]), int(fused.shape[1])))

    @torch.no_grad()
    def region_tokens(self, features: TokenFeatures, masks: torch.Tensor,
                      timer: Optional[StageTimer] = None) -> PooledTokens:
        """Tokens for soft masks [R,h,w] (any h,w covering the whole image): DESIGN.md 1.3-1.5."""
        self._check_open()
        timer = _timed(timer, self.device)
        with timer.stage("mask_to_grid"):
            weights = F.interpolate(masks[:, None].float(), size=features.grid, mode="bilinear", align_corners=False)
            weights = weights[:, 0].clamp_(0.0, 1.0).flatten(1)  # [R,N]
            kept = weights.sum(dim=1) > 0
        with timer.stage("global_patch_removal"):  # masked, never branched on: no host sync
            removed = torch.zeros(weights.shape[1], dtype=torch.bool, device=weights.device)
            if self.config.remove_global_patches:
                removed = global_token_mask(features.features, weights, self.config.global_patch_threshold)
                weights = weights.masked_fill(removed[None, :], 0.0)
                kept = weights.sum(dim=1) > 0
        with timer.stage("pooling"):  # every row pooled; rows with no token left are zeroed
            tokens = self.backbone.pool(weights, features.features)
            tokens = torch.where(kept[:, None], tokens, torch.zeros_like(tokens))
        return PooledTokens(tokens, kept, removed)

    @torch.no_grad()
    def build_regions(self, masks: torch.Tensor, tokens: torch.Tensor, predicted_iou: torch.Tensor,
                      stability: torch.Tensor, image_size: tuple[int, int]) -> Regions:
        """A Regions result of soft masks [R,h,w] at working resolution for an image of image_size.

        Boxes (exclusive x2, y2) and areas are measured on mask > 0 and scaled to image pixels.
        """
        self._check_open()
        height, width = image_size
        work_h, work_w = masks.shape[-2:]
        binary = masks > 0
        scale = to_device(np.array([width / work_w, height / work_h] * 2, dtype=np.float32), masks.device)
        areas = torch.round(binary.flatten(1).sum(1).float() * (height * width) / (work_h * work_w)).long()
        return Regions(tokens=tokens, masks=masks, boxes=exclusive_boxes(binary) * scale, areas=areas,
                       predicted_iou=predicted_iou.float(), stability=stability.float(), image_size=(height, width),
                       model_id=self.config.model_id, logit_affine=self.backbone.logit_affine())

    # -- text, segmentation, grounding ---------------------------------------------------------
    def encode_text(self, queries: Sequence[str]) -> torch.Tensor:
        """[Q,D] template-ensembled, L2-normalised embeddings of literal phrases (cached)."""
        self._check_open()
        query_set = parse_queries(queries)
        if len(query_set.phrases) != len(query_set.classes):
            raise QueryError("encode_text takes single phrases; ';' synonyms belong to segment/ground")
        return self.text.encode(query_set.phrases)

    def segment(self, regions: Regions, queries: Queries, prob_threshold: Optional[float] = None) -> Segmentation:
        """Labels (HxW int, -1 unlabeled), confidence and classes for the queries."""
        self._check_open()
        query_set = self._query_set(queries)
        scored = self._with_background(query_set)
        timer = StageTimer(self.device)
        with timer.stage("text"):
            text = self.text.encode(scored.phrases)
        threshold = self.config.prob_threshold if prob_threshold is None else prob_threshold
        with timer.stage("painting"):
            result = segment(regions, scored, text, self.config.logit_scale, threshold,
                             background=len(scored) > len(query_set))
        result.timings.update(timer.seconds)
        return result

    def ground(self, regions: Regions, queries: Queries, mode: Optional[str] = None, min_score: float = 0.0,
               segmentation: Optional[Segmentation] = None, prob_threshold: Optional[float] = None) -> list[Detection]:
        """Detections for the queries ('all': one per matching region; 'best': one per query).

        Pass the Segmentation of the same regions and queries to reuse it.
        """
        self._check_open()
        query_set = self._query_set(queries)
        mode = mode or self.config.grounding_mode
        if mode not in ("all", "best"):
            raise QueryError(f"grounding mode must be 'all' or 'best', got {mode!r}")
        threshold = self.config.prob_threshold if prob_threshold is None else prob_threshold
        if segmentation is None or segmentation.classes != query_set.classes:
            segmentation = self.segment(regions, query_set, threshold)
        text = self.text.encode(query_set.phrases)
        return ground(regions, query_set, text, segmentation, mode, threshold, min_score)

    @torch.no_grad()
    def score_tokens(self, tokens: Union[torch.Tensor, np.ndarray], queries: Queries) -> tuple[np.ndarray, np.ndarray]:
        """(class [N] int64, probability [N] float32) of L2-normalised tokens [N,D] (e.g. the averaged
        tokens of remembered objects), scored like the segmentation scores a pixel: softmax over the
        queries' phrases plus the background's, max-pooled per class; class -1 = the background wins.
        Text encoder only (cached phrases: no model work)."""
        return self.token_scorer(queries)(tokens)

    def token_scorer(self, queries: Queries) -> Callable[[Union[torch.Tensor, np.ndarray]],
                                                         tuple[np.ndarray, np.ndarray]]:
        """score_tokens for these queries, with their phrases encoded now: the scorer itself runs no text
        model. ~/find makes it before it locks the object memory, so new phrases (a text-model forward
        each) never hold the lock that the frame thread's observe() waits on."""
        self._check_open()
        query_set = self._query_set(queries)
        scored = self._with_background(query_set)
        text = self.text.encode(scored.phrases)
        affine, scale, background = self.backbone.logit_affine(), self.config.logit_scale, len(scored) > len(query_set)

        def score(tokens: Union[torch.Tensor, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            if isinstance(tokens, np.ndarray) and not tokens.flags.writeable:
                with warnings.catch_warnings():  # a read-only view (the object memory's): only read here
                    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                    tokens = torch.from_numpy(tokens)
            tokens = torch.as_tensor(tokens, device=text.device)
            if tokens.dim() != 2 or (tokens.shape[0] and tokens.shape[1] != text.shape[1]):
                raise QueryError(f"tokens must be [N,{text.shape[1]}], got {tuple(tokens.shape)}")
            label, best = token_scores(tokens, scored, text, affine, scale, background=background)
            return label.cpu().numpy().astype(np.int64), best.float().cpu().numpy()

        return score

    def prepare(self, queries: Queries) -> QuerySet:
        """Validate `queries` and encode their phrases now (cached), so later frames run no text model.

        The node calls this off its frame thread before switching to new queries.
        """
        self._check_open()
        query_set = self._query_set(queries)
        self.text.encode(self._with_background(query_set).phrases)
        return query_set

    def apply_config(self, config: EngineConfig) -> list[str]:
        """Switch to `config`'s run-time fields between frames; returns the configure-time fields
        that differ (pending: they need a new engine, so the current models keep their values)."""
        self._check_open()
        pending = sorted(f for f in RELOAD_FIELDS if getattr(config, f) != getattr(self.config, f))
        kept = {name: getattr(self.config, name) for name in pending}
        self.config = dataclasses.replace(config, **kept)
        self.masks.config = self.config
        return pending

    def close(self) -> None:
        """Drop the models and free cached GPU memory; later calls raise EngineError."""
        self._closed = True
        for name in ("backbone", "masks", "text", "compiled", "uploads"):
            self.__dict__.pop(name, None)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- internals ------------------------------------------------------------------------------
    def _point_batch(self) -> int:
        """Grid points per SAM2 decoder call: the batch the compiled decoder is padded to."""
        return min(self.config.points_per_batch, self.config.points_per_side ** 2)

    def _check_open(self) -> None:
        if self._closed:
            raise EngineError("engine closed: its models were released by close(); build a new TextRegionEngine")

    def _with_background(self, query_set: QuerySet) -> QuerySet:
        """The queries plus the hidden background class of config.background_queries, if any."""
        return with_background(query_set, background_phrases(self.config.background_queries))

    def _query_set(self, queries: Queries) -> QuerySet:
        query_set = queries if isinstance(queries, QuerySet) else parse_queries(queries)
        if len(query_set) == 0:
            raise QueryError("no queries given")
        return query_set


def _timed(timer: Optional[StageTimer], device: torch.device) -> StageTimer:
    """The caller's timer, or one that does nothing (no events, no syncs) when nobody asked for timings."""
    return timer if timer is not None else StageTimer(device, enabled=False)
