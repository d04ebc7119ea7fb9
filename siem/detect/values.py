"""Run-time helpers the compiled rule matchers call: value normalization, IPs, timestamps.

Sigma matching is case-insensitive and type-lenient (Sigma specification v2, "Value
types"): the number ``4624`` matches the event string ``"4624"``, booleans compare as
``true``/``false``. Every event value is turned into one comparable string by ``norm``
(lowercase) or ``norm_cased`` (original case), the same way for the rule index and for
the matchers, so the index never drops a candidate the matcher would accept.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Fields never searched by keyword (unbound) detections: the raw record duplicates the others.
KEYWORD_SKIP = frozenset({"event.original"})


def norm_cased(value: Any) -> str:
    """The event value as a string in its own case (numbers without a trailing ``.0``)."""
    cls = value.__class__
    if cls is str:
        return str(value)
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    if cls is float:
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def norm(value: Any) -> str:
    """The event value as a lowercase string (Sigma's default case-insensitive comparison)."""
    if value.__class__ is str:
        return str(value).lower()
    return norm_cased(value).lower()


#: After ``casefold``: the dotless i is an i (Python's ``re`` matches ``(?i)i`` against it) and
#: the combining dot above goes (``"İ".casefold()`` is ``i`` plus that dot).
_FOLD_FIX = {0x131: "i", 0x307: None}


def fold(text: str) -> str:
    """The text the rule index searches: ``lower`` for ASCII, else a context-free case fold.

    Unlike ``lower`` (whose final sigma depends on the next letter), folding maps each character
    on its own, and equates every pair of characters a case-insensitive match equates, so a
    literal in a value (as the matchers compare it) is always in the value's fold:
    ``fold(value.lower()) == fold(value)`` (tests/detect/test_literals.py checks it).
    """
    if text.isascii():
        return text.lower()
    return text.casefold().translate(_FOLD_FIX)


def number(value: Any) -> float | None:
    """The event value as a number for gt/gte/lt/lte, or None when it is not one."""
    cls = value.__class__
    if cls is int or cls is float:
        return float(value)
    if cls is str:
        try:
            return float(value.strip())
        except ValueError:
            try:
                return float(int(value.strip(), 0))
            except ValueError:
                return None
    return None


@lru_cache(maxsize=65536)
def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def ip(value: Any) -> IPAddress | None:
    """The event value as an IP address (parsed once per distinct text), or None."""
    if value.__class__ is not str:
        if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return value
        return None
    return _parse_ip(value)


def in_networks(value: Any, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    """True when the value is an IP address inside one of the networks (v4 or v6)."""
    address = ip(value)
    if address is None:
        return False
    return any(address.version == network.version and address in network
               for network in networks)


def timestamp(value: Any) -> datetime | None:
    """The event value as an aware datetime (ISO 8601 text or epoch seconds), or None."""
    cls = value.__class__
    try:
        if cls is int or cls is float:
            return datetime.fromtimestamp(float(value), UTC)
        if cls is str:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def timestamp_part(value: Any, part: str) -> int | None:
    """One part (minute, hour, day, week, month, year) of a timestamp value."""
    moment = timestamp(value)
    if moment is None:
        return None
    if part == "week":
        return moment.isocalendar().week
    return int(getattr(moment, part))


def keyword_values(event: Mapping[str, Any]) -> Iterator[Any]:
    """The values keyword (unbound) detections search: every non-null value, lists flattened.

    ``event.original`` is skipped when the event has other fields (it repeats them, escaped).
    """
    skip = KEYWORD_SKIP if len(event) > 1 else frozenset()
    for key, value in event.items():
        if value is None or key in skip:
            continue
        if value.__class__ is list:
            for item in value:
                if item is not None:
                    yield item
        else:
            yield value
