"""Colour overlay of labels and detections for `~/overlay` (rgb8, for RViz and people).

The overlay tints every labelled pixel toward its class colour, outlines label boundaries in
the class colour, boxes and tags each detection ("class score") and adds a small legend of the
classes present. Unlabeled pixels keep the camera's colours, so what the node did not claim stays
visible.

Per-pixel work (tint and outlines) is integer torch ops on the accelerator where the label map
lives there (outputs/overlay_pixels.py), integer numpy on the host otherwise, in bands of rows either
way: a 4000x3000 frame never needs float copies of the whole image, only the output itself plus a
band's temporaries. The numpy renderer is the reference the tests and benchmarks/host_stages.py compare
the tensor one with; both give the same bytes. Boxes are numpy slices; text is drawn with Pillow (whose
default font needs no font files on the robot) on small crops only, never on a full-size copy of the image.
"""
from __future__ import annotations

import functools
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..engine.results import Detection
from .overlay_pixels import as_label_tensor, label_range, tint_and_outline_tensor

# "auto": torch ops where the label map is a tensor on an accelerator, else the numpy renderer (on a CPU
# torch's ops measured 1.5-3x slower than the numpy bands: benchmarks/host_stages.py); "tensor" / "numpy" force one.
PIXEL_RENDERERS = ("auto", "tensor", "numpy")

# Pixels per band of the per-pixel passes: bounds the temporaries (a few uint16 copies of a
# band, ~2 MB each) whatever the image size; smaller bands measured no faster.
BAND_PIXELS = 1 << 18

# The first colours: Sasha Trubetskoy's "20 simple, distinct colours" (white and black left
# out: they read as highlights and shadows, not classes; apricot swapped for cerulean, being
# too close to pink and beige). Chosen for mutual contrast (every pair at least 53 apart in RGB,
# 29 in CIELAB), so small query sets, the usual case, get clearly different colours.
_DISTINCT = np.array(
    [
        (230, 25, 75), (60, 180, 75), (255, 225, 25), (67, 99, 216), (245, 130, 49),
        (145, 30, 180), (70, 240, 240), (240, 50, 230), (188, 246, 12), (250, 190, 190),
        (0, 128, 128), (230, 190, 255), (154, 99, 36), (255, 250, 200), (128, 0, 0),
        (170, 255, 195), (128, 128, 0), (0, 130, 200), (0, 0, 117), (128, 128, 128),
    ],
    dtype=np.uint8,
)
_GOLDEN_RATIO_CONJUGATE = 0.6180339887498949
_UNKNOWN_CLASS_COLOUR = (255, 255, 255)
_TEXT_DARK = (0, 0, 0)
_TEXT_LIGHT = (255, 255, 255)
_LEGEND_MAX_CHARS = 40


def class_colors(count: int) -> np.ndarray:
    """[count,3] uint8 RGB colour of each class index; the same for every call and process.

    The first 20 are a hand-picked distinct palette. Beyond that, hues follow the golden-ratio
    sequence (each new hue lands in the largest gap left by the previous ones, so neighbouring
    class indices never look alike) while saturation and brightness cycle with periods 4 and 3,
    separating hues that come close again much later. Works for any count, including thousands
    of classes and zero.
    """
    count = int(count)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    colours = np.empty((count, 3), dtype=np.uint8)
    head = min(count, len(_DISTINCT))
    colours[:head] = _DISTINCT[:head]
    if count > head:
        index = np.arange(head, count, dtype=np.float64)
        hue = (0.11 + index * _GOLDEN_RATIO_CONJUGATE) % 1.0
        saturation = 0.5 + 0.4 * (index % 4) / 3.0
        value = 0.7 + 0.3 * (index % 3) / 2.0
        colours[head:] = _hsv_to_rgb8(hue, saturation, value)
    return colours


