"""Helpers for the object-store tests: objects to store and fresh, empty stores of either kind."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from textregion_ros.objects.store_records import StoredObject, resolve_store
# the tests' name for a new empty database on the session's server
from textregion_ros.tooling.postgres_server import fresh_database_url as fresh_postgres_url

DIM = 8
MODEL = "pe:PE-Core-T-16-384:random"


def token(seed: int, dim: int = DIM) -> np.ndarray:
    """A unit token, fp16-exact (so a round trip through the store compares equal)."""
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float16).astype(np.float32)


def stored(track_id: int, robot: str = "robot_a", session: str = "s1", seen_ns: int = 10**9, seed: int = 0,
           centre=(1.0, 2.0, 0.5), map_id: str = "floor1", model: str = MODEL) -> StoredObject:
    has_3d = centre is not None
    return StoredObject(robot, session, track_id, model, seen_ns - 10**8, seen_ns, 3, token(seed or track_id),
                        (10.0, 20.0, 30.5, 40.0), "camera", seen_ns, has_3d,
                        tuple(centre) if has_3d else (float("nan"),) * 3,
                        tuple(centre) if has_3d else (float("nan"),) * 3, (0.1, 0.2, 0.3), (0.0, 0.0, 0.0, 1.0),
                        "map" if has_3d else "", seen_ns, map_id)


def fresh_location(kind: str, tmp_path: Path, server=None):
    if kind == "sqlite":
        return resolve_store(str(tmp_path / "robot" / "memory.sqlite"))
    return resolve_store(fresh_postgres_url(server))
