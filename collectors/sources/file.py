"""File source: tail files and globs line by line, resuming from committed checkpoints.

Each line is one record whose key is its byte offset, so reading a file again yields the same
event ids (the store ignores those it has). The checkpoint ``file:<path>`` holds
``device:inode:offset`` of the end of the last line and is committed with the events, so it
never runs ahead of what is stored. Rotation: a renamed file (new inode at the path) is read to
its end before the new file is read from its start; a copy-truncated file (same inode, now
shorter than the offset) is read again from its start; a file rotated while siem was stopped is
found by its inode in the same directory and finished first. With ``follow`` off (``siem ingest``)
each file is read once from start to end through the same code.

A gzip-compressed file (a rotated ``auth.log.2.gz``; by its magic bytes) is read once, whole,
through ``gzipped.BoundedGzipReader``: offsets count decompressed bytes, and a gzip bomb or a
damaged file is cut where it breaks the limit, logged with its name and counted
(``emit.rejected``); the other files go on. Only regular files are opened, without blocking, so
a path replaced by a directory, a fifo or a symbolic-link loop is reported, never waited on.
"""

from __future__ import annotations

import glob
import logging
import os
import stat as stat_mode
import threading
import time
from pathlib import Path
from typing import BinaryIO

from collectors.base import RawRecord
from collectors.sources.contract import BatchEmitter, SourceOptions
from collectors.sources.gzipped import BoundedGzipReader, GzipDamagedError, GzipLimitError, is_gzip
from collectors.sources.syslog import decode
from siem.errors import SourceError

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024

_Handle = BinaryIO | BoundedGzipReader


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat_mode.S_ISDIR(mode):
        return "a directory"
    if stat_mode.S_ISFIFO(mode):
        return "a fifo"
    return "a socket" if stat_mode.S_ISSOCK(mode) else "a device"


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, never blocking; OSError unless it is a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a fifo must not block the open
    try:
        mode = os.fstat(fd).st_mode
        if not stat_mode.S_ISREG(mode):
            raise OSError(f"{_kind(mode)}, not a regular file")
        return os.fdopen(fd, "rb")  # O_NONBLOCK does nothing on a regular file
    except BaseException:
        os.close(fd)
        raise


def expand(patterns: tuple[str, ...]) -> list[Path]:
    """Files the paths and globs name now, sorted, each once."""
    found: dict[str, Path] = {}
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        matches = glob.glob(expanded) if glob.has_magic(expanded) else [expanded]
        for match in sorted(matches):
            path = Path(match).absolute()
            if path.is_file():
                found.setdefault(str(path), path)
    return list(found.values())


