"""The one 3D result type (Boxes3D: per region or per detection, in a named frame at a stamp) and the
rigid transforms (tf2's, passed as plain numbers) that move Located measurements into a frame."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .locate import Located

QUATERNION_NORM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class RigidTransform:
    """p' = R p + t from a source frame into `frame_id` (what tf2's lookup_transform(frame_id, source,
    stamp) returns, as plain numbers)."""

    translation: tuple[float, float, float]
    rotation_xyzw: tuple[float, float, float, float]
    frame_id: str


@dataclass
class Boxes3D:
    """The 3D of N regions or detections in `frame_id` at `stamp_ns`, shaped for
    vision_msgs/BoundingBox3D (center pose + size): what every consumer of 3D takes (outputs, tracks,
    the object memory). Located is the measurement it is made from (optical frame, with the counts
    that say why a row has no 3D).

    The boxes are axis-aligned in the optical frame, so in another frame each keeps its size
    and is turned by the transform's rotation: orientation = that quaternion for every box.
    """

    centres: np.ndarray  # [N,3] median centres (the object's position, e.g. a hypothesis pose)
    box_centres: np.ndarray  # [N,3] box midpoints (BoundingBox3D.center.position)
    sizes: np.ndarray  # [N,3] along the box's own axes (the optical frame's x, y, z)
    orientations: np.ndarray  # [N,4] x, y, z, w (BoundingBox3D.center.orientation)
    valid: np.ndarray  # [N] bool: rows without 3D are False
    frame_id: str = ""
    stamp_ns: int = 0

    def __len__(self) -> int:
        return int(self.valid.shape[0])

    def take(self, rows: Sequence[int]) -> "Boxes3D":
        """These rows (e.g. the regions of a frame's detections), in the same frame."""
        index = np.asarray(rows, dtype=np.int64).reshape(-1)
        return Boxes3D(self.centres[index], self.box_centres[index], self.sizes[index], self.orientations[index],
                       self.valid[index], self.frame_id, self.stamp_ns)

    def nonfinite_problem(self) -> str:
        """Why these boxes must not be published ('' when every valid row is finite): a NaN or an
        infinity in a pose or size is no place a robot can go to, and downstream code (costmaps, planners)
        does not expect one."""
        bad = self.valid & ~self.finite_rows()
        if not bad.any():
            return ""
        return (f"the 3D of {int(bad.sum())} of {len(bad)} regions is not finite (e.g. "
                f"{self.centres[bad][0].tolist()}): broken intrinsics, depth or transform; no 3D is published")

    def finite_rows(self) -> np.ndarray:
        """[N] bool: every number of the row (centre, box, size, orientation) is finite."""
        rows = np.concatenate([self.centres, self.box_centres, self.sizes, self.orientations], axis=1)
        return np.isfinite(rows).all(axis=1)


def unit_quaternion(rotation_xyzw: Sequence[float]) -> np.ndarray:
    """The quaternion (x, y, z, w) renormalised; ValueError unless it is a unit quaternion
    (a tf2 rotation always is, to rounding; anything else is a bug upstream, e.g. all zeros)."""
    q = np.asarray(rotation_xyzw, dtype=np.float64)
    if q.shape != (4,) or not np.all(np.isfinite(q)):
        raise ValueError(f"rotation must be 4 finite numbers x, y, z, w; got {rotation_xyzw}")
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise ValueError(f"rotation is not a unit quaternion (norm {norm:.6g}); expected x, y, z, w")
    return q / norm


def rotation_matrix(rotation_xyzw: Sequence[float]) -> np.ndarray:
    """3x3 rotation matrix of a unit quaternion (x, y, z, w)."""
    x, y, z, w = unit_quaternion(rotation_xyzw)
    return np.array([
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w)],
        [2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w)],
        [2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y)],
    ])


def transform_boxes(located: Located, translation: Sequence[float] = (0.0, 0.0, 0.0),
                    rotation_xyzw: Sequence[float] = (0.0, 0.0, 0.0, 1.0), frame_id: str = "",
                    stamp_ns: int = 0) -> Boxes3D:
    """Centres and boxes moved by a rigid transform: p' = R p + t, labelled `frame_id` at `stamp_ns`.

    translation and rotation_xyzw are a geometry_msgs/TransformStamped's transform from the optical
    frame (child_frame_id) to the target frame (header.frame_id), i.e. what tf2's
    lookup_transform(target, optical, stamp) returns. The defaults give the optical frame itself.
    """
    t = np.asarray(translation, dtype=np.float64)
    if t.shape != (3,) or not np.all(np.isfinite(t)):
        raise ValueError(f"translation must be 3 finite numbers, got {translation}")
    q = unit_quaternion(rotation_xyzw)
    r = rotation_matrix(q)
    count = len(located)
    return Boxes3D(centres=located.centres @ r.T + t, box_centres=located.box_centres @ r.T + t,
                   sizes=located.sizes.copy(), orientations=np.tile(q, (count, 1)),
                   valid=located.valid.copy(), frame_id=frame_id, stamp_ns=int(stamp_ns))


def move_located(located: Located, transform: Optional[RigidTransform], source_frame: str,
                 stamp_ns: int) -> Boxes3D:
    """`located` (measured in `source_frame`, the optical frame) as Boxes3D in the transform's frame,
    or in the optical frame itself without one."""
    if transform is None:
        return transform_boxes(located, frame_id=source_frame, stamp_ns=stamp_ns)
    return transform_boxes(located, transform.translation, transform.rotation_xyzw, transform.frame_id, stamp_ns)
