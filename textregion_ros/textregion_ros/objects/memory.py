"""A memory of every tracked object seen lately, searchable by text without re-running the engine.

The node's frame thread writes one observe() per frame; a service thread answers "where did you
last see a mug?" with find(). Records live in fixed slots of preallocated arrays (a token matrix
plus one array per field, a Columns table: columns.py) kept densely packed in rows 0..n-1: a removed
record's slot is refilled by the last record, so find() hands the scorer a view of the token matrix
and never rebuilds an [N,D] matrix per call. Ages are measured on observation stamps, relative to the latest frame, so a
replayed bag forgets at the same pace as the live robot.

Stamps that step back: further than memory_s is a new timeline (bag restart, sim reset), and the
memory forgets everything with a warning. A smaller step back is ordinary disorder (two cameras on
one topic, a re-sent frame, clock jitter) and keeps the records: first_seen and last_seen are then
the earliest and the latest stamp the object was seen at (min/max), so first_seen <= last_seen
always holds and a record's age is measured from its latest stamp. Resetting on every backward step
instead would forget the whole memory on a few milliseconds of jitter. The box, its stamp and the
token are the latest *processed* frame's, whatever its stamp.
"""
from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..settings_rows import TableSettings
from .columns import Column, Columns
from ..spatial.transform import Boxes3D

logger = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
MIN_CAPACITY = 16

Scorer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

# A record's columns, one row per remembered track, declared once (a new field is one line here).
RECORD_COLUMNS: dict[str, Column] = {
    "ids": Column(np.uint32),
    "tokens": Column(np.float32, (None,)),  # [D] the track's latest averaged token
    "first_seen": Column(np.int64),
    "last_seen": Column(np.int64),
    "sightings": Column(np.int64),
    "frame_seq": Column(np.int64, (), -1),
    "boxes": Column(np.float64, (4,), np.nan),
    "box_frame": Column(object, (), ""),
    "box_stamp": Column(np.int64),
    "has_3d": Column(bool, (), False),
    "centres": Column(np.float64, (3,), np.nan),
    "box_centres": Column(np.float64, (3,), np.nan),
    "sizes": Column(np.float64, (3,), np.nan),
    "orientations": Column(np.float64, (4,), np.nan),
    "region_3d": Column(object, (), ""),
    "stamp_3d": Column(np.int64),
}


@dataclass(frozen=True)
class Remembered3D:
    """The last known 3D of a remembered object, in frame_id as of stamp_ns."""

    centre: tuple[float, float, float]
    box_centre: tuple[float, float, float]
    size: tuple[float, float, float]
    orientation: tuple[float, float, float, float]  # x, y, z, w
    frame_id: str
    stamp_ns: int


@dataclass(frozen=True)
class RememberedObject:
    """One find() answer: a remembered track, how well it matched, and where it was last seen."""

    track_id: int
    class_index: int
    score: float
    first_seen_ns: int
    last_seen_ns: int
    sightings: int
    visible_now: bool  # seen in the latest observed frame
    box: tuple[float, float, float, float]  # last image box x1, y1, x2, y2
    frame_id: str  # the image's frame of that box
    stamp_ns: int  # the image stamp of that box
    spatial: Optional[Remembered3D]  # None when the object never had 3D


@dataclass(frozen=True)
class MemorySettings(TableSettings):
    """How long and how many objects the memory keeps (rows memory_s, memory_size; 0 s = remember nothing)."""

    memory_s: float = 600.0
    memory_size: int = 5000

    ROWS = {"memory_s": "memory_s", "memory_size": "memory_size"}


