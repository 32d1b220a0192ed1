"""Settings of the offline tools: params files + `-p name=value` + flags -> EngineConfig and queries.

A function API (`resolve_settings`) that the CLI, the demo, benchmarks and tests call alike, with
the node's precedence: table defaults < params files (in order) < -p assignments < dedicated flags.
Types and allowed values come from the parameter table (textregion_ros.params).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import yaml

from .. import params
from ..engine import EngineConfig, QueryError, QuerySet, parse_queries, queries_from_parameter, split_query_text
from ..engine.errors import ConfigError
from ..tooling.params_files import ParamsFileError, read_params_file

log = logging.getLogger("textregion")

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad options, config or inputs: reported as one message, exit status 2."""


@dataclass
class Settings:
    """What a command runs with: the engine config, the queries and the node-only parameters."""

    config: EngineConfig
    queries: list[str]
    node: dict[str, Any] = field(default_factory=dict)  # node-only parameters, table defaults included
    sources: list[str] = field(default_factory=list)  # where settings came from, for the record


def typed_value(name: str, value: Any, source: str) -> Any:
    """`value` as parameter `name` expects it (type and allowed values), or UsageError saying where."""
    parameter = params.BY_NAME.get(name)
    if parameter is None:
        raise UsageError(f"{source}: {name!r} is not a parameter; known: {', '.join(sorted(params.BY_NAME))}")
    try:
        value = params.coerce(parameter, value)
    except ValueError as error:
        raise UsageError(f"{source}: {error}") from None
    problem = params.value_problem(parameter, value)
    if problem:
        raise UsageError(f"{source}: {problem}")
    return value


def parse_assignment(text: str) -> tuple[str, Any]:
    """'-p name=value' -> (name, value); the value is YAML (numbers, true/false, [a, b]).

    String parameters keep the text as typed, so `-p weights=2024.pt` stays a file name.
    """
    name, sep, raw = text.partition("=")
    if not sep:
        raise UsageError(f"-p {text!r}: expected name=value, e.g. -p points_per_side=8")
    name = name.strip().removesuffix(":")  # accept the ROS spelling name:=value too
    parameter = params.BY_NAME.get(name)
    if parameter is not None and parameter.kind == params.STRING:
        return name, raw.strip()
    try:
        return name, yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise UsageError(f"-p {text!r}: the value is not valid YAML") from None


def resolve_settings(params_files: Iterable[Path | str] = (), assignments: Iterable[str] = (),
                     flags: Optional[Mapping[str, Any]] = None, queries_text: Optional[str] = None,
                     overrides: Optional[Mapping[str, Any]] = None) -> Settings:
    """Table defaults < `params_files` (in order) < `overrides` < `-p` `assignments` < `flags`.

    `flags` maps parameter names to values (None = not given); `overrides` are values a program
    sets (the demo's choices). `queries_text` ("mug, table; desk") replaces the files' queries.
    UsageError for anything the node would reject.
    """
    values: dict[str, Any] = {}
    sources = ["defaults"]
    queries: Optional[list[str]] = None
    for path in params_files:
        try:
            file_values = read_params_file(Path(path))
        except ParamsFileError as error:
            raise UsageError(str(error)) from None
        for name, value in file_values.items():
            if name not in params.BY_NAME:
                log.warning("config file %s: ignoring unknown parameter %r", path, name)
                continue
            values[name] = typed_value(name, value, f"config file {path}")
        sources.append(f"config {path}")
    for name, value in (overrides or {}).items():
        values[name] = typed_value(name, value, "settings")
    for text in assignments:
        name, value = parse_assignment(text)
        values[name] = typed_value(name, value, f"-p {text}")
        sources.append(f"-p {text}")
    for name, value in (flags or {}).items():
        if value is not None:
            flag = "--" + name.replace("_", "-")
            values[name] = typed_value(name, value, flag)
            sources.append(f"{flag} {value}")
    if "queries" in values:
        queries = queries_from_parameter(values.pop("queries"))
    if queries_text is not None:
        queries = split_query_text(queries_text)
        sources.append("--queries")
    engine_values = {name: value for name, value in values.items() if params.BY_NAME[name].engine}
    node = {p.name: values.get(p.name, p.default) for p in params.NODE_PARAMETERS if p.name != "queries"}
    try:
        config = EngineConfig(**engine_values)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    return Settings(config, queries or [], node, sources)


def query_set(queries: Sequence[str], required: bool) -> QuerySet:
    """Validated queries; UsageError for none (when required), empty items, synonyms or duplicates."""
    if not queries and required:
        raise UsageError('no queries: pass --queries "mug, table; desk" or set `queries` in the --config file')
    try:
        return parse_queries(list(queries))
    except QueryError as error:
        raise UsageError(f"bad queries: {error}") from None


FLAG_PARAMETERS: tuple[params.Parameter, ...] = tuple(p for p in params.PARAMETERS if p.cli_flag)


def settings_from_args(args: Any) -> Settings:
    """resolve_settings from parsed command-line options (--config, -p, the flags, --queries)."""
    return resolve_settings(
        params_files=[args.config] if getattr(args, "config", None) else [],
        assignments=getattr(args, "param", None) or [],
        flags={p.name: getattr(args, p.name, None) for p in FLAG_PARAMETERS},
        queries_text=getattr(args, "queries", None))
