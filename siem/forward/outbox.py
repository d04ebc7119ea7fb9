"""The forwarder's disk buffer: enriched events waiting for the centre's acknowledgement.

Events are appended, as compact JSON, to segment files ``<data_dir>/forward-buffer/<number>.seg``;
each entry is ``u32 length, u32 crc32, payload`` like the spool's. A position is
``(segment, byte offset)``: positions only grow, also across restarts (a new segment is
numbered after every segment seen, the acknowledged position and the time in milliseconds), so
the end position of a batch serves as its sequence number on the wire.

The acknowledged position is kept in ``acked`` (written to a temporary file, fsynced and
renamed); segments wholly before it are deleted. The bytes between it and the end are what the
buffer holds, bounded by ``max_bytes``: an append that would pass it raises BufferFullError
(a StoreFullError, on which the pipeline pauses and retries, which slows the sources).
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from io import FileIO
from pathlib import Path

from siem.errors import StoreError, StoreFullError
from siem.pipeline.spool import write_all

log = logging.getLogger(__name__)

SUFFIX = ".seg"
ACKED_FILE = "acked"
_FRAME = struct.Struct("<II")
_SEGMENT_BYTES = 16 * 1024 * 1024
_READ_BYTES = 1024 * 1024

Position = tuple[int, int]


class BufferFullError(StoreFullError):
    """The forwarder's buffer is full; the pipeline waits until the centre acknowledges more."""


def format_position(position: Position) -> str:
    """``segment:offset``."""
    return f"{position[0]}:{position[1]}"


def parse_position(text: str) -> Position:
    """``(segment, offset)`` of ``segment:offset`` (ValueError when malformed)."""
    segment, sep, offset = text.strip().partition(":")
    if not sep:
        raise ValueError(f"not a buffer position: {text!r}")
    return int(segment), int(offset)


@dataclass(frozen=True, slots=True)
class Batch:
    """Entries read from the buffer: their payloads and the position after the last one."""

    payloads: list[bytes]
    start: Position
    end: Position


