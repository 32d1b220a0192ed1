"""The Nav2 recipe: config/nav2/semantic_segmentation_layer.yaml uses only keys the layer declares, with the
declared types, and launch/textregion_nav2.launch.py's decisions (tooling/nav2_launch.py) start the node
and the organised cloud the layer needs. Nav2 and depth_image_proc are not installable here, so the
layer's declarations are data in this file, copied from its source.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from textregion_ros.tooling.launch_arguments import ARGUMENTS
from textregion_ros.tooling.nav2_launch import DEFAULT_POINTS, NAV2_ARGUMENTS, NAV2_BY_NAME, nav2_launch

PACKAGE = Path(__file__).resolve().parents[1]
RECIPE = PACKAGE / "config" / "nav2" / "semantic_segmentation_layer.yaml"
LAYER_NAME = "semantic_segmentation_layer"

# github.com/ros-navigation/semantic_segmentation_layer, branch jazzy, commit
# d1914babe0b7bc50067b309f84d704948ca79bed, src/semantic_segmentation_layer.cpp, onInitialize():
# every declareParameter(...) with its default (the default fixes the parameter's type in rclcpp).
LAYER_KEYS: dict[str, Any] = {  # declareParameter("<key>", ...) -> <layer>.<key>
    "enabled": True, "combination_method": 1, "observation_sources": "", "publish_debug_topics": False,
    "use_approximate_time_sync": True, "sensor_data_depth": 10,
}
SOURCE_KEYS: dict[str, Any] = {  # declareParameter(source + ".<key>", ...) -> <layer>.<source>.<key>
    "segmentation_topic": "", "confidence_topic": "", "labels_topic": "", "pointcloud_topic": "",
    "observation_persistence": 0.0, "expected_update_rate": 0.0, "class_types": [],
    "max_obstacle_distance": 5.0, "min_obstacle_distance": 0.3, "tile_map_decay_time": 5.0,
    "visualize_tile_map": False, "use_cost_selection": True,
}
CLASS_TYPE_KEYS: dict[str, Any] = {  # declareParameter(source + "." + class_type + ".<key>", ...)
    "classes": [], "base_cost": 0, "max_cost": 0, "mark_confidence": 0, "samples_to_max_cost": 0,
    "dominant_priority": False,
}
# <layer>.plugin is read by nav2_costmap_2d (Costmap2DROS), not by the layer.
COSTMAP_KEYS: dict[str, Any] = {"plugin": ""}


def _layers() -> list[tuple[str, dict[str, Any]]]:
    """(costmap name, the layer's parameter block) for every costmap of the recipe."""
    recipe = yaml.safe_load(RECIPE.read_text())
    found = []
    for costmap, inner in recipe.items():
        parameters = inner[costmap]["ros__parameters"]
        assert LAYER_NAME in parameters["plugins"], costmap
        found.append((costmap, parameters[LAYER_NAME]))
    assert {name for name, _ in found} == {"local_costmap", "global_costmap"}
    return found


def _same_type(value: Any, default: Any) -> bool:
    """rclcpp's rule: a YAML value must have the declared parameter's type (an int is no double)."""
    return type(value) is type(default) or (isinstance(default, list) and isinstance(value, list))


def _check(block: dict[str, Any], declared: dict[str, Any], nested: set[str], where: str) -> None:
    for key, value in block.items():
        if key in nested:
            continue
        assert key in declared, f"{where}.{key} is not declared by the layer's jazzy branch"
        assert _same_type(value, declared[key]), (
            f"{where}.{key} = {value!r}: declared as {type(declared[key]).__name__}")


@pytest.mark.parametrize("costmap, layer", _layers())
def test_every_key_of_the_recipe_is_one_the_jazzy_branch_declares_with_its_type(costmap, layer):
    sources = layer["observation_sources"].split()
    _check(layer, {**LAYER_KEYS, **COSTMAP_KEYS}, set(sources), costmap)
    for source in sources:
        class_types = layer[source]["class_types"]
        _check(layer[source], SOURCE_KEYS, set(class_types), f"{costmap}.{source}")
        for class_type in class_types:
            _check(layer[source][class_type], CLASS_TYPE_KEYS, set(), f"{costmap}.{source}.{class_type}")
            assert layer[source][class_type]["classes"], (
                f"{class_type}: the layer exits on a class type without classes")


@pytest.mark.parametrize("costmap, layer", _layers())
def test_recipe_drops_sensor_frame_and_sets_the_sync_and_tile_selection_it_needs(costmap, layer):
    source = layer[layer["observation_sources"].split()[0]]
    assert "sensor_frame" not in source  # no branch declares it
    assert layer["use_approximate_time_sync"] is True  # the cloud has the depth's stamp, labels the colour's
    assert layer["sensor_data_depth"] >= 10
    assert source["use_cost_selection"] is False  # unlabeled pixels (confidence 0) never win over a labeled one
    assert source["pointcloud_topic"] == DEFAULT_POINTS  # what textregion_nav2.launch.py publishes
    assert (source["segmentation_topic"], source["confidence_topic"], source["labels_topic"]) == (
        "/textregion/labels", "/textregion/confidence", "/textregion/label_info")


def test_recipe_comments_say_mono16_would_be_misread_and_name_the_cloud_pipeline():
    text = RECIPE.read_text()
    assert "mono16" in text and "FEWER THAN 255 CLASSES" in text
    assert "point_cloud_xyz_node" in text and "REGISTERED" in text


def test_nav2_launch_starts_the_node_and_point_cloud_xyz_on_the_registered_depth():
    launch = nav2_launch({"image": "/cam/color/image_raw", "depth": "/cam/aligned_depth_to_color/image_raw"}, PACKAGE)
    assert (launch.cloud.package, launch.cloud.executable) == ("depth_image_proc", "point_cloud_xyz_node")
    assert launch.cloud.remappings == [("image_rect", "/cam/aligned_depth_to_color/image_raw"),
                                       ("points", DEFAULT_POINTS)]
    assert launch.cloud.parameters == [{"queue_size": 5}]
    assert ("image", "/cam/color/image_raw") in launch.node.remappings
    assert launch.rviz is None


def test_nav2_launch_keeps_the_node_off_depth_unless_use_depth_is_true():
    plain = nav2_launch({}, PACKAGE)
    assert [name for name, _ in plain.node.remappings] == ["image", "queries"]
    assert all(not isinstance(entry, dict) or "use_depth" not in entry for entry in plain.node.parameters)
    with_3d = nav2_launch({"use_depth": "true"}, PACKAGE)
    assert with_3d.node.parameters[-1] == {"use_depth": True}
    assert ("depth", NAV2_BY_NAME["depth"].default) in with_3d.node.remappings


def test_nav2_launch_passes_node_arguments_through_and_names_the_cloud_after_the_node():
    launch = nav2_launch({"namespace": "robot1", "node_name": "finder", "device": "cuda", "preset": "cpu_smoke",
                          "points": "/robot1/points", "cloud_queue_size": "10"}, PACKAGE)
    assert (launch.node.name, launch.node.namespace) == ("finder", "robot1")
    assert launch.node.parameters[-1] == {"device": "cuda"}
    assert launch.node.parameters[1].endswith("cpu_smoke.yaml")
    assert (launch.cloud.name, launch.cloud.namespace) == ("finder_points", "robot1")
    assert ("points", "/robot1/points") in launch.cloud.remappings
    assert launch.cloud.parameters == [{"queue_size": 10}]


def test_nav2_launch_with_compressed_input_reads_the_depth_compressed_too():
    launch = nav2_launch({"image_transport": "compressed"}, PACKAGE)
    assert launch.cloud.parameters == [{"queue_size": 5, "depth_image_transport": "compressedDepth"}]
    assert launch.node.parameters[-1] == {"image_transport": "compressed"}


def test_nav2_launch_declares_every_argument_of_the_main_launch_file_once():
    names = [argument.name for argument in NAV2_ARGUMENTS]
    assert len(names) == len(set(names))
    assert {argument.name for argument in ARGUMENTS} | {"points", "cloud_queue_size", "use_depth"} == set(names)


@pytest.mark.parametrize("values, message", [
    ({"depth": " "}, "depth:= is empty"),
    ({"points": ""}, "points:= is empty"),
    ({"cloud_queue_size": "0"}, "cloud_queue_size"),
    ({"cloud_queue_size": "five"}, "cloud_queue_size"),
    ({"use_depth": "maybe"}, "use_depth"),
])
def test_nav2_launch_rejects_bad_arguments_with_their_name(values, message):
    with pytest.raises(ValueError, match=message):
        nav2_launch(values, PACKAGE)


def test_nav2_launch_with_rviz_starts_it_on_the_node_s_topics():
    launch = nav2_launch({"rviz": "true", "namespace": "robot1"}, PACKAGE)
    assert launch.rviz is not None and ("/textregion/overlay", "/robot1/textregion/overlay") in launch.rviz.remappings


def test_nav2_launch_file_hands_the_ros_free_decisions_to_launch_ros():
    import ast

    tree = ast.parse((PACKAGE / "launch" / "textregion_nav2.launch.py").read_text())
    imported = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {("textregion_ros.tooling.nav2_launch", "NAV2_ARGUMENTS"),
            ("textregion_ros.tooling.nav2_launch", "nav2_launch"),
            ("launch.actions", "OpaqueFunction"), ("launch_ros.actions", "Node")} <= imported
    assert "generate_launch_description" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
