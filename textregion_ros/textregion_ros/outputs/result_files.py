"""Result files of the offline tools (`textregion segment`, `textregion-demo`): lossless PNGs and JSON.

ROS-free on purpose, so the CLI can segment a folder of images on a machine whose ROS message
packages are broken or absent.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from .encodings import unlabeled_value


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