class ObjectMemory:
    """Every track seen in the last memory_s seconds (at most memory_size, oldest sighting dropped first).

    Thread-safe: one lock guards every method. find() calls the caller's scorer while holding it
    (the scorer reads a read-only view of the token matrix, valid only during the call), so the
    scorer must not call back into the memory, and a slow scorer delays the next observe().
    """

    def __init__(self, memory_s: float = MemorySettings.memory_s,
                 memory_size: int = MemorySettings.memory_size) -> None:
        settings = MemorySettings(memory_s, memory_size)  # the rows' types and ranges
        self._lock = threading.Lock()
        self._memory_s = settings.memory_s
        self._memory_size = settings.memory_size
        self._latest_stamp: Optional[int] = None
        self._seq = 0
        self._reset_storage()

    # -- settings and state -----------------------------------------------------------------------
    @property
    def memory_s(self) -> float:
        return self._memory_s

    @property
    def memory_size(self) -> int:
        return self._memory_size

    @property
    def latest_stamp_ns(self) -> Optional[int]:
        """Stamp of the latest observed frame; None before any (callers say "no frame yet")."""
        with self._lock:
            return self._latest_stamp

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def configure(self, memory_s: float, memory_size: int) -> None:
        """New limits, applied at once (records now too old or too many are dropped)."""
        settings = MemorySettings(memory_s, memory_size)  # the rows' types and ranges
        with self._lock:
            self._memory_s, self._memory_size = settings.memory_s, settings.memory_size
            if self._memory_s == 0.0:
                self._reset_storage()
                return
            self._prune()
            if self._rows.capacity > self._memory_size:
                self._rows.resize(self._memory_size)

    def clear(self) -> None:
        """Forget every record (the latest stamp stays: a frame was still observed)."""
        with self._lock:
            self._reset_storage()

    def track_ids(self) -> set[int]:
        """The track ids remembered now."""
        with self._lock:
            return set(self._slot_of)

    def forget(self, track_ids) -> int:
        """Forget these tracks' records (~/forget); returns how many were remembered."""
        with self._lock:
            slots = [self._slot_of[int(t)] for t in track_ids if int(t) in self._slot_of]
            if slots:
                self._remove(np.asarray(slots, dtype=np.int64))
            return len(slots)

    # -- writing ------------------------------------------------------------------------------------
    def observe(self, stamp_ns: int, frame_id: str, track_ids: np.ndarray, tokens: np.ndarray,
                boxes: np.ndarray, spatial: Optional[Boxes3D] = None) -> None:
        """Take in one frame: track_ids [R] with their tracks' averaged tokens [R,D] and boxes [R,4].

        The record keeps the latest token given, which is the track's average over all its
        sightings when it comes from Tracker.last_track_tokens.
        """
        ids, tokens, boxes = _frame_arrays(track_ids, tokens, boxes, spatial)
        stamp = int(stamp_ns)
        with self._lock:
            memory_ns = int(round(self._memory_s * NS_PER_S))
            if self._latest_stamp is not None and stamp < self._latest_stamp - memory_ns and len(self._rows):
                logger.warning("observation stamps went back %.3f s (bag restart? sim reset?): forgetting %d objects",
                               (self._latest_stamp - stamp) / NS_PER_S, len(self._rows))
                self._reset_storage()
            self._latest_stamp = stamp
            self._seq += 1
            if memory_ns == 0 or ids.shape[0] == 0:
                self._prune()
                return
            token_dim = self._rows.trailing_shape("tokens")[0]
            if len(self._rows) and tokens.shape[1] != token_dim:
                logger.warning("token size changed from %d to %d (another model?): forgetting %d objects",
                               token_dim, tokens.shape[1], len(self._rows))
                self._reset_storage()
            slots = np.array([self._slot_of.get(int(i), -1) for i in ids], dtype=np.int64)
            known = slots >= 0
            self._write(slots[known], known, ids, tokens, boxes, spatial, frame_id, stamp, new=False)
            self._prune()
            fresh = np.nonzero(~known)[0][:self._memory_size]
            self._drop_oldest(len(self._rows) + fresh.shape[0] - self._memory_size)
            if fresh.shape[0]:
                needed = len(self._rows) + fresh.shape[0]
                if needed > self._rows.capacity:  # grow by doubling, never beyond memory_size
                    self._rows.resize(min(self._memory_size, max(needed, 2 * self._rows.capacity, MIN_CAPACITY)))
                new_slots = self._rows.append({"ids": ids[fresh], "tokens": tokens[fresh], "first_seen": stamp,
                                               "last_seen": stamp}, fresh.shape[0])
                chosen = np.zeros(ids.shape[0], dtype=bool)
                chosen[fresh] = True
                self._write(new_slots, chosen, ids, tokens, boxes, spatial, frame_id, stamp, new=True)
                self._slot_of.update(zip(ids[fresh].tolist(), new_slots.tolist()))

    def _write(self, slots: np.ndarray, rows: np.ndarray, ids: np.ndarray, tokens: np.ndarray, boxes: np.ndarray,
               spatial: Optional[Boxes3D], frame_id: str, stamp: int, new: bool) -> None:
        """Regions `rows` (bool mask over the frame) go into `slots` (same order)."""
        if slots.shape[0] == 0:
            return
        a = self._rows
        a["tokens"][slots] = tokens[rows]
        # a sighting is an image stamp: the same image delivered again (a re-sent or replayed frame) is not another
        a["sightings"][slots] += 1 if new else (a["box_stamp"][slots] != stamp)
        # first/last seen span the stamps the object was seen at (min/max: see the module docstring)
        a["first_seen"][slots] = np.minimum(a["first_seen"][slots], stamp)
        a["last_seen"][slots] = np.maximum(a["last_seen"][slots], stamp)
        a["frame_seq"][slots] = self._seq
        a["boxes"][slots] = boxes[rows]
        a["box_frame"][slots] = frame_id
        a["box_stamp"][slots] = stamp
        if spatial is None:
            return
        valid = np.asarray(spatial.valid, dtype=bool)[rows]
        target = slots[valid]
        a["has_3d"][target] = True
        for name, source in (("centres", spatial.centres), ("box_centres", spatial.box_centres),
                             ("sizes", spatial.sizes), ("orientations", spatial.orientations)):
            a[name][target] = np.asarray(source, dtype=np.float64)[rows][valid]
        a["region_3d"][target] = spatial.frame_id
        a["stamp_3d"][target] = int(spatial.stamp_ns)

    # -- reading ------------------------------------------------------------------------------------
    def find(self, score: Scorer, max_age_s: float = 0.0, min_score: float = 0.0,
             max_results: int = 0) -> list[RememberedObject]:
        """Remembered objects the scorer gives a class, best score first.

        score(tokens [N,D]) -> (class_index [N] int, -1 = no class; score [N] float). Left out:
        class -1, score < min_score, last seen more than max_age_s before the latest frame
        (0 = no age limit). At most max_results (0 = all).
        """
        if not math.isfinite(max_age_s) or max_age_s < 0.0:
            raise ValueError(f"max_age_s must be finite and >= 0 (0 = no limit), got {max_age_s}")
        if int(max_results) != max_results or max_results < 0:
            raise ValueError(f"max_results must be an integer >= 0 (0 = all), got {max_results}")
        with self._lock:
            count = len(self._rows)
            if count == 0:
                return []
            tokens = self._rows["tokens"]  # a view: no [N,D] copy per call
            tokens.flags.writeable = False  # ... that the scorer cannot write through
            classes, scores = score(tokens)
            classes = np.asarray(classes).reshape(-1).astype(np.int64)
            scores = np.asarray(scores, dtype=np.float64).reshape(-1)
            if classes.shape != (count,) or scores.shape != (count,):
                raise ValueError(f"score() must return two arrays of {count} rows, got {classes.shape} and "
                                 f"{scores.shape}")
            last_seen = self._rows["last_seen"]
            keep = (classes >= 0) & (scores >= min_score)
            if max_age_s > 0.0:
                keep &= self._latest_stamp - last_seen <= int(round(max_age_s * NS_PER_S))
            slots = np.nonzero(keep)[0]
            if max_results and slots.shape[0] > max_results:  # sort only the best (and their ties)
                kept = scores[slots]
                cut = kept.shape[0] - int(max_results)
                slots = slots[kept >= np.partition(kept, cut)[cut]]
            order = np.lexsort((-last_seen[slots], -scores[slots]))  # score, then most recent first
            if max_results:
                order = order[:int(max_results)]
            chosen = slots[order]
            return self._remembered(chosen, classes[chosen].tolist(), scores[chosen].tolist())

    def _remembered(self, slots: np.ndarray, classes: list[int], scores: list[float]) -> list[RememberedObject]:
        """RememberedObjects of these slots. Each field leaves numpy once, as a flat list of Python
        scalars (no per-row lists: with thousands of results, short-lived containers would trigger
        the cyclic garbage collector over and over, which costs more than building the objects)."""
        a = self._rows
        flat = {name: values.ravel().tolist()
                for name, values in a.take(slots, [n for n in RECORD_COLUMNS
                                                   if n not in ("frame_seq", "tokens")]).items()}
        visible = (a["frame_seq"][slots] == self._seq).tolist()
        results = []
        for i in range(slots.shape[0]):
            spatial = None
            if flat["has_3d"][i]:
                spatial = Remembered3D(
                    centre=tuple(flat["centres"][3 * i:3 * i + 3]),
                    box_centre=tuple(flat["box_centres"][3 * i:3 * i + 3]),
                    size=tuple(flat["sizes"][3 * i:3 * i + 3]),
                    orientation=tuple(flat["orientations"][4 * i:4 * i + 4]),
                    frame_id=str(flat["region_3d"][i]), stamp_ns=flat["stamp_3d"][i])
            results.append(RememberedObject(
                track_id=flat["ids"][i], class_index=classes[i], score=scores[i],
                first_seen_ns=flat["first_seen"][i], last_seen_ns=flat["last_seen"][i],
                sightings=flat["sightings"][i], visible_now=visible[i], box=tuple(flat["boxes"][4 * i:4 * i + 4]),
                frame_id=str(flat["box_frame"][i]), stamp_ns=flat["box_stamp"][i], spatial=spatial))
        return results

    # -- storage (callers hold the lock) -----------------------------------------------------------------
    def _reset_storage(self) -> None:
        self._rows = Columns(RECORD_COLUMNS)
        self._slot_of: dict[int, int] = {}  # track id -> its row

    def _prune(self) -> None:
        """Drop records too old for memory_s, then the oldest beyond memory_size."""
        if len(self._rows) == 0 or self._latest_stamp is None:
            return
        memory_ns = int(round(self._memory_s * NS_PER_S))
        too_old = self._latest_stamp - self._rows["last_seen"] > memory_ns
        if too_old.any():
            self._remove(np.nonzero(too_old)[0])
        self._drop_oldest(len(self._rows) - self._memory_size)

    def _drop_oldest(self, surplus: int) -> None:
        if surplus <= 0:
            return
        count = len(self._rows)
        surplus = min(surplus, count)
        last_seen = self._rows["last_seen"]
        oldest = np.argpartition(last_seen, surplus - 1)[:surplus] if surplus < count else np.arange(count)
        self._remove(oldest)

    def _remove(self, slots: np.ndarray) -> None:
        """Remove records; the last records move into the freed rows so rows 0..n-1 stay packed."""
        slots = np.unique(slots)
        for track_id in self._rows["ids"][slots].tolist():
            del self._slot_of[track_id]
        keep = np.ones(len(self._rows), dtype=bool)
        keep[slots] = False
        _, moved_to = self._rows.compact(keep, stable=False)
        self._slot_of.update(zip(self._rows["ids"][moved_to].tolist(), moved_to.tolist()))


