"""Worker processes for parse, enrich and match (``pipeline.workers``): real processes, a real
SQLite store, real file and TCP sources, the project's Sigma rules (a base rule and the camera
brute-force correlation on it).

Each worker is a spawned interpreter, so a test pays about a second per start on a busy machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from collectors.base import RawRecord
from collectors.registry import create_parser
from collectors.sources.contract import SourceOptions
from collectors.sources.file import FileSource
from collectors.sources.syslog import create_source
from siem.app import PROJECT_ROOT, App
from siem.commands.run import make_pipeline
from siem.config import Config, DetectionConfig, PipelineConfig, SourceConfig, load_config
from siem.detect import correlation_state
from siem.detect.correlation import SHARDS
from siem.errors import ConfigError, PluginError, StoreError, WorkerError
from siem.event import Event
from siem.pipeline import Pipeline
from siem.pipeline.stages import PickledStages
from siem.pipeline.workers import WorkerPool
from siem.store.base import EventQuery, Store, WriteResult
from siem.store.factory import open_store
from siem.store.sqlite import SqliteStore
from tests.pipeline.slow_parsers import sleeping_parsers, slow_parsers

BRUTE_FORCE_RULE = "cd3f50e7-28d7-43b1-84c0-1476ea6f5efa"  # rules/authentication/auth_camera_brute_force.yml


def auth_log(lines: int) -> str:
    """Camera sshd failures from 7 addresses (the brute-force correlation fires), ufw blocks
    and plain lines, one second apart."""
    out = []
    for n in range(lines):
        stamp = f"Nov 25 10:{n // 60 % 60:02d}:{n % 60:02d}"
        kind = n % 3
        if kind == 0:
            address = f"203.0.113.{n % 7}"
            out.append(f"{stamp} cam-w3-001 sshd[{n}]: Failed password for admin from {address} port 52144 ssh2")
        elif kind == 1:
            out.append(f"{stamp} fw1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.{n % 250} DST=10.2.3.4"
                       f" LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID={n} DF PROTO=TCP SPT=40000 DPT=23 SYN URGP=0")
        else:
            out.append(f"{stamp} host app[7]: line {n}")
    return "\n".join(out) + "\n"


def worker_processes() -> list[int]:
    """Pids of this process's children that are multiprocessing workers (not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"multiprocessing.spawn" in cmdline:
            found.append(int(entry.name))
    return found


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def ingest(log: Path, data_dir: Path, workers: int) -> dict[str, Any]:
    """Run ``log`` through the pipeline ``siem ingest`` builds (rules, inventory labels, alert
    stage) into a fresh store; return what was stored.

    The file is queued before the processing starts, so batches have the same bounds in both
    modes: the correlation clock (saved with the checkpoints) then matches to the second.
    """
    config = Config(
        data_dir=str(data_dir),
        sources=(SourceConfig(type="file", name="cams", paths=(str(log),), zone="camera"),),
        pipeline=PipelineConfig(queue_size=5000, batch_size=100, flush_interval=0.05, workers=workers),
        detection=DetectionConfig(rules=(str(PROJECT_ROOT / "rules"),)),
    )
    app = App(config=config)
    try:
        pipeline = make_pipeline(app, spool=False)
        options = SourceOptions(name="cams", kind="file", paths=(str(log),), follow=False)
        pipeline.add_source(app.create_source(options), spooled=False)
        assert wait_until(lambda: not pipeline.sources_running())
        pipeline.start()
        pids = pipeline.worker_pids
        assert len(pids) == workers
        assert pipeline.wait_idle(60)
        pipeline.stop()
        assert not worker_processes(), "stop leaves no worker process"
        assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        store = app.store
        events = {e["event.id"]: {k: v for k, v in e.items() if k != "event.created"} for e in store.scan(EventQuery())}
        names = [f"file:{log}", correlation_state.HEADER, *map(correlation_state.shard_name, range(SHARDS))]
        return {
            "events": events,
            "alerts": sorted(store.alerts(limit=100_000), key=lambda alert: alert.id),
            "checkpoints": {name: value for name in names if (value := store.checkpoint(name)) is not None},
            "totals": pipeline.totals,
        }
    finally:
        app.close()


