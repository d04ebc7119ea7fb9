"""The optional stages a pipeline can be given: enrichers and a detector.

Small contracts (one method each) so the asset inventory, GeoIP and the Sigma engine plug in
without the pipeline knowing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from siem.alert import Alert
from siem.enrich.base import Enricher
from siem.event import Event

__all__ = ["AlertSink", "Detector", "Enricher", "Matcher"]


class Detector(Protocol):
    """Finds alerts in a batch of (enriched) events."""

    def detect(self, events: Sequence[Event]) -> list[Alert]:
        """Alerts for the batch, in any order; an empty list when nothing matched."""
        ...


class Matcher(Protocol):
    """Single-event rule matching, stateless: what a worker process runs (``Detector.match_batch``)."""

    def match_batch(self, events: Sequence[Event]) -> list[tuple[int, list[int]]]:
        """``(offset, rule numbers)`` of each event of the batch that some rule matched."""
        ...

    def rule_ids(self) -> tuple[str, ...]:
        """Ids of the rules in the numbering ``match_batch`` uses."""
        ...


class AlertSink(Protocol):
    """Takes the alerts of a batch once its events are stored (grouping, incidents, e-mail)."""

    def handle(self, alerts: Sequence[Alert]) -> None:
        """Process alerts; must be idempotent, since a replay after a crash repeats them."""
        ...
