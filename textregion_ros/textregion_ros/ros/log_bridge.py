"""The library's Python logging (tracker, object memory, engine) routed to the node's ROS logger.

Why: the ROS-free parts of the package log with `logging.getLogger(__name__)`; in a node those records
would go to Python's stderr only, so a warning such as the tracker's "observation stamps went back"
never reached /rosout, `ros2 launch` logs or rqt_console. `route_library_logging(node)` is called once at
start-up: every record of the `textregion_ros` loggers from then on is logged through the node's logger
(its severity, its /rosout), and no longer also printed by Python.
"""
from __future__ import annotations

import logging
from typing import Any

from rclpy.logging import LoggingSeverity

PACKAGE_LOGGER = "textregion_ros"
# Python level -> the ROS logger's method; anything above ERROR is FATAL.
_SEVERITY = ((logging.ERROR + 1, "fatal"), (logging.ERROR, "error"), (logging.WARNING, "warning"),
             (logging.INFO, "info"), (logging.NOTSET, "debug"))
_LEVEL_OF = {LoggingSeverity.DEBUG: logging.DEBUG, LoggingSeverity.INFO: logging.INFO,
             LoggingSeverity.WARN: logging.WARNING, LoggingSeverity.ERROR: logging.ERROR,
             LoggingSeverity.FATAL: logging.CRITICAL}


class RosLogHandler(logging.Handler):
    """Hands each record to a ROS logger at the matching severity (message formatted, no Python prefix)."""

    def __init__(self, ros_logger: Any) -> None:
        super().__init__()
        self.ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            method = next(name for level, name in _SEVERITY if record.levelno >= level)
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            self._log(method, f"[{record.name}] {text}")
        except Exception:  # a log line must never take the caller down
            self.handleError(record)

    def _log(self, method: str, text: str) -> None:
        # One call site per severity: rclpy keys a logger's context on its caller's line and refuses
        # ("Logger severity cannot be changed between calls") a second severity from the same line.
        logger = self.ros_logger
        if method == "debug":
            logger.debug(text)
        elif method == "info":
            logger.info(text)
        elif method == "warning":
            logger.warning(text)
        elif method == "error":
            logger.error(text)
        else:
            logger.fatal(text)


def route_library_logging(node: Any) -> RosLogHandler:
    """Route the package's Python logging to `node`'s logger (replacing an earlier node's route)."""
    package = logging.getLogger(PACKAGE_LOGGER)
    for handler in [h for h in package.handlers if isinstance(h, RosLogHandler)]:
        package.removeHandler(handler)
    ros_logger = node.get_logger()
    handler = RosLogHandler(ros_logger)
    package.addHandler(handler)
    package.setLevel(_LEVEL_OF.get(LoggingSeverity(ros_logger.get_effective_level()), logging.INFO))
    package.propagate = False  # said once, through ROS (which prints to the console as well)
    return handler
