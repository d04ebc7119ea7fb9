"""The stage runner: sources -> queue -> parse, normalize, enrich, detect -> store -> alerts.

Threads: one per source, one processor (parse to detect, CPU work) and one writer (store
transactions, which release the GIL in SQLite). With ``pipeline.workers: N`` the processor
thread gives way to N worker processes that parse, enrich and match rules, fed and read in
sequence by two threads here, where correlation runs in batch order (siem/pipeline/workers.py).
The record queue is bounded: TCP and file sources wait for room, UDP drops and counts. The
writer commits the events and the checkpoints of their records (spool position, file offsets)
in one transaction, so a crash replays at most what was not committed, and the store ignores
ids it already has.

Shutdown (``stop``): stop the sources (they drain what the kernel holds), process what is
queued, commit it, save the counters.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from collectors.base import Parser, RawRecord
from collectors.sources.contract import BatchSource
from siem.alert import Alert
from siem.config import PipelineConfig
from siem.errors import SiemError, StoreError, StoreFullError
from siem.event import Event
from siem.pipeline.counters import Counters
from siem.pipeline.emitter import SourceEmitter
from siem.pipeline.processing import Processed, RecordProcessor
from siem.pipeline.protocols import AlertSink, Detector, Enricher
from siem.pipeline.queue import QueueClosedError, RecordQueue
from siem.pipeline.spool import CHECKPOINT, Spool, SpoolFullError
from siem.pipeline.stages import PickledStages, WorkerSetup
from siem.store.base import Store, WriteResult

if TYPE_CHECKING:
    from siem.pipeline.workers import Hits, WorkerPool

log = logging.getLogger(__name__)

#: Batches waiting between the processor and the writer.
_WRITER_QUEUE = 4
_STORE_FULL_RETRY_SECONDS = 1.0
_SPOOL_FULL_RETRY_SECONDS = 0.2


@dataclass(slots=True)
class Totals:
    """What the pipeline did since it started (for ``siem ingest`` and the status line)."""

    records: int = 0
    events: int = 0
    written: int = 0
    duplicates: int = 0
    parse_failures: int = 0
    alerts: int = 0


@dataclass(slots=True)
class _Commit:
    events: list[Event]
    alerts: list[Alert]
    checkpoints: dict[str, str]
    records: int


class Pipeline:
    """Runs sources into the store through the stages; see the module docstring."""

    def __init__(
        self,
        store: Store,
        parser_factory: Callable[[str], Parser],
        *,
        config: PipelineConfig,
        spool_dir: Path | None = None,
        detector: Detector | None = None,
        alert_sink: AlertSink | None = None,
        enrichers: Sequence[Enricher] = (),
        labels: Mapping[str, Mapping[str, str]] | None = None,
        stats_interval: float = 1.0,
        group_commit: bool = True,
        worker_setup: WorkerSetup | None = None,
    ) -> None:
        self.store = store
        #: Merge batches waiting for the writer into one write (off where a write must stay one
        #: batch, e.g. a forwarder's bounded disk buffer).
        self.group_commit = group_commit
        self.config = config
        self.detector = detector
        self.alert_sink = alert_sink
        self.enrichers = tuple(enrichers)
        self.totals = Totals()
        self.counters = Counters(store.source_stats())
        self.queue = RecordQueue(config.queue_size)
        self._records = RecordProcessor(parser_factory, self.enrichers, labels)
        #: How ``pipeline.workers`` processes build their stages (by default these very ones,
        #: pickled; they then match no rules, and detection runs here).
        self._worker_setup = worker_setup or PickledStages(parser_factory, self.enrichers, dict(labels or {}))
        self._pool: WorkerPool | None = None
        self._stats_interval = stats_interval
        self._spool = (
            Spool(spool_dir, fsync=config.fsync, min_free_bytes=config.spool_min_free_mb * 1024 * 1024)
            if spool_dir is not None and config.spool
            else None
        )
        self._spool_full_since: float | None = None
        self._intake_lock = threading.Lock()
        self._commits: queue.Queue[_Commit | None] = queue.Queue(_WRITER_QUEUE)
        self._source_stop = threading.Event()
        self._draining = threading.Event()
        self._sources: list[threading.Thread] = []
        self._workers: list[threading.Thread] = []
        self._committed: dict[str, str] = {}
        self._failure: BaseException | None = None
        self._uncommitted = 0
        self._idle = threading.Condition()

    # -- start and stop -------------------------------------------------------------------

    def start(self) -> None:
        """Start the processor and writer, and replay the spool's uncommitted records."""
        # [detector state] correlation windows saved with the last commit (siem/alerts/detection.py)
        restore = getattr(self.detector, "restore", None)
        if restore is not None:
            restore(self.store.checkpoint)
        self._workers = [
            *self._processor_threads(),
            threading.Thread(target=self._guard(self._write_loop), name="pipeline-write", daemon=True),
        ]
        for worker in self._workers:
            worker.start()
        if self._spool is not None:
            committed = self.store.checkpoint(CHECKPOINT)
            replayed = 0
            for batch in self._spool.replay(committed, self.config.batch_size):
                self.enqueue(batch, wait=True)
                replayed += len(batch)
            if replayed:
                log.warning("replaying %d records received before the last stop", replayed)
            self._spool.start(committed)

    def emitter(self, source: str, *, spooled: bool) -> SourceEmitter:
        """The emitter a source hands its records to (journaled first when ``spooled``)."""
        self.counters.source(source)
        return SourceEmitter(self, source, spooled=spooled and self._spool is not None)

    def add_source(self, source: BatchSource, *, spooled: bool) -> None:
        """Run ``source`` in its own thread until ``stop``."""
        emit = self.emitter(source.name, spooled=spooled)

        def run() -> None:
            source.run(emit, self._source_stop)

        thread = threading.Thread(target=self._guard(run), name=f"source-{source.name}", daemon=True)
        self._sources.append(thread)
        thread.start()

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped a pipeline thread, if any."""
        return self._failure

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the running worker processes (``pipeline.workers``; none with 0)."""
        return self._pool.pids if self._pool is not None else []

    def sources_running(self) -> bool:
        """Whether any source thread is still running."""
        return any(thread.is_alive() for thread in self._sources)

    def stop(self, timeout: float | None = None) -> None:
        """Stop sources, process and commit what is queued, save counters; re-raise a failure."""
        self._source_stop.set()
        for thread in self._sources:
            thread.join(timeout)
        self._draining.set()
        for worker in self._workers:
            worker.join(timeout)
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._spool is not None:
            self._spool.close()
        self.queue.close()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until everything handed over so far is committed (True) or ``timeout`` passes."""
        with self._idle:
            return self._idle.wait_for(
                lambda: self._failure is not None or (self._uncommitted == 0 and not len(self.queue)), timeout
            )

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # a thread's failure stops the pipeline and is re-raised
                if not isinstance(exc, SiemError):
                    log.exception("pipeline thread %s failed", threading.current_thread().name)
                if self._failure is None:
                    self._failure = exc
                self._source_stop.set()
                self._draining.set()
                self.queue.close()
                with self._idle:
                    self._idle.notify_all()

        return run

    # -- intake (called by emitters from source threads) --------------------------------------

    def enqueue(self, records: Sequence[RawRecord], *, wait: bool, spool: bool = False) -> int:
        """Journal (when ``spool``) and queue records; returns how many were taken.

        With ``wait`` every record is taken, in pieces as room appears (backpressure);
        without, only what fits now. The queue never holds more than its capacity.
        """
        taken_total = 0
        remaining = records
        while remaining:
            if wait:
                while not self.queue.wait_for_room(0.5):
                    if self._failure is not None:
                        raise QueueClosedError("the pipeline has stopped")
            full: SpoolFullError | None = None
            with self._intake_lock:
                room = self.queue.free()
                taken = remaining if room >= len(remaining) else remaining[:room]
                if taken:
                    if spool and self._spool is not None:
                        try:
                            self._spool.append(taken)
                        except SpoolFullError as exc:
                            taken, full = [], exc
                        else:
                            self._spool_recovered()
                    if taken:
                        with self._idle:
                            self._uncommitted += len(taken)
                        self.queue.extend(taken)
            if full is not None:
                # Disk full: nothing is taken that the spool could not keep. Waiting sources
                # (TCP, files) pause, which the kernel turns into TCP backpressure; UDP drops.
                if not self._spool_full(full, wait):
                    break
                continue
            taken_total += len(taken)
            remaining = remaining[len(taken) :]
            if not wait:
                break
        return taken_total

    def _spool_full(self, exc: SpoolFullError, wait: bool) -> bool:
        """Report a full spool (once per episode); with ``wait``, pause and say whether to retry."""
        if self._spool_full_since is None:
            self._spool_full_since = time.monotonic()
            log.error("%s; sources pause until space returns", exc)
        if not wait or self._source_stop.is_set():
            return False
        if self._failure is not None:
            raise QueueClosedError("the pipeline has stopped")
        time.sleep(_SPOOL_FULL_RETRY_SECONDS)
        return True

    def _spool_recovered(self) -> None:
        if self._spool_full_since is not None:
            log.warning("disk space is back after %.0f s; sources resume", time.monotonic() - self._spool_full_since)
            self._spool_full_since = None

    @property
    def spool_full(self) -> bool:
        """Whether intake is paused because the spool's disk is full."""
        return self._spool_full_since is not None

    def checkpoint(self, name: str) -> str | None:
        """The committed value of a checkpoint (what this run committed, else the store's)."""
        value = self._committed.get(name)
        return value if value is not None else self.store.checkpoint(name)

    # -- processing ----------------------------------------------------------------------

    def _processor_threads(self) -> list[threading.Thread]:
        """The processor thread, or (``pipeline.workers``) the worker processes, started, and
        the threads that feed them and take their results in sequence."""
        if not self.config.workers:
            return [threading.Thread(target=self._guard(self._process_loop), name="pipeline-process", daemon=True)]
        from siem.pipeline.workers import WorkerPool

        rule_ids = getattr(self.detector, "rule_ids", None)
        self._pool = WorkerPool(self._worker_setup, self.config.workers, rule_ids=rule_ids() if rule_ids else None)
        self._pool.start()
        pool = self._pool
        stopped = self._stopped

        def collect() -> None:
            try:
                for result in pool.results(stopped):
                    if result.processed is None:  # records of a parser with per-origin state
                        self._hand_to_writer(self.process(result.local or ()))
                    else:
                        self._hand_to_writer(self._finish(result.processed, result.hits))
            finally:
                if not pool.complete:  # failed: free the feed thread and workers blocked on each other
                    pool.kill()
            self._hand_to_writer(None)

        return [
            threading.Thread(target=self._guard(lambda: pool.feed(self._take_batch, stopped)), name="pipeline-feed",
                             daemon=True),
            threading.Thread(target=self._guard(collect), name="pipeline-collect", daemon=True),
        ]

    def _stopped(self) -> bool:
        return self._failure is not None

    def _take_batch(self) -> list[RawRecord] | None:
        """The next batch ([] when none came within the flush interval); None once draining
        has emptied the queue."""
        records = self.queue.get_batch(self.config.batch_size, self.config.flush_interval)
        if not records and self._draining.is_set() and not len(self.queue):
            return None
        return records

    def _process_loop(self) -> None:
        while (records := self._take_batch()) is not None:
            if records:
                self._hand_to_writer(self.process(records))
        self._hand_to_writer(None)

    def _hand_to_writer(self, commit: _Commit | None) -> None:
        while True:
            try:
                self._commits.put(commit, timeout=0.5)
                return
            except queue.Full:
                if self._failure is not None:
                    raise QueueClosedError("the writer has stopped") from None

    def process(self, records: Sequence[RawRecord]) -> _Commit:
        """Parse, normalize, enrich and detect one batch (no store access)."""
        return self._finish(self._records.process(records))

    def _finish(self, processed: Processed, hits: Hits | None = None) -> _Commit:
        """Detect and count a processed batch. ``hits``: its single-event rule matches, found by
        a worker process; correlation runs here either way, in batch order."""
        events, checkpoints, failures = processed.events, processed.checkpoints, processed.failures
        alerts: list[Alert] = []
        if self.detector is not None and events:
            detect_matched = getattr(self.detector, "detect_matched", None)
            if hits is not None and detect_matched is not None:
                alerts = detect_matched(events, hits)
            else:
                alerts = self.detector.detect(events)
        # [detector state] what detecting this batch changed commits with its checkpoints
        state_of = getattr(self.detector, "state_checkpoints", None)
        if state_of is not None and events:
            checkpoints.update(state_of())
        for source, count in failures.items():
            self.counters.parse_failed(source, count)
        self.totals.records += processed.records
        self.totals.parse_failures += sum(failures.values())
        return _Commit(events, alerts, checkpoints, processed.records)

    # -- writing ------------------------------------------------------------------------------

    def _write_loop(self) -> None:
        next_stats = time.monotonic() + self._stats_interval
        try:
            while True:
                try:
                    commit: _Commit | None = self._commits.get(timeout=self._stats_interval)
                except queue.Empty:
                    if self._failure is not None:
                        break
                else:
                    if commit is None:
                        break
                    commit, last = self._gather(commit) if self.group_commit else (commit, False)
                    self._write(commit)
                    if last:
                        break
                if time.monotonic() >= next_stats:
                    self._save_stats()
                    next_stats = time.monotonic() + self._stats_interval
        finally:
            self._save_stats()

    def _gather(self, commit: _Commit) -> tuple[_Commit, bool]:
        """``commit`` merged with the batches already waiting (group commit), and whether the
        end-of-input mark was among them. When the writer falls behind, one transaction takes
        several batches: SQLite's cost per commit (WAL pages, FTS segment) is shared. A merged
        batch commits atomically with the newest checkpoints, so replay semantics are unchanged."""
        for _ in range(_WRITER_QUEUE):
            try:
                more = self._commits.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return commit, True
            commit.events.extend(more.events)
            commit.alerts.extend(more.alerts)
            commit.checkpoints.update(more.checkpoints)
            commit.records += more.records
        return commit, False

    def _write(self, commit: _Commit) -> None:
        while True:
            try:
                result = self._commit(commit)
                break
            except StoreFullError as exc:
                log.error("%s; retrying in %.0f s", exc, _STORE_FULL_RETRY_SECONDS)
                if self._source_stop.is_set() and self._draining.is_set():
                    raise
                time.sleep(_STORE_FULL_RETRY_SECONDS)
        # Kept for sources reading their checkpoints back; not the detector's state ("detect:*",
        # thousands of shard texts: a second copy of every correlation window), read from the
        # store at start only (bench/memory.py --trace found it among the largest holders).
        self._committed.update((k, v) for k, v in commit.checkpoints.items() if not k.startswith("detect:"))
        spooled = commit.checkpoints.get(CHECKPOINT)
        if spooled is not None and self._spool is not None:
            self._spool.release(spooled)
        self.totals.events += len(commit.events)
        self.totals.written += result.written
        self.totals.duplicates += result.duplicates
        self.totals.alerts += len(commit.alerts)
        with self._idle:
            self._uncommitted -= commit.records
            self._idle.notify_all()

    def _commit(self, commit: _Commit) -> WriteResult:
        checkpoints = commit.checkpoints or None
        if not commit.alerts:
            return self.store.write(commit.events, checkpoints=checkpoints)
        if self.alert_sink is None:
            result = self.store.write(commit.events, checkpoints=checkpoints)
            self.store.write_alerts(commit.alerts)
            return result
        # Events first (the alert stage reads them), then alerts, then the checkpoints: a crash
        # in between replays the batch, its events are duplicates and the stage is idempotent.
        result = self.store.write(commit.events)
        self.alert_sink.handle(commit.alerts)
        if checkpoints:
            self.store.write([], checkpoints=checkpoints)
        return result

    def _save_stats(self) -> None:
        try:
            self.store.record_source_stats(self.counters.snapshot())
        except StoreError as exc:
            log.warning("cannot save source counters: %s", exc)
