"""From configured sources (``siem.config.SourceConfig``) to the options the collectors take."""

from __future__ import annotations

from collectors.sources.contract import SourceOptions
from siem import event as ecs
from siem.config import Config, SourceConfig
from siem.errors import ConfigError
from siem.zones import find_zone


def check_timezone(name: str, *, where: str, path: str | None = None) -> None:
    """ConfigError unless ``name`` is an IANA time zone (e.g. ``Asia/Ho_Chi_Minh``)."""
    if name in ("UTC", "Z"):
        return
    if find_zone(name) is None:
        raise ConfigError(
            f"{where}: unknown time zone {name!r} (use an IANA name such as Asia/Ho_Chi_Minh)", path=path
        )


def source_options(source: SourceConfig, *, follow: bool = True, resume: bool = True) -> SourceOptions:
    """The collectors' options for one configured source (ConfigError for a bad time zone)."""
    check_timezone(source.timezone, where=f"source {source.label}")
    return SourceOptions(
        name=source.label,
        kind=source.type,
        transport=source.transport,
        host=source.host,
        port=source.port,
        paths=source.paths,
        format=source.format,
        timezone=source.timezone,
        max_message_bytes=source.max_message_bytes,
        tls_cert_file=source.tls.cert_file,
        tls_key_file=source.tls.key_file,
        tls_ca_file=source.tls.ca_file,
        tls_require_client_cert=source.tls.require_client_cert,
        follow=follow,
        resume=resume,
        interface=source.interface,
        bpf=source.bpf,
        max_connections=source.max_connections,
        max_connections_per_ip=source.max_connections_per_ip,
        idle_timeout=source.idle_timeout_seconds,
        tls_handshake_timeout=source.tls.handshake_timeout_seconds,
        max_gzip_bytes=source.max_gzip_bytes,
        max_gzip_ratio=source.max_gzip_ratio,
        receive_buffer_bytes=source.receive_buffer_bytes,
    )


def source_labels(config: Config) -> dict[str, dict[str, str]]:
    """Fixed labels per source name (``labels.site``/``labels.zone`` from the source config)."""
    labels: dict[str, dict[str, str]] = {}
    for source in config.sources:
        fixed = {}
        if source.site is not None:
            fixed[ecs.LABEL_SITE] = source.site
        if source.zone is not None:
            fixed[ecs.LABEL_ZONE] = source.zone
        if fixed:
            labels[source.label] = fixed
    return labels


def is_network(source: SourceConfig) -> bool:
    """Whether records of this source come over the network (and so go through the spool)."""
    return source.type == "syslog"
