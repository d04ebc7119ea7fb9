"""How the search language treats field names and values, shared by both translators.

- Address fields (``ip`` and names ending in ``.ip``: ``source.ip``, ``destination.ip``,
  ``host.ip``, ``observer.ip``, ``client.ip``, ``server.ip``, ``related.ip``) take IP
  addresses and blocks (CIDR), compared as addresses.
- ``@timestamp`` takes ISO 8601 times, compared as instants.
- ``event.id`` is an identifier and matched case-sensitively; other text values match
  case-insensitively (as Sigma does), and ranges on text compare case-sensitively.
- Free text searches ``event.original`` and ``message``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from enum import StrEnum

from siem import event as ecs
from siem.query.ast import Bounds

FIELD_NAME = re.compile(r"[A-Za-z_@][A-Za-z0-9_@.\-]*")
TIMESTAMP_FIELD = ecs.TIMESTAMP
FREE_TEXT_FIELDS = (ecs.ORIGINAL, ecs.MESSAGE)
CASE_SENSITIVE_FIELDS = frozenset({ecs.ID})
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RangeType(StrEnum):
    """How the ends of a range are compared."""

    NUMBER = "number"
    TIME = "time"
    ADDRESS = "address"
    TEXT = "text"


def is_address_field(name: str) -> bool:
    """True for fields holding IP addresses (``ip`` or ``*.ip``)."""
    return name == "ip" or name.endswith(".ip")


def is_case_sensitive(field: str, value: str) -> bool:
    """True when matching ``value`` on ``field`` needs no case folding.

    Identifiers are exact, and a value without letters that have case (numbers, addresses)
    is the same folded or not (which also keeps store indexes usable).
    """
    return field in CASE_SENSITIVE_FIELDS or value.lower() == value.upper()


def has_non_ascii_case(value: str) -> bool:
    """True when ``value`` has a letter with case outside ASCII (SQLite folds ASCII only)."""
    return any(ord(char) > 127 and char.lower() != char.upper() for char in value)


def as_number(text: str) -> int | float | None:
    """The number ``text`` spells (``42``, ``-1.5``), or None."""
    if not _NUMBER.fullmatch(text):
        return None
    if "." not in text and len(text) <= 18:
        return int(text)
    # Beyond 64-bit integers (SQLite's INTEGER; int() refuses 4,300 digits): a float, when finite.
    number = float(text)
    return number if math.isfinite(number) else None


def parse_address(text: str) -> IPAddress:
    """An IP address; raises ValueError."""
    return ipaddress.ip_address(text)


def parse_block(text: str) -> IPNetwork:
    """An address block; host bits are allowed and cleared (``10.2.3.4/16``); raises ValueError."""
    return ipaddress.ip_network(text, strict=False)


def address_key(address: IPAddress) -> int:
    """The address as a 128-bit number, IPv4 mapped into IPv6 as Elasticsearch orders them."""
    if isinstance(address, ipaddress.IPv4Address):
        return 0xFFFF00000000 | int(address)
    return int(address)


def timestamp_ms(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 time (naive means UTC); raises ValueError."""
    try:
        return int(ecs.parse_timestamp(text) * 1000)
    except (OverflowError, OSError) as exc:
        raise ValueError(str(exc)) from exc


def canonical_timestamp(text: str) -> str:
    """The ISO form every event carries (``2026-11-25T10:00:00.000Z``); raises ValueError."""
    try:
        return ecs.format_timestamp(ecs.parse_timestamp(text))
    except (OverflowError, OSError) as exc:
        raise ValueError(str(exc)) from exc


def range_type(field: str, bounds: Bounds) -> RangeType:
    """How a range on ``field`` compares: by field first, then by the ends' spelling."""
    if field == TIMESTAMP_FIELD:
        return RangeType.TIME
    if is_address_field(field):
        return RangeType.ADDRESS
    ends = [end for end in (bounds.low, bounds.high) if end is not None]
    if ends and all(as_number(end) is not None for end in ends):
        return RangeType.NUMBER
    return RangeType.TEXT


@dataclass(frozen=True, slots=True)
class PatternPiece:
    """Part of a wildcard pattern: literal text, or ``*`` / ``?`` when ``wildcard``."""

    text: str
    wildcard: bool


def pattern_pieces(pattern: str) -> list[PatternPiece]:
    """Split a WILDCARD term's pattern into literal runs and single wildcards."""
    pieces: list[PatternPiece] = []
    literal: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            literal.append(pattern[index + 1])
            index += 2
            continue
        if char in "*?":
            if literal:
                pieces.append(PatternPiece("".join(literal), False))
                literal = []
            pieces.append(PatternPiece(char, True))
        else:
            literal.append(char)
        index += 1
    if literal:
        pieces.append(PatternPiece("".join(literal), False))
    return pieces
