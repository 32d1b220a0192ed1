"""`textregion download`: fetch the files a configuration loads into the cache, or say what to fetch.

The list of files comes from the loaders themselves (engine.required_weights.required_files), so
this command knows no model, tag or hub rule of its own.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Optional

from ..engine.errors import ConfigError, WeightsUnavailableError
from ..engine.required_weights import required_files
from ..engine.weights import WeightSource, hub_endpoint, hub_reachable
from .settings import EXIT_OK, EXIT_USAGE, UsageError, settings_from_args

log = logging.getLogger("textregion")


def cache_location(cache_dir: str) -> str:
    """The folder downloaded weights go to (`cache_dir`, else the Hugging Face hub cache)."""
    if cache_dir:
        return str(Path(cache_dir).expanduser())
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def offline_paragraph(missing: list[WeightSource], cache_dir: str, reason: str) -> str:
    """One paragraph: what to download, where to put it, and the way to run without it."""
    needed = "; ".join(f"{item.what}: {' or '.join(item.urls)}" for item in missing)
    paths = []
    for item in missing:
        if item.what.startswith("open_clip"):
            paths.append("weights:=/path/to/open_clip_model.safetensors" + (f" ({item.note})" if item.note else ""))
    sam2 = [item for item in missing if item.what.startswith("SAM2") and item.urls]
    if sam2:
        paths.append(f"sam2_weights:=/path/to/{sam2[0].urls[0].rsplit('/', 1)[-1]}")
    if any(item.what.startswith("tokenizer") for item in missing):
        paths.append("tokenizer:=/folder/with/tokenizer.json+tokenizer_config.json")
    return (
        f"{reason} The weights this configuration needs are not on this machine: {needed}. "
        f"Either run `textregion-download` (with the same --config / flags) on a machine with network and copy "
        f"its cache folder ({cache_location(cache_dir)}) to the same place on this machine (or elsewhere, and "
        f"name the copy with the cache_dir parameter, --cache-dir or HF_HUB_CACHE), or download the files "
        f"yourself and pass their paths as the parameters {' and '.join(paths)} (textregion: --weights / "
        f"--sam2-weights / -p name=value). For a smoke test without any download, weights=random and "
        f"sam2_weights=random build the same models with random weights (every label is then meaningless)."
    )


def fetch_weights(config, announce: Callable[[str], None] = print) -> tuple[list[tuple[WeightSource, Path]], str]:
    """Make every file `config` loads available: cached, downloaded, or listed as missing.

    Returns ((source, path) for the files found, problem). `problem` is "" when all are present,
    else the one paragraph to show (what to download, where to put it). UsageError for settings
    that name no loadable model.
    """
    try:
        sources = required_files(config)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    broken = [source for source in sources if source.problem]
    if broken:
        return [], " ".join(f"{source.problem}." for source in broken) + (
            " Fix the path (weights / sam2_weights / tokenizer), or run `textregion-download` to fetch the "
            "default files into the cache.")
    found: list[tuple[WeightSource, Path]] = []
    missing: list[WeightSource] = []
    for source in sources:
        path = _located(source, download=False)
        if path is None:
            missing.append(source)
        else:
            found.append((source, path))
    if not missing:
        return found, ""
    if not hub_reachable():
        return found, offline_paragraph(missing, config.cache_dir, f"The Hugging Face hub ({hub_endpoint()}) cannot "
                                                                   "be reached from this machine (or HF_HUB_OFFLINE "
                                                                   "is set).")
    failed: list[WeightSource] = []
    for source in missing:
        announce(f"downloading {source.what} ...")
        try:
            found.append((source, source.locate(download=True)))
        except (WeightsUnavailableError, OSError) as error:
            log.error("%s", error)
            failed.append(source)
    if failed:
        return found, offline_paragraph(failed, config.cache_dir, "Downloading failed (see the errors above).")
    return found, ""


def _located(source: WeightSource, download: bool) -> Optional[Path]:
    try:
        return source.locate(download)
    except WeightsUnavailableError:
        return None


def run_download(args: argparse.Namespace) -> int:
    """Fetch what the configuration needs and print where each file is."""
    config = settings_from_args(args).config
    files, problem = fetch_weights(config)
    if problem:
        print(f"textregion-download: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if not files:
        print("nothing to download: this configuration uses random weights (weights=random, sam2_weights=random)")
        return EXIT_OK
    print(f"weights ready (cache: {cache_location(config.cache_dir)}):")
    for source, path in files:
        print(f"  {source.what}: {path}")
    print("The node, `textregion` and the demo find cached files by themselves. For a robot without network, "
          "copy the cache folder above to the same place there (or elsewhere, and name the copy with the "
          "cache_dir parameter or HF_HUB_CACHE).")
    return EXIT_OK
