"""The normalized event: a flat dict keyed by Elastic Common Schema (ECS) dotted names.

Every source produces the same shape, e.g.::

    {"@timestamp": "2026-11-25T10:00:00.000Z", "event.id": "5f0c...", "event.kind": "event",
     "event.dataset": "linux.auth", "event.original": "<raw line>", "source.ip": "10.2.3.4",
     "labels.site": "ward-3", "labels.zone": "camera"}

A plain dict (not a class) keeps the hot path cheap; this module holds the names and helpers.
``event.id`` is stable for the same input, so a replay writes the same ids and the store
ignores what it already holds. Reference: https://www.elastic.co/guide/en/ecs/current/
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]

TIMESTAMP = "@timestamp"
ID = "event.id"
KIND = "event.kind"
CATEGORY = "event.category"
TYPE = "event.type"
ACTION = "event.action"
OUTCOME = "event.outcome"
DATASET = "event.dataset"
MODULE = "event.module"
ORIGINAL = "event.original"
#: The received bytes, base64, when they were not valid UTF-8 (``event.original`` then holds
#: them decoded with replacement characters). Not an ECS field.
ORIGINAL_BASE64 = "event.original_base64"
CREATED = "event.created"
INGESTED = "event.ingested"
SEVERITY = "event.severity"
MESSAGE = "message"
SOURCE_IP = "source.ip"
SOURCE_PORT = "source.port"
DESTINATION_IP = "destination.ip"
DESTINATION_PORT = "destination.port"
TRANSPORT = "network.transport"
OBSERVER_VENDOR = "observer.vendor"
OBSERVER_PRODUCT = "observer.product"
OBSERVER_IP = "observer.ip"
OBSERVER_HOSTNAME = "observer.hostname"
HOST_NAME = "host.name"
HOST_IP = "host.ip"
USER_NAME = "user.name"
PROCESS_NAME = "process.name"
PROCESS_PID = "process.pid"
LOG_SYSLOG_PRIORITY = "log.syslog.priority"
LOG_FILE_PATH = "log.file.path"
LABEL_SITE = "labels.site"
LABEL_ZONE = "labels.zone"
#: Where the event entered: ``"udp://192.0.2.7"``, ``"file:///var/log/auth.log"``.
INPUT = "siem.input"
#: Why a record could not be parsed (set on events of dataset ``unknown``).
PARSE_ERROR = "error.message"

UNKNOWN_DATASET = "unknown"


class EventShapeError(ValueError):
    """A flat event cannot be nested because a key is both a value and an object."""


def make_event_id(*parts: str | bytes) -> str:
    """Stable 128-bit id (hex) from the parts that identify one input record.

    Sources pass what makes a record unique in their input: the raw text plus its byte
    offset for a file, or the peer and the receive time for a network message.
    """
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def format_timestamp(moment: datetime | float) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, the form every event carries."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    else:
        moment = datetime.fromtimestamp(moment, UTC)
    # One f-string rather than strftime: a third of the cost, and the year padded below 1000
    # (glibc's %Y gives "26-01-01").
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str) -> float:
    """Seconds since the epoch from an ISO 8601 string (naive means UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def new_event(
    original: str,
    *,
    dataset: str,
    record_id: str,
    timestamp: datetime | float | str,
    kind: str = "event",
    **fields: Any,
) -> Event:
    """A new flat event with the fields every event has; ``fields`` use ``_`` for ``.``.

    Prefer building the dict directly in hot paths; this is for readable call sites.
    """
    event: Event = {
        TIMESTAMP: timestamp if isinstance(timestamp, str) else format_timestamp(timestamp),
        ID: record_id,
        KIND: kind,
        DATASET: dataset,
        ORIGINAL: original,
    }
    for key, value in fields.items():
        event[key.replace("__", ".")] = value
    return event


def to_nested(event: Mapping[str, Any]) -> dict[str, Any]:
    """Nested ECS document (as Elasticsearch stores it) from a flat event."""
    document: dict[str, Any] = {}
    for key in sorted(event, key=len):
        value = event[key]
        if key == TIMESTAMP or "." not in key:
            if isinstance(document.get(key), dict):
                raise EventShapeError(f"field {key!r} is both a value and an object")
            document[key] = value
            continue
        *parents, leaf = key.split(".")
        node = document
        for index, name in enumerate(parents):
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                prefix = ".".join(parents[: index + 1])
                raise EventShapeError(f"field {prefix!r} is both a value and an object")
            node = child
        if isinstance(node.get(leaf), dict):
            raise EventShapeError(f"field {key!r} is both a value and an object")
        node[leaf] = value
    return document


def from_nested(document: Mapping[str, Any]) -> Event:
    """Flat event from a nested ECS document; lists are kept as values."""
    flat: Event = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for name, value in node.items():
            key = f"{prefix}{name}"
            if isinstance(value, Mapping) and value:
                walk(value, key + ".")
            else:
                flat[key] = value

    walk(document, "")
    return flat


def timestamp_ms(event: Mapping[str, Any], fallback_ms: int) -> int:
    """The event's ``@timestamp`` in epoch milliseconds, or ``fallback_ms`` if absent or bad."""
    stamp = event.get(TIMESTAMP)
    if isinstance(stamp, str):
        try:
            return int(parse_timestamp(stamp) * 1000)
        except ValueError:
            return fallback_ms
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return int(stamp * 1000)
    return fallback_ms
