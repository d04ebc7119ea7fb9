"""Compliance checks and ``siem scan`` on a real SQLite store: events labelled by the real
inventory enricher, the shipped check files and CIS v8 profile, and the CLI end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem.compliance.loader import load_check, load_checks, load_profile
from siem.compliance.model import ERROR, FAIL, PASS, Check, CheckResult
from siem.compliance.runner import ScanContext, run_checks
from siem.enrich.inventory import Inventory, InventoryEnricher
from siem.errors import ExitCode, RuleError
from siem.event import Event, format_timestamp, make_event_id
from siem.incidents.config import SlaTable
from siem.incidents.model import Incident
from siem.store.base import AuditEntry
from siem.store.sqlite import SqliteStore
from tests.conftest import PROJECT_ROOT

CHECKS = PROJECT_ROOT / "rules" / "compliance" / "checks"
PROFILES = PROJECT_ROOT / "rules" / "compliance" / "profiles"
NOW = time.time()
HOUR = 3600.0

INVENTORY = """\
sites:
  - id: ward-1
    name: {en: Ward 1, vi: Phường 1}
    zones:
      - {id: network, cidrs: [10.1.0.0/24]}
      - {id: office, cidrs: [10.1.16.0/22]}
      - {id: camera, cidrs: [10.1.64.0/22]}
      - {id: public_wifi, cidrs: [10.1.128.0/20]}
  - id: ward-2
    name: {en: Ward 2, vi: Phường 2}
    zones:
      - {id: network, cidrs: [10.2.0.0/24]}
      - {id: office, cidrs: [10.2.16.0/22]}
      - {id: camera, cidrs: [10.2.64.0/22]}
      - {id: public_wifi, cidrs: [10.2.128.0/20]}
devices:
  - {name: cam-w1-001, ip: 10.1.64.21, type: camera, expected_to_log: true}
  - {name: sw-w1-core, ip: 10.1.0.2, type: switch, expected_to_log: true}
  - {name: cam-w2-001, ip: 10.2.64.21, type: camera, expected_to_log: true}
  - {name: cam-w2-002, ip: 10.2.64.22, type: camera}
