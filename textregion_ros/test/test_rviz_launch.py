"""`rviz:=true` on textregion.launch.py (tooling/rviz_launch.py): rviz2 with the packaged config, its topics
moved to the launched node's namespace and name; off by default."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from textregion_ros.tooling.launch_arguments import BY_NAME, flag
from textregion_ros.tooling.rviz_launch import display_topics, node_path, rviz_launch

PACKAGE = Path(__file__).resolve().parents[1]
RVIZ_FILE = PACKAGE / "config" / "textregion.rviz"


def _file_topics() -> list[str]:
    return display_topics(yaml.safe_load(RVIZ_FILE.read_text()))


def test_rviz_is_off_by_default():
    assert BY_NAME["rviz"].default == "false"
    assert rviz_launch({}, PACKAGE) is None
    assert rviz_launch({"rviz": "false", "namespace": "robot1"}, PACKAGE) is None


def test_rviz_true_starts_rviz2_with_the_packaged_config():
    rviz = rviz_launch({"rviz": "true"}, PACKAGE)
    assert (rviz.package, rviz.executable) == ("rviz2", "rviz2")
    assert rviz.arguments == ["-d", str(RVIZ_FILE)]
    assert rviz.remappings == []  # default namespace and name: the file's topics are the node's


def test_a_namespace_moves_every_display_topic_of_the_file():
    rviz = rviz_launch({"rviz": "true", "namespace": "/robot1/"}, PACKAGE)
    topics = _file_topics()
    assert len(topics) >= 5
    assert rviz.remappings == [(topic, "/robot1" + topic) for topic in topics]
    assert rviz.namespace == "/robot1/" and rviz.name == "textregion_rviz"


def test_a_node_name_and_nested_namespace_move_the_topics_to_that_node():
    rviz = rviz_launch({"rviz": "True", "namespace": "fleet/robot1", "node_name": "finder"}, PACKAGE)
    assert ("/textregion/overlay", "/fleet/robot1/finder/overlay") in rviz.remappings
    assert ("/textregion/markers", "/fleet/robot1/finder/markers") in rviz.remappings
    assert rviz.name == "finder_rviz"


def test_node_path_joins_namespace_and_name_like_rcl():
    assert node_path("", "textregion") == "/textregion"
    assert node_path("/a/b/", "n") == "/a/b/n"
    assert node_path(" robot1 ", "n") == "/robot1/n"


@pytest.mark.parametrize("word, expected", [("true", True), ("TRUE", True), ("1", True), ("yes", True),
                                            ("false", False), ("0", False), ("", False), (" off ", False)])
def test_flag_reads_the_usual_true_and_false_words(word, expected):
    assert flag("rviz", word) is expected


def test_a_word_that_is_neither_true_nor_false_is_an_error_naming_the_argument():
    with pytest.raises(ValueError, match="rviz:='ture'"):
        rviz_launch({"rviz": "ture"}, PACKAGE)


def test_a_missing_rviz_file_is_an_error_saying_where_it_looked(tmp_path):
    with pytest.raises(ValueError, match=str(tmp_path)):
        rviz_launch({"rviz": "true"}, tmp_path)
