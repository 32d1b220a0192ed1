"""CLIP / OpenCLIP ViT: region tokens from the value path of the last transformer block.

The input x of the last block gives v = W_v ln_1(x) + b_v per patch token (CLS dropped). A
region token is the last block's attention output with the attention replaced by the region's
soft mask: o = out_proj(M v) (weights not normalised, no residual), optionally plus the block's
MLP on ln_2(o), then ln_post, the projection and L2 normalisation (DESIGN.md 1.5).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..precision import autocast
from ..errors import ConfigError
from .base import Backbone
from .loading import Tokenizer

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_DEFAULT_CROP = 336


class ClipBackbone(Backbone):
    """OpenAI CLIP through open_clip: region tokens from the last block's value path, as in TextRegion."""
    kind = "clip"
    global_weight = 1.0
    mean = CLIP_MEAN
    std = CLIP_STD

    def __init__(self, model: torch.nn.Module, tokenizer: Tokenizer, crop_size: int = 0,
                 pool_mlp: bool = False, dtype: torch.dtype = torch.float32) -> None:
        visual = getattr(model, "visual", None)
        if visual is None or not hasattr(visual, "transformer") or not hasattr(visual, "conv1"):
            raise ConfigError(
                f"backbone=clip needs an open_clip VisionTransformer, got {type(visual).__name__}; "
                "use backbone=siglip2 or pe for timm-trunk models"
            )
        self.visual = visual
        self.last_block = visual.transformer.resblocks[-1]
        attention = self.last_block.attn
        if not hasattr(attention, "in_proj_weight") or not hasattr(attention, "out_proj"):
            raise ConfigError(f"backbone=clip: unsupported attention module {type(attention).__name__}")
        super().__init__(model, tokenizer, crop_size or CLIP_DEFAULT_CROP, dtype)
        self.pool_mlp = pool_mlp
        width = attention.in_proj_weight.shape[1]
        self._w_v = attention.in_proj_weight[2 * width:]
        self._b_v = None if attention.in_proj_bias is None else attention.in_proj_bias[2 * width:]
        self._positional = self._positional_embedding_for_grid(self.grid_size)

    @property
    def patch_size(self) -> int:
        return int(self.visual.conv1.kernel_size[0])

    @property
    def embed_dim(self) -> int:
        return int(self.visual.proj.shape[1]) if self.visual.proj is not None else int(self._w_v.shape[0])

    def _positional_embedding_for_grid(self, grid: int) -> torch.Tensor:
        """Patch position embeddings resized bicubically for a grid x grid input; CLS kept."""
        embedding = self.visual.positional_embedding.detach()
        cls, patches = embedding[:1], embedding[1:]
        native = int(round(patches.shape[0] ** 0.5))
        if native == grid:
            return embedding
        factor = (grid + 0.1) / native
        square = patches.reshape(1, native, native, -1).permute(0, 3, 1, 2)
        resized = F.interpolate(square.float(), scale_factor=(factor, factor), mode="bicubic", align_corners=False)
        if resized.shape[-1] != grid:
            raise ConfigError(f"cannot resize {native}x{native} position embeddings to {grid}x{grid}")
        return torch.cat([cls, resized.permute(0, 2, 3, 1).reshape(grid * grid, -1).to(embedding.dtype)])

    @torch.no_grad()
    def encode_views(self, views: torch.Tensor) -> torch.Tensor:
        visual, block = self.visual, self.last_block
        with autocast(self.device, self.dtype):
            x = visual.conv1(views)
            x = x.flatten(2).transpose(1, 2)
            cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
            x = torch.cat([cls, x], dim=1) + self._positional.to(x.dtype)
            x = visual.ln_pre(x)
            batch_first = getattr(visual.transformer, "batch_first", True)
            if not batch_first:
                x = x.transpose(0, 1)
            for earlier in visual.transformer.resblocks[:-1]:
                x = earlier(x)
            if not batch_first:
                x = x.transpose(0, 1)
            values = F.linear(block.ln_1(x), self._w_v, self._b_v)
        grid = self.grid_size
        return values[:, 1:].float().reshape(views.shape[0], grid, grid, -1)

    @torch.no_grad()
    def pool(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        block = self.last_block
        pooled = weights.to(features.dtype) @ features  # [R,C]: one product, no per-region copies
        out = block.ls_1(block.attn.out_proj(pooled))
        if self.pool_mlp:
            out = out + block.ls_2(block.mlp(block.ln_2(out)))
        out = self.visual.ln_post(out)
        if self.visual.proj is not None:
            out = out @ self.visual.proj
        return F.normalize(out.float(), dim=-1)
