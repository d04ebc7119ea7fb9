"""What the pipeline keeps in memory between batches stays bounded (issue 8, ``bench/memory.py``).

The pipeline remembers the checkpoints it committed so sources can read theirs back; the
detector's correlation state is committed as checkpoints too (one text per state shard), and
keeping those would hold a second copy of every correlation window for the life of the process.
Real rules (rules/authentication), the real Sigma engine, the auto parser and a SQLite store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.base import RawRecord
from collectors.registry import create_parser
from siem.alerts.detection import AlertingDetector
from siem.config import Config, PipelineConfig
from siem.detect.correlation_state import HEADER, shard_name
from siem.pipeline import Pipeline
from siem.store.base import Store
from siem.store.factory import open_store
from tests.alerts.cases import camera_detector

SOURCES = 200


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = open_store(Config(data_dir=str(data_dir)), data_dir)
    yield opened
    opened.close()


def failed_logins(count: int) -> list[RawRecord]:
    """Failed SSH logins to a camera from ``SOURCES`` addresses (one correlation group each)."""
    now = time.time()
    stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(now))
    return [
        RawRecord(
            text=f"<38>{stamp} cam-w3-001 sshd[{n}]: Failed password for admin from 203.0.113.{n % SOURCES}"
                 f" port {40000 + n} ssh2",
            origin="tcp://127.0.0.1:5514", received=now, key=str(n), source="cam", checkpoint=("cam", str(n)),
        )
        for n in range(count)
    ]


def test_the_detector_state_is_not_kept_twice(store: Store) -> None:
    detector = AlertingDetector(camera_detector())
    pipeline = Pipeline(store, create_parser, config=PipelineConfig(batch_size=50, flush_interval=0.05),
                        detector=detector, labels={"cam": {"labels.zone": "camera"}})
    pipeline.start()
    try:
        pipeline.enqueue(failed_logins(3 * SOURCES), wait=True)
        assert pipeline.wait_idle(30)
    finally:
        pipeline.stop(30)
    engine = detector.detector.correlation
    assert engine.group_count == SOURCES
    # the state is committed: its header and one shard per group's shard are in the store
    assert store.checkpoint(HEADER) is not None
    shards = engine.used_shards()
    assert len(shards) > SOURCES // 2
    assert all(store.checkpoint(shard_name(shard)) is not None for shard in shards)
    # ... and the pipeline keeps the sources' checkpoints, not a copy of the state
    assert pipeline.checkpoint("cam") == str(3 * SOURCES - 1)
    assert [name for name in pipeline._committed if name.startswith("detect:")] == []
    assert list(pipeline._committed) == ["cam"]
    # reading a state checkpoint through the pipeline still gives the committed value
    assert pipeline.checkpoint(HEADER) == store.checkpoint(HEADER)