class Outbox:
    """Append-only segments with an acknowledged position; one writer, one reader thread."""

    def __init__(self, directory: Path, *, max_bytes: int, fsync: bool = False, segment_bytes: int = 0) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.segment_bytes = segment_bytes or max(4096, min(_SEGMENT_BYTES, max_bytes // 8))
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)
        self._freed = threading.Condition(self._lock)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the forwarder buffer {directory}: {exc.strerror}") from exc
        self._acked = self._load_acked()
        segments = self.segments()
        self._release_before(self._acked[0], segments)
        segments = [number for number in segments if number >= self._acked[0]]
        self._held = sum(self._size(number) for number in segments) - (
            self._acked[1] if self._acked[0] in segments else 0
        )
        last = max([self._acked[0], *segments])
        self._segment = max(last + 1, int(time.time() * 1000))
        self._offset = 0
        self._handle: FileIO | None = None
        self._closed = False

    # -- positions and sizes ---------------------------------------------------------------

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:016d}{SUFFIX}"

    def _size(self, segment: int) -> int:
        try:
            return self._path(segment).stat().st_size
        except FileNotFoundError:
            return 0

    def segments(self) -> list[int]:
        """Numbers of the segment files present, in order."""
        return sorted(int(path.stem) for path in self.directory.glob(f"*{SUFFIX}") if path.stem.isdigit())

    def _load_acked(self) -> Position:
        path = self.directory / ACKED_FILE
        try:
            return parse_position(path.read_text())
        except FileNotFoundError:
            return (0, 0)
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"cannot read the forwarder's acknowledged position {path}: {exc}; "
                "delete the file to resend the whole buffer"
            ) from exc

    @property
    def acked(self) -> Position:
        """The position up to which the centre has confirmed storing everything."""
        with self._lock:
            return self._acked

    @property
    def end(self) -> Position:
        """The position after the last appended entry."""
        with self._lock:
            return (self._segment, self._offset)

    @property
    def held_bytes(self) -> int:
        """Bytes buffered and not yet acknowledged."""
        with self._lock:
            return self._held

    def fill(self) -> float:
        """How full the buffer is, 0.0 to 1.0 (or a little more: one batch may overshoot)."""
        return self.held_bytes / self.max_bytes

    # -- writing ---------------------------------------------------------------------------

    def append(self, payloads: Sequence[bytes]) -> Position:
        """Append entries (written through to the OS, fsynced when asked); returns the end.

        BufferFullError when the entries do not fit: nothing is written then. An empty buffer
        takes a batch of any size, so one large batch can never block forever.
        """
        parts = []
        for payload in payloads:
            parts.append(_FRAME.pack(len(payload), zlib.crc32(payload)))
            parts.append(payload)
        data = b"".join(parts)
        with self._lock:
            if self._closed:
                raise StoreError("the forwarder buffer is closed")
            if self._held and self._held + len(data) > self.max_bytes:
                raise BufferFullError(
                    f"the forwarder buffer is full ({self._held // 1024:,} KB of "
                    f"{self.max_bytes // 1024:,} KB, forwarder.buffer_max_mb) while the centre is unreachable"
                )
            if self._handle is None or self._offset >= self.segment_bytes:
                self._open_segment(self._segment + 1 if self._handle is not None else self._segment)
            assert self._handle is not None
            try:
                write_all(self._handle, data)
                if self.fsync:
                    os.fsync(self._handle.fileno())
            except OSError as exc:
                self._cut_back()
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # wait for room like a full buffer
                    raise BufferFullError(f"the disk of the forwarder buffer {self.directory} is full") from exc
                raise StoreError(f"cannot write the forwarder buffer in {self.directory}: {exc.strerror}") from exc
            self._offset += len(data)
            self._held += len(data)
            self._appended.notify_all()
            self._freed.notify_all()
            return (self._segment, self._offset)

    def _open_segment(self, number: int) -> None:
        if self._handle is not None:
            self._handle.close()
        self._segment, self._offset = number, 0
        try:
            self._handle = open(self._path(number), "ab", buffering=0)  # noqa: SIM115 - kept open
        except OSError as exc:
            raise StoreError(f"cannot write the forwarder buffer segment {self._path(number)}: {exc.strerror}") from exc

    def _cut_back(self) -> None:
        assert self._handle is not None
        try:
            self._handle.truncate(self._offset)
        except OSError:
            log.warning("forwarder buffer %s: cannot cut back a partial write", self._path(self._segment))

    # -- reading and acknowledging ---------------------------------------------------------

    def wait_for_data(self, position: Position, timeout: float) -> bool:
        """Wait until something was appended after ``position`` (True) or ``timeout`` passes."""
        with self._appended:
            return self._appended.wait_for(
                lambda: self._closed or (self._offset > 0 and (self._segment, self._offset) > position), timeout
            )

    def wait_for_room(self, timeout: float) -> None:
        """Wait until an acknowledgement frees space (or ``timeout`` passes, or it closes)."""
        with self._freed:
            if not self._closed:
                self._freed.wait(timeout)

    def read(self, position: Position, limit: int) -> Batch | None:
        """Up to ``limit`` entries after ``position``, in order; None when there is none yet."""
        with self._lock:
            writing, written = (self._segment, self._offset) if self._handle is not None else (0, 0)
        payloads: list[bytes] = []
        segment, offset = position
        start = position
        for number in self.segments():
            if number < segment:
                continue
            if number > segment:
                segment, offset = number, 0
                if not payloads:
                    start = (segment, 0)
            stop = written if number == writing else None
            offset = self._read_segment(number, offset, stop, limit - len(payloads), payloads)
            if len(payloads) >= limit or number == writing:
                break
        if not payloads:
            return None
        return Batch(payloads, start, (segment, offset))

    def _read_segment(self, number: int, offset: int, stop: int | None, limit: int, out: list[bytes]) -> int:
        """Append up to ``limit`` payloads of a segment from ``offset`` to ``out``; returns the new offset.

        Reads in chunks (a batch needs its own entries, not the rest of the segment); ``stop`` is
        where the writer is in the segment being written (None for a finished segment).
        """
        path = self._path(number)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return offset
        with handle:
            end = os.fstat(handle.fileno()).st_size if stop is None else stop
            handle.seek(offset)
            data, base, position, taken = b"", offset, 0, 0
            while taken < limit:
                need = _FRAME.size
                if len(data) - position >= _FRAME.size:
                    need += _FRAME.unpack_from(data, position)[0]
                if len(data) - position < need:
                    more = handle.read(max(0, min(max(_READ_BYTES, need), end - base - len(data))))
                    if not more:
                        break
                    data, base, position = data[position:] + more, base + position, 0
                    continue
                crc = _FRAME.unpack_from(data, position)[1]
                payload = data[position + _FRAME.size : position + need]
                if zlib.crc32(payload) != crc:
                    log.warning("forwarder buffer %s: damaged entry at byte %d; skipped", path, base + position)
                    return end
                out.append(payload)
                taken += 1
                position += need
            if taken < limit and base + position < end:
                log.warning("forwarder buffer %s: entry cut short at byte %d (a crash); skipped", path, base + position)
                return end
            return base + position

    def acknowledge(self, position: Position) -> None:
        """Record that the centre stored everything before ``position``; delete spent segments."""
        with self._lock:
            if position <= self._acked:
                return
            held = self._held_after(position)
            self._save_acked(position)
            self._acked = position
            self._held = held
            self._freed.notify_all()
        self._release_before(position[0], self.segments())

    def _held_after(self, position: Position) -> int:
        writing = (self._segment, self._offset)
        if position >= writing:
            return 0
        total = 0
        for number in self.segments():
            if number < position[0]:
                continue
            size = self._offset if number == self._segment else self._size(number)
            total += size - (position[1] if number == position[0] else 0)
        return max(0, total)

    def _save_acked(self, position: Position) -> None:
        path = self.directory / ACKED_FILE
        temporary = path.with_suffix(".tmp")
        try:
            with open(temporary, "w", encoding="ascii") as handle:
                handle.write(format_position(position))
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as exc:
            raise StoreError(f"cannot save the forwarder's acknowledged position in {path}: {exc.strerror}") from exc

    def _release_before(self, segment: int, segments: list[int]) -> None:
        for number in segments:
            if number >= segment:
                break
            self._path(number).unlink(missing_ok=True)

    def close(self) -> None:
        """Close the open segment and wake a waiting reader."""
        with self._lock:
            self._closed = True
            if self._handle is not None:
                self._handle.close()
                self._handle = None
            self._appended.notify_all()
