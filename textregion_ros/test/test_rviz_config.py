"""config/textregion.rviz shows only topics the node publishes, with display classes RViz 2 on Jazzy ships."""

from pathlib import Path

import yaml

from textregion_ros.ros.frame_messages import OUTPUTS

RVIZ_FILE = Path(__file__).resolve().parents[1] / "config" / "textregion.rviz"
DEFAULT_NODE = "/textregion"
KNOWN_CLASSES = {  # rviz_default_plugins and vision_msgs_rviz_plugins (Jazzy) class names
    "rviz_common/Displays", "rviz_default_plugins/Grid", "rviz_default_plugins/Image",
    "rviz_default_plugins/MarkerArray", "rviz_default_plugins/Marker", "rviz_default_plugins/TF",
    "rviz_default_plugins/PointCloud2", "rviz_default_plugins/Camera", "rviz_default_plugins/Orbit",
    "vision_msgs_rviz_plugins/Detection3DArray", "vision_msgs_rviz_plugins/Detection3D",
}


def _displays() -> list[dict]:
    return yaml.safe_load(RVIZ_FILE.read_text())["Visualization Manager"]["Displays"]


def _classes(node) -> set[str]:
    if isinstance(node, dict):
        found = {node["Class"]} if node.get("Class") else set()
        return found.union(*(_classes(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_classes(value) for value in node))
    return set()


def test_every_rviz_topic_is_one_the_node_publishes():
    topics = {display["Topic"]["Value"] for display in _displays() if "Topic" in display}
    assert topics and topics <= {f"{DEFAULT_NODE}/{name}" for name in OUTPUTS}


def test_rviz_shows_overlay_labels_confidence_markers_and_3d_detections():
    topics = {display["Topic"]["Value"].rsplit("/", 1)[1] for display in _displays() if "Topic" in display}
    assert {"overlay", "labels", "confidence", "markers", "detections_3d"} <= topics


def test_every_rviz_class_is_a_known_plugin_class():
    assert _classes(yaml.safe_load(RVIZ_FILE.read_text())) <= KNOWN_CLASSES
