"""Settings dataclasses backed by rows of the parameter table, and the rules between parameters.

Every settings class of the package (EngineConfig, TrackingSettings, DepthSettings, MemorySettings,
KeyframeSettings, PipelineSettings, PersistenceSettings) is a written-out dataclass, so an IDE and
mypy see its fields, and derives from `TableSettings`, which reads the rest from the rows
(params.py) named in its `ROWS` (field -> parameter):

- `__post_init__` checks each row-backed field by its row's type and range (the error names the
  field) and stores it as the row's Python type (an int given for a double becomes a float, a list
  for an array a tuple), then the RULES between parameters that the class holds all of;
- `from_parameters(values)` builds an instance from parameter values (the node's, a params file's,
  the CLI's); its errors name the parameters, as the node's user knows them;
- `table_mismatches(cls)` lists where a class's fields disagree with their rows (a missing field,
  another type, another default); a test runs it over every subclass, so a default changed in the
  table and not in the class fails there (the table stays the one place of each fact).

RULES are the rules between parameters, written once in parameter names; the node's parameter
validation (ros/parameters.py) and the settings classes both apply them, each in its user's terms.
ROS-free on purpose: the engine and the offline tools import it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Optional, Sequence, TypeVar, get_type_hints

from . import params

# The Python type of a settings field backed by a row of each kind (arrays are tuples: immutable).
PYTHON_TYPES: dict[str, Any] = {
    params.BOOL: bool, params.INTEGER: int, params.DOUBLE: float, params.STRING: str,
    params.INTEGER_ARRAY: tuple[int, ...], params.STRING_ARRAY: tuple[str, ...],
}


# -- rules between parameters -----------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A rule between parameters: `problem(values, labels)` says why the values (in `parameters`
    order) break it, naming them by `labels` (field or parameter names), or None."""

    parameters: tuple[str, ...]
    problem: Callable[[Sequence[Any], Sequence[str]], Optional[str]]
    subject: str  # what the rule is about, in front of the node's refusal ("depth: ...")


def _below(values: Sequence[Any], labels: Sequence[str]) -> Optional[str]:
    low, high = values
    if low < high:
        return None
    return f"need {labels[0]} < {labels[1]}, got {low} and {high}"


def _not_both_zero(values: Sequence[Any], labels: Sequence[str]) -> Optional[str]:
    if values[0] + values[1] > 0.0:
        return None
    return (f"{labels[0]} and {labels[1]} must not both be 0 (a region without 3D would have nothing to be "
            f"compared by)")


RULES: tuple[Rule, ...] = (
    Rule(("min_depth_m", "max_depth_m"), _below, "depth"),
    Rule(("track_weight_mask_iou", "track_weight_token"), _not_both_zero, "tracking"),
)


def rules_problem(changes: Mapping[str, Any], current: Callable[[str], Any]) -> Optional[str]:
    """Why parameter changes break a rule between parameters (the node's check), or None.

    Only the rules that a changed parameter takes part in are checked; `current(name)` reads the
    values in force for the others. The message names the parameters.
    """
    for rule in RULES:
        if not set(rule.parameters) & set(changes):
            continue
        values = [changes[name] if name in changes else current(name) for name in rule.parameters]
        reason = rule.problem(values, rule.parameters)
        if reason:
            return f"{rule.subject}: {reason}"
    return None


# -- settings classes -------------------------------------------------------------------------------
def as_row_type(row: params.Parameter, value: Any) -> Any:
    """A value that passed its row's check, as the row's Python type (numpy numbers become Python ones)."""
    if row.kind == params.INTEGER:
        return int(value)
    if row.kind == params.DOUBLE:
        return float(value)
    if row.kind in (params.INTEGER_ARRAY, params.STRING_ARRAY):
        return tuple(value)
    return value


def row_default(row: params.Parameter) -> Any:
    """The row's default as a settings field holds it (arrays as tuples)."""
    return as_row_type(row, row.default)


S = TypeVar("S", bound="TableSettings")


