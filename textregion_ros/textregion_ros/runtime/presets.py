"""Where the node's params files are: config/textregion.yaml and the presets in config/presets/.

Presets (e.g. `cpu_smoke`: the smallest settings that run the whole pipeline on a CPU) are params
files layered over config/textregion.yaml, so tests, the demo and the benchmarks start the node
with the same files a robot would use instead of each keeping its own copy of the values.

The files are found in the source checkout first (an editable install, the tests), then in the
installed share directory: `share/textregion_ros/config` under this interpreter's prefix (the pip
or venv install) and under every AMENT_PREFIX_PATH entry (colcon workspaces, /opt/ros).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Union

PACKAGE = "textregion_ros"
MAIN_FILE = "textregion.yaml"
PRESET_DIR = "presets"
PRESET_SUFFIX = ".yaml"
# Sections of a params file that apply to every node name; node-specific sections are not presets.
ALL_NODES = "/**"


class UnknownPresetError(LookupError):
    """No preset of that name; the message lists the names that exist and where they were looked for."""


def candidate_dirs(environ: Optional[Mapping[str, str]] = None) -> list[Path]:
    """Every place this package's `config` directory may be, in search order (existing or not), once each."""
    environ = os.environ if environ is None else environ
    prefixes = [sys.prefix, *(p for p in environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p)]
    candidates = [Path(__file__).resolve().parents[2] / "config"]
    for prefix in prefixes:
        directory = Path(prefix) / "share" / PACKAGE / "config"
        if directory not in candidates:
            candidates.append(directory)
    return candidates


def config_dirs(environ: Optional[Mapping[str, str]] = None) -> list[Path]:
    """The existing `config` directories of this package, in search order, without repeats."""
    found: list[Path] = []
    for directory in candidate_dirs(environ):
        if directory.is_dir() and directory.resolve() not in [d.resolve() for d in found]:
            found.append(directory)  # resolve(): a symlinked install must not be listed twice
    return found


def config_file(environ: Optional[Mapping[str, str]] = None) -> Path:
    """config/textregion.yaml (every parameter with its default); FileNotFoundError saying where it looked."""
    for directory in config_dirs(environ):
        if (directory / MAIN_FILE).is_file():
            return directory / MAIN_FILE
    raise FileNotFoundError(f"{MAIN_FILE} of {PACKAGE} is in none of: {_searched(environ)}")


def preset_names(environ: Optional[Mapping[str, str]] = None) -> list[str]:
    """Names of every preset found (file names without .yaml), sorted."""
    names = {path.name[: -len(PRESET_SUFFIX)] for directory in config_dirs(environ)
             for path in (directory / PRESET_DIR).glob(f"*{PRESET_SUFFIX}")}
    return sorted(names)


def preset_file(name: str, environ: Optional[Mapping[str, str]] = None) -> Path:
    """The params file of preset `name` (`cpu_smoke` or `cpu_smoke.yaml`).

    Raises UnknownPresetError naming the available presets, so a typo on a command line is
    answered with the right spelling rather than a missing-file error from ROS.
    """
    stem = name[: -len(PRESET_SUFFIX)] if name.endswith(PRESET_SUFFIX) else name
    if stem and "/" not in stem and os.sep not in stem:
        for directory in config_dirs(environ):
            path = directory / PRESET_DIR / f"{stem}{PRESET_SUFFIX}"
            if path.is_file():
                return path
    available = ", ".join(preset_names(environ)) or "none"
    raise UnknownPresetError(f"no preset {name!r}; available presets: {available} (searched {_searched(environ)})")


def read_parameters(*params_files: Union[str, Path]) -> dict[str, Any]:
    """The `/**` parameters of params files layered in order (a later file wins), as the node sees them.

    For code that needs the values without starting a node, e.g. a benchmark that also runs the
    engine in-process with the node's settings.
    """
    import yaml

    values: dict[str, Any] = {}
    for params_file in params_files:
        document = yaml.safe_load(Path(params_file).read_text()) or {}
        section = document.get(ALL_NODES, {}) if isinstance(document, dict) else {}
        values.update((section or {}).get("ros__parameters", {}) or {})
    return values


def _searched(environ: Optional[Mapping[str, str]]) -> str:
    return ", ".join(str(d) for d in candidate_dirs(environ))
