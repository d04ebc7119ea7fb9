"""Syslog over TCP framing, RFC 6587 "Transmission of Syslog Messages over TCP", section 3.4.

- Octet counting (3.4.1): ``MSG-LEN SP SYSLOG-MSG``; chosen when a connection starts with a
  digit 1-9.
- Non-transparent framing (3.4.2): messages end with LF; we also accept NUL and CRLF (a
  trailing CR is removed), as many senders use them. Chosen otherwise (a message starts '<').

A message longer than the limit is cut to the limit and flagged; the rest of it is skipped.
A broken octet count (not a number) switches the connection to non-transparent framing, so
the bytes are still kept as messages rather than lost.
"""

from __future__ import annotations

Frame = tuple[bytes, bool]
"""A message and whether it was truncated."""

_MAX_LENGTH_DIGITS = 10


class Framer:
    """Splits one TCP connection's byte stream into messages (framing detected per connection)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.octet_counting: bool | None = None
        self._buffer = b""
        #: Bytes of an over-long message still to skip.
        self._skip = 0
        #: Line mode: discarding the rest of an over-long line up to its delimiter.
        self._discarding = False

    def feed(self, data: bytes) -> list[Frame]:
        """The complete messages ``data`` finishes (the rest is kept for the next call)."""
        if self.octet_counting is None:
            if not data:
                return []
            self.octet_counting = 0x31 <= data[0] <= 0x39
        buffer = self._buffer + data if self._buffer else data
        if self.octet_counting:
            return self._octets(buffer)
        return self._lines(buffer)

    def finish(self) -> list[Frame]:
        """What is left when the connection closes, as a last message."""
        rest, self._buffer = self._buffer, b""
        if self._discarding or not rest:
            return []
        if self.octet_counting:  # a frame cut short by the peer: keep what came, flagged
            space = rest.find(b" ")
            body = rest[space + 1 :] if space > 0 and rest[:space].isdigit() else rest
            return [(body[: self.max_bytes], True)] if body else []
        rest = rest.rstrip(b"\r")
        return [(rest[: self.max_bytes], len(rest) > self.max_bytes)] if rest else []

    def _lines(self, buffer: bytes) -> list[Frame]:
        if b"\x00" in buffer:
            buffer = buffer.replace(b"\x00", b"\n")
        parts = buffer.split(b"\n")
        rest = parts.pop()
        frames: list[Frame] = []
        limit = self.max_bytes
        for part in parts:
            if self._discarding:
                self._discarding = False
                continue
            if part.endswith(b"\r"):
                part = part[:-1]
            if not part:
                continue
            if len(part) > limit:
                frames.append((part[:limit], True))
            else:
                frames.append((part, False))
        if self._discarding:
            rest = b""
        elif len(rest) > limit:
            frames.append((rest[:limit], True))
            rest = b""
            self._discarding = True
        self._buffer = rest
        return frames

    def _octets(self, buffer: bytes) -> list[Frame]:
        frames: list[Frame] = []
        position = 0
        end = len(buffer)
        limit = self.max_bytes
        while position < end:
            if self._skip:
                taken = min(self._skip, end - position)
                self._skip -= taken
                position += taken
                continue
            if buffer[position] in b"\r\n ":  # stray delimiters some senders add
                position += 1
                continue
            space = buffer.find(b" ", position, position + _MAX_LENGTH_DIGITS + 1)
            if space < 0:
                if end - position > _MAX_LENGTH_DIGITS or not buffer[position:end].isdigit():
                    return frames + self._fall_back(buffer[position:])
                break
            digits = buffer[position:space]
            if not digits.isdigit():
                return frames + self._fall_back(buffer[position:])
            length = int(digits)
            start = space + 1
            if length > limit:
                if end - start < limit:
                    break
                frames.append((buffer[start : start + limit], True))
                self._skip = length - limit
                position = start + limit
                continue
            if end - start < length:
                break
            frames.append((buffer[start : start + length], False))
            position = start + length
        self._buffer = buffer[position:]
        return frames

    def _fall_back(self, rest: bytes) -> list[Frame]:
        self.octet_counting = False
        self._buffer = b""
        return self._lines(rest)
