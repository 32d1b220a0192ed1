"""Test harness: ROS in tests only ever runs confined to this machine, on a domain of its own.

At start-up the session claims a free ROS_DOMAIN_ID (lock file), exports
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a Fast DDS profile with a 64 MB shared-memory segment
under both profile variables, and every child process inherits them. Any test that touches ROS
(marked `ros`, automatically when its module mentions rclpy or the client harness) is refused, as an error, when the
environment no longer confines DDS, e.g. after a test removed a variable.
"""
from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Any, Callable

import pytest

from textregion_ros.tooling import local_dds

_ROS_WORDS = ("rclpy", "ros_harness", "node_session", "ros.client")  # rclpy itself, or the client harness
_claim: local_dds.LocalDds | None = None
_module_uses_ros: dict[str, bool] = {}


def pytest_configure(config: pytest.Config) -> None:
    global _claim
    config.addinivalue_line(
        "markers", "ros: starts ROS; refused unless DDS is confined to this machine (conftest.py)"
    )
    config.addinivalue_line("markers", "slow: builds real models end to end (minutes on CPU)")
    if _claim is None:
        _claim = local_dds.claim()
        _claim.apply()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _claim
    if _claim is not None:
        _claim.release()
        _claim = None


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"ROS: domain {os.environ.get('ROS_DOMAIN_ID')}, discovery range "
        f"{os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE')}, "
        f"profile {os.environ.get(local_dds.PROFILE_VARIABLES[0])}"
    )


def _mentions_ros(path: Path) -> bool:
    key = str(path)
    if key not in _module_uses_ros:
        text = path.read_text(errors="replace") if path.is_file() else ""
        _module_uses_ros[key] = any(word in text for word in _ROS_WORDS)
    return _module_uses_ros[key]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _mentions_ros(Path(str(item.fspath))):
            item.add_marker(pytest.mark.ros)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("ros") is None:
        return
    try:
        local_dds.check(os.environ)
    except local_dds.DdsIsolationError as error:
        pytest.fail(str(error), pytrace=False)


class NetworkGuard:
    """Refuses every host-name lookup and outgoing connection in this process and records the attempts.

    Tests of "no network" behaviour assert on `attempts` (e.g. that none happened) instead of on
    how long the code took, which depends on the machine's load.
    """

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def refusing(self, what: str, method: bool = False) -> Callable[..., Any]:
        """A stand-in for `what`; `method`: it is called with the socket object first, left out of the record."""
        def refuse(*args: Any, **kwargs: Any) -> Any:
            self.attempts.append(f"{what}{args[1:] if method else args!r}")
            raise OSError(errno.ENETUNREACH, f"network use refused by the test's network guard ({what})")
        return refuse


@pytest.fixture
def network_guard(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    """While the test runs, any socket connect or name lookup raises OSError and is recorded."""
    guard = NetworkGuard()
    monkeypatch.setattr(socket.socket, "connect", guard.refusing("socket.connect", method=True))
    monkeypatch.setattr(socket.socket, "connect_ex", guard.refusing("socket.connect_ex", method=True))
    monkeypatch.setattr(socket, "create_connection", guard.refusing("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", guard.refusing("socket.getaddrinfo"))
    monkeypatch.setattr(socket, "gethostbyname", guard.refusing("socket.gethostbyname"))
    return guard


# Session-wide real models with random weights (engine tests), see engine_fixtures.py.
from engine_fixtures import (  # noqa: E402,F401
    engine_factory,
    open_clip_models,
    pe_engine,
    sam2_tiny,
    siglip2_tokenizer_dir,
)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server in a temp folder for the whole session (tooling/postgres_server.py); stopped at the end.

    Skipped, with the reason, where the package is not installed, except in CI (CI=true), where the
    set-up must have installed it and its absence is an error."""
    from textregion_ros.tooling.postgres_server import PostgresServer, postgres_bin

    if postgres_bin() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI: PostgreSQL is not installed (scripts/install_test_services.sh installs it)")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    server = PostgresServer()
    yield server
    server.stop()
