"""Smoke-test the node as colcon installed it (scripts/colcon_check.sh runs this in a clean shell).

Run after `source <workspace>/install/setup.bash`. It checks, in this order, and exits non-zero with
the node's log tail at the first failure:
  1. textregion_ros, vision_msgs and textregion_msgs import from the workspace (install/, or
     build/ for --symlink-install), not from the development venv or the source tree;
  2. the package's share directory, found through the ament index as `ros2 launch` finds it, holds
     config/textregion.yaml and config/presets/cpu_smoke.yaml;
  3. install/textregion_ros/lib/textregion_ros/textregion_node (what `ros2 run` starts) comes up
     with both params files, confined to this machine's DDS on a domain id of its own;
  4. queries sent on `queries` come back in ~/label_info (transient local), and a frame sent on the
     remapped `image` topic comes back as a vision_msgs/Detection2DArray on ~/detections with the
     frame's stamp;
  5. the message libraries the node process mapped are the workspace's;
  6. SIGINT stops the node with exit status 0.
Every wait has a timeout. Weights are random (cpu_smoke preset): only plumbing is checked.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Optional

CAMERA_TOPIC = "/camera/image"
QUERIES = ["red square", "blue disc"]
FRAME_STAMP_SEC = 4242


class SmokeFailure(RuntimeError):
    """A check failed; the message says which."""


def say(text: str) -> None:
    print(f"[probe] {text}", flush=True)


def inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def check_imports(workspace: Path) -> None:
    """The three packages of this repository must come from the colcon workspace only."""
    import importlib

    allowed = (workspace / "install", workspace / "build")
    for name in ("textregion_ros", "vision_msgs", "textregion_msgs"):
        module = importlib.import_module(name)
        path = Path(module.__file__ or "")
        real = path.resolve()
        if not any(inside(path, folder) for folder in allowed) or not inside(real, workspace.resolve()):
            raise SmokeFailure(f"{name} imports from {path} (really {real}), not from the workspace {workspace}")
        say(f"{name} imports from {path.relative_to(workspace)}")


def share_files(workspace: Path) -> tuple[Path, Path]:
    """The main params file and the cpu_smoke preset, as `ros2 launch` would find them."""
    from ament_index_python.packages import get_package_share_directory

    share = Path(get_package_share_directory("textregion_ros"))
    if not inside(share, workspace / "install"):
        raise SmokeFailure(f"the ament index finds textregion_ros's share directory at {share}, not in install/")
    files = share / "config" / "textregion.yaml", share / "config" / "presets" / "cpu_smoke.yaml"
    for file in files:
        if not file.is_file():
            raise SmokeFailure(f"{file} is not installed (setup.py data_files)")
    return files


class Node:
    """The installed node as a child process, its output in a log file."""

    def __init__(self, executable: Path, params: tuple[Path, Path], env: dict[str, str], log_path: Path) -> None:
        if not os.access(executable, os.X_OK):
            raise SmokeFailure(f"{executable} (what `ros2 run textregion_ros textregion_node` starts) is missing")
        from textregion_ros.tooling.params_files import NODE_NAME  # the installed copy (checked first)

        self.log_path = log_path
        args = [str(executable), "--ros-args", "--params-file", str(params[0]), "--params-file", str(params[1]),
                "-r", f"__node:={NODE_NAME}", "-r", f"image:={CAMERA_TOPIC}"]
        say("starting " + " ".join(args))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def mapped_files(self) -> set[Path]:
        maps = Path(f"/proc/{self.process.pid}/maps").read_text().splitlines()
        return {Path(line.split(None, 5)[5]) for line in maps if len(line.split(None, 5)) == 6
                and line.split(None, 5)[5].startswith("/")}

    def interrupt(self, timeout: float) -> int:
        """SIGINT, then wait; SmokeFailure (after SIGKILL) when it does not stop in time."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise SmokeFailure(f"the node did not exit within {timeout:.0f} s of SIGINT") from None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait()


