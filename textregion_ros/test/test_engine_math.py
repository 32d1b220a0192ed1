"""The TextRegion math (DESIGN.md 1.2-1.7) on constructed inputs and real model modules."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine_fixtures import open_clip_model
from textregion_ros.engine import QueryError, parse_queries
from textregion_ros.engine.backbones import ClipBackbone, PerceptionEncoderBackbone, Siglip2Backbone
from textregion_ros.engine.boxes import exclusive_boxes, inclusive_boxes
from textregion_ros.engine.global_patches import global_token_mask, mean_region_similarity
from textregion_ros.engine.grounding import ground, largest_component
from textregion_ros.engine.mask_fusion import fuse, soft_masks, working_size
from textregion_ros.engine.queries import split_query_text
from textregion_ros.engine.rescale import rescaled_size, resize_linear_uint8
from textregion_ros.engine.results import Detection, Regions
from textregion_ros.engine.sam2_masks import MaskProposals, select_masks, stability_scores
from textregion_ros.engine.segmentation import segment
from textregion_ros.engine.tiling import cut_views, fuse_views, plan_views
from textregion_ros.engine.upsample import bilinear_bands

torch.manual_seed(0)


def _tokens_for(backbone, count: int) -> torch.Tensor:
    grid = backbone.grid_size
    width = backbone._w_v.shape[1]
    return torch.randn(count if count else grid * grid, width)


# -- pooling ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["clip", "siglip2", "pe"])
def test_pooling_with_one_hot_masks_returns_each_tokens_own_projection(kind, open_clip_models, siglip2_tokenizer_dir):
    model = open_clip_model(open_clip_models, kind)
    backbone = {"clip": ClipBackbone, "siglip2": Siglip2Backbone, "pe": PerceptionEncoderBackbone}[kind](model, None)
    features = torch.randn(10, backbone._w_v.shape[1])
    one_hot = torch.eye(10)[[2, 7]]
    pooled = backbone.pool(one_hot, features)
    single = torch.cat([backbone.pool(torch.ones(1, 1), features[i:i + 1]) for i in (2, 7)])
    torch.testing.assert_close(pooled, single, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pooled.norm(dim=1), torch.ones(2))


def test_clip_pooling_equals_the_explicit_per_head_formula(open_clip_models):
    model = open_clip_model(open_clip_models, "clip")
    backbone = ClipBackbone(model, None)
    visual, block = model.visual, model.visual.transformer.resblocks[-1]
    attention = block.attn
    heads, width = attention.num_heads, attention.embed_dim
    values = torch.randn(50, width)
    weights = torch.rand(3, 50) * (torch.rand(3, 50) > 0.5)
    per_head = values.view(50, heads, width // heads)  # v_i split into heads
    head_outputs = torch.einsum("rn,nhd->rhd", weights, per_head).reshape(3, width)  # sum_i w_ri v_i per head
    expected = F.normalize(visual.ln_post(attention.out_proj(head_outputs)) @ visual.proj, dim=-1)
    torch.testing.assert_close(backbone.pool(weights, values), expected, rtol=1e-4, atol=1e-5)


def test_clip_pool_mlp_option_adds_the_last_blocks_mlp(open_clip_models):
    model = open_clip_model(open_clip_models, "clip")
    plain, with_mlp = ClipBackbone(model, None), ClipBackbone(model, None, pool_mlp=True)
    block, visual = model.visual.transformer.resblocks[-1], model.visual
    values, weights = torch.randn(20, 768), torch.rand(2, 20)
    out = block.attn.out_proj(weights @ values)
    expected = F.normalize(visual.ln_post(out + block.mlp(block.ln_2(out))) @ visual.proj, dim=-1)
    torch.testing.assert_close(with_mlp.pool(weights, values), expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(plain.pool(weights, values), expected, atol=1e-3)


def test_clip_value_features_match_the_models_own_last_block_input(open_clip_models):
    model = open_clip_model(open_clip_models, "clip")
    backbone = ClipBackbone(model, None, crop_size=224)
    block = model.visual.transformer.resblocks[-1]
    captured = {}
    hook = block.register_forward_pre_hook(lambda module, args: captured.setdefault("x", args[0]))
    views = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        model.visual(views)
    hook.remove()
    width = block.attn.embed_dim
    w_v, b_v = block.attn.in_proj_weight[2 * width:], block.attn.in_proj_bias[2 * width:]
    expected = F.linear(block.ln_1(captured["x"]), w_v, b_v)[:, 1:].reshape(2, 14, 14, width)
    torch.testing.assert_close(backbone.encode_views(views), expected, rtol=1e-4, atol=1e-4)


def test_clip_at_336_resizes_position_embeddings_to_a_21_grid(open_clip_models):
    backbone = ClipBackbone(open_clip_model(open_clip_models, "clip"), None)
    assert backbone.crop_size == 336 and backbone.grid_size == 21
    assert backbone._positional.shape == (21 * 21 + 1, 768)
    assert backbone.encode_views(torch.randn(1, 3, 336, 336)).shape == (1, 21, 21, 768)


@pytest.mark.parametrize("kind", ["siglip2", "pe"])
def test_attention_pool_fast_path_equals_the_models_pool_with_constant_keys_and_binary_mask(kind, open_clip_models):
    model = open_clip_model(open_clip_models, kind)
    backbone = (Siglip2Backbone if kind == "siglip2" else PerceptionEncoderBackbone)(model, None)
    trunk = model.visual.trunk
    pool = copy.deepcopy(trunk.attn_pool)
    width = pool.kv.weight.shape[1]
    with torch.no_grad():  # constant keys: every in-mask token gets the same attention weight
        pool.kv.weight[:width] = 0.0
        pool.kv.bias[:width] = 0.0
    pool.mlp = None  # DESIGN 1.5: the pooler MLP is skipped
    features = torch.randn(40, width)
    binary = torch.zeros(3, 40)
    binary[0, :7], binary[1, 10:30], binary[2, [1, 5, 39]] = 1.0, 1.0, 1.0
    soft = binary * torch.rand(3, 40).clamp_min(0.1)  # only the support matters for SigLIP2 / PE
    expected = []
    with torch.no_grad():
        for row in binary.bool():
            pooled = pool(features[row][None])  # the model's own attention pool on in-mask tokens
            head = model.visual.head(trunk.head(trunk.head_drop(trunk.fc_norm(pooled))))
            expected.append(F.normalize(head, dim=-1)[0])
    torch.testing.assert_close(backbone.pool(soft, features), torch.stack(expected), rtol=1e-4, atol=1e-5)


def test_attention_pool_features_are_the_trunks_normed_patch_tokens(open_clip_models):
    model = open_clip_model(open_clip_models, "pe")
    backbone = PerceptionEncoderBackbone(model, None)
    views = torch.randn(1, 3, 384, 384)
    with torch.no_grad():
        expected = model.visual.trunk.forward_features(views)[:, 1:]  # PE has one CLS prefix token
    torch.testing.assert_close(backbone.encode_views(views).reshape(1, -1, expected.shape[-1]), expected)


def test_siglip2_logit_affine_is_exp_scale_and_bias(open_clip_models):
    model = open_clip_model(open_clip_models, "siglip2")
    scale, bias = Siglip2Backbone(model, None).logit_affine()
    assert scale == pytest.approx(float(model.logit_scale.detach().exp()))
    assert bias == pytest.approx(float(model.logit_bias.detach()))
    assert ClipBackbone(open_clip_model(open_clip_models, "clip"), None).logit_affine() is None


# -- global-patch removal -----------------------------------------------------------------------
def test_mean_region_similarity_equals_the_explicit_n_by_n_formula():
    features = torch.randn(60, 16)
    inside = (torch.rand(5, 60) > 0.6).float()
    unit = F.normalize(features, dim=-1)
    explicit = (unit @ unit.T) @ inside.T / inside.sum(1).clamp_min(1)  # S B^T / |r|
    torch.testing.assert_close(mean_region_similarity(features, inside), explicit, rtol=1e-4, atol=1e-5)


def test_global_patch_removal_drops_a_token_as_similar_to_other_regions_as_to_its_own():
    directions = torch.eye(4)[:3]
    region_tokens = [directions[r] + 0.05 * torch.randn(20, 4) for r in range(3)]
    global_token = directions.sum(0, keepdim=True)  # cos 0.577 with every region's tokens
    features = torch.cat(region_tokens + [global_token])  # tokens 0-59 in regions, 60 global
    weights = torch.zeros(3, 61)
    for r in range(3):
        weights[r, r * 20:(r + 1) * 20] = 1.0
    weights[0, 60] = 0.5  # region 0's mask also covers the global token
    removed = global_token_mask(features, weights, threshold=0.07)
    assert removed.tolist() == [False] * 60 + [True]


def test_global_patch_threshold_below_every_margin_removes_nothing():
    features = torch.randn(30, 8)
    weights = (torch.rand(4, 30) > 0.5).float()
    assert not global_token_mask(features, weights, threshold=-10.0).any()


# -- rescale, tiling and fusion -----------------------------------------------------------------
def test_rescale_keeps_aspect_and_honours_both_bounds():
    assert rescaled_size(480, 640, (2016, 672)) == (672, 896)  # short side binds, enlarged
    assert rescaled_size(1000, 4000, (2016, 672)) == (504, 2016)  # long side binds
    assert rescaled_size(672, 896, (2016, 672)) == (672, 896)


def test_rescaled_size_rounds_half_up_like_mmcv():
    # factor 672 / 448 = 1.5: the width 1003 * 1.5 = 1504.5 becomes int(1504.5 + 0.5) = 1505 (round() gives 1504)
    assert rescaled_size(448, 1003, (2016, 672)) == (672, 1505)


def _rgb(rows: list[list[int]]) -> torch.Tensor:
    """A grey HxWx3 uint8 image from rows of values."""
    return torch.tensor(rows, dtype=torch.uint8)[..., None].expand(-1, -1, 3).contiguous()


def test_rescale_is_bilinear_without_antialias():
    # 8 -> 2 columns: half-pixel centres at source x = 1.5 and 5.5, so each output pixel is the mean of
    # columns (1, 2) and (5, 6) only; an antialiased downscale would also weigh the columns around them
    image = _rgb([[0, 0, 100, 200, 0, 0, 100, 255]] * 2)
    assert resize_linear_uint8(image, (1, 2))[..., 0].tolist() == [[50, 50]]


def test_rescale_reproduces_cv2_inter_linear_fixed_point_rounding():
    # Expected values from cv2.resize(image, (3, 3), interpolation=cv2.INTER_LINEAR), opencv 4.14:
    # float bilinear gives 89.5 and 53.67 where cv2's 11-bit fixed point gives 89 and 53
    image = _rgb([[85, 110, 159, 122, 67], [40, 177, 188, 8, 29]])
    assert resize_linear_uint8(image, (3, 3))[..., 0].tolist() == [[93, 159, 85], [89, 174, 53], [86, 188, 22]]


def test_rescale_is_float_bilinear_up_to_one_grey_level():
    image = torch.randint(0, 256, (37, 53, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    for size in ((18, 26), (91, 130)):
        exact = F.interpolate(image.permute(2, 0, 1)[None].float(), size=size, mode="bilinear",
                              align_corners=False, antialias=False)[0].permute(1, 2, 0)
        assert (resize_linear_uint8(image, size).float() - exact).abs().max() < 1.0


def test_an_image_already_at_the_rescaled_size_is_not_resampled():
    image = torch.zeros(6, 8, 3, dtype=torch.uint8)
    assert resize_linear_uint8(image, (6, 8)) is image


def test_multi_resolution_layout_has_global_view_then_row_major_tiles():
    layout = plan_views(672, 896, 336, multi_resolution=True)
    assert layout.tiles == (2, 2) and layout.view_count == 5
    assert layout.tile_boxes == ((0, 336, 0, 448), (0, 336, 448, 896), (336, 672, 0, 448), (336, 672, 448, 896))
    assert layout.grid_shape(21) == (42, 42)


def test_last_tile_is_shifted_back_to_end_at_the_border():
    layout = plan_views(700, 1000, 336, multi_resolution=True)
    assert layout.tiles == (2, 2)
    rows = sorted({(y1, y2) for y1, y2, _, _ in layout.tile_boxes})
    assert rows == [(0, 350), (350, 700)]
    layout = plan_views(1000, 1000, 336, multi_resolution=True)  # ceil(1000/2) = 500
    assert {(x1, x2) for _, _, x1, x2 in layout.tile_boxes} == {(0, 500), (500, 1000)}


def test_resize_mode_uses_the_global_view_only():
    layout = plan_views(480, 640, 336, multi_resolution=False)
    assert layout.view_count == 1 and layout.grid_shape(21) == (21, 21)


def test_views_are_the_whole_image_then_its_tiles():
    image = torch.rand(3, 672, 896)
    views = cut_views(image, plan_views(672, 896, 336, multi_resolution=True))
    assert views[0] is image and len(views) == 5
    torch.testing.assert_close(views[4], image[:, 336:672, 448:896])


@pytest.mark.parametrize("weight", [1.0, 0.5])
def test_fusion_adds_the_weighted_upsampled_global_view_to_each_tile(weight):
    layout = plan_views(672, 896, 336, multi_resolution=True)
    grid = 3
    features = torch.stack([torch.full((grid, grid, 2), float(v)) for v in (1, 10, 20, 30, 40)])
    fused = fuse_views(features, layout, weight)
    assert fused.shape == (6, 6, 2)
    assert fused[0, 0, 0] == weight + 10 and fused[0, 5, 0] == weight + 20
    assert fused[5, 0, 0] == weight + 30 and fused[5, 5, 1] == weight + 40


# -- masks --------------------------------------------------------------------------------------
def test_exclusive_boxes_are_tight_with_far_edges_one_past_the_mask():
    masks = torch.zeros(2, 8, 10, dtype=torch.bool)
    masks[0, 2:5, 3:9] = True
    assert exclusive_boxes(masks).tolist() == [[3.0, 2.0, 9.0, 5.0], [0.0, 0.0, 0.0, 0.0]]


def test_inclusive_boxes_end_on_the_last_mask_pixel_like_sam2():
    masks = torch.zeros(3, 8, 10, dtype=torch.bool)
    masks[0, 2:5, 3:9] = True
    masks[1, 7, 9] = True  # one pixel in the corner
    assert inclusive_boxes(masks).tolist() == [[3.0, 2.0, 8.0, 4.0], [9.0, 7.0, 9.0, 7.0], [0.0, 0.0, 0.0, 0.0]]


def test_stability_is_the_ratio_of_the_offset_thresholded_areas():
    logits = torch.full((1, 4, 4), -5.0)
    logits[0, :2, :] = 2.0  # 8 pixels > +1
    logits[0, 2, :] = 0.0  # 4 more pixels > -1
    assert stability_scores(logits).tolist() == [pytest.approx(8 / 12)]


def _squares(*squares: tuple[int, int, int], size: int = 256) -> torch.Tensor:
    """Low-res logits [M,size,size]: +3 inside each (top, left, side) square, -10 elsewhere."""
    logits = torch.full((len(squares), size, size), -10.0)
    for index, (top, left, side) in enumerate(squares):
        logits[index, top:top + side, left:left + side] = 3.0
    return logits


def _select(logits: torch.Tensor, iou: list[float], min_mask_area: int = 0,
            box_nms_thresh: float = 0.9) -> MaskProposals:
    count = logits.shape[0]
    return select_masks(logits.half(), torch.tensor(iou), torch.ones(count), torch.full((count,), 2),
                        box_nms_thresh=box_nms_thresh, min_mask_area=min_mask_area, points=count)


def test_a_small_mask_suppresses_a_larger_one_before_the_area_filter_drops_it():
    logits = _squares((40, 40, 20), (40, 40, 20))  # two 20 x 20 squares, area 400 each
    logits[0, 41:59, 41:59] = -10.0  # mask 0 keeps only the outline: the same box, area 76
    proposals = _select(logits, [0.95, 0.90], min_mask_area=100)
    # NMS first: the outline (higher predicted IoU, same box) suppresses the square; then the area
    # filter drops the outline, so nothing survives. Filtering areas before NMS would keep the square.
    assert len(proposals) == 0


def test_box_nms_measures_sam2_inclusive_boxes():
    # 19 x 19 inside 20 x 20: exclusive boxes overlap by 361 / 400 = 0.9025 > 0.9 (suppressed), SAM2's
    # inclusive boxes by 18 * 18 / (19 * 19) = 0.8975 <= 0.9 (both kept, as in the reference)
    proposals = _select(_squares((40, 40, 19), (40, 40, 20)), [0.95, 0.90])
    assert len(proposals) == 2
    assert proposals.boxes.tolist() == [[40.0, 40.0, 58.0, 58.0], [40.0, 40.0, 59.0, 59.0]]


def test_masks_at_or_below_min_mask_area_are_dropped():
    proposals = _select(_squares((10, 10, 10), (100, 100, 11)), [0.9, 0.8], min_mask_area=100)
    assert proposals.iou.tolist() == [pytest.approx(0.8)]  # area 100 dropped, 121 kept


def _proposals(logits: torch.Tensor) -> MaskProposals:
    count = logits.shape[0]
    return MaskProposals(logits.half(), torch.linspace(0.9, 0.8, count), torch.ones(count),
                         inclusive_boxes(logits > 0), torch.full((count,), 2), points=count, candidates=3 * count)


def test_nested_masks_fuse_into_their_elementwise_max():
    logits = torch.full((3, 32, 32), -10.0)
    logits[0, 4:28, 4:28] = 3.0  # object
    logits[1, 8:24, 8:24] = 3.0  # its part, inside the object
    logits[2, 0:3, 29:32] = 3.0  # elsewhere
    proposals = _proposals(logits)
    masks = soft_masks(proposals, (32, 32))
    fused = fuse(proposals, masks, threshold=0.8)
    assert fused.groups == [[0, 1], [2]]
    torch.testing.assert_close(fused.masks[0], torch.maximum(masks[0], masks[1]))
    assert fuse(proposals, masks, 0.8, enabled=False).groups == [[0], [1], [2]]


def test_overlapping_but_not_contained_masks_stay_apart():
    logits = torch.full((2, 32, 32), -10.0)
    logits[0, 0:20, 0:20] = 3.0
    logits[1, 10:30, 10:30] = 3.0  # box IoU about 0.14 < 0.2 and containment 0.25
    proposals = _proposals(logits)
    assert fuse(proposals, soft_masks(proposals, (32, 32)), threshold=0.8).groups == [[0], [1]]


def test_fusion_box_iou_gate_measures_sam2_inclusive_boxes():
    logits = torch.full((2, 32, 32), -10.0)
    logits[0, 4:14, 4:14] = 3.0  # 10 x 10
    logits[1, 6:11, 6:11] = 3.0  # 5 x 5 inside it: containment 1
    # box IoU 25 / 100 = 0.25 > 0.2 on exclusive boxes, 4 * 4 / (9 * 9) = 0.198 on SAM2's inclusive boxes:
    # the gate keeps them apart, as in the reference
    proposals = _select(logits, [0.9, 0.8], box_nms_thresh=0.0)
    assert fuse(proposals, soft_masks(proposals, (32, 32)), threshold=0.8).groups == [[0], [1]]


def test_all_zero_masks_are_skipped_by_fusion():
    logits = torch.full((2, 16, 16), -10.0)
    logits[1, 2:9, 2:9] = 3.0
    proposals = _proposals(logits)
    assert fuse(proposals, soft_masks(proposals, (16, 16)), threshold=0.8).groups == [[1]]


def test_soft_masks_are_clamped_logits_between_zero_and_three():
    logits = torch.tensor([[[-5.0, 0.5], [2.0, 9.0]]])
    assert soft_masks(_proposals(logits), (2, 2))[0].tolist() == [[0.0, 0.5], [2.0, 3.0]]


def test_working_size_caps_the_long_side_and_keeps_small_images_exact():
    assert working_size((480, 640)) == (480, 640)
    assert working_size((3000, 4000)) == (768, 1024)


def test_banded_bilinear_equals_torch_interpolate():
    x = torch.randn(3, 7, 11)
    expected = F.interpolate(x[None], size=(50, 23), mode="bilinear", align_corners=False)[0]
    bands = list(bilinear_bands(x, (50, 23), band_rows=7))
    assert [y0 for y0, _ in bands] == list(range(0, 50, 7))
    torch.testing.assert_close(torch.cat([band for _, band in bands], dim=1), expected, rtol=1e-5, atol=1e-5)


# -- segmentation and grounding on hand-built regions -------------------------------------------
def _regions(masks: torch.Tensor, tokens: torch.Tensor, image_size=None) -> Regions:
    count = masks.shape[0]
    return Regions(tokens=F.normalize(tokens, dim=-1), masks=masks, boxes=exclusive_boxes(masks > 0),
                   areas=(masks > 0).flatten(1).sum(1), predicted_iou=torch.ones(count), stability=torch.ones(count),
                   image_size=image_size or tuple(masks.shape[-2:]))


def _left_right_regions() -> Regions:
    masks = torch.zeros(2, 10, 20)
    masks[0, :, :8] = 3.0  # left: "mug"
    masks[1, :, 12:] = 3.0  # right: "sky"; columns 8-11 are covered by nothing
    return _regions(masks, torch.eye(4)[:2])


def test_segmentation_labels_each_region_with_its_best_query_and_leaves_uncovered_pixels_unlabeled():
    queries = parse_queries(["mug", "background; sky; wall"])
    text = torch.eye(4)[[0, 2, 1, 3]]  # mug = e0; background = e2, sky = e1, wall = e3
    seg = segment(_left_right_regions(), queries, text, temperature=50.0, prob_threshold=0.0)
    assert seg.labels.shape == (10, 20) and seg.classes == ("mug", "background; sky; wall")
    assert (seg.labels[:, :8] == 0).all()
    assert (seg.labels[:, 12:] == 1).all()  # the background class, through its synonym "sky"
    assert (seg.labels[:, 9:11] == -1).all() and (seg.confidence[:, 9:11] == 0).all()


def test_synonym_probabilities_are_max_pooled_not_summed():
    queries = parse_queries(["mug", "background; sky; wall"])
    text = torch.eye(4)[[0, 2, 1, 3]]
    seg = segment(_left_right_regions(), queries, text, temperature=50.0, prob_threshold=0.0)
    # on the right region "sky" has cos 1, the others 0: softmax over 4 phrases gives e^50/(e^50+3)
    expected = np.exp(50.0) / (np.exp(50.0) + 3.0)
    assert seg.confidence[0, 15] == pytest.approx(expected, rel=1e-5)


def test_prob_threshold_unlabels_uncertain_pixels():
    queries = parse_queries(["mug", "cup"])
    text = F.normalize(torch.tensor([[1.0, 0.02, 0, 0], [1.0, 0.0, 0, 0]]), dim=-1)  # nearly tied
    regions = _left_right_regions()
    assert (segment(regions, queries, text, 50.0, prob_threshold=0.0).labels[:, :8] >= 0).all()
    assert (segment(regions, queries, text, 50.0, prob_threshold=0.9).labels[:, :8] == -1).all()


def test_segmentation_is_computed_at_image_size_from_working_resolution_masks():
    regions = _left_right_regions()
    regions.image_size = (40, 80)  # masks are at 10 x 20 working resolution
    seg = segment(regions, parse_queries(["mug", "sky"]), torch.eye(4)[:2], 50.0, 0.0)
    assert seg.labels.shape == (40, 80)
    assert (seg.labels[:, :28] == 0).all() and (seg.labels[:, 52:] == 1).all()


def test_segmentation_of_zero_regions_is_all_unlabeled():
    regions = _regions(torch.zeros(0, 6, 9), torch.zeros(0, 4))
    seg = segment(regions, parse_queries(["mug"]), torch.eye(4)[:1], 50.0, 0.0)
    assert (seg.labels == -1).all() and seg.labels.shape == (6, 9) and (seg.confidence == 0).all()
    assert ground(regions, parse_queries(["mug"]), torch.eye(4)[:1], seg, "all", 0.0) == []


def test_grounding_box_is_the_tight_box_of_the_largest_connected_component():
    masks = torch.zeros(1, 20, 30)
    masks[0, 2:12, 3:15] = 2.0  # large blob
    masks[0, 16:19, 25:28] = 2.0  # small separate blob
    regions = _regions(masks, torch.eye(4)[:1])
    queries = parse_queries(["mug"])
    seg = segment(regions, queries, torch.eye(4)[:1], 50.0, 0.0)
    (detection,) = ground(regions, queries, torch.eye(4)[:1], seg, "best", 0.0)
    assert detection.box == (3.0, 2.0, 15.0, 12.0)
    assert detection.mask.sum() == 10 * 12 and detection.instance_id == 1


def test_largest_component_counts_diagonal_neighbours_as_connected():
    mask = np.zeros((5, 5), bool)
    mask[0, 0] = mask[1, 1] = mask[2, 2] = True
    mask[4, 3:5] = True
    assert largest_component(mask).sum() == 3


def test_grounding_all_gives_one_detection_per_region_of_a_query():
    masks = torch.zeros(3, 10, 30)
    masks[0, :, 0:8], masks[1, :, 10:18], masks[2, :, 20:28] = 3.0, 3.0, 3.0
    tokens = torch.tensor([[1.0, 0, 0, 0], [1.0, 0.05, 0, 0], [0, 1.0, 0, 0]])
    regions = _regions(masks, tokens)
    queries = parse_queries(["mug", "table"])
    text = torch.eye(4)[:2]
    seg = segment(regions, queries, text, 50.0, 0.0)
    detections = ground(regions, queries, text, seg, "all", 0.0)
    assert sorted((d.query, d.region_index) for d in detections) == [("mug", 0), ("mug", 1), ("table", 2)]
    assert all(0.0 <= d.score <= 1.0 for d in detections)
    best = ground(regions, queries, text, seg, "best", 0.0)
    assert sorted((d.query, d.region_index) for d in best) == [("mug", 0), ("table", 2)]


def test_region_id_image_names_the_strongest_region_and_zero_for_none():
    masks = torch.zeros(2, 4, 6)
    masks[0, :, :4] = 1.0
    masks[1, :, 2:5] = 2.0  # overlaps region 0 in columns 2-3 with a larger weight
    ids = _regions(masks, torch.eye(4)[:2]).region_id_image()
    assert ids.dtype == np.uint16
    assert ids[0].tolist() == [1, 1, 2, 2, 2, 0]


def _six_cells() -> torch.Tensor:
    """Regions 1..6, one per cell of a 2 x 3 working grid, row-major."""
    return torch.eye(6).reshape(6, 2, 3)


def test_region_id_image_upsamples_with_pixel_centres_aligned():
    # 2 x 3 -> 3 x 4: image row i takes working row floor((i + 0.5) * 2 / 3) = 0, 1, 1 and column j
    # takes floor((j + 0.5) * 3 / 4) = 0, 1, 1, 2 (edge-aligned 'nearest' would give rows 0, 0, 1 and
    # columns 0, 0, 1, 2)
    ids = _regions(_six_cells(), torch.eye(6), image_size=(3, 4)).region_id_image()
    assert ids.tolist() == [[1, 2, 2, 3],
                            [4, 5, 5, 6],
                            [4, 5, 5, 6]]


def test_detection_mask_upsamples_with_pixel_centres_aligned():
    work = np.array([[False, True, False],
                     [False, False, True]])
    expected = [[False, True, True, False],
                [False, False, False, True],
                [False, False, False, True]]
    explicit = Detection(query="mug", class_index=0, score=1.0, box=(0.0, 0.0, 4.0, 3.0), region_index=0,
                         image_size=(3, 4), mask_work=work)
    assert explicit.mask.tolist() == expected
    regions = _regions(_six_cells(), torch.eye(6), image_size=(3, 4))
    from_region = Detection(query="mug", class_index=0, score=1.0, box=(1.0, 0.0, 3.0, 1.0), region_index=1,
                            image_size=(3, 4), region_masks=regions.masks)
    assert from_region.mask.tolist() == [[False, True, True, False],
                                         [False, False, False, False],
                                         [False, False, False, False]]


# -- queries ------------------------------------------------------------------------------------
def test_query_text_splits_on_commas_and_keeps_synonyms_together():
    assert split_query_text(" mug, table; desk ,chair") == ["mug", "table; desk", "chair"]


def test_queries_are_parsed_into_classes_and_synonym_phrases():
    parsed = parse_queries(["mug", "table;  desk", "  café au lait "])
    assert parsed.classes == ("mug", "table; desk", "café au lait")
    assert parsed.phrases == ("mug", "table", "desk", "café au lait")
    assert parsed.phrase_class == (0, 1, 1, 2)


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        (["mug", ""], "query 2 is empty"),
        (["   "], "query 1 is empty"),
        (["mug", "Mug"], "duplicate query phrase 'Mug'"),
        (["cup", "mug; cup"], "duplicate query phrase 'cup'"),
        (["a;;b"], "empty synonym"),
        ("mug, table", "not one string"),
        ([3], "not a string"),
    ],
)
def test_bad_queries_raise_a_clear_query_error(queries, message):
    with pytest.raises(QueryError, match=message):
        parse_queries(queries)
