"""ROS-free process tooling around the node: starting it as a child process with DDS confined to the
machine (node_process, local_dds, node_command), what the launch files start (launch_arguments,
nav2_launch, rviz_launch), the params files and presets (params_files), and process statistics for
soaks and leak tests (process_stats), and the CUDA dry run (cuda_dry_run, on fake_cuda's fake tensors).
Nothing here runs inside the node's frame path."""
