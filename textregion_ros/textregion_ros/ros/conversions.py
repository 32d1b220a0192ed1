"""Engine results -> ROS messages, as pure functions (DESIGN.md section 2).

Nothing here creates a node or touches the middleware: every function takes engine results (numpy
arrays, torch tensors, the dataclasses of `engine.results`) plus the source image's header and
returns a message object. That keeps the node thin and lets tests check every message field
without starting ROS.

Cost matters because these run once per camera frame: arrays go into messages as bytes or
`array.array` (rclpy stores numeric sequences as `array.array` and checks every element of any
other sequence in Python; assigning a 100x512 ndarray to a float32[] field takes ~7 ms, a list
~2.6 ms, an `array.array` built from the bytes ~0.04 ms). Per-pixel work is numpy only.
"""
from __future__ import annotations

import array
import math
from typing import Optional, Sequence

import numpy as np
import torch
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from textregion_msgs.msg import RegionTokens
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesisWithPose,
    VisionClass,
)

from ..outputs import encodings
from ..engine.results import Detection, Regions
from .image_conversions import numpy_to_imgmsg

# VisionClass.class_id is uint16 and 65535 means unlabeled, so ids 0..65534 are usable.
MAX_CLASSES = encodings.MAX_CLASSES
# The region-id image is mono16 with 0 = no region, so at most 65535 regions fit.
MAX_REGIONS = 65535

# array.array type codes whose item sizes match ROS float32 / uint32; rclpy requires exactly these.
_FLOAT32_CODE = "f"
_UINT32_CODE = "I"
if array.array(_FLOAT32_CODE).itemsize != 4 or array.array(_UINT32_CODE).itemsize != 4:
    raise ImportError(f"array.array('{_FLOAT32_CODE}') / ('{_UINT32_CODE}') are not 4 bytes on this platform: "
                      "ROS float32 / uint32 arrays cannot be built")


def stamp(nanoseconds: int) -> Time:
    """builtin_interfaces/Time of a stamp in integer nanoseconds."""
    seconds, rest = divmod(int(nanoseconds), 1_000_000_000)
    return Time(sec=seconds, nanosec=rest)


