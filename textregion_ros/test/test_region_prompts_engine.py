"""region_prompts in the engine: a keyframe is the grid bit for bit; a non-keyframe's decoder gets
exactly the previous regions' boxes and the uncovered grid points, padded to a fixed batch size;
its counts ride on Regions.prompts; bad values are refused with a reason."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from engine_fixtures import photo_like

from textregion_ros.engine import ConfigError, EngineConfig
from textregion_ros.engine.region_prompts import PROMPT_BUCKETS, PromptBasis, RegionPrompts, bucket_plan
from textregion_ros.perception.prompt_policy import PreviousRegions, tracks_prompts

QUERIES = ["mug", "table", "floor"]
SIDE = 4


@pytest.fixture(scope="module")
def grid_engine(engine_factory):
    return engine_factory("pe", points_per_side=SIDE)


@pytest.fixture(scope="module")
def tracks_engine(engine_factory):
    return engine_factory("pe", points_per_side=SIDE, region_prompts="tracks")


class DecoderSpy:
    """Records the prompts of every decoder call and passes them on."""

    def __init__(self, decoder):
        self.decoder, self.calls = decoder, []

    def __call__(self, coords, labels, *rest):
        self.calls.append((coords.clone(), labels.clone()))
        return self.decoder(coords, labels, *rest)


@pytest.fixture
def spy(tracks_engine):
    original = tracks_engine.masks.forwards
    spy = DecoderSpy(original.decoder)
    tracks_engine.masks.forwards = type(original)(original.encoder, spy)
    yield spy
    tracks_engine.masks.forwards = original


def previous_of(regions, track_ids=None) -> PreviousRegions:
    ids = np.arange(1, len(regions) + 1, dtype=np.uint32) if track_ids is None else track_ids
    return PreviousRegions(0, regions.image_size, (), True, regions.prompt_basis, ids)


def test_a_keyframe_equals_grid_mode(grid_engine, tracks_engine):
    image = photo_like()
    grid = grid_engine.regions(image)
    key = tracks_engine.regions(image, RegionPrompts.keyframe("first frame"))
    assert len(grid) > 0
    assert torch.equal(grid.masks, key.masks)
    assert torch.equal(grid.tokens, key.tokens)
    assert np.array_equal(grid_engine.segment(grid, QUERIES).labels, tracks_engine.segment(key, QUERIES).labels)
    assert key.prompts.keyframe and key.prompts.reason == "first frame" and key.prompts.decoded == SIDE**2


def test_grid_mode_leaves_no_prompt_basis_and_tracks_mode_does(grid_engine, tracks_engine):
    image = photo_like()
    assert grid_engine.regions(image).prompt_basis is None
    basis = tracks_engine.regions(image).prompt_basis
    assert basis.covers.shape[1] == SIDE**2 and basis.boxes_sam2.shape[1] == 4


def test_the_prompt_basis_says_which_grid_points_each_region_covers(tracks_engine):
    regions = tracks_engine.regions(photo_like())
    basis = regions.prompt_basis
    assert basis.covers.shape[0] == len(regions)
    masks = regions.masks > 0
    h, w = masks.shape[-2:]
    size = tracks_engine.masks.input_size
    for p, (x, y) in enumerate(tracks_engine.masks.grid_points().tolist()):
        row, col = int(y * h / size), int(x * w / size)
        assert np.array_equal(basis.covers[:, p], masks[:, row, col].numpy())


def test_a_non_keyframe_decoder_receives_the_previous_boxes_and_the_uncovered_points(tracks_engine, spy):
    image = photo_like()
    first = tracks_engine.regions(image)
    prompts = tracks_prompts(previous_of(first), max_prompts=64)
    spy.calls.clear()
    tracks_engine.regions(image, prompts)
    (coords, labels), = spy.calls
    boxes = len(first)
    uncovered = np.flatnonzero(~first.prompt_basis.covers.any(axis=0))
    real = boxes + uncovered.size
    assert coords.shape[0] == min(b for b in PROMPT_BUCKETS if b >= real)  # padded to a bucket
    assert torch.allclose(coords[:boxes].reshape(boxes, 4), torch.from_numpy(first.prompt_basis.boxes_sam2))
    assert labels[:boxes].tolist() == [[2, 3]] * boxes
    grid = tracks_engine.masks.grid_points()
    assert torch.equal(coords[boxes:real, 0], grid[torch.from_numpy(uncovered)])
    assert labels[boxes:real].tolist() == [[1, -1]] * uncovered.size
    assert (labels[real:] == -1).all()  # padding: not-a-point prompts


def test_a_non_keyframe_records_its_prompt_counts(tracks_engine):
    image = photo_like()
    first = tracks_engine.regions(image)
    ids = np.zeros(len(first), np.uint32)
    ids[:1] = 7  # one tracked region
    prompts = tracks_prompts(previous_of(first, ids), max_prompts=64)
    record = tracks_engine.regions(image, prompts).prompts
    assert not record.keyframe and record.mode == "tracks"
    assert record.from_tracks == 1
    assert record.discovery == int((~first.prompt_basis.covers.any(axis=0)).sum())
    assert record.decoded == record.from_tracks + record.discovery and record.skipped == 0
    assert record.padded in PROMPT_BUCKETS


def test_padding_changes_no_proposal(tracks_engine):
    """Padded to a bucket, or one prompt per decoder call (points_per_batch 1: no padding at all), the
    same prompts give the same proposals: the padding slots' masks never survive."""
    image = photo_like()
    first = tracks_engine.regions(image)
    prompts = tracks_prompts(previous_of(first), max_prompts=64)
    features = tracks_engine.masks.encode(tracks_engine.prepare_frame(image).image)
    padded = tracks_engine.masks.decode(features, prompts)
    config = tracks_engine.config
    try:
        tracks_engine.apply_config(dataclasses.replace(config, points_per_batch=1))
        single = tracks_engine.masks.decode(features, prompts)
    finally:
        tracks_engine.apply_config(config)
    assert padded.padded > len(prompts) and single.padded == len(prompts)
    assert len(padded) == len(single) > 0
    assert torch.allclose(padded.logits.float(), single.logits.float(), atol=0.05)
    assert torch.allclose(padded.iou, single.iou, atol=1e-4)


