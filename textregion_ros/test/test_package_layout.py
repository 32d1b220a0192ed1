"""Packaging a robot relies on: package.xml, setup.py, launch file and config agree with the code."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml
from catkin_pkg.package import parse_package

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parent
LAUNCH_FILE = PACKAGE / "launch" / "textregion.launch.py"


# Top-level modules imported by textregion_ros/ (run) and test/ (test) -> the package.xml key.
RUN_IMPORT_KEYS = {
    "rclpy": "rclpy", "builtin_interfaces": "builtin_interfaces", "rcl_interfaces": "rcl_interfaces",
    "std_msgs": "std_msgs", "sensor_msgs": "sensor_msgs", "vision_msgs": "vision_msgs",
    "diagnostic_msgs": "diagnostic_msgs", "lifecycle_msgs": "lifecycle_msgs", "textregion_msgs": "textregion_msgs",
    "std_srvs": "std_srvs",
    "ament_index_python": "ament_index_python", "launch": "launch", "launch_ros": "launch_ros",
    "visualization_msgs": "visualization_msgs", "tf2_ros": "tf2_ros",
    "numpy": "python3-numpy", "torch": "python3-torch", "torchvision": "python3-torchvision",
    "scipy": "python3-scipy", "yaml": "python3-yaml", "tqdm": "python3-tqdm", "PIL": "python3-pil",
    "sam2": "python3-sam2-pip", "open_clip": "python3-open-clip-torch-pip", "timm": "python3-timm-pip",
    "transformers": "python3-transformers-pip", "huggingface_hub": "python3-huggingface-hub-pip",
    "rosbags": "python3-rosbags-pip", "psycopg": "python3-psycopg-pip",
}
TEST_IMPORT_KEYS = {
    "pytest": "python3-pytest", "catkin_pkg": "python3-catkin-pkg-modules", "packaging": "python3-packaging",
    "tokenizers": "python3-tokenizers-pip", "mcap": "python3-mcap-pip", "mcap_ros2": "python3-mcap-ros2-support-pip",
}
# Used without an import of their own: timm (open_clip's SigLIP2 / PE trunks), transformers (open_clip's
# Hugging Face tokenizers), launch_ros (the launch file), pytest-timeout (pytest.ini's timeout).
INDIRECT_KEYS = {"python3-timm-pip", "python3-transformers-pip", "launch", "launch_ros"}
# Keys upstream ros/rosdistro defines (rosdep/python.yaml, and merged rosdistro pull requests #35657
# transformers, #37485 torch + torchvision, #37795 rosbags): never redefined in rosdep/textregion.yaml.
UPSTREAM_KEYS = {
    "python3-timm-pip", "python3-transformers-pip", "python3-rosbags-pip", "python3-torch", "python3-torchvision",
    "python3-numpy", "python3-scipy", "python3-yaml", "python3-tqdm", "python3-pil", "python3-pytest",
    "python3-pytest-timeout", "python3-packaging", "python3-catkin-pkg-modules",
}


def imported_top_level_modules(folder: Path) -> set[str]:
    """Top-level names of absolute imports in every .py file below `folder`, stdlib excluded."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"textregion_ros"}


