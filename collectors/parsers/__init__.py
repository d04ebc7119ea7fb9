"""Parsers: one format or vendor per module (its RFC or vendor document cited at the top).

A parser has a ``name`` and ``parse(record) -> list[Event]`` (``collectors.base.Parser``) and
raises ``siem.errors.ParseError`` with the reason when the record is not its format. A vendor
whose logs arrive inside syslog also offers ``parse_message(message, event, *, tz, received) -> None``: it adds
its fields to the event the syslog envelope parser made (``collectors/parsers/auto.py`` routes
the message to it). Parsers are registered by name in ``collectors/registry.py``.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Protocol

from siem.event import Event


class MessageParser(Protocol):
    """Adds vendor fields to an event whose syslog envelope is already parsed."""

    def __call__(self, message: str, event: Event, *, tz: tzinfo = ..., received: float | None = None) -> None:
        """Fill ``event`` from ``message``; raise ParseError when the message is not ours."""
        ...
