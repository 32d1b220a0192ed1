"""region_prompts tracks through the frame pipeline: the first frame is a keyframe, the next one prompts
from the tracks the first one opened; independent images are all keyframes; switching modes at run
time starts tracks with a keyframe."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from engine_fixtures import photo_like

from textregion_ros.objects import TrackedObjects
from textregion_ros.params import PARAMETERS
from textregion_ros.perception import FrameInput, FramePipeline, PipelineSettings

# keyframes only at the first frame here: random weights cover little of the image
VALUES = {**{p.name: p.default for p in PARAMETERS}, "keyframe_min_coverage": 0.0, "keyframe_interval_s": 60.0}
S = 1_000_000_000


@pytest.fixture(scope="module")
def tracks_engine(engine_factory):
    return engine_factory("pe", points_per_side=4, region_prompts="tracks")


def tracked(engine) -> FramePipeline:
    return FramePipeline(engine, PipelineSettings.from_parameters(VALUES), TrackedObjects.from_parameters(VALUES))


def frame(stamp_s: float, seed: int = 3) -> FrameInput:
    return FrameInput(photo_like(96, 128, seed=seed), int(stamp_s * S), "camera")


def test_the_second_frame_prompts_from_the_tracks_the_first_opened(tracks_engine):
    pipeline = tracked(tracks_engine)
    first = pipeline.observe(frame(0.0))
    assert first.regions.prompts.keyframe and first.regions.prompts.reason == "first frame"
    second = pipeline.observe(frame(0.1))
    record = second.regions.prompts
    assert not record.keyframe
    assert record.from_tracks == int((first.track_ids != 0).sum()) > 0
    assert record.discovery == int((~first.regions.prompt_basis.covers.any(axis=0)).sum())


def test_a_handed_previous_frame_is_used_instead_of_the_last_observed(tracks_engine):
    pipeline = tracked(tracks_engine)
    first = pipeline.observe(frame(0.0))
    pipeline.observe(frame(0.1))
    wide = dataclasses.replace(first.previous, image_size=(1, 1))  # as if the frame before was another size
    assert pipeline.observe(frame(0.2), previous=wide).regions.prompts.reason == "image size changed"


def test_independent_images_are_all_keyframes(tracks_engine):
    pipeline = FramePipeline(tracks_engine, PipelineSettings.from_parameters(VALUES))
    for stamp in (0.0, 0.1):
        record = pipeline.observe(frame(stamp)).regions.prompts
        assert record.keyframe and record.reason == "independent images"


def test_switching_to_tracks_at_run_time_starts_with_a_keyframe(tracks_engine):
    pipeline = tracked(tracks_engine)
    config = tracks_engine.config
    try:
        tracks_engine.apply_config(dataclasses.replace(config, region_prompts="grid"))
        assert pipeline.observe(frame(0.0)).regions.prompts.mode == "grid"
        tracks_engine.apply_config(config)
        record = pipeline.observe(frame(0.1)).regions.prompts
    finally:
        tracks_engine.apply_config(config)
    assert record.mode == "tracks" and record.keyframe
    assert not pipeline.observe(frame(0.2)).regions.prompts.keyframe


def test_a_grid_frame_records_the_full_grid(pe_engine):
    pipeline = tracked(pe_engine)
    record = pipeline.observe(frame(0.0)).regions.prompts
    assert record.mode == "grid" and record.keyframe and record.decoded == pe_engine.config.points_per_side ** 2
    assert np.isclose(record.discovery, record.decoded)


def test_the_tools_summary_counts_keyframes_by_reason_and_prompts_per_frame():
    from textregion_ros.cli.frames import prompt_summary
    from textregion_ros.engine.region_prompts import PromptRecord, grid_record

    records = [grid_record(16, "tracks", "first frame"), PromptRecord("tracks", 6, 4, 2, 1, False, "", 16),
               PromptRecord("tracks", 8, 4, 4, 0, False, "", 16)]
    assert prompt_summary(records) == ("region prompts (tracks): 1/3 keyframes (first frame 1); 10.0 prompts "
                                       "decoded per frame, 7.0 on the others, 1 skipped")
