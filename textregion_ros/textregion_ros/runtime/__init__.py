"""ROS-free process helpers: the latest-frame worker, DDS confinement, the node's command line,
what the launch file starts."""
