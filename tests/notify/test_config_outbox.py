"""E-mail configuration checks (through the real YAML loader) and the outbox files on disk."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from siem.config import load_config
from siem.errors import ConfigError
from siem.notify.config import EmailConfig, SmtpConfig
from siem.notify.outbox import Outbox, message_id
from siem.notify.render import Mail, build_message
from siem.notify.smtp import Secret, tls_context


def load(tmp_path: Path, text: str) -> EmailConfig:
    path = tmp_path / "siem.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(str(path)).email


def test_email_section_is_bound(tmp_path: Path) -> None:
    email = load(
        tmp_path,
        "email:\n"
        "  enabled: true\n"
        "  from_address: siem@hospital.example\n"
        "  smtp: {host: mail.hospital.example, port: 465, security: tls, username: siem,"
        " password_env: SIEM_SMTP_PASSWORD}\n"
        "  routes:\n"
        "    - {name: it, recipients: [it@hospital.example], min_severity: medium, digest_minutes: 30}\n"
        "    - {name: ward3, recipients: w3@hospital.example, sites: [ward-3]}\n"
        "  rate_limit: {max_messages: 5, window_seconds: 120}\n",
    )
    assert email.enabled and email.smtp.security == "tls" and email.smtp.verify_tls
    assert [route.name for route in email.routes] == ["it", "ward3"]
    assert email.routes[1].recipients == ("w3@hospital.example",)
    assert email.routes[1].sites == ("ward-3",)
    assert email.rate_limit.max_messages == 5


def test_defaults_need_no_email_section(tmp_path: Path) -> None:
    assert load(tmp_path, "site: city\n") == EmailConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("email: {smtp: {security: ssl}}", "security must be one of"),
        ("email: {smtp: {passwrd_env: X}}", "unknown key 'email.smtp.passwrd_env'"),
        ("email: {smtp: {username: u, password_env: A, password_file: /f}}", "not both"),
        ("email: {smtp: {password_env: A}}", "username is needed"),
        ("email: {routes: [{name: it}]}", "at least one address"),
        ("email: {routes: [{name: it, recipients: [it]}]}", "not an e-mail address"),
        ("email: {routes: [{name: it, recipients: [a@b.c], min_severity: urgent}]}", "min_severity"),
        ("email: {routes: [{name: x, recipients: [a@b.c]}, {name: x, recipients: [d@e.f]}]}", "duplicate"),
        ("email: {timezone: Mars/Olympus}", "not a known time zone"),
        ("email: {language: fr}", "en or vi"),
        ("email: {smtp: {port: 0}}", "port"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, text + "\n")


def test_tls_is_at_least_1_2_and_verifies_by_default() -> None:
    context = tls_context(SmtpConfig())
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_secret_hides_itself() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret) and "hunter2" not in f"{secret}"
    assert secret.reveal() == "hunter2"


def message(subject: str) -> Mail:
    return Mail(subject, "text", "<p>html</p>", "high")


def test_outbox_keeps_order_and_names_survive_pruning(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox", keep_sent=1)
    for index in range(3):
        mail = build_message(message(f"m{index}"), sender="s@h.example", recipients=["r@h.example"], date=0)
        assert outbox.enqueue(mail, f"key-{index}") is not None
    pending = outbox.pending()
    assert [Outbox.load(path)["Subject"] for path in pending] == ["m0", "m1", "m2"]
    for path in pending:
        outbox.mark_sent(path)
    assert len(outbox.sent()) == 1  # older sent mails are pruned
    later = build_message(message("m3"), sender="s@h.example", recipients=["r@h.example"], date=0)
    queued = outbox.enqueue(later, "key-3")
    assert queued is not None and queued.name.startswith("000000000004-")
    assert not list((tmp_path / "outbox" / "queue").glob(".tmp-*"))


def test_same_key_is_queued_once_with_a_stable_message_id(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    first = build_message(message("a"), sender="s@h.example", recipients=["r@h.example"], date=0)
    again = build_message(message("a"), sender="s@h.example", recipients=["r@h.example"], date=60)
    path = outbox.enqueue(first, "alert:it:42")
    assert path is not None
    assert outbox.enqueue(again, "alert:it:42") is None
    assert Outbox.load(path)["Message-ID"] == message_id("alert:it:42", "s@h.example")
    assert message_id("alert:it:42", "s@h.example") != message_id("alert:it:43", "s@h.example")


def test_leftover_temporary_files_are_cleaned(tmp_path: Path) -> None:
    queue = tmp_path / "outbox" / "queue"
    queue.mkdir(parents=True)
    (queue / ".tmp-000000000001-abc.eml").write_bytes(b"half a mess")
    outbox = Outbox(tmp_path / "outbox")
    assert outbox.pending() == []
    assert not list(queue.iterdir())
