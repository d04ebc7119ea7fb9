"""The buffer alarm and the forwarder's state file (what ``siem status`` shows on a ward).

Ticked by ``siem run --role forwarder`` twice a second: when the buffer passes
``forwarder.alarm_percent`` a warning is logged once and the alarm counter grows; the alarm
clears when the fill drops below nine tenths of the threshold. The state is written to
``<data_dir>/forward-buffer/state.json`` (replaced atomically) for ``siem status``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from siem.forward.outbox import Outbox, format_position
from siem.forward.sender import LinkState
from siem.forward.sink import BufferSink
from siem.forward.status import STATE_FILE, read_state

log = logging.getLogger(__name__)


class BufferMonitor:
    """Raises the buffer alarm and saves the state file; see the module docstring."""

    def __init__(self, outbox: Outbox, sink: BufferSink, link: LinkState, *, alarm_percent: int) -> None:
        self.outbox = outbox
        self.sink = sink
        self.link = link
        self.alarm_percent = alarm_percent
        self.path = outbox.directory / STATE_FILE
        saved = read_state(outbox.directory.parent) or {}
        self.alarms = int(saved.get("alarms", 0) or 0)
        self.alarm = False

    def tick(self) -> None:
        """Check the fill level and save the state."""
        percent = self.outbox.fill() * 100
        if not self.alarm and percent >= self.alarm_percent:
            self.alarm = True
            self.alarms += 1
            log.warning(
                "forwarder buffer %.0f%% full (%s KB of %s KB; alarm at %d%%): the centre at %s is not taking events",
                percent,
                f"{self.outbox.held_bytes // 1024:,}",
                f"{self.outbox.max_bytes // 1024:,}",
                self.alarm_percent,
                self.link.central,
            )
        elif self.alarm and percent < self.alarm_percent * 0.9:
            self.alarm = False
            log.warning("forwarder buffer back to %.0f%% full; alarm cleared", percent)
        self.save(percent)

    def document(self, percent: float) -> dict[str, Any]:
        """The state as saved."""
        link = self.link
        return {
            "central": link.central,
            "connected": link.connected,
            "last_error": link.last_error,
            "down_since": link.down_since,
            "connects": link.connects,
            "sent_batches": link.sent_batches,
            "acked_batches": link.acked_batches,
            "acked_events": link.acked_events,
            "last_ack_at": link.last_ack_at,
            "acked_position": format_position(self.outbox.acked),
            "buffer_bytes": self.outbox.held_bytes,
            "buffer_max_bytes": self.outbox.max_bytes,
            "buffer_percent": round(percent, 1),
            "alarm_percent": self.alarm_percent,
            "alarm": self.alarm,
            "alarms": self.alarms,
            "full": self.sink.full,
            "full_waits": self.sink.full_waits,
            "updated_at": time.time(),
        }

    def save(self, percent: float | None = None) -> None:
        """Write the state file (a failure is logged, not raised)."""
        if percent is None:
            percent = self.outbox.fill() * 100
        temporary = self.path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(self.document(percent)))
            os.replace(temporary, self.path)
        except OSError as exc:
            log.warning("cannot save the forwarder state %s: %s", self.path, exc.strerror)
