"""Helpers for tests that talk real ROS 2 (rclpy over Fast DDS) with processes they start.

The rclpy side is the package's one client harness, textregion_ros.ros.client.NodeClient (the
benchmarks and the demo use it too); here it only gets the tests' name, TestNode. Both entry points
re-check that DDS is confined to this machine (conftest.py sets it up) before anything ROS starts,
so a test that edits the environment cannot leak traffic: NodeClient, and NodeProcess
(tooling/node_process.py) for the child processes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from textregion_ros.ros.client import NodeClient
from textregion_ros.tooling import params_files
from textregion_ros.tooling.node_process import NodeProcess

TEST_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = TEST_DIR.parent
REPO_ROOT = PACKAGE_DIR.parent


class TestNode(NodeClient):
    """A NodeClient in the test process (own context and executor, spun by the test's thread)."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "test_probe", node_name: str = params_files.NODE_NAME) -> None:
        super().__init__(name, node_name)


# The node tests start the node with the files a robot would use: the main params file, then the
# cpu_smoke preset (real architectures, random weights, small sizes, CPU).
NODE_PARAMS_FILES = (params_files.config_file(), params_files.preset_file("cpu_smoke"))
# On top of the preset: a 3 x 3 point grid instead of its 4 x 4, because the node tests push many
# frames (a burst, every encoding, a 4000 x 3000 image) through a node on 2 shared CPU cores.
NODE_TEST_OVERRIDES: dict[str, Any] = {"points_per_side": 3}


def node_process(name: str = params_files.NODE_NAME, remaps: Optional[dict[str, str]] = None,
                 ignored_signals: tuple[int, ...] = (), **parameters: Any) -> NodeProcess:
    """The node as a child process (not started): params files, the test overrides, then `parameters`.

    `ignored_signals`: the child starts with them ignored (NodeProcess), as a shell's `node &` starts it.
    """
    return NodeProcess.textregion_node({**NODE_TEST_OVERRIDES, **parameters}, NODE_PARAMS_FILES, name, remaps,
                                       cwd=REPO_ROOT, ignored_signals=ignored_signals)


def node_ros_args() -> list[str]:
    """The same params files as `--ros-args` for rclpy.init, for a node run inside the test process."""
    return ["--ros-args", *(arg for path in NODE_PARAMS_FILES for arg in ("--params-file", str(path)))]
