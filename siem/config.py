"""Configuration: frozen dataclasses with defaults, bound from one YAML file (``siem.yaml``).

Every key has a default, so no file is needed to start. An unknown key or a value of the
wrong type is a ConfigError naming the key path and the file line; nothing is read with
``dict.get(key, default)`` elsewhere, so a typo cannot silently take a default.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from siem.alerts.config import AlertsConfig
from siem.enrich.geoip import GeoIpConfig
from siem.errors import ConfigError
from siem.forward.config import ROLES, ForwarderConfig
from siem.incidents.config import IncidentsConfig
from siem.notify.config import EmailConfig
from siem.schedule.config import JobConfig, validate_jobs
from siem.store.elasticsearch.config import ElasticsearchConfig
from siem.yamlfile import LocatedDict, load_yaml_file

DEFAULT_DATA_DIR = "siem-data"
CONFIG_FILE_NAME = "siem.yaml"
HOME_ENV = "SIEM_HOME"
CONFIG_ENV = "SIEM_CONFIG"
LANG_ENV = "SIEM_LANG"


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """TLS for a listener (syslog over TLS, RFC 5425)."""

    cert_file: str | None = None
    key_file: str | None = None
    #: CA bundle used to verify client certificates (mutual TLS).
    ca_file: str | None = None
    require_client_cert: bool = False
    #: Seconds a client has to finish the handshake (a stalled or garbage client is cut off).
    handshake_timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One input. ``type`` picks the source; the other keys apply as the type needs them."""

    type: str
    name: str = ""
    #: For syslog: udp, tcp or tls.
    transport: str = "udp"
    host: str = "127.0.0.1"
    port: int = 5514
    #: For file: paths or globs to tail.
    paths: tuple[str, ...] = ()
    #: Parser name, or ``auto`` to detect per line.
    format: str = "auto"
    #: Time zone of devices that log local time without an offset (IANA name).
    timezone: str = "UTC"
    max_message_bytes: int = 65536
    #: For syslog tcp/tls: open connections at most, in all and from one address (more are refused).
    max_connections: int = 1000
    max_connections_per_ip: int = 100
    #: For syslog tcp/tls: a connection silent this long is closed (0 = never).
    idle_timeout_seconds: float = 900.0
    #: For file: a gzip-compressed (rotated) file is read up to this many bytes, and its
    #: expansion beyond its first MiB up to this ratio; a bomb is cut there and counted.
    max_gzip_bytes: int = 1024**3
    max_gzip_ratio: int = 200
    #: For syslog udp: the socket receive buffer (bytes) that holds a burst until it is read.
    #: The kernel caps it at net.core.rmem_max unless siem has CAP_NET_ADMIN; the size granted is logged.
    receive_buffer_bytes: int = 8 * 1024 * 1024
    tls: TlsConfig = field(default_factory=TlsConfig)
    #: For capture: the network interface (``eth0``) and a BPF filter in tcpdump syntax.
    interface: str = ""
    bpf: str = ""
    #: Fixed labels for every event of this source (e.g. the ward it sits in).
    site: str | None = None
    zone: str | None = None

    @property
    def label(self) -> str:
        """A readable name for status output and counters."""
        if self.name:
            return self.name
        if self.type == "syslog":
            return f"syslog-{self.transport}:{self.host}:{self.port}"
        if self.type == "capture" and self.interface:
            return f"capture:{self.interface}"
        return f"{self.type}:{','.join(self.paths)}" if self.paths else self.type


