"""The outputs a frame can give and the work each needs: the one place of the laziness rules.

Segmentation (a text forward when the queries are new, a [R,Q] score and a label image) runs only when an
output that needs it is wanted; grounding (detections, connected parts) only for detections, the overlay
and the 3D outputs; the overlay is only drawn when wanted. Names are the node's output topics, and the
CLI's file products use the same names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

SPATIAL_PRODUCTS = frozenset({"detections_3d", "markers"})
NEED_SEGMENTATION = frozenset({"detections", "labels", "confidence", "overlay"}) | SPATIAL_PRODUCTS
NEED_GROUNDING = frozenset({"detections", "overlay"}) | SPATIAL_PRODUCTS
PRODUCTS = NEED_SEGMENTATION | {"region_tokens"}


@dataclass(frozen=True)
class Work:
    """What describe() computes for a set of wanted products."""

    segmentation: bool
    grounding: bool
    overlay: bool
    detection_3d: bool


def work_for(wanted: Collection[str]) -> Work:
    """The work the `wanted` products need; ValueError naming an unknown product (a typo is a bug, not
    a silent empty output)."""
    wanted = frozenset(wanted)
    unknown = wanted - PRODUCTS
    if unknown:
        raise ValueError(f"unknown products {sorted(unknown)}; known: {sorted(PRODUCTS)}")
    return Work(segmentation=bool(wanted & NEED_SEGMENTATION), grounding=bool(wanted & NEED_GROUNDING),
                overlay="overlay" in wanted, detection_3d=bool(wanted & (SPATIAL_PRODUCTS | {"overlay"})))
