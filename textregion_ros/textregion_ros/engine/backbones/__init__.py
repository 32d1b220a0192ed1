"""Image-text backbones (CLIP, SigLIP2, Perception Encoder) behind one Backbone interface."""
from __future__ import annotations

import torch

from ..config import EngineConfig
from .attention_pool import AttentionPoolBackbone, PerceptionEncoderBackbone, Siglip2Backbone
from .base import Backbone
from .clip import ClipBackbone
from .loading import Tokenizer, load_open_clip, load_tokenizer, open_clip_checkpoint

__all__ = [
    "AttentionPoolBackbone", "Backbone", "ClipBackbone", "PerceptionEncoderBackbone", "Siglip2Backbone",
    "build_backbone", "load_open_clip", "load_tokenizer", "open_clip_checkpoint",
]


def build_backbone(config: EngineConfig, model: torch.nn.Module, tokenizer: Tokenizer,
                   dtype: torch.dtype = torch.float32) -> Backbone:
    """Wrap a loaded open_clip model for the configured backbone kind; `dtype` = its forwards' autocast."""
    if config.backbone == "clip":
        return ClipBackbone(model, tokenizer, config.crop_size, pool_mlp=config.clip_pool_mlp, dtype=dtype)
    if config.backbone == "siglip2":
        return Siglip2Backbone(model, tokenizer, config.crop_size, dtype=dtype)
    return PerceptionEncoderBackbone(model, tokenizer, config.crop_size, dtype=dtype)
