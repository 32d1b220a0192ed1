"""The overlapped frame loop over real DDS (overlap_host_stage: on, which a CPU does not pick by itself):
the engine stage observes the next frame while the host stage publishes the previous one, and the
node's promises hold message by message. The inline loop (the CPU default) keeps main's order on one
thread and is what every other node test runs; runtime/host_stage.py's own tests cover both.
"""
from __future__ import annotations

import time

import pytest

from engine_fixtures import photo_like
from node_session import TRANSITIONS
from test_node_label_agreement import (
    assert_outputs_agree_across_query_switches, counts, labelled_session, stream_while,
)

STREAM_EVERY_S = 0.05  # faster than the node's frames: the engine stage always has a next frame


@pytest.fixture(scope="module")
def session():
    yield from labelled_session("textregion_overlap", overlap_host_stage="on")


def settled(status: dict[str, str]) -> bool:
    """No frame waiting or in either stage: every frame taken in is counted."""
    done = sum(int(status.get(f"frames_{key}", 0)) for key in ("processed", "dropped", "rejected", "failed"))
    return int(status["frames_received"]) == done


def test_the_node_runs_the_host_stage_on_its_own_thread_when_asked(session):
    assert session.status_when(lambda status: "host_stage" in status, 30, "diagnostics")["host_stage"] == "overlapped"


def test_overlapped_outputs_agree_with_the_label_info_in_force_across_query_switches(session):
    assert_outputs_agree_across_query_switches(session)


def test_overlapped_label_images_leave_in_stamp_order(session):
    session.wait_for_subscribers(("labels",), 1)
    since = counts(session)
    stream_while(session, [lambda: None] * 60, STREAM_EVERY_S)
    sent = sorted(session.stamped["labels"][since["labels"]:], key=lambda item: item[0])  # by DDS source time
    stamps = [msg.header.stamp.sec for _, msg in sent]
    assert len(stamps) >= 3, "frames were processed"
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), f"published out of order: {stamps}"


def test_deactivate_and_cleanup_while_frames_stream_count_every_frame_once(session):
    session.wait_for_subscribers(("labels",), 1)
    before = len(session.stamped["labels"])
    rgb = photo_like(48, 64, seed=21)
    last_sent = [0.0]

    def stream() -> None:
        if time.monotonic() - last_sent[0] >= STREAM_EVERY_S:
            session.next_stamp += 1
            session.camera.publish(session.image(rgb, session.next_stamp))
            last_sent[0] = time.monotonic()

    def labelled(count: int) -> bool:
        stream()
        return len(session.stamped["labels"]) >= count

    session.spin_until(lambda: labelled(before + 3), 120, "a stream of label images")  # frames in flight
    assert session.lifecycle(TRANSITIONS["deactivate"])
    assert session.lifecycle(TRANSITIONS["cleanup"])
    status = session.status_when(settled, 60, "every frame taken in to be counted")
    assert int(status["frames_received"]) >= 4 and int(status.get("frames_failed", 0)) == 0

    assert session.lifecycle(TRANSITIONS["configure"]) and session.lifecycle(TRANSITIONS["activate"])
    after = len(session.stamped["labels"])
    session.spin_until(lambda: labelled(after + 1), 120, "label images after configure and activate again")
