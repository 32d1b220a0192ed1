"""What the parameter table (textregion_ros.params) produces, checked against values written by hand.

EngineConfig, the ROS descriptors, the CLI flags, config/textregion.yaml and docs/parameters.md's
table all derive from the table. Comparing them with the table itself would pass with a wrong row
or with a generator that repeats the table's mistake, so these tests hold the expected names,
types, defaults, ranges and times of effect of a representative set of parameters as literals: a
wrong table entry or a broken generator fails here.
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from rcl_interfaces.msg import ParameterType

from textregion_ros import cli, params, params_docs
from textregion_ros.engine import ConfigError, EngineConfig
from textregion_ros.ros.parameters import descriptor

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parent
PARAMS_FILE = PACKAGE / "config" / "textregion.yaml"


@dataclass(frozen=True)
class Expected:
    """One parameter as the artefacts must show it, written by hand."""

    name: str
    ros_type: int
    default: Any
    allowed: str  # the constraint words of the docs table and the descriptor ("any" there when "")
    applies: str  # start | configure | activate | run time
    engine: bool  # an EngineConfig field
    integer_range: Optional[tuple[int, int, int]] = None  # from, to, step
    double_range: Optional[tuple[float, float]] = None


EXPECTED = (
    Expected("backbone", ParameterType.PARAMETER_STRING, "clip", "clip | siglip2 | pe", "configure", True),
    Expected("sam2_image_size", ParameterType.PARAMETER_INTEGER, 1024, "from 64 to 4096 in steps of 32", "configure",
             True, integer_range=(64, 4096, 32)),
    Expected("crop_size", ParameterType.PARAMETER_INTEGER, 0, "from 0 to 2048; 0 or at least 32", "configure", True,
             integer_range=(0, 2048, 1)),
    Expected("clip_pool_mlp", ParameterType.PARAMETER_BOOL, False, "", "configure", True),
    Expected("points_per_side", ParameterType.PARAMETER_INTEGER, 16, "from 1 to 128", "run time", True,
             integer_range=(1, 128, 1)),
    Expected("scale", ParameterType.PARAMETER_INTEGER_ARRAY, [2016, 672],
             "each from 16 to 16384; [long, short] with long >= short", "run time", True),
    Expected("logit_scale", ParameterType.PARAMETER_DOUBLE, 50.0, "from 0.001 to 1000", "run time", True,
             double_range=(0.001, 1000.0)),
    Expected("prob_threshold", ParameterType.PARAMETER_DOUBLE, 0.0, "from 0 to 1", "run time", True,
             double_range=(0.0, 1.0)),
    Expected("grounding_mode", ParameterType.PARAMETER_STRING, "all", "all | best", "run time", True),
    Expected("background_queries", ParameterType.PARAMETER_STRING, "object; things; stuff; texture",
             "'' or ';'-separated phrases, none empty", "run time", True),
    Expected("queries", ParameterType.PARAMETER_STRING_ARRAY, [""], "", "run time", False),
    Expected("max_rate_hz", ParameterType.PARAMETER_DOUBLE, 0.0, "from 0 to 1000", "run time", False,
             double_range=(0.0, 1000.0)),
    Expected("image_reliability", ParameterType.PARAMETER_STRING, "best_effort", "best_effort | reliable", "activate",
             False),
    Expected("autostart", ParameterType.PARAMETER_BOOL, True, "", "start", False),
    Expected("target_frame", ParameterType.PARAMETER_STRING, "", "", "configure", False),
    Expected("min_depth_points", ParameterType.PARAMETER_INTEGER, 20, "from 1 to 1000000", "run time", False,
             integer_range=(1, 1000000, 1)),
    Expected("track_mask_grid", ParameterType.PARAMETER_INTEGER, 128, "from 0 to 4096", "run time", False,
             integer_range=(0, 4096, 1)),
    Expected("memory_s", ParameterType.PARAMETER_DOUBLE, 600.0, "from 0 to 10000000", "run time", False,
             double_range=(0.0, 1.0e7)),
    Expected("region_prompts", ParameterType.PARAMETER_STRING, "grid", "grid | tracks", "run time", True),
    Expected("max_prompts", ParameterType.PARAMETER_INTEGER, 64, "from 1 to 65536", "run time", True,
             integer_range=(1, 65536, 1)),
    Expected("keyframe_interval_s", ParameterType.PARAMETER_DOUBLE, 1.0, "from 0 to 3600", "run time", False,
             double_range=(0.0, 3600.0)),
    Expected("keyframe_min_coverage", ParameterType.PARAMETER_DOUBLE, 0.5, "from 0 to 1", "run time", False,
             double_range=(0.0, 1.0)),
)
IDS = [e.name for e in EXPECTED]

# Every EngineConfig field, in the table's order (node-only rows such as queries are not fields).
ENGINE_FIELDS = [
    "backbone", "model", "weights", "sam2_model", "sam2_weights", "sam2_image_size", "device", "compile",
    "crop_size", "clip_pool_mlp", "tokenizer", "cache_dir", "precision",
    "points_per_side", "points_per_batch", "pred_iou_thresh", "stability_score_thresh", "box_nms_thresh",
    "min_mask_area", "fuse_masks", "fuse_mask_threshold",
    "resize_mode", "scale", "remove_global_patches", "global_patch_threshold",
    "logit_scale", "prob_threshold", "grounding_mode", "background_queries",
    "region_prompts", "max_prompts",
]
# The engine fields whose change needs new models (the configure-time ones).
RELOAD = {"backbone", "model", "weights", "sam2_model", "sam2_weights", "sam2_image_size", "device", "compile",
          "crop_size", "clip_pool_mlp", "tokenizer", "cache_dir", "precision"}
CLI_FLAGS = {"--backbone", "--model", "--weights", "--sam2-model", "--sam2-weights", "--device", "--cache-dir",
             "--points-per-side"}


def _params_file_values() -> dict[str, Any]:
    return yaml.safe_load(PARAMS_FILE.read_text())["/**"]["ros__parameters"]


# -- config/textregion.yaml ------------------------------------------------------------------------
def test_the_params_file_is_the_one_generated_from_the_table():
    assert PARAMS_FILE.read_text() == params_docs.params_file(), (
        "config/textregion.yaml is stale: run scripts/update_parameter_docs.py")


@pytest.mark.parametrize("expected", EXPECTED, ids=IDS)
def test_the_params_file_holds_the_default_with_its_type(expected: Expected):
    value = _params_file_values()[expected.name]
    assert value == expected.default and type(value) is type(expected.default)  # 50.0 stays a double


@pytest.mark.parametrize("expected", EXPECTED, ids=IDS)
def test_the_params_file_comment_says_the_allowed_values_and_when_a_change_applies(expected: Expected):
    lines = PARAMS_FILE.read_text().splitlines()
    comment = lines[lines.index(f"    {expected.name}: {_yaml_scalar(expected.default)}") - 1]
    assert comment.startswith("    # ")
    assert (f"Allowed: {expected.allowed}." in comment) == bool(expected.allowed)
    tag = {"run time": ""}.get(expected.applies, f"({expected.applies})")
    assert comment.endswith(tag) and ("(" + expected.applies + ")" in comment) == bool(tag)


def _yaml_scalar(value: Any) -> str:
    """How the params file writes these literals."""
    written = {True: "true", False: "false", "": '""'}
    if isinstance(value, bool) or value == "":
        return written[value]
    if isinstance(value, list):
        return "[" + ", ".join('""' if v == "" else str(v) for v in value) + "]"
    return str(value)


def test_the_params_file_lists_every_row_once_in_the_table_order():
    assert list(_params_file_values()) == [p.name for p in params.PARAMETERS]
    assert set(IDS) <= set(_params_file_values())


# -- docs/parameters.md ----------------------------------------------------------------------------
DOCS_PAGE = REPO / "docs" / "parameters.md"


def test_the_docs_parameter_table_is_the_one_generated_from_the_table():
    page = DOCS_PAGE.read_text()
    assert params_docs.docs_table() in page, "stale: run scripts/update_parameter_docs.py"


def test_the_update_scripts_check_mode_passes_on_the_committed_docs_page():
    script = REPO / "scripts" / "update_parameter_docs.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("expected", EXPECTED, ids=IDS)
def test_the_docs_row_shows_the_default_the_allowed_values_and_when_it_applies(expected: Expected):
    allowed = (expected.allowed or "any").replace("|", "\\|")
    default = _yaml_scalar(expected.default)
    row = f"| `{expected.name}` | `{default}` | {allowed} | {expected.applies} | "
    assert any(line.startswith(row) for line in DOCS_PAGE.read_text().splitlines()), row


# -- EngineConfig -----------------------------------------------------------------------------------
def test_engine_config_has_a_field_for_each_engine_parameter_and_none_for_the_node_ones():
    assert [f.name for f in dataclasses.fields(EngineConfig)] == ENGINE_FIELDS


@pytest.mark.parametrize("expected", [e for e in EXPECTED if e.engine], ids=[e.name for e in EXPECTED if e.engine])
def test_engine_config_defaults_are_the_parameters_defaults(expected: Expected):
    value = getattr(EngineConfig(), expected.name)
    default = tuple(expected.default) if isinstance(expected.default, list) else expected.default
    assert value == default and type(value) is type(default)


@pytest.mark.parametrize(("name", "good", "bad"), [
    ("sam2_image_size", 64, 32),
    ("sam2_image_size", 4096, 4128),
    ("sam2_image_size", 1024, 1000),  # off the 32 step
    ("logit_scale", 0.001, 0.0),
    ("logit_scale", 1000.0, 1000.5),
    ("crop_size", 32, 16),
    ("crop_size", 0, -1),
    ("points_per_side", 128, 129),
    ("prob_threshold", 1.0, 1.01),
    ("device", "cuda:1", "gpu"),
    ("scale", (1024, 512), (512, 1024)),
    ("scale", (16, 16), (16, 15)),
    ("grounding_mode", "best", "first"),
    ("backbone", "pe", "resnet"),
    ("background_queries", "", "wall;;floor"),
])
def test_the_engine_accepts_the_boundary_and_refuses_just_beyond_it(name: str, good: Any, bad: Any):
    assert getattr(EngineConfig(**{name: good}), name) == good
    with pytest.raises(ConfigError, match=name):
        EngineConfig(**{name: bad})


def test_reload_fields_are_the_configure_time_engine_fields():
    assert params.RELOAD_FIELDS == RELOAD


# -- ROS descriptors --------------------------------------------------------------------------------
@pytest.mark.parametrize("expected", EXPECTED, ids=IDS)
def test_ros_descriptor_has_the_type_range_constraints_and_time_of_effect(expected: Expected):
    got = descriptor(params.BY_NAME[expected.name])
    assert got.name == expected.name and got.type == expected.ros_type
    assert got.additional_constraints == expected.allowed
    integer = [(r.from_value, r.to_value, r.step) for r in got.integer_range]
    double = [(r.from_value, r.to_value) for r in got.floating_point_range]
    assert integer == ([expected.integer_range] if expected.integer_range else [])
    assert double == ([expected.double_range] if expected.double_range else [])
    suffix = {"start": " Read once when the node starts.", "run time": ""}.get(
        expected.applies, f" A change applies at the next {expected.applies} transition.")
    assert got.description.endswith(suffix) and ("transition" in got.description) == (
        expected.applies in ("configure", "activate"))


def test_every_parameter_has_a_ros_type_a_group_and_an_allowed_default():
    for parameter in params.PARAMETERS:
        assert descriptor(parameter).type != ParameterType.PARAMETER_NOT_SET, parameter.name
        assert parameter.group and parameter.applies in ("start", "configure", "activate", "run time"), parameter.name
        assert params.value_problem(parameter, parameter.default) is None, parameter.name


# -- CLI --------------------------------------------------------------------------------------------
def test_cli_segment_has_a_flag_for_exactly_the_marked_parameters():
    segment = cli.build_parser()._subparsers._group_actions[0].choices["segment"]
    flags = {action.option_strings[0] for action in segment._actions
             if action.option_strings and action.dest in params.BY_NAME and action.dest != "queries"}
    assert flags == CLI_FLAGS  # --queries has its own syntax
    assert "--points-per-side" in segment.format_help() and "from 1 to 128" in segment.format_help()
