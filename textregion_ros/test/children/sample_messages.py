"""Deterministic messages shared by a publishing child process and the test that checks them."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from textregion_msgs.msg import RegionTokens
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray, ObjectHypothesisWithPose

from textregion_ros.ros.image_conversions import numpy_to_imgmsg

TOPICS = {"image": "sample/image", "detections": "sample/detections", "tokens": "sample/region_tokens"}


def sample_header() -> Header:
    return Header(stamp=Time(sec=1_700_000_123, nanosec=456_789_000), frame_id="camera_color_optical_frame")


def sample_rgb(height: int = 720, width: int = 1280) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx % 256, yy % 256, (xx * 7 + yy * 3) % 256], axis=-1).astype(np.uint8)


def sample_image() -> Image:
    return numpy_to_imgmsg(sample_rgb(), "rgb8", header=sample_header())


def sample_detections() -> Detection2DArray:
    detections = []
    for index, (query, score, cx, cy, sx, sy) in enumerate(
        [("red mug", 0.875, 640.5, 360.25, 120.0, 80.0), ("office chair", 0.5, 100.0, 600.0, 64.0, 200.0)]
    ):
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = query
        hypothesis.hypothesis.score = score
        hypothesis.pose.pose.position.x = cx
        hypothesis.pose.pose.orientation.w = 1.0
        hypothesis.pose.covariance = [float(i) for i in range(36)]
        bbox = BoundingBox2D()
        bbox.center.position.x, bbox.center.position.y, bbox.center.theta = cx, cy, 0.25
        bbox.size_x, bbox.size_y = sx, sy
        detections.append(
            Detection2D(header=sample_header(), results=[hypothesis], bbox=bbox, id=str(index + 1))
        )
    return Detection2DArray(header=sample_header(), detections=detections)


def sample_region_tokens(regions: int = 3, dim: int = 8) -> RegionTokens:
    rng = np.random.default_rng(7)
    tokens = rng.standard_normal((regions, dim)).astype(np.float32)
    tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
    ids = rng.integers(0, regions + 1, size=(48, 64)).astype(np.uint16)
    msg = RegionTokens(header=sample_header(), model="clip:ViT-B-16:openai")
    msg.logit_scale, msg.logit_bias = 100.0, -10.0
    msg.region_count, msg.token_dim = regions, dim
    msg.tokens = tokens.ravel().tolist()
    for r in range(regions):
        box = BoundingBox2D()
        box.center.position.x, box.center.position.y = 10.0 * r + 5.0, 20.0 * r + 2.5
        box.size_x, box.size_y = 4.0 + r, 6.0 + r
        msg.boxes.append(box)
    msg.areas = [100 * (r + 1) for r in range(regions)]
    msg.scores = [0.9 - 0.1 * r for r in range(regions)]
    msg.stability_scores = [0.95 - 0.05 * r for r in range(regions)]
    msg.region_ids = numpy_to_imgmsg(ids, "mono16", header=sample_header())
    return msg
