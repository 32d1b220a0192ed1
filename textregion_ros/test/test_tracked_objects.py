"""TrackedObjects: the engine's Regions of each frame -> track ids, and the object memory learns them."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from textregion_ros import params
from textregion_ros.engine.boxes import exclusive_boxes
from textregion_ros.engine.results import Regions
from textregion_ros.objects import TrackedObjects
from textregion_ros.spatial import Boxes3D

SECOND = 1_000_000_000
DEFAULTS = {p.name: p.default for p in params.PARAMETERS}


def regions(columns: list[int], axes: list[int]) -> Regions:
    """Square regions (20 x 20 px, soft masks like SAM2's clamped logits) at `columns`, token = axis."""
    masks = torch.zeros(len(columns), 60, 200)
    for index, column in enumerate(columns):
        masks[index, 20:40, column:column + 20] = 2.5
    count = len(columns)
    return Regions(tokens=F.one_hot(torch.tensor(axes), 16).float(), masks=masks, boxes=exclusive_boxes(masks > 0),
                   areas=(masks > 0).flatten(1).sum(1), predicted_iou=torch.ones(count), stability=torch.ones(count),
                   image_size=(60, 200))


def spatial(centres: list[list[float]], valid: list[bool], stamp_s: float) -> Boxes3D:
    count = len(centres)
    return Boxes3D(centres=np.asarray(centres, float), box_centres=np.asarray(centres, float),
                      sizes=np.full((count, 3), 0.1), orientations=np.tile([0.0, 0.0, 0.0, 1.0], (count, 1)),
                      valid=np.asarray(valid), frame_id="map", stamp_ns=int(stamp_s * SECOND))


def everything(objects: TrackedObjects) -> list:
    return objects.memory.find(lambda tokens: (np.zeros(len(tokens), int), np.ones(len(tokens))))


def test_each_region_gets_a_track_and_the_memory_one_record_per_track():
    objects = TrackedObjects.from_parameters(DEFAULTS)
    first = objects.observe(1 * SECOND, "camera", regions([10, 100], [0, 1]))
    second = objects.observe(2 * SECOND, "camera", regions([12, 102], [0, 1]))
    assert first.tolist() == second.tolist() == [1, 2]
    assert sorted((o.track_id, o.sightings) for o in everything(objects)) == [(1, 2), (2, 2)]


def test_memory_keeps_the_3d_of_valid_rows_in_its_own_frame():
    objects = TrackedObjects.from_parameters(DEFAULTS)
    objects.observe(SECOND, "camera", regions([10, 100], [0, 1]), spatial([[1.0, 0, 2], [9, 9, 9]], [True, False], 1))
    by_id = {o.track_id: o for o in everything(objects)}
    assert by_id[1].spatial.frame_id == "map" and by_id[1].spatial.centre == (1.0, 0.0, 2.0)
    assert by_id[2].spatial is None


def test_reset_forgets_everything_but_ids_keep_counting():
    objects = TrackedObjects.from_parameters(DEFAULTS)
    objects.observe(SECOND, "camera", regions([10], [0]))
    objects.reset()
    assert len(objects.memory) == 0 and objects.tracker.open_count == 0
    assert objects.observe(2 * SECOND, "camera", regions([10], [0])).tolist() == [2]


def test_configure_applies_new_limits_to_tracks_and_memory():
    objects = TrackedObjects.from_parameters(DEFAULTS)
    objects.observe(SECOND, "camera", regions([10, 60, 100], [0, 1, 2]))
    objects.configure({**DEFAULTS, "memory_size": 1, "track_max_age_s": 0.5})
    assert len(objects.memory) == 1 and objects.tracker.settings.max_age_s == 0.5


def test_weights_that_leave_nothing_to_compare_are_a_settings_problem():
    reason = TrackedObjects.settings_problem({**DEFAULTS, "track_weight_mask_iou": 0.0, "track_weight_token": 0.0})
    assert reason and reason.startswith("tracking: ")
    assert TrackedObjects.settings_problem(DEFAULTS) is None


def test_diagnostics_count_open_tracks_and_remembered_objects():
    objects = TrackedObjects.from_parameters(DEFAULTS)
    objects.observe(SECOND, "camera", regions([10, 100], [0, 1]))
    assert objects.diagnostics() == {"tracks_open": "2", "objects_remembered": "2"}