def _frame_arrays(track_ids: np.ndarray, tokens: np.ndarray, boxes: np.ndarray,
                  spatial: Optional[Boxes3D]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The frame's arrays as numpy with their shapes checked (before taking the lock)."""
    ids = np.asarray(track_ids).reshape(-1).astype(np.uint32)
    count = ids.shape[0]
    tokens = np.asarray(tokens, dtype=np.float32)
    if count == 0:
        return ids, tokens.reshape(0, tokens.shape[-1] if tokens.ndim == 2 else 0), np.zeros((0, 4))
    boxes = np.asarray(boxes, dtype=np.float64)
    if tokens.ndim != 2 or tokens.shape[0] != count:
        raise ValueError(f"tokens must be [{count},D], got shape {tokens.shape}")
    if boxes.shape != (count, 4):
        raise ValueError(f"boxes must be [{count},4], got shape {boxes.shape}")
    if np.unique(ids).shape[0] != count:
        raise ValueError("track_ids of one frame must be distinct")
    if spatial is not None:
        for name, width in (("centres", 3), ("box_centres", 3), ("sizes", 3), ("orientations", 4)):
            if np.shape(getattr(spatial, name)) != (count, width):
                raise ValueError(f"spatial.{name} must be [{count},{width}], got {np.shape(getattr(spatial, name))}")
        if np.shape(spatial.valid) != (count,):
            raise ValueError(f"spatial.valid must be [{count}], got {np.shape(spatial.valid)}")
    return ids, tokens, boxes
