"""Logsource routing: Windows channels/EventIDs and ECS datasets to Sigma logsources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from siem.detect.logsource import event_logsources, rule_applies
from siem.detect.model import Logsource

SYSMON = "Microsoft-Windows-Sysmon/Operational"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _applies(rule: Logsource, event: dict[str, Any]) -> bool:
    return any(rule_applies(rule, facet) for facet in event_logsources(event))


def test_sysmon_process_creation() -> None:
    facets = event_logsources({"Channel": SYSMON, "EventID": 1})
    assert facets == (Logsource("windows", "process_creation", "sysmon"),)


@pytest.mark.parametrize(
    ("event_id", "category"),
    [
        (3, "network_connection"),
        (7, "image_load"),
        (11, "file_event"),
        (13, "registry_set"),
        (13, "registry_event"),
        (14, "registry_rename"),
        (17, "pipe_created"),
        (22, "dns_query"),
        (23, "file_delete"),
        (29, "file_executable_detected"),
    ],
)
def test_sysmon_categories(event_id: int, category: str) -> None:
    event = {"Channel": SYSMON, "EventID": str(event_id)}
    assert _applies(Logsource("windows", category), event)
    assert not _applies(Logsource("windows", "process_creation"), event)


def test_sysmon_registry_12_splits_by_event_type() -> None:
    create = {"Channel": SYSMON, "EventID": 12, "EventType": "CreateKey"}
    delete = {"Channel": SYSMON, "EventID": 12, "EventType": "DeleteValue"}
    assert _applies(Logsource("windows", "registry_add"), create)
    assert not _applies(Logsource("windows", "registry_delete"), create)
    assert _applies(Logsource("windows", "registry_delete"), delete)
    assert _applies(Logsource("windows", "registry_event"), delete)


def test_security_4688_is_process_creation_and_security() -> None:
    event = {"Channel": "Security", "EventID": 4688}
    assert _applies(Logsource("windows", "process_creation"), event)
    assert _applies(Logsource("windows", service="security"), event)
    assert not _applies(Logsource("windows", service="sysmon"), event)
    assert not _applies(Logsource("windows", service="security"), {"Channel": "System"})


def test_channels_to_services() -> None:
    assert _applies(
        Logsource("windows", "ps_script", "powershell"),
        {"Channel": "Microsoft-Windows-PowerShell/Operational", "EventID": 4104},
    )
    assert _applies(
        Logsource("windows", service="taskscheduler"),
        {"Channel": "Microsoft-Windows-TaskScheduler/Operational", "EventID": 106},
    )
    assert _applies(
        Logsource("windows", service="bits-client"), {"winlog.channel": "Microsoft-Windows-Bits-Client/Operational"}
    )
    assert _applies(Logsource("windows", service="system"), {"event.dataset": "windows.system"})


def test_sysmon_for_linux() -> None:
    event = {"Channel": "Linux-Sysmon/Operational", "EventID": 1}
    assert _applies(Logsource("linux", "process_creation"), event)
    assert not _applies(Logsource("windows", "process_creation"), event)


def test_linux_auth_sshd() -> None:
    event = {
        "event.dataset": "linux.auth",
        "process.name": "sshd",
        "event.category": ["authentication"],
        "event.outcome": "failure",
    }
    assert _applies(Logsource("linux", service="auth"), event)
    assert _applies(Logsource("linux", service="sshd"), event)
    assert _applies(Logsource(category="authentication"), event)
    assert not _applies(Logsource("windows"), event)
    assert not _applies(Logsource("linux", service="sudo"), event)


def test_firewalls_and_network() -> None:
    for dataset in (
        "iptables",
        "cisco.asa",
        "fortinet.fortigate",
        "panw.panos",
        "zeek.conn",
        "network.flow",
        "huawei.usg",
    ):
        assert _applies(Logsource(category="firewall"), {"event.dataset": dataset}), dataset
    assert _applies(Logsource("fortigate", "firewall"), {"event.dataset": "fortinet.fortigate"})
    assert not _applies(Logsource("fortigate"), {"event.dataset": "cisco.asa"})
    assert _applies(Logsource("zeek", service="rdp"), {"event.dataset": "zeek.rdp"})
    for dataset in ("zeek.dns", "network.dns"):
        assert _applies(Logsource(category="dns"), {"event.dataset": dataset})
    suricata_dns = {"event.dataset": "suricata.eve", "suricata.eve.event_type": "dns"}
    assert _applies(Logsource(category="dns"), suricata_dns)
    assert _applies(Logsource(category="webserver"), {"event.dataset": "web.access"})
    assert _applies(Logsource(category="proxy"), {"event.dataset": "zeek.http"})
    assert _applies(Logsource(category="webserver"), {"event.dataset": "network.http"})
    assert _applies(Logsource(category="camera"), {"event.dataset": "dahua"})
    assert _applies(Logsource("network", service="arp"), {"event.dataset": "network.arp"})
    # a firewall log in a generic format is still a firewall log
    cef = {"event.dataset": "cef", "observer.type": "firewall"}
    assert _applies(Logsource(category="firewall"), cef)
    assert _applies(Logsource("cef"), cef)
    assert not _applies(Logsource(category="firewall"), {"event.dataset": "cef"})
    assert event_logsources({"event.dataset": "iptables", "observer.type": "firewall"}) == (
        Logsource("linux", "firewall", "iptables"),
    )


def test_unknown_event_has_no_facets() -> None:
    assert event_logsources({"event.dataset": "unknown", "message": "x"}) == ()
    assert event_logsources({}) == ()
    assert not _applies(Logsource(category="firewall"), {"event.dataset": "unknown"})
    # an unhashable or odd-typed value must not break the cache
    assert event_logsources({"event.dataset": ["x"], "EventID": {"#text": 1}}) == ()


def _flat_system(document: dict[str, Any]) -> dict[str, Any]:
    system = document["Event"]["System"]
    event_data = document["Event"].get("EventData") or {}
    out = {"Channel": system.get("Channel"), "EventID": system.get("EventID")}
    if isinstance(event_data, dict) and "EventType" in event_data:
        out["EventType"] = event_data["EventType"]
    return out


def _documents(path: Path) -> list[dict[str, Any]]:
    text, decoder, pos, docs = path.read_text(encoding="utf-8"), json.JSONDecoder(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return docs
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)


@pytest.fixture(scope="module")
def sigmahq_rules(corpus_dir: Path) -> dict[str, tuple[Logsource, Path]]:
    """Logsource and file of every SigmaHQ rule, by id."""
    found: dict[str, tuple[Logsource, Path]] = {}
    for rule_dir in ("rules", "rules-emerging-threats", "rules-threat-hunting"):
        for path in (corpus_dir / "sigmahq" / rule_dir).rglob("*.yml"):
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
            if isinstance(doc, dict) and "logsource" in doc and "id" in doc:
                ls = doc["logsource"]
                found[doc["id"]] = (Logsource(ls.get("product"), ls.get("category"), ls.get("service")), path)
    return found


def test_sigmahq_regression_events_route_to_their_rules(
    corpus_dir: Path, sigmahq_rules: dict[str, tuple[Logsource, Path]]
) -> None:
    """Every SigmaHQ regression event that its rule should match is routed to that rule."""
    sigmahq = corpus_dir / "sigmahq"
    rule_logsource = {rule_id: logsource for rule_id, (logsource, _) in sigmahq_rules.items()}
    checked, routed, misses = 0, 0, []
    for info_path in (sigmahq / "regression_data").rglob("info.yml"):
        info = yaml.safe_load(info_path.read_text(encoding="utf-8"))
        rule = rule_logsource.get(info["rule_metadata"][0]["id"])
        if rule is None:
            continue
        for entry in info.get("regression_tests_info") or []:
            if entry.get("match_count", 1) == 0 or entry.get("type") != "evtx":
                continue
            path = info_path.parent / Path(entry["path"]).with_suffix(".json").name
            for document in _documents(path):
                checked += 1
                if _applies(rule, _flat_system(document)):
                    routed += 1
                else:
                    misses.append((info_path.parent.name, rule, _flat_system(document)))
    print(f"\nregression events routed to their rule: {routed}/{checked}")
    for miss in misses:
        print("miss:", miss)
    assert checked > 100
    assert routed == checked


def test_strict_routing_keeps_every_sigmahq_regression_match(
    corpus_dir: Path, sigmahq_rules: dict[str, tuple[Logsource, Path]]
) -> None:
    """With the engine (--logsource strict), the evtx regression cases pass as with ``any``.

    Only the one ``raw`` case (a Cisco CLI line without any logsource facet) needs ``any``.
    """
    from siem.commands.detect import load_event_file
    from siem.detect.engine import Detector
    from siem.detect.loader import load_rules
    from siem.detect.pipelines import default_pipeline
    from siem.detect.regression import find_cases, run_cases

    cases = [
        case
        for case in find_cases(corpus_dir / "sigmahq" / "regression_data")
        if case.files and all(f.kind == "evtx" for f in case.files)
    ]
    files = sorted({sigmahq_rules[case.rule_id][1] for case in cases if case.rule_id in sigmahq_rules})
    ruleset = load_rules(files, pipeline=default_pipeline())
    assert not ruleset.problems
    results = run_cases(Detector(ruleset, logsource="strict", correlate=False), cases, load_event_file)
    failed = [f"{r.case.folder.name}: {r.got}/{r.expected} {r.reason}" for r in results if not r.passed]
    print(f"\nstrict routing: {len(results) - len(failed)}/{len(results)} regression files pass")
    assert len(results) > 150
    assert failed == []
