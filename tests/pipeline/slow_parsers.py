"""Parser factories for the worker-process tests, in a module of their own: a spawned worker
imports the module a factory lives in, and this one is light (no pytest, no test module)."""

from __future__ import annotations

import time

from collectors.base import Parser, RawRecord
from collectors.registry import create_parser
from siem.event import Event


class SlowParser:
    """The real auto-detecting parser, slowed down (a busy worker), so a test can act mid-run."""

    name = "slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.parser = create_parser("auto")

    def parse(self, record: RawRecord) -> list[Event]:
        time.sleep(self.delay)
        return self.parser.parse(record)


def slow_parsers(name: str) -> Parser:
    """The auto parser at 0.5 ms per record."""
    del name
    return SlowParser(0.0005)


class SleepingParser:
    """Sleeps as many milliseconds as the record's text says, then gives one event."""

    name = "sleeping"

    def parse(self, record: RawRecord) -> list[Event]:
        time.sleep(int(record.text) / 1000)
        return [{"event.id": record.key, "event.dataset": "test", "message": record.text}]


def sleeping_parsers(name: str) -> Parser:
    """A ``SleepingParser`` for any format."""
    del name
    return SleepingParser()
