"""EngineConfig: every tunable of the method, derived from the one parameter table (params.py).

The fields, their types and defaults are the table's engine rows, so the node's parameters, the
params file, the CLI and the engine cannot disagree on a name, a default or a range.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Mapping

from .. import params
from .errors import ConfigError

_PYTHON_TYPES = {params.BOOL: bool, params.INTEGER: int, params.DOUBLE: float, params.STRING: str,
                 params.INTEGER_ARRAY: tuple[int, ...], params.STRING_ARRAY: tuple[str, ...]}


def _field(parameter: params.Parameter) -> tuple[str, type, dataclasses.Field]:
    default = parameter.default
    if isinstance(default, list):  # dataclass defaults must be immutable: arrays are tuples here
        default = tuple(default)
    return parameter.name, _PYTHON_TYPES[parameter.kind], dataclasses.field(default=default)


def _post_init(self: Any) -> None:
    for parameter in params.ENGINE_PARAMETERS:  # arrays from YAML / ROS arrive as lists
        value = getattr(self, parameter.name)
        if parameter.kind in (params.INTEGER_ARRAY, params.STRING_ARRAY) and isinstance(value, list):
            setattr(self, parameter.name, tuple(value))
    problems = config_problems(self)
    if problems:
        raise ConfigError("invalid engine config: " + "; ".join(problems))


def _from_mapping(cls: type, values: Mapping[str, Any]) -> Any:
    """Build from a dict (e.g. a ROS params file), ignoring keys that are not fields."""
    return cls(**{k: v for k, v in values.items() if k in params.BY_NAME and params.BY_NAME[k].engine})


def _model_id(self: Any) -> str:
    """What the region tokens are comparable with: backbone, model and weights."""
    return f"{self.backbone}:{self.model}:{self.weights}"


if TYPE_CHECKING:  # the class is built at import time from the table: to mypy its fields are Any
    EngineConfig = Any
else:
    EngineConfig = dataclasses.make_dataclass(
        "EngineConfig",
        [_field(p) for p in params.ENGINE_PARAMETERS],
        namespace={
            "__doc__": "The engine's settings: one field per engine row of textregion_ros.params (same name, "
                       "default and range). Invalid values raise ConfigError listing every problem.",
            "__post_init__": _post_init,
            "from_mapping": classmethod(_from_mapping),
            "model_id": property(_model_id),
        },
    )
    EngineConfig.__module__ = __name__

RELOAD_FIELDS = params.RELOAD_FIELDS


def field_names() -> list[str]:
    """The engine settings' names, in the table's order."""
    return [f.name for f in dataclasses.fields(EngineConfig)]


def config_problems(config: Any) -> list[str]:
    """Every reason `config` is unusable (empty list when it is fine), in the table's words."""
    problems = []
    for parameter in params.ENGINE_PARAMETERS:
        value = getattr(config, parameter.name)
        reason = params.value_problem(parameter, value)
        if reason:
            problems.append(reason)
    return problems
