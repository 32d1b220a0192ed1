"""A double parameter given as a whole number (`-p memory_s:=10`, `memory_s: 10` in a params file) is
taken as that double, not refused for its type; a value of the wrong kind is still refused."""
from __future__ import annotations

import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from ros_harness import node_ros_args
from textregion_ros.ros.parameters import declare_parameters


def _declared(overrides: dict) -> Node:
    context = Context()
    rclpy.init(context=context, args=node_ros_args())
    node = Node("textregion_overrides", context=context,
                parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
    declare_parameters(node)
    return node


def test_an_integer_for_a_double_parameter_is_taken_as_the_double():
    node = _declared({"memory_s": 10, "tf_timeout_s": 0})
    try:
        assert node.get_parameter("memory_s").value == 10.0
        assert node.get_parameter("memory_s").type_ == Parameter.Type.DOUBLE
        assert node.get_parameter("tf_timeout_s").value == 0.0
    finally:
        context = node.context
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_a_string_for_a_double_parameter_still_keeps_the_default():
    node = _declared({"memory_s": "ten"})
    try:
        assert node.get_parameter("memory_s").value == 600.0
    finally:
        context = node.context
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_start_up_values_that_break_a_rule_between_them_fall_back_to_the_defaults():
    from textregion_ros.ros.node import TextRegionNode

    context = Context()
    rclpy.init(context=context, args=node_ros_args())
    overrides = [Parameter("autostart", value=False), Parameter("min_depth_m", value=20.0)]  # above max_depth_m
    node = TextRegionNode("textregion_rules", context=context, parameter_overrides=overrides)
    try:
        assert node.get_parameter("min_depth_m").value == 0.1 and node.get_parameter("max_depth_m").value == 10.0
        assert node.state_label() == "unconfigured"
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
