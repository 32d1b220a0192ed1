"""QuerySwitch, the one owner of the node's queries (ROS-free, in-process, real worker threads).

The node routes every query path through it: the parse rule (topic, ~/set_queries, the parameter,
~/query, ~/find), the validation of a `queries` change, the queries in force and the switch between
frames that keeps every output in agreement with the LabelInfo published before it.
"""
from __future__ import annotations

import threading

import pytest

from textregion_ros.engine import QueryError
from textregion_ros.runtime.query_switch import QuerySwitch, request_set
from textregion_ros.runtime.worker import LatestFrameWorker

WAIT_S = 30.0


class Settings(dict):
    """The settings in force, read by name like the node's parameters."""

    def value(self, name: str):
        return self[name]


def settings(**changes) -> Settings:
    return Settings({"max_queries": 3, "max_query_chars": 20, "stable_class_ids": True, **changes})


def raise_errors(error: BaseException, kind: str) -> None:
    raise AssertionError(f"worker error ({kind}): {error}")


@pytest.fixture
def switch_and_frames():
    """A started switch whose between-frames jobs run on a real frame worker; stopped afterwards."""
    values = settings()
    switch = QuerySwitch(values.value, raise_errors, log=lambda text: None)
    frames = LatestFrameWorker(lambda item: item(), raise_errors, name="test_frames")
    frames.start()
    switched = []
    prepared = []
    switch.start(prepared.append, frames.submit_job, lambda: switched.append(switch.snapshot()))
    yield switch, frames, values, prepared, switched
    switch.stop()
    frames.stop()


def in_force(switch: QuerySwitch, frames: LatestFrameWorker, queries: list[str]) -> None:
    switch.switch_to(switch.parse(queries))
    assert wait_until(lambda: switch.snapshot()[0].classes == tuple(queries)), "the switch took effect"


def wait_until(condition, timeout: float = WAIT_S) -> bool:
    tick = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return True
        tick.wait(0.01)
    return condition()


def test_the_parse_rule_refuses_more_queries_than_max_queries():
    switch = QuerySwitch(settings(max_queries=2).value, raise_errors)
    with pytest.raises(QueryError, match="3 queries exceed max_queries = 2"):
        switch.parse(["mug", "chair", "floor"])


def test_the_parse_rule_refuses_a_query_longer_than_max_query_chars():
    switch = QuerySwitch(settings(max_query_chars=5).value, raise_errors)
    with pytest.raises(QueryError, match="at most 5 are accepted"):
        switch.parse(["a red mug"])


def test_the_parse_rule_applies_limits_being_set_instead_of_those_in_force():
    switch = QuerySwitch(settings(max_queries=1).value, raise_errors)
    assert switch.parse(["mug", "chair"], max_queries=2).classes == ("mug", "chair")


def test_a_service_request_without_queries_is_refused_with_the_reason():
    switch = QuerySwitch(settings().value, raise_errors)
    assert request_set([], switch.parse) == (None, "no queries given")
    parsed, reason = request_set(["mug; cup"], switch.parse)
    assert (parsed.phrases, reason) == (("mug", "cup"), "")


def test_a_service_request_is_held_to_the_limits_in_force():
    switch = QuerySwitch(settings(max_queries=1).value, raise_errors)
    assert request_set(["mug", "chair"], switch.parse) == (None, "2 queries exceed max_queries = 1")


def test_one_blank_query_sent_as_a_request_is_refused_although_a_parameter_reads_it_as_none():
    switch = QuerySwitch(settings().value, raise_errors)
    assert switch.request_problem([""]) == "query 1 is empty"
    assert switch.request_problem(["mug"]) == ""


def test_a_queries_change_that_breaks_the_rule_is_refused_in_the_rules_words():
    switch = QuerySwitch(settings().value, raise_errors)
    current = settings().value
    assert switch.change_problem({"queries": ["mug", "mug"]}, current) == (
        "queries: duplicate query phrase 'mug' (also in 'mug')")


def test_a_queries_change_is_validated_under_the_max_queries_set_with_it():
    switch = QuerySwitch(settings(max_queries=1).value, raise_errors)
    current = settings(max_queries=1).value
    assert switch.change_problem({"queries": ["mug", "chair"]}, current) is not None
    assert switch.change_problem({"queries": ["mug", "chair"], "max_queries": 2}, current) is None


def test_max_queries_cannot_drop_below_the_queries_in_force(switch_and_frames):
    switch, frames, values, _, _ = switch_and_frames
    in_force(switch, frames, ["mug", "chair"])
    assert switch.change_problem({"max_queries": 1}, values.value) == (
        "max_queries = 1 is below the 2 queries in force; set fewer queries first")


def test_apply_puts_the_validated_queries_in_force(switch_and_frames):
    switch, frames, values, _, _ = switch_and_frames
    assert switch.change_problem({"queries": ["mug", "chair"]}, values.value) is None
    switch.apply(["mug", "chair"])
    assert wait_until(lambda: switch.snapshot()[0].classes == ("mug", "chair"))


def test_new_queries_are_encoded_first_and_come_in_force_only_between_frames(switch_and_frames):
    switch, frames, values, prepared, switched = switch_and_frames
    in_force(switch, frames, ["mug"])
    frame_started, release = threading.Event(), threading.Event()
    seen = []

    def frame() -> None:  # a frame in processing: reads the queries at its start and at its end
        seen.append(switch.snapshot()[0].classes)
        frame_started.set()
        release.wait(WAIT_S)
        seen.append(switch.snapshot()[0].classes)

    frames.submit_frame(frame)
    assert frame_started.wait(WAIT_S)
    switch.switch_to(switch.parse(["chair", "floor"]))
    assert wait_until(lambda: prepared and prepared[-1].classes == ("chair", "floor")), "encoded on the text thread"
    assert switch.text_worker.wait_until_idle(WAIT_S)  # the switch now waits on the frame worker
    release.set()
    assert wait_until(lambda: len(switched) == 2)
    assert seen == [("mug",), ("mug",)]  # the frame in processing never saw the new queries
    assert switched[-1] == (switch.parse(["chair", "floor"]), (1, 2))  # with the label values published next


def test_stable_class_ids_keep_a_class_value_across_switches(switch_and_frames):
    switch, frames, values, _, _ = switch_and_frames
    in_force(switch, frames, ["mug", "chair"])
    in_force(switch, frames, ["chair"])
    assert switch.snapshot()[1] == (1,)


def test_relabel_after_stable_class_ids_is_turned_off_gives_class_indices_and_says_so_once(switch_and_frames):
    switch, frames, values, _, switched = switch_and_frames
    in_force(switch, frames, ["mug", "chair"])
    in_force(switch, frames, ["chair"])
    count = len(switched)
    values["stable_class_ids"] = False
    switch.relabel()
    assert wait_until(lambda: switch.snapshot()[1] == (0,))
    assert frames.wait_until_idle(WAIT_S)
    switch.relabel()  # nothing changes: no second LabelInfo
    assert frames.wait_until_idle(WAIT_S)
    assert len(switched) == count + 1


def test_a_stopped_switch_holds_no_text_worker_and_ignores_switches(switch_and_frames):
    switch, frames, values, _, switched = switch_and_frames
    in_force(switch, frames, ["mug"])
    worker = switch.text_worker
    switch.stop()
    assert switch.text_worker is None and worker.stop(timeout=0)
    switch.switch_to(switch.parse(["chair"]))
    switch.relabel()
    assert frames.idle() and switch.snapshot()[0].classes == ("mug",) and len(switched) == 1
    switch.clear()
    assert len(switch) == 0
