"""What launch/textregion.launch.py starts, computed from its arguments without launch or rclpy.

Why a ROS-free module: `launch` and `launch_ros` exist only in a ROS install (not on PyPI), so the
launch file stays a thin shell around these decisions and they are unit-tested here:
  - a launch argument that mirrors a node parameter (device, queries, the model choice) overrides
    the params files ONLY when it is given on the command line. Such arguments default to ""
    (= not given): a default like device:=auto, passed as a parameter, would silently replace a
    params file's `device: cuda:1`;
  - params files are layered in order: `params_file` (default: the package's config/textregion.yaml),
    then the preset named by `preset` (a file under config/presets/), then the overrides;
  - `rviz:=true` also starts rviz2 on config/textregion.rviz (tooling/rviz_launch.py).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from .. import params
from . import params_files

NOT_GIVEN = ""
PACKAGE = "textregion_ros"
NODE_EXECUTABLE = "textregion_node"
CONFIG_FILE = Path("config") / "textregion.yaml"
PRESETS_DIR = Path("config") / "presets"
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def _queries(text: str) -> list[str]:
    """'mug, table; desk' -> ['mug', 'table; desk'] by the one splitting rule of every query path
    (an empty item is kept, so the node rejects it with its position like the topic would)."""
    from ..engine.queries import split_query_text  # the engine package imports torch: only when needed

    return split_query_text(text)


@dataclass(frozen=True)
class LaunchArgument:
    """One argument of textregion.launch.py; `to_parameter` set = it mirrors that node parameter."""

    name: str
    default: str
    description: str
    to_parameter: Optional[Callable[[str], Any]] = field(default=None, compare=False)

    @property
    def mirrors_parameter(self) -> bool:
        return self.to_parameter is not None


def _mirror(name: str, to_parameter: Callable[[str], Any] = str.strip) -> LaunchArgument:
    """An argument for parameter `name`, described by the parameter table's own text."""
    parameter = params.BY_NAME[name]
    allowed = f" ({parameter.constraints()})" if parameter.constraints() else ""
    return LaunchArgument(name, NOT_GIVEN, f"Parameter `{name}`: {parameter.description}{allowed} Empty (default): "
                          "the params files' value.", to_parameter)


ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("image", "/camera/image_raw",
                   "Camera image topic (sensor_msgs/Image), remapped to the node's `image` input."),
    LaunchArgument("queries_topic", "queries",
                   "std_msgs/String topic with comma-separated queries, remapped to `queries`."),
    LaunchArgument("depth", NOT_GIVEN, "Depth topic registered to the image (16UC1 mm / 32FC1 m), remapped to "
                   "`depth`; given = use_depth true (3D). Empty (default): the params files decide."),
    LaunchArgument("camera_info", NOT_GIVEN, "CameraInfo topic of the image, remapped to `camera_info`. Empty "
                   "(default): <image's namespace>/camera_info."),
    LaunchArgument("namespace", "", "Namespace of the node (outputs are ~/...: <namespace>/<node_name>/...)."),
    LaunchArgument("node_name", params_files.NODE_NAME, "Name of the node."),
    LaunchArgument("params_file", NOT_GIVEN, "Parameters file. Empty (default): the package's config/textregion.yaml."),
    LaunchArgument("preset", NOT_GIVEN, "Name of a params file in the package's config/presets/ (e.g. cpu_smoke), "
                   "layered over params_file. Empty (default): none."),
    LaunchArgument("log_level", "info", "Logger level of the node."),
    LaunchArgument("rviz", "false", "true = also start rviz2 with the package's config/textregion.rviz, its topics "
                   "moved to this launch's namespace and node_name."),
    _mirror("device"),
    _mirror("image_transport"),
    _mirror("queries", _queries),  # comma-separated here: 'red mug, table; desk'
    _mirror("backbone"),
    _mirror("model"),
    _mirror("weights"),
    _mirror("sam2_model"),
    _mirror("sam2_weights"),
)
BY_NAME: dict[str, LaunchArgument] = {argument.name: argument for argument in ARGUMENTS}


