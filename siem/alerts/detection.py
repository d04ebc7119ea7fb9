"""The pipeline's detect stage: the Sigma engine's matches as Alerts."""

from __future__ import annotations

from collections.abc import Sequence

from siem.alert import Alert
from siem.alerts.builder import alerts_from
from siem.detect.engine import Detector
from siem.event import Event


class AlertingDetector:
    """Runs batches through a Sigma ``Detector`` and turns its matches into alerts."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def detect(self, events: Sequence[Event]) -> list[Alert]:
        """Alerts of the rule and correlation matches in ``events``."""
        found = self.detector.detect(events)
        if not found.matches and not found.correlations:
            return []
        return alerts_from(found.matches, found.correlations)