def stamp_ns(header: Header) -> int:
    """A header's stamp in integer nanoseconds (what the pipeline and the object memory count in)."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def copy_header(header: Optional[Header]) -> Header:
    """An independent copy of `header` (an empty Header for None).

    Messages that embed the source header (each Detection2D, the region-id image) get their own
    copy, so a caller that later edits one message's stamp does not silently edit the others.
    """
    if header is None:
        return Header()
    return Header(
        stamp=Time(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec)),
        frame_id=str(header.frame_id),
    )


def labels_to_image(
    labels: np.ndarray, class_count: int, header: Optional[Header],
    values: Optional[Sequence[int]] = None,
) -> Image:
    """Label image for `~/labels`: pixel value = the class's label value, top of the range = unlabeled.

    `labels` is HxW of an integer dtype (the engine's int32) holding class indices, -1 = unlabeled.
    Without `values` a class's label value is its index: with at most 254 classes the image is
    mono8 (255 = unlabeled), otherwise mono16 (65535 = unlabeled), so small query sets cost one
    byte per pixel. With `values` (one per class index, e.g. StableClassIds.assign) class i is
    written as values[i]: mono8 while every value is <= 254, otherwise mono16. Either way the
    pixel encoding is encodings.label_array, shared with the offline tools, and the values are the
    `class_id`s of `label_info` given the same classes and values. Raises ValueError for more than
    65535 classes, a label >= class_count or < -1, an array that is not HxW integers, or values
    that are not class_count unique integers in [0, 65534].
    """
    pixels = encodings.label_array(labels, int(class_count), values)
    return numpy_to_imgmsg(pixels, "mono8" if pixels.dtype == np.uint8 else "mono16", copy_header(header))


def confidence_to_image(confidence: np.ndarray, header: Optional[Header]) -> Image:
    """Confidence image for `~/confidence`: mono8, value = round(255 * confidence).

    Probabilities in [0, 1] fit a byte with 1/255 resolution, plenty for display and
    thresholding, and 4x smaller than 32FC1. Values outside [0, 1] are clipped; NaN becomes 0
    (encodings.confidence_array, shared with the offline tools).
    """
    return numpy_to_imgmsg(encodings.confidence_array(confidence), "mono8", copy_header(header))


def label_info(
    classes: Sequence[str], header: Optional[Header], threshold: float,
    values: Optional[Sequence[int]] = None,
) -> LabelInfo:
    """LabelInfo for `~/label_info`: class_map[i] = (label value of class i, classes[i]).

    The label value is i without `values`, values[i] with them: the pixel values labels_to_image
    writes for the same classes and values, which is how a consumer (Nav2's
    semantic_segmentation_layer) maps pixels to class names. `threshold` is the probability below
    which pixels were left unlabeled (the engine's prob_threshold), passed through unchanged. The
    unlabeled value (255 / 65535) is not listed: VisionClass documents it as reserved. Raises
    ValueError for more than 65535 classes (class_id is uint16) or values that are not one unique
    integer in [0, 65534] per class.
    """
    if isinstance(classes, str):
        raise ValueError("classes must be a sequence of class names, not one string")
    if len(classes) > MAX_CLASSES:
        raise ValueError(f"{len(classes)} classes; VisionClass.class_id fits at most {MAX_CLASSES}")
    ids = range(len(classes)) if values is None else encodings.label_values(values, len(classes)).tolist()
    msg = LabelInfo()
    msg.header = copy_header(header)
    class_map = []
    for class_id, name in zip(ids, classes):
        entry = VisionClass()
        entry.class_id = class_id
        entry.class_name = str(name)
        class_map.append(entry)
    msg.class_map = class_map
    msg.threshold = float(threshold)
    return msg


def box_center_size(boxes: np.ndarray) -> np.ndarray:
    """[N,4] x1,y1,x2,y2 (x2,y2 exclusive) -> [N,4] centre x, centre y, width, height (float64).

    With exclusive ends a box covering pixel columns 10..19 is x1=10, x2=20: width 10 and centre
    15.0, the continuous-coordinate centre when pixel i spans [i, i+1). This is the convention of
    vision_msgs/BoundingBox2D in pixels.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.empty_like(boxes)
    out[:, 0] = (boxes[:, 0] + boxes[:, 2]) * 0.5
    out[:, 1] = (boxes[:, 1] + boxes[:, 3]) * 0.5
    out[:, 2] = boxes[:, 2] - boxes[:, 0]
    out[:, 3] = boxes[:, 3] - boxes[:, 1]
    return out


def bounding_boxes(boxes: np.ndarray) -> list[BoundingBox2D]:
    """BoundingBox2D per row of [N,4] x1,y1,x2,y2 (setting attributes: ~2x faster than kwargs)."""
    result = []
    for cx, cy, width, height in box_center_size(boxes).tolist():
        bbox = BoundingBox2D()
        position = bbox.center.position
        position.x = cx
        position.y = cy
        bbox.size_x = width
        bbox.size_y = height
        result.append(bbox)
    return result


def unit_score(score: float) -> float:
    """Score clipped into [0, 1] as vision_msgs expects; NaN becomes 0."""
    score = float(score)
    if math.isnan(score):
        return 0.0
    return min(1.0, max(0.0, score))


def detection_id(detection: Detection, track_ids: Optional[Sequence[int]] = None) -> str:
    """Detection2D/3D.id: the region's track id when tracks are given (stable across frames), else its
    value in the region-id image (region_index + 1)."""
    if track_ids is not None:
        return str(int(track_ids[detection.region_index]))
    return str(detection.instance_id)


def detections_to_msg(detections: Sequence[Detection], header: Optional[Header],
                      track_ids: Optional[Sequence[int]] = None) -> Detection2DArray:
    """Detection2DArray for `~/detections` (and the Query service's answer).

    One Detection2D per detection, each stamped with a copy of the source header:
    results[0].hypothesis.class_id = the query text (the class name, not its index: consumers
    need no LabelInfo to read it), score clipped to [0, 1], bbox centre/size in pixels, and
    id = the region's track id (`track_ids`, one per region: the same object keeps its id across
    frames; RegionTokens.track_ids maps it to the region-id image), or without tracks the
    instance value in the region-id image (region_index + 1).
    """
    msg = Detection2DArray()
    msg.header = copy_header(header)
    items = []
    boxes = [detection.box for detection in detections]
    for detection, bbox in zip(detections, bounding_boxes(np.asarray(boxes, dtype=np.float64))):
        items.append(detection_2d(copy_header(header), detection_id(detection, track_ids), detection.query,
                                  detection.score, bbox))
    msg.detections = items
    return msg


def hypothesis(query: str, score: float) -> ObjectHypothesisWithPose:
    """results[0] of this node's detections: class_id = the query text, score clipped to [0, 1]."""
    result = ObjectHypothesisWithPose()
    result.hypothesis.class_id = str(query)
    result.hypothesis.score = unit_score(score)
    return result


def detection_2d(header: Header, detection_id: str, query: str, score: float, bbox: BoundingBox2D) -> Detection2D:
    """One Detection2D as ~/detections, ~/query and ~/find carry it (the header is used as given)."""
    item = Detection2D()
    item.header = header
    item.results = [hypothesis(query, score)]
    item.bbox = bbox
    item.id = detection_id
    return item


def _numpy(tensor: torch.Tensor | np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Contiguous host array of `dtype` from a tensor on any device or of any float type."""
    if isinstance(tensor, torch.Tensor):
        tensor = tensor.detach()
        if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
            tensor = tensor.float()  # numpy has no bf16; widening bf16/fp16 is exact
        tensor = tensor.cpu().numpy()
    return np.ascontiguousarray(tensor, dtype=dtype)


def _float32_array(values: np.ndarray) -> array.array:
    """array('f') of a float32 ndarray via its bytes: what rclpy stores, without per-item checks."""
    out = array.array(_FLOAT32_CODE)
    out.frombytes(np.ascontiguousarray(values, dtype=np.float32).tobytes())
    return out


def _message_logit_affine(affine: Optional[tuple[float, float]]) -> tuple[float, float]:
    """(logit_scale, logit_bias) of RegionTokens from the engine's (multiplier, bias) or None."""
    if affine is None:
        return 0.0, 0.0  # exp(0) * cos + 0: plain cosines, what the engine uses without an affine
    multiplier, bias = float(affine[0]), float(affine[1])
    if not multiplier > 0.0 or not math.isfinite(multiplier):
        raise ValueError(f"logit multiplier must be positive and finite, got {multiplier}")
    return math.log(multiplier), bias


def region_tokens_to_msg(
    regions: Regions, header: Optional[Header], region_ids: Optional[np.ndarray] = None,
    centres_3d: Optional[np.ndarray] = None, track_ids: Optional[np.ndarray] = None,
) -> RegionTokens:
    """RegionTokens for `~/region_tokens`: everything another node needs to search the frame.

    - model: regions.model_id; text embeddings are only comparable with tokens of the same model.
    - logit_scale / logit_bias, as RegionTokens.msg defines them: a consumer scores a phrase by
      cos = token . normalised text embedding and turns it into a logit as
      exp(logit_scale) * cos + logit_bias (for SigLIP2, sigmoid of that is a match probability).
      The engine's regions.logit_affine is (multiplier, bias) with the multiplier already
      exponentiated (SigLIP2's exp(logit_scale) ~ 100), so the message carries log(multiplier):
      the consumer then gets exactly the logits the engine segmented with. With no affine
      (CLIP / PE: plain cosines) it sends (0.0, 0.0), i.e. exp(0) * cos + 0 = cos.
    - tokens: R*D float32, row-major (region r at [r*D, (r+1)*D)), the L2-normalised rows as the
      engine made them; token_dim is D even when R = 0.
    - boxes (BoundingBox2D, centre + size in source-image pixels), areas (uint32, rounded),
      scores and stability_scores, one per region, in region order.
    - region_ids: mono16 image, k = region k-1, 0 = none; `region_ids` if given (the node may
      have computed it already), else regions.region_id_image(). Stamped with `header`.
    - centres_3d: [R,3] metres in the optical frame (NaN rows = no 3D), R*3 float32 row-major;
      empty when None (no depth input).
    - track_ids: [R] uint32, each region's persistent track id; empty when None.

    Raises ValueError for more than 65535 regions (they do not fit the mono16 id image), tokens
    that are not [R,D], per-region fields of the wrong length, or a region-id image of the wrong
    size.
    """
    tokens = _numpy(regions.tokens, np.float32)
    if tokens.ndim != 2:
        raise ValueError(f"region tokens must be [R,D], got shape {tokens.shape}")
    count, dim = int(tokens.shape[0]), int(tokens.shape[1])
    if count > MAX_REGIONS:
        raise ValueError(f"{count} regions do not fit a mono16 region-id image (at most {MAX_REGIONS})")
    boxes = _numpy(regions.boxes, np.float64).reshape(-1, 4)
    areas = _numpy(regions.areas, np.float64).reshape(-1)
    scores = _numpy(regions.predicted_iou, np.float32).reshape(-1)  # RegionTokens.scores: SAM2's predicted IoU
    stability = _numpy(regions.stability, np.float32).reshape(-1)
    for name, values in (("boxes", boxes), ("areas", areas), ("scores", scores), ("stability", stability)):
        if values.shape[0] != count:
            raise ValueError(f"regions have {count} tokens but {values.shape[0]} {name}")

    height, width = (int(v) for v in regions.image_size)
    if region_ids is None:
        region_ids = regions.region_id_image()
    region_ids = np.asarray(region_ids)
    if region_ids.shape != (height, width):
        raise ValueError(f"region-id image is {region_ids.shape}, the regions' image is {(height, width)}")
    if region_ids.dtype != np.uint16:
        if region_ids.size and (int(region_ids.min()) < 0 or int(region_ids.max()) > count):
            raise ValueError(f"region ids must be in [0, {count}]")
        region_ids = region_ids.astype(np.uint16)

    log_scale, bias = _message_logit_affine(regions.logit_affine)

    msg = RegionTokens()
    msg.header = copy_header(header)
    msg.model = str(regions.model_id)
    msg.logit_scale = log_scale
    msg.logit_bias = bias
    msg.region_count = count
    msg.token_dim = dim
    msg.tokens = _float32_array(tokens)
    msg.boxes = bounding_boxes(boxes)
    area_values = array.array(_UINT32_CODE)
    area_values.frombytes(np.clip(np.rint(areas), 0, np.iinfo(np.uint32).max).astype(np.uint32).tobytes())
    msg.areas = area_values
    msg.scores = _float32_array(scores)
    msg.stability_scores = _float32_array(stability)
    msg.region_ids = numpy_to_imgmsg(region_ids, "mono16", copy_header(header))
    if centres_3d is not None:
        centres = np.asarray(centres_3d, dtype=np.float32)
        if centres.shape != (count, 3):
            raise ValueError(f"centres_3d must be [{count},3] (one row per region), got {centres.shape}")
        msg.centres_3d = _float32_array(centres)
    if track_ids is not None:
        tracks = np.asarray(track_ids)
        if tracks.shape != (count,):
            raise ValueError(f"track_ids must hold one id per region ({count}), got shape {tracks.shape}")
        values = array.array(_UINT32_CODE)
        values.frombytes(tracks.astype(np.uint32).tobytes())
        msg.track_ids = values
    return msg


def tokens_from_msg(msg: RegionTokens) -> np.ndarray:
    """[R,D] float32 view of a RegionTokens message's tokens (the consumer side of the layout)."""
    values = np.frombuffer(msg.tokens, dtype=np.float32) if len(msg.tokens) else np.zeros(0, np.float32)
    if values.size != int(msg.region_count) * int(msg.token_dim):
        raise ValueError(
            f"RegionTokens has {values.size} token values, expected region_count*token_dim = "
            f"{msg.region_count}*{msg.token_dim}"
        )
    return values.reshape(int(msg.region_count), int(msg.token_dim))