def _default_sources() -> tuple[SourceConfig, ...]:
    return (
        SourceConfig(type="syslog", transport="udp"),
        SourceConfig(type="syslog", transport="tcp"),
    )


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """Events older than ``max_age_days`` or beyond ``max_size_mb`` are deleted (0 = no limit)."""

    max_age_days: int = 90
    max_size_mb: int = 0
    #: How often the retention job runs while ``siem run`` is up.
    interval_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where events, alerts and incidents live."""

    backend: str = "sqlite"
    #: SQLite file name inside the data directory.
    sqlite_file: str = "siem.db"
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    elasticsearch: ElasticsearchConfig = field(default_factory=ElasticsearchConfig)


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Queue sizes and batching of the ingest pipeline."""

    #: Records a queue holds before sources are slowed (TCP, files) or drop (UDP, counted).
    queue_size: int = 20000
    batch_size: int = 1000
    #: Longest time (seconds) a record waits in a partial batch before it is committed.
    flush_interval: float = 0.5
    #: Journal received network records on disk before processing (crash safety).
    spool: bool = True
    #: fsync the spool and store on each commit (durable against power loss, slower).
    fsync: bool = False
    #: Free disk space (MB) the spool leaves for the store: below it sources wait (disk full).
    spool_min_free_mb: int = 64
    #: Worker processes that parse, enrich and match rules (0: one thread in this process).
    workers: int = 0


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    """Which Sigma rules to load and how to route them."""

    rules: tuple[str, ...] = ("rules",)
    #: Rule statuses to load (empty = all).
    statuses: tuple[str, ...] = ()
    #: Lowest rule level to load: informational, low, medium, high, critical.
    min_level: str = "informational"
    #: ``strict`` routes by logsource; ``any`` applies every rule to every event.
    logsource: str = "strict"
    #: Values for Sigma ``expand`` placeholders, e.g. ``{admin_users: [root, admin]}``.
    placeholders: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration of one siem process."""

    data_dir: str = DEFAULT_DATA_DIR
    #: Language of user-facing text: en or vi.
    language: str = "en"
    #: Name written to the audit log for changes made from this machine (default: OS user).
    officer: str | None = None
    #: Default site label for events no inventory entry matches.
    site: str = "city"
    sources: tuple[SourceConfig, ...] = field(default_factory=_default_sources)
    store: StoreConfig = field(default_factory=StoreConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    #: Asset inventory YAML (sites, zones, CIDRs, devices); none by default.
    inventory: str | None = None
    #: MaxMind GeoIP databases for public addresses (see siem/enrich/geoip.py); none by default.
    geoip: GeoIpConfig = field(default_factory=GeoIpConfig)
    #: E-mail to the IT department (see siem/notify/config.py).
    email: EmailConfig = field(default_factory=EmailConfig)
    #: Alert grouping (see siem/alerts/config.py).
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    #: Incident windows and SLAs per severity (see siem/incidents/config.py).
    incidents: IncidentsConfig = field(default_factory=IncidentsConfig)
    #: ``server`` (store, detect, alert) or ``forwarder`` (a ward: buffer and send to the centre).
    role: str = "server"
    #: Where a ward forwarder sends its events (see siem/forward/config.py).
    forwarder: ForwarderConfig = field(default_factory=ForwarderConfig)
    #: Jobs ``siem run`` starts on a cron schedule (see siem/schedule/config.py); none by default.
    schedule: tuple[JobConfig, ...] = ()
    #: The file this was loaded from, if any (not a YAML key).
    source_file: str | None = field(default=None, metadata={"internal": True})

    @property
    def data_path(self) -> Path:
        """The data directory as a Path."""
        return Path(self.data_dir)


T = TypeVar("T")
#: The largest number a float setting takes (a larger integer cannot become a float).
_MAX_FLOAT = sys.float_info.max


def bind(cls: type[T], raw: Any, *, path: str | None, key_path: str = "", line: int = 0) -> T:
    """Build dataclass ``cls`` from a YAML mapping, naming the key and line of any error."""
    if raw is None:
        raw = LocatedDict()
    if not isinstance(raw, dict):
        raise ConfigError(f"{key_path or 'top level'} must be a mapping", path=path, line=line)
    hints = get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    known = {f.name: f for f in fields if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        key_line = raw.line_of(key) if isinstance(raw, LocatedDict) else line
        full = f"{key_path}.{key}" if key_path else key
        if key not in known:
            close = ", ".join(sorted(known))
            raise ConfigError(f"unknown key {full!r} (known here: {close})", path=path, line=key_line)
        kwargs[key] = _convert(hints[key], value, path=path, key_path=full, line=key_line)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{key_path or 'top level'}: {exc}", path=path, line=line) from exc
    except ConfigError as exc:
        # A dataclass that validates itself (__post_init__) knows the key but not the file.
        if exc.path is None:
            key = getattr(exc, "key", None)
            if isinstance(key, str) and isinstance(raw, LocatedDict):
                line = raw.line_of(key)
            raise ConfigError(exc.message, path=path, line=line) from exc
        raise


def _convert(hint: Any, value: Any, *, path: str | None, key_path: str, line: int) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        hint = next(option for option in options if option is not type(None))
        origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return bind(typing.cast(type, hint), value, path=path, key_path=key_path, line=line)
    if origin is tuple:
        item_hint = get_args(hint)[0]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{key_path} must be a list", path=path, line=line)
        return tuple(
            _convert(item_hint, item, path=path, key_path=f"{key_path}[{index}]", line=_line(item, line))
            for index, item in enumerate(value)
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key_path} must be a mapping", path=path, line=line)
        _, value_hint = get_args(hint)
        return {
            str(key): _convert(value_hint, item, path=path, key_path=f"{key_path}.{key}", line=line)
            for key, item in value.items()
        }
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key_path} must be true or false, not {value!r}", path=path, line=line)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key_path} must be a whole number, not {value!r}", path=path, line=line)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > _MAX_FLOAT:
            raise ConfigError(f"{key_path} must be a number, not {value!r}", path=path, line=line)
        return float(value)
    if hint is str:
        if isinstance(value, dict | list) or value is None:
            raise ConfigError(f"{key_path} must be a text value, not {value!r}", path=path, line=line)
        return str(value)
    return value


def _line(item: Any, default: int) -> int:
    return item.line if isinstance(item, LocatedDict) else default


_CHOICES: dict[str, tuple[str, ...]] = {
    "language": ("en", "vi"),
    "store.backend": ("sqlite", "elasticsearch"),
    "detection.logsource": ("strict", "any"),
    "detection.min_level": ("informational", "low", "medium", "high", "critical"),
    "role": ROLES,
}
_SOURCE_TYPES = ("syslog", "file", "pcap", "capture", "forwarder")
_TRANSPORTS = ("udp", "tcp", "tls")
#: A UDP receive buffer: a few datagrams at least; at most what setsockopt takes (a C int, halved).
_MIN_RECEIVE_BUFFER = 4096
_MAX_RECEIVE_BUFFER = 2**30


def validate(config: Config) -> None:
    """Check values that types alone cannot (choices, ranges)."""
    path = config.source_file
    values = {
        "language": config.language,
        "store.backend": config.store.backend,
        "detection.logsource": config.detection.logsource,
        "detection.min_level": config.detection.min_level,
        "role": config.role,
    }
    for key, value in values.items():
        if value not in _CHOICES[key]:
            raise ConfigError(f"{key} must be one of {', '.join(_CHOICES[key])}, not {value!r}", path=path)
    for index, source in enumerate(config.sources):
        where = f"sources[{index}]"
        if source.type not in _SOURCE_TYPES:
            raise ConfigError(f"{where}.type must be one of {', '.join(_SOURCE_TYPES)}, not {source.type!r}", path=path)
        if source.type == "syslog" and source.transport not in _TRANSPORTS:
            raise ConfigError(f"{where}.transport must be one of udp, tcp, tls, not {source.transport!r}", path=path)
        if not 0 <= source.port <= 65535:
            raise ConfigError(f"{where}.port must be between 0 and 65535, not {source.port}", path=path)
        if source.type in ("file", "pcap") and not source.paths:
            raise ConfigError(f"{where}.paths must name at least one file or glob", path=path)
        if source.type == "capture" and not source.interface:
            raise ConfigError(f"{where}.interface must name a network interface (e.g. eth0)", path=path)
        _validate_limits(source, where, path)
    if config.pipeline.queue_size < 1 or config.pipeline.batch_size < 1:
        raise ConfigError("pipeline.queue_size and pipeline.batch_size must be at least 1", path=path)
    if config.pipeline.spool_min_free_mb < 0:
        raise ConfigError("pipeline.spool_min_free_mb must be 0 (no reserve) or more", path=path)
    if config.pipeline.workers < 0:
        raise ConfigError(
            f"pipeline.workers must be 0 (no worker processes) or more, not {config.pipeline.workers}", path=path
        )
    validate_jobs(config.schedule, path)


def _validate_limits(source: SourceConfig, where: str, path: str | None) -> None:
    """ConfigError for a source limit that cannot work (zero connections, a negative timeout)."""
    at_least_one = {
        "max_message_bytes": source.max_message_bytes,
        "max_connections": source.max_connections,
        "max_connections_per_ip": source.max_connections_per_ip,
        "max_gzip_bytes": source.max_gzip_bytes,
        "max_gzip_ratio": source.max_gzip_ratio,
    }
    for key, value in at_least_one.items():
        if value < 1:
            raise ConfigError(f"{where}.{key} must be at least 1, not {value}", path=path)
    if source.idle_timeout_seconds < 0:
        raise ConfigError(f"{where}.idle_timeout_seconds must be 0 (never) or more seconds", path=path)
    if not _MIN_RECEIVE_BUFFER <= source.receive_buffer_bytes <= _MAX_RECEIVE_BUFFER:
        raise ConfigError(
            f"{where}.receive_buffer_bytes must be between {_MIN_RECEIVE_BUFFER} and {_MAX_RECEIVE_BUFFER},"
            f" not {source.receive_buffer_bytes}",
            path=path,
        )
    if source.tls.handshake_timeout_seconds <= 0:
        raise ConfigError(f"{where}.tls.handshake_timeout_seconds must be more than 0", path=path)


def find_config_file(explicit: str | None) -> Path | None:
    """The config file to use: ``--config``, then $SIEM_CONFIG, then ./siem.yaml if present."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    local = Path(CONFIG_FILE_NAME)
    return local if local.is_file() else None


def load_config(
    config_file: str | None = None,
    *,
    data_dir: str | None = None,
    language: str | None = None,
) -> Config:
    """Load the configuration; command-line values override the environment and the file."""
    found = find_config_file(config_file)
    if found is not None:
        if not found.is_file():
            raise ConfigError("configuration file not found", path=found)
        config = bind(Config, load_yaml_file(found), path=str(found))
        config = dataclasses.replace(config, source_file=str(found))
    else:
        config = Config()
    overrides: dict[str, Any] = {}
    if data_dir or os.environ.get(HOME_ENV):
        overrides["data_dir"] = data_dir or os.environ[HOME_ENV]
    if language or os.environ.get(LANG_ENV):
        overrides["language"] = language or os.environ[LANG_ENV]
    if overrides:
        config = dataclasses.replace(config, **overrides)
    validate(config)
    return config
