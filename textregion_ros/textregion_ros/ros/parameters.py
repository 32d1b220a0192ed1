"""ROS parameter descriptors for the rows of the parameter table (textregion_ros.params).

Types, ranges, choices and texts come from the table; this module only speaks rcl_interfaces.
"""
from __future__ import annotations

from typing import Any, Optional

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

from .. import params
from ..engine import EngineConfig

_TYPES = {
    params.BOOL: ParameterType.PARAMETER_BOOL,
    params.INTEGER: ParameterType.PARAMETER_INTEGER,
    params.DOUBLE: ParameterType.PARAMETER_DOUBLE,
    params.STRING: ParameterType.PARAMETER_STRING,
    params.INTEGER_ARRAY: ParameterType.PARAMETER_INTEGER_ARRAY,
    params.STRING_ARRAY: ParameterType.PARAMETER_STRING_ARRAY,
}


def descriptor(parameter: params.Parameter) -> ParameterDescriptor:
    """What `ros2 param describe` shows; rcl enforces the numeric ranges of scalars itself."""
    text = parameter.description
    if parameter.applies == params.START:
        text += " Read once when the node starts."
    elif parameter.applies != params.RUN_TIME:
        text += f" A change applies at the next {parameter.applies} transition."
    result = ParameterDescriptor(name=parameter.name, description=text, type=_TYPES[parameter.kind],
                                 additional_constraints=parameter.constraints())
    has_range = parameter.minimum is not None and parameter.maximum is not None
    if has_range and parameter.kind == params.INTEGER:
        result.integer_range = [IntegerRange(from_value=int(parameter.minimum), to_value=int(parameter.maximum),
                                             step=parameter.step or 1)]
    elif has_range and parameter.kind == params.DOUBLE:
        result.floating_point_range = [FloatingPointRange(from_value=float(parameter.minimum),
                                                          to_value=float(parameter.maximum), step=0.0)]
    return result


def ros_default(parameter: params.Parameter) -> Any:
    """The table's default as rclpy declares it (arrays as lists)."""
    return list(parameter.default) if isinstance(parameter.default, (list, tuple)) else parameter.default


def check_value(parameter: params.Parameter, value: Any) -> Optional[str]:
    """Why `value` is not acceptable (the table's rules, also those rcl cannot express), or None."""
    return params.value_problem(parameter, value)


def engine_config(values: dict[str, Any]) -> EngineConfig:
    """EngineConfig from parameter values (ConfigError lists every bad value)."""
    return EngineConfig(**{p.name: values[p.name] for p in params.ENGINE_PARAMETERS})
