"""Stable class ids over real DDS: ~/label_info and ~/labels keep a class's value whatever the queries do.

The node starts with no queries, so the values follow from the changes below alone. One node serves
the module, in file order (each test continues the sequence of query changes).
"""
from __future__ import annotations

import numpy as np
import pytest

from engine_fixtures import photo_like
from node_session import TRANSITIONS, NodeSession
from textregion_ros.ros.image_conversions import imgmsg_to_numpy


@pytest.fixture(scope="module")
def session():
    # background off: with random weights every covered pixel then belongs to one of the queries
    with NodeSession(name="textregion_class_ids", background_queries="") as running:
        running.wait_until_active()
        yield running


def switch(session, queries: list[str]) -> dict[str, int]:
    """Set the queries; the class -> value map of the LabelInfo that announces them."""
    assert session.set_queries(queries).success

    def announced() -> bool:
        return bool(session.label_info) and [e.class_name for e in session.label_info[-1].class_map] == queries

    session.spin_until(announced, 60, f"LabelInfo for {queries}")
    return {entry.class_name: entry.class_id for entry in session.label_info[-1].class_map}


def test_first_classes_take_values_in_order(session):
    assert switch(session, ["apple", "bowl", "cup"]) == {"apple": 0, "bowl": 1, "cup": 2}


def test_a_kept_class_keeps_its_value_and_a_new_one_takes_the_lowest_never_used(session):
    assert switch(session, ["cup", "desk"]) == {"cup": 2, "desk": 3}


def test_a_returning_class_gets_its_old_value_back(session):
    assert switch(session, ["apple", "desk"]) == {"apple": 0, "desk": 3}


def test_values_survive_deactivate_and_activate(session):
    assert session.lifecycle(TRANSITIONS["deactivate"]) and session.lifecycle(TRANSITIONS["activate"])
    session.wait_until_active()
    assert switch(session, ["bowl", "desk", "apple"]) == {"bowl": 1, "desk": 3, "apple": 0}


def test_label_image_pixels_are_the_label_info_values(session):
    values = switch(session, ["apple", "desk"])
    out = session.process(session.image(photo_like(96, 128, seed=3), 700), keys=("labels",))
    pixels = set(np.unique(imgmsg_to_numpy(out["labels"], "mono8")).tolist())
    assert pixels - {255} and pixels <= set(values.values()) | {255}


def test_with_the_background_on_labels_hold_only_label_info_values(session):
    values = switch(session, ["apple", "desk"])
    assert session.set_parameter("background_queries", "object; things; stuff; texture").successful
    try:
        out = session.process(session.image(photo_like(96, 128, seed=4), 701), keys=("labels",))
        pixels = set(np.unique(imgmsg_to_numpy(out["labels"], "mono8")).tolist())
        assert pixels <= set(values.values()) | {255}  # the hidden background is unlabeled, never a value
        assert [e.class_name for e in session.label_info[-1].class_map] == ["apple", "desk"]
    finally:
        assert session.set_parameter("background_queries", "").successful


def test_index_order_with_stable_class_ids_off(session):
    assert session.set_parameter("stable_class_ids", False).successful
    session.spin_until(lambda: [e.class_id for e in session.label_info[-1].class_map] == [0, 1], 30,
                       "LabelInfo in index order")
    assert switch(session, ["desk", "cup"]) == {"desk": 0, "cup": 1}
