"""Field-mapping pipelines: SigmaHQ rules written with Sigma taxonomy names match ECS events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.processing.conditions import LogsourceCondition
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from siem.detect.engine import Detector
from siem.detect.loader import load_rules
from siem.detect.pipelines import PIPELINES_DIR, default_pipeline, load_pipeline, pipeline_files
from siem.errors import RuleError

CLEARTEXT = "rules/network/firewall/net_firewall_cleartext_protocols.yml"
DNS_B64 = "rules/network/dns/net_dns_susp_b64_queries.yml"
ZEEK_TOR = "rules/network/zeek/zeek_dns_torproxy.yml"
PROXY_RCLONE = "rules/web/proxy_generic/proxy_ua_rclone.yml"
WEB_TRAVERSAL = "rules/web/webserver_generic/web_path_traversal_exploitation_attempt.yml"


def _fields(rule: SigmaRule) -> set[str]:
    found: set[str] = set()

    def walk(item: SigmaDetection | SigmaDetectionItem) -> None:
        if isinstance(item, SigmaDetection):
            for child in item.detection_items:
                walk(child)
        elif item.field is not None:
            found.add(item.field)

    for detection in rule.detection.detections.values():
        walk(detection)
    return found


def _mapped(path: Path) -> SigmaRule:
    rule = SigmaCollection.from_yaml(path.read_text(encoding="utf-8")).rules[0]
    assert isinstance(rule, SigmaRule)
    default_pipeline().apply(rule)
    return rule


def _detect(rule_path: Path, events: list[dict[str, Any]]) -> list[int]:
    ruleset = load_rules([rule_path], pipeline=default_pipeline())
    assert not ruleset.problems, ruleset.problems
    detector = Detector(ruleset, logsource="strict")
    return [index for index, event in enumerate(events) if detector.match_event(event)]


def test_every_pipeline_item_is_conditioned_on_a_non_windows_logsource() -> None:
    files = pipeline_files()
    assert {p.stem for p in files} >= {"firewall", "dns", "web", "linux", "zeek"}
    pipeline = default_pipeline()
    assert len(pipeline.items) >= len(files)
    for item in pipeline.items:
        conditions = item.rule_conditions
        assert conditions, item.identifier
        assert all(isinstance(c, LogsourceCondition) for c in conditions), item.identifier
        assert all(c.product != "windows" for c in conditions), item.identifier


def test_firewall_rule_fields_become_ecs(corpus_dir: Path) -> None:
    rule = _mapped(corpus_dir / "sigmahq" / CLEARTEXT)
    assert {"destination.port", "event.action"} <= _fields(rule)
    assert "dst_port" not in _fields(rule)


def test_firewall_rule_matches_ecs_firewall_event(corpus_dir: Path) -> None:
    telnet_allowed = {
        "event.dataset": "fortinet.fortigate",
        "event.category": ["network"],
        "observer.type": "firewall",
        "event.action": "accept",
        "source.ip": "10.3.20.5",
        "destination.ip": "10.3.10.21",
        "destination.port": 23,
        "network.transport": "tcp",
    }
    telnet_denied = {**telnet_allowed, "event.action": "deny"}
    https_allowed = {**telnet_allowed, "destination.port": 443}
    windows = {"Channel": "Security", "EventID": 5156, "DestPort": 23, "action": "accept"}
    events = [telnet_allowed, telnet_denied, https_allowed, windows]
    assert _detect(corpus_dir / "sigmahq" / CLEARTEXT, events) == [0]


def test_dns_rules_match_pcap_and_zeek_dns_events(corpus_dir: Path) -> None:
    b64 = {"event.dataset": "network.dns", "dns.question.name": "aGVsbG8==.evil.example", "dns.question.type": "A"}
    plain = {**b64, "dns.question.name": "www.example.com"}
    assert _detect(corpus_dir / "sigmahq" / DNS_B64, [b64, plain]) == [0]
    tor = {"event.dataset": "zeek.dns", "dns.question.name": "abcdef.onion.to"}
    assert _detect(
        corpus_dir / "sigmahq" / ZEEK_TOR,
        [tor, {**tor, "event.dataset": "network.dns"}, {**tor, "dns.question.name": "a.b"}],
    ) == [0]


def test_web_rules_match_access_and_proxy_events(corpus_dir: Path) -> None:
    rclone = {
        "event.dataset": "network.http",
        "user_agent.original": "rclone/v1.60.0",
        "http.request.method": "GET",
        "url.original": "/x",
    }
    assert _detect(corpus_dir / "sigmahq" / PROXY_RCLONE, [rclone, {**rclone, "user_agent.original": "curl/8.0"}]) == [
        0
    ]
    traversal = {
        "event.dataset": "web.access",
        "url.original": "/cgi-bin/../../../etc/passwd",
        "http.response.status_code": 404,
    }
    assert _detect(
        corpus_dir / "sigmahq" / WEB_TRAVERSAL, [traversal, {**traversal, "url.original": "/index.html"}]
    ) == [0]


def test_windows_rules_keep_their_field_names(corpus_dir: Path) -> None:
    folder = corpus_dir / "sigmahq" / "rules" / "windows" / "process_creation"
    checked, pipeline = 0, default_pipeline()
    for path in sorted(folder.glob("*.yml"))[:60]:
        rule = SigmaCollection.from_yaml(path.read_text(encoding="utf-8")).rules[0]
        assert isinstance(rule, SigmaRule)
        before = _fields(rule)
        pipeline.apply(rule)
        assert _fields(rule) == before, path.name
        checked += 1
    assert checked == 60


def test_all_non_windows_sigmahq_rules_go_through_the_pipeline(corpus_dir: Path) -> None:
    pipeline, count = default_pipeline(), 0
    for folder in ("network", "web", "linux"):
        for path in sorted((corpus_dir / "sigmahq" / "rules" / folder).rglob("*.yml")):
            for rule in SigmaCollection.from_yaml(path.read_text(encoding="utf-8")).rules:
                if isinstance(rule, SigmaRule):
                    pipeline.apply(rule)
                    count += 1
    assert count > 100


def test_broken_pipeline_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\ntransformations:\n  - type: no_such_transformation\n")
    with pytest.raises(RuleError) as info:
        load_pipeline(bad)
    assert str(bad) in str(info.value)
    unparsable = tmp_path / "unparsable.yml"
    unparsable.write_text("name: [x\n")
    with pytest.raises(RuleError):
        load_pipeline(unparsable)
    with pytest.raises(RuleError):
        default_pipeline(tmp_path / "missing")


def test_default_directory_is_the_projects() -> None:
    assert PIPELINES_DIR.name == "pipelines" and PIPELINES_DIR.parent.name == "rules"
    assert PIPELINES_DIR.is_dir()


ZEEK_ZBIT = "rules/network/zeek/zeek_dns_susp_zbit_flag.yml"
ZEEK_BZAR = "rules/network/zeek/zeek_dce_rpc_mitre_bzar_execution.yml"


def test_zeek_fields_follow_our_zeek_parser(corpus_dir: Path) -> None:
    """Mapped where the parser maps, else zeek.<log>.<field> as the parser keeps them."""
    zbit = _mapped(corpus_dir / "sigmahq" / ZEEK_ZBIT)
    assert {"zeek.dns.Z", "dns.question.name", "dns.answers.data", "destination.port"} <= _fields(zbit)
    assert _fields(_mapped(corpus_dir / "sigmahq" / ZEEK_BZAR)) == {
        "zeek.dce_rpc.operation",
        "zeek.dce_rpc.endpoint",
    }
    query = {"event.dataset": "zeek.dns", "dns.question.name": "www.example.com", "destination.port": 53}
    events = [{**query, "zeek.dns.Z": 0}, {**query, "zeek.dns.Z": 1}]
    assert _detect(corpus_dir / "sigmahq" / ZEEK_ZBIT, events) == [1]


def test_sigmahq_web_and_network_rules_on_real_pcaps(corpus_dir: Path) -> None:
    """SigmaHQ's web, proxy, DNS and network rules on packet metadata of every corpus pcap:
    the directory-traversal capture is caught through the web pipeline, nothing else fires."""
    pcap = pytest.importorskip("collectors.pcap")
    rules = corpus_dir / "sigmahq" / "rules"
    ruleset = load_rules([rules / "web", rules / "network"], pipeline=default_pipeline())
    assert not ruleset.problems
    found: dict[str, list[str]] = {}
    for path in sorted((corpus_dir / "pcaps").rglob("*.pcap*")):
        detections = Detector(ruleset, logsource="strict").detect(list(pcap.read_pcap(path)))
        titles = sorted({match.rule.title for match in detections.matches})
        if titles:
            found[str(path.relative_to(corpus_dir / "pcaps"))] = titles
    print("\nSigmaHQ web/network rules on corpus pcaps:", found)
    assert found == {"http/cs__http_dvwa_directorytraversal.pcapng": ["Path Traversal Exploitation Attempts"]}
