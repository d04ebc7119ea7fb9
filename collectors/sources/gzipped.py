"""Reading gzip-compressed (rotated) log files with a bound on what they may expand to.

Format: RFC 1952 "GZIP file format specification version 4.3" (members may be concatenated, as
``gzip -c a >> b`` writes; Python's ``gzip`` reads them all). A hostile file (a "gzip bomb": a
few KB that expand to GB) is cut at ``min(max_bytes, max(1 MiB, max_ratio * compressed size))``
decompressed bytes; a damaged or truncated one ends where it breaks. Both raise SourceError
naming the file, after everything before the cut has been returned.
"""

from __future__ import annotations

import gzip
import os
import zlib
from typing import BinaryIO

from siem.errors import SourceError

#: The two bytes every gzip member starts with (RFC 1952 section 2.3.1: ID1, ID2).
GZIP_MAGIC = b"\x1f\x8b"
#: Any gzip file may expand to this much, whatever its ratio (a small file of repeated lines).
RATIO_FLOOR = 1024 * 1024


class GzipLimitError(SourceError):
    """A gzip file expands beyond the configured size or ratio (a gzip bomb): reading stopped."""


class GzipDamagedError(SourceError):
    """A gzip file is truncated or corrupt: reading stopped where it breaks."""


def is_gzip(handle: BinaryIO) -> bool:
    """Whether the file starts with the gzip magic; the position is left at the start."""
    head = handle.read(2)
    handle.seek(0)
    return head == GZIP_MAGIC


def expansion_limit(compressed_size: int, *, max_bytes: int, max_ratio: int) -> int:
    """The most bytes a gzip file of ``compressed_size`` bytes may expand to."""
    return min(max_bytes, max(RATIO_FLOOR, max_ratio * compressed_size))


class BoundedGzipReader:
    """Decompresses a gzip file chunk by chunk, never returning more than ``limit`` bytes."""

    def __init__(self, raw: BinaryIO, *, name: str, max_bytes: int, max_ratio: int) -> None:
        self.name = name
        self._raw = raw
        self._gzip = gzip.GzipFile(fileobj=raw, mode="rb")
        self.limit = expansion_limit(os.fstat(raw.fileno()).st_size, max_bytes=max_bytes, max_ratio=max_ratio)
        #: Decompressed bytes returned so far.
        self.position = 0
        self._over = False
        self._damage: GzipDamagedError | None = None

    def fileno(self) -> int:
        """The descriptor of the compressed file."""
        return self._raw.fileno()

    def seek(self, offset: int) -> None:
        """Skip to decompressed ``offset`` (from the start; never past the limit)."""
        self._gzip.seek(0)
        self.position, self._over, self._damage = 0, False, None
        while self.position < offset:
            if not self.read(min(offset - self.position, 1024 * 1024)):
                break

    def read(self, size: int) -> bytes:
        """Up to ``size`` decompressed bytes (b"" at the end); GzipLimitError past the limit,
        GzipDamagedError for a truncated or corrupt file."""
        if self._damage is not None:
            raise self._damage
        if not self._over:
            data = self._read_pieces(min(size, self.limit - self.position + 1))
            if self.position + len(data) <= self.limit:
                self.position += len(data)
                return data
            self._over = True  # return what fits; the next read raises
            data = data[: self.limit - self.position]
            if data:
                self.position += len(data)
                return data
        raise GzipLimitError(
            f"gzip file expands beyond {self.limit:,} bytes (max_gzip_bytes / max_gzip_ratio); reading stopped there",
            path=self.name,
        )

    def _read_pieces(self, size: int) -> bytes:
        """Up to ``size`` bytes; a damage found after some data is kept for the next read."""
        pieces: list[bytes] = []
        got = 0
        while got < size:
            try:
                piece = self._gzip.read1(size - got)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                damage = GzipDamagedError(
                    f"damaged gzip file, read up to {self.position + got:,} bytes: {exc}", path=self.name
                )
                damage.__cause__ = exc
                if not pieces:
                    raise damage from exc
                self._damage = damage
                break
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def close(self) -> None:
        """Close the decompressor and the file."""
        try:
            self._gzip.close()
        finally:
            self._raw.close()
