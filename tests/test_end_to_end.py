"""The product end to end: a brute-force log in, one incident, one e-mail, resolved, audited.

Real parts only: the ``siem`` command line, our Sigma rules, the example inventory, a SQLite
store on disk and an aiosmtpd server on loopback.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cli import root
from tests.conftest import PROJECT_ROOT, free_port
from tests.notify.conftest import Recorder, SmtpServer

ATTACKER = "203.0.113.9"


def brute_force_log(path: Path, failures: int = 60) -> Path:
    """sshd failures on a ward-3 camera, one every two seconds, then one success elsewhere."""
    lines = [
        f"Nov 25 10:{second // 60:02d}:{second % 60:02d} ward3-cam-001 sshd[4{second:03d}]: "
        f"Failed password for root from {ATTACKER} port {40000 + second} ssh2"
        for second in range(0, failures * 2, 2)
    ]
    lines.append("Nov 25 11:00:00 soc-siem-01 sshd[9]: Accepted publickey for officer from 10.0.1.5 port 5 ssh2")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_config(tmp_path: Path, smtp_port: int) -> Path:
    config = tmp_path / "siem.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"inventory: {PROJECT_ROOT / 'examples' / 'inventory.yaml'}\n"
        f"officer: officer-an\n"
        f"detection: {{rules: [{PROJECT_ROOT / 'rules'}]}}\n"
        "email:\n"
        "  enabled: true\n"
        "  from_address: siem@city.example\n"
        f"  smtp: {{host: 127.0.0.1, port: {smtp_port}, security: plain, timeout: 5}}\n"
        "  routes: [{name: it, recipients: [it@city.example], min_severity: medium}]\n",
        encoding="utf-8",
    )
    return config


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def siem(config: Path, *args: str) -> str:
    result = CliRunner().invoke(root, ["--config", str(config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_brute_force_replay_opens_one_incident_and_sends_one_mail(tmp_path: Path) -> None:
    recorder = Recorder()
    server = SmtpServer(free_port(), recorder)
    server.start()
    try:
        config = write_config(tmp_path, server.port)
        log = brute_force_log(tmp_path / "auth.log")
        siem(config, "ingest", str(log))

        incidents = json_lines(siem(config, "incidents", "list", "--json"))
        assert len(incidents) == 1, incidents
        incident = incidents[0]
        assert incident["severity"] == "high"
        assert incident["site"] == "ward-3"
        assert len(recorder.received) == 1
        mail = recorder.received[0]
        assert mail.recipients == ["it@city.example"]
        assert "Brute Force" in mail.subject
        assert ATTACKER in mail.body("plain")
        assert incident["id"] in mail.body("plain")

        # A replay of the same log changes nothing: no new events, incident or mail.
        siem(config, "ingest", str(log))
        assert len(json_lines(siem(config, "incidents", "list", "--json"))) == 1
        assert len(recorder.received) == 1

        siem(config, "incidents", "ack", incident["id"])
        siem(config, "incidents", "resolve", incident["id"], "--reason", "blocked at the ward firewall")
        shown = json.loads(siem(config, "incidents", "show", incident["id"], "--json"))
        assert shown["incident"]["status"] == "resolved"
        actions = [(entry["actor"], entry["action"]) for entry in shown["timeline"]]
        assert actions[0] == ("siem", "incident.opened")
        assert ("officer-an", "incident.acknowledged") in actions
        assert actions[-1] == ("officer-an", "incident.resolved")
    finally:
        server.stop()


def test_events_are_labelled_and_searchable(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())
    siem(config, "ingest", str(brute_force_log(tmp_path / "auth.log", failures=3)))
    found = json_lines(siem(config, "search", f"source.ip:{ATTACKER}", "--json"))
    assert len(found) == 3
    assert all(event["labels.site"] == "ward-3" and event["labels.zone"] == "camera" for event in found)
    status = json.loads(siem(config, "status", "--json"))
    assert status["store"]["events"] == 4
