"""The library's Python logging through a real rclpy logger (ros/log_bridge.py)."""
from __future__ import annotations

import logging

from rclpy.logging import get_logger

from textregion_ros.ros.log_bridge import RosLogHandler


class RecordingHandler(RosLogHandler):
    """RosLogHandler that keeps the records it could not hand to ROS instead of printing them."""

    def __init__(self, ros_logger) -> None:
        super().__init__(ros_logger)
        self.failed: list[logging.LogRecord] = []

    def handleError(self, record: logging.LogRecord) -> None:
        self.failed.append(record)


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("textregion_ros.objects.tracking", level, __file__, 1, message, (), None)


def test_records_of_every_severity_reach_one_ros_logger_in_any_order():
    # rclpy refuses a second severity from one call site; an INFO after a WARNING once failed here
    handler = RecordingHandler(get_logger("textregion_log_bridge_test"))
    for level in (logging.WARNING, logging.INFO, logging.ERROR, logging.DEBUG, logging.INFO, logging.CRITICAL,
                  logging.WARNING):
        handler.emit(record(level, f"level {level}"))
    assert not handler.failed, [r.getMessage() for r in handler.failed]
