"""pcap source: packet metadata (flows, DNS, HTTP, TLS, ...) of pcap and pcapng files.

Each file named by the paths and globs is read once with ``collectors.pcap.read_pcap``; every
event becomes a record of format ``ecs-json`` (see ``collectors.parsers.ecs_json``) keeping its
content-based ``event.id``, so reading a file again stores nothing new. The last record of a
file carries the checkpoint ``pcap:<path>`` = ``device:inode:size:mtime:done``, committed with
the events: after a restart a finished, unchanged file is not read again; one cut short by a
stop is read again from the start (its events are duplicates the store ignores). Records go
out with the blocking ``put_many`` (backpressure: a large file waits for the pipeline).

With ``follow`` (``siem run``) the paths are looked at again every few seconds, and a new file
is read once its size and time have stopped changing (a capture still being written waits).
File formats: draft-ietf-opsawg-pcap and draft-ietf-opsawg-pcapng (see ``collectors.pcap.reader``).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from pathlib import Path

from collectors.base import RawRecord
from collectors.parsers.ecs_json import NAME as ECS_JSON
from collectors.parsers.ecs_json import encode
from collectors.pcap import ExtractorStats, ReadStats, read_pcap
from collectors.pcap.reader import PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAPNG_SHB
from collectors.sources.contract import BatchEmitter, SourceOptions
from collectors.sources.file import expand
from siem.errors import ParseError, SourceError
from siem.event import Event

log = logging.getLogger(__name__)

#: Events handed to the pipeline at once.
BATCH = 500
#: File name endings taken as captures even before their first bytes are looked at.
EXTENSIONS = (".pcap", ".pcapng", ".cap", ".dmp")
_MAGICS = frozenset(
    value
    for magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAPNG_SHB)
    for value in (magic, struct.unpack("<I", struct.pack(">I", magic))[0])
)
#: Least seconds between looks for new files when following.
_MIN_POLL = 1.0


def is_capture_file(path: str | Path) -> bool:
    """Whether ``path`` is a pcap or pcapng file, by its name ending or its magic number."""
    path = Path(path)
    if path.suffix.lower() in EXTENSIONS:
        return True
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    return len(head) == 4 and struct.unpack("<I", head)[0] in _MAGICS


def _identity(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:done"


class PcapSource:
    """Reads the capture files the options name into packet metadata events."""

    def __init__(self, options: SourceOptions) -> None:
        if not options.paths:
            raise SourceError(f"source {options.name}: no capture files to read")
        self.options = options
        self.name = options.name
        #: Totals over every file read by this source.
        self.read_stats = ReadStats()
        self.packet_stats = ExtractorStats()
        self._done: set[str] = set()

    @property
    def url(self) -> str:
        """What it reads, for the ready line."""
        return "pcap://" + ",".join(self.options.paths)

    def run(self, emit: BatchEmitter, stop: threading.Event) -> None:
        """Read every file once (no follow), or keep reading new files until ``stop``."""
        if not self.options.follow:
            for path in expand(self.options.paths):
                if stop.is_set():
                    return
                self.read_file(path, emit, stop)
            return
        last_seen: dict[Path, tuple[int, int]] = {}
        while not stop.is_set():
            for path in expand(self.options.paths):
                if stop.is_set():
                    return
                try:
                    stat = path.stat()
                    identity = _identity(path)
                except OSError:
                    continue
                key = f"{path}|{identity}"
                if key in self._done:
                    continue
                if self._committed(path, identity, emit):
                    self._done.add(key)
                    continue
                shape = (stat.st_size, stat.st_mtime_ns)
                if last_seen.get(path) != shape:  # new or still growing: look again later
                    last_seen[path] = shape
                    continue
                try:
                    self.read_file(path, emit, stop)
                except (ParseError, SourceError) as exc:
                    log.warning("skipping %s: %s", path, exc)
                    self._done.add(key)
            stop.wait(max(self.options.poll_interval, _MIN_POLL))

    def _committed(self, path: Path, identity: str, emit: BatchEmitter) -> bool:
        return self.options.resume and emit.checkpoint(f"pcap:{path}") == identity

    def read_file(self, path: Path, emit: BatchEmitter, stop: threading.Event) -> bool:
        """Emit the events of one file; False when ``stop`` cut it short.

        Raises ``SourceError`` (cannot open) or ``ParseError`` (not a capture file).
        """
        try:
            identity = _identity(path)
        except OSError as exc:
            raise SourceError(f"cannot read capture file: {exc.strerror}", path=str(path)) from exc
        if self._committed(path, identity, emit):
            self._done.add(f"{path}|{identity}")
            return True
        origin = f"file://{path}"
        received = time.time()
        batch: list[RawRecord] = []
        damaged_before = self.read_stats.damaged
        for event in read_pcap(path, read_stats=self.read_stats, stats=self.packet_stats):
            batch.append(self._record(event, origin, received))
            if len(batch) >= BATCH:
                emit.put_many(batch)
                batch = []
            if stop.is_set():
                emit.put_many(batch)
                return False
        if self.options.resume:
            if not batch:  # an empty capture: nothing to carry the checkpoint
                self._done.add(f"{path}|{identity}")
            else:
                batch[-1].checkpoint = (f"pcap:{path}", identity)
        emit.put_many(batch)
        if self.read_stats.damaged > damaged_before:
            log.warning("%s: %d damaged records skipped", path, self.read_stats.damaged - damaged_before)
        self._done.add(f"{path}|{identity}")
        return True

    def _record(self, event: Event, origin: str, received: float) -> RawRecord:
        return RawRecord(
            text=encode(event),
            origin=origin,
            received=received,
            key=str(event["event.id"]),
            format=ECS_JSON,
            timezone=self.options.timezone,
            source=self.options.name,
        )


def create_source(options: SourceOptions) -> PcapSource:
    """The pcap source for ``options``."""
    return PcapSource(options)
