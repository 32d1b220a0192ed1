"""The command line that starts textregion_node as a child process (demo, benchmarks, tests)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional

NODE_MODULE = "textregion_ros.ros.node"


def parameter_argument(value: Any) -> str:
    """A value as `-p name:=value` needs it: JSON, which ROS reads as YAML (floats stay floats)."""
    return json.dumps(value)


def node_arguments(parameters: Mapping[str, Any], params_file: Optional[Path] = None, node_name: str = "textregion",
                   remaps: Optional[Mapping[str, str]] = None) -> list[str]:
    """Arguments after the Python interpreter: `-m textregion_ros.ros.node --ros-args ...`."""
    args = ["-m", NODE_MODULE, "--ros-args"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    for name, value in parameters.items():
        args += ["-p", f"{name}:={parameter_argument(value)}"]
    args += ["-r", f"__node:={node_name}"]
    for source, target in (remaps or {}).items():
        args += ["-r", f"{source}:={target}"]
    return args