def spin_until(executor, condition: Callable[[], bool], timeout: float, what: str, node: Node,
               every: Optional[Callable[[], None]] = None, period: float = 2.0) -> None:
    """Spin until `condition()`; call `every()` each `period` s; SmokeFailure after `timeout` s."""
    deadline = time.monotonic() + timeout
    next_call = time.monotonic()
    while not condition():
        if not node.alive():
            raise SmokeFailure(f"the node exited (status {node.process.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise SmokeFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        if every is not None and time.monotonic() >= next_call:
            every()
            next_call = time.monotonic() + period
        executor.spin_once(timeout_sec=0.05)


def test_frame():
    """A 320x240 rgb8 frame with a red square and a blue disc, as a sensor_msgs/Image."""
    import numpy as np
    from sensor_msgs.msg import Image

    height, width = 240, 320
    rgb = np.full((height, width, 3), 200, np.uint8)
    rgb[40:140, 30:130] = (220, 30, 30)
    yy, xx = np.mgrid[:height, :width]
    rgb[(yy - 150) ** 2 + (xx - 230) ** 2 < 50 ** 2] = (30, 40, 220)
    msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
    msg.data = rgb.tobytes()
    msg.header.stamp.sec = FRAME_STAMP_SEC
    msg.header.frame_id = "camera"
    return msg


def exchange(node: Node, timeouts: argparse.Namespace) -> None:
    """Queries in, LabelInfo out; one frame in, Detection2DArray out."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import String
    from vision_msgs.msg import Detection2DArray, LabelInfo

    from textregion_ros.tooling.params_files import NODE_NAME  # the installed copy (checked first)

    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    context = Context()
    rclpy.init(context=context)
    probe = rclpy.create_node("colcon_smoke_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    try:
        label_info: list = []
        detections: list = []
        probe.create_subscription(LabelInfo, f"/{NODE_NAME}/label_info", label_info.append, latched)
        probe.create_subscription(Detection2DArray, f"/{NODE_NAME}/detections", detections.append, reliable)
        queries = probe.create_publisher(String, "queries", latched)
        camera = probe.create_publisher(Image, CAMERA_TOPIC, reliable)
        queries.publish(String(data=", ".join(QUERIES)))

        def has_queries() -> bool:
            return any(set(QUERIES) <= {c.class_name for c in info.class_map} for info in label_info)

        spin_until(executor, has_queries, timeouts.start, "~/label_info with the queries", node)
        info = next(i for i in reversed(label_info) if set(QUERIES) <= {c.class_name for c in i.class_map})
        say("~/label_info: " + ", ".join(f"{c.class_id}={c.class_name!r}" for c in info.class_map))

        frame = test_frame()
        matching = lambda: [d for d in detections if d.header.stamp.sec == FRAME_STAMP_SEC]  # noqa: E731
        spin_until(executor, lambda: bool(matching()), timeouts.frame, "~/detections for the frame", node,
                   every=lambda: camera.publish(frame))
        result = matching()[-1]
        say(f"~/detections: Detection2DArray stamped {result.header.stamp.sec}, frame "
            f"{result.header.frame_id!r}, {len(result.detections)} detections "
            f"{sorted({d.results[0].hypothesis.class_id for d in result.detections if d.results})}")
    finally:
        executor.shutdown()
        probe.destroy_node()
        rclpy.try_shutdown(context=context)


def check_mapped_libraries(node: Node, workspace: Path) -> None:
    """Message libraries (C type support, Python extensions) must be the workspace's builds."""
    ours = [p for p in node.mapped_files() if "vision_msgs" in p.name or "textregion_msgs" in p.name]
    if not ours:
        raise SmokeFailure("the node mapped no vision_msgs / textregion_msgs library")
    stray = [p for p in ours if not inside(p.resolve(), workspace.resolve())]
    if stray:
        raise SmokeFailure("the node loaded message libraries from outside the workspace: "
                           + ", ".join(map(str, stray)))
    say(f"the node's {len(ours)} mapped vision_msgs / textregion_msgs libraries are the workspace's")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workspace", type=Path, required=True, help="colcon workspace (holds install/)")
    parser.add_argument("--start-timeout", dest="start", type=float, default=150.0,
                        help="seconds for the node to come up and publish ~/label_info")
    parser.add_argument("--frame-timeout", dest="frame", type=float, default=120.0,
                        help="seconds for ~/detections of the frame")
    parser.add_argument("--stop-timeout", dest="stop", type=float, default=30.0, help="seconds to exit after SIGINT")
    args = parser.parse_args()
    workspace = args.workspace.absolute()
    node: Optional[Node] = None
    claim = None
    try:
        check_imports(workspace)
        params = share_files(workspace)
        from textregion_ros.tooling import local_dds  # the installed copy (checked above)

        claim = local_dds.claim()
        claim.apply()
        local_dds.check(os.environ)
        say(f"DDS confined to this machine: ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}, "
            f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE']}")
        executable = workspace / "install" / "textregion_ros" / "lib" / "textregion_ros" / "textregion_node"
        node = Node(executable, params, dict(os.environ), workspace / "textregion_node.log")
        exchange(node, args)
        check_mapped_libraries(node, workspace)
        status = node.interrupt(args.stop)
        if status != 0:
            raise SmokeFailure(f"the node exited with status {status} after SIGINT")
        say("the node stopped on SIGINT with status 0")
        return 0
    except (Exception, KeyboardInterrupt) as failure:  # any failure, or the caller's timeout (SIGINT)
        if isinstance(failure, SmokeFailure):
            detail = str(failure)
        elif isinstance(failure, KeyboardInterrupt):
            detail = "interrupted (scripts/colcon_check.sh's overall timeout?)"
        else:
            detail = traceback.format_exc()
        print(f"[probe] FAILED: {detail}", file=sys.stderr, flush=True)
        if node is not None:
            print(f"--- node log ({node.log_path}), last lines ---\n{node.log_tail()}", file=sys.stderr, flush=True)
        return 1
    finally:
        if node is not None:
            node.kill()
        if claim is not None:
            claim.release()


if __name__ == "__main__":
    sys.exit(main())
