"""The test harness keeps DDS on this machine and refuses ROS tests that would not."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from textregion_ros.tooling import local_dds

CONFTEST = Path(__file__).with_name("conftest.py")
ENGINE_FIXTURES = Path(__file__).with_name("engine_fixtures.py")


def _copy_harness(pytester: pytest.Pytester) -> None:
    """The real conftest.py (and the fixtures module it imports) into pytester's directory."""
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(engine_fixtures=ENGINE_FIXTURES.read_text())


def test_session_environment_confines_dds_to_this_machine() -> None:
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 1 <= int(os.environ["ROS_DOMAIN_ID"]) <= 101
    for name in local_dds.PROFILE_VARIABLES:
        profile = Path(os.environ[name]).read_text()
        assert "<segment_size>67108864</segment_size>" in profile
        assert "<address>127.0.0.1</address>" in profile
    local_dds.check(os.environ)


def test_concurrent_claims_get_different_domain_ids(tmp_path: Path) -> None:
    claims = [local_dds.claim(tmp_path) for _ in range(5)]
    try:
        assert len({claim.domain_id for claim in claims}) == 5
    finally:
        for claim in claims:
            claim.release()


def test_a_released_domain_id_can_be_claimed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_dds, "DOMAIN_IDS", range(7, 8))
    first = local_dds.claim(tmp_path)
    with pytest.raises(local_dds.DdsIsolationError, match="in use"):
        local_dds.claim(tmp_path)
    first.release()
    assert local_dds.claim(tmp_path).domain_id == 7


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("ROS_AUTOMATIC_DISCOVERY_RANGE", None, "ROS_AUTOMATIC_DISCOVERY_RANGE"),
        ("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET", "'SUBNET'"),
        ("ROS_DOMAIN_ID", None, "ROS_DOMAIN_ID"),
        ("ROS_DOMAIN_ID", "0", "ROS_DOMAIN_ID is '0'"),
        ("FASTRTPS_DEFAULT_PROFILES_FILE", None, "FASTRTPS_DEFAULT_PROFILES_FILE"),
        ("FASTDDS_DEFAULT_PROFILES_FILE", "/nonexistent.xml", "FASTDDS_DEFAULT_PROFILES_FILE"),
    ],
)
def test_check_names_what_is_missing(variable: str, value: str | None, complaint: str) -> None:
    environ = dict(os.environ)
    if value is None:
        environ.pop(variable)
    else:
        environ[variable] = value
    with pytest.raises(local_dds.DdsIsolationError, match=complaint):
        local_dds.check(environ)


def test_check_rejects_a_profile_without_the_large_shm_segment(tmp_path: Path) -> None:
    profile = tmp_path / "small.xml"
    profile.write_text("<profiles/>")
    environ = dict(os.environ, FASTRTPS_DEFAULT_PROFILES_FILE=str(profile))
    with pytest.raises(local_dds.DdsIsolationError, match="SHM segment"):
        local_dds.check(environ)


def test_harness_refuses_a_ros_test_after_the_discovery_range_was_removed(pytester: pytest.Pytester) -> None:
    _copy_harness(pytester)
    pytester.makepyfile(
        test_careless="""
        import os

        def test_talks_ros():
            os.environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)

        def test_uses_rclpy_afterwards():
            import rclpy  # would start DDS without the localhost range
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*refusing to start ROS*ROS_AUTOMATIC_DISCOVERY_RANGE is None*"])


def test_harness_marks_modules_that_use_rclpy_as_ros_tests(pytester: pytest.Pytester) -> None:
    _copy_harness(pytester)
    pytester.makepyfile(test_mod="def test_x():\n    import rclpy\n")
    result = pytester.runpytest_subprocess("-m", "ros", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_x*"])
