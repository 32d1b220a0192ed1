"""Every label image and detection array agrees with the LabelInfo published before it.

Nav2's semantic_segmentation_layer maps a label image's raw values through the latest LabelInfo,
so a frame computed with the old queries and published after the new LabelInfo is mislabelled in
the costmap. Frames stream while the queries switch (and stable_class_ids toggles); for every
message the LabelInfo in force is the last one *published* before it: the probe orders them by
their DDS source timestamps, not by when its executor happened to take them.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray, LabelInfo

from engine_fixtures import photo_like
from node_session import RELIABLE, NodeSession
from textregion_ros.ros.image_conversions import imgmsg_to_numpy

# Disjoint sets: with stable_class_ids each class keeps its own value, so an old-query frame's
# values are not listed by the new LabelInfo; and every class name is in one set only.
QUERY_SETS = (["red mug", "chair"], ["door", "window", "plant"], ["car", "tree"])
SWITCHES = 30
FRAME_EVERY_S = 0.12
SWITCH_EVERY_S = 0.45
UNLABELED = {255, 65535}
# Latched like the node's, but deep: two LabelInfos in a row (a switch, its republished frame, the next
# switch) must both reach the check, else that frame is judged against the LabelInfo before them.
EVERY_LABEL_INFO = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.TRANSIENT_LOCAL)


@pytest.fixture(scope="module")
def session():
    yield from labelled_session("textregion_labels")


def labelled_session(name: str, **parameters):
    """A node whose labels, detections and LabelInfo the probe records with their DDS source timestamps."""
    with NodeSession(name=name, subscribe_outputs=False, queries=QUERY_SETS[0], **parameters) as running:
        running.next_stamp = 3000
        running.stamped = {"labels": [], "detections": [], "label_info": []}
        for key, kind, qos in (("labels", Image, RELIABLE), ("detections", Detection2DArray, RELIABLE),
                               ("label_info", LabelInfo, EVERY_LABEL_INFO)):
            running.probe.node.create_subscription(
                kind, running.topic(key), lambda msg, info, key=key: running.stamped[key].append(
                    (info["source_timestamp"], msg)), qos)
        running.wait_until_active()
        for queries in (*QUERY_SETS[1:], QUERY_SETS[0]):  # every set encoded once: a switch is then quick
            switch_and_wait(running, queries)
        yield running


def last_classes(session) -> list[str]:
    return [c.class_name for c in session.stamped["label_info"][-1][1].class_map]


def switch_and_wait(session, queries: list[str]) -> None:
    assert session.set_queries(queries).success
    session.spin_until(lambda: last_classes(session) == queries, 180, f"the queries {queries} in force")


def stream_while(session, changes: list, every_s: float) -> None:
    """Publish frames every FRAME_EVERY_S while calling `changes` one by one every `every_s`, then drain."""
    rgb = photo_like(48, 64, seed=21)
    stamp = session.next_stamp
    next_frame = next_change = time.monotonic()
    pending = list(changes)
    while pending:
        now = time.monotonic()
        if now >= next_frame:
            stamp += 1
            session.camera.publish(session.image(rgb, stamp))
            session.next_stamp = stamp
            next_frame = now + FRAME_EVERY_S
        if now >= next_change:
            pending.pop(0)()
            next_change = now + every_s
        session.probe.executor.spin_once(timeout_sec=0.01)
    session.probe.spin_for(3.0)  # the last frames and LabelInfo arrive


def in_force(label_infos: list, published_ns: int) -> LabelInfo:
    """The LabelInfo published last before `published_ns`."""
    before = [msg for stamp, msg in label_infos if stamp < published_ns]
    assert before, "a LabelInfo is published before any frame output"
    return before[-1]


def disagreements(session, since: dict) -> tuple[int, list[str]]:
    """(messages checked, what disagreed) over the messages received since the counts in `since`."""
    infos = sorted(session.stamped["label_info"], key=lambda item: item[0])
    problems, checked = [], 0
    for stamp_ns, msg in session.stamped["labels"][since["labels"]:]:
        listed = {entry.class_id for entry in in_force(infos, stamp_ns).class_map}
        values = set(np.unique(imgmsg_to_numpy(msg)).tolist()) - UNLABELED
        checked += 1
        if not values <= listed:
            problems.append(f"labels stamped {msg.header.stamp.sec}: values {sorted(values)}, listed {sorted(listed)}")
    for stamp_ns, msg in session.stamped["detections"][since["detections"]:]:
        names = {entry.class_name for entry in in_force(infos, stamp_ns).class_map}
        classes = {d.results[0].hypothesis.class_id for d in msg.detections}
        checked += 1
        if not classes <= names:
            problems.append(f"detections stamped {msg.header.stamp.sec}: {sorted(classes)}, listed {sorted(names)}")
    return checked, problems


def counts(session) -> dict:
    return {key: len(items) for key, items in session.stamped.items()}


def test_outputs_agree_with_the_label_info_in_force_across_query_switches(session):
    assert_outputs_agree_across_query_switches(session)


def assert_outputs_agree_across_query_switches(session) -> None:
    """SWITCHES query switches while frames stream: every label image and detection array agrees with the
    LabelInfo received before it, message by message (the inline and the overlapped frame loop alike)."""
    session.wait_for_subscribers(("labels", "detections"), 1)
    since = counts(session)
    switches = [lambda k=k: session.set_queries(QUERY_SETS[k % len(QUERY_SETS)]) for k in range(1, SWITCHES + 1)]
    stream_while(session, switches, SWITCH_EVERY_S)
    checked, problems = disagreements(session, since)
    # Switches that arrive while a frame is being computed coalesce (the newest wins), so fewer than
    # SWITCHES LabelInfos come out on a slow machine; several do, and the last is the last asked for.
    assert len(session.stamped["label_info"]) - since["label_info"] >= 3, "the switches took effect"
    assert last_classes(session) == QUERY_SETS[SWITCHES % len(QUERY_SETS)]
    assert checked >= SWITCHES, "frames streamed during the switches"
    assert not problems, "\n".join(problems)


def test_outputs_agree_with_the_label_info_in_force_across_stable_class_ids_toggles(session):
    # The third set's stable values (5, 6) and class indices (0, 1) are disjoint: a frame labelled in the
    # mode that is no longer in force has values the LabelInfo in force does not list.
    switch_and_wait(session, QUERY_SETS[2])
    session.wait_for_subscribers(("labels", "detections"), 1)
    since = counts(session)
    toggles = [lambda k=k: session.set_parameter("stable_class_ids", k % 2 == 1) for k in range(SWITCHES // 2)]
    toggles.append(lambda: session.set_parameter("stable_class_ids", True))
    stream_while(session, toggles, SWITCH_EVERY_S)
    checked, problems = disagreements(session, since)
    assert len(session.stamped["label_info"]) - since["label_info"] >= 3, "the toggles took effect"
    assert [c.class_id for c in session.stamped["label_info"][-1][1].class_map] == [5, 6]  # stable again
    assert checked >= SWITCHES // 2
    assert not problems, "\n".join(problems)