def test_two_workers_store_the_same_events_alerts_and_checkpoints_as_the_thread(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text(auth_log(1500))
    one = ingest(log, tmp_path / "thread", workers=0)
    two = ingest(log, tmp_path / "workers", workers=2)
    assert len(one["events"]) == 1500
    assert {alert.rule_id for alert in one["alerts"]} >= {BRUTE_FORCE_RULE}, "the correlation fired"
    assert correlation_state.HEADER in one["checkpoints"] and f"file:{log}" in one["checkpoints"]
    assert two["events"] == one["events"]
    assert two["alerts"] == one["alerts"]
    assert two["checkpoints"] == one["checkpoints"]
    assert two["totals"] == one["totals"]


def test_a_killed_worker_stops_the_pipeline_and_a_restart_stores_exactly_what_was_received(
    data_dir: Path,
) -> None:
    total = 2000
    lines = [b"<13>Nov 25 10:00:00 host app[1]: line %06d" % n for n in range(total)]
    config = PipelineConfig(batch_size=50, flush_interval=0.05, workers=2)
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        pipeline = Pipeline(store, slow_parsers, config=config, spool_dir=data_dir / "spool")
        pipeline.start()
        source = create_source(SourceOptions(name="tcp-in", transport="tcp", port=0))
        pipeline.add_source(source, spooled=True)
        with socket.create_connection(("127.0.0.1", source.port)) as sender:
            sender.sendall(b"\n".join(lines) + b"\n")
            assert wait_until(lambda: pipeline.counters.snapshot()[0].received == total), "all spooled"
        assert wait_until(lambda: pipeline.totals.written > 0)
        os.kill(pipeline.worker_pids[0], signal.SIGKILL)
        assert wait_until(lambda: pipeline.failure is not None, timeout=10)
        with pytest.raises(WorkerError, match="killed by signal 9"):
            pipeline.stop()
        assert not worker_processes()
        stored = store.count(EventQuery())
        assert 0 < stored < total, "killed mid-run"

        again = Pipeline(store, slow_parsers, config=config, spool_dir=data_dir / "spool")
        again.start()  # replays what the spool holds beyond the last commit
        assert again.wait_idle(60)
        again.stop()
        assert not worker_processes()
        messages = sorted(event["message"].encode() for event in store.scan(EventQuery()))
        assert messages == [line.split(b": ", 1)[1] for line in lines]
    finally:
        store.close()


def test_siem_ingest_with_workers_from_the_command_line(tmp_path: Path) -> None:
    """The command line as users run it: the workers are spawned from ``cli.py`` as main."""
    log = tmp_path / "auth.log"
    night = "".join(f"Nov 25 22:00:0{n} bastion sshd[4{n}]: Accepted password for admin from 203.0.113.5 port"
                    f" 5214{n} ssh2\n" for n in range(3))  # the off-hours admin login rule fires on each
    log.write_text(auth_log(600) + night)
    config = tmp_path / "siem.yaml"
    config.write_text(f"pipeline:\n  workers: 2\ndetection:\n  rules: [{PROJECT_ROOT / 'rules'}]\n")
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), "--config", str(config), "--data-dir", str(tmp_path / "data"),
         "ingest", "--json", str(log)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["stored"], summary["parse_failures"], summary["alerts"]) == (603, 0, 3)


def zeek_conn_log(lines: int) -> str:
    """A Zeek TSV conn.log: the header names the columns once, for every line after it."""
    header = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tconn",
              "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tconn_state",
              "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tstring"]
    rows = [f"{1795600800 + n}.000000\tC{n:05d}\t10.2.0.{n % 250}\t{40000 + n}\t198.51.100.7\t443\ttcp\tssl\tSF"
            for n in range(lines)]
    return "\n".join(header + rows) + "\n"


def stored_from_file(data_dir: Path, log: Path, fmt: str, workers: int) -> dict[str, dict[str, Any]]:
    """The events (less their wall-clock ``event.created``) of ``log`` read into a fresh store."""
    data_dir.mkdir()
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        pipeline = Pipeline(store, create_parser, config=PipelineConfig(batch_size=20, workers=workers))
        options = SourceOptions(name="file", kind="file", paths=(str(log),), format=fmt, follow=False)
        pipeline.add_source(FileSource(options), spooled=False)
        assert wait_until(lambda: not pipeline.sources_running())
        pipeline.start()
        assert pipeline.wait_idle(60)
        pipeline.stop()
        return {e["event.id"]: {k: v for k, v in e.items() if k != "event.created"} for e in store.scan(EventQuery())}
    finally:
        store.close()


def test_zeek_tsv_keeps_its_header_with_workers(tmp_path: Path) -> None:
    """Zeek TSV lines need their file's header, which one batch holds: such records are parsed
    in the main process, in sequence, and the events equal the thread's."""
    log = tmp_path / "conn.log"
    log.write_text(zeek_conn_log(300))
    thread = stored_from_file(tmp_path / "thread", log, "zeek", workers=0)
    assert len(thread) == 300
    assert {event["event.dataset"] for event in thread.values()} == {"zeek.conn"}
    assert stored_from_file(tmp_path / "workers", log, "zeek", workers=2) == thread


class FailingStore(SqliteStore):
    """A real store whose second write fails (a disk error), while workers still have work."""

    writes = 0

    def write(self, batch: Sequence[Event], *, checkpoints: Mapping[str, str] | None = None) -> WriteResult:
        self.writes += 1
        if self.writes > 1:
            raise StoreError("disk I/O error (test)")
        return super().write(batch, checkpoints=checkpoints)


