"""Every settings class is a written-out dataclass whose row-backed fields are the table's rows.

settings_rows.TableSettings checks each field by its row, stores it as the row's type and applies the
rules between parameters; table_mismatches() finds a field whose type or default drifted from its row.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from textregion_ros import params
from textregion_ros.engine import ConfigError, EngineConfig
from textregion_ros.objects import MemorySettings, TrackingSettings
from textregion_ros.objects.persistent_memory import PersistenceSettings
from textregion_ros.perception.pipeline import PipelineSettings
from textregion_ros.perception.prompt_policy import KeyframeSettings
from textregion_ros.settings_rows import RULES, TableSettings, rules_problem, table_mismatches
from textregion_ros.spatial import DepthSettings

SETTINGS = [cls for cls in TableSettings.SUBCLASSES if cls.__module__.startswith("textregion_ros.")]
DEFAULTS = {p.name: p.default for p in params.PARAMETERS}


def test_every_settings_class_of_the_package_is_a_table_settings():
    assert set(SETTINGS) == {EngineConfig, TrackingSettings, DepthSettings, MemorySettings, KeyframeSettings,
                             PipelineSettings, PersistenceSettings}


@pytest.mark.parametrize("cls", SETTINGS, ids=[cls.__name__ for cls in SETTINGS])
def test_each_row_backed_field_has_its_rows_type_and_default(cls):
    assert table_mismatches(cls) == []


def test_a_default_that_drifted_from_its_row_is_found():
    @dataclasses.dataclass(frozen=True)
    class Drifted(TableSettings):
        max_age_s: float = 4.0
        mask_grid: float = 128.0

        ROWS = {"max_age_s": "track_max_age_s", "mask_grid": "track_mask_grid", "gone": "track_gone"}

    mismatches = table_mismatches(Drifted)
    assert any("max_age_s defaults to 4.0" in m and "track_max_age_s" in m for m in mismatches)
    assert any("mask_grid is typed" in m for m in mismatches)
    assert any("no parameter 'track_gone'" in m for m in mismatches)


def test_the_engine_config_has_a_field_per_engine_row_and_only_those():
    assert [f.name for f in dataclasses.fields(EngineConfig)] == [p.name for p in params.ENGINE_PARAMETERS]


def test_fields_are_stored_as_their_rows_types():
    assert type(TrackingSettings(mask_grid=np.int64(64)).mask_grid) is int
    assert type(DepthSettings(max_depth_m=5).max_depth_m) is float
    assert EngineConfig(scale=[1024, 512]).scale == (1024, 512)


def test_a_value_outside_its_row_is_refused_naming_the_field_in_every_class():
    with pytest.raises(ValueError, match="interval_s must be from 0 to 3600"):
        KeyframeSettings(interval_s=-1.0)
    with pytest.raises(ValueError, match="tf_timeout_s"):
        PipelineSettings(tf_timeout_s=11.0)
    with pytest.raises(ConfigError, match="invalid engine config: points_per_side must be from 1 to 128"):
        EngineConfig(points_per_side=0)


def test_from_parameters_names_the_parameter_not_the_field():
    with pytest.raises(ValueError, match="track_max_age_s must be from 0 to 3600"):
        TrackingSettings.from_parameters({**DEFAULTS, "track_max_age_s": -1.0})


def test_from_parameters_ignores_other_keys_and_keeps_defaults_for_missing_ones():
    assert TrackingSettings.from_parameters({"track_mask_grid": 64, "queries": ["a"]}) == TrackingSettings(mask_grid=64)


def test_an_inf_outlier_k_turns_rejection_off_beyond_its_row():
    assert DepthSettings(outlier_k=math.inf).outlier_k == math.inf
    with pytest.raises(ValueError, match="outlier_k"):
        DepthSettings(outlier_k=-math.inf)


# -- rules between parameters, written once -----------------------------------------------------------
@pytest.mark.parametrize("rule", RULES, ids=[" ".join(rule.parameters) for rule in RULES])
def test_each_rule_holds_for_the_tables_defaults(rule):
    assert rule.problem([DEFAULTS[name] for name in rule.parameters], rule.parameters) is None


def test_the_depth_rule_refuses_a_node_change_naming_the_parameters():
    reason = rules_problem({"min_depth_m": 20.0}, DEFAULTS.__getitem__)
    assert reason == "depth: need min_depth_m < max_depth_m, got 20.0 and 10.0"


def test_the_depth_rule_refuses_the_settings_naming_the_fields():
    with pytest.raises(ValueError, match=r"need min_depth_m < max_depth_m, got 5\.0 and 1\.0"):
        DepthSettings(min_depth_m=5.0, max_depth_m=1.0)
    with pytest.raises(ValueError, match=r"need min_depth_m < max_depth_m"):
        PipelineSettings.from_parameters({**DEFAULTS, "min_depth_m": 10.0})


def test_the_tracking_weight_rule_names_fields_or_parameters_by_who_asks():
    with pytest.raises(ValueError, match="weight_mask_iou and weight_token must not both be 0"):
        TrackingSettings(weight_mask_iou=0.0, weight_token=0.0)
    reason = rules_problem({"track_weight_token": 0.0}, {**DEFAULTS, "track_weight_mask_iou": 0.0}.__getitem__)
    assert reason is not None and reason.startswith("tracking: track_weight_mask_iou and track_weight_token")


def test_a_change_that_touches_no_rule_is_not_checked_against_the_rules():
    broken = {**DEFAULTS, "min_depth_m": 20.0}  # in force: a rule change alone would be refused
    assert rules_problem({"memory_s": 5.0}, broken.__getitem__) is None
