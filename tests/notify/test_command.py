"""``siem email test|send|status`` against aiosmtpd on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from cli import root
from siem.notify.config import RouteConfig
from siem.notify.dispatcher import OUTBOX_DIR, EmailDispatcher
from tests.conftest import PROJECT_ROOT
from tests.notify.conftest import IT, Recorder, SmtpServer, email_config, make_alert


def write_config(tmp_path: Path, port: int, *, enabled: bool = True) -> Path:
    path = tmp_path / "siem.yaml"
    path.write_text(
        "email:\n"
        f"  enabled: {'true' if enabled else 'false'}\n"
        "  from_address: siem@hospital.example\n"
        f"  smtp: {{host: 127.0.0.1, port: {port}, security: plain, timeout: 5}}\n"
        "  routes:\n"
        "    - {name: it, recipients: [it@hospital.example], min_severity: low}\n"
        "    - {name: ward3, recipients: [w3@hospital.example], sites: [ward-3]}\n",
        encoding="utf-8",
    )
    return path


def siem(config: Path, data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(root, ["--config", str(config), "--data-dir", str(data_dir), *args])


def test_email_test_reaches_every_route(
    plain_server: SmtpServer, recorder: Recorder, tmp_path: Path, data_dir: Path
) -> None:
    config = write_config(tmp_path, plain_server.port)
    result = siem(config, data_dir, "email", "test")
    assert result.exit_code == 0, result.output
    assert "sent: 2, refused: 0, waiting: 0" in result.output
    assert sorted(mail.recipients[0] for mail in recorder.received) == ["it@hospital.example", "w3@hospital.example"]
    assert {mail.subject for mail in recorder.received} == {"[SIEM] Test message"}


def test_email_test_in_vietnamese_for_one_route(
    plain_server: SmtpServer, recorder: Recorder, tmp_path: Path, data_dir: Path
) -> None:
    config = write_config(tmp_path, plain_server.port)
    result = siem(config, data_dir, "--lang", "vi", "email", "test", "--route", "ward3")
    assert result.exit_code == 0, result.output
    assert "đã gửi: 1" in result.output
    [mail] = recorder.received
    assert mail.subject == "[SIEM] Thư thử nghiệm"
    assert "hoạt động tốt" in mail.body("plain")


def test_status_and_send_after_an_outage(recorder: Recorder, smtp_port: int, tmp_path: Path, data_dir: Path) -> None:
    config = write_config(tmp_path, smtp_port)  # nothing listens yet
    routes = (IT, RouteConfig(name="ward3", recipients=("w3@hospital.example",), sites=("ward-3",)))
    dispatcher = EmailDispatcher(email_config(smtp_port, routes=routes), data_dir / OUTBOX_DIR)
    dispatcher.submit([make_alert("critical"), make_alert("low", site="ward-1")])
    assert dispatcher.drain().pending == 2

    status = siem(config, data_dir, "email", "status", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.output) == {"pending": 2, "sent": 0, "failed": 0, "digest": {"it": 1}, "storm": {}}
    failed = siem(config, data_dir, "email", "send")
    assert failed.exit_code == 1
    assert "cannot connect" in failed.output

    server = SmtpServer(smtp_port, recorder)
    server.start()
    try:
        sent = siem(config, data_dir, "email", "send")
    finally:
        server.stop()
    assert sent.exit_code == 0, sent.output
    assert "sent: 3" in sent.output  # two alert mails and the digest
    status = siem(config, data_dir, "email", "status")
    assert "waiting to send" in status.output
    assert json.loads(siem(config, data_dir, "email", "status", "--json").output)["pending"] == 0


def test_disabled_email_is_a_clear_error(tmp_path: Path, data_dir: Path) -> None:
    config = write_config(tmp_path, 2525, enabled=False)
    done = subprocess.run(
        [sys.executable, "cli.py", "--config", str(config), "--data-dir", str(data_dir), "email", "test"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 3
    assert "email.enabled: true" in done.stderr
