"""Lifecycle of the node: configure loads models, activate starts the data flow, and back."""
from __future__ import annotations

from engine_fixtures import photo_like
from node_session import TRANSITIONS, NodeSession


def test_lifecycle_transitions_gate_the_data_flow():
    with NodeSession(name="textregion_lc", autostart=False, queries=["red mug", "chair"]) as session:
        session.spin_until(lambda: session.value("state") == "unconfigured", 60, "an unconfigured node")
        assert session.lifecycle_state() == "unconfigured"

        assert session.lifecycle(TRANSITIONS["configure"])
        assert session.lifecycle_state() == "inactive"
        assert listens_to_publishers(session) == 0  # inactive: no image subscription...
        session.camera.publish(session.image(photo_like(48, 64), 10))  # ...so this frame reaches nothing

        assert session.lifecycle(TRANSITIONS["activate"])
        assert session.lifecycle_state() == "active"
        assert session.process(session.image(photo_like(48, 64), 11))["labels"].header.stamp.sec == 11
        assert received_once_processed(session, 1) == 1  # frame 11 alone: frame 10 never arrived

        assert session.lifecycle(TRANSITIONS["deactivate"])
        assert session.lifecycle_state() == "inactive"
        assert listens_to_publishers(session) == 0
        session.camera.publish(session.image(photo_like(48, 64), 12))

        assert session.lifecycle(TRANSITIONS["cleanup"])
        assert session.lifecycle_state() == "unconfigured"
        status = session.fresh_status()
        assert status["state"] == "unconfigured" and status["model"] == ""  # models released

        assert session.lifecycle(TRANSITIONS["configure"]) and session.lifecycle(TRANSITIONS["activate"])
        assert session.process(session.image(photo_like(48, 64), 13))["labels"].header.stamp.sec == 13
        assert received_once_processed(session, 2) == 2  # frames 11 and 13: not 12, sent while inactive
        assert {m.header.stamp.sec for m in session.outputs["labels"]} == {11, 13}

        assert session.lifecycle(TRANSITIONS["deactivate"]) and session.lifecycle(TRANSITIONS["cleanup"])
        assert session.lifecycle(TRANSITIONS["unconfigured_shutdown"])
        assert session.lifecycle_state() == "finalized"


def listens_to_publishers(session: NodeSession) -> int:
    """How many publishers the node's image subscription hears, by its first status in the current state
    (its own count, while our camera publisher exists: 0 means it has no image subscription)."""
    state = session.lifecycle_state()
    return int(session.status_when(lambda status: status["state"] == state, 30, f"a status of the {state} node")
               ["image_publishers"])


def received_once_processed(session: NodeSession, processed: int) -> int:
    """The node's count of received frames, from its first status that counts `processed` frames processed."""
    status = session.status_when(lambda s: int(s["frames_processed"]) >= processed, 30,
                                 f"{processed} processed frame(s) counted")
    return session.counts(status)["received"]


def test_configure_fails_cleanly_when_weights_are_missing_and_the_node_stays_up(tmp_path):
    missing = tmp_path / "no_such_sam2.pt"
    with NodeSession(name="textregion_noweights", subscribe_outputs=False, sam2_weights=str(missing)) as session:
        session.spin_until(lambda: "configure failed" in session.child.log_text(), 120, "the configure failure")
        assert "no_such_sam2.pt' does not exist" in session.child.log_text()
        assert session.child.alive()
        assert session.lifecycle_state() == "unconfigured"
        status = session.fresh_status()
        assert status["state"] == "unconfigured" and status["_message"].startswith("not active")


def test_query_service_of_a_configured_node_before_its_first_frame_says_there_is_no_frame():
    # configured but never activated: no image subscription exists, so no frame can have arrived
    with NodeSession(name="textregion_noframe", subscribe_outputs=False, autostart=False,
                     queries=["red mug"]) as session:
        session.spin_until(lambda: session.value("state") == "unconfigured", 60, "an unconfigured node")
        assert session.lifecycle(TRANSITIONS["configure"])
        response = session.query(["red mug"])
        assert not response.success
        assert "no processed frame yet" in response.message
        assert list(response.detections.detections) == []
