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
    phrases are evicted beyond CACHE_ENTRIES. Thread-safe with two locks: the cache lock is held
    only for dictionary work, the model lock for text-model forwards. So a call whose phrases are
    all cached (a frame with the queries in force, a repeated ~/query) never waits behind another
    thread encoding new phrases, however long that takes.
    """

    def __init__(self, backbone: Backbone, templates: Sequence[str] = IMAGENET_TEMPLATES) -> None:
        self.backbone = backbone
        self.templates = tuple(templates)
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._model_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        """Forget every cached phrase (benchmarks time a first encoding with it)."""
        with self._cache_lock:
            self._cache.clear()

    def encode(self, phrases: Sequence[str]) -> torch.Tensor:
        """[Q,D] embeddings on the backbone's device (Q may be 0)."""
        phrases = list(phrases)
        if not phrases:
            return torch.zeros(0, self.backbone.embed_dim, device=self.backbone.device)
        found = self._lookup(phrases)
        if len(found) < len(set(phrases)):
            with self._model_lock:  # one text forward at a time; others may have encoded ours meanwhile
                found.update(self._lookup(phrases))
                missing = [p for p in dict.fromkeys(phrases) if p not in found]
                found.update(self._run_model(missing))
            with self._cache_lock:
                for phrase in missing:
                    self._cache[phrase] = found[phrase]
                while len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        return torch.stack([found[p] for p in phrases])

    def _lookup(self, phrases: list[str]) -> dict[str, torch.Tensor]:
        """Cached embeddings of `phrases` (marked recently used)."""
        with self._cache_lock:
            found = {}
            for phrase in phrases:
                embedding = self._cache.get(phrase)
                if embedding is not None:
                    self._cache.move_to_end(phrase)
                    found[phrase] = embedding
            return found

    def _run_model(self, phrases: list[str]) -> dict[str, torch.Tensor]:
        encoded: dict[str, torch.Tensor] = {}
        per_batch = max(1, TEXTS_PER_BATCH // len(self.templates))
        for start in range(0, len(phrases), per_batch):
            chunk = phrases[start:start + per_batch]
            texts = [template.format(phrase) for phrase in chunk for template in self.templates]
            embeddings = self.backbone.encode_texts(texts).view(len(chunk), len(self.templates), -1)
            encoded.update(zip(chunk, F.normalize(embeddings.mean(dim=1), dim=-1)))
        return encoded
