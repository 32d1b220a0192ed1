"""The tracking, depth and memory settings accept exactly what their parameters' rows of the table allow.

A library caller (tests, benchmarks, `textregion bag`) builds TrackingSettings, DepthSettings and
ObjectMemory directly, the node from its parameters; both must agree with params.py on every
default and range, so a row changed in the table changes all of them.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import pytest

from textregion_ros import params
from textregion_ros.objects import ObjectMemory, TrackingSettings
from textregion_ros.objects.tracking import PARAMETER_FIELDS as TRACKING_FIELDS
from textregion_ros.spatial import DepthSettings
from textregion_ros.spatial.locate import PARAMETER_FIELDS as DEPTH_FIELDS

MEMORY_FIELDS = {"memory_s": "memory_s", "memory_size": "memory_size"}


def _memory(**fields: Any) -> ObjectMemory:
    return ObjectMemory(**fields)


# (parameter, settings field, build(**fields) -> the settings object)
MAPPED: list[tuple[str, str, Callable[..., Any]]] = (
    [(parameter, field, TrackingSettings) for parameter, field in TRACKING_FIELDS.items()]
    + [(parameter, field, DepthSettings) for parameter, field in DEPTH_FIELDS.items()]
    + [(parameter, field, _memory) for parameter, field in MEMORY_FIELDS.items()]
)
IDS = [parameter for parameter, _, _ in MAPPED]
# boundaries a rule between two fields refuses whatever the other field is: min < max depth
UNREACHABLE = {("min_depth_m", "maximum"), ("max_depth_m", "minimum")}


def _just_outside(parameter: params.Parameter, side: str) -> float:
    bound = getattr(parameter, side)
    if parameter.kind == params.INTEGER:
        return bound - 1 if side == "minimum" else bound + 1
    return math.nextafter(bound, -math.inf if side == "minimum" else math.inf)


def test_every_tracking_depth_and_memory_parameter_of_the_table_has_a_settings_field():
    # the tracks' and the RAM memory's group (the store's rows configure the writer, not these settings)
    table = {p.name for p in params.PARAMETERS if p.group == params.BY_NAME["memory_s"].group}
    table |= {"min_depth_m", "max_depth_m", "depth_outlier_k", "min_depth_points"}
    assert set(IDS) == table
    assert all(params.BY_NAME[name].kind in (params.INTEGER, params.DOUBLE) for name in IDS)


@pytest.mark.parametrize("side", ["minimum", "maximum"])
@pytest.mark.parametrize("parameter_name, field, build", MAPPED, ids=IDS)
def test_the_tables_range_boundary_is_accepted(parameter_name: str, field: str, build: Callable[..., Any],
                                               side: str):
    if (parameter_name, side) in UNREACHABLE:
        pytest.skip("min_depth_m < max_depth_m refuses it whatever the other one is")
    bound = getattr(params.BY_NAME[parameter_name], side)
    assert bound is not None
    assert getattr(build(**{field: bound}), field) == bound


@pytest.mark.parametrize("side", ["minimum", "maximum"])
@pytest.mark.parametrize("parameter_name, field, build", MAPPED, ids=IDS)
def test_just_outside_the_tables_range_is_refused_naming_the_field(parameter_name: str, field: str,
                                                                   build: Callable[..., Any], side: str):
    value = _just_outside(params.BY_NAME[parameter_name], side)
    with pytest.raises(ValueError, match=field):
        build(**{field: value})


def test_settings_from_the_tables_defaults_are_the_default_settings():
    defaults = {p.name: p.default for p in params.PARAMETERS}
    assert TrackingSettings.from_parameters(defaults) == TrackingSettings()
    assert DepthSettings.from_parameters(defaults) == DepthSettings()


@pytest.mark.parametrize("parameter_name, field, build", MAPPED[:len(TRACKING_FIELDS) + len(DEPTH_FIELDS)],
                         ids=IDS[:len(TRACKING_FIELDS) + len(DEPTH_FIELDS)])
def test_from_parameters_reads_each_parameter_into_its_field(parameter_name: str, field: str,
                                                            build: Callable[..., Any]):
    row = params.BY_NAME[parameter_name]
    values = {p.name: p.default for p in params.PARAMETERS}
    if row.kind == params.INTEGER:
        values[parameter_name] = row.default + 1 if row.default < row.maximum else row.default - 1
    else:  # a little above the default: within the range and the rules between fields
        values[parameter_name] = row.default + (row.maximum - row.default) / 1000.0
    assert getattr(build.from_parameters(values), field) == values[parameter_name]
