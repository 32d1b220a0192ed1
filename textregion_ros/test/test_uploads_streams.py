"""Pinned asynchronous frame uploads and the two CUDA streams of a frame: off on the CPU, equal results on CUDA.

The CUDA cases skip where torch sees no GPU (run them with benchmarks/run_gpu_checks.sh).
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from engine_fixtures import open_clip_model, photo_like, small_config
from textregion_ros.engine import TextRegionEngine
from textregion_ros.engine.streams import FrameStreams
from textregion_ros.engine.uploads import FrameUploader

CPU = torch.device("cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_uploader_on_the_cpu_returns_the_frame_itself():
    pixels = torch.from_numpy(photo_like(16, 24))
    uploader = FrameUploader(CPU)
    assert not uploader.enabled
    assert uploader.upload(pixels) is pixels and uploader.allocations == 0


def test_streams_on_the_cpu_run_each_branch_inline_in_order():
    streams, ran = FrameStreams(CPU), []
    image = torch.zeros(3, 4, 4)
    with streams.branch("encoder", image):
        ran.append("encoder")
    with streams.branch("sam2", image):
        ran.append("sam2")
    streams.join()
    assert not streams.enabled and ran == ["encoder", "sam2"]


def test_engine_on_the_cpu_uses_neither_pinned_uploads_nor_streams(pe_engine):
    assert not pe_engine.uploads.enabled and not pe_engine.streams.enabled
    regions = pe_engine.regions(photo_like(48, 64))
    assert pe_engine.uploads.allocations == 0 and regions.tokens.device.type == "cpu"


@needs_cuda
def test_uploads_reuse_one_pinned_buffer_while_the_frame_size_stays():
    uploader = FrameUploader(torch.device("cuda"))
    frames = [torch.from_numpy(photo_like(32, 40, seed)) for seed in range(3)]
    uploaded = [uploader.upload(frame) for frame in frames]
    torch.cuda.synchronize()
    assert uploader.allocations == 1
    for frame, on_device in zip(frames, uploaded):  # a later upload never overwrites an earlier frame
        assert on_device.is_cuda and torch.equal(on_device.cpu(), frame)
    uploader.upload(torch.from_numpy(photo_like(16, 40)))
    assert uploader.allocations == 2


@needs_cuda
def test_regions_on_two_streams_equal_regions_on_one(open_clip_models, sam2_tiny):
    model = open_clip_model(open_clip_models, "pe")
    engine = TextRegionEngine(small_config("pe", device="cuda", precision="fp32"), clip_model=copy.deepcopy(model),
                              sam2_model=copy.deepcopy(sam2_tiny))
    rgb = photo_like(96, 128)
    assert engine.streams.enabled
    parallel = engine.regions(rgb)
    engine.streams = FrameStreams(CPU)  # disabled: every branch on the current stream
    serial = engine.regions(rgb)
    assert len(parallel) == len(serial) >= 1
    torch.testing.assert_close(parallel.masks, serial.masks)
    torch.testing.assert_close(parallel.tokens, serial.tokens)
    assert np.array_equal(parallel.region_id_image(), serial.region_id_image())
