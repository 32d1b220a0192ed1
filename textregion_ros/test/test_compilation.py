"""Compiled stages (the `compile` parameter): torch.compile'd SAM2 encoder, decoder and image encoder
give the eager results, shape changes recompile or run eager with a log line, a compiler failure
runs the stage eager with a warning, and `off` / `auto` on a CPU compile nothing.

One compiled engine for the module (the smallest config: PE-Core-T, SAM2.1-T at 256, 3 x 3 points
in batches of 4). Compiling it costs minutes on 2 cores the first time; inductor's on-disk cache
(TORCHINDUCTOR_CACHE_DIR) makes later runs much faster.
"""
from __future__ import annotations

import copy
import dataclasses
import logging

import pytest
import torch

from engine_fixtures import open_clip_model, photo_like, small_config
from textregion_ros.engine import EngineConfig, TextRegionEngine
from textregion_ros.engine.compilation import CompiledStage, compile_wanted
from textregion_ros.engine.errors import ConfigError

COMPILE_LOG = "textregion_ros.engine.compilation"
# 9 grid points in batches of 4: the last batch (1 point) is padded to the compiled batch of 4.
SETTINGS = {"points_per_side": 3, "points_per_batch": 4}


@pytest.fixture(scope="module")
def eager(engine_factory):
    return engine_factory("pe", compile="off", **SETTINGS)


@pytest.fixture(scope="module")
def compiled(engine_factory):
    return engine_factory("pe", compile="on", **SETTINGS)


def _assert_same_regions(expected, actual) -> None:
    assert len(actual) == len(expected) >= 1
    assert torch.equal(actual.masks > 0, expected.masks > 0)
    cosine = (actual.tokens * expected.tokens).sum(dim=1)
    assert cosine.min() >= 0.9999, cosine


def _with(engine, **changes):
    engine.apply_config(dataclasses.replace(engine.config, **changes))


# -- the setting -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("setting", "device", "wanted"), [
    ("auto", "cuda", True), ("auto", "cpu", False), ("on", "cpu", True), ("off", "cuda", False)])
def test_auto_compiles_on_cuda_only_and_on_off_are_obeyed(setting, device, wanted):
    assert compile_wanted(setting, torch.device(device)) is wanted


def test_an_unknown_compile_setting_is_rejected_by_the_config():
    with pytest.raises(ConfigError, match="compile"):
        EngineConfig(compile="yes")


def test_auto_on_the_cpu_runs_every_stage_eager(engine_factory):
    engine = engine_factory("pe")
    assert engine.config.compile == "auto"
    assert not engine.compiled.enabled
    assert all(not stage.active and stage.report.mode == "eager" for stage in engine.compiled.stages)


def test_off_runs_every_stage_eager(eager):
    assert not eager.compiled.enabled
    assert all(not stage.active and not stage.report.compiled for stage in eager.compiled.stages)


# -- the compiled engine -----------------------------------------------------------------------------
def test_every_stage_is_compiled_at_configure_and_timed(compiled):
    reports = compiled.compiled.report()
    assert set(reports) == {"sam2_encoder", "sam2_decoder", "image_encoder"}
    for report in reports.values():
        assert report.mode == "compiled" and report.failure is None
        assert len(report.compiled) == 1 and all(seconds > 0 for seconds in report.compiled.values())


def test_compiled_regions_equal_eager_regions(eager, compiled):
    rgb = photo_like(96, 128)
    _assert_same_regions(eager.regions(rgb), compiled.regions(rgb))


def test_the_shorter_last_point_batch_reuses_the_compiled_batch(eager, compiled):
    compiled.regions(photo_like(96, 128))  # batches of 4, 4 and 1 points
    shapes = list(compiled.compiled.sam2_decoder.report.compiled)
    assert len(shapes) == 1 and shapes[0].startswith("[4,1,2] [4,1] ")  # the warm-up's, nothing new


def test_a_new_view_count_recompiles_the_image_encoder_with_a_log_line(eager, compiled, caplog):
    rgb = photo_like(96, 128)
    try:
        for engine in (eager, compiled):
            _with(engine, resize_mode="resize")  # 1 view instead of the warm-up's 2
        with caplog.at_level(logging.INFO, logger=COMPILE_LOG):
            actual = compiled.regions(rgb)
        _assert_same_regions(eager.regions(rgb), actual)
    finally:
        for engine in (eager, compiled):
            _with(engine, resize_mode="multi_resolution")
    assert "image_encoder input shapes changed to [1,3,384,384]" in caplog.text
    assert "[1,3,384,384]" in compiled.compiled.image_encoder.report.compiled


