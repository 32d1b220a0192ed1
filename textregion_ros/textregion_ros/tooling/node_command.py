"""The command line that starts textregion_node as a child process (demo, benchmarks, tests)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from .params_files import NODE_NAME

NODE_MODULE = "textregion_ros.ros.node_main"
# What the node logs when its models cannot be built; it then stays up, unconfigured, so callers
# waiting for outputs watch the log for this line instead of waiting for their timeout.
CONFIGURE_FAILED = "configure failed"


def parameter_argument(value: Any) -> str:
    """A value as `-p name:=value` needs it: JSON, which ROS reads as YAML (floats stay floats)."""
    return json.dumps(value)


def node_arguments(parameters: Mapping[str, Any], params_files: Sequence[Union[str, Path]] = (),
                   node_name: str = NODE_NAME, remaps: Optional[Mapping[str, str]] = None) -> list[str]:
    """Arguments after the Python interpreter: `-m textregion_ros.ros.node_main --ros-args ...`.

    `params_files` are layered in order (a later file wins, as with ROS's own `--params-file`), so a
    preset goes after config/textregion.yaml; `parameters` win over every file.
    """
    if isinstance(params_files, (str, Path)):
        raise TypeError("params_files is a sequence of paths; wrap a single file in a list")
    args = ["-m", NODE_MODULE, "--ros-args"]
    for params_file in params_files:
        args += ["--params-file", str(params_file)]
    for name, value in parameters.items():
        args += ["-p", f"{name}:={parameter_argument(value)}"]
    args += ["-r", f"__node:={node_name}"]
    for source, target in (remaps or {}).items():
        args += ["-r", f"{source}:={target}"]
    return args
