"""The small random-weights engine config that the tests and the benchmarks share.

Real architectures (PE-Core-T, SAM2.1-tiny) built through the same loading code a user's checkpoint
takes, with random weights: no download, seconds on a CPU. Random weights give degenerate SAM2
scores (predicted IoU about 0.55, stability about 0) and near-identical tokens, so the mask filters
are off; a caller that exercises a filter sets it explicitly. The sizes are the cpu_smoke preset's
(config/presets/cpu_smoke.yaml), read from that file so they live in one place.
"""
from __future__ import annotations

from typing import Any

from ..engine import EngineConfig
from ..params import BY_NAME
from .params_files import preset_file, read_params_file

# The smallest model of each backbone kind that open_clip builds without a download.
MODELS = {"clip": "ViT-B-16", "siglip2": "ViT-B-16-SigLIP2-256", "pe": "PE-Core-T-16-384"}

# Random weights with the filters that random scores defeat switched off: layered over any config
# (the main params file, a preset) it leaves the sizes as they are.
RANDOM_WEIGHTS: dict[str, Any] = {
    "weights": "random", "sam2_weights": "random", "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0,
    "min_mask_area": 0, "remove_global_patches": False,
}


def small_engine_values() -> dict[str, Any]:
    """The cpu_smoke preset's engine parameters without its model choice (the caller picks the backbone)."""
    return {name: value for name, value in read_params_file(preset_file("cpu_smoke")).items()
            if name not in ("backbone", "model") and BY_NAME[name].engine}


def random_config(backbone: str = "pe", **overrides: Any) -> EngineConfig:
    """The engine's defaults (sizes, grid) with `backbone`'s small model and random weights, filters off."""
    return EngineConfig(**{"backbone": backbone, "model": MODELS[backbone], **RANDOM_WEIGHTS, **overrides})


def small_config(backbone: str = "pe", **overrides: Any) -> EngineConfig:
    """The cpu_smoke sizes with `backbone`'s small model and random weights: the tests' and the quick
    benchmarks' engine."""
    return random_config(backbone, **{**small_engine_values(), **overrides})