class TableSettings:
    """Base of a settings dataclass whose fields named in ROWS are rows of the table (see the module)."""

    ROWS: ClassVar[Mapping[str, str]] = {}  # field -> parameter name (its row in params.py)
    BEYOND_TABLE: ClassVar[Mapping[str, tuple[Any, ...]]] = {}  # field -> values allowed outside the row
    ERROR: ClassVar[type[Exception]] = ValueError
    ERROR_PREFIX: ClassVar[str] = ""
    SUBCLASSES: ClassVar[list[type["TableSettings"]]] = []  # every settings class, for table_mismatches

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        TableSettings.SUBCLASSES.append(cls)

    @classmethod
    def parameters(cls) -> frozenset[str]:
        """The parameters (rows) this class reads."""
        return frozenset(cls.ROWS.values())

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise self.ERROR(self.ERROR_PREFIX + "; ".join(problems))
        for field, parameter in self.ROWS.items():  # frozen or not: store the row's type
            value = getattr(self, field)
            if value not in self.BEYOND_TABLE.get(field, ()):
                object.__setattr__(self, field, as_row_type(params.BY_NAME[parameter], value))

    def problems(self) -> list[str]:
        """Every reason these settings are unusable (empty when they are fine), naming the fields."""
        return _problems(type(self), {field: getattr(self, field) for field in self.ROWS}, by_field=True)

    @classmethod
    def row_arguments(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """The row-backed fields' arguments from parameter values (those not given keep their defaults).

        Raises the class's error naming the parameters when a value breaks its row or a rule.
        """
        given = {field: values[parameter] for field, parameter in cls.ROWS.items() if parameter in values}
        problems = _problems(cls, given, by_field=False)
        if problems:
            raise cls.ERROR(cls.ERROR_PREFIX + "; ".join(problems))
        return {field: as_row_type(params.BY_NAME[cls.ROWS[field]], value) for field, value in given.items()}

    @classmethod
    def from_parameters(cls: type[S], values: Mapping[str, Any]) -> S:
        """From parameter values (other keys are ignored; a parameter not given keeps its default)."""
        return cls(**cls.row_arguments(values))


def _problems(cls: type[TableSettings], values: Mapping[str, Any], by_field: bool) -> list[str]:
    """The row and rule problems of `values` (field -> value); messages name fields or parameters."""
    problems = []
    for field, value in values.items():
        parameter = cls.ROWS[field]
        if value in cls.BEYOND_TABLE.get(field, ()):
            continue
        problem = params.setting_problem(params.BY_NAME[parameter], value, label=field if by_field else parameter)
        if problem:
            problems.append(problem)
    if problems:
        return problems  # the rules compare values that are each valid
    field_of = {parameter: field for field, parameter in cls.ROWS.items()}
    for rule in RULES:
        if not all(parameter in field_of for parameter in rule.parameters):
            continue  # the class does not hold every parameter of the rule
        fields = [field_of[parameter] for parameter in rule.parameters]
        if not by_field and not all(field in values for field in fields):
            continue  # checked again, with the defaults, when the instance is built
        labels = fields if by_field else list(rule.parameters)
        reason = rule.problem([values[field] for field in fields], labels)
        if reason:
            problems.append(reason)
    return problems


def table_mismatches(cls: type[TableSettings]) -> list[str]:
    """Where a settings class disagrees with the table: a row-backed field that is missing, has
    another type than its row's kind, or another default (value or type) than its row."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = get_type_hints(cls)  # the annotations as types (they are strings under `from __future__`)
    mismatches = []
    for field, parameter in cls.ROWS.items():
        row = params.BY_NAME.get(parameter)
        if row is None:
            mismatches.append(f"{cls.__name__}.{field}: no parameter {parameter!r} in the table")
            continue
        if field not in fields:
            mismatches.append(f"{cls.__name__} has no field {field!r} for parameter {parameter}")
            continue
        annotation = hints[field]
        expected = PYTHON_TYPES[row.kind]
        if annotation != expected:
            mismatches.append(f"{cls.__name__}.{field} is typed {annotation}, its row {parameter} is "
                              f"{params.kind_words(row)} ({expected})")
        default = fields[field].default
        wanted = row_default(row)
        if default is dataclasses.MISSING or default != wanted or type(default) is not type(wanted):
            shown = "no default" if default is dataclasses.MISSING else repr(default)
            mismatches.append(f"{cls.__name__}.{field} defaults to {shown}, its row {parameter} to {wanted!r}")
    return mismatches
