"""Durable correlation state: the correlation windows saved as store checkpoints.

The pipeline commits a batch's events and its sources' checkpoints in one transaction; the
correlation state after that batch goes in the same ``checkpoints`` mapping, so a restart
replays from a checkpoint and a state that belong together. Format, version 1 (orjson):

- ``detect:correlation`` (``HEADER``): ``{"v": 1, "shards": N, "used": the shards holding
  groups, "counters": {...}, "clock": [last event time, last expiry time]}``, ``used`` a list
  of shard numbers, or when that would be longer, a bitmap in hex (shard n: byte n // 8, bit
  n % 8);
- ``detect:correlation:NNNNN`` for each used shard NNNNN: a JSON list of the shard's groups, each
  ``[rule id, group values, quiet until, [first, hits, value] of the last match,
  use tick, [[time, ref, value, [[rule id, event index, slim event], ...]], ...]]``.

Only the shards changed since the last save are written, and the header when it changed; a
shard not in ``used`` is never read (a group entering a shard writes it in the same commit
as the header that lists it). A state that cannot be read (another version, a damaged
value) is logged and ignored: the windows start empty.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import orjson

from siem.detect.correlation import SHARDS, CorrelationEngine, EncodedJson

log = logging.getLogger(__name__)

#: The checkpoint name of the state's header (shards are ``HEADER:NNNNN``).
HEADER = "detect:correlation"
VERSION = 1

Clock = tuple[float, float]


def shard_name(shard: int) -> str:
    """The checkpoint name of one shard."""
    return f"{HEADER}:{shard:05d}"


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, default=_encoded).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits in an event field
        return json.dumps(value, default=_plain, ensure_ascii=False, separators=(",", ":"))


def _encoded(value: Any) -> Any:
    """What orjson writes for a value it does not know: a hit already encoded
    (``EncodedJson``, see ``CorrelationEngine.export_shards``) as it is, anything else as text."""
    if isinstance(value, EncodedJson):
        return orjson.Fragment(value.text)
    return str(value)


def _plain(value: Any) -> Any:
    """``_encoded`` for the ``json`` fallback."""
    if isinstance(value, EncodedJson):
        return json.loads(value.text)
    return str(value)


def header(engine: CorrelationEngine, clock: Clock) -> str:
    """The header checkpoint value for the engine's counters and the detector's clock."""
    used = engine.used_shards()
    listed: list[int] | str = used
    if len(used) * 6 > SHARDS // 4:  # a list of numbers would be longer than the bitmap
        bitmap = bytearray((SHARDS + 7) // 8)
        for shard in used:
            bitmap[shard >> 3] |= 1 << (shard & 7)
        listed = bitmap.hex()
    return _dumps({"v": VERSION, "shards": SHARDS, "used": listed, "counters": engine.counters(),
                   "clock": list(clock)})


def _used(listed: Any, shards: int) -> list[int]:
    """The shard numbers of a header's ``used``."""
    if isinstance(listed, str):
        bitmap = bytes.fromhex(listed)
        return [shard for shard in range(min(shards, len(bitmap) * 8)) if bitmap[shard >> 3] >> (shard & 7) & 1]
    if not isinstance(listed, list) or not all(isinstance(n, int) and 0 <= n < shards for n in listed):
        raise ValueError("the list of used shards is damaged")
    return listed


def changed_shards(engine: CorrelationEngine) -> dict[str, str]:
    """Checkpoint values of the shards changed since the last call (``{}`` when none)."""
    return {shard_name(shard): _dumps(groups) for shard, groups in engine.export_shards(engine.take_dirty()).items()}


def restore(engine: CorrelationEngine, read: Callable[[str], str | None]) -> Clock | None:
    """Load the saved state into ``engine``; the detector's clock, or None when nothing was loaded."""
    text = read(HEADER)
    if text is None:
        return None
    try:
        saved = orjson.loads(text)
        if not isinstance(saved, dict) or saved.get("v") != VERSION:
            found = saved.get("v") if isinstance(saved, dict) else None
            raise ValueError(f"format version {found!r}, this siem reads version {VERSION}")
        items: list[tuple[int, list[Any]]] = []
        for shard in _used(saved["used"], int(saved["shards"])):
            value = read(shard_name(shard))
            if value:
                groups = orjson.loads(value)
                if not isinstance(groups, list):
                    raise ValueError(f"shard {shard} is not a list")
                items.extend((shard, group) for group in groups)
        engine.import_state(saved["counters"], items)
        first, second = saved["clock"]
        return float(first), float(second)
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, IndexError) as exc:
        log.warning("the saved correlation state (checkpoint %s) cannot be read (%s); correlation"
                    " windows start empty", HEADER, exc)
        engine.import_state({"evicted": 0, "dropped_hits": 0, "late": 0, "suppressed": 0, "tick": 0}, [])
        return None
