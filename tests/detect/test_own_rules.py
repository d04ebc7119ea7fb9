"""Our own Sigma rules (rules/): metadata, and their regression data through the real engine.

The regression data is in SigmaHQ's layout (rules/regression_data/<rule file stem>/info.yml,
positive and negative event files of flat ECS events). Base rules are checked per event, as
SigmaHQ does; correlation rules by streaming the file through a fresh Detector and counting
that correlation's matches. Both ``--logsource any`` and ``strict`` are checked, so each
positive event must also be routed to its rule by the event's logsource facets.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from siem.commands.detect import load_event_file
from siem.detect.engine import Detector
from siem.detect.loader import SKIP_DIRS, RuleSet, load_rules
from siem.detect.pipelines import default_pipeline
from siem.detect.regression import CaseFile, RegressionCase, find_cases

PROJECT = Path(__file__).resolve().parent.parent.parent
RULES = PROJECT / "rules"
REGRESSION = RULES / "regression_data"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _rule_files() -> list[Path]:
    return sorted(p for p in RULES.rglob("*.yml") if not SKIP_DIRS.intersection(p.relative_to(RULES).parts))


def _documents() -> list[tuple[Path, dict[str, object]]]:
    return [(path, doc) for path in _rule_files() for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules([RULES], pipeline=default_pipeline())


def test_rules_parse_with_pysigma_without_errors() -> None:
    rules: list[SigmaRule | SigmaCorrelationRule] = []
    for path in _rule_files():
        collection = SigmaCollection.from_yaml(
            path.read_text(encoding="utf-8"), collect_errors=True, resolve_references=False
        )
        for rule in collection.rules:
            assert not rule.errors, (path, rule.errors)
            rules.append(rule)
    SigmaCollection(rules).resolve_rule_references()  # every reference exists
    assert sum(isinstance(r, SigmaCorrelationRule) for r in rules) >= 5
    assert sum(isinstance(r, SigmaRule) for r in rules) >= 10


@pytest.mark.parametrize("path", _rule_files(), ids=lambda p: p.stem)
def test_rule_metadata(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert UUID.match(str(doc["id"])), "id must be a UUID"
    for key in ("title", "description", "date", "status", "level", "tags", "falsepositives"):
        assert doc.get(key), f"{key} missing"
    assert doc["author"] == "siem project"
    assert any(re.match(r"^attack\.t\d{4}", tag) for tag in doc["tags"]), "no ATT&CK technique"
    assert ("logsource" in doc) != ("correlation" in doc)
    assert (REGRESSION / path.stem / "info.yml").is_file(), "no regression data"


#: pySigma validators that download MITRE data (no network in tests) or judge tag namespaces.
OFFLINE_EXCLUDED = {"attacktag", "d3_fendtag", "cartag", "cvetag", "stptag", "namespace_tag", "detection_tag"}


def test_pysigma_validators_find_no_issue() -> None:
    """The checks ``sigma check`` runs (all but those that need the network)."""
    from sigma.plugins import InstalledSigmaPlugins
    from sigma.validation import SigmaValidator

    validators = InstalledSigmaPlugins.autodiscover().validators
    validator = SigmaValidator(v for name, v in validators.items() if name not in OFFLINE_EXCLUDED)
    rules: list[SigmaRule | SigmaCorrelationRule] = []
    for path in _rule_files():
        rules += SigmaCollection.from_yaml(path.read_text(encoding="utf-8"), resolve_references=False).rules
    collection = SigmaCollection(rules)
    assert len(validator.validators) > 15
    assert [str(issue) for issue in validator.validate_rules(collection)] == []


def test_ids_are_unique() -> None:
    ids = [str(doc["id"]) for _, doc in _documents()]
    assert len(ids) == len(set(ids))


def test_every_rule_loads_into_the_engine(ruleset: RuleSet) -> None:
    assert not ruleset.problems, [str(p) for p in ruleset.problems]
    assert len(ruleset.rules) + len(ruleset.correlations) == len(_documents())


def test_every_case_has_a_positive_and_a_negative_file() -> None:
    cases = find_cases(REGRESSION)
    assert {c.folder.name for c in cases} == {p.stem for p in _rule_files()}
    for case in cases:
        counts = sorted(f.match_count for f in case.files)
        assert counts[0] == 0 and counts[-1] > 0, case.folder.name
        assert all(f.path.is_file() for f in case.files), case.folder.name


def _cases() -> list[tuple[RegressionCase, CaseFile]]:
    return [(case, file) for case in find_cases(REGRESSION) for file in case.files]


@pytest.mark.parametrize("logsource", ["any", "strict"])
@pytest.mark.parametrize(
    ("case", "case_file"),
    _cases(),
    ids=lambda v: v.folder.name if isinstance(v, RegressionCase) else v.path.stem.rpartition("_")[2],
)
def test_regression_case(ruleset: RuleSet, case: RegressionCase, case_file: CaseFile, logsource: str) -> None:
    events = load_event_file(case_file.path, case_file.kind)
    assert events
    correlation_ids = {str(c.id) for c in ruleset.correlations}
    detector = Detector(ruleset, logsource=logsource)
    if case.rule_id in correlation_ids:
        detections = detector.detect(events)
        got = sum(1 for m in detections.correlations if m.rule.id == case.rule_id)
    else:
        numbers = [n for n, r in enumerate(detector.rules) if r.info.id == case.rule_id]
        assert numbers, "rule not loaded"
        got = sum(1 for event in events if numbers[0] in detector.match_event(event))
    assert got == case_file.match_count


def test_siem_rules_test_command_passes_base_rule_cases() -> None:
    """``siem rules test rules`` (engine A's runner) passes every base-rule case."""
    done = subprocess.run(
        [sys.executable, str(PROJECT / "cli.py"), "rules", "test", "--exact", str(RULES)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    base_ids = {str(doc["id"]) for _, doc in _documents() if "logsource" in doc}
    base_lines = [line for line in lines if line.split()[1] in base_ids]
    assert len(base_lines) == 2 * len(base_ids), done.stdout + done.stderr
    assert all(line.startswith("PASS") for line in base_lines), "\n".join(base_lines)


DNS_TUNNEL_RULE = "81e52c17-7b38-49ad-bceb-a23228b2a0d2"
PORT_SCAN_RULE = "d5c189b7-c6f7-43ef-8fc2-b2819012ece6"
#: nmap SYN scan of 1,000 ports of one host in five seconds: one port-scan match.
SYN_SCAN_PCAP = "scan/ndpi__synscan.pcap"
#: Real captures of DNS tunnels (dnscat2-style hex labels, iodine binary labels).
DNS_TUNNEL_PCAPS = ("dns/ndpi__bad-dns-traffic.pcap", "dns/ndpi__dns-tunnel-iodine.pcap")


def test_rules_on_real_corpus_pcaps(ruleset: RuleSet, corpus_dir: Path) -> None:
    """Packet metadata of every corpus pcap through our rules: tunnels and the scan found,
    nothing else fires."""
    pcap = pytest.importorskip("collectors.pcap")
    found: dict[str, dict[str, int]] = {}
    for path in sorted((corpus_dir / "pcaps").rglob("*.pcap*")):
        detector = Detector(ruleset, logsource="strict")
        detections = detector.detect(list(pcap.read_pcap(path)))
        counts: dict[str, int] = {}
        for match in [*detections.matches, *detections.correlations]:
            counts[match.rule.id] = counts.get(match.rule.id, 0) + 1
        if counts:
            found[str(path.relative_to(corpus_dir / "pcaps"))] = counts
    print("\nour rules on corpus pcaps:", found)
    for name in DNS_TUNNEL_PCAPS:
        assert found.pop(name, {}).get(DNS_TUNNEL_RULE, 0) >= 50, name
    assert found.pop(SYN_SCAN_PCAP, {}) == {PORT_SCAN_RULE: 1}
    assert found == {}


CAMERA_TO_INTERNET = "9414251f-e5d0-4cb7-ab4b-4dc61b874446"
UNKNOWN_DEVICE = "bf774df0-d2ad-4d3b-b250-72c085960cc1"
#: A Nest camera at 192.168.242.15 sending logs to Google's cloud (real capture).
NEST_CAM_PCAP = "camera-iot/ndpi__nest_log_sink.pcap"


def _inventory(devices: list[dict[str, str]]) -> dict[str, object]:
    zones = [{"id": "camera", "cidrs": ["192.168.242.0/24"]}]
    return {
        "sites": [{"id": "ward-3", "name": {"en": "Ward 3", "vi": "Phường 3"}, "zones": zones}],
        "devices": devices,
    }


def _camera_pcap_detections(ruleset: RuleSet, corpus_dir: Path, inventory: dict[str, object]) -> dict[str, int]:
    pcap = pytest.importorskip("collectors.pcap")
    from siem.enrich.inventory import Inventory, InventoryEnricher

    enricher = InventoryEnricher(Inventory.from_mapping(inventory), "city")
    events = list(pcap.read_pcap(corpus_dir / "pcaps" / NEST_CAM_PCAP))
    for event in events:
        enricher.enrich(event)
    detections = Detector(ruleset, logsource="strict").detect(events)
    counts: dict[str, int] = {}
    for match in detections.matches:
        counts[match.rule.id] = counts.get(match.rule.id, 0) + 1
        if match.rule.id == CAMERA_TO_INTERNET:
            assert not str(match.event["destination.ip"]).startswith("192.168.")
    return counts


def test_camera_rules_on_a_real_camera_capture_with_an_inventory(ruleset: RuleSet, corpus_dir: Path) -> None:
    """Real Nest camera traffic, labelled by the inventory enricher: the camera's cloud
    connections are flagged; its ARP announcements only while the inventory lacks it."""
    unknown = _camera_pcap_detections(ruleset, corpus_dir, _inventory([]))
    assert unknown.get(CAMERA_TO_INTERNET, 0) >= 5
    assert unknown.get(UNKNOWN_DEVICE, 0) >= 1
    known_devices = [
        {"name": "nest-cam", "ip": "192.168.242.15", "site": "ward-3", "type": "camera"},
        {"name": "cam-gateway", "ip": "192.168.242.1", "site": "ward-3", "type": "router"},
    ]
    known = _camera_pcap_detections(ruleset, corpus_dir, _inventory(known_devices))
    assert known.get(UNKNOWN_DEVICE, 0) == 0
    assert known.get(CAMERA_TO_INTERNET, 0) == unknown[CAMERA_TO_INTERNET]
