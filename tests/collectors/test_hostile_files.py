"""Hostile files for the file source (issue 8), through the real pipeline into a real SQLite
store: a gzip bomb and a truncated gzip among rotated files, a 10 MB line, and a path replaced
by a fifo, a directory or a symbolic-link loop. Nothing hangs; the rest is read; cuts are counted."""

from __future__ import annotations

import gzip
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import root
from collectors.registry import create_parser
from collectors.sources.contract import SourceOptions
from collectors.sources.file import FileSource, open_regular
from collectors.sources.gzipped import RATIO_FLOOR
from siem import event as ecs
from siem.config import Config, PipelineConfig
from siem.errors import SourceError
from siem.pipeline import Pipeline
from siem.store.base import EventQuery, Store
from siem.store.factory import open_store
from tests.collectors.waiting import wait_until

LIMIT = 65536


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = open_store(Config(data_dir=str(data_dir)), data_dir)
    yield opened
    opened.close()


def lines(name: str, count: int) -> bytes:
    return b"".join(b"Nov 25 10:00:00 host app[1]: %s %d\n" % (name.encode(), n) for n in range(count))


def messages(store: Store) -> list[str]:
    return sorted(str(e.get(ecs.MESSAGE, e.get(ecs.ORIGINAL))) for e in store.search(EventQuery(limit=100_000)))


def start(store: Store, pattern: str, **options: object) -> Pipeline:
    pipeline = Pipeline(store, create_parser, config=PipelineConfig(flush_interval=0.05))
    pipeline.start()
    source = FileSource(SourceOptions(name="logs", kind="file", paths=(pattern,), poll_interval=0.05, **options))  # type: ignore[arg-type]
    pipeline.add_source(source, spooled=False)
    return pipeline


