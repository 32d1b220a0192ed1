"""The engine end to end with real SAM2 and open_clip architectures (random weights, CPU)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from engine_fixtures import open_clip_model, photo_like, small_config
from textregion_ros.engine import EngineError, ImageError, QueryError, TextRegionEngine
from textregion_ros.engine.rescale import resize_linear_uint8
from textregion_ros.engine.templates import IMAGENET_TEMPLATES

QUERIES = ["red mug", "table; desk"]


@pytest.mark.parametrize("backbone", ["clip", "siglip2", "pe"])
def test_every_backbone_turns_an_image_into_regions_labels_and_detections(backbone, engine_factory):
    engine = engine_factory(backbone)
    rgb = photo_like(96, 128)
    regions = engine.regions(rgb)

    assert len(regions) >= 1
    assert regions.tokens.shape == (len(regions), engine.backbone.embed_dim)
    torch.testing.assert_close(regions.tokens.norm(dim=1), torch.ones(len(regions)))
    assert regions.masks.shape == (len(regions), 96, 128) and float(regions.masks.max()) <= 3.0
    assert ((regions.boxes[:, 2] > regions.boxes[:, 0]) & (regions.boxes[:, 3] > regions.boxes[:, 1])).all()
    assert (regions.boxes[:, 2] <= 128).all() and (regions.boxes[:, 3] <= 96).all() and (regions.areas > 0).all()
    assert set(regions.timings) >= {"sam2_encode", "sam2_decode_filter", "mask_fusion", "image_encoder", "pooling"}

    segmentation = engine.segment(regions, QUERIES)
    assert segmentation.labels.shape == (96, 128) and segmentation.classes == tuple(QUERIES)
    assert set(np.unique(segmentation.labels)) <= {-1, 0, 1}
    assert ((segmentation.confidence >= 0) & (segmentation.confidence <= 1)).all()

    detections = engine.ground(regions, QUERIES, segmentation=segmentation)
    assert detections and {d.query for d in detections} <= set(QUERIES)
    ids = regions.region_id_image()
    for detection in detections:
        assert 0 <= detection.region_index < len(regions) and 0.0 <= detection.score <= 1.0
        x1, y1, x2, y2 = detection.box
        assert 0 <= x1 < x2 <= 128 and 0 <= y1 < y2 <= 96
        assert (ids[detection.mask] == detection.instance_id).mean() > 0.5


def test_checkpoints_written_to_disk_load_back_through_the_real_loaders_with_identical_tokens(
    tmp_path, open_clip_models, sam2_tiny
):
    clip_file, sam2_file = tmp_path / "pe_core_t.bin", tmp_path / "sam2_tiny.pt"
    model = open_clip_model(open_clip_models, "pe")
    torch.save(model.state_dict(), clip_file)
    torch.save({"model": sam2_tiny.state_dict()}, sam2_file)

    from_memory = TextRegionEngine(small_config("pe"), clip_model=model, sam2_model=sam2_tiny)
    from_files = TextRegionEngine(small_config("pe", weights=str(clip_file), sam2_weights=str(sam2_file)))

    rgb = photo_like(64, 80, seed=3)
    expected, loaded = from_memory.regions(rgb), from_files.regions(rgb)
    assert len(loaded) == len(expected) >= 1
    assert torch.equal(loaded.tokens, expected.tokens)
    assert torch.equal(loaded.masks, expected.masks)
    assert torch.equal(from_files.encode_text(["red mug"]), from_memory.encode_text(["red mug"]))


def test_no_surviving_mask_is_an_empty_result_all_the_way_through(engine_factory):
    engine = engine_factory("pe", pred_iou_thresh=1.0)  # no predicted IoU exceeds 1
    regions = engine.regions(photo_like(48, 64))
    assert len(regions) == 0 and regions.stats["candidates"] == 27 and regions.stats["proposals"] == 0
    assert regions.tokens.shape == (0, engine.backbone.embed_dim)
    segmentation = engine.segment(regions, QUERIES)
    assert (segmentation.labels == -1).all() and (segmentation.confidence == 0).all()
    assert engine.ground(regions, QUERIES) == []
    assert not regions.region_id_image().any()
    assert "image_encoder" not in regions.timings  # no regions, no image-encoder work


def _pe_model_with_a_live_pooling_path() -> torch.nn.Module:
    """A PE-Core-T whose pooling path (kv, the pool's proj, the head) has unit-gain weights and
    non-zero biases. timm's init (biases 0, weights of std 0.02) hides pooling bugs: with zero
    biases a token's scale never shows after the final normalisation, and with tiny weights the
    biases alone make the token, so a sum instead of a mean, a wrong fusion weight or wrong
    tokens would all pass unseen."""
    import open_clip

    model = open_clip.create_model("PE-Core-T-16-384", pretrained=None).eval()
    trunk = model.visual.trunk
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for layer in (trunk.attn_pool.kv, trunk.attn_pool.proj, trunk.head):
            fan_in = layer.weight.shape[1]
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) / fan_in ** 0.5)
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator))
    return model


def test_a_region_covering_everything_pools_the_mean_of_all_tokens(sam2_tiny):
    # DESIGN.md 1.2-1.5 by hand, with the open_clip model's own modules and none of the engine's:
    # 336 x 448 is at the scale bound already (no rescale) and smaller than a 384 crop, so the
    # global view and the one tile are the same image squashed to 384 x 384 (PE: bilinear,
    # antialiased, 0.5/0.5), and the fused grid is 0.5 x global + tile on the view's 24 x 24 tokens.
    model = _pe_model_with_a_live_pooling_path()
    engine = TextRegionEngine(small_config("pe"), clip_model=model, sam2_model=sam2_tiny)
    rgb = photo_like(336, 448, seed=1)
    token = engine.pool(rgb, np.ones((1, 336, 448), dtype=np.float32))
    assert token.shape == (1, engine.backbone.embed_dim)

    trunk = model.visual.trunk
    pool = trunk.attn_pool
    view = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
    view = (TF.resize(view, [384, 384], interpolation=InterpolationMode.BILINEAR, antialias=True) - 0.5) / 0.5
    with torch.no_grad():
        patches = trunk.forward_features(view[None])[0, trunk.num_prefix_tokens:]  # [576, C], CLS dropped
        fused = 0.5 * patches + patches
        # global-patch removal with one region holding every token: nothing is outside it, so a
        # token goes when its mean cosine to all tokens (S = F F^T, row means) is below 0.07
        unit = fused / fused.norm(dim=1, keepdim=True)
        kept = fused[(unit @ unit.T).mean(dim=1) >= 0.07]
        assert 0 < kept.shape[0] < fused.shape[0]  # this image loses some tokens, not all
        mean = kept.sum(dim=0) / kept.shape[0]
        width = mean.shape[0]
        value = mean @ pool.kv.weight[width:].T + pool.kv.bias[width:]  # W_v x + b_v: kv's value half
        out = value @ pool.proj.weight.T + pool.proj.bias  # the pool's out-projection, its MLP skipped
        projected = out @ trunk.head.weight.T + trunk.head.bias  # PE's projection (visual.proj)
    assert model.visual.head(projected[None]).equal(projected[None])  # open_clip adds nothing after it
    torch.testing.assert_close(token[0], projected / projected.norm(), rtol=1e-4, atol=1e-5)


def _record_first_image(monkeypatch, owner: object, method: str, seen: dict[str, torch.Tensor]) -> None:
    """Wrap owner.method(image) so the first image it gets lands in seen[method]; the call still runs."""
    original = getattr(owner, method)
    monkeypatch.setattr(owner, method, lambda image: (seen.setdefault(method, image), original(image))[1])


def test_sam2_sees_the_rescaled_image_the_encoder_sees_and_results_stay_at_image_size(pe_engine, monkeypatch):
    seen: dict[str, torch.Tensor] = {}
    _record_first_image(monkeypatch, pe_engine.masks, "encode", seen)  # SAM2's input
    _record_first_image(monkeypatch, pe_engine.backbone, "prepare_view", seen)  # the encoder's global view
    rgb = photo_like(96, 128)
    regions = pe_engine.regions(rgb)  # scale (448, 336): 96 x 128 is enlarged 3.5 times to 336 x 448
    expected = resize_linear_uint8(torch.from_numpy(rgb), (336, 448)).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(seen["encode"], expected, rtol=0, atol=0)
    torch.testing.assert_close(seen["prepare_view"], expected, rtol=0, atol=0)
    assert len(regions) >= 1 and regions.masks.shape[-2:] == (96, 128) and regions.image_size == (96, 128)
    assert (regions.boxes[:, 2] <= 128).all() and (regions.boxes[:, 3] <= 96).all()


def test_sam2_sees_the_original_image_in_resize_mode(engine_factory, monkeypatch):
    engine = engine_factory("pe", resize_mode="resize")
    seen: dict[str, torch.Tensor] = {}
    _record_first_image(monkeypatch, engine.masks, "encode", seen)
    rgb = photo_like(48, 64)
    engine.regions(rgb)
    torch.testing.assert_close(seen["encode"], torch.from_numpy(rgb).permute(2, 0, 1).float() / 255, rtol=0, atol=0)


@pytest.mark.parametrize("flip", ["channels", "rows"])
def test_flipped_numpy_views_are_valid_images(pe_engine, flip):
    rgb = photo_like(32, 48, seed=4)
    view = rgb[..., ::-1] if flip == "channels" else rgb[::-1]  # negative strides, no copy
    regions = pe_engine.regions(view)
    expected = pe_engine.regions(np.ascontiguousarray(view))
    assert len(regions) == len(expected) and torch.equal(regions.tokens, expected.tokens)


def test_a_closed_engine_raises_engine_closed(engine_factory):
    engine = engine_factory("pe")
    regions = engine.regions(photo_like(16, 16))
    engine.close()
    for call in (lambda: engine.regions(photo_like(16, 16)), lambda: engine.segment(regions, ["mug"]),
                 lambda: engine.ground(regions, ["mug"]), lambda: engine.encode_text(["mug"]),
                 lambda: engine.pool(photo_like(16, 16), np.ones((1, 16, 16), np.float32))):
        with pytest.raises(EngineError, match="engine closed"):
            call()


def test_caller_masks_that_cover_no_token_get_zero_tokens(pe_engine):
    masks = np.zeros((2, 32, 32), dtype=np.float32)
    masks[1] = 1.0
    tokens = pe_engine.pool(photo_like(32, 32), masks)
    assert tokens[0].abs().sum() == 0 and float(tokens[1].norm()) == pytest.approx(1.0)


@pytest.mark.parametrize("size", [(1, 1), (8, 640), (640, 8)])
def test_tiny_and_extreme_aspect_images_go_through(pe_engine, size):
    rgb = photo_like(*size)
    regions = pe_engine.regions(rgb)
    segmentation = pe_engine.segment(regions, ["red mug"])
    assert segmentation.labels.shape == size and regions.region_id_image().shape == size


def test_duplicate_and_empty_queries_are_rejected_with_the_reason(pe_engine):
    regions = pe_engine.regions(photo_like(32, 32))
    with pytest.raises(QueryError, match="duplicate query phrase 'mug'"):
        pe_engine.segment(regions, ["mug", "mug"])
    with pytest.raises(QueryError, match="query 2 is empty"):
        pe_engine.ground(regions, ["mug", "  "])
    with pytest.raises(QueryError, match="no queries"):
        pe_engine.segment(regions, [])


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 10, 3), np.uint8), "empty image"),
        (np.zeros((10, 10), np.uint8), "HxWx3"),
        (np.zeros((10, 10, 4), np.uint8), "HxWx3"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
    ],
)
def test_bad_images_raise_a_clear_image_error(pe_engine, image, message):
    with pytest.raises(ImageError, match=message):
        pe_engine.regions(image)


def test_text_embeddings_are_normalised_template_averages_and_cached(pe_engine, monkeypatch):
    calls = []
    original = pe_engine.backbone.encode_texts
    monkeypatch.setattr(pe_engine.backbone, "encode_texts", lambda texts: calls.append(len(texts)) or original(texts))
    first = pe_engine.encode_text(["a red chair"])
    again = pe_engine.encode_text(["a red chair"])
    assert calls == [len(IMAGENET_TEMPLATES)]  # 80 templates once, then served from the cache
    assert torch.equal(first, again) and float(first.norm()) == pytest.approx(1.0)
    per_template = original([t.format("a red chair") for t in IMAGENET_TEMPLATES])
    expected = torch.nn.functional.normalize(per_template.mean(0), dim=-1)
    torch.testing.assert_close(first[0], expected)


def test_encode_text_rejects_synonym_lists(pe_engine):
    with pytest.raises(QueryError, match="single phrases"):
        pe_engine.encode_text(["table; desk"])


def test_the_80_imagenet_templates_are_distinct_and_each_takes_the_phrase():
    assert len(IMAGENET_TEMPLATES) == len(set(IMAGENET_TEMPLATES)) == 80
    assert all(t.count("{}") == 1 for t in IMAGENET_TEMPLATES)
    assert IMAGENET_TEMPLATES[0] == "a bad photo of a {}."
