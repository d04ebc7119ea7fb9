"""End to end against aiosmtpd: TLS, authentication, outages, refusals and secrets."""

from __future__ import annotations

import logging
import shutil
import traceback
from pathlib import Path

import pytest

from siem.errors import ConfigError
from siem.notify.config import SmtpConfig
from siem.notify.dispatcher import EmailDispatcher
from siem.notify.outbox import Outbox
from siem.notify.smtp import DeliveryError, SmtpAuthError, SmtpNotifier
from tests.notify.conftest import (
    PASSWORD,
    USERNAME,
    Clock,
    Recorder,
    SmtpServer,
    TlsFiles,
    check_login,
    email_config,
    make_alert,
)

PASSWORD_ENV = "SIEM_TEST_SMTP_PASSWORD"


def tls_smtp(port: int, tls: TlsFiles, security: str, **extra: object) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=port, security=security, ca_file=str(tls.cert), timeout=5, **extra)  # type: ignore[arg-type]


def test_starttls_with_login(
    recorder: Recorder, smtp_port: int, tls_files: TlsFiles, data_dir: Path, clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    server = SmtpServer(
        smtp_port, recorder, tls_context=tls_files.server_context(), require_starttls=True,
        authenticator=check_login(True), auth_required=True,
    )
    server.start()
    try:
        smtp = tls_smtp(smtp_port, tls_files, "starttls", username=USERNAME, password_env=PASSWORD_ENV)
        dispatcher = EmailDispatcher(email_config(smtp_port, smtp=smtp), data_dir / "outbox", clock=clock)
        dispatcher.submit([make_alert("critical")])
        report = dispatcher.drain()
    finally:
        server.stop()
    assert report.error is None and report.sent == 1
    assert len(recorder.received) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_password_file(
    recorder: Recorder, smtp_port: int, tls_files: TlsFiles, data_dir: Path, clock: Clock, tmp_path: Path
) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    server = SmtpServer(
        smtp_port, recorder, ssl_context=tls_files.server_context(), authenticator=check_login(True),
        # aiosmtpd only counts STARTTLS as TLS for AUTH; this connection is implicit TLS.
        auth_required=True, auth_require_tls=False,
    )
    server.start()
    try:
        smtp = tls_smtp(smtp_port, tls_files, "tls", username=USERNAME, password_file=str(secret))
        dispatcher = EmailDispatcher(email_config(smtp_port, smtp=smtp), data_dir / "outbox", clock=clock)
        dispatcher.submit([make_alert("high")])
        report = dispatcher.drain()
    finally:
        server.stop()
    assert report.sent == 1
    assert recorder.received[0].subject.startswith("[SIEM] HIGH:")


def test_untrusted_certificate_is_refused_and_the_mail_waits(
    recorder: Recorder, smtp_port: int, tls_files: TlsFiles, data_dir: Path, clock: Clock
) -> None:
    server = SmtpServer(smtp_port, recorder, ssl_context=tls_files.server_context())
    server.start()
    try:
        smtp = SmtpConfig(host="127.0.0.1", port=smtp_port, security="tls", timeout=5)  # system CAs only
        dispatcher = EmailDispatcher(email_config(smtp_port, smtp=smtp), data_dir / "outbox", clock=clock)
        dispatcher.submit([make_alert("critical")])
        report = dispatcher.drain()
    finally:
        server.stop()
    assert report.sent == 0 and report.pending == 1
    assert report.error is not None and "not trusted" in report.error and "ca_file" in report.error
    assert recorder.received == []


def test_turning_verification_off_is_logged(
    recorder: Recorder, smtp_port: int, tls_files: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    server = SmtpServer(smtp_port, recorder, ssl_context=tls_files.server_context())
    server.start()
    try:
        with caplog.at_level(logging.WARNING, logger="siem.notify"):
            notifier = SmtpNotifier(SmtpConfig(host="127.0.0.1", port=smtp_port, security="tls", verify_tls=False))
        assert "verification" in caplog.text and "turned off" in caplog.text
        from siem.notify.render import Mail, build_message

        message = build_message(
            Mail("test", "text", "<p>html</p>", "low"), sender="a@b.example", recipients=["c@d.example"], date=0
        )
        notifier.send(message)
        notifier.close()
    finally:
        server.stop()
    assert len(recorder.received) == 1


def test_authentication_failure_is_clear_keeps_the_mail_and_never_shows_the_password(
    recorder: Recorder, smtp_port: int, tls_files: TlsFiles, data_dir: Path, clock: Clock,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    server = SmtpServer(
        smtp_port, recorder, tls_context=tls_files.server_context(), require_starttls=True,
        authenticator=check_login(False), auth_required=True,
    )
    server.start()
    try:
        smtp = tls_smtp(smtp_port, tls_files, "starttls", username=USERNAME, password_env=PASSWORD_ENV)
        with caplog.at_level(logging.DEBUG):
            dispatcher = EmailDispatcher(email_config(smtp_port, smtp=smtp), data_dir / "outbox", clock=clock)
            dispatcher.submit([make_alert("critical")])
            report = dispatcher.drain()
            notifier = SmtpNotifier(smtp)
            with pytest.raises(SmtpAuthError) as raised:
                notifier.send(Outbox.load(dispatcher.outbox.pending()[0]))
    finally:
        server.stop()
    assert report.auth_failed and report.sent == 0 and report.pending == 1
    assert report.error is not None and "rejected the login" in report.error and USERNAME in report.error
    assert recorder.received == []
    everything = "\n".join(
        [caplog.text, str(raised.value), repr(raised.value), repr(notifier), repr(vars(notifier)), report.error]
    )
    assert PASSWORD not in everything
    assert PASSWORD not in "".join(traceback.format_exception(raised.value))


def test_missing_password_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    config = SmtpConfig(host="127.0.0.1", port=25, security="plain", username=USERNAME, password_env=PASSWORD_ENV)
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        SmtpNotifier(config)


def test_outage_mails_wait_on_disk_and_go_out_in_order_once(
    recorder: Recorder, smtp_port: int, data_dir: Path, clock: Clock
) -> None:
    config = email_config(smtp_port)  # nothing listens on the port yet
    dispatcher = EmailDispatcher(config, data_dir / "outbox", clock=clock)
    titles = [f"Rule {index:02d}" for index in range(6)]
    for title in titles:
        dispatcher.submit([make_alert("critical", rule_title=title)])
        clock.advance(1)
    report = dispatcher.tick(clock())
    assert report is not None and report.sent == 0 and report.pending == 6
    assert report.error is not None and "cannot connect" in report.error
    assert len(list((data_dir / "outbox" / "queue").glob("*.eml"))) == 6

    # A restart while the server is still down: the new process finds the same queue.
    del dispatcher
    dispatcher = EmailDispatcher(config, data_dir / "outbox", clock=clock)
    assert dispatcher.drain().pending == 6

    server = SmtpServer(smtp_port, recorder)
    server.start()
    try:
        assert dispatcher.tick(clock()) is None  # still backing off
        clock.advance(config.retry.initial_seconds * 2)
        report = dispatcher.tick(clock())
        clock.advance(config.retry.max_seconds)
        again = dispatcher.tick(clock())
    finally:
        server.stop()
    assert report is not None and report.sent == 6 and report.pending == 0 and report.error is None
    assert again is None
    assert [mail.subject for mail in recorder.received] == [f"[SIEM] CRITICAL: {t} (ward-3)" for t in titles]
    assert len({mail.message["Message-ID"] for mail in recorder.received}) == 6


def test_server_going_down_midway_loses_nothing(
    recorder: Recorder, smtp_port: int, data_dir: Path, clock: Clock
) -> None:
    config = email_config(smtp_port)
    dispatcher = EmailDispatcher(config, data_dir / "outbox", clock=clock)
    server = SmtpServer(smtp_port, recorder)
    server.start()
    dispatcher.submit([make_alert("critical", rule_title="Before")])
    assert dispatcher.drain().sent == 1
    server.stop()
    dispatcher.submit([make_alert("critical", rule_title="During 1"), make_alert("high", rule_title="During 2")])
    assert dispatcher.drain().pending == 2
    server.start()
    try:
        assert dispatcher.drain().sent == 2
    finally:
        server.stop()
    assert [mail.message["Subject"].split(": ")[1] for mail in recorder.received] == [
        "Before (ward-3)", "During 1 (ward-3)", "During 2 (ward-3)",
    ]


def test_refused_recipient_moves_the_mail_aside_and_the_queue_goes_on(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    from siem.notify.config import RouteConfig

    gone = RouteConfig(name="old", recipients=("left@hospital.example",), min_severity="high")
    it = RouteConfig(name="it", recipients=("it@hospital.example",), min_severity="high")
    recorder.reject_recipients.add("left@hospital.example")
    dispatcher = EmailDispatcher(email_config(plain_server.port, routes=(gone, it)), data_dir / "outbox", clock=clock)
    dispatcher.submit([make_alert("critical")])
    report = dispatcher.drain()
    assert report.sent == 1 and report.failed == 1 and report.pending == 0
    [failed] = dispatcher.outbox.failed()
    assert "550" in failed.with_suffix(".reason").read_text(encoding="utf-8")
    assert [mail.recipients for mail in recorder.received] == [["it@hospital.example"]]


def test_resend_after_crash_keeps_the_message_id(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    """The documented trade-off: a crash after the server accepted but before the file moved."""
    dispatcher = EmailDispatcher(email_config(plain_server.port), data_dir / "outbox", clock=clock)
    dispatcher.submit([make_alert("critical")])
    dispatcher.drain()
    [sent] = dispatcher.outbox.sent()
    shutil.copy(sent, dispatcher.outbox.queue_dir / sent.name)  # as if the move never happened
    dispatcher.drain()
    assert len(recorder.received) == 2
    first, second = recorder.received
    assert first.message["Message-ID"] == second.message["Message-ID"]


def test_delivery_error_names_the_server(smtp_port: int) -> None:
    notifier = SmtpNotifier(SmtpConfig(host="127.0.0.1", port=smtp_port, security="plain", timeout=2))
    from siem.notify.render import Mail, build_message

    message = build_message(Mail("s", "t", "h", "low"), sender="a@b.example", recipients=["c@d.example"], date=0)
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{smtp_port}"):
        notifier.send(message)


def test_a_second_sender_waits_for_its_turn(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    dispatcher = EmailDispatcher(email_config(plain_server.port), data_dir / "outbox", clock=clock)
    dispatcher.submit([make_alert("critical")])
    other = EmailDispatcher(email_config(plain_server.port), data_dir / "outbox", clock=clock)
    with other.outbox.sender_lock() as held:
        assert held
        report = dispatcher.drain()
    assert report.busy and report.sent == 0 and report.pending == 1
    assert recorder.received == []
    assert dispatcher.drain().sent == 1


def test_server_without_starttls_keeps_the_queue_waiting(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    smtp = SmtpConfig(host="127.0.0.1", port=plain_server.port, security="starttls", timeout=5)
    dispatcher = EmailDispatcher(email_config(plain_server.port, smtp=smtp), data_dir / "outbox", clock=clock)
    dispatcher.submit([make_alert("critical"), make_alert("high")])
    report = dispatcher.drain()
    assert report.pending == 2 and report.failed == 0
    assert report.error is not None and "does not offer STARTTLS" in report.error
    assert recorder.received == []


def test_rejected_content_is_set_aside_and_the_rest_goes_out(
    plain_server: SmtpServer, recorder: Recorder, data_dir: Path, clock: Clock
) -> None:
    recorder.reject_subject = "Poison"
    dispatcher = EmailDispatcher(email_config(plain_server.port), data_dir / "outbox", clock=clock)
    dispatcher.submit([make_alert("critical", rule_title="Poison"), make_alert("critical", rule_title="Fine")])
    report = dispatcher.drain()
    assert (report.sent, report.failed, report.pending) == (1, 1, 0)
    assert "554" in dispatcher.outbox.failed()[0].with_suffix(".reason").read_text(encoding="utf-8")
    assert [mail.subject for mail in recorder.received] == ["[SIEM] CRITICAL: Fine (ward-3)"]
