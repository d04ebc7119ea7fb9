"""The spool: an on-disk journal of received network records, for crash safety.

Records are appended to segment files ``<data_dir>/spool/<number>.seg`` before they are
processed. Each entry is ``u32 length, u32 crc32, payload``; the payload holds the receive
time, flags and the record's origin, source, format, time zone and bytes. A record's key is
its position ``segment:offset``, and its checkpoint (``spool`` = ``segment:end``) is committed
in the same store transaction as its events. After a crash the records after the committed
position are replayed; their event ids are the same, so the store ignores those it already
has. Segments wholly before the committed position are deleted.

New writes always go to a new segment, numbered after every segment and checkpoint seen and
after the current time in milliseconds, so a key is never reused even when the spool
directory is emptied.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from io import FileIO
from pathlib import Path

from collectors.base import RawRecord
from siem.errors import StoreError, StoreFullError

log = logging.getLogger(__name__)

CHECKPOINT = "spool"
SUFFIX = ".seg"
_FRAME = struct.Struct("<II")
_HEAD = struct.Struct("<dBHHHH")
_TRUNCATED = 1
_INVALID_UTF8 = 2
_SEGMENT_BYTES = 64 * 1024 * 1024
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def _private(path: str, flags: int) -> int:
    """Open with mode 0600 (records may hold anything a device logged)."""
    return os.open(path, flags, 0o600)


class SpoolFullError(StoreFullError):
    """The spool's disk is full (or below its reserve); sources should wait and retry."""


def parse_position(value: str) -> tuple[int, int]:
    """``(segment, offset)`` of a ``segment:offset`` position."""
    segment, _, offset = value.partition(":")
    return int(segment), int(offset)


def encode(record: RawRecord) -> bytes:
    """The payload of one entry."""
    origin = record.origin.encode()
    source = record.source.encode()
    fmt = record.format.encode()
    zone = record.timezone.encode()
    flags = _TRUNCATED if record.truncated else 0
    if record.raw_bytes is not None:
        flags |= _INVALID_UTF8
        body = record.raw_bytes
    else:
        body = record.text.encode("utf-8", "surrogatepass")
    head = _HEAD.pack(record.received, flags, len(origin), len(source), len(fmt), len(zone))
    return b"".join((head, origin, source, fmt, zone, body))


def decode(payload: bytes, key: str, checkpoint: str) -> RawRecord:
    """The record of one entry's payload."""
    received, flags, n_origin, n_source, n_format, n_zone = _HEAD.unpack_from(payload)
    position = _HEAD.size
    fields = []
    for size in (n_origin, n_source, n_format, n_zone):
        fields.append(payload[position : position + size].decode())
        position += size
    body = payload[position:]
    raw = body if flags & _INVALID_UTF8 else None
    text = body.decode("utf-8", "replace") if raw is not None else body.decode("utf-8", "surrogatepass")
    return RawRecord(
        text=text,
        origin=fields[0],
        received=received,
        key=key,
        raw_bytes=raw,
        truncated=bool(flags & _TRUNCATED),
        format=fields[2],
        timezone=fields[3],
        checkpoint=(CHECKPOINT, checkpoint),
        source=fields[1],
    )


def write_all(handle: FileIO, data: bytes) -> None:
    """Write all of ``data`` (an unbuffered file may take part of it); OSError on a failed write."""
    view = memoryview(data)
    while view:
        written = handle.write(view)
        if not written:
            raise OSError(errno.EIO, "short write")
        view = view[written:]