def test_gzip_bomb_and_truncated_gzip_among_rotated_files(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "app.log").write_bytes(lines("live", 3))
    (tmp_path / "app.log.1").write_bytes(lines("one", 3))
    (tmp_path / "app.log.2.gz").write_bytes(gzip.compress(lines("two", 3)))
    bomb = gzip.compress(b"\0" * (10 * 1024 * 1024), 9)  # 10 MB of zeros in about 10 KB
    (tmp_path / "app.log.3.gz").write_bytes(bomb)
    whole = gzip.compress(lines("four", 20000))
    (tmp_path / "app.log.4.gz").write_bytes(whole[: len(whole) // 2])  # cut in the middle
    caplog.set_level(logging.WARNING, logger="collectors.sources.file")
    pipeline = start(store, str(tmp_path / "app.log*"))
    try:
        wait_until(lambda: pipeline.counters.source("logs").rejected == 3)  # bomb line, bomb, damage
        with (tmp_path / "app.log").open("ab") as handle:  # the live file is still followed
            handle.write(b"Nov 25 10:00:00 host app[1]: after the bomb\n")
        wait_until(lambda: "after the bomb" in messages(store))
        stored = pipeline.totals.written
        time.sleep(0.5)  # ten more polls: the compressed files are not read again
        assert pipeline.totals.written == stored
    finally:
        pipeline.stop()
    found = messages(store)
    for name in ("live", "one", "two"):
        assert [m for m in found if m.startswith(f"{name} ")] == [f"{name} {n}" for n in range(3)]
    four = [m for m in found if m.startswith("four ")]
    assert 1000 < len(four) < 20000  # what came before the damage
    numbers = {int(m.split()[1]) for m in four}
    assert set(range(len(four) - 1)) <= numbers  # the lines in order, and perhaps a partial last one
    nul_records = [e for e in store.search(EventQuery(limit=100_000)) if e.get("event.truncated")]
    assert len(nul_records) == 1  # the bomb's one (endless) line, cut at the message limit
    warnings = "\n".join(record.getMessage() for record in caplog.records)
    assert f"{tmp_path / 'app.log.3.gz'}: gzip file expands beyond {200 * len(bomb):,} bytes" in warnings
    assert f"{tmp_path / 'app.log.4.gz'}: damaged gzip file" in warnings
    [stats] = [s for s in store.source_stats() if s.source == "logs"]
    assert stats.rejected == 3  # saved for 'siem status'


def test_gzip_size_limit_keeps_the_lines_before_it(store: Store, tmp_path: Path) -> None:
    content = lines("line", 30000)  # about 1.2 MB of ordinary log
    (tmp_path / "big.log.1.gz").write_bytes(gzip.compress(content))
    pipeline = start(store, str(tmp_path / "*.gz"), follow=False, max_gzip_bytes=200_000)
    wait_until(lambda: not pipeline.sources_running())
    pipeline.stop()
    kept = content[:200_000].count(b"\n")
    found = messages(store)
    assert [m for m in found if m.split()[-1].isdigit()][:1] == ["line 0"]
    assert len(found) in (kept, kept + 1)  # the line cut by the limit is kept as far as it came
    assert store.source_stats()[0].rejected == 1


def test_compressed_file_resumes_from_its_checkpoint(store: Store, tmp_path: Path) -> None:
    (tmp_path / "app.log.2.gz").write_bytes(gzip.compress(lines("two", 50)))
    for _ in range(2):
        pipeline = start(store, str(tmp_path / "*.gz"))
        wait_until(lambda: store.count(EventQuery()) == 50)
        time.sleep(0.2)
        pipeline.stop()
    assert pipeline.totals.records == 0  # the second run starts at the committed offset: at the end
    assert RATIO_FLOOR == 1024 * 1024


def test_ten_megabyte_line_in_a_file(store: Store, data_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "huge.log"
    log.write_bytes(lines("before", 1) + b"Nov 25 10:00:00 host app[1]: " + b"z" * (10 * 1024 * 1024) + b"\n"
                    + lines("after", 1))  # fmt: skip
    pipeline = start(store, str(log))
    try:
        wait_until(lambda: store.count(EventQuery()) == 3)
    finally:
        pipeline.stop()
    events = list(store.search(EventQuery(limit=10)))
    [cut] = [e for e in events if e.get("event.truncated")]
    assert len(str(cut[ecs.ORIGINAL])) == LIMIT
    assert {"before 0", "after 0"} <= set(messages(store))
    assert store.source_stats()[0].rejected == 1
    status = CliRunner().invoke(root, ["--data-dir", str(data_dir), "status", "--json"])
    assert status.exit_code == 0, status.output
    assert [(s["source"], s["rejected"]) for s in json.loads(status.stdout)["sources"]] == [("logs", 1)]


def test_path_replaced_by_fifo_directory_and_symlink_loop(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(lines("first", 2))
    pipeline = start(store, str(log))
    try:
        wait_until(lambda: store.count(EventQuery()) == 2)
        replacements: list[Callable[[], None]] = [
            lambda: os.mkfifo(log), lambda: log.mkdir(), lambda: log.symlink_to(log.name)
        ]
        for replace in replacements:
            if log.is_dir():
                log.rmdir()
            else:
                log.unlink()
            replace()
            time.sleep(0.3)  # a few polls see the odd file
            assert pipeline.sources_running()
        log.unlink()
        log.write_bytes(lines("second", 2))  # a regular file again: read from its start
        wait_until(lambda: store.count(EventQuery()) == 4)
    finally:
        pipeline.stop()
    assert messages(store) == ["first 0", "first 1", "second 0", "second 1"]


def test_opening_odd_files_never_blocks(tmp_path: Path) -> None:
    fifo, loop, directory = tmp_path / "fifo", tmp_path / "loop", tmp_path / "dir"
    os.mkfifo(fifo)
    loop.symlink_to(loop.name)
    directory.mkdir()
    errors: dict[str, str] = {}

    def try_all() -> None:
        for path in (fifo, loop, directory):
            try:
                open_regular(path).close()
            except OSError as exc:
                errors[path.name] = str(exc)

    opener = threading.Thread(target=try_all, daemon=True)
    opener.start()
    opener.join(5)
    assert not opener.is_alive(), "opening a fifo blocked"
    assert "a fifo, not a regular file" in errors["fifo"]
    assert "Too many levels of symbolic links" in errors["loop"]
    assert "directory" in errors["dir"].lower()


def test_ingest_names_odd_paths_clearly(data_dir: Path, tmp_path: Path) -> None:
    loop = tmp_path / "loop.log"
    loop.symlink_to(loop.name)
    result = CliRunner().invoke(root, ["--data-dir", str(data_dir), "ingest", str(loop)])
    assert isinstance(result.exception, SourceError)
    assert f"no file matches {loop}" in str(result.exception)
