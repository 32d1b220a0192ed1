"""Result files of the offline tools (`textregion segment`, `textregion-demo`): PNGs and JSON.

ROS-free on purpose, so the CLI can segment a folder of images on a machine whose ROS message
packages are broken or absent. The pixel encodings are the node's (DESIGN.md section 2), so a
file written here and a message published by the node hold the same numbers:
  - labels: mono8 with 255 = unlabeled up to 254 classes, else 16-bit with 65535 = unlabeled;
  - confidence: mono8, round(255 * probability);
  - both always lossless PNG (a JPEG would turn class 3 into class 2 at every edge).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

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


def save_png(array: np.ndarray, path: Path) -> None:
    """Write HxW uint8 / uint16 or HxWx3 uint8 as a lossless PNG (16-bit grey for uint16).

    Written to a temporary name first, so an interrupted run never leaves a truncated PNG under
    the final name.
    """
    array = np.ascontiguousarray(array)
    if array.dtype == np.uint16 and array.ndim == 2:
        image = Image.fromarray(array, mode="I;16") if _PIL_NEEDS_MODE else Image.fromarray(array)
    elif array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        image = Image.fromarray(array)
    else:
        raise ValueError(f"cannot write a PNG from shape {array.shape} of {array.dtype}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)


def load_png(path: Path) -> np.ndarray:
    """A PNG written by save_png back as the same array (uint16 stays uint16)."""
    with Image.open(path) as image:
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.asarray(image).astype(np.uint16)
        return np.asarray(image)


def write_json(path: Path, data: Any) -> None:
    """Pretty JSON, written atomically (see save_png)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def class_map(classes: Sequence[str]) -> dict[str, str]:
    """labels.json content: class index (as a JSON key) -> query text."""
    return {str(index): str(name) for index, name in enumerate(classes)}


def detection_record(query: str, class_index: int, score: float, box: Iterable[float], instance_id: int,
                     area: int) -> dict[str, Any]:
    """One detection as the JSON files hold it.

    box_xyxy is x1, y1, x2, y2 in image pixels with x2, y2 exclusive (the engine's convention),
    instance_id the detection's value in the region-id image (RegionTokens.region_ids), area
    the pixel count of its region's mask (RegionTokens.areas[instance_id - 1]; the box covers the
    largest connected part of that mask).
    """
    return {
        "query": str(query),
        "class_index": int(class_index),
        "score": round(float(score), 6),
        "box_xyxy": [round(float(v), 3) for v in box],
        "instance_id": int(instance_id),
        "area": int(area),
    }


def detections_document(source: str, size: tuple[int, int], classes: Sequence[str],
                        detections: list[dict[str, Any]], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`<stem>_detections.json`: the image, its size, the classes and the detections."""
    height, width = size
    document: dict[str, Any] = {
        "image": source,
        "width": int(width),
        "height": int(height),
        "classes": list(classes),
        "unlabeled_value": unlabeled_value(len(classes)),
        "detections": detections,
    }
    document.update(extra or {})
    return document


def _pillow_needs_mode() -> bool:
    """Pillow < 10 guesses mode "I;16" for uint16 only when told; newer versions deprecate `mode`."""
    try:
        return int(Image.__version__.split(".")[0]) < 10  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


_PIL_NEEDS_MODE = _pillow_needs_mode()