def test_a_writer_failure_stops_the_workers_without_a_hang(data_dir: Path) -> None:
    """The writer fails while the workers are busy and the feed thread is blocked sending to
    them: the pool is killed, every thread ends and ``stop`` re-raises the store's error."""
    store = FailingStore(data_dir / "siem.db")
    try:
        # batches of 1000 records fill a pipe (64 KiB), so sends block while a worker is busy
        config = PipelineConfig(batch_size=1000, workers=2, flush_interval=0.05)
        pipeline = Pipeline(store, slow_parsers, config=config)
        pipeline.start()
        records = [RawRecord(text=f"<13>Nov 25 10:00:00 host app[1]: line {n}", origin="tcp://t", received=0.0,
                             key=str(n)) for n in range(8000)]
        feeding = threading.Thread(target=lambda: pipeline.enqueue(records, wait=False))
        feeding.start()
        feeding.join(10)
        assert wait_until(lambda: pipeline.failure is not None, timeout=30)
        started = time.monotonic()
        with pytest.raises(StoreError, match="disk I/O error"):
            pipeline.stop(timeout=20)
        assert time.monotonic() - started < 15
        assert not worker_processes()
    finally:
        store.close()


@pytest.mark.parametrize("workers", [0, 2])
def test_a_failing_stage_stops_the_pipeline_with_the_reason(data_dir: Path, workers: int) -> None:
    """A parser that cannot be made (a SiemError) stops the pipeline in both modes; the reason
    reaches the caller of ``stop`` and nothing of the batch is committed."""
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        pipeline = Pipeline(store, create_parser, config=PipelineConfig(flush_interval=0.05, workers=workers))
        pipeline.start()
        record = RawRecord(text="hello", origin="file:///x", received=0.0, key="1", format="no-such-parser",
                           checkpoint=("file:/x", "1"))
        pipeline.enqueue([record], wait=True)
        assert wait_until(lambda: pipeline.failure is not None, timeout=30)
        with pytest.raises(WorkerError if workers else PluginError, match="no parsers named 'no-such-parser'"):
            pipeline.stop()
        assert store.count(EventQuery()) == 0
        assert store.checkpoint("file:/x") is None
        assert not worker_processes()
    finally:
        store.close()


def test_results_leave_the_pool_in_sequence_when_workers_finish_out_of_order() -> None:
    pool = WorkerPool(PickledStages(sleeping_parsers), 2)
    pool.start()
    def batch(text: str, key: str) -> list[RawRecord]:
        return [RawRecord(text=text, origin="test://", received=0.0, key=key)]

    # batch 0 goes to worker 0 and sleeps; batch 1 goes to worker 1 and comes back first
    batches = [batch("400", "slow"), batch("0", "fast0"), batch("0", "fast1"), batch("0", "fast2"), None]
    taken = iter(batches)
    stopped = threading.Event()
    feeder = threading.Thread(target=pool.feed, args=(lambda: next(taken), stopped.is_set))
    feeder.start()
    try:
        order = [result.processed.events[0]["event.id"] for result in pool.results(stopped.is_set)
                 if result.processed is not None]
    finally:
        stopped.set()
        feeder.join(10)
        pool.close()
    assert order == ["slow", "fast0", "fast1", "fast2"]


def test_batches_in_flight_stay_within_the_slots() -> None:
    """A batch is taken from the queue only with a free slot, and a slot is freed only when its
    batch leaves the reorder buffer: at most ``in_flight`` batches are out at any time."""
    pool = WorkerPool(PickledStages(sleeping_parsers), 2, in_flight=3)
    pool.start()
    taken: list[int] = []
    delivered: list[int] = []
    out: list[int] = []

    def take() -> list[RawRecord] | None:
        if len(taken) == 12:
            return None
        out.append(len(taken) + 1 - len(delivered))  # counting the one taken now
        taken.append(len(taken))
        # every third batch is slow, so later ones wait in the reorder buffer behind it
        return [RawRecord(text="150" if len(taken) % 3 == 1 else "0", origin="test://", received=0.0,
                          key=str(len(taken)))]

    stopped = threading.Event()
    feeder = threading.Thread(target=pool.feed, args=(take, stopped.is_set))
    feeder.start()
    try:
        for result in pool.results(stopped.is_set):
            delivered.append(result.seq)
    finally:
        stopped.set()
        feeder.join(10)
        pool.close()
    assert delivered == list(range(12))
    assert max(out) <= 3
    assert max(out) == 3, "the slots were used"


def test_pipeline_workers_is_bound_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "siem.yaml"
    path.write_text("pipeline:\n  workers: 3\n")
    assert load_config(str(path)).pipeline.workers == 3
    assert Config().pipeline.workers == 0
    for bad, message in (("-1", "pipeline.workers must be 0"), ("two", "pipeline.workers must be a whole number")):
        path.write_text(f"pipeline:\n  workers: {bad}\n")
        with pytest.raises(ConfigError, match=message):
            load_config(str(path))


def test_stages_that_cannot_be_pickled_are_refused_with_the_key_to_change(data_dir: Path) -> None:
    store: Store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        # a local function does not pickle: the worker could not build its parsers
        pipeline = Pipeline(store, lambda name: create_parser(name), config=replace(PipelineConfig(), workers=1))
        with pytest.raises(ConfigError, match=r"pipeline\.workers: 0"):
            pipeline.start()
        assert not worker_processes()
    finally:
        store.close()


@pytest.fixture(autouse=True)
def no_workers_left() -> Iterator[None]:
    yield
    assert not worker_processes()
