"""The node's params files: where they are (config/textregion.yaml, the presets in config/presets/)
and what a node reads from them (rcl's section rules), ROS-free.

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
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import yaml

PACKAGE = "textregion_ros"
MAIN_FILE = "textregion.yaml"
PRESET_DIR = "presets"
PRESET_SUFFIX = ".yaml"
NODE_NAME = "textregion"  # the node's default name, defined here only: node, CLI, demo, benchmarks, tests import it
PARAMS_KEY = "ros__parameters"


class ParamsFileError(ValueError):
    """A params file that cannot be read or holds no parameters; the message says which and why."""


class UnknownPresetError(ParamsFileError, LookupError):
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


def preset_names(environ: Optional[Mapping[str, str]] = None,
                 search: Optional[Sequence[Path]] = None) -> list[str]:
    """Names of every preset found (file names without .yaml), sorted."""
    directories = config_dirs(environ) if search is None else list(search)
    names = {path.name[: -len(PRESET_SUFFIX)] for directory in directories
             for path in (Path(directory) / PRESET_DIR).glob(f"*{PRESET_SUFFIX}")}
    return sorted(names)


def preset_file(name: str, environ: Optional[Mapping[str, str]] = None,
                search: Optional[Sequence[Path]] = None) -> Path:
    """The params file of preset `name` (`cpu_smoke` or `cpu_smoke.yaml`, spaces around ignored).

    `search` = the `config` directories to look in (default: config_dirs()). Raises
    UnknownPresetError naming the available presets, so a typo on a command line is answered with
    the right spelling rather than a missing-file error from ROS.
    """
    directories = config_dirs(environ) if search is None else [Path(d) for d in search]
    name = name.strip()
    stem = name[: -len(PRESET_SUFFIX)] if name.endswith(PRESET_SUFFIX) else name
    if stem and "/" not in stem and os.sep not in stem:
        for directory in directories:
            path = directory / PRESET_DIR / f"{stem}{PRESET_SUFFIX}"
            if path.is_file():
                return path
    available = ", ".join(preset_names(environ, directories)) or "none"
    searched = ", ".join(str(d) for d in (candidate_dirs(environ) if search is None else directories))
    raise UnknownPresetError(f"no preset {name!r}; available presets: {available} (searched {searched})")


def read_params_file(path: Union[str, Path], node_name: str = NODE_NAME) -> dict[str, Any]:
    """The parameters a node called `node_name` would get from a ROS 2 params file.

    Like rcl: wildcard sections (`/**`, `/*`) apply to every node, then the node's own section
    (`textregion`, `/textregion` or `/some/namespace/textregion`) overrides them. A file with a
    single section under another node name is used as it is (a tool has no node name to match).
    ParamsFileError says what is wrong with the file.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ParamsFileError(f"cannot read the config file {str(path)!r}: {error.strerror or error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamsFileError(f"config file {str(path)!r} is not valid YAML: {error}") from None
    sections = list(_param_sections(document, ""))
    if not sections:
        raise ParamsFileError(
            f"config file {str(path)!r} has no '{PARAMS_KEY}' section (expected a ROS 2 params file: "
            f"'/**:' or '{node_name}:' then '{PARAMS_KEY}:' then the parameters)")
    matching = [(name, values) for name, values in sections if _section_matches(name, node_name)]
    if not matching:
        if len(sections) > 1:
            names = ", ".join(repr(name) for name, _ in sections)
            raise ParamsFileError(f"config file {str(path)!r} has sections {names} but none for '/**' or "
                                  f"'{node_name}'")
        matching = sections
    wildcard = [values for name, values in matching if name.strip("/") in ("**", "*")]
    specific = [values for name, values in matching if name.strip("/") not in ("**", "*")]
    merged: dict[str, Any] = {}
    for values in wildcard + specific:
        merged.update(values)
    return merged


def read_params_files(*paths: Union[str, Path], node_name: str = NODE_NAME) -> dict[str, Any]:
    """Params files layered in order (a later file wins), as the node reads `--params-file` after `--params-file`."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged.update(read_params_file(path, node_name))
    return merged


def _param_sections(node: Any, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(node path, parameters) for every `ros__parameters` block, namespaces nested or not."""
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        name = f"{prefix}/{str(key).strip('/')}" if prefix else str(key)
        if key == PARAMS_KEY:
            if isinstance(value, dict):
                yield prefix or "/**", value
            continue
        yield from _param_sections(value, name)


def _section_matches(name: str, node_name: str) -> bool:
    if name.strip("/") in ("**", "*"):
        return True
    last = name.rstrip("/").rsplit("/", 1)[-1]
    return last == node_name or name.strip("/") == node_name


def _searched(environ: Optional[Mapping[str, str]]) -> str:
    return ", ".join(str(d) for d in candidate_dirs(environ))