class _TrackedFile:
    """One path being read: its open file, identity and the offset read up to."""

    def __init__(self, path: Path, options: SourceOptions, emit: BatchEmitter, stop: threading.Event) -> None:
        self.path = path
        #: Set when the source must stop: reading ends after the current chunk.
        self.stop = stop
        self.options = options
        self.emit = emit
        self.origin = f"file://{path}"
        self.checkpoint_name = f"file:{path}"
        self.handle: _Handle | None = None
        self.identity = (0, 0)
        #: The file is gzip-compressed (read once, whole).
        self.compressed = False
        #: (device, inode, size, mtime) of a compressed file read to its end; it is read again
        #: only when it changes.
        self.done: tuple[int, int, int, int] | None = None
        #: Offset of the first byte not yet emitted (start of ``pending``).
        self.offset = 0
        self.pending = b""
        #: Skipping the rest of an over-long line.
        self.discarding = False

    def _open(self, start_from_checkpoint: bool) -> bool:
        try:
            raw = open_regular(self.path)
        except OSError as exc:
            log.warning("cannot read %s: %s", self.path, exc.strerror or exc)
            return False
        stat = os.fstat(raw.fileno())
        handle: _Handle = raw
        self.compressed = is_gzip(raw)
        if self.compressed:
            options = self.options
            handle = BoundedGzipReader(
                raw, name=str(self.path), max_bytes=options.max_gzip_bytes, max_ratio=options.max_gzip_ratio
            )
        self.handle, self.identity, self.offset, self.pending = handle, (stat.st_dev, stat.st_ino), 0, b""
        self.discarding = False
        if start_from_checkpoint and self.options.resume:
            saved = self.emit.checkpoint(self.checkpoint_name)
            if saved is not None:
                device, inode, offset = (int(part) for part in saved.split(":"))
                if (device, inode) == self.identity and (self.compressed or offset <= stat.st_size):
                    self.offset = offset
                elif (device, inode) != self.identity:
                    self._finish_rotated(device, inode, offset)
        try:
            handle.seek(self.offset)
        except (GzipDamagedError, GzipLimitError) as exc:
            self._give_up(exc)
        return True

    def _give_up(self, error: GzipDamagedError | GzipLimitError) -> None:
        """Stop reading a compressed file that broke a limit or is damaged: log, count."""
        log.warning("%s", error)
        self.emit.rejected()
        self.pending = b""
        self.close()

    def _finish_rotated(self, device: int, inode: int, offset: int) -> None:
        """Read the rest of the file we were reading before a restart, if it was rotated
        to another name in the same directory meanwhile (then the new file starts at 0)."""
        for candidate in self.path.parent.iterdir():
            try:
                stat = candidate.stat()
            except OSError:
                continue
            if (stat.st_dev, stat.st_ino) != (device, inode) or not candidate.is_file():
                continue
            log.info("reading the rest of %s (rotated from %s while stopped)", candidate, self.path)
            current = (self.handle, self.identity)
            with candidate.open("rb") as rotated:
                rotated.seek(offset)
                self.handle, self.identity, self.offset, self.pending = rotated, (device, inode), offset, b""
                self._read_available(final=True)
            (self.handle, self.identity), self.offset, self.pending = current, 0, b""
            self.discarding = False
            return

    def close(self) -> None:
        """Close the open file, if any."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def _shape(self) -> tuple[int, int, int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def poll(self, first: bool) -> int:
        """Read what is new (handling rotation); returns the bytes read."""
        if self.done is not None:
            if self._shape() == self.done:
                return 0
            self.done = None
        if self.handle is None and not self._open(start_from_checkpoint=first):
            return 0
        read = self._read_available(final=False)
        if self.stop.is_set():  # rotation is handled on the next run, from the checkpoint
            return read
        if self.compressed:  # read whole: look again only when the file changes
            self.done = self._shape()
            self.close()
            return read
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:  # renamed away, the new file not created yet
            return read
        if (stat.st_dev, stat.st_ino) != self.identity:
            read += self._read_available(final=True)  # finish the rotated file
            self.close()
            if self._open(start_from_checkpoint=False):
                read += self._read_available(final=False)
        elif stat.st_size < self.offset + len(self.pending):  # copy-truncate
            log.info("%s was truncated; reading it again from the start", self.path)
            assert self.handle is not None
            self.handle.seek(0)
            self.offset, self.pending, self.discarding = 0, b"", False
            read += self._read_available(final=False)
        return read

    def read_once(self) -> int:
        """Read the whole file from the start, the last line even without a newline."""
        if not self._open(start_from_checkpoint=False):
            raise SourceError(f"cannot read {self.path}")
        try:
            return self._read_available(final=True)
        finally:
            self.close()

    def _read_available(self, *, final: bool) -> int:
        if self.handle is None:  # a compressed file given up on
            return 0
        final = final or self.compressed  # a compressed file is complete: its last line counts
        total = 0
        while not self.stop.is_set():
            try:
                chunk = self.handle.read(_CHUNK)
            except (GzipDamagedError, GzipLimitError) as exc:
                if self.pending:  # what came before the damage is kept
                    self._emit_lines(self.pending + b"\n", final=True)
                self._give_up(exc)
                return total
            if not chunk:
                break
            total += len(chunk)
            self._emit_lines(self.pending + chunk if self.pending else chunk, final=False)
        if final and self.pending and not self.stop.is_set():
            self._emit_lines(self.pending + b"\n", final=True)
        return total

    def _emit_lines(self, data: bytes, *, final: bool) -> None:
        options = self.options
        limit = options.max_message_bytes
        identity = f"{self.identity[0]}:{self.identity[1]}:"
        records: list[RawRecord] = []
        received = time.time()
        offset = self.offset
        cut = 0
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            start = offset
            offset += len(line) + 1
            if final:  # the newline was added by us
                offset -= 1
            if self.discarding:
                self.discarding = False
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                continue
            truncated = len(line) > limit
            if truncated:
                cut += 1
            text, raw = decode(line[:limit] if truncated else line)
            records.append(
                RawRecord(
                    text=text,
                    origin=self.origin,
                    received=received,
                    key=str(start),
                    raw_bytes=raw,
                    truncated=truncated,
                    format=options.format,
                    timezone=options.timezone,
                    checkpoint=(self.checkpoint_name, identity + str(offset)) if options.resume else None,
                    source=options.name,
                )
            )
        if len(rest) > limit and not self.discarding:  # an over-long line: keep its start now
            cut += 1
            text, raw = decode(rest[:limit])
            records.append(
                RawRecord(
                    text=text, origin=self.origin, received=received, key=str(offset),
                    raw_bytes=raw, truncated=True, format=options.format,
                    timezone=options.timezone, source=options.name,
                )
            )  # fmt: skip
            self.discarding = True
        if self.discarding:
            offset += len(rest)
            rest = b""
        self.offset, self.pending = offset, rest
        if records:
            self.emit.put_many(records)
            if cut:
                self.emit.rejected(cut)


class FileSource:
    """Tails (or, with ``follow`` off, reads once) the files the options name."""

    def __init__(self, options: SourceOptions) -> None:
        if not options.paths:
            raise SourceError(f"source {options.name}: no paths to read")
        self.options = options
        self.name = options.name

    @property
    def url(self) -> str:
        """What it reads, for the ready line."""
        return "file://" + ",".join(self.options.paths)

    def files(self) -> list[Path]:
        """The files the paths and globs name now."""
        return expand(self.options.paths)

    def run(self, emit: BatchEmitter, stop: threading.Event) -> None:
        """Read once (no follow) or tail until ``stop``."""
        if not self.options.follow:
            for path in self.files():
                if stop.is_set():
                    return
                _TrackedFile(path, self.options, emit, stop).read_once()
            return
        tracked: dict[Path, _TrackedFile] = {}
        try:
            while not stop.is_set():
                for path in self.files():
                    first = path not in tracked
                    if first:
                        tracked[path] = _TrackedFile(path, self.options, emit, stop)
                    tracked[path].poll(first)
                stop.wait(self.options.poll_interval)
        finally:
            for handle in tracked.values():
                handle.close()


def create_source(options: SourceOptions) -> FileSource:
    """The file source for ``options``."""
    return FileSource(options)
