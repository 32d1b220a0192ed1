"""One frame's regions -> track ids -> object memory: the bookkeeping the node and `textregion bag` share.

Both call `observe` once per processed frame (in stamp order), so a bag keeps its tracks across the
whole recording exactly as the live node would.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from ..engine.results import Regions
from ..engine.sync_audit import budgeted_sync
from ..spatial.transform import Boxes3D
from .memory import MemorySettings, ObjectMemory
from .persistent_memory import PersistentMemory
from .tracking import RegionSightings, Tracker, TrackingSettings

MEMORY_PARAMETERS = tuple(sorted(MemorySettings.parameters()))


class TrackedObjects:
    """A Tracker and an ObjectMemory fed together; settings come from the node's parameters."""

    # the parameters (rows of the table) that configure() reads
    PARAMETERS = TrackingSettings.parameters() | MemorySettings.parameters()

    def __init__(self, tracking: TrackingSettings = TrackingSettings(), memory_s: float = MemorySettings.memory_s,
                 memory_size: int = MemorySettings.memory_size) -> None:
        self.tracker = Tracker(tracking)
        self.memory = ObjectMemory(memory_s, memory_size)
        # the way to the store (persistent_memory.py), set by the node when memory_store is not ''
        self.persistence: Optional[PersistentMemory] = None

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any]) -> "TrackedObjects":
        memory = MemorySettings.from_parameters(values)
        return cls(TrackingSettings.from_parameters(values), memory.memory_s, memory.memory_size)

    @staticmethod
    def settings_problem(values: Mapping[str, Any]) -> Optional[str]:
        """Why these parameter values cannot configure tracking (a rule between them), or None; the
        message names the parameters."""
        try:
            TrackingSettings.from_parameters(values)
        except ValueError as error:
            return f"tracking: {error}"
        return None

    def configure(self, values: Mapping[str, Any]) -> None:
        """New settings between frames (tracks and memory are kept; memory is pruned to the new limits)."""
        self.tracker.settings = TrackingSettings.from_parameters(values)
        memory = MemorySettings.from_parameters(values)
        self.memory.configure(memory.memory_s, memory.memory_size)

    def observe(self, stamp_ns: int, frame_id: str, regions: Regions,
                spatial: Optional[Boxes3D] = None) -> np.ndarray:
        """Track ids [R] uint32 of the frame's regions; the memory learns the tracks' new sightings.

        `spatial`: the regions' 3D in one output frame (target_frame or the optical frame); its valid
        centres also take part in the association (3D distance), so they must be in the same frame
        from one frame to the next, which is why the optical-frame centres are not used when the
        transform into target_frame failed.
        """
        centres = None
        if spatial is not None:
            centres = np.where(spatial.valid[:, None], spatial.centres, np.nan)
        with budgeted_sync(regions.boxes.device):  # one host copy of the boxes, for the tracker and the memory
            boxes = regions.boxes.detach().cpu().numpy()
        # the soft masks as they are: the tracker subsamples them to its grid before thresholding at > 0
        track_ids = self.tracker.update(RegionSightings(stamp_ns, regions.tokens, regions.masks, boxes, centres))
        self.memory.observe(stamp_ns, frame_id, track_ids, self.tracker.last_track_tokens, boxes, spatial)
        if self.persistence is not None:  # only enqueues: frames never wait for the database
            self.persistence.enqueue(stamp_ns, frame_id, track_ids, self.tracker.last_track_tokens, boxes, spatial)
        return track_ids

    def diagnostics(self) -> dict[str, str]:
        """Key-values for /diagnostics: open tracks and remembered objects."""
        values = {"tracks_open": str(self.tracker.open_count), "objects_remembered": str(len(self.memory))}
        if self.persistence is not None:
            values.update(self.persistence.status())
        return values

    def reset(self) -> None:
        """Close every track and forget every object (lifecycle cleanup); track ids keep counting up."""
        self.tracker.reset()
        self.memory.clear()
