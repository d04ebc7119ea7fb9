"""Calls to the cluster with retries and clear errors.

A request refused with 429 (too many requests) or a 5xx status, or whose connection failed,
is retried with doubling backoff (``retry_backoff``, capped at 30 s) up to ``max_retries``
times; then, like any other failure, it becomes a StoreError naming the hosts (never the
credentials). A 400 on a search is the user's query: a QueryError.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from elasticsearch import ApiError, Elasticsearch, TransportError

from siem.errors import QueryError, StoreError
from siem.store.elasticsearch.client import describe_hosts, make_client
from siem.store.elasticsearch.config import ElasticsearchConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Statuses worth retrying: the cluster is busy or a node is down, not the request wrong.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_BACKOFF_CAP = 30.0


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an API error, None for a connection failure."""
    return exc.meta.status if isinstance(exc, ApiError) else None


def retryable(status: int | None) -> bool:
    """True for statuses (or a lost connection, None) that a retry may get past."""
    return status is None or status in RETRY_STATUSES or status >= 500


def reason_of(exc: ApiError) -> str:
    """The server's reason for refusing a request, in one line."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            causes = error.get("root_cause")
            if isinstance(causes, list) and causes and isinstance(causes[0], dict):
                error = causes[0]
            return f"{error.get('type', '')}: {error.get('reason', '')}".strip(": ")
        if isinstance(error, str):
            return error
    return str(exc.message)


class Cluster:
    """The client of one store plus its retry policy."""

    def __init__(self, config: ElasticsearchConfig) -> None:
        self.config = config
        self.hosts = describe_hosts(config)
        self.client: Elasticsearch = make_client(config)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        return float(min(_BACKOFF_CAP, self.config.retry_backoff * (2**attempt)))

    def call(self, what: str, request: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``request(*args, **kwargs)`` with retries; StoreError when it cannot succeed."""
        attempt = 0
        while True:
            try:
                return request(*args, **kwargs)
            except (ApiError, TransportError) as exc:
                status = status_of(exc)
                if retryable(status) and attempt < self.config.max_retries:
                    delay = self.backoff(attempt)
                    log.warning("%s: %s; retrying in %.1f s", what, self._describe(exc), delay)
                    time.sleep(delay)
                    attempt += 1
                    continue
                raise self.error(what, exc) from exc

    def search_call(self, what: str, request: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Like ``call``, but a refused query (400) is the user's: a QueryError."""
        try:
            return self.call(what, request, *args, **kwargs)
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, ApiError) and cause.meta.status == 400:
                raise QueryError(f"the cluster refused the query: {reason_of(cause)}") from cause
            raise

    def error(self, what: str, exc: ApiError | TransportError) -> StoreError:
        """A StoreError for a failed request, naming the hosts."""
        return StoreError(f"{what}: {self._describe(exc)} (Elasticsearch at {self.hosts})")

    def _describe(self, exc: ApiError | TransportError) -> str:
        if isinstance(exc, ApiError):
            return f"{exc.meta.status} {reason_of(exc)}"
        return f"cannot reach the cluster ({type(exc).__name__})"

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
