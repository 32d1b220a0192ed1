"""What every image-text backbone offers the TextRegion pipeline.

A backbone turns crop x crop views into a grid of per-patch features that can be fused across
views (section 1.2 of DESIGN.md), and turns soft region weights over those features into
L2-normalised region tokens in the text space (section 1.5). Pooling is always one matrix
product of the (R x N) weights with the (N x C) features: the token sequence is never copied
per region.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from ..precision import autocast
from .loading import Tokenizer


class Backbone(ABC):
    """An open_clip model seen as a region-token producer."""

    kind: str = ""
    global_weight: float = 1.0  # weight of the upsampled global view when fusing with tiles
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: InterpolationMode = InterpolationMode.BICUBIC

    def __init__(self, model: torch.nn.Module, tokenizer: Tokenizer, crop_size: int,
                 dtype: torch.dtype = torch.float32) -> None:
        self.model: Any = model  # open_clip's model: its methods (encode_text, ...) are untyped
        self.tokenizer = tokenizer
        self.dtype = dtype  # autocast dtype of the model forwards (float32 = none): precision.py
        self.device = next(model.parameters()).device
        self.crop_size = crop_size
        self._mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)

    @property
    @abstractmethod
    def patch_size(self) -> int: ...

    @property
    def grid_size(self) -> int:
        return self.crop_size // self.patch_size

    @property
    @abstractmethod
    def embed_dim(self) -> int:
        """Dimension D of region tokens and text embeddings."""

    def prepare_view(self, view: torch.Tensor) -> torch.Tensor:
        """[3,h,w] float in [0,1] -> [3,crop,crop], resized (antialiased) and normalised."""
        resized = TF.resize(view, [self.crop_size, self.crop_size], interpolation=self.interpolation, antialias=True)
        return (resized - self._mean[0]) / self._std[0]

    @abstractmethod
    def encode_views(self, views: torch.Tensor) -> torch.Tensor:
        """[V,3,crop,crop] prepared views -> [V,g,g,C] fp32 features to fuse and pool."""

    @abstractmethod
    def pool(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Soft weights [R,N] in [0,1] and features [N,C] -> L2-normalised tokens [R,D]."""

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """[T,D] L2-normalised embeddings of literal texts (no templates)."""
        tokens = self.tokenizer(texts).to(self.device)
        with autocast(self.device, self.dtype):
            embeddings = self.model.encode_text(tokens)
        return F.normalize(embeddings.float(), dim=-1)

    def logit_affine(self) -> Optional[tuple[float, float]]:
        """(scale, bias) turning cosine similarities into region logits, or None for plain cosines."""
        return None
