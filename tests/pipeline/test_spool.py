"""The spool journal: append, replay from a committed position, torn tails, release."""

from __future__ import annotations

from pathlib import Path

from collectors.base import RawRecord
from siem.pipeline.spool import CHECKPOINT, Spool


def records(count: int, start: int = 0) -> list[RawRecord]:
    return [
        RawRecord(
            text=f"<13>message {number} é",
            origin="tcp://[::1]",
            received=1_700_000_000.5 + number,
            key="",
            format="syslog",
            timezone="Asia/Ho_Chi_Minh",
            source="tcp-in",
        )
        for number in range(start, start + count)
    ]


def test_append_sets_positions_and_replay_returns_the_same_records(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.start(None)
    batch = records(3)
    batch[1].raw_bytes = b"<13>\xff raw"
    batch[1].text = "<13>\ufffd raw"
    batch[2].truncated = True
    spool.append(batch)
    spool.close()
    keys = [record.key for record in batch]
    assert len(set(keys)) == 3
    assert batch[0].checkpoint == (CHECKPOINT, keys[1])
    replayed = [record for chunk in Spool(tmp_path).replay(None) for record in chunk]
    assert [(r.text, r.origin, r.received, r.key, r.format, r.timezone, r.source) for r in replayed] == [
        (r.text, r.origin, r.received, r.key, r.format, r.timezone, r.source) for r in batch
    ]
    assert replayed[1].raw_bytes == b"<13>\xff raw"
    assert replayed[2].truncated
    assert [r.record_id() for r in replayed] == [r.record_id() for r in batch]


def test_replay_starts_after_the_committed_position(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.start(None)
    first, second = records(5), records(4, start=5)
    spool.append(first)
    spool.append(second)
    spool.close()
    committed = first[-1].checkpoint
    assert committed is not None
    replayed = [r.text for chunk in Spool(tmp_path).replay(committed[1], batch=3) for r in chunk]
    assert replayed == [r.text for r in second]


def test_a_torn_tail_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.start(None)
    spool.append(records(3))
    spool.close()
    [segment] = tmp_path.glob("*.seg")
    data = segment.read_bytes()
    segment.write_bytes(data[:-5])  # a crash in the middle of the last write
    replayed = [r for chunk in Spool(tmp_path).replay(None) for r in chunk]
    assert len(replayed) == 2


def test_new_segments_never_reuse_positions_and_old_ones_are_released(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=100)
    spool.start(None)
    batches = [records(2, start=2 * n) for n in range(4)]
    for batch in batches:
        spool.append(batch)
    assert len(spool.segments()) == 4
    committed = batches[2][-1].checkpoint
    assert committed is not None
    spool.release(committed[1])
    assert len(spool.segments()) == 2
    spool.close()
    # Everything committed and the directory emptied: the next run still gets new positions.
    final = batches[3][-1].checkpoint
    assert final is not None
    for path in tmp_path.glob("*.seg"):
        path.unlink()
    again = Spool(tmp_path)
    again.start(final[1])
    fresh = records(1)
    again.append(fresh)
    again.close()
    used = {r.key for batch in batches for r in batch}
    assert fresh[0].key not in used
