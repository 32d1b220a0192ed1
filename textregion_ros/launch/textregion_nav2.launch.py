"""textregion_node + the organised point cloud Nav2's semantic_segmentation_layer needs (see
config/nav2/semantic_segmentation_layer.yaml): depth_image_proc's point_cloud_xyz_node on the depth
registered to the colour camera, publishing the layer's pointcloud_topic.

    # RealSense (realsense2_camera with align_depth.enable:=true): the defaults
    ros2 launch textregion_ros textregion_nav2.launch.py queries:="floor; ground, person, chair"
    # ZED
    ros2 launch textregion_ros textregion_nav2.launch.py image:=/zed/zed_node/rgb/image_rect_color \
        depth:=/zed/zed_node/depth/depth_registered

Needs depth_image_proc (apt: ros-jazzy-depth-image-proc) and, for rviz:=true, rviz2. Every argument of
textregion.launch.py is here too; what they turn into is textregion_ros.tooling.nav2_launch (ROS-free,
unit-tested); this file only hands it to launch_ros.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from textregion_ros.tooling.launch_arguments import PACKAGE, node_action_arguments
from textregion_ros.tooling.nav2_launch import NAV2_ARGUMENTS, nav2_launch


def _start(context: LaunchContext) -> list:
    values = {argument.name: LaunchConfiguration(argument.name).perform(context) for argument in NAV2_ARGUMENTS}
    launch = nav2_launch(values, Path(get_package_share_directory(PACKAGE)))
    specs = [launch.node, launch.cloud, launch.rviz]
    return [Node(**node_action_arguments(spec)) for spec in specs if spec is not None]


def generate_launch_description() -> LaunchDescription:
    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
                for a in NAV2_ARGUMENTS]
    return LaunchDescription([*declared, OpaqueFunction(function=_start)])
