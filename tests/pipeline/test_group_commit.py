"""Group commit: batches waiting for the writer are committed together, with the newest
checkpoints, and nothing is lost or stored twice (real pipeline, real SQLite store)."""

from __future__ import annotations

import time
from pathlib import Path

from collectors.base import RawRecord
from collectors.registry import create_parser
from siem.config import PipelineConfig
from siem.pipeline import Pipeline
from siem.store.base import EventQuery
from siem.store.sqlite import SqliteStore


def _records(count: int) -> list[RawRecord]:
    now = time.time()
    return [
        RawRecord(text=f"<13>Nov 25 10:00:00 host app[1]: line {n:05d}", origin="file:///group.log",
                  received=now, key=str(n), checkpoint=("file:/group.log", str(n)), source="group")
        for n in range(count)
    ]


def test_waiting_batches_share_one_transaction(data_dir: Path) -> None:
    store = SqliteStore(data_dir / "siem.db")
    pipeline = Pipeline(store, create_parser, config=PipelineConfig(queue_size=1000, batch_size=10,
                                                                    flush_interval=0.05))
    records = _records(100)
    # The writer is held up (the store's lock is taken), so processed batches queue up for it.
    with store._lock:
        pipeline.start()
        pipeline.enqueue(records, wait=True)
        deadline = time.monotonic() + 20
        while pipeline.totals.records < 50 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert pipeline.wait_idle(timeout=20)
    pipeline.stop(timeout=20)
    transactions = store._fetchone("SELECT count(*) FROM seals WHERE kind = 'events'", ())
    assert store.count(EventQuery()) == 100
    assert pipeline.totals.written == 100 and pipeline.totals.duplicates == 0
    # Ten batches of ten; the writer took those waiting for it together (one seal per commit).
    assert transactions is not None and transactions[0] < 10
    assert store.checkpoint("file:/group.log") == "99"
    store.close()


def test_replayed_batches_are_ignored_when_merged(data_dir: Path) -> None:
    store = SqliteStore(data_dir / "siem.db")
    config = PipelineConfig(queue_size=1000, batch_size=10, flush_interval=0.05)
    first = Pipeline(store, create_parser, config=config)
    first.start()
    first.enqueue(_records(40), wait=True)
    assert first.wait_idle(timeout=20)
    first.stop(timeout=20)
    again = Pipeline(store, create_parser, config=config)
    with store._lock:
        again.start()
        again.enqueue(_records(60), wait=True)  # 40 already stored (a replay), 20 new
        deadline = time.monotonic() + 20
        while again.totals.records < 30 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert again.wait_idle(timeout=20)
    again.stop(timeout=20)
    assert (again.totals.written, again.totals.duplicates) == (20, 40)
    assert store.count(EventQuery()) == 60
    store.close()
