"""Which outputs the node publishes and which work it does for them, over real DDS.

Each output can be switched off (publish_* parameters), and work is lazy: an output nobody
subscribes to is not computed. What was computed shows in /diagnostics: the latest frame's stage
latencies (latency_ms_<stage>) name only the stages that ran. The module's node has no
subscribers of its own; each test subscribes to what it needs for its duration.
"""
from __future__ import annotations

import pytest

from engine_fixtures import photo_like
from node_session import OUTPUT_TYPES, NodeSession

QUERIES = ["red mug"]
SWITCHES = {"publish_overlay": "overlay", "publish_region_tokens": "region_tokens",
            "publish_confidence": "confidence"}
IMAGE_STAGES = ("latency_ms_sam2_encode", "latency_ms_image_encoder", "latency_ms_pooling")


@pytest.fixture(scope="module")
def session():
    with NodeSession(name="textregion_outputs", subscribe_outputs=False, queries=QUERIES) as running:
        running.wait_until_active()
        yield running


def frame_status(session, stamp: int, keys: tuple[str, ...], outputs: dict[str, list]) -> dict[str, str]:
    """Process a frame, wait for its `keys` outputs, and return the diagnostics published after it."""
    processed = session.counts()["processed"]
    session.process(session.image(photo_like(48, 64, seed=stamp), stamp), keys=keys, outputs=outputs)
    return session.status_when(lambda status: int(status["frames_processed"]) > processed, 30,
                               "diagnostics of the processed frame")


@pytest.mark.parametrize("switch", SWITCHES)
def test_an_output_switched_off_publishes_nothing_while_the_others_do(session, switch):
    off = SWITCHES[switch]
    others = tuple(key for key in OUTPUT_TYPES if key != off)
    stamp = 500 + list(SWITCHES).index(switch)
    with session.subscribed() as received:
        session.wait_for_subscribers(tuple(OUTPUT_TYPES), 1)
        assert session.set_parameter(switch, False).successful
        try:
            session.process(session.image(photo_like(48, 64, seed=stamp), stamp), keys=others, outputs=received)
            session.probe.spin_for(1.0)  # anything else published for the frame has arrived by now
        finally:
            assert session.set_parameter(switch, True).successful
    assert received[off] == []


def test_outputs_nobody_subscribes_to_are_not_computed(session):
    segmentation_outputs = ("detections", "labels", "confidence", "overlay")
    with session.subscribed(("region_tokens",)) as received:
        session.wait_for_subscribers(segmentation_outputs, 0)
        session.wait_for_subscribers(("region_tokens",), 1)
        status = frame_status(session, 600, ("region_tokens",), received)
    assert all(stage in status for stage in IMAGE_STAGES)  # region tokens need the image models
    for stage in ("latency_ms_text", "latency_ms_painting", "latency_ms_grounding"):
        assert stage not in status, stage

    with session.subscribed(("labels",)) as received:  # labels need text and painting, not grounding
        session.wait_for_subscribers(("labels",), 1)
        status = frame_status(session, 601, ("labels",), received)
    assert "latency_ms_text" in status and "latency_ms_painting" in status
    assert "latency_ms_grounding" not in status
