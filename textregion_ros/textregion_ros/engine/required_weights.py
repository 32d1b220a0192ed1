"""Every file a configuration loads, from the loaders' own rules (for `textregion download`)."""
from __future__ import annotations

from .backbones.loading import open_clip_source, tokenizer_sources
from .config import EngineConfig
from .sam2_loading import sam2_source
from .weights import WeightSource


def required_files(config: EngineConfig) -> list[WeightSource]:
    """open_clip checkpoint, SAM2 checkpoint and Hugging Face tokenizer files that `config` loads.

    Random weights need none. ConfigError for settings that name no loadable model (unknown
    model or tag, a SAM2 hub id of another size), exactly as building the engine would.
    """
    clip, _ = open_clip_source(config)
    sam2 = sam2_source(config)
    return [source for source in (clip, sam2) if source is not None] + tokenizer_sources(config)
