"""Fixtures for the integrity tests: a real store file, events, and edits made with plain sqlite3."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from siem import event as ecs
from siem.store.sqlite import SqliteStore

NOW = time.time()


def make_event(index: int, age_days: float = 0.0, text: str | None = None) -> ecs.Event:
    """A syslog-like event ``age_days`` old with a stable id."""
    line = text if text is not None else f"<38>Nov 25 10:00:{index % 60:02d} gw sshd[{index}]: Failed password for root"
    return {
        ecs.TIMESTAMP: ecs.format_timestamp(NOW - age_days * 86400 + index / 1000),
        ecs.ID: f"evt-{index:05d}",
        ecs.DATASET: "linux.auth",
        ecs.ORIGINAL: line,
        ecs.HOST_NAME: "gw",
        ecs.LABEL_SITE: f"ward-{index % 3}",
        ecs.SOURCE_IP: f"203.0.113.{index % 250}",
    }


def tamper(path: Path, *statements: str) -> None:
    """Run SQL on the store file the way someone with the sqlite3 shell would."""
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A new store on disk with three sealed batches of ten events (seq 1-30, seals 1-3)."""
    opened = SqliteStore(tmp_path / "siem.db")
    for batch in range(3):
        opened.write([make_event(batch * 10 + index) for index in range(10)])
    yield opened
    opened.close()
