"""The parameter table (textregion_ros.params) is the single source of every parameter's facts.

EngineConfig, the ROS descriptors, the CLI flags, config/textregion.yaml and the README table all
derive from it; these tests fail when any of them says something else.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from rcl_interfaces.msg import ParameterType

from textregion_ros import cli, params, params_docs
from textregion_ros.engine import ConfigError, EngineConfig
from textregion_ros.ros.parameters import descriptor

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parent


def test_the_params_file_is_the_one_generated_from_the_table():
    assert (PACKAGE / "config" / "textregion.yaml").read_text() == params_docs.params_file(), (
        "config/textregion.yaml is stale: run scripts/update_parameter_docs.py")


def test_the_params_file_holds_every_default_of_the_table():
    values = yaml.safe_load((PACKAGE / "config" / "textregion.yaml").read_text())["/**"]["ros__parameters"]
    assert list(values) == [p.name for p in params.PARAMETERS]
    for parameter in params.PARAMETERS:
        assert values[parameter.name] == parameter.default, parameter.name


def test_the_readme_parameter_table_is_the_one_generated_from_the_table():
    readme = (REPO / "README.md").read_text()
    assert params_docs.readme_table() in readme, "README parameter table is stale: run scripts/update_parameter_docs.py"


def test_readme_rows_show_each_default_and_range():
    table = params_docs.readme_table()
    assert "| `sam2_image_size` | `1024` | from 64 to 4096 in steps of 32 | configure |" in table
    assert "| `logit_scale` | `50.0` | from 0.001 to 1000 | run time |" in table
    assert "| `grounding_mode` | `all` | all \\| best | run time |" in table


def test_engine_config_fields_are_the_engine_rows_with_their_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(EngineConfig)}
    assert list(fields) == [p.name for p in params.ENGINE_PARAMETERS]
    for parameter in params.ENGINE_PARAMETERS:
        expected = tuple(parameter.default) if isinstance(parameter.default, list) else parameter.default
        assert fields[parameter.name] == expected, parameter.name


@pytest.mark.parametrize(("name", "good", "bad"), [
    ("sam2_image_size", 1024, 1000),
    ("sam2_image_size", 64, 32),
    ("logit_scale", 0.001, 0.0),
    ("crop_size", 336, 16),
    ("points_per_side", 128, 129),
    ("device", "cuda:1", "gpu"),
    ("scale", (1024, 512), (512, 1024)),
])
def test_the_engine_accepts_and_rejects_exactly_what_the_table_allows(name, good, bad):
    assert getattr(EngineConfig(**{name: good}), name) == good
    assert params.value_problem(params.BY_NAME[name], bad) is not None
    with pytest.raises(ConfigError, match=name):
        EngineConfig(**{name: bad})


def test_ros_descriptors_carry_the_table_ranges_steps_and_types():
    size = descriptor(params.BY_NAME["sam2_image_size"])
    assert size.type == ParameterType.PARAMETER_INTEGER
    assert (size.integer_range[0].from_value, size.integer_range[0].to_value, size.integer_range[0].step) == (
        64, 4096, 32)
    scale = descriptor(params.BY_NAME["logit_scale"])
    assert (scale.floating_point_range[0].from_value, scale.floating_point_range[0].to_value) == (0.001, 1000.0)
    backbone = descriptor(params.BY_NAME["backbone"])
    assert backbone.additional_constraints == "clip | siglip2 | pe"
    assert "configure transition" in backbone.description
    assert descriptor(params.BY_NAME["queries"]).type == ParameterType.PARAMETER_STRING_ARRAY


def test_every_parameter_has_a_ros_type_a_group_and_a_known_time_of_effect():
    for parameter in params.PARAMETERS:
        assert descriptor(parameter).type != ParameterType.PARAMETER_NOT_SET, parameter.name
        assert parameter.group and parameter.applies in params.APPLIES, parameter.name
        assert params.value_problem(parameter, parameter.default) is None, parameter.name


def test_reload_fields_are_the_engine_rows_applied_at_configure():
    assert params.RELOAD_FIELDS == {p.name for p in params.ENGINE_PARAMETERS if p.applies == params.CONFIGURE}
    assert {"backbone", "device", "sam2_image_size"} <= params.RELOAD_FIELDS
    assert "prob_threshold" not in params.RELOAD_FIELDS


def test_cli_flags_are_the_rows_marked_for_a_flag():
    segment = cli.build_parser()._subparsers._group_actions[0].choices["segment"]
    flags = {action.dest for action in segment._actions if action.option_strings
             and action.option_strings[0].startswith("--") and action.dest in params.BY_NAME}
    assert flags - {"queries"} == {p.name for p in params.PARAMETERS if p.cli_flag}  # --queries: its own syntax
    assert "--points-per-side" in segment.format_help() and "from 1 to 128" in segment.format_help()
