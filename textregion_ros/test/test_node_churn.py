"""Lifecycle churn under load, over real DDS: the node survives, every call is answered, every frame counted.

A robot's supervisor may deactivate, clean up, configure and activate the node again while clients
keep calling its services and the camera keeps streaming. Two client processes' worth of callers (each
its own rclpy context, on its own thread) call ~/find, ~/query and ~/set_queries without pause and a
camera thread streams small frames through 20 full cycles; then the process must be alive, every
call must have got an answer (a result or a clean refusal saying why, never an internal error or a
timeout), and every frame taken in must be counted exactly once, none as failed.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from textregion_msgs.srv import Find, Query, SetQueries

from engine_fixtures import photo_like
from node_session import CAMERA_TOPIC, TRANSITIONS, NodeSession

from textregion_ros.ros.client import ClientTimeout, NodeClient
from textregion_ros.ros.image_conversions import numpy_to_imgmsg

CYCLES = 20
NAME = "textregion_churn"
# What a caller may be told while the node is between states or has no frame yet (besides success).
CLEAN_REFUSALS = ("not configured", "models are being loaded", "models are being released",
                  "no processed frame yet", "nothing is remembered")


@dataclass
class Calls:
    answered: int = 0
    refused: int = 0
    problems: list[str] = field(default_factory=list)  # timeouts and unclean answers


def call_forever(name: str, stop: threading.Event, calls: Calls) -> None:
    """One client: ~/find, ~/query and ~/set_queries in turn until `stop`, tallying the answers."""
    requests = [(Find, "find", Find.Request(queries=["red mug"])),
                (Query, "query", Query.Request(queries=["chair"])),
                (SetQueries, "set_queries", SetQueries.Request(queries=["red mug", "chair"]))]
    with NodeClient(name, node_name=NAME, signal_handlers=False) as client:
        turn = 0
        while not stop.is_set():
            srv, service, request = requests[turn % len(requests)]
            turn += 1
            try:
                response = client.call(srv, client.topic(service), request, timeout=60.0)
            except ClientTimeout as error:
                calls.problems.append(f"{service}: {error}")
                continue
            if response.success:
                calls.answered += 1
            elif any(reason in response.message for reason in CLEAN_REFUSALS):
                calls.refused += 1
            else:
                calls.problems.append(f"{service}: {response.message}")


def stream_frames(stop: threading.Event) -> None:
    with NodeClient("churn_camera", node_name=NAME, signal_handlers=False) as camera:
        publisher = camera.camera_publisher(CAMERA_TOPIC)
        stamp = 1
        while not stop.is_set():
            msg = numpy_to_imgmsg(photo_like(32, 48), "rgb8")
            msg.header.stamp.sec, msg.header.frame_id = stamp, "camera"
            publisher.publish(msg)
            stamp += 1
            stop.wait(0.1)  # a 10 Hz camera, the pace of the stream (not a wait for an outcome)


def test_twenty_lifecycle_cycles_under_service_calls_and_frames_leave_the_node_serving_and_counting():
    with NodeSession(name=NAME, subscribe_outputs=False, queries=["red mug"]) as session:
        session.wait_until_active()
        rss_before = session.rss_mib()
        stop = threading.Event()
        tallies = [Calls(), Calls()]
        threads = [threading.Thread(target=call_forever, args=(f"churn_client_{i}", stop, tallies[i]), daemon=True)
                   for i in range(2)] + [threading.Thread(target=stream_frames, args=(stop,), daemon=True)]
        for thread in threads:
            thread.start()
        try:
            for cycle in range(CYCLES):
                for transition in ("deactivate", "cleanup", "configure", "activate"):
                    assert session.lifecycle(TRANSITIONS[transition]), f"cycle {cycle}: {transition} failed"
                    assert session.child.alive(), session.child.log_tail()
            session.status_when(lambda s: int(s["frames_processed"]) > 0, 60, "a frame processed after the cycles")
        finally:
            stop.set()
            for thread in threads:
                thread.join(120)
        assert session.child.alive(), session.child.log_tail()
        status = session.status_when(
            lambda s: int(s["frames_received"]) == sum(int(s[f"frames_{k}"]) for k in
                                                       ("processed", "dropped", "rejected", "failed")),
            60, "every frame taken in to be counted")
        rss_after = session.rss_mib()
        answered, refused = sum(t.answered for t in tallies), sum(t.refused for t in tallies)
        print(f"churn figures: {CYCLES} cycles; calls answered {answered}, refused {refused}; frames received "
              f"{status['frames_received']}, processed {status['frames_processed']}, dropped "
              f"{status['frames_dropped']}, failed {status['frames_failed']}; RSS {rss_before:.0f} -> "
              f"{rss_after:.0f} MiB")
        assert [p for t in tallies for p in t.problems] == []
        assert refused > 0 and answered > 0  # calls met the node in and between its states
        assert status["frames_failed"] == "0"
        log = session.child.log_text()
        for symptom in ("Traceback", "InvalidHandle", "AttributeError", "internal error", "callback raised"):
            assert symptom not in log, log[-4000:]
