"""The in-RAM index of stored objects that ~/find scores: this robot's earlier sessions, other robots.

Rows are kept packed (a removed row is refilled by the last one), so a search hands the scorer a view
of one [N,D] token matrix, as ObjectMemory does. Only tokens of this node's model (backbone/model) and
token size are taken in: tokens of another model are never scored against this model's text.
Thread-safe: one lock; the writer thread puts and removes, service threads search.
"""
from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from .store_records import StoredObject

Key = tuple[str, str, int]
_NO_TOKEN = np.zeros(0, dtype=np.float32)  # the index keeps each token once, in its matrix


@dataclass(frozen=True)
class IndexHit:
    """One search answer: the stored object, the class the scorer gave it and the score."""

    obj: StoredObject
    class_index: int
    score: float


class StoredIndex:
    """The stored objects' tokens of one model, held in memory so a search does not read the store."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._tokens = np.zeros((0, 0), dtype=np.float32)
        self._objects: list[StoredObject] = []
        self._row_of: dict[Key, int] = {}
        self._last_seen = np.zeros(0, dtype=np.int64)
        self._robots = np.zeros(0, dtype=object)
        self._maps = np.zeros(0, dtype=object)
        self.other_models = 0  # objects seen in the store of another model (never scored here)

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    def put(self, objects: Iterable[StoredObject]) -> int:
        """Insert or replace objects by key; returns how many were taken (this model and token size).
        Tokens are written into the matrix in one assignment per call (a cold start puts 100k at once)."""
        rows: list[int] = []
        tokens: list[np.ndarray] = []
        with self._lock:
            for obj in objects:
                if obj.model != self.model or (self._objects and obj.token.shape[0] != self._tokens.shape[1]):
                    self.other_models += 1
                    continue
                kept = copy.copy(obj)
                kept.token = _NO_TOKEN
                row = self._row_of.get(obj.key)
                if row is None:
                    row = len(self._objects)
                    self._grow(row + 1, obj.token.shape[0])
                    self._objects.append(kept)
                    self._row_of[obj.key] = row
                else:
                    self._objects[row] = kept
                self._last_seen[row] = obj.last_seen_ns
                self._robots[row], self._maps[row] = obj.robot_id, obj.map_id
                rows.append(row)
                tokens.append(obj.token)
            if rows:
                self._tokens[np.asarray(rows)] = np.stack(tokens)  # a row put twice: its last token wins
        return len(rows)

    def _grow(self, needed: int, dim: int) -> None:
        if not self._objects and self._tokens.shape[1] != dim:
            self._tokens = np.zeros((0, dim), dtype=np.float32)
        if needed > self._tokens.shape[0]:
            capacity = max(needed, 2 * self._tokens.shape[0], 16)
            tokens = np.zeros((capacity, dim), dtype=np.float32)
            tokens[:len(self._objects)] = self._tokens[:len(self._objects)]
            last = np.zeros(capacity, dtype=np.int64)
            last[:len(self._objects)] = self._last_seen[:len(self._objects)]
            robots, maps = np.full(capacity, "", dtype=object), np.full(capacity, "", dtype=object)
            robots[:len(self._objects)] = self._robots[:len(self._objects)]
            maps[:len(self._objects)] = self._maps[:len(self._objects)]
            self._tokens, self._last_seen, self._robots, self._maps = tokens, last, robots, maps

    def remove(self, match: Callable[[StoredObject], bool]) -> int:
        """Remove every object `match` accepts; returns how many."""
        with self._lock:
            rows = [i for i, obj in enumerate(self._objects) if match(obj)]
            for row in sorted(rows, reverse=True):
                last = len(self._objects) - 1
                del self._row_of[self._objects[row].key]
                if row != last:
                    self._objects[row] = self._objects[last]
                    self._tokens[row] = self._tokens[last]
                    self._last_seen[row] = self._last_seen[last]
                    self._robots[row], self._maps[row] = self._robots[last], self._maps[last]
                    self._row_of[self._objects[row].key] = row
                self._objects.pop()
            return len(rows)

    def search(self, score, reference_ns: int, max_age_s: float = 0.0, min_score: float = 0.0,
               robot_ids: Sequence[str] = (), map_id: str = "", exclude: Optional[set] = None,
               max_results: int = 0) -> list[IndexHit]:
        """Objects the scorer gives a class, filtered like ObjectMemory.find plus robot and map; best score
        first (then most recent), at most max_results (0 = all). Filters and ordering are vectorised;
        answer objects are built only for the rows returned."""
        with self._lock:
            count = len(self._objects)
            if count == 0:
                return []
            tokens = self._tokens[:count]
            tokens.flags.writeable = False
            classes, scores = score(tokens)
            tokens.flags.writeable = True
            classes = np.asarray(classes).reshape(-1).astype(np.int64)
            scores = np.asarray(scores, dtype=np.float64).reshape(-1)
            keep = (classes >= 0) & (scores >= min_score)
            if max_age_s > 0.0:
                keep &= reference_ns - self._last_seen[:count] <= int(round(max_age_s * 1e9))
            if robot_ids:
                keep &= np.isin(self._robots[:count], np.asarray(list(robot_ids), dtype=object))
            if map_id:
                keep &= self._maps[:count] == map_id
            for key in exclude or ():
                row = self._row_of.get(key)
                if row is not None:
                    keep[row] = False
            rows = np.nonzero(keep)[0]
            order = rows[np.lexsort((-self._last_seen[rows], -scores[rows]))]
            if max_results:
                order = order[:int(max_results)]
            return [IndexHit(self._objects[row], int(classes[row]), float(scores[row])) for row in order.tolist()]

    def continuation(self, robot_id: str, map_id: str, region_3d: str, centre: np.ndarray, token: np.ndarray,
                     max_distance_m: float, min_similarity: float, taken: set,
                     session_id: str = "") -> Optional[StoredObject]:
        """The record a new track continues (see PersistentMemory's rule), or None."""
        with self._lock:
            count = len(self._objects)
            if count == 0 or token.shape[0] != self._tokens.shape[1]:
                return None
            similarity = self._tokens[:count] @ token
            best, best_similarity = None, -2.0
            for row in np.nonzero(similarity >= min_similarity)[0].tolist():
                obj = self._objects[row]
                if (obj.robot_id != robot_id or obj.map_id != map_id or not obj.has_3d or obj.region_3d != region_3d
                        or obj.key in taken or obj.session_id == session_id):
                    continue
                if np.linalg.norm(np.asarray(obj.centre) - centre) > max_distance_m:
                    continue
                if similarity[row] > best_similarity:
                    best, best_similarity = obj, float(similarity[row])
            return best
