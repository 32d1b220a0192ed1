"""/diagnostics messages from the node's health verdict (runtime/health.py holds the logic)."""
from __future__ import annotations

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
