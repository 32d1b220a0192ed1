"""EngineConfig: every tunable of the method, with DESIGN.md's names and defaults.

The ROS node declares one parameter per field with the same name and default, so the config
file, the node and the offline CLI read the same way.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import ConfigError

BACKBONES = ("clip", "siglip2", "pe")
RESIZE_MODES = ("multi_resolution", "resize")
GROUNDING_MODES = ("all", "best")
SAM2_MODELS = (
    "sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l",
    "sam2_hiera_t", "sam2_hiera_s", "sam2_hiera_b+", "sam2_hiera_l",
)
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass
class EngineConfig:
    """Defaults follow DESIGN.md (sections 1 and 2); see README for the meaning of each field."""

    backbone: str = "clip"
    model: str = "ViT-B-16"
    weights: str = "openai"
    sam2_model: str = "sam2.1_hiera_t"
    sam2_weights: str = "facebook/sam2.1-hiera-tiny"
    sam2_image_size: int = 1024
    device: str = "auto"
    points_per_side: int = 16
    points_per_batch: int = 2048
    pred_iou_thresh: float = 0.6
    stability_score_thresh: float = 0.6
    box_nms_thresh: float = 0.9
    min_mask_area: int = 100
    fuse_masks: bool = True
    fuse_mask_threshold: float = 0.8
    resize_mode: str = "multi_resolution"
    scale: tuple[int, int] = (2016, 672)
    crop_size: int = 0
    remove_global_patches: bool = True
    global_patch_threshold: float = 0.07
    clip_pool_mlp: bool = False
    logit_scale: float = 50.0
    prob_threshold: float = 0.0
    grounding_mode: str = "all"
    # Local directory with tokenizer.json + tokenizer_config.json (SigLIP2 offline); "" = by name.
    tokenizer: str = ""
    # Where downloaded weights are cached; "" = the Hugging Face cache (HF_HOME).
    cache_dir: str = ""
    # bf16 autocast for the model forwards on CUDA (ignored on CPU).
    amp: bool = True

    def __post_init__(self) -> None:
        self.scale = tuple(int(v) for v in self.scale)  # type: ignore[assignment]
        problems = config_problems(self)
        if problems:
            raise ConfigError("invalid engine config: " + "; ".join(problems))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "EngineConfig":
        """Build from a dict (e.g. a ROS params file), ignoring keys that are not fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    @property
    def model_id(self) -> str:
        """What the region tokens are comparable with: backbone, model and weights."""
        return f"{self.backbone}:{self.model}:{self.weights}"


# Fields that decide which models are built and how: changing one needs a new engine.
# Every other field is read per call and can change between frames (TextRegionEngine.apply_config).
RELOAD_FIELDS = frozenset({
    "backbone", "model", "weights", "sam2_model", "sam2_weights", "sam2_image_size", "device",
    "crop_size", "clip_pool_mlp", "tokenizer", "cache_dir", "amp",
})


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(EngineConfig)]


def config_problems(config: EngineConfig) -> list[str]:
    """Every reason `config` is unusable (empty list when it is fine)."""
    problems: list[str] = []

    def check(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    check(config.backbone in BACKBONES, f"backbone must be one of {BACKBONES}, got {config.backbone!r}")
    check(bool(str(config.model).strip()), "model must name an open_clip model")
    check(bool(str(config.weights).strip()), "weights must be a pretrained tag, a file or 'random'")
    check(config.sam2_model in SAM2_MODELS, f"sam2_model must be one of {SAM2_MODELS}, got {config.sam2_model!r}")
    check(bool(str(config.sam2_weights).strip()), "sam2_weights must be a file, a hub id or 'random'")
    check(
        isinstance(config.sam2_image_size, int) and config.sam2_image_size >= 64 and config.sam2_image_size % 32 == 0,
        f"sam2_image_size must be a multiple of 32 and >= 64, got {config.sam2_image_size!r}",
    )
    check(bool(_DEVICE_PATTERN.match(str(config.device))), f"device must be auto, cpu, cuda or cuda:N, got {config.device!r}")
    check(1 <= config.points_per_side <= 128, f"points_per_side must be in 1..128, got {config.points_per_side}")
    check(1 <= config.points_per_batch <= 65536, f"points_per_batch must be in 1..65536, got {config.points_per_batch}")
    for name in ("pred_iou_thresh", "stability_score_thresh", "box_nms_thresh", "fuse_mask_threshold", "prob_threshold"):
        value = getattr(config, name)
        check(0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value}")
    check(config.min_mask_area >= 0, f"min_mask_area must be >= 0, got {config.min_mask_area}")
    check(config.resize_mode in RESIZE_MODES, f"resize_mode must be one of {RESIZE_MODES}, got {config.resize_mode!r}")
    check(
        len(config.scale) == 2 and all(v >= 16 for v in config.scale) and config.scale[0] >= config.scale[1],
        f"scale must be [long_side, short_side] with long >= short >= 16, got {list(config.scale)}",
    )
    check(config.crop_size == 0 or 32 <= config.crop_size <= 2048, f"crop_size must be 0 or in 32..2048, got {config.crop_size}")
    check(-1.0 <= config.global_patch_threshold <= 1.0, f"global_patch_threshold must be in [-1, 1], got {config.global_patch_threshold}")
    check(0.0 < config.logit_scale <= 1000.0, f"logit_scale must be in (0, 1000], got {config.logit_scale}")
    check(config.grounding_mode in GROUNDING_MODES, f"grounding_mode must be one of {GROUNDING_MODES}, got {config.grounding_mode!r}")
    return problems
