"""textregion.launch.py's decisions (tooling/launch_arguments.py), without launch or launch_ros.

The launch file itself needs a ROS install to run; these tests pin what it hands to launch_ros:
which params files in which order, and which parameters the command line overrides.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import dataclasses

import pytest
import yaml

from textregion_ros.tooling.launch_arguments import (
    ARGUMENTS,
    BY_NAME,
    NODE_ACTION_FIELDS,
    NOT_GIVEN,
    node_action_arguments,
    node_launch,
    parameter_files,
    parameter_overrides,
    preset_file,
)

PACKAGE = Path(__file__).resolve().parents[1]  # the source tree has the share directory's layout


def effective_parameters(parameters: list[Any]) -> dict[str, Any]:
    """Layer params files and override dicts as the node does: later entries win."""
    values: dict[str, Any] = {}
    for entry in parameters:
        if isinstance(entry, dict):
            values.update(entry)
        else:
            values.update(yaml.safe_load(Path(entry).read_text())["/**"]["ros__parameters"])
    return values


def write_params(path: Path, **values: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": values}}))
    return path


def test_arguments_that_mirror_parameters_are_not_given_by_default():
    params_file = yaml.safe_load((PACKAGE / "config" / "textregion.yaml").read_text())
    parameter_names = set(params_file["/**"]["ros__parameters"])
    mirrored = {a.name for a in ARGUMENTS if a.mirrors_parameter}
    assert {"device", "queries"} <= mirrored <= parameter_names
    for argument in ARGUMENTS:
        if argument.name in parameter_names:
            assert argument.mirrors_parameter and argument.default == NOT_GIVEN, argument.name
    assert parameter_overrides({a.name: a.default for a in ARGUMENTS}) == {}


def test_a_params_file_device_survives_a_launch_without_device(tmp_path):
    params = write_params(tmp_path / "robot.yaml", device="cuda:1", weights="openai")
    settings = node_launch({"params_file": str(params)}, PACKAGE)
    assert settings.parameters == [str(params)]
    assert effective_parameters(settings.parameters)["device"] == "cuda:1"
    # launch hands over every declared argument, the untouched ones with their "" default
    settings = node_launch({a.name: a.default for a in ARGUMENTS} | {"params_file": str(params)}, PACKAGE)
    assert effective_parameters(settings.parameters)["device"] == "cuda:1"


def test_a_device_given_on_the_command_line_overrides_the_params_file(tmp_path):
    params = write_params(tmp_path / "robot.yaml", device="cuda:1")
    settings = node_launch({"params_file": str(params), "device": "cpu"}, PACKAGE)
    assert settings.parameters == [str(params), {"device": "cpu"}]
    assert effective_parameters(settings.parameters)["device"] == "cpu"


def test_blank_values_count_as_not_given_and_given_values_are_stripped():
    assert parameter_overrides({"device": "", "weights": "   ", "model": " ViT-B-16 "}) == {"model": "ViT-B-16"}
    assert parameter_overrides({"image": "/cam", "namespace": "robot1"}) == {}  # not parameters


def test_queries_argument_takes_the_topic_form():
    assert parameter_overrides({"queries": "red mug, table; desk ,person"}) == {
        "queries": ["red mug", "table; desk", "person"]}


def test_queries_argument_keeps_empty_items_for_the_node_to_reject_like_the_topic():
    assert parameter_overrides({"queries": "red mug, , cup"}) == {"queries": ["red mug", "", "cup"]}


def test_default_params_file_is_the_packaged_config_and_presets_layer_over_it():
    settings = node_launch({}, PACKAGE)
    assert settings.parameters == [str(PACKAGE / "config" / "textregion.yaml")]
    smoke = node_launch({"preset": "cpu_smoke", "device": "cuda"}, PACKAGE)
    assert smoke.parameters[:2] == [str(PACKAGE / "config" / "textregion.yaml"),
                                    str(PACKAGE / "config" / "presets" / "cpu_smoke.yaml")]
    values = effective_parameters(smoke.parameters)
    assert values["weights"] == "random" and values["backbone"] == "pe"  # from the preset
    assert values["device"] == "cuda"  # the command line wins over the preset's cpu
    assert values["logit_scale"] == effective_parameters(settings.parameters)["logit_scale"]  # untouched


def test_preset_names_resolve_with_or_without_suffix_and_unknown_ones_name_the_choices(tmp_path):
    write_params(tmp_path / "config" / "presets" / "small_gpu.yaml", device="cuda")
    expected = tmp_path / "config" / "presets" / "small_gpu.yaml"
    assert preset_file(tmp_path, "small_gpu") == expected
    assert preset_file(tmp_path, " small_gpu.yaml ") == expected
    assert preset_file(tmp_path, "") is None
    for wrong in ("large_gpu", "../presets/small_gpu", "/etc/passwd"):
        with pytest.raises(ValueError, match="small_gpu"):
            preset_file(tmp_path, wrong)
    custom = tmp_path / "mine.yaml"
    assert parameter_files(tmp_path, str(custom), "small_gpu") == [custom, expected]


def test_topics_name_namespace_and_log_level_reach_the_node():
    settings = node_launch({"image": "/camera/color/image_raw", "queries_topic": "/search", "namespace": "robot1",
                            "node_name": "finder", "log_level": "debug"}, PACKAGE)
    assert (settings.package, settings.executable) == ("textregion_ros", "textregion_node")
    assert (settings.name, settings.namespace) == ("finder", "robot1")
    assert settings.remappings == [("image", "/camera/color/image_raw"), ("queries", "/search")]
    assert settings.ros_arguments == ["--log-level", "debug"]
    defaults = node_launch({}, PACKAGE)
    assert defaults.remappings == [("image", BY_NAME["image"].default), ("queries", "queries")]
    assert defaults.name == "textregion" and defaults.ros_arguments == ["--log-level", "info"]


def test_a_depth_topic_turns_3d_on_and_remaps_depth_and_the_image_s_camera_info(tmp_path):
    launch = node_launch({"image": "/cam/color/image_raw", "depth": "/cam/aligned_depth_to_color/image_raw"},
                         tmp_path)
    assert launch.parameters[-1] == {"use_depth": True}
    assert ("depth", "/cam/aligned_depth_to_color/image_raw") in launch.remappings
    assert ("camera_info", "/cam/color/camera_info") in launch.remappings


def test_without_a_depth_argument_use_depth_stays_the_params_files_choice(tmp_path):
    launch = node_launch({"image": "/cam/color/image_raw"}, tmp_path)
    assert all(not isinstance(item, dict) or "use_depth" not in item for item in launch.parameters)
    assert [name for name, _ in launch.remappings] == ["image", "queries"]


def test_every_launch_spec_field_reaches_launch_ros():
    from textregion_ros.tooling.nav2_launch import CloudLaunch
    from textregion_ros.tooling.rviz_launch import RvizLaunch
    for spec in (node_launch({}, PACKAGE).__class__, RvizLaunch, CloudLaunch):
        dropped = {f.name for f in dataclasses.fields(spec)} - set(NODE_ACTION_FIELDS)
        assert not dropped, f"{spec.__name__} fields the launch files would not pass to Node(): {dropped}"


def test_the_node_action_arguments_carry_the_node_s_settings_with_its_output_on_the_screen():
    spec = node_launch({"node_name": "finder", "namespace": "robot1", "log_level": "debug"}, PACKAGE)
    arguments = node_action_arguments(spec)
    assert (arguments["name"], arguments["namespace"], arguments["executable"]) == ("finder", "robot1",
                                                                                   spec.executable)
    assert arguments["ros_arguments"] == ["--log-level", "debug"] and arguments["parameters"] == spec.parameters
    assert (arguments["output"], arguments["emulate_tty"]) == ("screen", True)
    assert "arguments" not in arguments  # only the fields the spec has

