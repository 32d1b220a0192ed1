"""The params file and the parameter docs table, rendered from the parameter table (textregion_ros.params).

`scripts/update_parameter_docs.py` writes them; a test fails when the committed files differ from
what this renders, so neither can drift from the table.
"""
from __future__ import annotations

import json
from typing import Any

import yaml

from . import params

# The page (relative to the repository root) that holds the generated table between these markers.
DOCS_PAGE = "docs/parameters.md"
TABLE_BEGIN = "<!-- parameters: generated from textregion_ros/params.py by scripts/update_parameter_docs.py -->"
TABLE_END = "<!-- end of parameters -->"


def yaml_value(value: Any) -> str:
    """A value as a params file writes it: plain where YAML reads it back unchanged, else quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, str):
        plain = value and value.strip() == value and not any(c in value for c in ":#[]{},&*!|>'\"%@`")
        return value if plain and yaml.safe_load(value) == value else json.dumps(value)
    return repr(value)


def params_file() -> str:
    """config/textregion.yaml: every parameter with its default, grouped, each with its description."""
    lines = [
        "# Parameters of textregion_node: every parameter with its default.",
        "# GENERATED from textregion_ros/params.py by scripts/update_parameter_docs.py: edit the table there.",
        "# `ros2 param describe /textregion NAME` shows the allowed values. (configure), (activate), (start):",
        "# a change applies at the next such lifecycle transition (start: read once); the rest apply at once.",
        "# Presets for other machines: config/presets/*.yaml, layered after this file.",
        "/**:",
        "  ros__parameters:",
    ]
    group = None
    for parameter in params.PARAMETERS:
        if parameter.group != group:
            group = parameter.group
            lines.append(f"    # --- {group} ---")
        note = parameter.description
        if parameter.constraints():
            note += f" Allowed: {parameter.constraints()}."
        if parameter.applies != params.RUN_TIME:
            note += f" ({parameter.applies})"
        lines.append(f"    # {note}")
        lines.append(f"    {parameter.name}: {yaml_value(parameter.default)}")
    return "\n".join(lines) + "\n"


def _markdown_value(value: Any) -> str:
    if isinstance(value, str):
        return f'`"{value}"`' if not value else f"`{value}`"
    if isinstance(value, (list, tuple)):
        return "`[" + ", ".join(json.dumps(v) for v in value) + "]`"
    return f"`{yaml_value(value)}`"


def docs_table() -> str:
    """The parameter table of DOCS_PAGE, between its markers."""
    rows = [TABLE_BEGIN, "| name | default | allowed | applies | meaning |", "|---|---|---|---|---|"]
    for parameter in params.PARAMETERS:
        allowed = parameter.constraints().replace("|", "\\|") or "any"
        rows.append(f"| `{parameter.name}` | {_markdown_value(parameter.default)} | {allowed} | "
                    f"{parameter.applies} | {parameter.description} |")
    rows.append(TABLE_END)
    return "\n".join(rows) + "\n"


def replace_docs_table(page: str) -> str:
    """`page` (the text of DOCS_PAGE) with the text between the markers replaced by docs_table()."""
    begin, end = page.find(TABLE_BEGIN), page.find(TABLE_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{DOCS_PAGE} lacks the parameter table markers")
    return page[:begin] + docs_table() + page[end + len(TABLE_END) + 1:]
