"""What the pipeline asks of a depth input and of an output frame, and why a frame has no 3D.

Both are asked only once the frame's masks exist, so a depth image or a transform that arrives while
the engine runs still serves the frame. The node implements them over ROS topics and tf2
(ros/depth_input.py), `textregion bag` over the bag's messages, `textregion segment` over depth files.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..spatial import Intrinsics, RigidTransform


class No3D(Exception):
    """This frame (or its output frame) gets no 3D; the message says why, `key` groups repeats of one
    cause (counted in /diagnostics, logged once)."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class DepthView:
    """A depth image registered to the colour frame: metres (NaN = no reading) and the colour camera's
    intrinsics; `encoding` names the source's encoding for the reason of an unusable one."""

    depth_m: np.ndarray
    intrinsics: Intrinsics
    encoding: str = ""


class DepthSource(Protocol):
    """Where the pipeline gets the depth image of a colour frame (the node's depth input, a bag, files)."""

    def depth_for(self, stamp_ns: int, frame_id: str, tolerance_s: float) -> DepthView:
        """The depth image paired with the colour frame of this stamp and optical frame; No3D why not."""


class OutputTransform(Protocol):
    """Where the pipeline gets the transform from the camera's optical frame into the output frame."""

    def transform_at(self, source_frame: str, stamp_ns: int, timeout_s: float) -> RigidTransform:
        """The transform from `source_frame` into the output frame at the stamp; No3D when unknown."""
