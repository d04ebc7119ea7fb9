"""The official ``elasticsearch`` client, built from ElasticsearchConfig.

Client and server majors: a 9.x client asks for ``compatible-with=9``, which 8.x servers
refuse ("Invalid media-type value"); an 8.x client asks for ``compatible-with=8``, which 9.x
servers accept (REST API compatibility, one major back). ``CompatTransport`` rewrites the
media types of every request to the major the configuration names ("8" by default), so
either client major (``elasticsearch>=8.13,<10``) works with 8.x and 9.x clusters; "none"
sends plain JSON for OpenSearch-compatible servers (the osmem emulator of the tests).
See https://www.elastic.co/guide/en/elasticsearch/reference/current/rest-api-compatibility.html
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from elastic_transport import HttpHeaders, Transport, TransportApiResponse
from elasticsearch import Elasticsearch

from siem.errors import StoreError
from siem.store.elasticsearch.config import ElasticsearchConfig

# The store logs its own retries; the pool's "node has failed N times" lines repeat them.
logging.getLogger("elastic_transport.node_pool").setLevel(logging.ERROR)

log = logging.getLogger(__name__)

_MEDIA_TYPE = re.compile(r"application/vnd\.elasticsearch\+(json|x-ndjson)\s*;\s*compatible-with=\d+")


class CompatTransport(Transport):
    """A Transport that rewrites the REST compatibility media types of each request."""

    #: "8", "9" or "none"; set on a subclass made per client (see ``transport_for``).
    compatibility = "8"

    def perform_request(
        self, method: str, target: str, *, headers: Any = None, **kwargs: Any
    ) -> TransportApiResponse:
        if isinstance(headers, Mapping):
            rewritten = HttpHeaders(headers)
            for name in ("accept", "content-type"):
                if name in rewritten:
                    rewritten[name] = _MEDIA_TYPE.sub(self._replacement, rewritten[name])
            headers = rewritten
        if headers is None:
            return super().perform_request(method, target, **kwargs)
        return super().perform_request(method, target, headers=headers, **kwargs)

    def _replacement(self, match: re.Match[str]) -> str:
        kind = match.group(1)
        if self.compatibility == "none":
            return f"application/{kind}"
        return f"application/vnd.elasticsearch+{kind}; compatible-with={self.compatibility}"


def transport_for(compatibility: str) -> type[CompatTransport]:
    """A CompatTransport class sending ``compatibility`` ("8", "9" or "none")."""
    return type("CompatTransport" + compatibility.title(), (CompatTransport,),
                {"compatibility": compatibility})


def redact(url: str) -> str:
    """``url`` without a user name or password in it (for messages and status)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def describe_hosts(config: ElasticsearchConfig) -> str:
    """The configured hosts, comma-separated, without credentials."""
    return ", ".join(redact(host) for host in config.hosts)


def _secret(path: str, what: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        # The path is not secret; its content is, and never appears in a message.
        raise StoreError(f"cannot read the {what} file: {exc.strerror}", path=path) from exc
    if not text:
        raise StoreError(f"the {what} file is empty", path=path)
    return text


def make_client(config: ElasticsearchConfig) -> Elasticsearch:
    """A client for the configured cluster. Retries are done by the store, not the client."""
    options: dict[str, Any] = {
        "transport_class": transport_for(config.compatibility),
        "request_timeout": config.request_timeout,
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    if config.api_key_file is not None:
        options["api_key"] = _secret(config.api_key_file, "API key")
    elif config.username is not None:
        if config.password_file is None:
            raise StoreError("store.elasticsearch.username needs password_file as well")
        options["basic_auth"] = (config.username, _secret(config.password_file, "password"))
    if any(host.lower().startswith("https://") for host in config.hosts):
        options["ssl_version"] = ssl.TLSVersion.TLSv1_2  # the lowest version accepted
        if config.ca_certs is not None:
            options["ca_certs"] = config.ca_certs
        if not config.verify_tls:
            log.warning(
                "TLS certificate verification for Elasticsearch %s is turned off (store.elasticsearch.verify_tls)",
                describe_hosts(config),
            )
            options["verify_certs"] = False
            options["ssl_show_warn"] = False
    elif config.ca_certs is not None:
        options["ca_certs"] = config.ca_certs  # refused by the client: TLS options need https
    try:
        return Elasticsearch(list(config.hosts), **options)
    except ValueError as exc:
        raise StoreError(f"bad store.elasticsearch.hosts ({describe_hosts(config)}): {exc}") from exc
