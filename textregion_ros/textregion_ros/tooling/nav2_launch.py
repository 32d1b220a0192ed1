"""What launch/textregion_nav2.launch.py starts, computed from its arguments without launch or rclpy.

The Nav2 semantic_segmentation_layer needs three things of one camera frame: the node's ~/labels (and
~/confidence), ~/label_info, and an ORGANISED point cloud with the label image's width x height, pixel-
aligned with it. Depth registered to the colour camera gives exactly that once depth_image_proc's
point_cloud_xyz_node turns it into points (its cloud is height x width of the depth image). So the recipe
is: the node on the colour image + point_cloud_xyz_node on the registered depth, publishing on the topic
config/nav2/semantic_segmentation_layer.yaml reads (`pointcloud_topic`).

The node itself gets the depth only with `use_depth:=true` (its own 3D outputs: detections_3d, markers);
the layer needs only the cloud, so by default the node spends nothing on 3D.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from .launch_arguments import ARGUMENTS, BY_NAME, LaunchArgument, NodeLaunch, flag, node_launch
from .rviz_launch import RvizLaunch, rviz_launch

CLOUD_PACKAGE = "depth_image_proc"
CLOUD_EXECUTABLE = "point_cloud_xyz_node"  # depth_image_proc::PointCloudXyzNode (jazzy: image_pipeline 5.x)
DEFAULT_POINTS = "/camera/depth_registered/points"  # = pointcloud_topic of config/nav2/semantic_segmentation_layer.yaml
# RealSense topics by default (realsense2_camera with align_depth.enable:=true), a consistent set.
NAV2_ARGUMENTS: tuple[LaunchArgument, ...] = (
    *(argument for argument in ARGUMENTS if argument.name not in ("image", "depth")),
    LaunchArgument("image", "/camera/camera/color/image_raw", "Colour image topic, remapped to the node's `image`."),
    LaunchArgument("depth", "/camera/camera/aligned_depth_to_color/image_raw",
                   "Depth REGISTERED to the colour image (same width x height; 16UC1 mm / 32FC1 m); its sibling "
                   "camera_info topic is read by point_cloud_xyz_node."),
    LaunchArgument("points", DEFAULT_POINTS, "Topic of the organised cloud (the layer's pointcloud_topic)."),
    LaunchArgument("cloud_queue_size", "5", "queue_size of point_cloud_xyz_node (its depth + camera_info sync)."),
    LaunchArgument("use_depth", "false", "true = the node also takes the depth (its own 3D outputs); the layer "
                   "does not need it."),
)
NAV2_BY_NAME: dict[str, LaunchArgument] = {argument.name: argument for argument in NAV2_ARGUMENTS}


@dataclass(frozen=True)
class CloudLaunch:
    """depth_image_proc's point_cloud_xyz_node as launch_ros's Node action takes it."""

    name: str
    namespace: str
    remappings: list[tuple[str, str]]
    parameters: list[dict]
    package: str = CLOUD_PACKAGE
    executable: str = CLOUD_EXECUTABLE


@dataclass(frozen=True)
class Nav2Launch:
    """What the Nav2 launch file starts: the node, the cloud converter and, with rviz:=true, RViz."""
    node: NodeLaunch
    cloud: CloudLaunch
    rviz: Optional[RvizLaunch]  # rviz:=true


def nav2_launch(values: Mapping[str, str], share_dir: Path) -> Nav2Launch:
    """The node and the cloud pipeline for these argument values (absent ones take their defaults).

    ValueError when the depth topic is empty (there is no cloud without it) or a number / flag is malformed.
    """
    value = {argument.name: values.get(argument.name, argument.default) for argument in NAV2_ARGUMENTS}
    depth, points = value["depth"].strip(), value["points"].strip()
    if not depth:
        raise ValueError("launch argument depth:= is empty: the layer's cloud is made from the depth registered "
                         "to the colour image (e.g. /camera/camera/aligned_depth_to_color/image_raw)")
    if not points:
        raise ValueError("launch argument points:= is empty: it is the cloud topic the layer subscribes to")
    try:
        queue_size = int(value["cloud_queue_size"].strip())
    except ValueError:
        queue_size = 0
    if queue_size < 1:
        raise ValueError(f"launch argument cloud_queue_size:={value['cloud_queue_size']!r} is not a positive integer")
    node_values = {name: text for name, text in value.items() if name in BY_NAME}
    node_values["depth"] = depth if flag("use_depth", value["use_depth"]) else ""
    node = node_launch(node_values, share_dir)
    cloud_parameters: dict = {"queue_size": queue_size}
    if value["image_transport"].strip() == "compressed":  # the depth crosses the network compressed too
        cloud_parameters["depth_image_transport"] = "compressedDepth"
    cloud = CloudLaunch(
        name=f"{value['node_name']}_points",
        namespace=value["namespace"],
        # image_transport's camera subscriber reads camera_info beside image_rect: <depth's namespace>/camera_info
        remappings=[("image_rect", depth), ("points", points)],
        parameters=[cloud_parameters],
    )
    return Nav2Launch(node=node, cloud=cloud, rviz=rviz_launch(value, share_dir))
