"""rviz2 for `rviz:=true`: the packaged config/textregion.rviz, its topics moved to the launched node.

Why remappings instead of a rewritten copy of the file: config/textregion.rviz names the node's outputs on
the default names (`/textregion/overlay`, node "textregion", no namespace) so that `rviz2 -d` works as it
is. A launch with `namespace:=robot1` or `node_name:=finder` publishes on `/robot1/finder/overlay`;
remapping every absolute display topic of the file (`-r /textregion/overlay:=/robot1/finder/overlay`,
applied by rcl to every subscription of the rviz process) keeps the one file true for every launch, and
a display added to the file is moved with the others without a code change.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from .launch_arguments import BY_NAME, flag
from .params_files import NODE_NAME

RVIZ_FILE = Path("config") / "textregion.rviz"
FILE_NODE = f"/{NODE_NAME}"  # where the file's topics live: the default node name, no namespace


@dataclass(frozen=True)
class RvizLaunch:
    """rviz2 as launch_ros's Node action takes it."""

    name: str
    namespace: str
    arguments: list[str]
    remappings: list[tuple[str, str]]
    package: str = "rviz2"
    executable: str = "rviz2"


def display_topics(config: Any) -> list[str]:
    """Every display topic of a parsed .rviz file (`Topic: {Value: ...}` at any depth), in file order, once each."""
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            topic = item.get("Topic")
            if isinstance(topic, dict) and isinstance(topic.get("Value"), str) and topic["Value"] not in found:
                found.append(topic["Value"])
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(config)
    return found


def node_path(namespace: str, node_name: str) -> str:
    """Fully qualified name of the node: ('robot1', 'textregion') -> '/robot1/textregion'; ('', 'x') -> '/x'."""
    parts = [part for part in namespace.strip().strip("/").split("/") if part] + [node_name.strip()]
    return "/" + "/".join(parts)


def topic_remappings(topics: list[str], namespace: str, node_name: str) -> list[tuple[str, str]]:
    """(file topic, launched topic) for every topic of the default node that the launch moves elsewhere."""
    target = node_path(namespace, node_name)
    if target == FILE_NODE:
        return []
    return [(topic, target + topic[len(FILE_NODE):]) for topic in topics if topic.startswith(FILE_NODE + "/")]


def rviz_launch(values: Mapping[str, str], share_dir: Path) -> Optional[RvizLaunch]:
    """rviz2 for these launch argument values, None unless `rviz` is true (ValueError for a word that is
    neither true nor false, and when the packaged rviz file is missing)."""
    value = {name: values.get(name, BY_NAME[name].default) for name in ("rviz", "namespace", "node_name")}
    if not flag("rviz", value["rviz"]):
        return None
    path = Path(share_dir) / RVIZ_FILE
    if not path.is_file():
        raise ValueError(f"rviz:=true but {path} does not exist (is textregion_ros installed completely?)")
    topics = display_topics(yaml.safe_load(path.read_text(encoding="utf-8")))
    return RvizLaunch(
        name=f"{value['node_name'].strip()}_rviz",
        namespace=value["namespace"],
        arguments=["-d", str(path)],
        remappings=topic_remappings(topics, value["namespace"], value["node_name"]),
    )