"""


def event(at: float, **fields: Any) -> Event:
    """An ECS event at ``at`` (keys use __ for dots), labelled by the real enricher."""
    body: Event = {key.replace("__", "."): value for key, value in fields.items()}
    body["@timestamp"] = format_timestamp(at)
    body["event.original"] = json.dumps(body, sort_keys=True)
    body["event.id"] = make_event_id(body["event.original"], str(at))
    return body


def flow(at: float, source: str, destination: str, port: int) -> Event:
    return event(at, source__ip=source, destination__ip=destination, destination__port=port,
                 network__transport="tcp", event__category=["network"], event__action="allow")


def login(at: float, host_ip: str, outcome: str, user: str = "admin") -> Event:
    return event(at, host__ip=host_ip, user__name=user, event__category=["authentication"],
                 event__outcome=outcome, event__action="ssh_login")


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.yml"
    path.write_text(INVENTORY, encoding="utf-8")
    return path


def store_events(data_dir: Path, inventory: Path, events: list[Event]) -> None:
    enricher = InventoryEnricher(Inventory.load(inventory), default_site="city")
    for item in events:
        enricher.enrich(item)
    store = SqliteStore(data_dir / "siem.db")
    try:
        store.write(events)
    finally:
        store.close()


def run(data_dir: Path, inventory: Path | None, checks: list[Check], *,
        site: str | None = None) -> dict[str, CheckResult]:
    store = SqliteStore(data_dir / "siem.db")
    try:
        context = ScanContext(store=store, inventory=Inventory.load(inventory) if inventory else None,
                              sla=SlaTable(), data_path=data_dir, now=NOW, since=NOW - 7 * 86400,
                              site=site)
        return {result.check.id: result for result in run_checks(checks, context)}
    finally:
        store.close()


def shipped(*ids: str) -> list[Check]:
    checks = {check.id: check for check in load_checks(CHECKS).checks}
    return [checks[ident] for ident in ids]


def test_shipped_checks_and_cis_profile_load() -> None:
    loaded = load_checks(CHECKS)
    assert loaded.problems == []
    ids = {check.id for check in loaded.checks}
    assert {"silent-sources", "cleartext-management", "camera-internet", "public-wifi-internal",
            "failed-login-ratio", "overdue-critical-incidents", "retention"} <= ids
    for check in loaded.checks:
        assert check.title.en and check.title.vi and check.remediation.vi and check.references
    profile = load_profile(PROFILES / "cis-v8.yml", ids)
    # log-integrity maps to no CIS v8 safeguard (Control 8 does not cover log integrity;
    # it cites NIST SP 800-53 AU-9(3)), so the CIS profile leaves it out.
    assert set(profile.check_ids()) == ids - {"log-integrity"}
    assert profile.controls_of("retention") == ["8.3", "8.10"]


def test_bad_checks_name_file_and_line_and_the_others_still_load(tmp_path: Path) -> None:
    shutil.copy(CHECKS / "camera-internet.yml", tmp_path / "a-good.yml")
    text = (CHECKS / "cleartext-management.yml").read_text(encoding="utf-8")
    (tmp_path / "b-bad-query.yml").write_text(
        text.replace("destination.port:(21 OR 23)'", "destination.port:(21 OR'"), encoding="utf-8")
    (tmp_path / "c-bad-yaml.yml").write_text("id: x\ntitle: [unclosed\n", encoding="utf-8")
    (tmp_path / "d-no-threshold.yml").write_text(text.replace("max: 0\n", ""), encoding="utf-8")
    loaded = load_checks(tmp_path)
    assert [check.id for check in loaded.checks] == ["camera-internet"]
    problems = {Path(str(problem.path)).name: problem for problem in loaded.problems}
    assert set(problems) == {"b-bad-query.yml", "c-bad-yaml.yml", "d-no-threshold.yml"}
    assert problems["b-bad-query.yml"].line == text.splitlines().index(
        next(line for line in text.splitlines() if line.startswith("query:"))) + 1
    assert "bad query" in problems["b-bad-query.yml"].message
    assert problems["c-bad-yaml.yml"].line is not None
    with pytest.raises(RuleError, match="unknown kind"):
        (tmp_path / "e.yml").write_text(text.replace("query: ", "kind: clock_magic\n#"),
                                        encoding="utf-8")
        load_check(tmp_path / "e.yml")


def test_network_checks_fail_per_site_and_pass_on_clean_traffic(data_dir: Path, inventory: Path) -> None:
    store_events(data_dir, inventory, [
        flow(NOW - HOUR, "10.1.16.5", "10.1.64.21", 23),     # telnet to a ward-1 camera
        flow(NOW - HOUR, "10.2.16.5", "10.2.0.1", 21),       # ftp to a ward-2 switch
        flow(NOW - HOUR, "10.1.64.21", "203.0.113.7", 443),  # ward-1 camera to the internet
        flow(NOW - HOUR, "10.2.128.9", "10.2.64.21", 554),   # ward-2 public wifi to a camera
        flow(NOW - HOUR, "10.1.16.5", "10.1.64.21", 443),    # fine: https to a camera
        flow(NOW - 30 * 86400, "10.1.16.5", "10.1.64.22", 23),  # outside the 7-day window
    ])
    checks = shipped("cleartext-management", "camera-internet", "public-wifi-internal")
    results = run(data_dir, inventory, checks)
    assert results["cleartext-management"].status == FAIL
    assert results["cleartext-management"].value == 2
    assert results["cleartext-management"].per_site == {"ward-1": 1, "ward-2": 1}
    assert results["camera-internet"].failing_sites == ["ward-1"]
    assert results["public-wifi-internal"].failing_sites == ["ward-2"]
    only_ward1 = run(data_dir, inventory, checks, site="ward-1")
    assert only_ward1["public-wifi-internal"].status == PASS
    assert only_ward1["cleartext-management"].value == 1

    clean = data_dir / "clean"
    clean.mkdir()
    store_events(clean, inventory, [flow(NOW - HOUR, "10.1.16.5", "10.1.64.21", 443)])
    assert {result.status for result in run(clean, inventory, checks).values()} == {PASS}


def test_silent_sources_lists_quiet_devices_by_ward(data_dir: Path, inventory: Path) -> None:
    store_events(data_dir, inventory, [
        login(NOW - HOUR, "10.1.64.21", "success"),                      # cam-w1-001 by address
        event(NOW - 2 * HOUR, host__name="sw-w1-core", message="link up"),  # by host name
        event(NOW - 3 * 86400, host__ip="10.2.64.21", message="old"),   # cam-w2-001: too old
    ])
    [check] = shipped("silent-sources")
    result = run(data_dir, inventory, [check])["silent-sources"]
    assert result.status == FAIL and result.value == 1
    assert result.failing_sites == ["ward-2"]
    assert result.details == ["ward-2: cam-w2-001"]  # cam-w2-002 is not expected to log
    no_inventory = run(data_dir, None, [check])["silent-sources"]
    assert no_inventory.status == ERROR and "inventory" in str(no_inventory.error)


def test_failed_login_ratio_judges_each_site(data_dir: Path, inventory: Path) -> None:
    ward1 = [login(NOW - HOUR, "10.1.16.9", "failure" if n < 10 else "success", f"u{n}") for n in range(25)]
    ward2 = [login(NOW - HOUR, "10.2.16.9", "failure" if n < 2 else "success", f"u{n}") for n in range(25)]
    store_events(data_dir, inventory, [*ward1, *ward2])
    result = run(data_dir, inventory, shipped("failed-login-ratio"))["failed-login-ratio"]
    assert result.status == FAIL
    assert result.per_site == {"ward-1": 0.4, "ward-2": 0.08}
    assert result.failing_sites == ["ward-1"]
    assert run(data_dir, inventory, shipped("failed-login-ratio"), site="ward-2")[
        "failed-login-ratio"].status == PASS


def test_overdue_critical_incidents(data_dir: Path, inventory: Path) -> None:
    store = SqliteStore(data_dir / "siem.db")
    try:
        for ident, severity, age_hours, status in (("INC-1", "critical", 5, "new"),
                                                    ("INC-2", "critical", 1, "new"),
                                                    ("INC-3", "critical", 9, "resolved"),
                                                    ("INC-4", "high", 9, "new")):
            opened = NOW - age_hours * HOUR
            store.insert_incident(
                Incident(id=ident, title=ident, status=status, severity=severity, created_at=opened,
                         updated_at=opened, opened_at=opened, site="ward-1"),
                alert_ids=[], audit=AuditEntry("test", "incident.opened", ident, None, None))
    finally:
        store.close()
    result = run(data_dir, inventory, shipped("overdue-critical-incidents"))[
        "overdue-critical-incidents"]
    assert result.status == FAIL and result.value == 1  # only INC-1: past the 4 h SLA and open
    assert result.details[0].startswith("INC-1 (critical, ward-1)")


def test_retention_counts_days_of_stored_events(data_dir: Path, inventory: Path) -> None:
    [check] = shipped("retention")
    store_events(data_dir, inventory, [event(NOW - 10 * 86400, message="ten days ago")])
    young = run(data_dir, inventory, [check])["retention"]
    assert young.status == FAIL and young.value == 10.0
    store_events(data_dir, inventory, [event(NOW - 100 * 86400, message="a hundred days ago")])
    old = run(data_dir, inventory, [check])["retention"]
    assert old.value == 100.0
    free_ok = shutil.disk_usage(data_dir).free / shutil.disk_usage(data_dir).total >= 0.10
    assert old.status == (PASS if free_ok else FAIL)


def scan(data_dir: Path, config: Path, *args: str, code: int) -> Result:
    result = CliRunner().invoke(root, ["--config", str(config), "--data-dir", str(data_dir),
                                       "scan", *args])
    assert result.exit_code == code, result.output
    return result


def test_scan_cli_reports_history_and_formats(data_dir: Path, inventory: Path, tmp_path: Path) -> None:
    config = tmp_path / "siem.yaml"
    config.write_text(f"inventory: {inventory}\n", encoding="utf-8")
    checks = tmp_path / "checks"
    checks.mkdir()
    for name in ("cleartext-management", "camera-internet"):
        shutil.copy(CHECKS / f"{name}.yml", checks / f"{name}.yml")
    (checks / "broken.yml").write_text("id: broken\nquery: 'a:(\n", encoding="utf-8")
    store_events(data_dir, inventory, [flow(NOW - HOUR, "10.1.16.5", "10.1.64.21", 23)])

    first = json.loads(scan(data_dir, config, "--checks", str(checks), "--format", "json",
                            code=1).stdout)
    statuses = {row["id"]: row["status"] for row in first["results"]}
    assert statuses == {"cleartext-management": FAIL, "camera-internet": PASS}
    assert first["change"]["previous_at"] is None
    assert first["results"][1]["failing_sites"] == ["ward-1"]

    # The telnet flow ages out of a 30-minute window: the next scan passes and says it was fixed.
    report = tmp_path / "report.md"
    scan(data_dir, config, "--checks", str(checks), "--since", "30m", "--format", "markdown",
         "--output", str(report), code=0)
    text = report.read_text(encoding="utf-8")
    assert "| PASS |" in text and "fixed: cleartext-management" in text

    table = scan(data_dir, config, "--checks", str(checks), code=1).stdout
    assert "FAIL" in table and "new failures: cleartext-management" in table
    history = (data_dir / "compliance" / "history.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(history) == 3


def test_scan_cli_profile(data_dir: Path, inventory: Path, tmp_path: Path) -> None:
    config = tmp_path / "siem.yaml"
    config.write_text(f"inventory: {inventory}\n", encoding="utf-8")
    store_events(data_dir, inventory, [login(NOW - HOUR, "10.1.64.21", "success")])
    result = json.loads(scan(data_dir, config, "--profile", "cis-v8", "--format", "json",
                             code=1).stdout)
    assert result["profile"] == "cis-v8"
    by_id = {row["id"]: row for row in result["results"]}
    assert by_id["retention"]["controls"] == ["8.3", "8.10"]
    assert by_id["silent-sources"]["status"] == FAIL  # sw-w1-core and cam-w2-001 are quiet
    assert by_id["silent-sources"]["failing_sites"] == ["ward-1", "ward-2"]
    missing = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), "--data-dir", str(data_dir), "scan",
         "--profile", "nope"], capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == ExitCode.RULES and "no profile 'nope'" in missing.stderr
