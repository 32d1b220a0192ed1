"""The precision parameter: the per-backbone auto rule, what each choice means per device, and its row.

The CUDA-only cases skip where torch sees no GPU; the rest runs on the CPU with real models.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine_fixtures import open_clip_model, photo_like, small_config
from textregion_ros import params
from textregion_ros.engine import EngineConfig, TextRegionEngine
from textregion_ros.engine.errors import ConfigError
from textregion_ros.engine.precision import (AUTO_ON_CUDA, COSINE_BAR, Measurement, pick_precision,
                                             resolve_precision)

CPU = torch.device("cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
GOOD, BAD = Measurement(COSINE_BAR + 1e-4, False), Measurement(COSINE_BAR - 1e-3, False)


def test_auto_rule_prefers_fp16_when_it_is_within_the_bar():
    assert pick_precision({"fp16": GOOD, "bf16": GOOD}) == "fp16"


def test_auto_rule_falls_back_to_bf16_when_fp16_overflows():
    assert pick_precision({"fp16": Measurement(1.0, overflow=True), "bf16": GOOD}) == "bf16"


def test_auto_rule_falls_back_to_bf16_when_fp16_is_off_the_bar():
    assert pick_precision({"fp16": BAD, "bf16": GOOD}) == "bf16"


def test_auto_rule_keeps_fp32_when_no_reduced_precision_is_within_the_bar():
    assert pick_precision({"fp16": BAD, "bf16": BAD}) == "fp32"


def test_auto_rule_ignores_a_precision_that_was_not_measured():
    assert pick_precision({"bf16": GOOD}) == "bf16"
    assert pick_precision({}) == "fp32"


def test_auto_table_follows_the_reference_clip_fp16_siglip2_and_pe_fp32():
    assert AUTO_ON_CUDA == {"clip": "fp16", "siglip2": "fp32", "pe": "fp32"}


@pytest.mark.parametrize("backbone", params.BACKBONES)
def test_auto_on_the_cpu_is_fp32_for_every_model(backbone):
    chosen = resolve_precision("auto", backbone, CPU)
    assert (chosen.backbone, chosen.sam2) == (torch.float32, torch.float32)


def test_explicit_bf16_on_the_cpu_sets_the_backbone_only_and_sam2_stays_fp32():
    chosen = resolve_precision("bf16", "clip", CPU)
    assert (chosen.backbone, chosen.sam2) == (torch.bfloat16, torch.float32)


def test_explicit_fp16_on_the_cpu_warns_that_it_is_slow(caplog):
    with caplog.at_level("WARNING"):
        assert resolve_precision("fp16", "pe", CPU).backbone == torch.float16
    assert "no fast fp16" in caplog.text


def test_a_reduced_precision_the_device_cannot_run_is_a_clear_error():
    with pytest.raises(ConfigError, match="precision=bf16 on meta: torch cannot autocast"):
        resolve_precision("bf16", "pe", torch.device("meta"))


def test_an_unknown_precision_is_a_clear_error():
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, fp16, bf16"):
        resolve_precision("fp8", "pe", CPU)


def test_precision_replaces_amp_in_the_parameter_table():
    row = params.BY_NAME["precision"]
    assert (row.default, row.choices, row.applies) == ("auto", ("auto", "fp32", "fp16", "bf16"), params.CONFIGURE)
    assert "amp" not in params.BY_NAME


def test_precision_description_names_the_auto_choices():
    description = params.BY_NAME["precision"].description
    assert all(f"{dtype} for" in description for dtype in set(AUTO_ON_CUDA.values()))


def test_engine_config_rejects_an_unknown_precision():
    with pytest.raises(ConfigError, match="precision must be one of"):
        EngineConfig(precision="fp8")


def test_engine_on_the_cpu_runs_the_backbone_in_the_chosen_precision(open_clip_models, sam2_tiny):
    model = open_clip_model(open_clip_models, "clip")
    fp32 = TextRegionEngine(small_config("clip", precision="fp32"), clip_model=model, sam2_model=sam2_tiny)
    bf16 = TextRegionEngine(small_config("clip", precision="bf16"), clip_model=model, sam2_model=sam2_tiny)
    assert bf16.backbone.dtype == torch.bfloat16 and bf16.masks.dtype == torch.float32
    rgb = photo_like(64, 80)
    masks = np.zeros((2, 64, 80), np.float32)
    masks[0, :32], masks[1, :, 40:] = 1.0, 1.0
    reference, reduced = fp32.pool(rgb, masks), bf16.pool(rgb, masks)
    assert reduced.dtype == torch.float32  # pooling and everything after stay fp32
    assert ((reference * reduced).sum(dim=1) > 0.99).all()


@needs_cuda
def test_auto_on_cuda_takes_the_table_and_sam2_in_bf16():
    cuda = torch.device("cuda")
    assert resolve_precision("auto", "clip", cuda).backbone == torch.float16
    assert resolve_precision("auto", "pe", cuda).backbone == torch.float32
    assert resolve_precision("auto", "pe", cuda).sam2 == torch.bfloat16


@needs_cuda
def test_fp32_on_cuda_runs_sam2_in_fp32_too():
    chosen = resolve_precision("fp32", "clip", torch.device("cuda"))
    assert (chosen.backbone, chosen.sam2) == (torch.float32, torch.float32)
