"""Build open_clip models and tokenizers from a pretrained tag, a local file or random weights."""
from __future__ import annotations

import contextlib
import difflib
import logging
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch

from ..config import EngineConfig
from ..errors import ConfigError, WeightsUnavailableError
from ..weights import OPEN_CLIP_FILES, RANDOM, TOKENIZER_FILES, HubFile, WeightSource, looks_like_path, warn_random

log = logging.getLogger(__name__)
Tokenizer = Callable[[list[str]], torch.Tensor]


@contextlib.contextmanager
def _quiet_random_init_warning() -> Iterator[None]:
    """open_clip warns 'No pretrained weights loaded' before we load our own file: drop it."""

    def drop(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded")

    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def open_clip_source(config: EngineConfig) -> tuple[Optional[WeightSource], dict[str, Any]]:
    """(where the checkpoint comes from, or None for random weights; model kwargs the weights need)."""
    import open_clip

    name, weights = config.model, config.weights
    what = f"open_clip {name} ({weights})"
    if name not in open_clip.list_models():
        close = difflib.get_close_matches(name, open_clip.list_models(), n=5)
        raise ConfigError(f"unknown open_clip model {name!r}; close matches: {close}")
    if weights == RANDOM:
        return None, {}
    if looks_like_path(weights) or Path(weights).expanduser().exists():
        return WeightSource(what, local=Path(weights).expanduser()), {}
    tags = open_clip.list_pretrained_tags_by_model(name)
    if weights not in tags:
        raise ConfigError(f"weights {weights!r} is not a file and not a pretrained tag of {name} (tags: {tags})")
    pretrained = open_clip.get_pretrained_cfg(name, weights)
    kwargs = {"force_quick_gelu": True} if pretrained.get("quick_gelu") else {}
    note = ""
    if kwargs and f"{name}-quickgelu" in open_clip.list_models():
        # a tag loads with QuickGELU; a bare file does not: the model name has to say so
        note = f"model:={name}-quickgelu with these OpenAI weights as a file"
    repo = (pretrained.get("hf_hub") or "").strip("/")
    if not repo:
        return WeightSource(what, direct_url=str(pretrained.get("url")), note=note), kwargs
    candidates = tuple(HubFile(repo, filename) for filename in OPEN_CLIP_FILES)
    return WeightSource(what, candidates, cache_dir=config.cache_dir or None, note=note), kwargs


def open_clip_checkpoint(config: EngineConfig, download: bool = True) -> tuple[Optional[Path], dict[str, Any]]:
    """(checkpoint file or None for random weights, model kwargs the weights need)."""
    source, kwargs = open_clip_source(config)
    return (source.locate(download) if source else None), kwargs


def load_open_clip(config: EngineConfig, device: torch.device) -> torch.nn.Module:
    """The open_clip model (eval, fp32) with its weights loaded through open_clip's loader."""
    import open_clip

    checkpoint, kwargs = open_clip_checkpoint(config)
    with _quiet_random_init_warning():
        model = open_clip.create_model(config.model, pretrained=None, **kwargs)
    if checkpoint is None:
        warn_random(f"open_clip {config.model}")
    else:
        try:
            open_clip.load_checkpoint(model, str(checkpoint))
        except Exception as error:
            raise WeightsUnavailableError(
                f"open_clip {config.model}: checkpoint {str(checkpoint)!r} does not load: {error}"
            ) from error
        log.info("loaded open_clip %s weights from %s", config.model, checkpoint)
    return model.to(device).eval()


def tokenizer_sources(config: EngineConfig) -> list[WeightSource]:
    """The Hugging Face tokenizer files the model needs ([] for open_clip's bundled vocabulary)."""
    import open_clip

    hub_name = open_clip.get_model_config(config.model).get("text_cfg", {}).get("hf_tokenizer_name")
    if not hub_name:
        return []
    if config.tokenizer:
        return [WeightSource(f"tokenizer of {config.model}", local=Path(config.tokenizer).expanduser() / name)
                for name in TOKENIZER_FILES]
    what = f"tokenizer of {config.model} (set `tokenizer` to a local directory to use one offline)"
    return [WeightSource(f"{what}: {name}", (HubFile(hub_name, name),), cache_dir=config.cache_dir or None)
            for name in TOKENIZER_FILES]


def load_tokenizer(config: EngineConfig) -> Tokenizer:
    """open_clip's tokenizer for the model; Hugging Face tokenizers from a local dir or the cache."""
    import open_clip
    from open_clip.tokenizer import HFTokenizer

    sources = tokenizer_sources(config)
    if not sources:
        return open_clip.get_tokenizer(config.model)  # bundled BPE vocabulary, works offline
    missing = [source.local.name for source in sources if source.local is not None and source.problem]
    if missing:
        raise WeightsUnavailableError(f"tokenizer directory {config.tokenizer!r} lacks {missing}")
    directory = sources[0].locate().parent
    for source in sources[1:]:
        source.locate()
    text_cfg = open_clip.get_model_config(config.model).get("text_cfg", {})
    return HFTokenizer(
        str(directory),
        context_length=text_cfg.get("context_length", 64),
        **text_cfg.get("tokenizer_kwargs", {}),
    )
