"""What the lifecycle transitions do to the node's work and memory, over real DDS.

deactivate stops the data flow and the work it causes; activate resumes it; cleanup gives the
models' memory back (a robot deactivates and cleans up a perception node to free memory for
something else), and a later configure builds them again. One node, started unconfigured and
without queries (region tokens are the whole image-model work), serves the module; each test first
brings it to the state it starts from.
"""
from __future__ import annotations

import pytest

from engine_fixtures import photo_like
from node_session import TRANSITIONS, NodeSession

TOKENS = ("region_tokens",)
# The transitions that lead from each steady state towards active, and back to unconfigured.
UP = {"unconfigured": "configure", "inactive": "activate"}
DOWN = {"active": "deactivate", "inactive": "cleanup"}


@pytest.fixture(scope="module")
def session():
    with NodeSession(name="textregion_resources", autostart=False) as running:
        running.spin_until(lambda: running.value("state") == "unconfigured", 60, "an unconfigured node")
        yield running


@pytest.fixture(scope="module", autouse=True)
def rss_before_models(session) -> float:
    """The node's resident memory before it ever loaded models (taken before the module's first test)."""
    return session.rss_mib()


def bring_to(session, target: str) -> None:
    """Walk the lifecycle from the node's current state to `target` (active or unconfigured)."""
    steps = UP if target == "active" else DOWN
    state = session.lifecycle_state()
    while state != target:
        assert session.lifecycle(TRANSITIONS[steps[state]]), f"{steps[state]} from {state} failed"
        state = session.lifecycle_state()


def idle(status: dict[str, str]) -> bool:
    """No frame waiting or in flight: every frame taken in is accounted for."""
    done = sum(int(status.get(f"frames_{key}", 0)) for key in ("processed", "dropped", "rejected", "failed"))
    return int(status["frames_received"]) == done


def test_deactivate_stops_outputs_and_work_and_activate_resumes_them(session):
    bring_to(session, "active")
    session.process(session.image(photo_like(48, 64), 10), keys=TOKENS)
    session.status_when(idle, 60, "the node to finish the frames it took")  # process() may have sent twice

    assert session.lifecycle(TRANSITIONS["deactivate"])
    before = session.counts()
    published = len(session.outputs["region_tokens"])
    for _ in range(4):
        session.camera.publish(session.image(photo_like(48, 64), 11))
        session.probe.spin_for(0.5)
    after = session.counts()
    assert len(session.outputs["region_tokens"]) == published  # no outputs
    assert after == before  # no frame taken in, none processed: no work

    assert session.lifecycle(TRANSITIONS["activate"])
    assert session.process(session.image(photo_like(48, 64), 12), keys=TOKENS)["region_tokens"].header.stamp.sec == 12
    assert session.counts()["processed"] > before["processed"]


def test_cleanup_gives_the_models_memory_back_and_configure_builds_them_again(session, rss_before_models):
    bring_to(session, "unconfigured")
    assert session.lifecycle(TRANSITIONS["configure"])
    configured = session.rss_mib()
    assert session.lifecycle(TRANSITIONS["cleanup"])
    cleaned_up = session.rss_mib()

    # measured from before the first configure: freed memory the allocator kept after an earlier
    # cleanup would otherwise count as already given back
    added, kept = configured - rss_before_models, cleaned_up - rss_before_models
    assert added > 100, f"the models took only {added:.0f} MiB: nothing to measure"
    assert kept < 0.5 * added, (f"after cleanup the node still holds {kept:.0f} of the {added:.0f} MiB the models "
                                f"took ({rss_before_models:.0f} -> {configured:.0f} -> {cleaned_up:.0f} MiB)")

    bring_to(session, "active")
    assert session.process(session.image(photo_like(48, 64), 20), keys=TOKENS)["region_tokens"].header.stamp.sec == 20
