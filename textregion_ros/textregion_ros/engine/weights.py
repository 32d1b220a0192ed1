"""Where model weights come from: a local file, the Hugging Face cache, a download, or nothing.

Every model builds through one loader per family, whatever the source: an open_clip pretrained
tag resolves to a file in the cache (downloaded when the hub is reachable), a local file is
used as it is, and `random` builds the same architecture without loading anything. Without
network and without the file, loading fails at once with a WeightsUnavailableError that names
the model, the file and where to put it, instead of waiting through the hub client's retries.
"""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

from .errors import WeightsUnavailableError

log = logging.getLogger(__name__)

RANDOM = "random"
OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
_OPTIONAL_TOKENIZER_FILES = ("special_tokens_map.json",)
_RANDOM_BANNER = (
    "%s: weights=random builds the real architecture with RANDOM weights. Every label, score "
    "and detection will be meaningless. Use this for tests and smoke runs only."
)


@dataclass(frozen=True)
class HubFile:
    """One file of a Hugging Face hub repository."""

    repo_id: str
    filename: str

    @property
    def url(self) -> str:
        return f"{hub_endpoint()}/{self.repo_id}/resolve/main/{self.filename}"


@dataclass(frozen=True)
class WeightSource:
    """One file (or tokenizer folder) a configuration loads, and where it comes from.

    Exactly one of: `candidates` (hub files, the first found in the cache or downloaded wins),
    `local` (a path the configuration names), or `direct_url` (a tag published only at a URL:
    it has to be downloaded by hand). The loaders load through `locate`, and `textregion
    download` lists and fetches the same sources, so the rules for what a model needs live once.
    """

    what: str
    candidates: tuple[HubFile, ...] = ()
    local: Optional[Path] = None
    direct_url: str = ""
    cache_dir: Optional[str] = None
    note: str = ""  # what else to set when the file is passed by path instead

    @property
    def urls(self) -> list[str]:
        return [c.url for c in self.candidates] or ([self.direct_url] if self.direct_url else [])

    @property
    def problem(self) -> str:
        """Why a local path cannot be used ("" when it can, or when the source is not local)."""
        if self.local is not None and not self.local.exists():
            return f"{self.what}: {str(self.local)!r} does not exist"
        return ""

    def locate(self, download: bool = True) -> Path:
        """The file: the local path, the cached or downloaded hub file; WeightsUnavailableError if none."""
        if self.local is not None:
            if self.problem:
                raise WeightsUnavailableError(self.problem)
            return self.local
        if self.candidates:
            return cached_or_download(self.candidates, self.what, self.cache_dir, download)
        raise WeightsUnavailableError(
            f"{self.what}: published only at {self.direct_url}; download it and pass the file by path")


def hub_endpoint() -> str:
    """The model hub's base URL; HF_ENDPOINT points it at a mirror."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub answers a TCP connection now (False at once with HF_HUB_OFFLINE=1)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    endpoint = urlparse(hub_endpoint())
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def warn_random(what: str) -> None:
    """Says loudly that `what` runs with random weights, so nobody mistakes its answers for real ones."""
    log.warning(_RANDOM_BANNER, what)


def looks_like_path(value: str) -> bool:
    """Whether a weights setting names a file (rather than a hub or open_clip tag)."""
    return (os.sep in value or value.startswith(".")
            or Path(value).suffix in (".pt", ".pth", ".bin", ".safetensors", ".npz"))


def cached_or_download(
    candidates: tuple[HubFile, ...], what: str, cache_dir: Optional[str], download: bool = True
) -> Path:
    """The first candidate found in the cache, else the first that downloads.

    Raises WeightsUnavailableError naming the files when none is cached and the hub cannot be
    reached (or `download` is False).
    """
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    kwargs: dict[str, Any] = {"cache_dir": cache_dir or None}
    for candidate in candidates:
        # a pure cache lookup: hf_hub_download(local_files_only=True) may still reach for the network
        # (huggingface_hub 2.x fetches an agent registry for its headers unless offline at import)
        found = try_to_load_from_cache(candidate.repo_id, candidate.filename, **kwargs)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    if download and hub_reachable():
        errors = []
        for candidate in candidates:
            try:
                log.info("downloading %s (%s)", candidate.url, what)
                return Path(hf_hub_download(candidate.repo_id, candidate.filename, **kwargs))
            except Exception as error:  # try the next alternative, report all at the end
                errors.append(f"{candidate.url}: {error}")
        raise WeightsUnavailableError(f"{what}: download failed: " + "; ".join(errors))
    raise WeightsUnavailableError(unavailable_message(what, candidates, cache_dir))


def unavailable_message(what: str, candidates: tuple[HubFile, ...], cache_dir: Optional[str]) -> str:
    """Why the weights could not be had and how to provide them: the URLs tried and the cache to fill."""
    urls = " or ".join(c.url for c in candidates)
    cache = cache_dir or os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME") or "~/.cache/huggingface"
    return (
        f"{what}: the weights are not on this machine and the Hugging Face hub "
        f"({hub_endpoint()}) cannot be reached. Needed: {urls}. Either run "
        f"`textregion-download` on a machine with network and copy its cache ({cache}) here, "
        f"or download the file yourself and pass its path as the weights parameter "
        f"(weights / sam2_weights), or use weights=random for a smoke test (meaningless labels)."
    )
