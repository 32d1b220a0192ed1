"""A run-time set the node refuses says what was wrong in the user's terms: the name it lacks, the type a
value must have, never rclpy's internals ("undeclared parameter(s): []", "Type.INTEGER_ARRAY").

The node is built in-process without being configured (no models): refusals are decided before any model
exists. set_parameters_atomically is what rclpy's ~/set_parameters service calls for each `ros2 param set`.
"""
from __future__ import annotations

import array

import pytest
import rclpy
from rclpy.context import Context
from rclpy.exceptions import ParameterNotDeclaredException
from rclpy.parameter import Parameter

from ros_harness import node_ros_args


@pytest.fixture(scope="module")
def node():
    from textregion_ros.ros.node import TextRegionNode

    context = Context()
    rclpy.init(context=context, args=node_ros_args())
    made = TextRegionNode("textregion_refusals", context=context,
                          parameter_overrides=[Parameter("autostart", value=False)])
    try:
        yield made
    finally:
        made.destroy_node()
        rclpy.shutdown(context=context)


def test_an_unknown_parameter_is_refused_naming_it_and_the_closest_real_one(node):
    with pytest.raises(ParameterNotDeclaredException) as refused:
        node.set_parameters_atomically([Parameter("prob_treshold", value=0.3)])
    message = str(refused.value)
    assert "'prob_treshold'" in message and "did you mean prob_threshold?" in message
    assert "[]" not in message
    assert node.get_parameter("prob_threshold").value != 0.3


def test_a_set_of_several_unknown_names_names_each(node):
    with pytest.raises(ParameterNotDeclaredException) as refused:
        node.set_parameters_atomically([Parameter("nope_a", value=1), Parameter("zzz", value="x")])
    assert "'nope_a'" in str(refused.value) and "'zzz'" in str(refused.value)


@pytest.mark.parametrize(("name", "value", "said"), [
    ("scale", "big", "scale must be a list of integers, got 'big'"),
    ("scale", [1.5, 2.5], "scale must be a list of integers, got [1.5, 2.5]"),
    ("prob_threshold", "high", "prob_threshold must be a number, got 'high'"),
    ("queries", 5, "queries must be a list of strings, got 5"),
    ("autostart", 1, "autostart must be true or false, got 1"),
])
def test_a_value_of_another_type_is_refused_in_the_tables_words(node, name, value, said):
    before = node.get_parameter(name).value
    result = node.set_parameters_atomically([Parameter(name, value=value)])
    assert not result.successful and said in result.reason
    assert "Type." not in result.reason
    assert node.get_parameter(name).value == before or list(node.get_parameter(name).value) == list(before)


def test_a_parameter_cannot_be_unset_and_the_refusal_says_what_to_set(node):
    result = node.set_parameters_atomically([Parameter("prob_threshold", Parameter.Type.NOT_SET)])
    assert not result.successful
    assert "prob_threshold cannot be left without a value: set it to a number" in result.reason


def test_a_whole_number_for_a_double_parameter_is_taken_as_the_double(node):
    result = node.set_parameters_atomically([Parameter("tf_timeout_s", value=1)])
    assert result.successful, result.reason
    taken = node.get_parameter("tf_timeout_s")
    assert taken.value == 1.0 and taken.type_ == Parameter.Type.DOUBLE


@pytest.mark.parametrize("sent", [Parameter.Type.BYTE_ARRAY, Parameter.Type.BOOL_ARRAY])
def test_an_empty_list_of_another_element_type_is_judged_as_the_rows_empty_list(node, sent):
    result = node.set_parameters_atomically([Parameter("scale", sent, [])])  # `ros2 param set ... scale []`
    assert not result.successful and "scale must be [long side, short side]" in result.reason


def test_a_store_url_of_the_wrong_type_is_refused_without_showing_it(node):
    result = node.set_parameters_atomically([Parameter("memory_store", value=["postgresql://robot:secret@db/x"])])
    assert not result.successful and "memory_store must be a string" in result.reason
    assert "secret" not in result.reason


def test_an_integer_array_of_rclpy_s_array_type_is_accepted(node):
    result = node.set_parameters_atomically([Parameter("scale",
                                                       value=array.array("q", node.get_parameter("scale").value))])
    assert result.successful, result.reason
