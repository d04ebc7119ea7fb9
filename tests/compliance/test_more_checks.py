"""The clock-skew, default-accounts and rule-coverage checks on a real SQLite store, with the
shipped check files, real Sigma rules loaded by the real loader, and the scan CLI."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import root
from siem.compliance.loader import load_checks
from siem.compliance.model import ERROR, FAIL, PASS, Check, CheckResult
from siem.compliance.runner import ScanContext, run_checks
from siem.detect.loader import load_rules
from siem.detect.model import Logsource
from siem.enrich.inventory import Inventory, InventoryEnricher
from siem.event import Event, format_timestamp, make_event_id
from siem.incidents.config import SlaTable
from siem.store.sqlite import SqliteStore
from tests.conftest import PROJECT_ROOT

CHECKS = PROJECT_ROOT / "rules" / "compliance" / "checks"
NOW = time.time()
MINUTE = 60.0

INVENTORY = """\
sites:
  - id: ward-1
    name: {en: Ward 1, vi: Phường 1}
    zones:
      - {id: office, cidrs: [10.1.16.0/22]}
      - {id: camera, cidrs: [10.1.64.0/22]}
  - id: ward-2
    name: {en: Ward 2, vi: Phường 2}
    zones:
      - {id: office, cidrs: [10.2.16.0/22]}
      - {id: camera, cidrs: [10.2.64.0/22]}
devices:
  - {name: cam-w1-001, ip: 10.1.64.21, type: camera, expected_to_log: true}
  - {name: srv-w1-app, ip: 10.1.16.10, type: server}
  - {name: cam-w2-001, ip: 10.2.64.21, type: camera, expected_to_log: true}
"""

AUTH_RULE = """\
title: Test login rule
id: 6d0e4bb4-7f0e-4a63-9d0a-2f6b8d3c1a01
status: test
logsource:
  category: authentication
detection:
  selection:
    event.outcome: failure
  condition: selection