def ros_imports(path: Path) -> list[str]:
    """The rclpy / tf2_ros / message-package modules `path` imports (anywhere in it, function bodies too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in ("rclpy", "tf2_ros") or top.endswith(("_msgs", "_srvs", "_interfaces")):
                found.append(f"{name} (line {node.lineno})")
    return found


def test_only_modules_under_ros_import_rclpy_or_message_packages():
    """The engine, objects, spatial, outputs, runtime, tooling, cli and the demo stay ROS-free, so the
    offline tools and the tests of the library run without a ROS graph; ros/ holds the wiring."""
    source = PACKAGE / "textregion_ros"
    offenders = {}
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source).as_posix()
        if relative.startswith("ros/"):
            continue
        if found := ros_imports(path):
            offenders[relative] = found
    assert not offenders, f"import these only under textregion_ros/ros/ (move the ROS part there): {offenders}"


def test_the_ros_import_check_sees_imports_inside_functions(tmp_path: Path):
    module = tmp_path / "module.py"
    module.write_text("import numpy\n\ndef f():\n    from vision_msgs.msg import LabelInfo\n    import rclpy.qos\n"
                      "    from std_srvs.srv import Trigger\n    from rcl_interfaces.msg import Parameter\n")
    assert [item.split()[0] for item in ros_imports(module)] == [
        "vision_msgs.msg", "rclpy.qos", "std_srvs.srv", "rcl_interfaces.msg"]


def test_node_package_xml_declares_every_import_as_a_dependency():
    package = parse_package(str(PACKAGE / "package.xml"))
    assert package.package_format == 3 and package.name == "textregion_ros"
    assert package.get_build_type() == "ament_python"
    run = {d.name for d in package.exec_depends}
    test = {d.name for d in package.test_depends}
    run_imports = (imported_top_level_modules(PACKAGE / "textregion_ros")
                   | imported_top_level_modules(PACKAGE / "launch"))
    unmapped = run_imports - set(RUN_IMPORT_KEYS)
    assert not unmapped, f"map these imports of textregion_ros/ to package.xml keys: {sorted(unmapped)}"
    assert {RUN_IMPORT_KEYS[name] for name in run_imports} | INDIRECT_KEYS <= run
    test_helpers = {path.stem for path in (PACKAGE / "test").rglob("*.py")} | {"children"}
    test_imports = imported_top_level_modules(PACKAGE / "test") - test_helpers
    unmapped = test_imports - set(RUN_IMPORT_KEYS) - set(TEST_IMPORT_KEYS)
    assert not unmapped, f"map these imports of test/ to package.xml keys: {sorted(unmapped)}"
    assert {TEST_IMPORT_KEYS[name] for name in test_imports if name in TEST_IMPORT_KEYS} <= test
    assert "python3-pytest-timeout" in test and "timeout" in (REPO / "pytest.ini").read_text()
    assert set(RUN_IMPORT_KEYS.values()) == run, "package.xml declares a run key nothing maps to"


def test_rosdep_file_defines_only_the_pip_keys_upstream_lacks():
    keys = yaml.safe_load((REPO / "rosdep" / "textregion.yaml").read_text())
    package = parse_package(str(PACKAGE / "package.xml"))
    declared = {d.name for d in [*package.exec_depends, *package.test_depends]}
    assert not set(keys) & UPSTREAM_KEYS, "rosdep/textregion.yaml redefines upstream keys"
    assert set(keys) <= declared, "rosdep/textregion.yaml defines keys package.xml does not use"
    pip_keys = {name for name in declared if name.endswith("-pip")}
    assert pip_keys <= set(keys) | UPSTREAM_KEYS, "a -pip key is defined neither here nor upstream"
    for name, rule in keys.items():
        assert name.startswith("python3-") and name.endswith("-pip"), name
        for os_name in ("debian", "ubuntu"):
            assert rule[os_name]["pip"]["packages"], (name, os_name)


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
    it declares (tooling/launch_arguments.py, unit-tested in test_launch_arguments.py)."""
    from textregion_ros.tooling.launch_arguments import ARGUMENTS

    tree = _launch_tree()
    imported = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {("textregion_ros.tooling.launch_arguments", "ARGUMENTS"),
            ("textregion_ros.tooling.launch_arguments", "node_launch"),
            ("launch.actions", "OpaqueFunction"), ("launch.actions", "DeclareLaunchArgument"),
            ("launch_ros.actions", "Node")} <= imported
    assert "generate_launch_description" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    names = {argument.name for argument in ARGUMENTS}
    assert {"image", "queries_topic", "namespace", "node_name", "params_file", "preset", "device", "log_level"} <= names


def test_launch_file_starts_the_installed_console_script_with_the_packaged_config():
    from textregion_ros.tooling.launch_arguments import CONFIG_FILE, NODE_EXECUTABLE, PRESETS_DIR

    setup = (PACKAGE / "setup.py").read_text()
    assert NODE_EXECUTABLE == "textregion_node" and '"textregion_node = textregion_ros.ros.node_main:main"' in setup
    assert (PACKAGE / CONFIG_FILE).is_file() and (PACKAGE / PRESETS_DIR / "cpu_smoke.yaml").is_file()
    for pattern in ('glob("launch/*.launch.py")', 'glob("config/*.yaml")', 'glob("config/presets/*.yaml")'):
        assert pattern in setup, pattern
    assert 'f"share/{PACKAGE}/config/presets"' in setup


def test_readme_starts_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split()[0:2] for line in first_block] == [["make", "demo"], ["make", "test"]]


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