def flag(name: str, text: str) -> bool:
    """A true/false launch argument (blank = false); ValueError naming the argument and the words it takes."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if not word or word in FALSE_WORDS:
        return False
    raise ValueError(f"launch argument {name}:={text!r} is neither true ({', '.join(TRUE_WORDS)}) nor false "
                     f"({', '.join(FALSE_WORDS)})")


def parameter_overrides(values: Mapping[str, str]) -> dict[str, Any]:
    """The parameters to override: only mirrored arguments given a non-blank value.

    `values` maps argument names to their values as launch hands them over (strings; absent or ""
    = not given). Whitespace-only counts as not given, as an empty shell variable would.
    """
    overrides: dict[str, Any] = {}
    for argument in ARGUMENTS:
        value = values.get(argument.name, NOT_GIVEN)
        if argument.to_parameter is not None and value.strip():
            overrides[argument.name] = argument.to_parameter(value)
    return overrides


def preset_file(share_dir: Path, preset: str) -> Optional[Path]:
    """The preset's params file (`cpu_smoke` or `cpu_smoke.yaml`) in the package's share directory,
    None when none is asked for; UnknownPresetError (a ValueError) names the presets that exist."""
    if not preset.strip():
        return None
    return params_files.preset_file(preset, search=[Path(share_dir) / CONFIG_FILE.parent])


def parameter_files(share_dir: Path, params_file: str, preset: str) -> list[Path]:
    """Params files in the order the node reads them (later files win)."""
    main = Path(params_file.strip()).expanduser() if params_file.strip() else Path(share_dir) / CONFIG_FILE
    files = [main]
    chosen = preset_file(share_dir, preset)
    if chosen is not None:
        files.append(chosen)
    return files


@dataclass(frozen=True)
class NodeLaunch:
    """Everything the launch file hands to launch_ros's Node action."""

    name: str
    namespace: str
    parameters: list[Any]  # params file paths (str), then one dict of overrides when there are any
    remappings: list[tuple[str, str]]
    ros_arguments: list[str]
    package: str = PACKAGE
    executable: str = NODE_EXECUTABLE


def node_launch(values: Mapping[str, str], share_dir: Path) -> NodeLaunch:
    """The node to start for these launch argument values (absent ones take their defaults)."""
    value = {argument.name: values.get(argument.name, argument.default) for argument in ARGUMENTS}
    parameters: list[Any] = [str(path) for path in parameter_files(share_dir, value["params_file"], value["preset"])]
    overrides = parameter_overrides(value)
    remappings = [("image", value["image"]), ("queries", value["queries_topic"])]
    if value["depth"].strip():
        overrides["use_depth"] = True
        remappings.append(("depth", value["depth"].strip()))
        camera_info = value["camera_info"].strip() or value["image"].rsplit("/", 1)[0] + "/camera_info"
        remappings.append(("camera_info", camera_info))
    elif value["camera_info"].strip():
        remappings.append(("camera_info", value["camera_info"].strip()))
    if overrides:
        parameters.append(overrides)
    return NodeLaunch(
        name=value["node_name"],
        namespace=value["namespace"],
        parameters=parameters,
        remappings=remappings,
        ros_arguments=["--log-level", value["log_level"]],
    )


# The keyword arguments of launch_ros's Node action that a launch spec (NodeLaunch, rviz_launch's
# RvizLaunch, nav2_launch's CloudLaunch) may carry; every other field is not for launch_ros.
NODE_ACTION_FIELDS = ("package", "executable", "name", "namespace", "parameters", "remappings", "ros_arguments",
                      "arguments")


def node_action_arguments(spec: Any) -> dict[str, Any]:
    """launch_ros Node(...) keyword arguments of a launch spec: the one place the package's launch files
    say how a process is started (its output on the screen, with a terminal's line buffering and
    colours, so the node's log lines appear as they are written)."""
    values = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name in NODE_ACTION_FIELDS}
    return {**values, "output": "screen", "emulate_tty": True}

