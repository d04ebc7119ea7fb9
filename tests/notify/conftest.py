"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records what it receives, and test helpers."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from siem.alert import Alert
from siem.notify.config import EmailConfig, RateLimitConfig, RetryConfig, RouteConfig, SmtpConfig
from tests.conftest import free_port

USERNAME = "siem-mailer"
PASSWORD = "S3cret-Pa55-do-not-leak"


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def body(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"no text/{subtype} part"
        content = part.get_content()
        assert isinstance(content, str)
        return content


@dataclass
class Recorder:
    """aiosmtpd handler that keeps every message; ``reject`` makes it refuse recipients."""

    received: list[Received] = field(default_factory=list)
    reject_recipients: set[str] = field(default_factory=set)
    #: Refuse message data whose Subject contains this text (554, permanent).
    reject_subject: str | None = None
    #: Seconds to wait before accepting each message (a slow server).
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # aiosmtpd hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.reject_recipients:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        raw = envelope.original_content or b""
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        if self.reject_subject and self.reject_subject in str(message["Subject"]):
            return "554 5.6.0 message content rejected"
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def to(self, address: str) -> list[Received]:
        return [item for item in self.received if address in item.recipients]


def check_login(accept: bool) -> Any:
    """An aiosmtpd authenticator that accepts USERNAME/PASSWORD (or rejects everything)."""

    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = (
            accept
            and isinstance(data, LoginPassword)
            and data.login == USERNAME.encode()
            and data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


class SmtpServer:
    """Starts and stops an aiosmtpd server on one loopback port (restartable on the same port)."""

    def __init__(self, port: int, recorder: Recorder, **options: Any) -> None:
        self.port = port
        self.recorder = recorder
        self.options = options
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **self.options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def plain_server(recorder: Recorder, smtp_port: int) -> Iterator[SmtpServer]:
    server = SmtpServer(smtp_port, recorder)
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 / localhost, made with openssl at test time."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return TlsFiles(cert, key)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


IT = RouteConfig(name="it", recipients=("it@hospital.example",), min_severity="low", digest_minutes=10)
WARD3 = RouteConfig(name="ward3", recipients=("ward3@hospital.example",), sites=("ward-3",), min_severity="high")


def email_config(port: int, *, routes: tuple[RouteConfig, ...] = (IT,), **overrides: Any) -> EmailConfig:
    """An enabled EmailConfig for the loopback server (plain SMTP unless ``smtp`` is given)."""
    values: dict[str, Any] = {
        "enabled": True,
        "from_address": "siem@hospital.example",
        "smtp": SmtpConfig(host="127.0.0.1", port=port, security="plain", timeout=5),
        "routes": routes,
        "retry": RetryConfig(initial_seconds=30, max_seconds=300),
        "rate_limit": RateLimitConfig(max_messages=10, window_seconds=300),
    }
    values.update(overrides)
    return EmailConfig(**values)


_counter = iter(range(1, 1_000_000))


def make_alert(level: str = "critical", *, site: str | None = "ward-3", **overrides: Any) -> Alert:
    """A realistic SSH brute-force alert (each call a new id unless ``id`` is given)."""
    number = next(_counter)
    values: dict[str, Any] = {
        "id": f"alert-{number:05d}",
        "rule_id": "5a1b6d3e-ssh-bruteforce",
        "rule_title": "SSH brute force",
        "level": level,
        "first_seen": 1_789_999_880.0,
        "last_seen": 1_789_999_999.0,
        "event_ids": ("ev-1", "ev-2"),
        "matched_fields": {
            "source.ip": "203.0.113.9",
            "destination.ip": "10.2.3.4",
            "labels.asset_name": "cam-w3-001",
            "labels.asset_owner": "Ward 3 IT",
        },
        "tags": ("attack.credential_access", "attack.t1110"),
        "site": site,
        "zone": "cameras",
        "summary": "SSH brute force on camera 10.2.3.4 (Ward 3) from 203.0.113.9: 57 failures in 2 min",
        "count": 57,
    }
    values.update(overrides)
    return Alert(**values)
