"""Bulk indexing of events: batches, bounded in-flight requests, retries and a dead letter.

Bulk API: https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html
Each event is a ``create`` with the event id as ``_id``, so a replayed event answers 409
(counted as a duplicate) instead of being stored twice. Items refused with 429/5xx are sent
again with backoff; items refused for good (a mapping conflict, a document too large) go to
the dead-letter index with the reason, and are counted, never dropped silently.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from siem.errors import StoreError
from siem.store.elasticsearch.cluster import Cluster, retryable

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Action:
    """One document to create."""

    index: str
    id: str
    document: dict[str, Any]


@dataclass(slots=True)
class BulkOutcome:
    """What became of the actions of one write."""

    written: int = 0
    duplicates: int = 0
    #: (action, HTTP status, reason) of the refused ones.
    refused: list[tuple[Action, int, str]] = field(default_factory=list)
    #: (action, the concrete index that holds it) of the created ones, for the integrity seal.
    created: list[tuple[Action, str]] = field(default_factory=list)
    #: The actions answered 409 (an event with that id exists).
    conflicts: list[Action] = field(default_factory=list)

    def add(self, other: BulkOutcome) -> None:
        self.written += other.written
        self.duplicates += other.duplicates
        self.refused.extend(other.refused)
        self.created.extend(other.created)
        self.conflicts.extend(other.conflicts)


def _operations(actions: Sequence[Action]) -> list[dict[str, Any]]:
    operations: list[dict[str, Any]] = []
    for action in actions:
        operations.append({"create": {"_index": action.index, "_id": action.id}})
        operations.append(action.document)
    return operations


def _replace_surrogates(value: Any) -> Any:
    """``value`` with lone surrogates (undecodable input bytes) replaced: JSON for the
    cluster must be valid UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replace_surrogates(item) for item in value]
    return value


class BulkWriter:
    """Sends actions in batches of ``bulk_docs``, at most ``max_in_flight`` at a time."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._pool = ThreadPoolExecutor(
            max_workers=cluster.config.max_in_flight, thread_name_prefix="siem-es-bulk"
        )

    def create(self, actions: Sequence[Action]) -> BulkOutcome:
        """Create every action's document; raises StoreError if the cluster stays unusable."""
        size = self.cluster.config.bulk_docs
        chunks = [actions[start : start + size] for start in range(0, len(actions), size)]
        outcome = BulkOutcome()
        # map() keeps at most max_in_flight requests running; results come back in order.
        for part in self._pool.map(self._send_chunk, chunks):
            outcome.add(part)
        return outcome

    def _send_chunk(self, actions: Sequence[Action]) -> BulkOutcome:
        outcome = BulkOutcome()
        pending = list(actions)
        attempt = 0
        while pending:
            items = self._request(pending)
            retry: list[Action] = []
            last_reason = ""
            for action, item in zip(pending, items, strict=True):
                result = item["create"]
                status = int(result["status"])
                if status in (200, 201):
                    outcome.written += 1
                    outcome.created.append((action, str(result.get("_index") or action.index)))
                elif status == 409:
                    outcome.duplicates += 1
                    outcome.conflicts.append(action)
                elif retryable(status) and attempt < self.cluster.config.max_retries:
                    retry.append(action)
                    last_reason = _item_reason(result)
                else:
                    outcome.refused.append((action, status, _item_reason(result)))
            if retry:
                delay = self.cluster.backoff(attempt)
                log.warning("%d events refused for now (%s); retrying in %.1f s",
                            len(retry), last_reason, delay)
                time.sleep(delay)
                attempt += 1
            pending = retry
        return outcome

    def _request(self, actions: Sequence[Action]) -> list[dict[str, Any]]:
        refresh = self.cluster.config.refresh
        try:
            response = self.cluster.call(
                "cannot write events", self.cluster.client.bulk,
                operations=_operations(actions), refresh=refresh,
            )
        except UnicodeEncodeError:
            for action in actions:
                action.document = _replace_surrogates(action.document)
            response = self.cluster.call(
                "cannot write events", self.cluster.client.bulk,
                operations=_operations(actions), refresh=refresh,
            )
        items: list[dict[str, Any]] = response["items"]
        if len(items) != len(actions):
            raise StoreError(
                f"the cluster answered {len(items)} results for {len(actions)} events"
                f" (Elasticsearch at {self.cluster.hosts})"
            )
        return items

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=True)


def _item_reason(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"
    return str(error or f"status {result.get('status')}")


def dead_letter_document(action: Action, status: int, reason: str, at: float) -> dict[str, Any]:
    """The dead-letter record of a refused event: where it was going, why, and the event."""
    return {
        "at": at,
        "index": action.index,
        "event_id": action.id,
        "status": status,
        "reason": reason,
        "event_json": json.dumps(action.document, ensure_ascii=True, default=str),
    }
