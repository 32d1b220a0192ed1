"""The engine on a CUDA device (reduced precision) agrees with the CPU fp32 path.

Skipped where torch sees no GPU (CI); run on a GPU machine:
    python -m pytest textregion_ros/test/test_engine_cuda.py
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from engine_fixtures import open_clip_model, photo_like, small_config
from textregion_ros.engine import TextRegionEngine

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _engines(kind, open_clip_models, sam2_tiny, **cuda_overrides):
    model = open_clip_model(open_clip_models, kind)
    cpu = TextRegionEngine(small_config(kind), clip_model=model, sam2_model=sam2_tiny)
    gpu = TextRegionEngine(small_config(kind, device="cuda", **cuda_overrides),
                           clip_model=copy.deepcopy(model), sam2_model=copy.deepcopy(sam2_tiny))
    return cpu, gpu


def _masks(height: int, width: int) -> np.ndarray:
    masks = np.zeros((3, height, width), np.float32)
    masks[0, : height // 2] = 1.0
    masks[1, :, : width // 3] = 0.7
    masks[2, height // 4: 3 * height // 4, width // 4: 3 * width // 4] = 1.0
    return masks


@pytest.mark.parametrize("kind", ["clip", "pe"])
def test_bf16_region_tokens_on_cuda_match_fp32_tokens_on_cpu(kind, open_clip_models, sam2_tiny):
    cpu, gpu = _engines(kind, open_clip_models, sam2_tiny, precision="bf16")
    rgb, masks = photo_like(96, 128), _masks(96, 128)
    cosine = (cpu.pool(rgb, masks) * gpu.pool(rgb, masks).float().cpu()).sum(dim=1)
    assert (cosine > 0.98).all(), cosine


def test_fp32_on_cuda_matches_the_cpu_closely(open_clip_models, sam2_tiny):
    cpu, gpu = _engines("pe", open_clip_models, sam2_tiny, precision="fp32")
    rgb, masks = photo_like(96, 128), _masks(96, 128)
    cosine = (cpu.pool(rgb, masks) * gpu.pool(rgb, masks).cpu()).sum(dim=1)
    assert (cosine > 0.9999).all(), cosine


def test_regions_segmentation_and_grounding_run_on_cuda(open_clip_models, sam2_tiny):
    _, gpu = _engines("pe", open_clip_models, sam2_tiny)
    regions = gpu.regions(photo_like(120, 160))
    assert len(regions) >= 1 and regions.tokens.is_cuda
    assert torch.isfinite(regions.tokens).all()
    torch.testing.assert_close(regions.tokens.norm(dim=1), torch.ones(len(regions), device="cuda"))
    segmentation = gpu.segment(regions, ["red mug", "table; desk"])
    assert segmentation.labels.shape == (120, 160)
    assert gpu.ground(regions, ["red mug", "table; desk"], segmentation=segmentation)
    assert regions.region_id_image().shape == (120, 160)


def test_close_releases_gpu_memory(open_clip_models, sam2_tiny):
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    _, gpu = _engines("pe", open_clip_models, sam2_tiny)
    gpu.regions(photo_like(64, 64))
    assert torch.cuda.memory_allocated() > before
    gpu.close()
    del gpu
    import gc

    gc.collect()
    torch.cuda.empty_cache()
    assert torch.cuda.memory_allocated() <= before + 1024 * 1024
