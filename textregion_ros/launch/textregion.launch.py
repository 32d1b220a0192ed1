"""Start textregion_node with config/textregion.yaml.

    ros2 launch textregion_ros textregion.launch.py image:=/camera/color/image_raw device:=cuda
    ros2 launch textregion_ros textregion.launch.py namespace:=robot1 params_file:=/path/my.yaml

The node configures and activates itself (parameter `autostart`); set autostart:=false in the
params file to drive its lifecycle from a lifecycle manager instead.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = (
    ("image", "/camera/image_raw", "Camera image topic (sensor_msgs/Image) remapped to the node's `image` input."),
    ("queries_topic", "queries", "std_msgs/String topic with comma-separated queries."),
    ("namespace", "", "Namespace of the node (outputs are ~/...: <namespace>/<node_name>/...)."),
    ("node_name", "textregion", "Name of the node."),
    ("params_file", PathJoinSubstitution([FindPackageShare("textregion_ros"), "config", "textregion.yaml"]),
     "Parameters file (defaults: the package's config/textregion.yaml)."),
    ("device", "auto", "auto, cpu, cuda or cuda:N (overrides the params file)."),
    ("log_level", "info", "Logger level of the node."),
)


def generate_launch_description() -> LaunchDescription:
    declared = [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS]
    node = Node(
        package="textregion_ros",
        executable="textregion_node",
        name=LaunchConfiguration("node_name"),
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), {"device": LaunchConfiguration("device")}],
        remappings=[("image", LaunchConfiguration("image")), ("queries", LaunchConfiguration("queries_topic"))],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription([*declared, node])