class Spool:
    """Append-only segment files with replay from a committed position."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool = False,
        segment_bytes: int = _SEGMENT_BYTES,
        min_free_bytes: int = 0,
    ) -> None:
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        #: Disk space kept free for the store to commit what the spool holds (SpoolFullError below it).
        self.min_free_bytes = min_free_bytes
        self._lock = threading.Lock()
        self._handle: FileIO | None = None
        self._segment = 0
        self._offset = 0
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the spool directory {directory}: {exc.strerror}") from exc

    def segments(self) -> list[int]:
        """Numbers of the segment files present, in order."""
        numbers = []
        for path in self.directory.glob(f"*{SUFFIX}"):
            if path.stem.isdigit():
                numbers.append(int(path.stem))
        return sorted(numbers)

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:016d}{SUFFIX}"

    def replay(self, committed: str | None, batch: int = 1000) -> Iterator[list[RawRecord]]:
        """Records after the committed position, in order, in batches (a torn tail is skipped)."""
        start_segment, start_offset = parse_position(committed) if committed else (0, 0)
        for segment in self.segments():
            if segment < start_segment:
                continue
            offset = start_offset if segment == start_segment else 0
            records: list[RawRecord] = []
            for record in self._read_segment(segment, offset):
                records.append(record)
                if len(records) >= batch:
                    yield records
                    records = []
            if records:
                yield records

    def _read_segment(self, segment: int, offset: int) -> Iterator[RawRecord]:
        path = self._path(segment)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        position = offset
        while position + _FRAME.size <= len(data):
            length, crc = _FRAME.unpack_from(data, position)
            start = position + _FRAME.size
            end = start + length
            payload = data[start:end]
            if end > len(data) or zlib.crc32(payload) != crc:
                log.warning("spool %s: damaged entry at byte %d; the rest is skipped", path, position)
                return
            yield decode(payload, f"{segment}:{position}", f"{segment}:{end}")
            position = end

    def start(self, committed: str | None) -> None:
        """Open a new segment for appends, numbered after everything seen."""
        last = max([0, *self.segments()])
        if committed:
            last = max(last, parse_position(committed)[0])
        self._new_segment(max(last + 1, int(time.time() * 1000)))

    def _new_segment(self, number: int) -> None:
        if self._handle is not None:
            self._handle.close()
        self._segment, self._offset = number, 0
        try:
            # Unbuffered: a write that fails (disk full) leaves nothing behind in a buffer.
            self._handle = open(self._path(number), "ab", buffering=0, opener=_private)  # noqa: SIM115 - kept open
        except OSError as exc:
            if exc.errno in _FULL_ERRNOS:
                raise SpoolFullError(f"cannot write the spool segment {self._path(number)}: the disk is full") from exc
            raise StoreError(f"cannot write the spool segment {self._path(number)}: {exc.strerror}") from exc

    def append(self, records: Sequence[RawRecord]) -> None:
        """Journal records (setting their key and checkpoint), written through to the OS."""
        with self._lock:
            if self._handle is None:
                raise StoreError("the spool is not started")
            if self._offset >= self.segment_bytes:
                self._new_segment(self._segment + 1)
            parts = []
            segment, offset = self._segment, self._offset
            for record in records:
                payload = encode(record)
                record.key = f"{segment}:{offset}"
                offset += _FRAME.size + len(payload)
                record.checkpoint = (CHECKPOINT, f"{segment}:{offset}")
                parts.append(_FRAME.pack(len(payload), zlib.crc32(payload)))
                parts.append(payload)
            data = b"".join(parts)
            self._check_free(len(data))
            try:
                assert self._handle is not None
                write_all(self._handle, data)
                if self.fsync:
                    os.fsync(self._handle.fileno())
            except OSError as exc:
                self._cut_back()
                if exc.errno in _FULL_ERRNOS:
                    raise SpoolFullError(f"cannot write the spool in {self.directory}: the disk is full") from exc
                raise StoreError(f"cannot write the spool: {exc.strerror}") from exc
            self._offset = offset

    def _check_free(self, size: int) -> None:
        if self.min_free_bytes <= 0:
            return
        try:
            info = os.statvfs(self.directory)
        except OSError:
            return
        if info.f_bavail * info.f_frsize < self.min_free_bytes + size:
            raise SpoolFullError(
                f"the disk of {self.directory} is full: less than {self.min_free_bytes // (1024 * 1024)} MB free,"
                " the reserve kept for the store (pipeline.spool_min_free_mb)"
            )


    def _cut_back(self) -> None:
        """Drop a partly written tail so the segment ends at the last whole entry."""
        assert self._handle is not None
        try:
            self._handle.truncate(self._offset)
        except OSError:
            log.warning("spool %s: cannot cut back a partial write; replay stops there", self._path(self._segment))

    def release(self, committed: str) -> None:
        """Delete segments wholly before the committed position."""
        segment, _ = parse_position(committed)
        for number in self.segments():
            if number >= segment:
                break
            self._path(number).unlink(missing_ok=True)

    def close(self) -> None:
        """Close the open segment."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
