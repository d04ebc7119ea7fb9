"""E-mail configuration (the ``email:`` section of siem.yaml).

Example::

    email:
      enabled: true
      from_address: siem@hospital.example
      smtp: {host: mail.hospital.example, port: 587, security: starttls,
             username: siem, password_env: SIEM_SMTP_PASSWORD}
      routes:
        - {name: it, recipients: [it@hospital.example], min_severity: medium}
        - {name: ward3, recipients: [w3@hospital.example], sites: [ward-3], min_severity: high}

Values are checked when the dataclasses are built, so a wrong value fails at load time with
the key named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from siem.alert import LEVELS
from siem.errors import ConfigError
from siem.zones import find_zone

SECURITY_MODES = ("starttls", "tls", "plain")


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """How to reach the mail server. The password is read from an env variable or a file only."""

    host: str = "localhost"
    #: 587 for starttls, 465 for tls (implicit TLS, RFC 8314), 25 for plain.
    port: int = 587
    #: starttls (RFC 3207), tls (implicit TLS) or plain (no encryption: loopback relays only).
    security: str = "starttls"
    username: str | None = None
    #: Name of the environment variable holding the password.
    password_env: str | None = None
    #: File holding the password (first line; keep it mode 0600).
    password_file: str | None = None
    #: Seconds for connecting and for each SMTP command.
    timeout: float = 30.0
    #: Verify the server certificate and host name. Turning this off is logged as a warning.
    verify_tls: bool = True
    #: CA bundle (PEM) to trust instead of the system store, e.g. for an internal CA.
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ConfigError(f"email.smtp.security must be one of {', '.join(SECURITY_MODES)}, not {self.security!r}")
        if not 0 < self.port <= 65535:
            raise ConfigError(f"email.smtp.port must be between 1 and 65535, not {self.port}")
        if self.password_env and self.password_file:
            raise ConfigError("email.smtp: set password_env or password_file, not both")
        if (self.password_env or self.password_file) and not self.username:
            raise ConfigError("email.smtp.username is needed when a password is set")
        if (self.password_env or self.password_file) and self.security == "plain" and not _loopback(self.host):
            raise ConfigError(
                f"email.smtp: the password would cross the network to {self.host} unencrypted;"
                " use security: starttls or tls (plain is for loopback relays only)"
            )
        if self.timeout <= 0:
            raise ConfigError("email.smtp.timeout must be more than 0 seconds")


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """Who gets which alerts: a recipient list, a lowest severity and optionally some sites."""

    name: str
    recipients: tuple[str, ...] = ()
    #: Lowest alert level this route receives.
    min_severity: str = "medium"
    #: Sites (``labels.site``) this route covers; empty = all sites.
    sites: tuple[str, ...] = ()
    #: Send alerts at or above ``immediate_severity`` at once; the rest go into the digest.
    immediate: bool = True
    immediate_severity: str = "high"
    #: Minutes between digests of the other alerts.
    digest_minutes: int = 60

    def __post_init__(self) -> None:
        where = f"email.routes[{self.name}]"
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"email route name must be letters, digits, - or _, not {self.name!r}")
        if not self.recipients:
            raise ConfigError(f"{where}.recipients must name at least one address")
        for address in self.recipients:
            if "@" not in address or any(ch in address for ch in " ,;<>\r\n"):
                raise ConfigError(f"{where}.recipients: {address!r} is not an e-mail address")
        for key, level in (("min_severity", self.min_severity), ("immediate_severity", self.immediate_severity)):
            if level not in LEVELS:
                raise ConfigError(f"{where}.{key} must be one of {', '.join(LEVELS)}, not {level!r}")
        if self.digest_minutes < 1:
            raise ConfigError(f"{where}.digest_minutes must be at least 1")


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """More than ``max_messages`` immediate mails per route within ``window_seconds`` become one summary."""

    max_messages: int = 10
    window_seconds: int = 300

    def __post_init__(self) -> None:
        if self.max_messages < 1 or self.window_seconds < 1:
            raise ConfigError("email.rate_limit.max_messages and window_seconds must be at least 1")


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Back-off while the mail server is unreachable (doubling from ``initial`` up to ``max``)."""

    initial_seconds: float = 10.0
    max_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.initial_seconds <= 0 or self.max_seconds < self.initial_seconds:
            raise ConfigError("email.retry: need 0 < initial_seconds <= max_seconds")


@dataclass(frozen=True, slots=True)
class EmailConfig:
    """E-mail to the IT department and ward officers (off until ``enabled: true``)."""

    enabled: bool = False
    from_address: str = "siem@localhost"
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    routes: tuple[RouteConfig, ...] = ()
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    #: Language of the mails (en or vi); empty = the main ``language``.
    language: str = ""
    #: Time zone (IANA name) for times shown in mails.
    timezone: str = "UTC"
    #: Sent mails kept in ``outbox/sent`` for inspection (oldest are removed).
    keep_sent: int = 200

    def __post_init__(self) -> None:
        if "@" not in self.from_address:
            raise ConfigError(f"email.from_address {self.from_address!r} is not an e-mail address")
        names = [route.name for route in self.routes]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ConfigError(f"email.routes: duplicate route name(s) {', '.join(duplicates)}")
        if self.language not in ("", "en", "vi"):
            raise ConfigError(f"email.language must be en or vi, not {self.language!r}")
        if self.keep_sent < 0:
            raise ConfigError("email.keep_sent must be 0 or more")
        if find_zone(self.timezone) is None:
            raise ConfigError(f"email.timezone {self.timezone!r} is not a known time zone")