def test_a_shape_past_the_stage_limit_runs_eager_with_a_log_line(eager, compiled, caplog):
    decoder = compiled.compiled.sam2_decoder
    rgb = photo_like(96, 128)
    try:
        decoder.max_shapes = len(decoder.report.compiled)
        for engine in (eager, compiled):
            _with(engine, points_per_side=1)  # one point: a batch of 1, not the compiled 4
        with caplog.at_level(logging.INFO, logger=COMPILE_LOG):
            actual = compiled.regions(rgb)
        _assert_same_regions(eager.regions(rgb), actual)
    finally:
        decoder.max_shapes = 4
        for engine in (eager, compiled):
            _with(engine, points_per_side=SETTINGS["points_per_side"])
    assert "sam2_decoder already has 1 compiled input shapes; [1,1,2] [1,1]" in caplog.text
    assert decoder.active and decoder.report.eager_shapes


def test_tracks_non_keyframes_of_any_prompt_count_share_one_padded_compiled_batch(eager, compiled):
    """region_prompts tracks: prompt counts 2 and 6 both run in batches of 4 (points_per_batch), one graph
    beside the grid's, and give the eager proposals. Runs after the shape-limit test, which counts shapes."""
    import numpy as np

    from textregion_ros.engine.region_prompts import RegionPrompts

    rgb = photo_like(96, 128)
    try:
        for engine in (eager, compiled):
            _with(engine, region_prompts="tracks")
        for count in (2, 6):
            prompts = RegionPrompts(full_grid=False, boxes=np.array([[10, 10, 120, 90]] * (count // 2), np.float32),
                                    points=np.arange(count - count // 2))
            expected, actual = eager.regions(rgb, prompts), compiled.regions(rgb, prompts)
            _assert_same_regions(expected, actual)
    finally:
        for engine in (eager, compiled):
            _with(engine, region_prompts="grid")
    shapes = list(compiled.compiled.sam2_decoder.report.compiled)
    assert [shape.split(" ")[0] for shape in shapes] == ["[4,1,2]", "[4,2,2]"], shapes


# -- compiler failures ---------------------------------------------------------------------------------
def _failing_backend(graph, example_inputs):
    raise RuntimeError("the compiler broke")


def test_a_failing_compile_runs_the_stage_eager_with_a_warning_naming_it(caplog):
    layer = torch.nn.Linear(4, 3).eval()
    stage = CompiledStage("image_encoder", layer, enabled=True, backend=_failing_backend)
    x = torch.randn(2, 4)
    with caplog.at_level(logging.WARNING, logger=COMPILE_LOG), torch.no_grad():
        result = stage(x)
        again = stage(x)
    torch.testing.assert_close(result, layer(x).detach())
    torch.testing.assert_close(again, result)
    assert "image_encoder failed to compile" in caplog.text and "the compiler broke" in caplog.text
    assert not stage.active and stage.report.mode == "failed (eager)"


def test_an_input_the_eager_forward_rejects_too_raises_and_keeps_the_stage_compiling():
    layer = torch.nn.Linear(4, 3).eval()
    stage = CompiledStage("image_encoder", layer, enabled=True, backend=_failing_backend)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"), torch.no_grad():
        stage(torch.randn(2, 5))
    assert stage.active and stage.report.failure is None


# -- CUDA (skipped without a GPU) ------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compiled_regions_equal_eager_regions_on_cuda(open_clip_models, sam2_tiny):
    clip = open_clip_model(open_clip_models, "pe")

    def build(setting: str) -> TextRegionEngine:
        return TextRegionEngine(small_config("pe", device="cuda", compile=setting, **SETTINGS),
                                clip_model=copy.deepcopy(clip), sam2_model=copy.deepcopy(sam2_tiny))

    reference, engine = build("off"), build("auto")
    assert engine.compiled.enabled and not reference.compiled.enabled
    rgb = photo_like(96, 128)
    expected, actual = reference.regions(rgb), engine.regions(rgb)
    assert len(actual) == len(expected) >= 1
    agreement = ((actual.masks > 0) == (expected.masks > 0)).float().mean()
    assert agreement >= 0.999, agreement
    cosine = (actual.tokens * expected.tokens).sum(dim=1)
    assert cosine.min() >= 0.999, cosine  # bf16 on CUDA: compiled and eager kernels round differently
