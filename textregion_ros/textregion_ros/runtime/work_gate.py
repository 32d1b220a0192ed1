"""Who may use the models right now: service calls enter, lifecycle transitions close and wait (ROS-free).

Why: the node's services live as long as the node, while its models come and go with configure and
cleanup. A call that arrives while the models are loaded enters; one that arrives before, or while they
are being loaded or released, is refused with the reason, and a transition that frees the models first
closes the gate and waits for the calls already inside, so no call ever runs on a closed engine and
nothing is destroyed under a call that is still answering.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator, Optional

NOT_CONFIGURED = "the node is not configured (no models loaded)"
LOADING = "the node is configuring: models are being loaded"
RELEASING = "the node is cleaning up: models are being released"


class WorkGate:
    """Counts the calls inside; `close` refuses new ones and waits for those inside to leave."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._inside = 0
        self._refusal: Optional[str] = NOT_CONFIGURED  # None: open
        self.refused = 0  # calls turned away since the node started
        self.entered = 0

    def open(self) -> None:
        with self._condition:
            self._refusal = None

    def refuse(self, reason: str) -> None:
        """Turn new calls away with `reason` (those inside go on)."""
        with self._condition:
            self._refusal = reason

    def close(self, reason: str, timeout: float = 30.0) -> bool:
        """Refuse new calls with `reason` and wait for those inside; False if some were still inside after `timeout`."""
        with self._condition:
            self._refusal = reason
            return self._condition.wait_for(lambda: self._inside == 0, timeout)

    @contextlib.contextmanager
    def entered_or_refused(self) -> Iterator[Optional[str]]:
        """`with gate.entered_or_refused() as refusal:` None inside an open gate, else why the call is refused."""
        with self._condition:
            refusal = self._refusal
            if refusal is None:
                self._inside += 1
                self.entered += 1
            else:
                self.refused += 1
        try:
            yield refusal
        finally:
            if refusal is None:
                with self._condition:
                    self._inside -= 1
                    self._condition.notify_all()
