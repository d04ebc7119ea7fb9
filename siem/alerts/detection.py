"""The pipeline's detect stage: the Sigma engine's matches as Alerts.

It also carries the engine's correlation state across restarts: ``state_checkpoints`` gives
what changed with each batch, which the pipeline commits with the batch's checkpoints, and
``restore`` loads it back before the first batch (``siem.detect.correlation_state``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from siem.alert import Alert
from siem.alerts.builder import alerts_from
from siem.detect.engine import Detections, Detector
from siem.event import Event


class AlertingDetector:
    """Runs batches through a Sigma ``Detector`` and turns its matches into alerts."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def detect(self, events: Sequence[Event]) -> list[Alert]:
        """Alerts of the rule and correlation matches in ``events`` (updates of earlier
        correlation matches included: they fold into the alert of the match they grow)."""
        return self._alerts(self.detector.detect(events))

    def detect_matched(self, events: Sequence[Event], hits: Iterable[tuple[int, list[int]]]) -> list[Alert]:
        """``detect`` for a batch whose single-event rule matches a worker process found
        (``Detector.match_batch``): correlations run here, in batch order."""
        return self._alerts(self.detector.detect_matched(events, hits))

    def rule_ids(self) -> tuple[str, ...]:
        """Ids of the loaded rules in the numbering ``detect_matched`` takes."""
        return self.detector.rule_ids()

    @staticmethod
    def _alerts(found: Detections) -> list[Alert]:
        if not found.matches and not found.correlations and not found.updates:
            return []
        return alerts_from(found.matches, [*found.correlations, *found.updates])

    def state_checkpoints(self) -> dict[str, str]:
        """Checkpoints of the detector state changed by the batches detected since the last call."""
        return self.detector.state_changes()

    def restore(self, read: Callable[[str], str | None]) -> bool:
        """Load the detector state from the store's checkpoints (``read``: name -> value)."""
        return self.detector.restore_state(read)
