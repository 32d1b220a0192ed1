"""ROS 2 adapter of the TextRegion engine: the node, message conversions and overlay drawing.

Everything that imports rclpy or message packages lives here; the engine never does.
"""