def test_switching_modes_at_run_time(tracks_engine):
    image = photo_like()
    config = tracks_engine.config
    try:
        tracks_engine.apply_config(dataclasses.replace(config, region_prompts="grid"))
        regions = tracks_engine.regions(image)
        assert regions.prompts.mode == "grid" and regions.prompt_basis is None
    finally:
        tracks_engine.apply_config(config)
    assert tracks_engine.regions(image).prompts.mode == "tracks"


def test_bucket_plan_pads_to_fixed_sizes_and_chunks_the_rest():
    assert bucket_plan(0, 64) == []
    assert bucket_plan(5, 64) == [(0, 5, 16)]
    assert bucket_plan(33, 64) == [(0, 33, 64)]
    assert bucket_plan(70, 64) == [(0, 64, 64), (64, 6, 16)]
    assert bucket_plan(5, 8) == [(0, 5, 8)]  # a smaller points_per_batch is its own largest size


@pytest.mark.parametrize("values, words", [
    ({"region_prompts": "boxes"}, "region_prompts must be one of grid, tracks"),
    ({"max_prompts": 0}, "max_prompts must be from 1"),
])
def test_bad_values_are_refused_with_a_reason(values, words):
    with pytest.raises(ConfigError, match=words):
        EngineConfig(**values)


def test_point_prompts_out_of_the_grid_are_refused(tracks_engine):
    prompts = RegionPrompts(False, "", np.zeros((0, 4), np.float32), np.array([SIDE**2]), 0)
    with pytest.raises(ValueError, match="grid points"):
        tracks_engine.masks.prompt_tensors(prompts, 16)


def test_an_empty_basis_prompts_every_grid_point():
    basis = PromptBasis(np.zeros((0, 4), np.float32), np.zeros((0, 9), bool), 3)
    prompts = tracks_prompts(PreviousRegions(0, (8, 8), (), True, basis, np.zeros(0, np.uint32)), 64)
    assert prompts.points.tolist() == list(range(9)) and prompts.boxes.shape == (0, 4)
