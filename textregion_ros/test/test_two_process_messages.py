"""Real rclpy over Fast DDS between two processes: large images and this package's messages."""
from __future__ import annotations

import numpy as np
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from textregion_msgs.msg import RegionTokens
from vision_msgs.msg import Detection2DArray

from children.sample_messages import (
    TOPICS,
    sample_detections,
    sample_header,
    sample_image,
    sample_region_tokens,
    sample_rgb,
)
from ros_harness import REPO_ROOT, TEST_DIR, TestNode
from textregion_ros.tooling.node_process import NodeProcess
from textregion_ros.ros.image_conversions import imgmsg_to_numpy

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _receive_all_from_child() -> tuple[Image, Detection2DArray, RegionTokens]:
    child = NodeProcess([str(TEST_DIR / "children" / "publish_sample_messages.py")], cwd=REPO_ROOT)
    with child, TestNode() as probe:
        images = probe.collect(Image, TOPICS["image"], LATCHED)
        detections = probe.collect(Detection2DArray, TOPICS["detections"], LATCHED)
        tokens = probe.collect(RegionTokens, TOPICS["tokens"], LATCHED)
        child.wait_until(lambda: images and detections and tokens, 60, "the three sample messages",
                         step=lambda: probe.executor.spin_once(timeout_sec=0.05))
        return images[0], detections[0], tokens[0]


def test_child_process_messages_arrive_with_every_field_intact() -> None:
    image, detections, tokens = _receive_all_from_child()

    expected_image = sample_image()
    assert (image.height, image.width, image.encoding, image.step) == (720, 1280, "rgb8", 1280 * 3)
    assert image.header == sample_header()
    assert image == expected_image  # generated __eq__ compares every field, data included
    np.testing.assert_array_equal(imgmsg_to_numpy(image), sample_rgb())

    assert detections == sample_detections()
    assert [d.results[0].hypothesis.class_id for d in detections.detections] == ["red mug", "office chair"]
    assert detections.detections[0].bbox.center.theta == 0.25

    expected_tokens = sample_region_tokens()
    assert tokens == expected_tokens
    flat = np.asarray(tokens.tokens, dtype=np.float32).reshape(tokens.region_count, tokens.token_dim)
    np.testing.assert_allclose(np.linalg.norm(flat, axis=1), 1.0, rtol=1e-6)
    assert tokens.region_ids.encoding == "mono16"
    np.testing.assert_array_equal(
        imgmsg_to_numpy(tokens.region_ids), imgmsg_to_numpy(expected_tokens.region_ids)
    )
