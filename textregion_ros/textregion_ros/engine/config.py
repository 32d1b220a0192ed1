"""EngineConfig: every tunable of the method, one field per engine row of the parameter table (params.py).

The fields are written out (an IDE and mypy see them); their types, ranges and defaults are the
table's: settings_rows.TableSettings checks each value by its row, and a test
(test_settings_rows.py, table_mismatches) fails when a field's type or default differs from its
row, so the node's parameters, the params file, the CLI and the engine cannot disagree.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from .. import params
from ..settings_rows import TableSettings
from .errors import ConfigError


@dataclass
class EngineConfig(TableSettings):
    """The engine's settings: one field per engine row of textregion_ros.params (same name, default
    and range; the descriptions are there). Invalid values raise ConfigError listing every problem."""

    # models (a change rebuilds them: RELOAD_FIELDS)
    backbone: str = "clip"
    model: str = "ViT-B-16"
    weights: str = "openai"
    sam2_model: str = "sam2.1_hiera_t"
    sam2_weights: str = "facebook/sam2.1-hiera-tiny"
    sam2_image_size: int = 1024
    device: str = "auto"
    compile: str = "auto"
    crop_size: int = 0
    clip_pool_mlp: bool = False
    tokenizer: str = ""
    cache_dir: str = ""
    precision: str = "auto"
    # masks
    points_per_side: int = 16
    points_per_batch: int = 2048
    pred_iou_thresh: float = 0.6
    stability_score_thresh: float = 0.6
    box_nms_thresh: float = 0.9
    min_mask_area: int = 100
    fuse_masks: bool = True
    fuse_mask_threshold: float = 0.8
    # region tokens
    resize_mode: str = "multi_resolution"
    scale: tuple[int, ...] = (2016, 672)
    remove_global_patches: bool = True
    global_patch_threshold: float = 0.07
    # segmentation and grounding
    logit_scale: float = 50.0
    prob_threshold: float = 0.0
    grounding_mode: str = "all"
    background_queries: str = "object; things; stuff; texture"
    # region prompts
    region_prompts: str = "grid"
    max_prompts: int = 64

    ROWS = {p.name: p.name for p in params.ENGINE_PARAMETERS}
    ERROR = ConfigError
    ERROR_PREFIX = "invalid engine config: "

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "EngineConfig":
        """Build from a dict (e.g. a ROS params file), ignoring keys that are not fields."""
        return cls.from_parameters(values)

    @property
    def model_id(self) -> str:
        """What the region tokens are comparable with: backbone, model and weights."""
        return f"{self.backbone}:{self.model}:{self.weights}"


RELOAD_FIELDS = params.RELOAD_FIELDS


def field_names() -> list[str]:
    """The config's field names in declaration order (the CLI and the node's parameter routing walk them)."""
    return [f.name for f in dataclasses.fields(EngineConfig)]


def config_problems(config: EngineConfig) -> list[str]:
    """Every reason `config` is unusable (empty list when it is fine), in the table's words."""
    return config.problems()
