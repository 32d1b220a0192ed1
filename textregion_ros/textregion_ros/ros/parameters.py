"""The node's parameters: one per EngineConfig field (same name and default) plus node settings.

Descriptions and ranges live here once; the node declares them, config/textregion.yaml lists
them, and tests keep the three in agreement.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

from ..engine import EngineConfig
from ..engine.config import BACKBONES, GROUNDING_MODES, RESIZE_MODES, SAM2_MODELS

RELIABILITIES = ("best_effort", "reliable")


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    int_range: Optional[tuple[int, int]] = None
    float_range: Optional[tuple[float, float]] = None
    engine: bool = True  # an EngineConfig field
    applies: str = "run time"  # when a change takes effect: "run time", "configure" or "activate"

    def descriptor(self) -> ParameterDescriptor:
        text = self.description
        if self.choices:
            text += f" One of: {', '.join(self.choices)}."
        if self.applies == "start":
            text += " Read once when the node starts."
        elif self.applies != "run time":
            text += f" A change applies at the next {self.applies} transition."
        descriptor = ParameterDescriptor(name=self.name, description=text, type=_parameter_type(self.default))
        if self.int_range:
            descriptor.integer_range = [IntegerRange(from_value=self.int_range[0], to_value=self.int_range[1], step=1)]
        if self.float_range:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=self.float_range[0], to_value=self.float_range[1], step=0.0)
            ]
        return descriptor


def _parameter_type(default: Any) -> int:
    if isinstance(default, bool):
        return ParameterType.PARAMETER_BOOL
    if isinstance(default, int):
        return ParameterType.PARAMETER_INTEGER
    if isinstance(default, float):
        return ParameterType.PARAMETER_DOUBLE
    if isinstance(default, str):
        return ParameterType.PARAMETER_STRING
    if isinstance(default, list) and isinstance(default[0], int):
        return ParameterType.PARAMETER_INTEGER_ARRAY
    return ParameterType.PARAMETER_STRING_ARRAY


_ENGINE_DEFAULTS = EngineConfig.__dataclass_fields__


def _default(name: str) -> Any:
    value = _ENGINE_DEFAULTS[name].default
    return list(value) if isinstance(value, tuple) else value


def _engine(name: str, description: str, **kwargs: Any) -> ParameterSpec:
    from ..engine.config import RELOAD_FIELDS

    return ParameterSpec(name, _default(name), description,
                         applies="configure" if name in RELOAD_FIELDS else "run time", **kwargs)


PARAMETERS: tuple[ParameterSpec, ...] = (
    _engine("backbone", "Image-text model family.", choices=BACKBONES),
    _engine("model", "open_clip model name, e.g. ViT-B-16, ViT-B-16-SigLIP2-256, PE-Core-T-16-384."),
    _engine("weights", "open_clip pretrained tag, a local checkpoint file, or 'random' (tests only)."),
    _engine("sam2_model", "SAM2 config name.", choices=SAM2_MODELS),
    _engine("sam2_weights", "Local SAM2 checkpoint, a Hugging Face hub id, or 'random' (tests only)."),
    _engine("sam2_image_size", "SAM2 input size in pixels (1024; smaller only for CPU tests).", int_range=(64, 4096)),
    _engine("device", "auto, cpu, cuda or cuda:N."),
    _engine("points_per_side", "SAM2 point grid is points_per_side x points_per_side.", int_range=(1, 128)),
    _engine("points_per_batch", "Grid points decoded per SAM2 mask-decoder batch.", int_range=(1, 65536)),
    _engine("pred_iou_thresh", "Drop masks whose predicted IoU is not above this (0 = off).", float_range=(0.0, 1.0)),
    _engine("stability_score_thresh", "Drop masks whose stability score is below this (0 = off).",
            float_range=(0.0, 1.0)),
    _engine("box_nms_thresh", "Box NMS IoU over all mask granularities (0 or 1 = off).", float_range=(0.0, 1.0)),
    _engine("min_mask_area", "Drop masks whose area on the 256x256 low-res grid is at or below this.",
            int_range=(0, 65536)),
    _engine("fuse_masks", "Fuse nested masks into object-level regions."),
    _engine("fuse_mask_threshold", "Containment above which nested masks fuse.", float_range=(0.0, 1.0)),
    _engine("resize_mode", "multi_resolution (global view + tiles) or resize (global view only, fastest).",
            choices=RESIZE_MODES),
    _engine("scale", "[long_side, short_side] bound of the aspect-keeping rescale before tiling."),
    _engine("crop_size", "Encoder input size; 0 = 336 for CLIP, the native size for SigLIP2/PE.",
            int_range=(0, 2048)),
    _engine("remove_global_patches", "Drop image-global tokens from region pooling."),
    _engine("global_patch_threshold", "belong - outside similarity below which a token is global.",
            float_range=(-1.0, 1.0)),
    _engine("clip_pool_mlp", "Add the last CLIP block's MLP to region tokens."),
    _engine("logit_scale", "Softmax temperature of the segmentation.", float_range=(0.001, 1000.0)),
    _engine("prob_threshold", "Pixels whose best class probability is below this are unlabeled.",
            float_range=(0.0, 1.0)),
    _engine("grounding_mode", "all = one detection per matching region; best = one per query.",
            choices=GROUNDING_MODES),
    _engine("tokenizer", "Local directory with tokenizer.json + tokenizer_config.json (SigLIP2 offline); "
            "empty = download by name."),
    _engine("cache_dir", "Weights cache directory; empty = the Hugging Face cache."),
    _engine("amp", "bf16 autocast for the model forwards on CUDA."),
    ParameterSpec("queries", [""], "Text queries, one class each; 'a; b' = synonyms of one class. Blank entries "
                  "are ignored ([''] = no queries: ROS parameter files cannot hold an empty string array).",
                  engine=False),
    ParameterSpec("max_queries", 256, "Most queries accepted at once (text encoding cost grows with them).",
                  int_range=(1, 65535), engine=False),
    ParameterSpec("max_rate_hz", 0.0, "Most frames processed per second; 0 = as fast as frames arrive.",
                  float_range=(0.0, 1000.0), engine=False),
    ParameterSpec("image_reliability", "best_effort", "QoS reliability of the image subscription.",
                  choices=RELIABILITIES, engine=False, applies="activate"),
    ParameterSpec("publish_overlay", True, "Publish ~/overlay (colour overlay for RViz).", engine=False),
    ParameterSpec("publish_region_tokens", True, "Publish ~/region_tokens.", engine=False),
    ParameterSpec("publish_confidence", True, "Publish ~/confidence.", engine=False),
    ParameterSpec("autostart", True, "Configure and activate on start.", engine=False, applies="start"),
)
BY_NAME = {spec.name: spec for spec in PARAMETERS}
ENGINE_FIELDS = tuple(spec.name for spec in PARAMETERS if spec.engine)


def engine_config(values: dict[str, Any]) -> EngineConfig:
    """EngineConfig from parameter values (ConfigError lists every bad value)."""
    fields = {name: values[name] for name in ENGINE_FIELDS}
    fields["scale"] = tuple(fields["scale"])
    return EngineConfig(**fields)


def check_value(spec: ParameterSpec, value: Any) -> Optional[str]:
    """Why `value` is not acceptable for `spec`, or None (choices; ranges are enforced by rcl)."""
    if spec.choices and value not in spec.choices:
        return f"{spec.name} must be one of {', '.join(spec.choices)}, got {value!r}"
    return None


assert set(ENGINE_FIELDS) == {f.name for f in dataclasses.fields(EngineConfig)}, "a field lacks a parameter"
