"""ROS parameter descriptors for the rows of the parameter table (textregion_ros.params).

Types, ranges, choices and texts come from the table; this module only speaks rcl_interfaces.
"""
from __future__ import annotations

import array
import difflib
from typing import Any, Callable, Optional, Sequence

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import ParameterNotDeclaredException
from rclpy.parameter import Parameter

from .. import params
from ..engine import EngineConfig, EngineError
from ..engine.devices import device_problem
from ..engine.queries import MAX_QUERY_CHARS, background_phrases
from ..engine.errors import QueryError
from ..settings_rows import rules_problem

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


# Rows whose change waits for a transition (or a restart) and that the engine does not track itself:
# name -> the transition that takes them in (the engine's configure-time rows say so on their own).
DEFERRED: dict[str, str] = {p.name: p.applies for p in params.PARAMETERS
                            if not p.engine and p.applies != params.RUN_TIME}
WHEN = {params.ACTIVATE: "the next activate (deactivate, then activate)",
        params.CONFIGURE: "the next configure (cleanup, then configure)",
        params.START: "the next start of the node"}


# Slowest rate cap accepted: one frame an hour. Below it a cap is a typo (1e-9 would stop processing for
# 30 years), and 0 already means "no cap".
MIN_RATE_CAP_HZ = 1.0 / 3600.0


def rate_cap_problem(value: float) -> Optional[str]:
    """Why a max_rate_hz value is absurd (0 < value < one frame an hour), or None."""
    if 0.0 < float(value) < MIN_RATE_CAP_HZ:
        return (f"max_rate_hz must be 0 (no cap) or at least {MIN_RATE_CAP_HZ:.6g} (one frame an hour), got {value:g}; "
                "to stop processing, deactivate the node")
    return None


def plain_value(value: Any) -> Any:
    """A parameter value as the table's rules read it: any sequence rclpy delivers (a list, a tuple, or the
    array.array it gives for integer and double arrays) as a list; anything else as is."""
    return list(value) if isinstance(value, (list, tuple, array.array)) else value


def ros_default(parameter: params.Parameter) -> Any:
    """The table's default as rclpy declares it (arrays as lists)."""
    return list(parameter.default) if isinstance(parameter.default, (list, tuple)) else parameter.default


def check_value(parameter: params.Parameter, value: Any) -> Optional[str]:
    """Why `value` is not acceptable (the table's rules, also those rcl cannot express), or None."""
    return params.value_problem(parameter, value)


def engine_config(values: dict[str, Any]) -> EngineConfig:
    """EngineConfig from parameter values (ConfigError lists every bad value)."""
    return EngineConfig(**{p.name: values[p.name] for p in params.ENGINE_PARAMETERS})


def changes_problem(changes: dict[str, Any], current: Callable[[str], Any],
                    queries_problem: Callable[[dict[str, Any], Callable[[str], Any]], Optional[str]]) -> Optional[str]:
    """Why a set of parameter changes is refused, or None.

    The one validation of a parameter change, whatever route it took (param set, the queries topic,
    ~/set_queries): each value against the table, the query rules (`queries_problem`: the node's
    QuerySwitch, which parses new queries under the limits being set with them), then the rules between
    parameters.
    """
    for name, value in changes.items():
        parameter = params.BY_NAME.get(name)
        reason = check_value(parameter, value) if parameter else None
        if reason:
            return reason
    return queries_problem(changes, current) or combination_problem(changes, current)


def combination_problem(changes: dict[str, Any], current: Callable[[str], Any]) -> Optional[str]:
    """Why a set of changes breaks a rule between parameters (or one rcl cannot express), or None.

    `current(name)` reads a parameter's value in force; each value is already valid on its own.
    """
    def value(name: str) -> Any:
        return changes[name] if name in changes else current(name)

    reason = rules_problem(changes, current)  # the rules between parameters (settings_rows.RULES)
    if reason:
        return reason
    if "max_rate_hz" in changes:
        reason = rate_cap_problem(changes["max_rate_hz"])
        if reason:
            return reason
    if "background_queries" in changes:
        reason = background_problem(changes["background_queries"], value("max_query_chars"))
        if reason:
            return reason
    if "device" in changes:
        reason = device_problem(changes["device"])
        if reason:
            return f"device: {reason}"
    if any(params.BY_NAME[name].engine for name in changes if name in params.BY_NAME):
        try:
            engine_config({p.name: value(p.name) for p in params.ENGINE_PARAMETERS})
        except EngineError as error:
            return str(error)
    return None


def background_problem(text: str, max_query_chars: int) -> Optional[str]:
    """Why a background_queries value would fail every frame (the rules of any query), or None.

    The engine reads it with its own length limit (MAX_QUERY_CHARS) and the node's queries obey
    max_query_chars, so the smaller of the two applies.
    """
    try:
        background_phrases(text, max_chars=min(int(max_query_chars), MAX_QUERY_CHARS))
    except QueryError as error:
        return str(error)
    return None


