"""``siem incidents`` against a real store file, through click's CliRunner with --data-dir."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem.alerts.service import AlertService
from siem.config import Config
from siem.errors import ConflictError, QueryError, TransitionError
from siem.store.sqlite import SqliteStore
from tests.alerts.cases import ssh_alerts, ssh_event

NOW = time.time()


@pytest.fixture
def case(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A data directory with one open incident (SSH failures from 203.0.113.9) and an officer config."""
    for name in ("SIEM_CONFIG", "SIEM_HOME", "SIEM_LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(data_dir)
    (data_dir / "siem.yaml").write_text("officer: lan\n")
    store = SqliteStore(data_dir / "siem.db")
    try:
        result = AlertService(store, Config()).process(
            ssh_alerts(store, [ssh_event(i, NOW - 600 + i) for i in range(5)]))
        other = AlertService(store, Config()).process(
            ssh_alerts(store, [ssh_event(9, NOW - 300, source="198.51.100.7", site="icu")]))
    finally:
        store.close()
    assert len(result.opened) == len(other.opened) == 1
    yield data_dir, result.opened[0].id


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(root, ["--data-dir", str(data_dir), *args], env={"COLUMNS": "200"})


def audit(data_dir: Path, incident_id: str) -> list[tuple[str, str]]:
    store = SqliteStore(data_dir / "siem.db")
    try:
        return [(e["actor"], e["action"]) for e in reversed(store.audit_log(f"incident:{incident_id}"))]
    finally:
        store.close()


def test_list_filters_and_json(case: tuple[Path, str]) -> None:
    data_dir, incident_id = case
    table = run(data_dir, "incidents", "list")
    assert table.exit_code == 0, table.output
    assert incident_id in table.stdout and "SSH login failure" in table.stdout and "medium" in table.stdout
    rows = [json.loads(line) for line in run(data_dir, "incidents", "list", "--site", "ward-3", "--json").stdout
            .splitlines()]
    assert [row["id"] for row in rows] == [incident_id]
    assert rows[0]["sla"]["acknowledge_overdue"] is False and rows[0]["version"] == 1
    assert run(data_dir, "incidents", "list", "--severity", "high", "--json").stdout == ""
    assert run(data_dir, "incidents", "list", "--status", "resolved", "--json").stdout == ""


def test_lifecycle_through_the_cli_is_audited_as_the_officer(case: tuple[Path, str]) -> None:
    data_dir, incident_id = case
    config = ["--config", str(data_dir / "siem.yaml")]
    steps = [
        ["incidents", "ack", incident_id],
        ["incidents", "assign", incident_id, "minh"],
        ["incidents", "note", incident_id, "Đã đổi mật khẩu camera"],
        ["incidents", "escalate", incident_id, "--reason", "camera in the ICU"],
        ["incidents", "resolve", incident_id, "--reason", "blocked at the firewall"],
        ["incidents", "reopen", incident_id, "--reason", "seen again"],
    ]
    for step in steps:
        result = run(data_dir, *config, *step)
        assert result.exit_code == 0, (step, result.output)
    shown = json.loads(run(data_dir, *config, "incidents", "show", incident_id, "--json").stdout)
    assert shown["incident"]["status"] == "new" and shown["incident"]["severity"] == "high"
    assert shown["incident"]["assignee"] == "minh" and shown["incident"]["reopen_count"] == 1
    assert shown["notes"][0]["text"] == "Đã đổi mật khẩu camera"
    assert audit(data_dir, incident_id) == [("siem", "incident.opened")] + [
        ("lan", action) for action in ("incident.acknowledged", "incident.assigned", "incident.note",
                                       "incident.escalated", "incident.resolved", "incident.reopened")]
    text = run(data_dir, *config, "incidents", "show", incident_id)
    assert "incident.escalated" in text.stdout and "minh" in text.stdout


def test_invalid_transition_and_stale_version_are_errors(case: tuple[Path, str]) -> None:
    data_dir, incident_id = case
    assert run(data_dir, "incidents", "resolve", incident_id).exit_code == 0
    refused = run(data_dir, "incidents", "ack", incident_id)
    assert isinstance(refused.exception, TransitionError) and "reopen it first" in str(refused.exception)
    stale = run(data_dir, "incidents", "reopen", incident_id, "--expect-version", "1")
    assert isinstance(stale.exception, ConflictError) and "reload" in str(stale.exception)
    missing = run(data_dir, "incidents", "show", "INC-NOPE")
    assert isinstance(missing.exception, QueryError)


def test_link_and_export_markdown_and_json(case: tuple[Path, str]) -> None:
    data_dir, incident_id = case
    evidence = ssh_event(2, NOW - 598)["event.id"]
    assert run(data_dir, "incidents", "link", incident_id, "--event", evidence).exit_code == 0
    markdown = run(data_dir, "incidents", "export", incident_id)
    assert markdown.exit_code == 0, markdown.output
    assert markdown.stdout.startswith(f"# {incident_id}: SSH login failure")
    assert "## Timeline" in markdown.stdout and "incident.linked" in markdown.stdout
    assert f"`{evidence}` (linked)" in markdown.stdout
    assert "Failed password for admin from 203.0.113.9" in markdown.stdout
    out = data_dir / "case.json"
    written = run(data_dir, "incidents", "export", incident_id, "--format", "json", "--output", str(out))
    assert written.exit_code == 0 and written.stdout == ""
    document = json.loads(out.read_text())
    assert document["evidence_event_ids"] == [evidence] and len(document["events"]) == 5
    assert document["alerts"][0]["count"] == 5
    assert [e["action"] for e in document["timeline"]] == ["incident.opened", "incident.linked"]


def test_manual_incident_gathers_alerts(case: tuple[Path, str]) -> None:
    data_dir, _incident = case
    alert_id = json.loads(run(data_dir, "alerts", "list", "--site", "icu", "--json").stdout)["id"]
    made = run(data_dir, "incidents", "open", "USB stick on ward PC", "--severity", "high",
               "--alert", alert_id[:8], "--json")
    assert made.exit_code == 0, made.output
    incident = json.loads(made.stdout)
    assert incident["site"] == "icu" and incident["alert_count"] == 1 and incident["status"] == "new"
