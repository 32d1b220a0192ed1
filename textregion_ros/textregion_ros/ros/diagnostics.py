"""/diagnostics messages from the node's health verdict (runtime/health.py holds the logic)."""
from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from ..runtime import health

LEVELS = {health.OK: DiagnosticStatus.OK, health.WARN: DiagnosticStatus.WARN, health.ERROR: DiagnosticStatus.ERROR}


def status_message(name: str, hardware_id: str, level: int, message: str, values: dict[str, str],
                   stamp) -> DiagnosticArray:
    """One DiagnosticStatus (level from runtime.health) with the values as KeyValues."""
    status = DiagnosticStatus(level=LEVELS[level], name=name, message=message, hardware_id=hardware_id)
    status.values = [KeyValue(key=key, value=str(value)) for key, value in values.items()]
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array


def frame_count_values(counts: Any) -> dict[str, str]:
    """/diagnostics' frame counters (frames_received, ...) from the frame worker's WorkerCounts."""
    return {f"frames_{name}": str(getattr(counts, name))
            for name in ("received", "processed", "rejected", "dropped", "failed")}

