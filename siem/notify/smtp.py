"""Sending mail: the Notifier protocol and the SMTP notifier.

SMTP per RFC 5321; STARTTLS per RFC 3207; implicit TLS on port 465 per RFC 8314. TLS is at
least version 1.2 and verifies the certificate and host name unless ``verify_tls: false``
(which is logged). The password comes from an environment variable or a file and is never
put in a log line or an exception message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol

from siem.errors import ConfigError, ExitCode, SiemError
from siem.notify.config import SmtpConfig

log = logging.getLogger(__name__)


class DeliveryError(SiemError):
    """The server could not be reached or deferred the message (4xx): try again later."""


class PermanentDeliveryError(SiemError):
    """The server refused this message for good (5xx on sender, recipients or data)."""


class SmtpAuthError(SiemError):
    """The server rejected the login: the username or password in the configuration is wrong."""

    exit_code = ExitCode.CONFIG


class Notifier(Protocol):
    """Something that delivers one message (raises DeliveryError to retry later)."""

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` to the addresses in its To and Cc headers."""

    def close(self) -> None:
        """Release any open connection."""


class Secret:
    """A password that never shows in repr, str or tracebacks' locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The password itself, for the SMTP login only."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def read_password(config: SmtpConfig) -> Secret | None:
    """The password from ``password_env`` or ``password_file``; None when neither is set."""
    if config.password_env:
        value = os.environ.get(config.password_env)
        if not value:
            raise ConfigError(f"email.smtp.password_env: environment variable {config.password_env} is not set")
        return Secret(value)
    if config.password_file:
        path = Path(config.password_file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read the SMTP password file: {exc.strerror}", path=path) from exc
        if not lines or not lines[0]:
            raise ConfigError("the SMTP password file is empty", path=path)
        return Secret(lines[0])
    return None


def tls_context(config: SmtpConfig) -> ssl.SSLContext:
    """A client TLS context: TLS 1.2 or newer, verifying unless turned off explicitly."""
    try:
        context = ssl.create_default_context(cafile=config.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"email.smtp.ca_file cannot be loaded: {exc}", path=config.ca_file) from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not config.verify_tls:
        log.warning("TLS certificate verification for SMTP server %s is turned off (email.smtp.verify_tls)",
                    config.host)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class SmtpNotifier:
    """Delivers messages over one SMTP connection, opened on first use and kept until close()."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._password = read_password(config)
        self._context = tls_context(config) if config.security != "plain" else None
        self._client: smtplib.SMTP | None = None

    @property
    def server(self) -> str:
        """``host:port`` for messages."""
        return f"{self.config.host}:{self.config.port}"

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``; DeliveryError / PermanentDeliveryError / SmtpAuthError on failure."""
        recipients = [address for _, address in getaddresses(message.get_all("To", []) + message.get_all("Cc", []))]
        sender = message["From"]
        if not recipients or not sender:
            raise PermanentDeliveryError("message has no From or no recipients")
        client = self._connect()
        try:
            refused = client.send_message(message, from_addr=str(sender), to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise self._refusal(exc.recipients) from None
        except smtplib.SMTPSenderRefused as exc:
            # Applies to every message, so the queue waits instead of failing them all.
            self._drop()
            raise DeliveryError(
                f"SMTP server {self.server} refused the sender {exc.sender!r} ({exc.smtp_code}); "
                "check email.from_address"
            ) from None
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise self._classify(exc.smtp_code, exc.smtp_error, "sending") from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryError(f"lost the connection to {self.server} while sending: {_reason(exc)}") from None
        if refused:
            log.warning("SMTP server %s refused some recipients: %s", self.server, ", ".join(sorted(refused)))

    def close(self) -> None:
        """Say QUIT and close the connection (errors ignored: the messages are already sent)."""
        if self._client is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._client.quit()
            self._drop()

    def _connect(self) -> smtplib.SMTP:
        if self._client is not None:
            return self._client
        config = self.config
        client: smtplib.SMTP
        try:
            if config.security == "tls":
                client = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=self._context)
            else:
                client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
            self._client = client
            client.ehlo()
            if config.security == "starttls":
                if not client.has_extn("starttls"):
                    raise DeliveryError(
                        f"SMTP server {self.server} does not offer STARTTLS; check email.smtp.security and port"
                    )
                client.starttls(context=self._context)
                client.ehlo()
            if config.username and self._password is not None:
                self._login(client, config.username, self._password)
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise DeliveryError(
                f"the certificate of SMTP server {self.server} is not trusted ({exc.verify_message}); "
                "set email.smtp.ca_file to the CA that signed it"
            ) from None
        except (ssl.SSLError, smtplib.SMTPException, OSError) as exc:
            self._drop()
            if isinstance(exc, smtplib.SMTPResponseException):
                reply = _reply(exc.smtp_error)
                raise DeliveryError(
                    f"SMTP server {self.server} answered {exc.smtp_code} while connecting: {reply}"
                ) from None
            raise DeliveryError(f"cannot connect to SMTP server {self.server}: {_reason(exc)}") from None
        except SiemError:
            self._drop()
            raise
        return client

    def _login(self, client: smtplib.SMTP, username: str, password: Secret) -> None:
        try:
            client.login(username, password.reveal())
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpAuthError(
                f"SMTP server {self.server} rejected the login of {username!r} ({exc.smtp_code}); "
                "check email.smtp.username and the password"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise SmtpAuthError(
                f"SMTP server {self.server} does not offer AUTH on this connection; "
                "use security: starttls or tls"
            ) from None
        except smtplib.SMTPException as exc:
            raise SmtpAuthError(f"cannot log in to SMTP server {self.server}: {exc}") from None

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(OSError):
                client.close()

    def _classify(self, code: int, text: bytes | str, stage: str) -> SiemError:
        message = f"SMTP server {self.server} answered {code} while {stage}: {_reply(text)}"
        return PermanentDeliveryError(message) if 500 <= code < 600 else DeliveryError(message)

    def _refusal(self, recipients: dict[str, tuple[int, bytes]]) -> SiemError:
        codes = {code for code, _ in recipients.values()}
        listed = ", ".join(f"{address} ({code})" for address, (code, _) in sorted(recipients.items()))
        message = f"SMTP server {self.server} refused all recipients: {listed}"
        if all(400 <= code < 500 for code in codes):
            return DeliveryError(message)
        return PermanentDeliveryError(message)


def _reply(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
