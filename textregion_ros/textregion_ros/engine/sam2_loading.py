"""Build a SAM2 model from a config name plus a local checkpoint, a hub id, or random weights."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import torch

from .config import EngineConfig
from .errors import ConfigError, WeightsUnavailableError
from .weights import RANDOM, HubFile, WeightSource, looks_like_path, warn_random

log = logging.getLogger(__name__)

# Hub repositories of the official checkpoints: id -> (sam2_model, checkpoint file name).
SAM2_HUB_CHECKPOINTS = {
    "facebook/sam2.1-hiera-tiny": ("sam2.1_hiera_t", "sam2.1_hiera_tiny.pt"),
    "facebook/sam2.1-hiera-small": ("sam2.1_hiera_s", "sam2.1_hiera_small.pt"),
    "facebook/sam2.1-hiera-base-plus": ("sam2.1_hiera_b+", "sam2.1_hiera_base_plus.pt"),
    "facebook/sam2.1-hiera-large": ("sam2.1_hiera_l", "sam2.1_hiera_large.pt"),
    "facebook/sam2-hiera-tiny": ("sam2_hiera_t", "sam2_hiera_tiny.pt"),
    "facebook/sam2-hiera-small": ("sam2_hiera_s", "sam2_hiera_small.pt"),
    "facebook/sam2-hiera-base-plus": ("sam2_hiera_b+", "sam2_hiera_base_plus.pt"),
    "facebook/sam2-hiera-large": ("sam2_hiera_l", "sam2_hiera_large.pt"),
}


def sam2_config_file(sam2_model: str) -> str:
    """The sam2 package's hydra config for a model name such as sam2.1_hiera_t."""
    family = "sam2.1" if sam2_model.startswith("sam2.1") else "sam2"
    return f"configs/{family}/{sam2_model}.yaml"


def sam2_source(config: EngineConfig) -> Optional[WeightSource]:
    """Where the checkpoint `config.sam2_weights` names comes from (None for random weights)."""
    weights = config.sam2_weights
    what = f"SAM2 {config.sam2_model}"
    if weights == RANDOM:
        return None
    if weights in SAM2_HUB_CHECKPOINTS:
        hub_model, filename = SAM2_HUB_CHECKPOINTS[weights]
        if hub_model != config.sam2_model:
            raise ConfigError(f"sam2_weights {weights!r} holds {hub_model}, but sam2_model is {config.sam2_model!r}")
        return WeightSource(what, (HubFile(weights, filename),), cache_dir=config.cache_dir or None)
    if looks_like_path(weights) or Path(weights).expanduser().exists():
        return WeightSource(what, local=Path(weights).expanduser())
    raise ConfigError(
        f"sam2_weights {weights!r} is neither an existing file, a known hub id "
        f"({', '.join(SAM2_HUB_CHECKPOINTS)}) nor 'random'"
    )


def sam2_checkpoint_path(config: EngineConfig, download: bool = True) -> Optional[Path]:
    """The checkpoint file `config.sam2_weights` names (None for random weights)."""
    source = sam2_source(config)
    return source.locate(download) if source else None


def load_sam2(config: EngineConfig, device: torch.device) -> torch.nn.Module:
    """SAM2Base in eval mode on `device`, at input size config.sam2_image_size."""
    from sam2.build_sam import build_sam2  # heavy import (hydra); only when a model is built

    checkpoint = sam2_checkpoint_path(config)
    overrides = []
    if config.sam2_image_size != 1024:
        overrides.append(f"++model.image_size={config.sam2_image_size}")
    model = build_sam2(
        sam2_config_file(config.sam2_model), None, device="cpu", mode="eval",
        hydra_overrides_extra=overrides, apply_postprocessing=False,
    )
    if checkpoint is None:
        warn_random(f"SAM2 {config.sam2_model}")
    else:
        load_sam2_checkpoint(model, checkpoint, config.sam2_model)
    return model.to(device).eval()


def load_sam2_checkpoint(model: torch.nn.Module, path: Path, sam2_model: str) -> None:
    """Load an official-format checkpoint ({'model': state_dict}) strictly, with clear errors."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsUnavailableError(f"SAM2 checkpoint {str(path)!r} cannot be read: {error}") from error
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise WeightsUnavailableError(
            f"SAM2 checkpoint {str(path)!r} is not in the official format (a dict with a 'model' state dict)"
        )
    result = model.load_state_dict(checkpoint["model"], strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsUnavailableError(
            f"SAM2 checkpoint {str(path)!r} does not fit sam2_model {sam2_model!r}: "
            f"{len(result.missing_keys)} missing keys (e.g. {result.missing_keys[:3]}), "
            f"{len(result.unexpected_keys)} unexpected keys (e.g. {result.unexpected_keys[:3]})"
        )
    log.info("loaded SAM2 %s weights from %s", sam2_model, path)
