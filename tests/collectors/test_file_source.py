"""File tailing through the real pipeline into a real SQLite store: checkpoints and rotation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.registry import create_parser
from collectors.sources.contract import SourceOptions
from collectors.sources.file import FileSource
from siem import event as ecs
from siem.config import Config, PipelineConfig
from siem.pipeline import Pipeline
from siem.store.base import EventQuery, Store
from siem.store.factory import open_store
from tests.collectors.waiting import wait_until


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = open_store(Config(data_dir=str(data_dir)), data_dir)
    yield opened
    opened.close()


def lines(start: int, count: int) -> str:
    return "".join(f"Nov 25 10:00:00 host app[1]: line {n}\n" for n in range(start, start + count))


def messages(store: Store) -> list[str]:
    return sorted(e[ecs.MESSAGE] for e in store.search(EventQuery(limit=100_000)))


def start_tail(store: Store, pattern: str) -> Pipeline:
    pipeline = Pipeline(store, create_parser, config=PipelineConfig(flush_interval=0.05))
    pipeline.start()
    source = FileSource(SourceOptions(name="logs", kind="file", paths=(pattern,), poll_interval=0.05))
    pipeline.add_source(source, spooled=False)
    return pipeline


def test_tail_follows_rename_and_copytruncate_rotation(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(lines(0, 10))
    pipeline = start_tail(store, str(tmp_path / "*.log"))
    try:
        wait_until(lambda: store.count(EventQuery()) == 10)
        with log.open("a") as handle:  # a partial line is not read until it is complete
            handle.write(lines(10, 5) + "Nov 25 10:00:00 host app[1]: line 1")
            handle.flush()
            wait_until(lambda: store.count(EventQuery()) == 15)
            handle.write("5\n")
        wait_until(lambda: store.count(EventQuery()) == 16)
        # logrotate "create": rename, the writer still appends to the old file, a new file appears
        rotated = tmp_path / "app.log.1"
        os.rename(log, rotated)
        with rotated.open("a") as handle:
            handle.write(lines(16, 4))
        log.write_text(lines(20, 5))
        wait_until(lambda: store.count(EventQuery()) == 25)
        # logrotate "copytruncate": copy away, truncate in place, keep writing
        (tmp_path / "app.log.2.gz").write_bytes(log.read_bytes())
        with log.open("r+") as handle:
            handle.truncate(0)
        with log.open("a") as handle:
            handle.write(lines(25, 3))
        wait_until(lambda: store.count(EventQuery()) == 28)
    finally:
        pipeline.stop()
    assert messages(store) == sorted(f"line {n}" for n in range(28))


def test_restart_resumes_from_the_committed_offset(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text(lines(0, 50))
    pipeline = start_tail(store, str(log))
    wait_until(lambda: store.count(EventQuery()) == 50)
    pipeline.stop()
    device_inode_offset = store.checkpoint(f"file:{log}")
    assert device_inode_offset is not None
    assert device_inode_offset.endswith(f":{log.stat().st_size}")
    with log.open("a") as handle:
        handle.write(lines(50, 7))
    pipeline = start_tail(store, str(log))
    wait_until(lambda: store.count(EventQuery()) == 57)
    pipeline.stop()
    # Resumed at the offset: the first 50 lines were not even read again.
    assert pipeline.totals.records == 7
    assert pipeline.totals.duplicates == 0


def test_long_lines_are_truncated_and_invalid_utf8_kept(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "odd.log"
    log.write_bytes(b"Nov 25 10:00:00 host app: " + b"x" * 300 + b"\nNov 25 10:00:00 host app: \xff\xfe\nlast")
    pipeline = Pipeline(store, create_parser, config=PipelineConfig(flush_interval=0.05))
    pipeline.start()
    options = SourceOptions(name="once", kind="file", paths=(str(log),), follow=False, max_message_bytes=100)
    pipeline.add_source(FileSource(options), spooled=False)
    wait_until(lambda: not pipeline.sources_running())
    pipeline.stop()
    events = sorted(store.search(EventQuery(limit=10)), key=lambda e: len(e[ecs.ORIGINAL]))
    assert len(events) == 3
    assert events[0][ecs.DATASET] == ecs.UNKNOWN_DATASET  # "last": not syslog, kept with a reason
    assert "\ufffd" in events[1][ecs.ORIGINAL]
    assert events[2].get("event.truncated") is True
    assert len(events[2][ecs.ORIGINAL]) == 100


def test_restart_finishes_a_file_rotated_while_stopped(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    log.write_text(lines(0, 5))
    pipeline = start_tail(store, str(log))
    wait_until(lambda: store.count(EventQuery()) == 5)
    pipeline.stop()
    with log.open("a") as handle:  # written after the stop, then rotated away
        handle.write(lines(5, 3))
    os.rename(log, tmp_path / "syslog.1")
    log.write_text(lines(8, 2))
    pipeline = start_tail(store, str(log))
    wait_until(lambda: store.count(EventQuery()) == 10)
    pipeline.stop()
    assert messages(store) == sorted(f"line {n}" for n in range(10))
    assert pipeline.totals.duplicates == 0