def declare_parameters(node: Any) -> None:
    """Declare every parameter of the table on `node`. A bad override (type, range, or a rule rcl
    cannot check) keeps the default and says why: the node starts rather than dying on a typo."""
    for parameter in params.PARAMETERS:
        default = ros_default(parameter)
        try:
            value = node.declare_parameter(parameter.name, _widened(node, parameter, default),
                                           descriptor(parameter)).value
        except Exception as error:
            node.get_logger().error(f"parameter {parameter.name}: {error}; using the default {default!r}")
            node.declare_parameter(parameter.name, default, descriptor(parameter), ignore_override=True)
            continue
        reason = check_value(parameter, plain_value(value))
        if not reason and parameter.name == "background_queries":
            reason = background_problem(value, MAX_QUERY_CHARS)
        if not reason and parameter.name == "max_rate_hz":
            reason = rate_cap_problem(value)
        if reason:  # same answer as a bad `param set`
            node.get_logger().error(f"parameter {reason}; using the default {default!r}")
            node.set_parameters([Parameter(parameter.name, value=default)])


def _widened(node: Any, parameter: params.Parameter, default: Any) -> Any:
    """The default, or for a double given as a whole number (`-p memory_s:=10`, `memory_s: 10` in a
    params file) that number as a double: rclpy's typed declare would refuse the integer and the node
    would start on the default, although the value is exact and in range. Read from rclpy's overrides
    (no public accessor); anything else is left to the declare, which then says what is wrong."""
    override = getattr(node, "_parameter_overrides", {}).get(parameter.name)
    if parameter.kind == params.DOUBLE and override is not None and override.type_ == Parameter.Type.INTEGER:
        node._parameter_overrides[parameter.name] = Parameter(parameter.name, value=float(override.value))
    return default


class UnknownParameters(ParameterNotDeclaredException):
    """A set naming parameters the node does not have. Still rclpy's exception (its parameter services
    answer successful=false with str() of it), but the words name them: rclpy's own text lists them from
    a generator its check has already consumed ("undeclared parameter(s): []")."""

    def __init__(self, unknown: Sequence[str], known: Sequence[str]) -> None:
        Exception.__init__(self, unknown_problem(unknown, known))
        self.parameters = list(unknown)


def unknown_problem(unknown: Sequence[str], known: Sequence[str]) -> str:
    """Why a set naming parameters this node lacks is refused: each name, with the closest real one."""
    said = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        said.append(f"{name!r}" + (f" (did you mean {close[0]}?)" if close else ""))
    return (f"this node has no parameter named {', '.join(said)}; nothing was set "
            f"(`ros2 param list` names its parameters)")


_ARRAY_TYPES = (ParameterType.PARAMETER_BYTE_ARRAY, ParameterType.PARAMETER_BOOL_ARRAY,
                ParameterType.PARAMETER_INTEGER_ARRAY, ParameterType.PARAMETER_DOUBLE_ARRAY,
                ParameterType.PARAMETER_STRING_ARRAY)


def typed_for_table(parameters: Sequence[Parameter]) -> tuple[list[Parameter], Optional[str]]:
    """(the parameters, a whole number for a double row taken as the double; why a set is refused or None).

    rclpy refuses a value of another type than declared in its own terms ("Wrong parameter type, expected
    'Type.DOUBLE' got 'Type.INTEGER'") and an unset value as "Static parameter cannot be undeclared";
    here the table's words say what the value must be. `ros2 param set ... prob_threshold 1` sends an
    integer: exact, so taken as 1.0, like a whole number at start (declare_parameters); an empty list of
    any element type is the row's empty list (the row's own rules then judge it).
    Rows outside the table (use_sim_time) are left to rclpy.
    """
    result = []
    for parameter in parameters:
        row = params.BY_NAME.get(parameter.name)
        sent = parameter.type_.value
        if row is None or sent == _TYPES[row.kind]:
            result.append(parameter)
        elif row.kind == params.DOUBLE and sent == ParameterType.PARAMETER_INTEGER:
            result.append(Parameter(parameter.name, Parameter.Type.DOUBLE, float(parameter.value)))
        elif sent in _ARRAY_TYPES and _TYPES[row.kind] in _ARRAY_TYPES and not len(parameter.value):
            # an empty list has no element type: rclpy's Parameter([]) says bytes, `ros2 param set x []` booleans
            result.append(Parameter(parameter.name, Parameter.Type(_TYPES[row.kind]), []))
        elif sent == ParameterType.PARAMETER_NOT_SET:
            return [], (f"{parameter.name} cannot be left without a value: set it to {params.kind_words(row)} "
                        f"(its default is {ros_default(row)!r})")
        elif row.redact is not None:  # the value may hold a password: never shown
            return [], f"{parameter.name} must be {params.kind_words(row)}"
        else:  # the table's words for the value sent ("scale must be a list of integers, got 'big'")
            return [], check_value(row, plain_value(parameter.value)) or (
                f"{parameter.name} must be {params.kind_words(row)}, got {plain_value(parameter.value)!r}")
    return result, None
