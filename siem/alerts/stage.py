"""The alert stage: grouping, suppression and incidents (AlertService), then e-mail.

The pipeline hands each stored batch's alerts to ``AlertStage.handle``; new groups and
reopened or escalated incidents go to the e-mail dispatcher, whose outbox a background
``MailPump`` drains (SMTP can block for its whole timeout, so it never runs on the writer).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from siem.alert import Alert
from siem.alerts.service import AlertService
from siem.notify.dispatcher import EmailDispatcher

log = logging.getLogger(__name__)


class AlertStage:
    """Alert sink of the pipeline: folds alerts into groups and incidents, queues mail."""

    def __init__(self, service: AlertService, dispatcher: EmailDispatcher | None = None) -> None:
        self.service = service
        self.dispatcher = dispatcher

    def handle(self, alerts: Sequence[Alert]) -> None:
        """Process one batch's alerts (idempotent: replayed alerts are duplicates)."""
        result = self.service.process(alerts)
        if self.dispatcher is None:
            return
        if result.to_notify:
            self.dispatcher.submit(result.to_notify, result.incident_ids)
        if result.recovered:  # a replay after a crash: mail that may not have been queued
            self.dispatcher.submit(result.recovered, result.incident_ids, urgent_only=True)


class MailPump:
    """Calls ``dispatcher.tick()`` every ``interval`` seconds in a thread until stopped."""

    def __init__(self, dispatcher: EmailDispatcher, interval: float = 5.0) -> None:
        self.dispatcher = dispatcher
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mail-pump", daemon=True)

    def start(self) -> None:
        """Start sending in the background."""
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._tick()

    def _tick(self) -> None:
        try:
            report = self.dispatcher.tick()
        except Exception:  # a mail problem must never stop the SIEM; it is logged and retried
            log.exception("e-mail delivery failed; will retry")
            return
        if report is not None and report.error:
            log.warning("e-mail delivery: %s", report.error)

    def stop(self, *, flush: bool = True) -> None:
        """Stop the thread; with ``flush``, turn digests into mail and try one last delivery."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if flush:
            self.dispatcher.flush()
            self._tick()