level: low
"""


@pytest.fixture
def wards(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.yml"
    path.write_text(INVENTORY, encoding="utf-8")
    return path


def event(at: float, **fields: Any) -> Event:
    """An ECS event at ``at`` (keys use __ for dots)."""
    body: Event = {key.replace("__", "."): value for key, value in fields.items()}
    body["@timestamp"] = format_timestamp(at)
    body["event.original"] = json.dumps(body, sort_keys=True)
    body["event.id"] = make_event_id(body["event.original"], str(at))
    return body


def syslog(device_time: float, received: float, host_ip: str, *, origin: str = "udp://") -> Event:
    """A syslog event as the receiver makes it: device time, receive time, input."""
    return event(device_time, host__ip=host_ip, event__created=format_timestamp(received),
                 event__dataset="syslog", siem__input=f"{origin}{host_ip}", message="link up")


def login(at: float, host_ip: str, user: str, outcome: str = "success", dataset: str = "linux.auth") -> Event:
    return event(at, host__ip=host_ip, user__name=user, event__category=["authentication"],
                 event__outcome=outcome, event__dataset=dataset)


def store_events(data_dir: Path, inventory: Path, events: list[Event]) -> None:
    enricher = InventoryEnricher(Inventory.load(inventory), default_site="city")
    for item in events:
        enricher.enrich(item)
    store = SqliteStore(data_dir / "siem.db")
    try:
        store.write(events)
    finally:
        store.close()


def shipped(ident: str) -> Check:
    return next(check for check in load_checks(CHECKS).checks if check.id == ident)


def run(data_dir: Path, inventory: Path, check: Check, *, site: str | None = None,
        rules: tuple[Logsource, ...] | None = None, mode: str = "strict") -> CheckResult:
    store = SqliteStore(data_dir / "siem.db")
    try:
        context = ScanContext(store=store, inventory=Inventory.load(inventory), sla=SlaTable(),
                              data_path=data_dir, now=NOW, since=NOW - 7 * 86400, site=site,
                              rule_logsources=rules, logsource_mode=mode)
        [result] = run_checks([check], context)
        return result
    finally:
        store.close()


def test_clock_skew_names_the_worst_devices_per_ward(data_dir: Path, wards: Path) -> None:
    events = [syslog(NOW - 10 * MINUTE + n + 3, NOW - 10 * MINUTE + n, "10.1.16.10") for n in range(5)]
    # cam-w2-001 runs 5 minutes slow; one message delayed in transit does not move the median
    events += [syslog(NOW - 20 * MINUTE + n - 300, NOW - 20 * MINUTE + n, "10.2.64.21") for n in range(5)]
    events.append(syslog(NOW - 30 * MINUTE - 900, NOW - 30 * MINUTE, "10.1.64.21"))
    events += [syslog(NOW - 30 * MINUTE + n, NOW - 30 * MINUTE + n, "10.1.64.21") for n in range(1, 4)]
    # a file read an hour after it was written says nothing about the writer's clock
    events.append(syslog(NOW - 50 * MINUTE - 3600, NOW - 50 * MINUTE, "10.1.16.10", origin="file:///var/log/"))
    store_events(data_dir, wards, events)
    check = shipped("clock-skew")
    result = run(data_dir, wards, check)
    assert result.status == FAIL and result.value == 300
    assert result.per_site == {"ward-1": 3.0, "ward-2": 300.0}
    assert result.failing_sites == ["ward-2"]
    assert result.details[0] == "3 devices checked, 1 beyond <= 60 s"
    assert result.details[1] == "cam-w2-001 (ward-2): -300 s (median of 5 events)"
    assert run(data_dir, wards, check, site="ward-1").status == PASS


def test_clock_skew_passes_when_clocks_agree_and_ignores_old_events(data_dir: Path, wards: Path) -> None:
    store_events(data_dir, wards, [
        syslog(NOW - 5 * MINUTE + 1, NOW - 5 * MINUTE, "10.1.64.21"),
        syslog(NOW - 3 * 3600 - 900, NOW - 3 * 3600, "10.2.64.21"),  # older than the 1-hour window
    ])
    result = run(data_dir, wards, shipped("clock-skew"))
    assert result.status == PASS and result.value == 1.0
    assert result.details == ["1 devices checked, 0 beyond <= 60 s"]
    bounded = dataclasses.replace(shipped("clock-skew"), params={"max_events": 1})
    assert run(data_dir, wards, bounded).details == [
        "1 devices checked, 0 beyond <= 60 s (newest 1 events of the window)"]


def test_default_accounts_fail_on_factory_logins(data_dir: Path, wards: Path) -> None:
    store_events(data_dir, wards, [
        login(NOW - 3600, "10.1.64.21", "admin", dataset="hikvision"),
        login(NOW - 3500, "10.1.64.21", "admin", dataset="hikvision"),
        login(NOW - 3400, "10.2.64.21", "888888", dataset="dahua"),
        login(NOW - 3300, "10.2.64.21", "root"),                     # root on a camera
        login(NOW - 3200, "10.1.16.10", "root"),                     # root on a server: fine
        login(NOW - 3100, "10.1.16.10", "ubnt", outcome="failure"),  # a failed try: not a login
        login(NOW - 3000, "10.1.16.10", "nguyenvana"),
    ])
    check = shipped("default-accounts")
    result = run(data_dir, wards, check)
    assert result.status == FAIL and result.value == 4
    assert result.per_site == {"ward-1": 2.0, "ward-2": 2.0}
    assert result.failing_sites == ["ward-1", "ward-2"]
    assert result.details[0] == "admin@cam-w1-001 (ward-1): 2 successful logins"
    assert set(result.details[1:]) == {"888888@cam-w2-001 (ward-2): 1 successful logins",
                                       "root@cam-w2-001 (ward-2): 1 successful logins"}


def test_default_accounts_pass_with_personal_accounts(data_dir: Path, wards: Path) -> None:
    store_events(data_dir, wards, [login(NOW - 3600, "10.1.64.21", "operator-w1"),
                                   login(NOW - 3000, "10.1.16.10", "root"),
                                   login(NOW - 8 * 86400, "10.1.64.21", "admin")])  # outside the week
    assert run(data_dir, wards, shipped("default-accounts")).status == PASS


def rule_logsources(tmp_path: Path) -> tuple[Logsource, ...]:
    folder = tmp_path / "sigma"
    folder.mkdir()
    (folder / "login.yml").write_text(AUTH_RULE, encoding="utf-8")
    ruleset = load_rules([folder])
    assert not ruleset.problems
    return tuple(loaded.info.logsource for loaded in ruleset.rules)


def test_rule_coverage_lists_datasets_no_rule_sees(data_dir: Path, wards: Path, tmp_path: Path) -> None:
    rules = rule_logsources(tmp_path)
    store_events(data_dir, wards, [
        login(NOW - 3600, "10.1.16.10", "nguyenvana", outcome="failure"),
        event(NOW - 3000, event__dataset="suricata.eve", suricata__eve__event_type="alert"),
        event(NOW - 2900, event__dataset="suricata.eve", suricata__eve__event_type="alert"),
        event(NOW - 2800, event__dataset="web.access", url__path="/"),
        event(NOW - 2700, event__dataset="unknown", message="garbage"),  # ignored by the check file
        event(NOW - 3 * 86400, event__dataset="zeek.dns"),               # outside the 24-hour window
    ])
    check = shipped("rule-coverage")
    result = run(data_dir, wards, check, rules=rules)
    assert result.status == FAIL and result.value == 2
    assert result.details == ["3 datasets seen, 1 rules loaded",
                              "suricata.eve: 2 events, no rule for its logsource",
                              "web.access: 1 events, no rule for its logsource"]
    # With logsource routing off every rule sees every event.
    assert run(data_dir, wards, check, rules=rules, mode="any").status == PASS
    # Without rules the check cannot judge and says why.
    missing = run(data_dir, wards, check)
    assert missing.status == ERROR and "detection.rules" in str(missing.error)


def test_rule_coverage_passes_when_every_dataset_is_covered(data_dir: Path, wards: Path, tmp_path: Path) -> None:
    store_events(data_dir, wards, [login(NOW - 3600, "10.1.16.10", "a", outcome="failure"),
                                   login(NOW - 3500, "10.1.64.21", "b", dataset="hikvision")])
    result = run(data_dir, wards, shipped("rule-coverage"), rules=rule_logsources(tmp_path))
    assert result.status == PASS and result.value == 0
    assert result.details == ["2 datasets seen, 1 rules loaded"]


def test_scan_cli_runs_the_new_checks_with_the_configured_rules(data_dir: Path, wards: Path,
                                                                tmp_path: Path) -> None:
    folder = tmp_path / "sigma"
    folder.mkdir()
    (folder / "login.yml").write_text(AUTH_RULE, encoding="utf-8")
    config = tmp_path / "siem.yaml"
    config.write_text(f"inventory: {wards}\ndetection:\n  rules: [{folder}]\n", encoding="utf-8")
    checks = tmp_path / "checks"
    checks.mkdir()
    for name in ("clock-skew", "default-accounts", "rule-coverage"):
        (checks / f"{name}.yml").write_text((CHECKS / f"{name}.yml").read_text(encoding="utf-8"),
                                            encoding="utf-8")
    store_events(data_dir, wards, [login(NOW - 600, "10.1.64.21", "admin", dataset="hikvision"),
                                   syslog(NOW - 300, NOW - 300, "10.1.16.10")])
    result = CliRunner().invoke(root, ["--config", str(config), "--data-dir", str(data_dir), "scan",
                                       "--checks", str(checks), "--format", "json"])
    assert result.exit_code == 1, result.output
    statuses = {row["id"]: row["status"] for row in json.loads(result.stdout)["results"]}
    # syslog from srv-w1-app: no rule for its logsource; admin on a camera: a default account
    assert statuses == {"clock-skew": PASS, "default-accounts": FAIL, "rule-coverage": FAIL}


def test_tcvn_profile_loads_every_check_and_scans(data_dir: Path, wards: Path, tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "rules" / "compliance" / "profiles" / "vn-tcvn11930.yml").read_text(encoding="utf-8")
    # every reference names its source beside it, and no clause number of TCVN 11930 is claimed
    assert text.count("# Source:") >= 4 and "https://" in text
    config = tmp_path / "siem.yaml"
    config.write_text(f"inventory: {wards}\n", encoding="utf-8")
    store_events(data_dir, wards, [login(NOW - 600, "10.1.64.21", "admin", dataset="hikvision")])
    result = CliRunner().invoke(root, ["--config", str(config), "--data-dir", str(data_dir), "--lang", "vi",
                                       "scan", "--profile", "vn-tcvn11930", "--format", "json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["profile"] == "vn-tcvn11930"
    rows = {row["id"]: row for row in document["results"]}
    assert set(rows) >= {"silent-sources", "retention", "clock-skew", "cleartext-management", "default-accounts",
                         "camera-internet", "public-wifi-internal", "failed-login-ratio",
                         "overdue-critical-incidents", "rule-coverage"}
    assert rows["default-accounts"]["status"] == FAIL
    assert rows["default-accounts"]["title"].startswith("Không có đăng nhập thành công")
    assert rows["camera-internet"]["controls"] == ["TCVN 11930:2017", "NĐ 85/2016/NĐ-CP", "TT 12/2022/TT-BTTTT",
                                                   "CT 23/CT-TTg 2022"]
