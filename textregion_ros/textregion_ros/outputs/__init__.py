"""ROS-free renderings of results: pixel encodings, result files, the colour overlay."""
