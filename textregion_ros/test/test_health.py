"""The node's health verdict (runtime/health.py): what /diagnostics says, and at which level."""
from __future__ import annotations

from textregion_ros.runtime.health import ERROR, OK, WARN, EventWindow, HealthInputs, assess

STREAMING = dict(state="active", received_recent=16, rejected_recent=[], input_age_s=0.1, waiting_s=0.2,
                 last_frame_s=0.4)


def test_a_node_processing_its_frames_is_ok():
    assert assess(HealthInputs(**STREAMING)) == (OK, "ok")


def test_every_frame_rejected_is_a_warning_that_names_the_reason():
    inputs = HealthInputs(**{**STREAMING, "rejected_recent": ["encoding yuv422"] * 16, "waiting_s": 60.0})
    level, message = assess(inputs)
    assert level == WARN
    assert message == "all 16 frames of the last 5 s rejected: encoding yuv422"


def test_some_frames_rejected_says_how_many_of_how_many():
    level, message = assess(HealthInputs(**{**STREAMING, "rejected_recent": ["empty image (0x0)"] * 3}))
    assert level == WARN and "3 of 16 frames of the last 5 s rejected: empty image (0x0)" in message


def test_no_input_is_a_warning():
    assert assess(HealthInputs(**{**STREAMING, "input_age_s": 12.0})) == (WARN, "no images received in the last 5 s")
    assert assess(HealthInputs(**{**STREAMING, "input_age_s": None}))[0] == WARN


def test_frames_arriving_but_none_processed_past_the_stale_period_is_an_error():
    level, message = assess(HealthInputs(**{**STREAMING, "waiting_s": 7.0}))
    assert level == ERROR and message == "images arrive but none has been processed for 7 s"


def test_a_slow_model_gets_three_frame_times_before_the_error():
    slow = {**STREAMING, "last_frame_s": 20.0}
    assert assess(HealthInputs(**{**slow, "waiting_s": 30.0}))[0] == OK
    assert assess(HealthInputs(**{**slow, "waiting_s": 61.0}))[0] == ERROR


def test_a_pending_reconfigure_is_named():
    level, message = assess(HealthInputs(**{**STREAMING, "pending_reconfigure": ("sam2_image_size", "device")}))
    assert (level, message) == (WARN, "pending reconfigure: sam2_image_size, device")


def test_every_finding_is_reported_at_the_highest_level():
    inputs = HealthInputs(**{**STREAMING, "waiting_s": 9.0, "rejected_recent": ["encoding yuv422"] * 2,
                             "qos_problem": "image subscription (reliable) is incompatible"})
    level, message = assess(inputs)
    assert level == ERROR
    assert message.split("; ") == ["images arrive but none has been processed for 9 s",
                                   "2 of 16 frames of the last 5 s rejected: encoding yuv422",
                                   "image subscription (reliable) is incompatible"]


def test_an_inactive_node_warns_with_its_state():
    assert assess(HealthInputs(**{**STREAMING, "state": "inactive"})) == (WARN, "not active (inactive)")


def test_event_window_forgets_events_older_than_the_window():
    now = [100.0]
    window = EventWindow(clock=lambda: now[0])
    window.tick("a")
    now[0] = 103.0
    window.tick("b")
    assert window.recent() == ["a", "b"] and window.total == 2
    now[0] = 106.0
    assert window.recent() == ["b"] and window.age() == 3.0
    now[0] = 200.0
    assert window.recent() == [] and window.rate() == 0.0 and window.total == 2


def test_a_rate_cap_is_named_and_its_interval_is_never_read_as_a_hung_model():
    capped = {**STREAMING, "rate_cap_hz": 0.1, "waiting_s": 9.0}  # 9 s since the last frame under a 10 s cap
    level, message = assess(HealthInputs(**capped))
    assert level == OK and message == "processing capped at 0.1 Hz by max_rate_hz (one frame every 10 s)"
    assert assess(HealthInputs(**{**capped, "waiting_s": 16.0}))[0] == ERROR  # past the cap's interval + 5 s


def test_a_duplicate_node_name_is_an_error_naming_it():
    level, message = assess(HealthInputs(**{**STREAMING, "duplicate_name": "/textregion"}))
    assert level == ERROR and message.startswith("another node named /textregion is running")


def test_a_callback_error_is_an_error():
    level, message = assess(HealthInputs(**{**STREAMING, "callback_errors_recent": 2, "last_problem": "boom"}))
    assert level == ERROR and message.startswith("2 callback error(s) in the last 5 s")
