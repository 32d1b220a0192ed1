"""The object memory's way to disk and to the fleet: a bounded queue, one writer thread, the RAM index.

Frames never wait for the database: the frame thread only puts the frame's tracks on a bounded queue
(put_nowait; when full the frame's update is dropped, counted and logged once). The writer thread
every memory_flush_s drains the queue into one record per object, upserts the changed records in one
transaction, then follows the store (rows changed by other sessions or robots since the last change
number it saw, and forgotten keys) into the StoredIndex that ~/find scores. ~/find never waits on
the database: it reads the index.

Faults: a store that cannot be opened (unreachable server, refused file) leaves the node on its RAM
memory with the reason in status(); an unreachable one is retried every memory_retry_s and, once
back, gets every record changed meanwhile (records stay dirty until written). A refused one (corrupt,
foreign, newer schema) is never retried or touched.

Continuation across restarts (the rule): a new track continues a stored record of the same robot,
the same model, map_id and 3D frame, when its 3D centre lies within memory_continue_distance_m of the
record's last centre and the token cosine is at least memory_continue_similarity; the most similar
such record wins, and a record is continued by at most one track of a session. The track then writes
into that record (its first sighting and count carry on). A track without 3D never continues one:
image boxes of another boot say nothing about the place.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import numpy as np

from ..spatial.transform import Boxes3D
from .store import ObjectStore, open_store
from .store_records import (StoredObject, StoreError, StoreLocation, StoreRefused, default_robot_id, new_session_id,
                            resolve_store)
from .stored_index import StoredIndex
from ..settings_rows import TableSettings

logger = logging.getLogger(__name__)
@dataclass(frozen=True)
class PersistenceSettings(TableSettings):
    """Where and how the writer keeps the memory: the store (memory_store resolved), this robot's
    name (robot_id, or the namespace / host name), and the rows in ROWS (settings_rows.py checks them)."""

    location: StoreLocation
    robot_id: str
    map_id: str = ""
    retention_s: float = 0.0
    flush_s: float = 1.0
    queue_size: int = 256
    retry_s: float = 5.0
    continue_distance_m: float = 0.5
    continue_similarity: float = 0.8

    ROWS = {"map_id": "map_id", "retention_s": "memory_retention_s", "flush_s": "memory_flush_s",
            "queue_size": "memory_queue_size", "retry_s": "memory_retry_s",
            "continue_distance_m": "memory_continue_distance_m",
            "continue_similarity": "memory_continue_similarity"}

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any], namespace: str = "") -> "PersistenceSettings":
        robot = str(values["robot_id"]).strip() or default_robot_id(namespace)
        return cls(resolve_store(str(values["memory_store"])), robot, **cls.row_arguments(values))


@dataclass
class _Sightings:
    stamp_ns: int
    frame_id: str
    track_ids: np.ndarray
    tokens: np.ndarray
    boxes: np.ndarray
    spatial: Optional[Boxes3D]


class PersistentMemory:
    """Writes the live tracks to the store, follows the store into the index. start() / stop()."""

    def __init__(self, settings: PersistenceSettings, model: str, session_id: Optional[str] = None) -> None:
        self.settings = settings
        self.model = model
        self.session_id = session_id or new_session_id()
        self.index = StoredIndex(model)
        self._queue: "queue.Queue[Any]" = queue.Queue(maxsize=settings.queue_size)
        self._live: dict[int, StoredObject] = {}  # this session's track id -> the record it writes
        self._live_lock = threading.Lock()
        self._dirty: dict[tuple, StoredObject] = {}
        self._taken: set = set()  # stored keys continued by a track of this session
        self._pending_forgets: list[tuple[str, str, list[int]]] = []
        self._store: Optional[ObjectStore] = None
        self._cursor = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._next_try = 0.0
        self._last_prune = 0.0
        self.state = "starting"
        self.reason = ""
        self.overflow = 0
        self.written = 0
        self.loaded = 0
        self.continued = 0
        self.flushes = 0
        self.failed_flushes = 0

    # -- frame thread -------------------------------------------------------------------------------
    def enqueue(self, stamp_ns: int, frame_id: str, track_ids: np.ndarray, tokens: np.ndarray, boxes: np.ndarray,
                spatial: Optional[Boxes3D]) -> bool:
        """Hand one frame's tracks to the writer; never blocks. False when the queue was full."""
        item = _Sightings(int(stamp_ns), str(frame_id), np.array(track_ids, dtype=np.int64, copy=True),
                      np.array(tokens, dtype=np.float32, copy=True), np.array(boxes, dtype=np.float64, copy=True),
                      spatial)
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.overflow += 1
            if self.overflow == 1:
                logger.warning("object store queue full (%d frames): frames' memory updates are being dropped "
                               "until the writer catches up (counted in /diagnostics as store_queue_overflow)",
                               self.settings.queue_size)
            return False

    # -- service threads ----------------------------------------------------------------------------
    def live_keys(self) -> dict[int, tuple]:
        """This session's track id -> the store key it writes (for ~/find to merge without duplicates)."""
        with self._live_lock:
            return {track: obj.key for track, obj in self._live.items()}

    def forget(self, robot_id: str, session_id: str = "", track_ids: tuple = ()) -> int:
        """Forget from the index now, and from this session's records and the store on the writer thread
        (in queue order: a frame queued before the forget cannot bring the object back). Returns how many
        left the index."""
        removed = self.index.remove(_matcher(robot_id, session_id, track_ids))
        self._queue.put(("forget", robot_id, session_id, sorted({int(t) for t in track_ids})), timeout=5.0)
        self._wake.set()
        return removed

    def status(self) -> dict[str, str]:
        """Key-values for /diagnostics (the store shown without a password)."""
        return {"store": self.settings.location.shown, "store_state": self.state, "store_reason": self.reason,
                "store_robot_id": self.settings.robot_id, "store_session": self.session_id,
                "store_queue": str(self._queue.qsize()), "store_queue_overflow": str(self.overflow),
                "store_written": str(self.written), "store_loaded": str(self.loaded),
                "store_indexed": str(len(self.index)), "store_continued": str(self.continued),
                "store_flushes": str(self.flushes)}

    @property
    def degraded(self) -> bool:
        return self.state not in ("ok", "starting")

    # -- lifetime -----------------------------------------------------------------------------------
    def start(self) -> "PersistentMemory":
        self._thread = threading.Thread(target=self._run, name="object-store-writer", daemon=True)
        self._thread.start()
        return self

    def flush_now(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued (one last flush) and close the store."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- writer thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            try:
                self._cycle()
            except Exception:  # never let the writer die: the next cycle tries again
                logger.exception("object store writer failed")
            if stopping:
                return
            self._wake.wait(self.settings.flush_s)
            self._wake.clear()

    def _cycle(self) -> None:
        self._drain()
        if self._store is None and self.state != "refused" and time.monotonic() >= self._next_try:
            self._open()
        if self._store is None:
            return
        try:
            self._apply_forgets()
            dirty = list(self._dirty.values())
            if dirty:
                self._store.upsert(dirty)
                for obj in dirty:
                    if self._dirty.get(obj.key) is obj:
                        del self._dirty[obj.key]
                self.written += len(dirty)
            self._follow()
            self._prune_now_and_then()
            self.flushes += 1
            if self.state != "ok":
                logger.info("object store %s: back, %d objects written", self.settings.location.shown, len(dirty))
            self.state, self.reason = "ok", ""
        except StoreError as error:
            self._lost(str(error))

    def _prune_now_and_then(self) -> None:
        """memory_retention_s while running: the store drops objects unseen for longer, at most hourly."""
        retention = self.settings.retention_s
        if retention <= 0.0 or time.monotonic() - self._last_prune < min(3600.0, retention):
            return
        self._last_prune = time.monotonic()
        cut = time.time_ns() - int(retention * 1e9)
        self._store.prune(cut)
        self.index.remove(lambda obj: obj.last_seen_ns < cut and obj.key not in self._dirty)

    def _open(self) -> None:
        try:
            store = open_store(self.settings.location)
            if self.settings.retention_s > 0.0:
                store.prune(time.time_ns() - int(self.settings.retention_s * 1e9))
                self._last_prune = time.monotonic()
            self._cursor = store.last_seq()  # changes after this are followed; earlier ones are loaded now
            self.loaded = sum(self.index.put(o for o in chunk if not self._is_live(o))
                              for chunk in store.object_chunks())
            self._store = store
            logger.info("object store %s: %d objects loaded (%d of another model left out), robot %s, session %s",
                        self.settings.location.shown, self.loaded, self.index.other_models, self.settings.robot_id,
                        self.session_id)
            self.state, self.reason = "ok", ""
        except StoreRefused as error:
            self.state, self.reason = "refused", str(error)
            logger.error("object store refused, the memory stays in RAM only: %s", error)
        except StoreError as error:
            self._lost(str(error))

    def _lost(self, reason: str) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        first = self.state != "unreachable"
        self.state, self.reason = "unreachable", reason
        self.failed_flushes += 1
        self._next_try = time.monotonic() + self.settings.retry_s
        if first:
            logger.warning("object store unreachable, the memory goes on in RAM and is written when it is back "
                           "(retry every %.0f s): %s", self.settings.retry_s, reason)

    def _is_live(self, obj: StoredObject) -> bool:
        return obj.session_id == self.session_id and obj.robot_id == self.settings.robot_id

    def _follow(self) -> None:
        changed = self._store.objects(since_seq=self._cursor)
        forgotten = self._store.forgotten(self._cursor)
        self.index.put(o for o in changed if not self._is_live(o) and o.key not in self._dirty)
        for robot, session, track, _ in forgotten:
            self.index.remove(lambda o, r=robot, s=session, t=track: o.robot_id == r and (not s or o.session_id == s)
                              and (t < 0 or o.track_id == t))
        self._cursor = max([self._cursor] + [o.seq for o in changed] + [f[3] for f in forgotten])

    def _apply_forgets(self) -> None:
        while self._pending_forgets:
            robot, session, tracks = self._pending_forgets[0]
            self._store.forget(robot, session, tracks)
            self._pending_forgets.pop(0)

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, tuple):
                _, robot, session, tracks = item
                match = _matcher(robot, session, tracks)
                self.index.remove(match)
                with self._live_lock:
                    for track, obj in list(self._live.items()):
                        if match(obj):  # seen again, it starts a new record
                            self._dirty.pop(obj.key, None)
                            del self._live[track]
                self._pending_forgets.append((robot, session, list(tracks)))
                continue
            self._take(item)

    def _take(self, frame: _Sightings) -> None:
        """One frame's tracks into their records (the rule of continuation for new tracks)."""
        spatial = frame.spatial
        valid = np.asarray(spatial.valid, dtype=bool) if spatial is not None else np.zeros(len(frame.track_ids), bool)
        updated = []
        for i, track in enumerate(frame.track_ids.tolist()):
            token = frame.tokens[i]
            with self._live_lock:
                obj = self._live.get(track)
            if obj is None:
                obj = self._new_record(track, token, spatial, i, bool(valid[i]), frame.stamp_ns)
            else:
                obj = obj.copy()
                if obj.box_stamp_ns != frame.stamp_ns:
                    obj.sightings += 1
            obj.first_seen_ns = min(obj.first_seen_ns, frame.stamp_ns)
            obj.last_seen_ns = max(obj.last_seen_ns, frame.stamp_ns)
            obj.token = token
            obj.box = tuple(float(v) for v in frame.boxes[i])
            obj.box_frame, obj.box_stamp_ns = frame.frame_id, frame.stamp_ns
            if valid[i]:
                obj.has_3d = True
                obj.centre = tuple(float(v) for v in spatial.centres[i])
                obj.box_centre = tuple(float(v) for v in spatial.box_centres[i])
                obj.size = tuple(float(v) for v in spatial.sizes[i])
                obj.orientation = tuple(float(v) for v in spatial.orientations[i])
                obj.region_3d, obj.stamp_3d_ns = spatial.frame_id, int(spatial.stamp_ns)
                obj.map_id = self.settings.map_id
            with self._live_lock:
                self._live[track] = obj
            self._dirty[obj.key] = obj
            updated.append(obj)
        self.index.put(updated)

    def _new_record(self, track: int, token: np.ndarray, spatial: Optional[Boxes3D], row: int, valid: bool,
                    stamp_ns: int) -> StoredObject:
        if valid:
            old = self.index.continuation(self.settings.robot_id, self.settings.map_id, spatial.frame_id,
                                          np.asarray(spatial.centres[row], dtype=np.float64), token,
                                          self.settings.continue_distance_m, self.settings.continue_similarity,
                                          self._taken, self.session_id)
            if old is not None:
                self._taken.add(old.key)
                self.continued += 1
                obj = old.copy()
                obj.sightings += 1
                return obj
        return StoredObject(self.settings.robot_id, self.session_id, int(track), self.model, stamp_ns, stamp_ns, 1,
                            token)


