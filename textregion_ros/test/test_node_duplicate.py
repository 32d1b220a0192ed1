"""A second node with the same name and namespace is said in the log and /diagnostics (ERROR), over real DDS.

ROS 2 does not stop two nodes of one name: every output is then published twice and a service call
reaches one of them. Both nodes here stay unconfigured (no models), which is enough: the check runs at
activation and with every diagnostics message.
"""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus

from node_session import NodeSession
from ros_harness import node_process

NAME = "textregion_twin"


def test_a_second_node_with_the_same_name_is_reported_as_an_error():
    with NodeSession(name=NAME, subscribe_outputs=False, autostart=False) as session:
        session.spin_until(lambda: session.value("state") == "unconfigured", 60, "the first node")
        assert "another node named" not in session.status()["_message"]
        with node_process(NAME, autostart=False) as twin:
            status = session.status_when(lambda s: "another node named /textregion_twin" in s["_message"], 60,
                                         "diagnostics naming the duplicate")
            assert status["_level"] == DiagnosticStatus.ERROR
            session.spin_until(lambda: "another node named /textregion_twin is running" in session.child.log_text()
                               and "another node named /textregion_twin is running" in twin.log_text(), 30,
                               "both nodes to log the duplicate")
