"""Pixel encodings of the label and confidence images, shared by the node's messages and the files.

ROS-free, so the node (sensor_msgs/Image) and the offline tools (PNG) hold the same numbers
(DESIGN.md section 2):
  - labels: mono8 with 255 = unlabeled up to 254 classes, else 16-bit with 65535 = unlabeled;
  - confidence: mono8, round(255 * probability);
  - both always lossless (a JPEG would turn class 3 into class 2 at every edge).
"""
from __future__ import annotations

import numpy as np

UNLABELED_8BIT = 255
UNLABELED_16BIT = 65535
MAX_8BIT_CLASSES = 254
MAX_CLASSES = 65535


def label_array(labels: np.ndarray, class_count: int) -> np.ndarray:
    """Label image as stored: uint8 (255 = unlabeled) for <= 254 classes, else uint16 (65535).

    `labels` is the engine's HxW int array with -1 = unlabeled. Raises ValueError for labels
    outside [-1, class_count) or more classes than a 16-bit image can name.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an HxW integer array, got shape {labels.shape} of {labels.dtype}")
    if not 0 <= class_count <= MAX_CLASSES:
        raise ValueError(f"{class_count} classes do not fit a 16-bit label image (at most {MAX_CLASSES})")
    if labels.size and (int(labels.min()) < -1 or int(labels.max()) >= class_count):
        raise ValueError(f"labels must be in [-1, {class_count}), got [{labels.min()}, {labels.max()}]")
    dtype = np.uint8 if class_count <= MAX_8BIT_CLASSES else np.uint16
    return labels.astype(dtype, copy=False)  # -1 wraps to 255 / 65535: each depth's unlabeled value


def unlabeled_value(class_count: int) -> int:
    """The pixel value meaning "no class" in a label image of `class_count` classes."""
    return UNLABELED_8BIT if class_count <= MAX_8BIT_CLASSES else UNLABELED_16BIT


def confidence_array(confidence: np.ndarray) -> np.ndarray:
    """uint8 round(255 * p), p clipped to [0, 1] and NaN read as 0 (the node's ~/confidence).

    Rounding is numpy's round-half-to-even; one full-size float temporary.
    """
    confidence = np.asarray(confidence)
    if confidence.ndim != 2:
        raise ValueError(f"confidence must be HxW, got shape {confidence.shape}")
    scaled = np.multiply(confidence, 255.0, dtype=np.float32)
    np.nan_to_num(scaled, copy=False, nan=0.0)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    np.rint(scaled, out=scaled)
    return scaled.astype(np.uint8)
