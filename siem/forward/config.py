"""Forwarder configuration (the ``forwarder:`` section of siem.yaml, used by ``--role forwarder``).

Example for a ward::

    role: forwarder
    forwarder:
      host: siem.city.example        # the centre's ``type: forwarder`` source
      port: 6514
      cert_file: /etc/siem/tls/ward-3.crt   # this ward's client certificate (mutual TLS)
      key_file: /etc/siem/tls/ward-3.key
      ca_file: /etc/siem/tls/ca.crt         # the CA that signed the centre's certificate
      buffer_max_mb: 2048
      alarm_percent: 80

Values are checked when the dataclass is built, so a wrong value fails at load time with the
key named (and the file and line added by ``siem.config.bind``).
"""

from __future__ import annotations

from dataclasses import dataclass

from siem.errors import ConfigError

ROLES = ("server", "forwarder")


@dataclass(frozen=True, slots=True)
class ForwarderConfig:
    """Where and how a ward forwarder sends its events, and how much it may buffer on disk."""

    #: The central server's forwarder listener.
    host: str = "127.0.0.1"
    port: int = 6514
    #: Name the centre's certificate must carry (default: ``host``); checked unless check_hostname is off.
    server_name: str | None = None
    check_hostname: bool = True
    #: This ward's client certificate and key (PEM), and the CA bundle that signed the centre's certificate.
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    #: Most disk the buffer of unsent events may take; sources are slowed (TCP, files) or drop
    #: and count (UDP) when it is full.
    buffer_max_mb: float = 1024.0
    #: Fill level that raises the buffer alarm (a warning in the log and in ``siem status``).
    alarm_percent: int = 80
    #: Events per batch sent to the centre, and batches in flight before waiting for an ack.
    batch_size: int = 1000
    window: int = 4
    #: Longest wait between reconnection attempts (the wait doubles from 0.5 s up to this).
    reconnect_max_seconds: float = 30.0
    #: Seconds to connect and to wait for the centre's answers.
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.port <= 65535:
            raise ConfigError(f"forwarder.port must be between 1 and 65535, not {self.port}")
        if self.buffer_max_mb <= 0:
            raise ConfigError(f"forwarder.buffer_max_mb must be more than 0, not {self.buffer_max_mb}")
        if not 1 <= self.alarm_percent <= 100:
            raise ConfigError(f"forwarder.alarm_percent must be between 1 and 100, not {self.alarm_percent}")
        if self.batch_size < 1 or self.window < 1:
            raise ConfigError("forwarder.batch_size and forwarder.window must be at least 1")
        if self.reconnect_max_seconds <= 0 or self.timeout <= 0:
            raise ConfigError("forwarder.reconnect_max_seconds and forwarder.timeout must be more than 0")

    @property
    def buffer_max_bytes(self) -> int:
        """``buffer_max_mb`` in bytes."""
        return int(self.buffer_max_mb * 1024 * 1024)

    def check_tls(self) -> None:
        """ConfigError unless the client certificate, key and CA are all set (mutual TLS)."""
        missing = [name for name in ("cert_file", "key_file", "ca_file") if not getattr(self, name)]
        if missing:
            keys = ", ".join(f"forwarder.{name}" for name in missing)
            raise ConfigError(f"a forwarder needs mutual TLS: set {keys}")
