"""Objects over time: persistent track ids for the engine's regions and a memory of what was seen.

`Tracker` turns each frame's regions (tokens, masks, boxes, optional 3D centres) into track ids
that stay the same while an object stays in view or returns within max_age_s; `ObjectMemory`
remembers every track for memory_s seconds so the node can answer "where did you last see X?"
by scoring the remembered tokens against a text query, without re-running the engine.
Behind it, optionally, a store that outlives the process and is shared by a fleet (store*.py: SQLite
or PostgreSQL), written by one writer thread and followed into a RAM index (persistent_memory.py,
stored_index.py).

ROS-free on purpose (numpy, torch, scipy only; never rclpy or message packages): the node adapts
these classes to parameters, topics and services, and the same code runs in tests, benchmarks and
offline tools with no ROS installed.
"""
from .tracked_objects import TrackedObjects
from .memory import MemorySettings, ObjectMemory, Remembered3D, RememberedObject, Scorer
from .tracking import PARAMETER_FIELDS, RegionSightings, Track, Tracker, TrackingSettings

__all__ = [
    "PARAMETER_FIELDS", "TrackedObjects", "RegionSightings", "MemorySettings", "ObjectMemory", "Remembered3D",
    "RememberedObject",
    "Scorer", "Track", "Tracker", "TrackingSettings",
]
