"""The forwarder link's wire format (ward forwarder -> centre, inside mutual TLS).

Every frame is ``u32 length, u8 kind, body`` (big-endian; ``length`` counts kind and body):

- ``HELLO`` (forwarder): JSON ``{"version": 1, "name": "<ward>"}``.
- ``WELCOME`` (centre): JSON ``{"version": 1, "acked": "<segment>:<offset>" | null}``, the end
  position of the last batch from this forwarder that the centre's store has committed.
- ``BATCH`` (forwarder): ``u64 segment, u64 offset`` (the batch's end position in the forwarder's
  buffer, its sequence number: it only grows), then per event ``u32 length`` and its JSON.
- ``ACK`` (centre): ``u64 segment, u64 offset`` of a batch, sent only once the store committed it.
- ``ERROR`` (centre): JSON ``{"message": "..."}`` before it closes the link.

Batches are acknowledged in the order they were sent; a batch the centre already committed is
acknowledged again without being stored twice (and the store ignores event ids it holds).
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
from typing import Any

from collectors.parsers.envelope import number

HELLO = 1
WELCOME = 2
BATCH = 3
ACK = 4
ERROR = 5
VERSION = 1
#: Largest frame either side accepts (a batch of events), to bound memory.
MAX_FRAME = 256 * 1024 * 1024

_HEAD = struct.Struct(">IB")
_POSITION = struct.Struct(">QQ")
_LENGTH = struct.Struct(">I")

Position = tuple[int, int]


class WireError(Exception):
    """The peer broke the protocol (bad frame, wrong kind, too large)."""


def frame(kind: int, body: bytes) -> bytes:
    """One frame."""
    return _HEAD.pack(len(body) + 1, kind) + body


def json_frame(kind: int, document: dict[str, Any]) -> bytes:
    """A frame whose body is a JSON object."""
    return frame(kind, json.dumps(document, separators=(",", ":")).encode())


def json_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a HELLO, WELCOME or ERROR body (WireError otherwise)."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise WireError(f"invalid JSON in a control frame: {exc}") from exc
    if not isinstance(document, dict):
        raise WireError("a control frame must hold a JSON object")
    return document


def batch_frame(end: Position, payloads: list[bytes]) -> bytes:
    """A BATCH frame of event payloads ending at buffer position ``end``."""
    parts = [_POSITION.pack(*end)]
    for payload in payloads:
        parts.append(_LENGTH.pack(len(payload)))
        parts.append(payload)
    return frame(BATCH, b"".join(parts))


def parse_batch(body: bytes) -> tuple[Position, list[bytes]]:
    """The end position and event payloads of a BATCH body."""
    if len(body) < _POSITION.size:
        raise WireError("a batch frame is too short")
    segment, offset = _POSITION.unpack_from(body)
    payloads = []
    position = _POSITION.size
    while position < len(body):
        if position + _LENGTH.size > len(body):
            raise WireError("a batch frame ends inside an event length")
        (length,) = _LENGTH.unpack_from(body, position)
        position += _LENGTH.size
        if position + length > len(body):
            raise WireError("a batch frame ends inside an event")
        payloads.append(body[position : position + length])
        position += length
    return (segment, offset), payloads


def ack_frame(end: Position) -> bytes:
    """An ACK frame for the batch ending at ``end``."""
    return frame(ACK, _POSITION.pack(*end))


def parse_ack(body: bytes) -> Position:
    """The position an ACK body confirms."""
    if len(body) != _POSITION.size:
        raise WireError("an ack frame has the wrong size")
    segment, offset = _POSITION.unpack(body)
    return segment, offset


def format_position(position: Position) -> str:
    """``segment:offset``."""
    return f"{position[0]}:{position[1]}"


def parse_position(text: str) -> Position:
    """``(segment, offset)`` of ``segment:offset`` (WireError when malformed)."""
    segment, sep, offset = text.partition(":")
    first, second = number(segment, 20), number(offset, 20)  # 20 digits hold any 64-bit position
    if not sep or first is None or second is None:
        raise WireError(f"not a buffer position: {text!r}")
    return first, second


class FrameReader:
    """Reads whole frames from a socket with a timeout, keeping partial data between calls."""

    def __init__(self, stream: socket.socket) -> None:
        self.stream = stream
        self._buffer = bytearray()

    def _frame(self) -> tuple[int, bytes] | None:
        if len(self._buffer) < _HEAD.size:
            return None
        length, kind = _HEAD.unpack_from(self._buffer)
        if length < 1 or length > MAX_FRAME:
            raise WireError(f"frame of {length} bytes is out of bounds")
        end = 4 + length
        if len(self._buffer) < end:
            return None
        body = bytes(self._buffer[_HEAD.size : end])
        del self._buffer[:end]
        return kind, body

    def read(self) -> tuple[int, bytes] | None:
        """The next frame, or None when the socket's timeout passes first.

        ConnectionError when the peer closed the link.
        """
        while True:
            found = self._frame()
            if found is not None:
                return found
            try:
                data = self.stream.recv(1024 * 1024)
            except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
                return None
            if not data:
                raise ConnectionError("the peer closed the connection")
            self._buffer += data
