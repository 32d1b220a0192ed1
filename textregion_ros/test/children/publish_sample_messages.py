"""Child process: publish the sample Image, Detection2DArray and RegionTokens, then keep serving.

Reliable + transient-local, so the test process receives them whenever it joins.
"""
import sys
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from textregion_msgs.msg import RegionTokens
from vision_msgs.msg import Detection2DArray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample_messages import TOPICS, sample_detections, sample_image, sample_region_tokens


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("sample_publisher")
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    for msg_type, topic, message in [
        (Image, TOPICS["image"], sample_image()),
        (Detection2DArray, TOPICS["detections"], sample_detections()),
        (RegionTokens, TOPICS["tokens"], sample_region_tokens()),
    ]:
        node.create_publisher(msg_type, topic, qos).publish(message)
    node.get_logger().info("published the three sample messages")
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