def _hsv_to_rgb8(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Vectorised HSV (each in [0,1]) -> [N,3] uint8 RGB."""
    sector = np.floor(hue * 6.0)
    fraction = hue * 6.0 - sector
    p = value * (1.0 - saturation)
    q = value * (1.0 - fraction * saturation)
    t = value * (1.0 - (1.0 - fraction) * saturation)
    sector = sector.astype(np.int64) % 6
    choices = np.stack(
        [
            np.stack([value, t, p], axis=1),
            np.stack([q, value, p], axis=1),
            np.stack([p, value, t], axis=1),
            np.stack([p, q, value], axis=1),
            np.stack([t, p, value], axis=1),
            np.stack([value, p, q], axis=1),
        ]
    )  # [6,N,3]
    rgb = choices[sector, np.arange(sector.shape[0])]
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def draw_overlay(
    rgb: np.ndarray,
    labels: Union[np.ndarray, torch.Tensor],
    classes: Sequence[str],
    detections: Sequence[Detection] = (),
    alpha: float = 0.5,
    legend: bool = True,
    distances: Optional[Mapping[int, float]] = None,
    track_ids: Optional[Union[Sequence[int], np.ndarray]] = None,
    pixels: str = "auto",
) -> np.ndarray:
    """New HxWx3 uint8 (rgb8) overlay; `rgb` itself is never modified.

    - labelled pixels: (1 - alpha) * pixel + alpha * class colour (alpha quantised to 1/256,
      integer arithmetic), unlabeled pixels (label -1) unchanged;
    - label boundaries (a labelled pixel whose 4-neighbour has another label, or none): drawn in
      the pixel's class colour, one pixel wide on each side;
    - per detection: its box and a "class score" tag in the class colour, "class score · 1.42 m" when
      `distances` (metres from the camera, by the detection's region index) knows its region, and
      "#7 class score" with `track_ids` (one per region: the track the detection's region continues);
    - with `legend`, a legend (bottom left, on a darkened box) of the classes present in `labels`
      or `detections`, when at least one line fits.

    `labels` is HxW integers in [-1, len(classes)): a numpy array or a tensor on any device. The
    per-pixel part runs as torch ops on the tensor's device with `pixels="tensor"` (what "auto" picks
    for a tensor on an accelerator), or as the reference numpy renderer on the host with `pixels="numpy"`
    (what "auto" picks otherwise; a tensor is copied to the host first). Raises ValueError for an `rgb`
    that is not HxWx3 uint8, labels of another size or out of range, alpha outside [0, 1] or an unknown
    `pixels`.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be HxWx3 uint8, got shape {rgb.shape} of {rgb.dtype}")
    if pixels not in PIXEL_RENDERERS:
        raise ValueError(f"pixels must be one of {', '.join(PIXEL_RENDERERS)}, got {pixels!r}")
    if pixels == "auto":
        pixels = "tensor" if isinstance(labels, torch.Tensor) and labels.device.type != "cpu" else "numpy"
    if pixels == "numpy" and isinstance(labels, torch.Tensor):
        labels = labels.cpu().numpy()
    labels = as_label_tensor(labels) if pixels == "tensor" else np.asarray(labels)
    if tuple(labels.shape) != rgb.shape[:2]:
        raise ValueError(f"labels are {tuple(labels.shape)}, the image is {rgb.shape[:2]}")
    integer = (not labels.dtype.is_floating_point and labels.dtype != torch.bool and not labels.dtype.is_complex
               if isinstance(labels, torch.Tensor) else np.issubdtype(labels.dtype, np.integer))
    if not integer:
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    class_count = len(classes)
    if labels.numel() if isinstance(labels, torch.Tensor) else labels.size:
        low, high = label_range(labels) if isinstance(labels, torch.Tensor) else (int(labels.min()), int(labels.max()))
        if high >= class_count or low < -1:
            raise ValueError(f"labels must be in [-1, {class_count}), got [{low}, {high}]")

    detection_classes = [int(d.class_index) for d in detections]
    palette = class_colors(max([class_count] + [c + 1 for c in detection_classes]))
    if pixels == "tensor":
        out, in_labels = tint_and_outline_tensor(rgb, labels, palette[:class_count], alpha)
    else:
        out = np.empty_like(rgb, order="C")
        in_labels = tint_and_outline_numpy(rgb, labels, palette[:class_count], alpha, out)

    present = set(np.flatnonzero(in_labels).tolist()) | {c for c in detection_classes if c >= 0}
    names = {index: classes[index] for index in present if index < class_count}
    names.update({d.class_index: d.query for d in detections if d.class_index not in names})
    entries = [(names[index], _colour(palette, index)) for index in sorted(present)] if legend else []
    height, width = out.shape[:2]
    if (not detections and not entries) or height == 0 or width == 0:
        return out

    # Boxes are numpy slices and text is drawn on small Pillow crops, so no full-size copy of
    # the image is ever made for drawing.
    font = _font(int(np.clip(round(min(height, width) / 40), 10, 40)))
    line_width = max(1, round(min(height, width) / 360))
    for detection in detections:
        distance = (distances or {}).get(detection.region_index)
        track = int(track_ids[detection.region_index]) if track_ids is not None else None
        _draw_detection(out, font, detection, _colour(palette, detection.class_index), line_width, distance, track)
    _draw_legend(out, font, entries)
    return out


def _colour(palette: np.ndarray, index: int) -> tuple[int, int, int]:
    if 0 <= index < len(palette):
        return tuple(int(v) for v in palette[index])
    return _UNKNOWN_CLASS_COLOUR


def tint_and_outline_numpy(
    rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float, out: np.ndarray
) -> np.ndarray:
    """The reference renderer: fill `out` with the tinted, outlined image, band by band; return which
    classes occur.

    Per class c the blend is out = (src * (256 - w_c) + colour_c * w_c + 128) >> 8 with
    w_c = round(256 * alpha), and w = 0 for unlabeled pixels, which makes them exactly src
    without a masked copy. The three premultiplied colour terms and 256 - w_c are packed in one
    uint64 per class, so one gather per pixel fetches all four (the fastest form measured).
    Everything fits uint16: src * (256 - w) + colour * w + 128 <= 255 * 256 + 128.
    """
    height, width = labels.shape
    class_count = palette.shape[0]
    weight = int(round(alpha * 256))
    # Row class_count stands for label -1 (numpy's index -1 is the last row): weight 0.
    terms = np.zeros((class_count + 1, 4), dtype=np.uint16)
    terms[:class_count, :3] = palette.astype(np.uint16) * weight
    terms[:class_count, 3] = 256 - weight
    terms[class_count, 3] = 256
    packed = terms.view(np.uint64)[:, 0]
    outline_colours = np.concatenate([palette, np.zeros((1, 3), dtype=np.uint8)])
    present = np.zeros(class_count + 1, dtype=bool)
    rows = max(1, BAND_PIXELS // max(1, width))
    for y0 in range(0, height, rows):
        y1 = min(y0 + rows, height)
        band = labels[y0:y1]
        target = out[y0:y1]
        gathered = np.take(packed, band).view(np.uint16).reshape(y1 - y0, width, 4)
        blended = rgb[y0:y1].astype(np.uint16)
        blended *= gathered[:, :, 3:4]
        blended += gathered[:, :, :3]
        blended += 128
        blended >>= 8
        np.copyto(target, blended, casting="unsafe")
        edge = _boundary(labels, y0, y1)
        edge &= band >= 0
        edge_rows, edge_cols = np.nonzero(edge)
        target[edge_rows, edge_cols] = outline_colours[band[edge_rows, edge_cols]]
        present[band] = True
    return present[:class_count]


def _boundary(labels: np.ndarray, y0: int, y1: int) -> np.ndarray:
    """Bool [y1-y0, W]: pixels of rows y0..y1 whose 4-neighbour (in the whole image) differs."""
    height = labels.shape[0]
    top, bottom = max(y0 - 1, 0), min(y1 + 1, height)
    window = labels[top:bottom]
    edge = np.zeros(window.shape, dtype=bool)
    across = window[:, 1:] != window[:, :-1]
    edge[:, 1:] |= across
    edge[:, :-1] |= across
    down = window[1:] != window[:-1]
    edge[1:] |= down
    edge[:-1] |= down
    return edge[y0 - top:y0 - top + (y1 - y0)]


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    """Pillow's built-in font at `size` px (Pillow >= 10.1), else its fixed bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # older Pillow: load_default() takes no size
        return ImageFont.load_default()


def _text_size(font: ImageFont.ImageFont, text: str) -> tuple[int, int, int]:
    """(width, height, top offset) of `text` as drawn at (0, 0)."""
    left, top, right, bottom = font.getbbox(text)
    return int(right - min(left, 0)), int(bottom - top), int(top)


def _text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light colours, white on dark ones (BT.601 luma)."""
    red, green, blue = background
    return _TEXT_DARK if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else _TEXT_LIGHT


def _fill(out: np.ndarray, y0: int, y1: int, x0: int, x1: int, colour: tuple[int, int, int]) -> None:
    """Paint rows [y0, y1) x columns [x0, x1), clipped to the image."""
    height, width = out.shape[:2]
    y0, y1, x0, x1 = max(y0, 0), min(y1, height), max(x0, 0), min(x1, width)
    if y0 < y1 and x0 < x1:
        out[y0:y1, x0:x1] = colour


def _draw_text_on_crop(
    out: np.ndarray, x0: int, y0: int, x1: int, y1: int, texts: list[tuple[int, int, str, tuple[int, int, int]]],
    font: ImageFont.ImageFont,
) -> None:
    """Draw (x, y, text, colour) items, in image coordinates, inside [x0,x1) x [y0,y1) only."""
    height, width = out.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x0 >= x1 or y0 >= y1:
        return
    crop = Image.fromarray(np.ascontiguousarray(out[y0:y1, x0:x1]))
    draw = ImageDraw.Draw(crop)
    for x, y, text, colour in texts:
        draw.text((x - x0, y - y0), text, fill=colour, font=font)
    out[y0:y1, x0:x1] = np.asarray(crop)


def _draw_detection(
    out: np.ndarray,
    font: ImageFont.ImageFont,
    detection: Detection,
    colour: tuple[int, int, int],
    line_width: int,
    distance_m: Optional[float] = None,
    track_id: Optional[int] = None,
) -> None:
    """Box outline (inside the box's pixels) and a filled "class score" tag above it, else inside."""
    x1, y1, x2, y2 = (float(v) for v in detection.box)
    if not np.isfinite([x1, y1, x2, y2]).all():
        return
    # Inclusive pixel corners of a box whose x2, y2 are exclusive.
    left, top = int(round(x1)), int(round(y1))
    right, bottom = max(left, int(round(x2)) - 1), max(top, int(round(y2)) - 1)
    _fill(out, top, top + line_width, left, right + 1, colour)
    _fill(out, bottom - line_width + 1, bottom + 1, left, right + 1, colour)
    _fill(out, top, bottom + 1, left, left + line_width, colour)
    _fill(out, top, bottom + 1, right - line_width + 1, right + 1, colour)

    height, width = out.shape[:2]
    text = f"{detection.query} {detection.score:.2f}"
    if track_id is not None:
        text = f"#{track_id} {text}"
    if distance_m is not None and np.isfinite(distance_m):
        text += f" · {distance_m:.2f} m"
    text_width, text_height, text_top = _text_size(font, text)
    pad = max(1, text_height // 5)
    tag_width, tag_height = text_width + 2 * pad, text_height + 2 * pad
    tag_top = top - tag_height if top - tag_height >= 0 else max(top, 0)  # above the box, else inside
    tag_left = min(max(left, 0), max(width - tag_width, 0))
    if tag_top >= height or tag_left >= width:
        return
    _fill(out, tag_top, tag_top + tag_height, tag_left, tag_left + tag_width, colour)
    _draw_text_on_crop(
        out, tag_left, tag_top, tag_left + tag_width, tag_top + tag_height,
        [(tag_left + pad, tag_top + pad - text_top, text, _text_colour(colour))], font,
    )


def _draw_legend(out: np.ndarray, font: ImageFont.ImageFont, entries: list[tuple[str, tuple[int, int, int]]]) -> None:
    """Swatch + name per entry in a darkened box at the bottom left; "+N more" when they do not fit.

    Bottom, because detection tags sit on the top edge of their boxes (a whole-image box's tag is
    at the top left corner).
    """
    if not entries:
        return
    height, width = out.shape[:2]
    _, line_height, text_top = _text_size(font, "Ag")
    pad = max(2, line_height // 4)
    row = line_height + pad
    max_rows = (height - 3 * pad) // row
    if max_rows < 1:
        return
    lines: list[tuple[str, Optional[tuple[int, int, int]]]] = [
        (name if len(name) <= _LEGEND_MAX_CHARS else name[:_LEGEND_MAX_CHARS - 3] + "...", colour)
        for name, colour in entries
    ]
    if len(lines) > max_rows:
        hidden = len(lines) - (max_rows - 1)
        lines = lines[:max_rows - 1] + [(f"+{hidden} more", None)]
    text_width = max(_text_size(font, text)[0] for text, _ in lines)
    x0 = pad
    y0 = max(height - pad - (pad + len(lines) * row), 0)
    x1 = min(x0 + pad + line_height + pad + text_width + pad, width)
    y1 = min(y0 + pad + len(lines) * row, height)
    if x0 >= x1:
        return
    out[y0:y1, x0:x1] >>= 1  # darken under the legend so its white text reads on any image
    texts = []
    for number, (text, colour) in enumerate(lines):
        top = y0 + pad + number * row
        text_left = x0 + pad
        if colour is not None:
            _fill(out, top, top + line_height, x0 + pad, min(x0 + pad + line_height, x1), colour)
            text_left += line_height + pad
        texts.append((text_left, top - text_top, text, _TEXT_LIGHT))
    _draw_text_on_crop(out, x0, y0, x1, y1, texts, font)