def _matcher(robot_id: str, session_id: str, track_ids) -> Callable[[StoredObject], bool]:
    """The objects a forget request names: one robot, optionally one session and some track ids."""
    tracks = {int(t) for t in track_ids}
    return lambda obj: (obj.robot_id == robot_id and (not session_id or obj.session_id == session_id)
                        and (not tracks or obj.track_id in tracks))


def start_persistence(values: Mapping[str, Any], namespace: str, config: Any) -> Optional[PersistentMemory]:
    """The node's writer for these parameter values (None when memory_store is ''), started: opening
    and loading the store happen on the writer thread, so configure never waits on a database."""
    try:
        settings = PersistenceSettings.from_parameters(values, namespace)
    except StoreError as error:  # the parameter check refuses such values; said, never a failed configure
        logger.error("object memory stays in RAM only: %s", error)
        return None
    if settings.location.kind == "ram":
        return None
    # the engine's model id (backbone:model:weights): what its tokens are comparable with
    memory = PersistentMemory(settings, config.model_id).start()
    logger.info("object memory store: %s (robot %s, map_id %r, session %s)", settings.location.shown,
                settings.robot_id, settings.map_id, memory.session_id)
    return memory


def store_level(persistence: Optional[PersistentMemory], level: int, message: str) -> tuple[int, str]:
    """The node's diagnostic level and message with the store's state: WARN while it is unreachable or
    refused (the memory then lives in RAM only), or when frames' updates overflowed the queue."""
    if persistence is None:
        return level, message
    from ..runtime.health import OK, WARN
    reasons = []
    if persistence.degraded:
        reasons.append(f"object store {persistence.state}, memory in RAM only: {persistence.reason}")
    if persistence.overflow:
        reasons.append(f"object store queue overflowed {persistence.overflow} times")
    if not reasons:
        return level, message
    return max(level, WARN), "; ".join(reasons if level == OK else [message, *reasons])
