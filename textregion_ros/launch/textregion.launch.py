"""Start textregion_node with config/textregion.yaml (or params_file), an optional preset, and
overrides for only those parameter arguments given on the command line; rviz:=true adds rviz2.

    ros2 launch textregion_ros textregion.launch.py image:=/camera/color/image_raw device:=cuda
    ros2 launch textregion_ros textregion.launch.py params_file:=/path/my.yaml preset:=cpu_smoke
    ros2 launch textregion_ros textregion.launch.py namespace:=robot1 queries:="red mug, table; desk"
    ros2 launch textregion_ros textregion.launch.py rviz:=true namespace:=robot1

The arguments and what they turn into live in textregion_ros.tooling.launch_arguments and
textregion_ros.tooling.rviz_launch (ROS-free, unit-tested); this file only hands them to launch_ros.
The node configures and activates itself (parameter `autostart`); set autostart: false in a params
file to drive its lifecycle from a lifecycle manager instead.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from textregion_ros.tooling.launch_arguments import ARGUMENTS, PACKAGE, node_action_arguments, node_launch
from textregion_ros.tooling.rviz_launch import rviz_launch


def _start_node(context: LaunchContext) -> list:
    values = {argument.name: LaunchConfiguration(argument.name).perform(context) for argument in ARGUMENTS}
    share = Path(get_package_share_directory(PACKAGE))
    specs = [node_launch(values, share), rviz_launch(values, share)]
    return [Node(**node_action_arguments(spec)) for spec in specs if spec is not None]


def generate_launch_description() -> LaunchDescription:
    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description) for a in ARGUMENTS]
    return LaunchDescription([*declared, OpaqueFunction(function=_start_node)])
