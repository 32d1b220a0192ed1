"""Pixel encodings of the label and confidence images, shared by the node's messages and the files.

ROS-free, so the node (sensor_msgs/Image) and the offline tools (PNG) hold the same numbers
(DESIGN.md section 2):
  - labels: mono8 with 255 = unlabeled up to 254 classes, else 16-bit with 65535 = unlabeled;
    with explicit label values (class_ids.StableClassIds) mono8 while every value is <= 254, else
    16-bit, since the values, not the class count, decide what fits a byte;
  - confidence: mono8, round(255 * probability);
  - both always lossless (a JPEG would turn class 3 into class 2 at every edge).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

UNLABELED_8BIT = 255
UNLABELED_16BIT = 65535
MAX_8BIT_CLASSES = 254
MAX_CLASSES = 65535
MAX_8BIT_VALUE = 254
MAX_VALUE = 65534

LabelValues = Optional[Sequence[int] | np.ndarray]


def label_array(labels: np.ndarray, class_count: int, values: LabelValues = None) -> np.ndarray:
    """Label image as stored: pixel = label value of the class, top value of the pixel type = unlabeled.

    `labels` is the engine's HxW int array of class indices, -1 = unlabeled. Without `values` the
    label value of class i is i: uint8 (255 = unlabeled) for <= 254 classes, else uint16 (65535).
    With `values` (one per class index, see label_values) class i is written as values[i] through
    a lookup table, uint8 while every value is <= 254, else uint16: stable ids that grew past 254
    need 16 bits even for a few classes. Raises ValueError for labels outside [-1, class_count),
    more classes than a 16-bit image can name, or values that label_values refuses.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an HxW integer array, got shape {labels.shape} of {labels.dtype}")
    if not 0 <= class_count <= MAX_CLASSES:
        raise ValueError(f"{class_count} classes do not fit a 16-bit label image (at most {MAX_CLASSES})")
    table = None if values is None else label_values(values, class_count)
    if labels.size and (int(labels.min()) < -1 or int(labels.max()) >= class_count):
        raise ValueError(f"labels must be in [-1, {class_count}), got [{labels.min()}, {labels.max()}]")
    if table is None:
        dtype = np.uint8 if class_count <= MAX_8BIT_CLASSES else np.uint16
        return labels.astype(dtype, copy=False)  # -1 wraps to 255 / 65535: each depth's unlabeled value
    dtype = _value_dtype(table)
    lookup = np.empty(class_count + 1, dtype=dtype)
    lookup[:class_count] = table
    lookup[class_count] = np.iinfo(dtype).max  # index -1 reads the last entry: unlabeled
    return np.take(lookup, labels)


def label_values(values: Sequence[int] | np.ndarray, class_count: int) -> np.ndarray:
    """`values` checked as the label values of `class_count` classes, as an int64 array.

    One value per class index, each in [0, 65534] (65535 is unlabeled in a 16-bit image) and no
    two alike (a pixel value must name one class). Raises ValueError saying which rule failed.
    """
    if isinstance(values, (str, bytes)):
        raise ValueError("label values must be a sequence of integers, not a string")
    table = np.asarray(values)
    if table.ndim != 1:
        raise ValueError(f"label values must be a flat sequence, got shape {table.shape}")
    if table.size != class_count:
        raise ValueError(f"{table.size} label values for {class_count} classes; need one per class")
    if not table.size:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(table.dtype, np.integer):
        raise ValueError(f"label values must be integers, got {table.dtype}")
    table = table.astype(np.int64)
    low, high = int(table.min()), int(table.max())
    if low < 0 or high > MAX_VALUE:
        bad = low if low < 0 else high
        raise ValueError(f"label value {bad} is outside [0, {MAX_VALUE}] ({MAX_VALUE + 1} means unlabeled)")
    unique, counts = np.unique(table, return_counts=True)
    if unique.size != table.size:
        raise ValueError(f"label value {int(unique[counts > 1][0])} is given to two classes; values must be unique")
    return table


def unlabeled_value(class_count: int, values: LabelValues = None) -> int:
    """The pixel value meaning "no class" in a label image of `class_count` classes.

    With `values`, the one of the image label_array makes from them (255 while every value is
    <= 254, else 65535), so a file's metadata and its PNG agree.
    """
    if values is not None:
        return int(np.iinfo(_value_dtype(label_values(values, class_count))).max)
    return UNLABELED_8BIT if class_count <= MAX_8BIT_CLASSES else UNLABELED_16BIT


def _value_dtype(table: np.ndarray) -> type:
    """uint8 while every value fits below the 8-bit unlabeled value, else uint16."""
    return np.uint8 if not table.size or int(table.max()) <= MAX_8BIT_VALUE else np.uint16


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
