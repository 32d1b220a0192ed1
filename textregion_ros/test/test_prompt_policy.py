"""Keyframes and non-keyframe prompts of region_prompts tracks (perception/prompt_policy.py): every
keyframe trigger, the prompt cap with tracks first and the skipped count."""
from __future__ import annotations

import numpy as np
import pytest

from textregion_ros.engine.region_prompts import PromptBasis
from textregion_ros.perception.prompt_policy import (
    KeyframeSettings, PreviousRegions, PromptPolicy, discovery_points, tracks_prompts,
)

S = 1_000_000_000
SIDE = 4
SIZE = (48, 64)
KEY = (("points_per_side", SIDE),)


def basis(regions: int = 3, covered: int = 12) -> PromptBasis:
    """`regions` boxes; the first region covers grid points 0..covered-1."""
    covers = np.zeros((regions, SIDE**2), bool)
    if regions:
        covers[0, :covered] = True
    boxes = np.tile(np.arange(regions, dtype=np.float32)[:, None], (1, 4)) + [0, 0, 10, 10]
    return PromptBasis(boxes.astype(np.float32), covers, SIDE)


def previous(stamp_s: float, keyframe: bool = False, track_ids=(1, 2, 3), covered: int = 12, size=SIZE,
             key=KEY) -> PreviousRegions:
    ids = np.asarray(track_ids, np.uint32)
    return PreviousRegions(int(stamp_s * S), size, key, keyframe, basis(len(ids), covered), ids)


def policy(**settings) -> PromptPolicy:
    """A policy whose first frame (a keyframe, at t = 0, tracks 1, 2, 3) has been decided."""
    made = PromptPolicy(KeyframeSettings(**{"interval_s": 10.0, "min_coverage": 0.5, "max_age_s": 3.0, **settings}))
    assert made.prompts(None, 0, SIZE, KEY, 64).reason == "first frame"
    return made


def test_the_first_frame_is_a_keyframe():
    assert PromptPolicy().prompts(None, 0, SIZE, KEY, 64).full_grid


def test_a_frame_after_a_good_previous_frame_is_not_a_keyframe():
    prompts = policy().prompts(previous(0.0, keyframe=True), int(0.1 * S), SIZE, KEY, 64)
    assert not prompts.full_grid


@pytest.mark.parametrize("previous_s, stamp_s, reason", [
    (1.9, 2.0, "interval"), (0.1, 3.5, "stamp jump"), (0.1, -3.5, "new timeline")])
def test_stamp_time_triggers_a_keyframe(previous_s, stamp_s, reason):
    made = policy(interval_s=2.0)
    made.prompts(previous(0.0, keyframe=True), int(0.1 * S), SIZE, KEY, 64)
    assert made.prompts(previous(previous_s), int(1.9 * S), SIZE, KEY, 64).full_grid is False
    assert reason in made.prompts(previous(previous_s), int(stamp_s * S), SIZE, KEY, 64).reason


def test_low_coverage_triggers_a_keyframe():
    prompts = policy().prompts(previous(0.0, keyframe=True, covered=7), int(0.1 * S), SIZE, KEY, 64)
    assert prompts.full_grid and prompts.reason.startswith("coverage 0.44")


def test_losing_half_of_the_keyframes_tracks_triggers_a_keyframe():
    made = policy()
    made.prompts(previous(0.0, keyframe=True, track_ids=(1, 2, 3, 4)), int(0.1 * S), SIZE, KEY, 64)
    assert not made.prompts(previous(0.1, track_ids=(1, 2, 9)), int(0.2 * S), SIZE, KEY, 64).full_grid
    assert "1 of the keyframe's 4 tracks" in made.prompts(previous(0.2, track_ids=(1, 8, 9)), int(0.3 * S), SIZE,
                                                          KEY, 64).reason


def test_an_image_size_change_triggers_a_keyframe():
    assert policy().prompts(previous(0.0, keyframe=True), int(0.1 * S), (96, 128), KEY, 64).reason == \
        "image size changed"


def test_a_region_parameter_change_triggers_a_keyframe():
    other = (("points_per_side", SIDE + 1),)
    assert policy().prompts(previous(0.0, keyframe=True), int(0.1 * S), SIZE, other, 64).reason == \
        "SAM2 or region parameters changed"


def test_a_previous_frame_of_grid_mode_triggers_a_keyframe():
    made = policy()
    grid_frame = PreviousRegions(0, SIZE, KEY, True, None, np.zeros(0, np.uint32))
    assert made.prompts(grid_frame, int(0.1 * S), SIZE, KEY, 64).full_grid


def test_non_keyframe_prompts_are_the_tracked_boxes_then_the_uncovered_points():
    prompts = tracks_prompts(previous(0.0, track_ids=(5, 0, 6)), 64)
    assert prompts.boxes[:, 0].tolist() == [0.0, 2.0]  # regions 0 and 2: the tracked ones
    assert prompts.points.tolist() == [12, 13, 14, 15]
    assert prompts.skipped == 0


def test_the_cap_keeps_tracks_first_and_counts_the_rest_as_skipped():
    prompts = tracks_prompts(previous(0.0, track_ids=(1, 2, 3), covered=0), 5)
    assert prompts.boxes.shape[0] == 3 and prompts.points.shape[0] == 2
    assert prompts.skipped == 16 - 2
    only_tracks = tracks_prompts(previous(0.0, track_ids=(1, 2, 3), covered=0), 2)
    assert only_tracks.boxes.shape[0] == 2 and only_tracks.points.size == 0 and only_tracks.skipped == 1 + 16


def test_discovery_points_are_spread_evenly_over_the_uncovered_ones():
    assert discovery_points(np.arange(100), 4).tolist() == [12, 37, 62, 87]
    assert discovery_points(np.arange(3), 4).tolist() == [0, 1, 2]
