"""ROS-free helpers that run inside the node's process: the latest-frame worker, frame health and
problem counting, stamp pairing and arrival rates, compressed-image decoding, and handing freed heap
back to the OS (heap_trim). Process tooling (starting nodes, DDS confinement, launch decisions,
params files) lives in textregion_ros.tooling."""
