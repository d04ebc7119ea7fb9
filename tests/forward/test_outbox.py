"""The forwarder's disk buffer: order, acknowledged position, bounds, restarts and torn tails."""

from __future__ import annotations

from pathlib import Path

import pytest

from siem.forward.outbox import ACKED_FILE, BufferFullError, Outbox


def payloads(start: int, count: int) -> list[bytes]:
    return [b'{"n":%d}' % n for n in range(start, start + count)]


def read_all(outbox: Outbox, batch: int = 7) -> tuple[list[bytes], tuple[int, int]]:
    seen: list[bytes] = []
    position = outbox.acked
    while (found := outbox.read(position, batch)) is not None:
        seen.extend(found.payloads)
        position = found.end
    return seen, position


def test_entries_come_back_in_order_across_segments(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, max_bytes=1 << 20, segment_bytes=64)
    for start in range(0, 100, 10):
        outbox.append(payloads(start, 10))
    assert len(outbox.segments()) > 3
    seen, end = read_all(outbox)
    assert seen == payloads(0, 100)
    assert end == outbox.end
    outbox.close()


def test_acknowledging_deletes_spent_segments_and_survives_a_restart(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, max_bytes=1 << 20, segment_bytes=64)
    for start in range(0, 50, 10):
        outbox.append(payloads(start, 10))
    held = outbox.held_bytes
    first = outbox.read(outbox.acked, 30)
    assert first is not None and len(first.payloads) == 30
    before = len(outbox.segments())
    outbox.acknowledge(first.end)
    assert len(outbox.segments()) < before
    assert 0 < outbox.held_bytes < held
    outbox.close()
    assert (tmp_path / ACKED_FILE).read_text() == f"{first.end[0]}:{first.end[1]}"

    reopened = Outbox(tmp_path, max_bytes=1 << 20, segment_bytes=64)
    assert reopened.acked == first.end
    assert reopened.held_bytes == outbox.held_bytes
    reopened.append(payloads(50, 5))
    seen, end = read_all(reopened)
    assert seen == payloads(30, 25)
    assert reopened.end > first.end  # positions keep growing after a restart
    reopened.acknowledge(end)
    assert reopened.held_bytes == 0
    reopened.close()


def test_a_full_buffer_refuses_and_takes_again_after_an_ack(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, max_bytes=1000)
    outbox.append([b"x" * 600])
    with pytest.raises(BufferFullError, match="buffer_max_mb"):
        outbox.append([b"y" * 600])
    assert outbox.fill() == pytest.approx(608 / 1000)
    batch = outbox.read(outbox.acked, 10)
    assert batch is not None
    outbox.acknowledge(batch.end)
    outbox.append([b"y" * 600])  # room again
    seen, _ = read_all(outbox)
    assert seen == [b"y" * 600]
    outbox.close()


def test_an_empty_buffer_takes_one_batch_larger_than_the_bound(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, max_bytes=100)
    outbox.append([b"z" * 500])
    assert outbox.fill() > 1
    outbox.close()


def test_a_torn_tail_from_a_crash_is_skipped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, max_bytes=1 << 20)
    outbox.append(payloads(0, 3))
    outbox.close()
    segment = tmp_path / f"{outbox.segments()[-1]:016d}.seg"
    with segment.open("ab") as handle:
        handle.write(b"\x40\x00\x00\x00\x01\x02")  # half a frame: the crash hit mid-write
    reopened = Outbox(tmp_path, max_bytes=1 << 20)
    reopened.append(payloads(3, 2))
    seen, _ = read_all(reopened)
    assert seen == payloads(0, 5)
    reopened.close()


def test_reads_cross_chunk_boundaries_and_entries_larger_than_a_chunk(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, max_bytes=64 << 20, segment_bytes=64 << 20)
    entries = [bytes([65 + n]) * (300_000 + n * 150_001) for n in range(10)]  # up to ~1.6 MB each
    outbox.append(entries)
    seen, end = read_all(outbox, batch=3)
    assert seen == entries
    assert end == outbox.end
    outbox.close()


def test_a_malformed_buffer_position_is_a_wire_error() -> None:
    from collectors.sources.forward_wire import WireError, parse_position

    assert parse_position("17:4096") == (17, 4096)
    for text in ("²:1", "1:²", "1", ":", "1:" + "9" * 30, "-1:2", "a:b"):
        with pytest.raises(WireError):
            parse_position(text)
