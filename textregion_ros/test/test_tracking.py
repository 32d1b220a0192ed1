"""Tracker: persistent ids for synthetic square objects with chosen tokens (objects.tracking)."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from typing import Optional, Sequence

import numpy as np
import pytest
import torch

from textregion_ros.objects import RegionSightings, Tracker, TrackingSettings
from textregion_ros.objects.association import grid_stride

SHAPE = (240, 320)  # mask (h, w)
SIDE = 40
DIM = 8
SECOND = 1_000_000_000


def unit(*values: float) -> np.ndarray:
    token = np.zeros(DIM, dtype=np.float32)
    token[:len(values)] = values
    return token / np.linalg.norm(token)


RED, BLUE = unit(1.0), unit(0.0, 1.0)  # orthogonal tokens


def frame(stamp_s: float, squares: Sequence[tuple[int, int, np.ndarray]],
          centres: Optional[Sequence[Sequence[float]]] = None, soft: bool = False) -> RegionSightings:
    """Squares (x, y, token) of side SIDE at top-left (x, y); soft masks are -1 outside, 2 inside."""
    masks = np.full((len(squares), *SHAPE), -1.0 if soft else 0.0, dtype=np.float32)
    boxes = np.zeros((len(squares), 4))
    for i, (x, y, _) in enumerate(squares):
        masks[i, y:y + SIDE, x:x + SIDE] = 2.0 if soft else 1.0
        boxes[i] = (x, y, x + SIDE, y + SIDE)
    tokens = np.stack([token for _, _, token in squares]) if squares else np.zeros((0, DIM), np.float32)
    return RegionSightings(stamp_ns=int(round(stamp_s * SECOND)), tokens=tokens, masks=masks if soft else masks > 0,
                            boxes=boxes, centres_3d=None if centres is None else np.asarray(centres, dtype=float))


def empty_frame(stamp_s: float) -> RegionSightings:
    return frame(stamp_s, [])


def test_moving_square_keeps_its_id_for_30_frames() -> None:
    tracker = Tracker()
    ids = [tracker.update(frame(0.1 * k, [(10 + 5 * k, 100, RED)]))[0] for k in range(30)]
    assert ids == [1] * 30
    assert tracker.open_tracks[1].sightings == 30


def test_mask_grid_zero_tracks_on_the_masks_own_resolution() -> None:
    assert grid_stride(480, 640, 0) == 1 and grid_stride(480, 640, 128) == 5
    tracker = Tracker(TrackingSettings(mask_grid=0, weight_token=0.0))  # mask IoU alone decides
    ids = [tracker.update(frame(0.1 * k, [(10 + 5 * k, 100, RED)]))[0] for k in range(30)]
    assert ids == [1] * 30


def test_ids_are_uint32_in_region_order() -> None:
    ids = Tracker().update(frame(0.0, [(0, 0, RED), (100, 0, BLUE), (200, 100, RED)]))
    assert ids.dtype == np.uint32
    assert ids.tolist() == [1, 2, 3]


def test_crossing_objects_keep_their_ids_told_apart_by_tokens() -> None:
    tracker = Tracker()
    seen: dict[str, set[int]] = {"red": set(), "blue": set()}
    for k in range(25):  # on one row, red moves right, blue left; at k = 12 their masks are identical
        red, blue = (40 + 10 * k, 100, RED), (280 - 10 * k, 100, BLUE)
        swap = k % 2 == 1  # region order changes from frame to frame
        ids = tracker.update(frame(0.1 * k, [blue, red] if swap else [red, blue]))
        seen["red"].add(int(ids[1] if swap else ids[0]))
        seen["blue"].add(int(ids[0] if swap else ids[1]))
    assert seen == {"red": {1}, "blue": {2}}


def test_crossing_objects_swap_ids_without_tokens() -> None:
    """The control for the test above: on masks alone the crossing is ambiguous."""
    tracker = Tracker(TrackingSettings(weight_token=0.0))
    red_ids = set()
    for k in range(25):
        ids = tracker.update(frame(0.1 * k, [(40 + 10 * k, 100, RED), (280 - 10 * k, 100, BLUE)]))
        red_ids.add(int(ids[0]))
    assert len(red_ids) > 1


def test_object_back_within_max_age_keeps_its_id() -> None:
    tracker = Tracker(TrackingSettings(max_age_s=3.0))
    tracker.update(frame(0.0, [(50, 50, RED)]))
    tracker.update(empty_frame(1.0))
    assert tracker.update(frame(2.9, [(50, 50, RED)])).tolist() == [1]


def test_object_back_after_max_age_gets_a_new_id() -> None:
    tracker = Tracker(TrackingSettings(max_age_s=3.0))
    tracker.update(frame(0.0, [(50, 50, RED)]))
    assert tracker.update(frame(3.5, [(50, 50, RED)])).tolist() == [2]
    assert tracker.closed_ids == (1,)


def test_identical_frames_give_identical_ids() -> None:
    tracker = Tracker()
    squares = [(20 + 60 * i, 30 + 30 * (i % 2), unit(1.0, 0.1 * i)) for i in range(5)]
    results = [tracker.update(frame(0.1 * k, squares)).tolist() for k in range(5)]
    assert results == [[1, 2, 3, 4, 5]] * 5


def test_empty_frame_returns_no_ids_and_ages_tracks() -> None:
    tracker = Tracker(TrackingSettings(max_age_s=1.0))
    tracker.update(frame(0.0, [(50, 50, RED)]))
    ids = tracker.update(empty_frame(0.5))
    assert ids.shape == (0,) and ids.dtype == np.uint32
    assert list(tracker.open_tracks) == [1]
    tracker.update(empty_frame(1.5))
    assert list(tracker.open_tracks) == [] and tracker.closed_ids == (1,)


def test_empty_first_frame_works() -> None:
    tracker = Tracker()
    assert tracker.update(empty_frame(0.0)).shape == (0,)
    assert tracker.update(frame(0.1, [(50, 50, RED)])).tolist() == [1]


def test_ids_are_never_reused_also_after_reset() -> None:
    tracker = Tracker(TrackingSettings(max_age_s=1.0))
    assert tracker.update(frame(0.0, [(50, 50, RED)])).tolist() == [1]
    assert tracker.reset() == (1,)
    assert tracker.open_tracks == {}
    assert tracker.update(frame(0.1, [(50, 50, RED)])).tolist() == [2]
    assert tracker.update(frame(5.0, [(50, 50, RED)])).tolist() == [3]  # 2 aged out


def test_stamps_going_back_beyond_max_age_close_all_tracks() -> None:
    tracker = Tracker(TrackingSettings(max_age_s=1.0))
    tracker.update(frame(100.0, [(50, 50, RED)]))
    assert tracker.update(frame(10.0, [(50, 50, RED)])).tolist() == [2]
    assert tracker.closed_ids == (1,)


def test_stamps_going_back_a_little_keep_tracks() -> None:
    tracker = Tracker(TrackingSettings(max_age_s=1.0))
    tracker.update(frame(100.0, [(50, 50, RED)]))
    assert tracker.update(frame(99.5, [(50, 50, RED)])).tolist() == [1]


def test_stamps_going_back_a_little_keep_first_seen_before_last_seen() -> None:
    tracker = Tracker(TrackingSettings(max_age_s=0.5))
    tracker.update(frame(100.0, [(50, 50, RED)]))
    tracker.update(frame(99.9, [(50, 50, RED)]))
    [track] = tracker.open_tracks.values()
    assert (track.first_seen_ns, track.last_seen_ns) == (99_900_000_000, 100 * SECOND)


def test_new_token_size_closes_all_tracks() -> None:
    tracker = Tracker()
    tracker.update(frame(0.0, [(50, 50, RED)]))
    wider = replace(frame(0.1, [(50, 50, RED)]), tokens=np.ones((1, DIM + 4), dtype=np.float32))
    assert tracker.update(wider).tolist() == [2]
    assert tracker.closed_ids == (1,)


def test_3d_gate_reidentifies_an_object_at_a_far_away_box() -> None:
    tracker = Tracker()
    tracker.update(frame(0.0, [(10, 10, RED)], centres=[(1.0, 0.0, 2.0)]))
    ids = tracker.update(frame(0.1, [(250, 180, RED)], centres=[(1.05, 0.0, 2.0)]))
    assert ids.tolist() == [1]
    assert np.allclose(tracker.open_tracks[1].centre_3d, (1.05, 0.0, 2.0))


def test_far_away_box_without_3d_opens_a_new_track() -> None:
    tracker = Tracker()
    tracker.update(frame(0.0, [(10, 10, RED)]))
    assert tracker.update(frame(0.1, [(250, 180, RED)])).tolist() == [2]


def test_far_3d_centre_outside_max_distance_does_not_gate() -> None:
    tracker = Tracker(TrackingSettings(max_distance_m=0.5))
    tracker.update(frame(0.0, [(10, 10, RED)], centres=[(1.0, 0.0, 2.0)]))
    assert tracker.update(frame(0.1, [(250, 180, RED)], centres=[(2.0, 0.0, 2.0)])).tolist() == [2]


def test_track_keeps_its_3d_centre_when_a_sighting_has_none() -> None:
    tracker = Tracker()
    tracker.update(frame(0.0, [(10, 10, RED)], centres=[(1.0, 0.0, 2.0)]))
    tracker.update(frame(0.1, [(12, 10, RED)], centres=[(np.nan, np.nan, np.nan)]))
    assert np.allclose(tracker.open_tracks[1].centre_3d, (1.0, 0.0, 2.0))


def test_pair_below_min_similarity_does_not_match() -> None:
    # same mask (IoU 1) but an orthogonal token: similarity (1 + 0) / 2 = 0.5
    tracker = Tracker(TrackingSettings(min_similarity=0.6))
    tracker.update(frame(0.0, [(50, 50, RED)]))
    assert tracker.update(frame(0.1, [(50, 50, BLUE)])).tolist() == [2]


def test_pair_at_min_similarity_matches() -> None:
    tracker = Tracker(TrackingSettings(min_similarity=0.5))
    tracker.update(frame(0.0, [(50, 50, RED)]))
    assert tracker.update(frame(0.1, [(50, 50, BLUE)])).tolist() == [1]


def test_track_token_is_the_renormalised_running_mean() -> None:
    tracker = Tracker()
    tokens = [unit(1.0, 0.2), unit(1.0, -0.1, 0.3), unit(0.9, 0.0, 0.0, 0.4)]
    for k, token in enumerate(tokens):
        tracker.update(frame(0.1 * k, [(50, 50, token)]))
    mean = np.mean(tokens, axis=0)
    expected = mean / np.linalg.norm(mean)
    track = tracker.open_tracks[1]
    assert track.token.dtype == np.float32
    np.testing.assert_allclose(track.token, expected, atol=1e-6)
    np.testing.assert_allclose(tracker.last_track_tokens[0], expected, atol=1e-6)


def test_track_records_first_and_last_seen_and_box() -> None:
    tracker = Tracker()
    tracker.update(frame(1.0, [(50, 50, RED)]))
    tracker.update(frame(1.2, [(55, 50, RED)]))
    track = tracker.open_tracks[1]
    assert (track.first_seen_ns, track.last_seen_ns, track.sightings) == (SECOND, 1_200_000_000, 2)
    assert track.box.tolist() == [55, 50, 95, 90]
    assert track.centre_3d is None


def test_open_tracks_is_read_only() -> None:
    tracker = Tracker()
    tracker.update(frame(0.0, [(50, 50, RED)]))
    with pytest.raises(TypeError):
        tracker.open_tracks[7] = tracker.open_tracks[1]  # type: ignore[index]


def test_soft_torch_masks_give_the_same_ids_as_binary_numpy_masks() -> None:
    binary, soft = Tracker(), Tracker()
    for k in range(10):
        squares = [(10 + 5 * k, 100, RED), (200 - 5 * k, 110, BLUE)]
        plain = binary.update(frame(0.1 * k, squares))
        f = frame(0.1 * k, squares, soft=True)
        f = RegionSightings(f.stamp_ns, torch.from_numpy(f.tokens), torch.from_numpy(f.masks),
                             torch.from_numpy(f.boxes))
        assert soft.update(f).tolist() == plain.tolist()


@pytest.mark.parametrize("mask_grid", [0, 16, 128])
def test_any_mask_grid_keeps_a_moving_square(mask_grid: int) -> None:
    tracker = Tracker(TrackingSettings(mask_grid=mask_grid))
    ids = [int(tracker.update(frame(0.1 * k, [(10 + 5 * k, 100, RED)]))[0]) for k in range(10)]
    assert ids == [1] * 10


def test_settings_replaced_between_frames_take_effect() -> None:
    tracker = Tracker()
    tracker.update(frame(0.0, [(50, 50, RED)]))
    tracker.settings = replace(tracker.settings, mask_grid=32, min_similarity=0.9)
    assert tracker.update(frame(0.1, [(52, 50, RED)])).tolist() == [1]  # token 1, mask term sits out once
    assert tracker.update(frame(0.2, [(54, 50, BLUE)])).tolist() == [2]


def test_shape_mismatch_is_a_value_error() -> None:
    f = frame(0.0, [(50, 50, RED)])
    with pytest.raises(ValueError, match="boxes"):
        Tracker().update(replace(f, boxes=np.zeros((2, 4))))
    with pytest.raises(ValueError, match="masks"):
        Tracker().update(replace(f, masks=f.masks[0]))


def test_a_rejected_frame_changes_nothing() -> None:
    tracker = Tracker(TrackingSettings(max_age_s=1.0))
    tracker.update(frame(0.0, [(50, 50, RED)]))
    bad = frame(10.0, [(50, 50, RED)])
    with pytest.raises(ValueError):
        tracker.update(replace(bad, masks=bad.masks[:, :, :, None]))
    assert list(tracker.open_tracks) == [1]
    assert tracker.update(frame(0.5, [(50, 50, RED)])).tolist() == [1]


@pytest.mark.parametrize("field, value", [
    ("max_age_s", -1.0), ("max_age_s", float("nan")), ("box_iou_gate", 1.5), ("min_similarity", -0.1),
    ("weight_mask_iou", -1.0), ("weight_token", -1.0), ("weight_3d", -0.5), ("max_distance_m", 0.0),
    ("mask_grid", -1), ("mask_grid", 2.5),
])
def test_invalid_settings_raise_value_error_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        TrackingSettings(**{field: value})


def test_settings_need_a_mask_or_token_weight() -> None:
    with pytest.raises(ValueError, match="weight_mask_iou and weight_token"):
        TrackingSettings(weight_mask_iou=0.0, weight_token=0.0)


def test_settings_from_parameters_read_the_ros_parameter_names() -> None:
    values = {"track_max_age_s": 2, "track_box_iou_gate": 0.2, "track_min_similarity": 0.6,
              "track_weight_mask_iou": 0.5, "track_weight_token": 2.0, "track_weight_3d": 0.0,
              "track_max_distance_m": 1.0, "track_mask_grid": 64, "unrelated": 1}
    assert TrackingSettings.from_parameters(values) == TrackingSettings(
        max_age_s=2.0, box_iou_gate=0.2, min_similarity=0.6, weight_mask_iou=0.5, weight_token=2.0,
        weight_3d=0.0, max_distance_m=1.0, mask_grid=64)


def test_package_imports_without_ros_modules() -> None:
    code = ("import sys, textregion_ros.objects; "
            "bad = [m for m in sys.modules if m.startswith('rcl') or m.endswith('_msgs')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
