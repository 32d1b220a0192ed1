"""SigLIP2 and Perception Encoder: region tokens from the attention-pool head's value path.

In open_clip 3.x both are timm trunks (ViT / Eva) ending in AttentionPoolLatent. With the probe
attention replaced by a uniform mean over the region's tokens (binary mask), the pool's output
for a region is proj(mean_i(W_v x_i + b_v)) = proj(W_v mean_i(x_i) + b_v): one normalised-mask
matrix product, then the value projection, out-projection and the heads after the pool
(trunk.head is PE's projection, identity for SigLIP2). The pool's MLP is skipped (DESIGN 1.5).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torchvision.transforms import InterpolationMode

from ..precision import autocast
from ..errors import ConfigError
from .base import Backbone
from .loading import Tokenizer


class AttentionPoolBackbone(Backbone):
    """Backbones whose image embedding comes from an attention-pool head (SigLIP2, PE): region tokens go
    through that head's value path, so they land in the space the text is embedded in."""
    global_weight = 0.5
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)
    visual: Any  # open_clip's image tower and its timm trunk: untyped
    trunk: Any

    def __init__(self, model: torch.nn.Module, tokenizer: Tokenizer, crop_size: int = 0,
                 dtype: torch.dtype = torch.float32) -> None:
        trunk: Any = getattr(getattr(model, "visual", None), "trunk", None)
        pool = getattr(trunk, "attn_pool", None)
        if pool is None or not hasattr(pool, "kv"):
            raise ConfigError(
                f"backbone={self.kind} needs an open_clip timm model with an attention-pool head "
                f"(SigLIP2 / PE), got {type(getattr(model, 'visual', None)).__name__}; use backbone=clip for CLIP ViTs"
            )
        if getattr(pool, "pos_embed", None) is not None:
            raise ConfigError(f"backbone={self.kind}: attention pools with their own position embedding "
                              "are not supported")
        self.visual, self.trunk, self.attn_pool = model.visual, trunk, pool
        native = int(trunk.patch_embed.img_size[0])
        super().__init__(model, tokenizer, crop_size or native, dtype)
        if self.crop_size != native:
            if not hasattr(trunk, "set_input_size"):
                raise ConfigError(f"{type(trunk).__name__} cannot run at crop_size {self.crop_size} (native {native})")
            trunk.set_input_size(img_size=(self.crop_size, self.crop_size))
        width = pool.kv.weight.shape[1]
        self._w_v = pool.kv.weight[width:]
        self._b_v = None if pool.kv.bias is None else pool.kv.bias[width:]
        self._prefix = int(getattr(trunk, "num_prefix_tokens", 0))

    @property
    def patch_size(self) -> int:
        return int(self.trunk.patch_embed.patch_size[0])

    @property
    def embed_dim(self) -> int:
        probe = torch.zeros(1, self._w_v.shape[0], device=self.device)
        return int(self._head(probe).shape[-1])

    def _head(self, pooled: torch.Tensor) -> torch.Tensor:
        """Everything after the attention pool's out-projection, minus the pool's MLP."""
        trunk = self.trunk
        return self.visual.head(trunk.head(trunk.head_drop(trunk.fc_norm(pooled))))

    @torch.no_grad()
    def encode_views(self, views: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            tokens = self.trunk.forward_features(views)
        patches = tokens[:, self._prefix:].float()
        grid = int(math.isqrt(patches.shape[1]))
        return patches.reshape(views.shape[0], grid, grid, -1)

    @torch.no_grad()
    def pool(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        inside = (weights > 0).to(features.dtype)
        counts = inside.sum(dim=1, keepdim=True).clamp_min(1.0)
        mean_tokens = (inside / counts) @ features  # [R,C]: mean over in-mask tokens
        values = F.linear(mean_tokens, self._w_v, self._b_v)
        pooled = self.attn_pool.proj_drop(self.attn_pool.proj(values))
        return F.normalize(self._head(pooled).float(), dim=-1)


class Siglip2Backbone(AttentionPoolBackbone):
    """SigLIP2 (an open_clip timm trunk); its crops are resized bicubic."""
    kind = "siglip2"
    interpolation = InterpolationMode.BICUBIC

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read once at load: the model is in eval, and float() of a device tensor is a host sync,
        # which every frame (build_regions) and every segmentation would otherwise pay.
        scale = float(self.model.logit_scale.detach().exp())
        bias = float(self.model.logit_bias.detach()) if getattr(self.model, "logit_bias", None) is not None else 0.0
        self._affine = (scale, bias)

    def logit_affine(self) -> tuple[float, float]:
        return self._affine


class PerceptionEncoderBackbone(AttentionPoolBackbone):
    """The Perception Encoder (an open_clip timm trunk); its crops are resized bilinear."""
    kind = "pe"
    interpolation = InterpolationMode.BILINEAR
