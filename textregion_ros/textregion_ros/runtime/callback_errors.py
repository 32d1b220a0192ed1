"""Exceptions that callbacks raised into the executor loop: each logged once, counted, never fatal.

The executor guard (ros/node_main.spin_guarded) hands every exception here instead of letting it end the
process; /diagnostics shows the total and reports ERROR while one is recent (health.EventWindow).
"""
from __future__ import annotations

import collections
import traceback
from typing import Callable

from .health import EventWindow, ProblemLog


class CallbackErrors:
    """The node's record of callback exceptions: a window of recent ones plus the logging rule."""

    def __init__(self, problems: ProblemLog, log_error: Callable[[str], None]) -> None:
        self.window = EventWindow()
        self._problems = problems
        self._log_error = log_error
        self._seen: collections.deque[BaseException] = collections.deque(maxlen=16)

    def failed(self, error: BaseException) -> None:
        """Count `error`; the first of its kind is logged with its traceback, repeats only counted."""
        if any(seen is error for seen in self._seen):
            return  # rclpy's executor may raise one task's exception more than once
        self._seen.append(error)
        self.window.tick()
        key = f"callback-{type(error).__name__}-{str(error)[:60]}"
        if self._problems.report(key, f"a callback raised {type(error).__name__}: {error}"):
            trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            self._log_error(f"a callback raised {type(error).__name__}: {error}; the node goes on "
                            f"(repeats are counted in /diagnostics)\n{trace}")
