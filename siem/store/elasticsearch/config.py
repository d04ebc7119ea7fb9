"""Settings of the Elasticsearch store (``store.elasticsearch`` in siem.yaml).

Secrets are never written in the file itself: ``api_key_file`` and ``password_file`` name
files holding them (mode 0600), so the configuration can be shown and shared safely.
"""

from __future__ import annotations

from dataclasses import dataclass

from siem.errors import ConfigError

#: ``compatibility`` values: the REST API major the client asks for, or plain JSON.
COMPATIBILITY_CHOICES = ("8", "9", "none")
#: ``refresh`` values, as the ``refresh`` parameter of the index and bulk APIs takes them.
REFRESH_CHOICES = ("wait_for", "true", "false")


@dataclass(frozen=True, slots=True)
class ElasticsearchConfig:
    """Where the cluster is, how to log in, and how to write to it."""

    hosts: tuple[str, ...] = ("http://127.0.0.1:9200",)
    #: File holding an API key (the encoded form, as Kibana shows it).
    api_key_file: str | None = None
    username: str | None = None
    #: File holding the password of ``username``.
    password_file: str | None = None
    #: CA bundle (PEM) that signed the cluster's certificate.
    ca_certs: str | None = None
    #: Verify the cluster's certificate and host name over https (TLS 1.2 or newer). Turning
    #: this off is logged as a warning every time the store is opened.
    verify_tls: bool = True
    #: Every index name starts with this (``siem-events-syslog``, ``siem-alerts``, ...).
    index_prefix: str = "siem"
    #: REST compatibility asked of the server: "8" works with 8.x and 9.x clusters whatever
    #: the client's major; "none" sends plain JSON (OpenSearch-compatible servers, the
    #: osmem emulator used by the tests).
    compatibility: str = "8"
    #: "wait_for": a write returns once searchable (read-your-writes; costs up to one
    #: refresh interval, 1 s by default, per bulk request). "false" is fastest for ingest.
    refresh: str = "wait_for"
    #: Documents per bulk request.
    bulk_docs: int = 500
    #: Bulk requests in flight at once (each on its own connection).
    max_in_flight: int = 2
    #: Retries of a request refused with 429/5xx or lost connection, with doubling backoff.
    max_retries: int = 5
    #: First backoff (seconds); doubles each retry, capped at 30 s.
    retry_backoff: float = 0.5
    request_timeout: float = 30.0
    #: Index lifecycle installed by ``siem es setup``: roll over at this size or age.
    rollover_max_size_gb: int = 50
    rollover_max_age_days: int = 1
    #: Seal each batch of events and each audit entry in a hash chain (index ``<prefix>-seals``)
    #: so that ``siem verify`` can prove them unaltered.
    seals: bool = True
    #: Where the head of the seal chain is kept: a path relative to the data directory (or
    #: absolute); by default ``<index_prefix>.es-seal-head`` in the data directory.
    seal_head_file: str | None = None

    def __post_init__(self) -> None:
        if self.compatibility not in COMPATIBILITY_CHOICES:
            raise ConfigError(
                "store.elasticsearch.compatibility must be one of "
                f"{', '.join(COMPATIBILITY_CHOICES)}, not {self.compatibility!r}"
            )
        if self.refresh not in REFRESH_CHOICES:
            raise ConfigError(
                f"store.elasticsearch.refresh must be one of {', '.join(REFRESH_CHOICES)},"
                f" not {self.refresh!r} (quote true and false: refresh: \"false\")"
            )
        if not self.hosts:
            raise ConfigError("store.elasticsearch.hosts must name at least one URL")
        for host in self.hosts:
            if "@" in host.partition("://")[2].partition("/")[0]:
                raise ConfigError(
                    "store.elasticsearch.hosts: put no user name or password in a URL"
                    " (use username and password_file, or api_key_file)"
                )
        if self.bulk_docs < 1 or self.max_in_flight < 1 or self.max_retries < 0:
            raise ConfigError(
                "store.elasticsearch: bulk_docs and max_in_flight must be at least 1,"
                " max_retries at least 0"
            )
