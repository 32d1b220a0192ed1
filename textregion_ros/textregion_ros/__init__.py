"""textregion_ros: open-vocabulary segmentation and grounding for ROS 2 robots.

`textregion_ros.engine` is the ROS-free TextRegion core (torch only); `textregion_ros.ros` adapts
it to ROS 2 topics and services. Importing this package imports neither.
"""

__version__ = "0.1.0"
