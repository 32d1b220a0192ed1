"""A double parameter given as a whole number (`-p memory_s:=10`, `memory_s: 10` in a params file) is
taken as that double, not refused for its type; a value of the wrong kind is still refused."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from ros_harness import node_ros_args
from textregion_ros.ros.parameters import declare_parameters


def _declared_node(name: str, context: Context, overrides: list[Parameter]) -> Node:
    node = Node(name, context=context, parameter_overrides=overrides)
    declare_parameters(node)
    return node


@contextmanager
def _started(overrides: dict, make: Callable[[str, Context, list[Parameter]], Node] = _declared_node) -> Iterator[Node]:
    """A node made by `make` with these overrides, in an rclpy context of its own, shut down after."""
    context = Context()
    rclpy.init(context=context, args=node_ros_args())
    node = make("textregion_overrides", context, [Parameter(k, value=v) for k, v in overrides.items()])
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_an_integer_for_a_double_parameter_is_taken_as_the_double():
    with _started({"memory_s": 10, "tf_timeout_s": 0}) as node:
        assert node.get_parameter("memory_s").value == 10.0
        assert node.get_parameter("memory_s").type_ == Parameter.Type.DOUBLE
        assert node.get_parameter("tf_timeout_s").value == 0.0


def test_a_string_for_a_double_parameter_still_keeps_the_default():
    with _started({"memory_s": "ten"}) as node:
        assert node.get_parameter("memory_s").value == 600.0


def test_start_up_values_that_break_a_rule_between_them_fall_back_to_the_defaults():
    from textregion_ros.ros.node import TextRegionNode

    def textregion_node(name: str, context: Context, overrides: list[Parameter]) -> Node:
        return TextRegionNode(name, context=context, parameter_overrides=overrides)

    # min_depth_m above max_depth_m
    with _started({"autostart": False, "min_depth_m": 20.0}, textregion_node) as node:
        assert node.get_parameter("min_depth_m").value == 0.1 and node.get_parameter("max_depth_m").value == 10.0
        assert node.state_label() == "unconfigured"
