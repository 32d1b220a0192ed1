"""ObjectMemory: what is remembered, for how long, and how find() filters and orders (objects.memory)."""
from __future__ import annotations

import threading
import time
from typing import Optional, Sequence

import numpy as np
import pytest

from textregion_ros.objects import ObjectMemory, RememberedObject
from textregion_ros.spatial import Boxes3D

DIM = 4
SECOND = 1_000_000_000


def tokens_for(ids: Sequence[int]) -> np.ndarray:
    """Token of track i: its first coordinate is i / 1000 (score_by_first reads it back as the score)."""
    tokens = np.zeros((len(ids), DIM), dtype=np.float32)
    tokens[:, 0] = np.asarray(ids, dtype=np.float32) / 1000.0
    tokens[:, 1] = 1.0
    return tokens


def score_by_first(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 for every object, score = first coordinate * 1000 (i.e. the track id)."""
    return np.zeros(tokens.shape[0], dtype=np.int64), tokens[:, 0] * 1000.0


def boxes_for(ids: Sequence[int], shift: float = 0.0) -> np.ndarray:
    return np.array([[i * 10.0 + shift, 0.0, i * 10.0 + 5.0 + shift, 5.0] for i in ids])


def observe(memory: ObjectMemory, stamp_s: float, ids: Sequence[int], spatial: Optional[Boxes3D] = None,
            shift: float = 0.0) -> None:
    memory.observe(int(round(stamp_s * SECOND)), "camera", np.asarray(ids, dtype=np.uint32), tokens_for(ids),
                   boxes_for(ids, shift), spatial)


def spatial_for(ids: Sequence[int], valid: Sequence[bool], x: float, frame_id: str = "map",
                stamp_s: float = 0.0) -> Boxes3D:
    count = len(ids)
    centres = np.tile([x, 0.0, 1.0], (count, 1))
    return Boxes3D(centres=centres, box_centres=centres + 0.01, sizes=np.full((count, 3), 0.2),
                      orientations=np.tile([0.0, 0.0, 0.0, 1.0], (count, 1)), valid=np.asarray(valid),
                      frame_id=frame_id, stamp_ns=int(round(stamp_s * SECOND)))


def find_all(memory: ObjectMemory, **kwargs: float) -> list[RememberedObject]:
    return memory.find(score_by_first, **kwargs)


def test_the_same_image_observed_twice_is_one_sighting() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [7])
    observe(memory, 1.0, [7])  # a re-delivered frame: same stamp
    observe(memory, 2.0, [7])
    [found] = find_all(memory)
    assert found.sightings == 2


def test_record_keeps_stamps_sightings_and_last_box() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [7])
    observe(memory, 2.0, [7], shift=3.0)
    [found] = find_all(memory)
    assert (found.track_id, found.first_seen_ns, found.last_seen_ns, found.sightings) == (7, SECOND, 2 * SECOND, 2)
    assert found.box == (73.0, 0.0, 78.0, 5.0)
    assert (found.frame_id, found.stamp_ns) == ("camera", 2 * SECOND)
    assert found.spatial is None


def test_record_keeps_the_latest_token() -> None:
    memory = ObjectMemory()
    memory.observe(0, "camera", np.array([1], np.uint32), np.array([[0.0, 1.0, 0.0, 0.0]], np.float32), boxes_for([1]))
    memory.observe(1, "camera", np.array([1], np.uint32), np.array([[0.6, 0.8, 0.0, 0.0]], np.float32), boxes_for([1]))
    seen: list[np.ndarray] = []
    memory.find(lambda tokens: (seen.append(tokens.copy()) or np.zeros(1, np.int64), np.ones(1)))
    np.testing.assert_allclose(seen[0], [[0.6, 0.8, 0.0, 0.0]])


def test_3d_is_kept_when_a_later_sighting_has_none() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [1, 2], spatial_for([1, 2], [True, True], x=0.5, stamp_s=1.0))
    observe(memory, 2.0, [1, 2], spatial_for([1, 2], [False, True], x=0.9, stamp_s=2.0))
    observe(memory, 3.0, [1, 2])
    by_id = {found.track_id: found for found in find_all(memory)}
    assert by_id[1].spatial.centre == (0.5, 0.0, 1.0) and by_id[1].spatial.stamp_ns == SECOND
    assert by_id[2].spatial.centre == (0.9, 0.0, 1.0) and by_id[2].spatial.stamp_ns == 2 * SECOND
    assert by_id[2].spatial.frame_id == "map"
    assert by_id[2].spatial.size == (0.2, 0.2, 0.2) and by_id[2].spatial.orientation == (0.0, 0.0, 0.0, 1.0)
    assert by_id[2].spatial.box_centre == pytest.approx((0.91, 0.01, 1.01))
    assert by_id[2].last_seen_ns == 3 * SECOND


def test_record_without_any_3d_has_none() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [1], spatial_for([1], [False], x=0.5))
    assert find_all(memory)[0].spatial is None


def test_records_older_than_memory_s_are_forgotten() -> None:
    memory = ObjectMemory(memory_s=10.0)
    observe(memory, 0.0, [1])
    observe(memory, 5.0, [2])
    observe(memory, 10.0, [3])
    assert len(memory) == 3
    observe(memory, 12.0, [3])
    assert sorted(found.track_id for found in find_all(memory)) == [2, 3]


def test_memory_size_drops_the_oldest_last_seen_first() -> None:
    memory = ObjectMemory(memory_size=3)
    observe(memory, 0.0, [1, 2])
    observe(memory, 1.0, [3])
    observe(memory, 2.0, [1])  # 1 is now newer than 2 and 3
    observe(memory, 3.0, [4])
    assert sorted(found.track_id for found in find_all(memory)) == [1, 3, 4]


def test_records_stay_consistent_through_many_removals_and_refills() -> None:
    """Against a plain dict model: slots vacated by expiry are refilled without mixing records up."""
    rng = np.random.default_rng(3)
    memory, model = ObjectMemory(memory_s=10.0, memory_size=1000), {}
    for step in range(300):
        stamp = 0.5 * step
        ids = sorted(rng.choice(np.arange(1, 80), size=int(rng.integers(0, 12)), replace=False).tolist())
        observe(memory, stamp, ids, shift=float(step))
        for track_id in ids:
            first, _, sightings, _ = model.get(track_id, (stamp, None, 0, None))
            model[track_id] = (first, stamp, sightings + 1, track_id * 10.0 + step)
        model = {k: v for k, v in model.items() if stamp - v[1] <= 10.0}
        found = {f.track_id: (f.first_seen_ns / SECOND, f.last_seen_ns / SECOND, f.sightings, f.box[0])
                 for f in find_all(memory)}
        assert found == model, f"step {step}"


def test_memory_s_zero_remembers_nothing() -> None:
    memory = ObjectMemory(memory_s=0.0)
    observe(memory, 1.0, [1, 2])
    assert len(memory) == 0 and find_all(memory) == []
    assert memory.latest_stamp_ns == SECOND


def test_configure_prunes_at_once() -> None:
    memory = ObjectMemory()
    for k in range(10):
        observe(memory, float(k), [k + 1])
    memory.configure(memory_s=600.0, memory_size=4)
    assert sorted(found.track_id for found in find_all(memory)) == [7, 8, 9, 10]
    memory.configure(memory_s=1.5, memory_size=4)
    assert sorted(found.track_id for found in find_all(memory)) == [9, 10]
    memory.configure(memory_s=0.0, memory_size=4)
    assert len(memory) == 0


def test_freed_slots_are_reused_after_pruning() -> None:
    memory = ObjectMemory(memory_size=3)
    for k in range(20):
        observe(memory, float(k), [k + 1])
    assert len(memory) == 3
    assert [found.track_id for found in find_all(memory)] == [20, 19, 18]


def test_find_leaves_out_scores_below_min_score() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [1, 2, 3, 4])
    assert [found.track_id for found in find_all(memory, min_score=2.5)] == [4, 3]


def test_find_leaves_out_objects_older_than_max_age_s() -> None:
    memory = ObjectMemory()
    observe(memory, 0.0, [1])
    observe(memory, 4.0, [2])
    observe(memory, 5.0, [3])
    assert [found.track_id for found in find_all(memory, max_age_s=1.0)] == [3, 2]
    assert [found.track_id for found in find_all(memory, max_age_s=0.0)] == [3, 2, 1]


def test_find_returns_at_most_max_results_best_first() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [5, 1, 9, 3])
    assert [found.track_id for found in find_all(memory, max_results=2)] == [9, 5]
    assert [found.track_id for found in find_all(memory, max_results=0)] == [9, 5, 3, 1]


def test_find_leaves_out_objects_without_class() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [1, 2, 3])

    def odd_ids_only(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.rint(tokens[:, 0] * 1000).astype(int)
        return np.where(ids % 2 == 1, ids % 3, -1), ids.astype(float)

    found = memory.find(odd_ids_only)
    assert [(f.track_id, f.class_index, f.score) for f in found] == [(3, 0, 3.0), (1, 1, 1.0)]


def test_find_breaks_score_ties_by_the_most_recent_sighting() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [1])
    observe(memory, 2.0, [2])
    found = memory.find(lambda tokens: (np.zeros(len(tokens), np.int64), np.ones(len(tokens))))
    assert [f.track_id for f in found] == [2, 1]


def test_find_max_results_cutting_through_a_tie_keeps_the_most_recent() -> None:
    memory = ObjectMemory()
    for k, track_id in enumerate([1, 2, 3, 4]):
        observe(memory, float(k), [track_id])

    def tie_below_best(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.rint(tokens[:, 0] * 1000).astype(int)
        return np.zeros(len(ids), np.int64), np.where(ids == 1, 2.0, 1.0)

    assert [f.track_id for f in memory.find(tie_below_best, max_results=2)] == [1, 4]


def test_scorer_gets_a_read_only_token_matrix() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [1, 2])

    def scribble(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tokens[:] = 0.0
        return np.zeros(len(tokens), np.int64), np.ones(len(tokens))

    with pytest.raises(ValueError, match="read-only"):
        memory.find(scribble)
    assert [f.score for f in find_all(memory)] == pytest.approx([2.0, 1.0])


def test_find_rejects_a_scorer_of_the_wrong_length() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [1, 2])
    with pytest.raises(ValueError, match="score"):
        memory.find(lambda tokens: (np.zeros(1, np.int64), np.ones(1)))


def test_visible_now_means_seen_in_the_latest_frame() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [1, 2])
    observe(memory, 2.0, [2])
    by_id = {found.track_id: found.visible_now for found in find_all(memory)}
    assert by_id == {1: False, 2: True}
    observe(memory, 3.0, [])
    assert not any(found.visible_now for found in find_all(memory))


def test_latest_stamp_is_none_before_any_frame() -> None:
    memory = ObjectMemory()
    assert memory.latest_stamp_ns is None and len(memory) == 0 and find_all(memory) == []
    observe(memory, 2.0, [])
    assert memory.latest_stamp_ns == 2 * SECOND


def test_clear_forgets_every_record() -> None:
    memory = ObjectMemory()
    observe(memory, 1.0, [1, 2, 3])
    memory.clear()
    assert len(memory) == 0 and find_all(memory) == []
    observe(memory, 2.0, [2])
    assert [(found.track_id, found.sightings) for found in find_all(memory)] == [(2, 1)]


def test_stamps_stepping_back_a_little_keep_first_seen_before_last_seen() -> None:
    """As an outside client sent it: a step back of 0.1 s (well inside memory_s) gave first_seen 1800000000.0
    > last_seen."""
    memory = ObjectMemory(memory_s=10.0)
    observe(memory, 1_800_000_000.0, [7])
    observe(memory, 1_799_999_999.9, [7], shift=3.0)
    [found] = find_all(memory)
    assert found.first_seen_ns == round(1_799_999_999.9 * SECOND) and found.last_seen_ns == 1_800_000_000 * SECOND
    assert found.sightings == 2 and found.box == (73.0, 0.0, 78.0, 5.0)  # the latest frame's box


def test_first_and_last_seen_stay_ordered_through_stamps_that_jitter_back_and_forth() -> None:
    memory = ObjectMemory(memory_s=10.0)
    for stamp in (50.0, 49.8, 50.3, 50.1, 49.7, 50.5):
        observe(memory, stamp, [3])
        [found] = find_all(memory)
        assert found.first_seen_ns <= found.last_seen_ns
    assert (found.first_seen_ns, found.last_seen_ns) == (round(49.7 * SECOND), round(50.5 * SECOND))


def test_stamps_going_back_beyond_memory_s_forget_everything() -> None:
    memory = ObjectMemory(memory_s=10.0)
    observe(memory, 100.0, [1])
    observe(memory, 5.0, [2])
    assert [found.track_id for found in find_all(memory)] == [2]


@pytest.mark.parametrize("memory_s, memory_size", [(-1.0, 10), (float("inf"), 10), (1.0, 0), (1.0, 2.5)])
def test_invalid_settings_raise_value_error(memory_s: float, memory_size: int) -> None:
    with pytest.raises(ValueError):
        ObjectMemory(memory_s, memory_size)
    with pytest.raises(ValueError):
        ObjectMemory().configure(memory_s, memory_size)


def test_duplicate_track_ids_in_one_frame_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="distinct"):
        observe(ObjectMemory(), 1.0, [1, 1])


def test_writer_and_reader_threads_run_together_without_errors() -> None:
    memory = ObjectMemory(memory_s=50.0, memory_size=64)
    errors: list[BaseException] = []
    counts: list[tuple[int, int]] = []
    done, reading = threading.Event(), threading.Event()

    def write() -> None:
        try:
            reading.wait(timeout=30)
            for k in range(400):
                observe(memory, 0.1 * k, [k + 1 + j for j in range(8)])
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                found = find_all(memory, max_results=0)
                counts.append((len(found), len(memory)))
                reading.set()
                assert len({f.track_id for f in found}) == len(found)
                time.sleep(0.0005)  # let the writer take the lock (CPython's lock is not fair)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and counts
    assert all(found <= 64 and size <= 64 for found, size in counts)
    assert len(memory) == 64
    assert len(find_all(memory)) == 64
