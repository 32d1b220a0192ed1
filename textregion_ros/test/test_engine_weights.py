"""Config validation and where weights come from: clear errors instead of hangs or tracebacks."""
from __future__ import annotations

import logging

import pytest
import torch

from engine_fixtures import small_config
from textregion_ros.engine import ConfigError, EngineConfig, WeightsUnavailableError, config_problems, field_names
from textregion_ros.engine.backbones import load_tokenizer, open_clip_checkpoint
from textregion_ros.engine.devices import resolve_device
from textregion_ros.engine.sam2_loading import load_sam2, load_sam2_checkpoint, sam2_checkpoint_path
from textregion_ros.engine.weights import hub_reachable


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No hub and an empty weights cache, as on a robot without network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return str(tmp_path / "empty_cache")


def test_defaults_are_the_design_table():
    config = EngineConfig()
    assert (config.backbone, config.model, config.weights) == ("clip", "ViT-B-16", "openai")
    assert (config.sam2_model, config.sam2_weights, config.sam2_image_size) == (
        "sam2.1_hiera_t", "facebook/sam2.1-hiera-tiny", 1024)
    assert (config.points_per_side, config.pred_iou_thresh, config.stability_score_thresh) == (16, 0.6, 0.6)
    assert (config.box_nms_thresh, config.min_mask_area, config.fuse_masks, config.fuse_mask_threshold) == (
        0.9, 100, True, 0.8)
    assert (config.resize_mode, config.scale, config.crop_size) == ("multi_resolution", (2016, 672), 0)
    assert (config.remove_global_patches, config.global_patch_threshold, config.clip_pool_mlp) == (True, 0.07, False)
    assert (config.logit_scale, config.prob_threshold, config.grounding_mode, config.device) == (
        50.0, 0.0, "all", "auto")
    assert "points_per_batch" in field_names()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"backbone": "dino"}, "backbone must be one of"),
        ({"sam2_model": "sam3"}, "sam2_model must be one of"),
        ({"sam2_image_size": 1000}, "sam2_image_size must be from 64 to 4096 in steps of 32"),
        ({"device": "gpu"}, "device must be"),
        ({"points_per_side": 0}, "points_per_side"),
        ({"pred_iou_thresh": 1.5}, "pred_iou_thresh must be from 0 to 1"),
        ({"scale": (100, 400)}, "long >= short"),
        ({"resize_mode": "crop"}, "resize_mode"),
        ({"grounding_mode": "some"}, "grounding_mode"),
        ({"logit_scale": 0.0}, "logit_scale"),
    ],
)
def test_invalid_config_values_are_rejected_with_the_field_named(changes, message):
    with pytest.raises(ConfigError, match=message):
        EngineConfig(**changes)


def test_every_problem_is_reported_at_once():
    config = EngineConfig()
    config.points_per_side, config.grounding_mode = -1, "x"
    assert len(config_problems(config)) == 2


def test_from_mapping_ignores_unknown_keys_and_accepts_lists():
    config = EngineConfig.from_mapping({"scale": [1024, 512], "model": "ViT-B-16", "not_a_field": 3})
    assert config.scale == (1024, 512)


def test_sam2_hub_checkpoint_offline_fails_naming_the_file_without_touching_the_network(offline, network_guard):
    with pytest.raises(WeightsUnavailableError,
                       match=r"facebook/sam2\.1-hiera-tiny/resolve/main/sam2\.1_hiera_tiny\.pt"):
        sam2_checkpoint_path(EngineConfig(cache_dir=offline))
    # HF_HUB_OFFLINE: not one lookup or connection, so no hub-client retry loop (about 25 s) either
    assert network_guard.attempts == []


def test_hub_reachability_is_one_connection_attempt_and_false_when_it_is_refused(monkeypatch, network_guard):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert hub_reachable() is False
    assert len(network_guard.attempts) == 1 and "huggingface.co" in network_guard.attempts[0]


def test_open_clip_tag_without_network_names_the_files_and_the_way_out(offline):
    with pytest.raises(WeightsUnavailableError) as error:
        open_clip_checkpoint(EngineConfig(cache_dir=offline))
    message = str(error.value)
    assert "timm/vit_base_patch16_clip_224.openai" in message and "open_clip_pytorch_model.bin" in message
    assert "textregion-download" in message and "weights=random" in message


def test_siglip2_tokenizer_without_network_or_local_directory_says_what_to_set(offline):
    with pytest.raises(WeightsUnavailableError,
                       match="tokenizer.json.*set `tokenizer`|set `tokenizer`.*tokenizer.json"):
        load_tokenizer(EngineConfig(backbone="siglip2", model="ViT-B-16-SigLIP2-256", cache_dir=offline))


def test_unknown_tag_and_unknown_model_are_config_errors():
    with pytest.raises(ConfigError, match=r"not a pretrained tag of ViT-B-16 \(tags: \["):
        open_clip_checkpoint(EngineConfig(weights="imagenet21k"))
    with pytest.raises(ConfigError, match="unknown open_clip model 'ViT-B-61'.*ViT-B-16"):
        open_clip_checkpoint(EngineConfig(model="ViT-B-61"))


def test_missing_local_weights_file_is_named(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(WeightsUnavailableError, match="nope.pt' does not exist"):
        sam2_checkpoint_path(EngineConfig(sam2_weights=str(missing)))
    with pytest.raises(WeightsUnavailableError, match="nope.pt' does not exist"):
        open_clip_checkpoint(EngineConfig(weights=str(missing)))


def test_hub_checkpoint_of_another_sam2_size_is_a_config_error():
    with pytest.raises(ConfigError, match="holds sam2.1_hiera_l, but sam2_model is 'sam2.1_hiera_t'"):
        sam2_checkpoint_path(EngineConfig(sam2_weights="facebook/sam2.1-hiera-large"))


def test_sam2_checkpoint_in_the_wrong_format_or_for_another_model_is_explained(tmp_path, sam2_tiny):
    plain = tmp_path / "plain.pt"
    torch.save(sam2_tiny.state_dict(), plain)  # no {"model": ...} wrapper
    with pytest.raises(WeightsUnavailableError, match="not in the official format"):
        load_sam2_checkpoint(sam2_tiny, plain, "sam2.1_hiera_t")
    truncated = tmp_path / "truncated.pt"
    state = dict(list(sam2_tiny.state_dict().items())[:-5])
    torch.save({"model": state}, truncated)
    with pytest.raises(WeightsUnavailableError, match="does not fit sam2_model 'sam2.1_hiera_t': 5 missing keys"):
        load_sam2_checkpoint(sam2_tiny, truncated, "sam2.1_hiera_t")


def test_random_weights_are_announced_loudly(caplog):
    with caplog.at_level(logging.WARNING):
        load_sam2(small_config(), torch.device("cpu"))
    assert any("RANDOM weights" in r.getMessage() and "meaningless" in r.getMessage() for r in caplog.records)


def test_auto_device_falls_back_to_the_cpu_with_a_warning(caplog, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING):
        assert resolve_device("auto").type == "cpu"
    assert "no CUDA device" in caplog.text
    with pytest.raises(ConfigError, match="sees no CUDA device"):
        resolve_device("cuda:0")
