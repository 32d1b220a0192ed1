"""Packaging a robot relies on: package.xml, setup.py, launch file and config agree with the code."""
from __future__ import annotations

import ast
from pathlib import Path

import yaml
from catkin_pkg.package import parse_package

from textregion_ros.ros.parameters import PARAMETERS

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parent
LAUNCH_FILE = PACKAGE / "launch" / "textregion.launch.py"


def test_config_file_lists_every_parameter_with_its_default():
    values = yaml.safe_load((PACKAGE / "config" / "textregion.yaml").read_text())["/**"]["ros__parameters"]
    assert sorted(values) == sorted(spec.name for spec in PARAMETERS)
    for spec in PARAMETERS:
        assert values[spec.name] == spec.default, spec.name


def test_node_package_xml_declares_every_ros_and_python_dependency():
    package = parse_package(str(PACKAGE / "package.xml"))
    assert package.package_format == 3 and package.name == "textregion_ros"
    run = {d.name for d in package.exec_depends}
    assert {"rclpy", "sensor_msgs", "std_msgs", "vision_msgs", "diagnostic_msgs", "lifecycle_msgs",
            "textregion_msgs", "launch", "launch_ros"} <= run
    assert {"python3-numpy", "python3-torch", "python3-torchvision", "python3-scipy", "python3-sam2-pip",
            "python3-open-clip-torch-pip", "python3-timm-pip"} <= run
    assert package.get_build_type() == "ament_python"


def test_custom_rosdep_keys_are_defined_for_the_pip_only_dependencies():
    keys = yaml.safe_load((REPO / "rosdep" / "textregion.yaml").read_text())
    package = parse_package(str(PACKAGE / "package.xml"))
    pip_keys = {d.name for d in package.exec_depends if d.name.endswith("-pip")}
    assert pip_keys <= set(keys)


def test_interface_package_is_an_ament_cmake_rosidl_package():
    package = parse_package(str(REPO / "textregion_msgs" / "package.xml"))
    assert package.package_format == 3 and package.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [g.name for g in package.member_of_groups]
    assert {"std_msgs", "sensor_msgs", "vision_msgs"} <= {d.name for d in package.build_depends}


def test_vendored_vision_msgs_is_hidden_from_colcon():
    assert (REPO / "vendor" / "vision_msgs" / "COLCON_IGNORE").is_file()


def _launch_tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def test_launch_file_declares_the_ros_free_arguments_and_starts_the_node_through_them():
    """launch/launch_ros are not installable here: check the file's structure, and the arguments
    it declares (runtime/launch_arguments.py, unit-tested in test_launch_arguments.py)."""
    from textregion_ros.runtime.launch_arguments import ARGUMENTS

    tree = _launch_tree()
    imported = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {("textregion_ros.runtime.launch_arguments", "ARGUMENTS"),
            ("textregion_ros.runtime.launch_arguments", "node_launch"),
            ("launch.actions", "OpaqueFunction"), ("launch.actions", "DeclareLaunchArgument"),
            ("launch_ros.actions", "Node")} <= imported
    assert "generate_launch_description" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    names = {argument.name for argument in ARGUMENTS}
    assert {"image", "queries_topic", "namespace", "node_name", "params_file", "preset", "device", "log_level"} <= names


def test_launch_file_starts_the_installed_console_script_with_the_packaged_config():
    from textregion_ros.runtime.launch_arguments import CONFIG_FILE, NODE_EXECUTABLE, PRESETS_DIR

    setup = (PACKAGE / "setup.py").read_text()
    assert NODE_EXECUTABLE == "textregion_node" and '"textregion_node = textregion_ros.ros.node:main"' in setup
    assert (PACKAGE / CONFIG_FILE).is_file() and (PACKAGE / PRESETS_DIR / "cpu_smoke.yaml").is_file()
    for pattern in ('glob("launch/*.launch.py")', 'glob("config/*.yaml")', 'glob("config/presets/*.yaml")'):
        assert pattern in setup, pattern
    assert 'f"share/{PACKAGE}/config/presets"' in setup


def test_readme_starts_with_the_two_commands_and_documents_every_parameter():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split()[0:2] for line in first_block] == [["make", "demo"], ["make", "test"]]
    for spec in PARAMETERS:
        assert f"| `{spec.name}` | " in readme, spec.name
    assert "CLI_SECTION_PLACEHOLDER" not in readme


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
