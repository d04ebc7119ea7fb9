"""Worker processes that parse, enrich and match rules (``pipeline.workers: N``).

The main process keeps the sources, the spool, the record queue, correlation and the one
store writer. Each worker (started with ``spawn``) builds its own stages once from a picklable
recipe (``siem.pipeline.stages``) and turns batches of records into events plus the numbers of
the single-event rules each event matched. Batches are numbered as they leave the queue;
results come back in any order and leave the pool strictly in sequence (a reorder buffer), so
correlation sees events in one order and the writer commits checkpoints in order: at-least-once
holds exactly as with the in-thread processor.

Parsers that carry state from one record of an origin to the next (``LOCAL_FORMATS``: Zeek
TSV keeps each file's ``#fields`` header) must see all of them: a batch holding such records is
not sent but handed back, in its place in the sequence, for the main process to process.

A batch is taken from the record queue only when one of the ``in_flight`` slots is free (a
slot is held from sending until the batch leaves the reorder buffer), so memory stays within
the queue size plus ``in_flight`` batches. A worker that dies or fails raises ``WorkerError``
in the main process, which stops the pipeline; nothing after the gap is committed.

A worker whose main process is gone (killed: ``kill -9``, the OOM killer) exits at once: a
thread in it waits on the parent's sentinel (``multiprocessing.parent_process()``). The end of
its pipes alone would be seen only when it next reads or writes them, after a batch or after
building its stages (compiling the SigmaHQ rules takes half a minute): an orphan would hold
the cores and memory the restarted ``siem run`` needs. What it had in hand was not committed,
and is replayed at the restart.

What crosses the boundary (``bench/worker_boundary.py``, docs/ingest-performance.md): records
go as tuples of their fields (a third of the cost of pickling the dataclasses), events come back
pickled (in the main process faster to load than orjson, and exact: tuples, large integers and
lone surrogates survive).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import operator
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from collectors.base import RawRecord
from siem.errors import ConfigError, ExitCode, SiemError, WorkerError
from siem.pipeline.processing import Processed
from siem.pipeline.stages import WorkerSetup

log = logging.getLogger(__name__)

#: How often waiting threads look whether the pipeline has stopped.
_POLL_SECONDS = 0.5
#: How long ``close`` waits for a worker to exit before killing it.
_STOP_SECONDS = 5.0
#: The exit status of a worker that found its main process gone.
_ORPHAN_EXIT = 70

_FIELDS = tuple(field.name for field in dataclasses.fields(RawRecord))
_record_fields = operator.attrgetter(*_FIELDS)

Hits = list[tuple[int, list[int]]]

#: Formats whose parser keeps per-origin state across records (collectors/parsers/zeek.py: the
#: TSV header of each file): their batches are processed in the main process, in sequence.
LOCAL_FORMATS = frozenset({"zeek"})


@dataclass(slots=True)
class BatchResult:
    """One batch back from a worker (its events and the rule matches found there), or one
    to process here (``local``: records of a format in ``LOCAL_FORMATS``)."""

    seq: int
    processed: Processed | None
    #: ``(offset, rule numbers)`` per matching event; None when the worker matches no rules.
    hits: Hits | None
    local: Sequence[RawRecord] | None = None


@dataclass(slots=True, eq=False)
class _Worker:
    number: int
    process: BaseProcess
    tasks: Connection
    results: Connection
    outstanding: int = 0


class WorkerPool:
    """``count`` worker processes: batches in with a sequence number, results out in sequence.

    One thread calls ``feed`` (it sends), another iterates ``results`` (it receives, reorders);
    ``close`` stops the processes. ``rule_ids``: the main side's rule numbering, which every
    worker must report back identically for its rule numbers to be used.
    """

    def __init__(
        self,
        setup: WorkerSetup,
        count: int,
        *,
        rule_ids: tuple[str, ...] | None = None,
        in_flight: int | None = None,
    ) -> None:
        if count < 1:
            raise ConfigError(f"pipeline.workers must be at least 1 for a worker pool, not {count}")
        self._setup = setup
        self._count = count
        self._rule_ids = rule_ids
        self.in_flight = in_flight or 2 * count
        self._slots = threading.Semaphore(self.in_flight)
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._sent = 0
        self._total: int | None = None
        self._delivered = 0
        self._local: dict[int, Sequence[RawRecord]] = {}
        self._wake_reader, self._wake_writer = multiprocessing.Pipe(duplex=False)

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers (for tests and the status of a running pipeline)."""
        return [worker.process.pid for worker in self._workers if worker.process.pid is not None]

    def start(self) -> None:
        """Start the processes; each builds its stages while the first batches are queued for it."""
        context = multiprocessing.get_context("spawn")
        # spawn, not fork: a fresh interpreter that inherits no threads, locks or sockets
        for number in range(self._count):
            task_reader, task_writer = context.Pipe(duplex=False)
            result_reader, result_writer = context.Pipe(duplex=False)
            process = context.Process(
                target=serve, args=(number, self._setup, task_reader, result_writer),
                name=f"siem-worker-{number}", daemon=True,
            )
            try:
                process.start()
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                for connection in (task_writer, result_reader):
                    connection.close()
                self.close()
                raise ConfigError(
                    f"pipeline.workers: the pipeline's stages cannot be sent to a worker process ({exc});"
                    " set pipeline.workers: 0"
                ) from exc
            finally:
                task_reader.close()
                result_writer.close()
            self._workers.append(_Worker(number, process, task_writer, result_reader))

    # -- the sending side ------------------------------------------------------------------

    def feed(self, take: Callable[[], Sequence[RawRecord] | None], stopped: Callable[[], bool]) -> None:
        """Send the batches ``take`` gives (``[]``: none yet) until it gives None (end of input).

        A batch is taken only when a slot is free, so what waits stays in the record queue.
        Returns early, without marking the end, once ``stopped()``.
        """
        while True:
            if stopped():
                return
            if not self._slots.acquire(timeout=_POLL_SECONDS):
                continue
            records = take()
            if records:
                if any(record.format in LOCAL_FORMATS for record in records):
                    self._keep(records)
                else:
                    self._send(records)
                continue
            self._slots.release()
            if records is None:
                break
        self._total = self._sent
        self._wake_writer.send_bytes(b"end")

    def _keep(self, records: Sequence[RawRecord]) -> None:
        with self._lock:
            self._local[self._sent] = records
        self._sent += 1
        self._wake_writer.send_bytes(b"local")

    def _send(self, records: Sequence[RawRecord]) -> None:
        payload = pickle.dumps((self._sent, [_record_fields(record) for record in records]), pickle.HIGHEST_PROTOCOL)
        with self._lock:
            worker = min(self._workers, key=operator.attrgetter("outstanding"))
            worker.outstanding += 1
        try:
            worker.tasks.send_bytes(payload)
        except OSError as exc:
            raise WorkerError(_died(worker)) from exc
        self._sent += 1

    # -- the receiving side ----------------------------------------------------------------

    def results(self, stopped: Callable[[], bool]) -> Iterator[BatchResult]:
        """Results in sequence, each once, until the end of input (or ``stopped()``)."""
        pending: dict[int, BatchResult] = {}
        expected = 0
        while True:
            while expected in pending:
                result = pending.pop(expected)
                expected += 1
                self._delivered = expected
                self._slots.release()
                yield result
            if (self._total is not None and expected >= self._total) or stopped():
                return
            for result in self._receive(_POLL_SECONDS):
                pending[result.seq] = result
            with self._lock:
                local, self._local = self._local, {}
            for seq, records in local.items():
                pending[seq] = BatchResult(seq, None, None, records)

    def _receive(self, timeout: float) -> list[BatchResult]:
        by_reader = {worker.results: worker for worker in self._workers}
        by_sentinel = {worker.process.sentinel: worker for worker in self._workers}
        received: list[BatchResult] = []
        for ready in wait([*by_reader, *by_sentinel, self._wake_reader], timeout):
            if ready is self._wake_reader:
                self._wake_reader.recv_bytes()
                continue
            worker = by_reader.get(ready)  # type: ignore[call-overload]
            if worker is None:  # its process ended: no worker stops on its own
                worker = by_sentinel[ready]  # type: ignore[index]
                while worker.results.poll(0):  # what it said last (an error) before the exit
                    self._read(worker)
                raise WorkerError(_died(worker))
            result = self._read(worker)
            if result is not None:
                received.append(result)
        return received

    def _read(self, worker: _Worker) -> BatchResult | None:
        try:
            message = pickle.loads(worker.results.recv_bytes())
        except (EOFError, OSError) as exc:
            raise WorkerError(_died(worker)) from exc
        return self._message(worker, message)

    def _message(self, worker: _Worker, message: tuple[Any, ...]) -> BatchResult | None:
        kind = message[0]
        if kind == "done":
            with self._lock:
                worker.outstanding -= 1
            return BatchResult(message[1], message[2], message[3])
        if kind == "ready":
            ids = message[1]
            if ids is not None and self._rule_ids is not None and tuple(ids) != self._rule_ids:
                raise WorkerError(
                    f"pipeline worker {worker.number} loaded other rules than the main process"
                    " (rule files changed during start-up?); restart siem"
                )
            return None
        error = WorkerError(f"pipeline worker {worker.number} failed: {message[1]}")
        error.exit_code = message[2]
        raise error

    @property
    def complete(self) -> bool:
        """Whether every batch sent came back and was delivered, and the input has ended."""
        return self._total is not None and self._delivered >= self._total

    def kill(self) -> None:
        """Kill the workers now (the pipeline failed: nothing they would return is committed).
        A thread blocked sending to one, or waiting for one, then gets an error."""
        with self._lock:
            for worker in self._workers:
                if worker.process.is_alive():
                    worker.process.kill()

    def close(self) -> None:
        """Stop the workers (the end of their task pipes), killing any that does not exit in time."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.tasks.close()
            worker.results.close()  # a worker blocked sending a result gets EPIPE and exits
        for worker in workers:
            worker.process.join(_STOP_SECONDS)
            if worker.process.is_alive():
                log.warning("pipeline worker %d did not stop in %.0f s; killing it", worker.number, _STOP_SECONDS)
                worker.process.kill()
                worker.process.join()
            worker.process.close()
        self._wake_reader.close()
        self._wake_writer.close()


def _died(worker: _Worker) -> str:
    worker.process.join(0.1)
    code = worker.process.exitcode
    how = "is gone" if code is None else f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"
    return (
        f"pipeline worker {worker.number} (pid {worker.process.pid}) {how}; the pipeline stopped,"
        " and what was not committed is replayed at the next start"
    )


# -- the worker process ------------------------------------------------------------------------


def serve(number: int, setup: WorkerSetup, tasks: Connection, results: Connection) -> None:
    """A worker process: build the stages once, then process batches until the task pipe ends."""
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the main process
    # drains the pipeline and then ends the workers, which must keep working until then.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _exit_with_parent()
    logging.basicConfig(level=logging.WARNING, format=f"siem worker {number}: %(levelname)s %(name)s: %(message)s")
    try:
        stages = setup()
        matcher = stages.matcher
        _send(results, ("ready", matcher.rule_ids() if matcher is not None else None))
        while True:
            seq, fields = pickle.loads(tasks.recv_bytes())
            processed = stages.records.process([RawRecord(*values) for values in fields])
            events = processed.events
            hits = matcher.match_batch(events) if matcher is not None and events else None
            _send(results, ("done", seq, processed, hits))
    except (EOFError, BrokenPipeError):  # the main process closed the pipes: stop
        return
    except SiemError as exc:
        _report(results, exc.message, exc.exit_code)
    except BaseException as exc:
        log.exception("worker failed")
        _report(results, f"{type(exc).__name__}: {exc}", ExitCode.ERROR)


def _exit_with_parent() -> None:
    """End this process as soon as the process that started it is gone (see the module docstring)."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not a spawned worker (called in-process)
        return
    sentinel = parent.sentinel

    def watch() -> None:
        wait([sentinel])  # readable once the parent's end of the pipe is closed: it exited
        os._exit(_ORPHAN_EXIT)  # nothing here to save: the main process commits, and it is gone

    threading.Thread(target=watch, name="siem-worker-parent-watch", daemon=True).start()


def _send(results: Connection, message: tuple[Any, ...]) -> None:
    results.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))


def _report(results: Connection, text: str, exit_code: int) -> None:
    with contextlib.suppress(OSError):  # the main process is gone: nobody to tell
        _send(results, ("error", text, exit_code))
