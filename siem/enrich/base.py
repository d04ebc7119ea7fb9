"""The Enricher contract: add fields to an event in place."""

from __future__ import annotations

from typing import Protocol

from siem.event import Event


class Enricher(Protocol):
    """Adds context to an event (in place); must be cheap, it runs on every event."""

    def enrich(self, event: Event) -> None:
        """Add fields to ``event``."""
        ...
