"""Template-ensembled text embeddings with a per-model cache (DESIGN.md 1.6)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F

from .backbones import Backbone
from .templates import IMAGENET_TEMPLATES

CACHE_ENTRIES = 8192
TEXTS_PER_BATCH = 1280


class TextEncoder:
    """phrase -> normalize(mean_t normalize(encode(template_t(phrase)))), cached per phrase.

    One encoder belongs to one backbone, so the cache is per model; least recently used
    phrases are evicted beyond CACHE_ENTRIES. Thread-safe: calls are serialised by a lock.
    """

    def __init__(self, backbone: Backbone, templates: Sequence[str] = IMAGENET_TEMPLATES) -> None:
        self.backbone = backbone
        self.templates = tuple(templates)
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        """Forget every cached phrase (benchmarks time a first encoding with it)."""
        with self._lock:
            self._cache.clear()

    def encode(self, phrases: Sequence[str]) -> torch.Tensor:
        """[Q,D] embeddings on the backbone's device (Q may be 0)."""
        with self._lock:
            return self._encode(list(phrases))

    def _encode(self, phrases: list[str]) -> torch.Tensor:
        missing = list(dict.fromkeys(p for p in phrases if p not in self._cache))
        per_batch = max(1, TEXTS_PER_BATCH // len(self.templates))
        for start in range(0, len(missing), per_batch):
            chunk = missing[start:start + per_batch]
            texts = [template.format(phrase) for phrase in chunk for template in self.templates]
            embeddings = self.backbone.encode_texts(texts).view(len(chunk), len(self.templates), -1)
            for phrase, embedding in zip(chunk, F.normalize(embeddings.mean(dim=1), dim=-1)):
                self._cache[phrase] = embedding
        if not phrases:
            return torch.zeros(0, self.backbone.embed_dim, device=self.backbone.device)
        result = torch.stack([self._cache[p] for p in phrases])
        for phrase in phrases:
            self._cache.move_to_end(phrase)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return result
