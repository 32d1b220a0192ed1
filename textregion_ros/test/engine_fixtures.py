"""Real models with random weights, built once per test session (CPU, small sizes).

Random weights give degenerate SAM2 scores (predicted IoU about 0.55, stability about 0), so the
small config switches the mask filters off; tests that exercise a filter set it explicitly.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from textregion_ros.engine import EngineConfig, TextRegionEngine
from textregion_ros.engine.sam2_loading import load_sam2
from textregion_ros.tooling.small_models import MODELS, random_config, small_engine_values

# The shared small random-weights config (tooling/small_models.py: the cpu_smoke sizes, filters off),
# plus the engine tests' own two choices: a 3 x 3 grid (they run many small frames) and global-patch
# removal at its default (on), since tests of that stage and of empty outcomes rely on it.
SMALL: dict[str, Any] = {**small_engine_values(), "points_per_side": 3, "remove_global_patches": True}


def small_config(backbone: str = "pe", **overrides: Any) -> EngineConfig:
    return random_config(backbone, **{**SMALL, **overrides})


def photo_like(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """Smooth gradient with a few flat shapes: SAM2 and the encoders see structure, not noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                      np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    for _ in range(3):
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        radius = max(1, min(height, width) // 5)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] = rng.integers(0, 256, 3)
    return image


def build_siglip2_tokenizer(directory: Path) -> Path:
    """A small word-level Hugging Face tokenizer saved as tokenizer.json + tokenizer_config.json."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from textregion_ros.engine.templates import IMAGENET_TEMPLATES

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [t.format("red mug table desk chair floor wall sky background person") for t in IMAGENET_TEMPLATES]
    tokenizer.train_from_iterator(corpus,
                                  trainers.WordLevelTrainer(special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"]))
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>", "eos_token": "<eos>",
        "bos_token": "<bos>", "unk_token": "<unk>", "model_max_length": 64,
    }))
    return directory


@pytest.fixture(scope="session")
def sam2_tiny() -> torch.nn.Module:
    return load_sam2(small_config(), torch.device("cpu"))


@pytest.fixture(scope="session")
def open_clip_models() -> dict[str, torch.nn.Module]:
    """Lazily built open_clip models by backbone kind (built on first use)."""
    return {}


def open_clip_model(cache: dict[str, torch.nn.Module], backbone: str) -> torch.nn.Module:
    import open_clip

    if backbone not in cache:
        cache[backbone] = open_clip.create_model(MODELS[backbone], pretrained=None).eval()
    return cache[backbone]


@pytest.fixture(scope="session")
def siglip2_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_siglip2_tokenizer(tmp_path_factory.mktemp("siglip2_tokenizer"))


@pytest.fixture(scope="session")
def engine_factory(sam2_tiny, open_clip_models, siglip2_tokenizer_dir):
    """make(backbone, **config overrides) -> TextRegionEngine sharing the session's models."""

    def make(backbone: str = "pe", **overrides: Any) -> TextRegionEngine:
        if backbone == "siglip2":
            overrides.setdefault("tokenizer", str(siglip2_tokenizer_dir))
        config = small_config(backbone, **overrides)
        return TextRegionEngine(config, clip_model=open_clip_model(open_clip_models, backbone), sam2_model=sam2_tiny)

    return make


@pytest.fixture(scope="session")
def pe_engine(engine_factory) -> TextRegionEngine:
    return engine_factory("pe")
