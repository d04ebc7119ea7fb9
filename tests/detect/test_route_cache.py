"""The engine's caches give the results routing and scanning each event afresh would give.

``Detector`` caches the routing plan by the values of ``ROUTE_FIELDS`` and the index caches
(field, value) scans; these tests check the cache keys are complete: every field the router
reads is in ``ROUTE_FIELDS``, values that compare equal but route or scan differently
(``True == 1 == 1.0``) are kept apart, and a warm detector agrees with a fresh one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from siem.detect.engine import ROUTE_FIELDS, Detector
from siem.detect.logsource import event_logsources
from tests.detect.helpers import load_text, rule_text

SYSMON = "Microsoft-Windows-Sysmon/Operational"

#: Events of many kinds (Windows by channel or dataset, ECS datasets, categories, firewalls).
EVENTS: list[dict[str, Any]] = [
    {"Channel": SYSMON, "EventID": 1, "Image": "C:\\Windows\\System32\\cmd.exe"},
    {"Channel": SYSMON, "EventID": True, "Image": "C:\\Windows\\System32\\cmd.exe"},
    {"Channel": SYSMON, "EventID": 1.0, "Image": "C:\\Windows\\System32\\cmd.exe"},
    {"Channel": SYSMON, "EventID": "1", "Image": "C:\\Windows\\System32\\cmd.exe"},
    {"Channel": SYSMON, "EventID": 13, "EventType": "SetValue", "TargetObject": "HKLM\\x"},
    {"winlog.channel": "Security", "winlog.event_id": 4688, "NewProcessName": "a.exe"},
    {"event.dataset": "windows.sysmon", "event.code": "1", "Image": "b.exe"},
    {"event.dataset": "windows.sysmon", "event.code": True, "Image": "b.exe"},
    {"event.dataset": "linux.auth", "process.name": "sshd", "message": "Failed password"},
    {"event.dataset": "suricata.eve", "suricata.eve.event_type": "dns", "dns.question.name": "x"},
    {"event.dataset": "zeek.conn", "destination.port": 445},
    {"event.dataset": "cef", "observer.type": "firewall", "event.category": ["network"]},
    {"event.category": ["authentication"], "event.outcome": "failure", "user.name": "root"},
    {"event.category": "authentication", "event.outcome": "failure", "user.name": "root"},
    {"event.category": [{"odd": "value"}], "user.name": "root"},
    {"message": "nothing to route by"},
    {},
]


class _Recording(Mapping[str, Any]):
    """A read-only event that notes every field looked at."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self.event[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self.event

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("routing must not depend on fields it does not name")

    def __len__(self) -> int:
        return len(self.event)


def test_route_fields_name_every_field_the_router_reads() -> None:
    for event in EVENTS:
        recording = _Recording(event)
        event_logsources(recording)
        assert recording.read <= set(ROUTE_FIELDS), (event, recording.read - set(ROUTE_FIELDS))


def _rules(tmp_path: Path) -> list[str]:
    texts = [
        rule_text("sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel",
                  rule_id="11111111-1111-4111-8111-000000000001"),
        rule_text("sel:\n    EventID: 1\ncondition: sel", category="process_creation",
                  rule_id="11111111-1111-4111-8111-000000000002"),
        rule_text("sel:\n    - 'true'\n    - 'cmd'\ncondition: sel", category="process_creation",
                  rule_id="11111111-1111-4111-8111-000000000003"),
        rule_text("sel:\n    user.name: root\ncondition: sel", product="linux",
                  category="authentication", rule_id="11111111-1111-4111-8111-000000000004"),
        rule_text("sel:\n    event.outcome: failure\ncondition: sel", product="linux",
                  category="authentication", rule_id="11111111-1111-4111-8111-000000000005"),
        rule_text("sel:\n    TargetObject|startswith: 'HKLM'\ncondition: sel",
                  category="registry_set", rule_id="11111111-1111-4111-8111-000000000006"),
        rule_text("sel:\n    - 'failed'\n    - '445'\n    - 'true'\ncondition: sel",
                  product="linux", category="authentication",
                  rule_id="11111111-1111-4111-8111-000000000007"),
    ]
    return texts


def test_warm_detector_agrees_with_fresh_ones(tmp_path: Path) -> None:
    ruleset = load_text(tmp_path, *_rules(tmp_path))
    assert not ruleset.problems, [str(p) for p in ruleset.problems]
    for mode in ("strict", "any"):
        warm = Detector(ruleset, logsource=mode, correlate=False)
        found = []
        for _ in range(3):  # second and third rounds come from the caches
            for event in EVENTS:
                fresh = Detector(ruleset, logsource=mode, correlate=False)
                expected = fresh.match_event(event)
                assert warm.match_event(event) == expected, (mode, event)
                found.append(expected)
        assert any(found), "the rules should match some events"


def test_equal_values_of_other_types_are_kept_apart(tmp_path: Path) -> None:
    # 1 == True == 1.0 as dict keys, but routing takes only 1 and "1" as event id 1, and
    # matching sees True as "true" (the keyword rule) and 1.0 as "1"
    ruleset = load_text(tmp_path, *_rules(tmp_path))
    eventid_rule = "11111111-1111-4111-8111-000000000002"
    keyword_rule = "11111111-1111-4111-8111-000000000003"
    expected = {
        "strict": {"1": {eventid_rule}, "True": set(), "1.0": set(), "'1'": {eventid_rule}},
        "any": {"1": {eventid_rule}, "True": {keyword_rule}, "1.0": {eventid_rule},
                "'1'": {eventid_rule}},
    }
    for mode, wanted in expected.items():
        warm = Detector(ruleset, logsource=mode, correlate=False)
        for event_id in (1, True, 1.0, "1", 1, True, 1.0, "1"):
            event = {"Channel": SYSMON, "EventID": event_id, "Image": "x.exe", "Flag": event_id}
            found = {warm.rules[n].info.id for n in warm.match_event(event)}
            assert found & {eventid_rule, keyword_rule} == wanted[repr(event_id)], (mode, event)


def test_value_caches_of_many_plans_stay_bounded(tmp_path: Path) -> None:
    """Rare facet combinations get small value caches, and the plans kept are capped."""
    from siem.detect import engine
    from siem.detect.model import Logsource

    ruleset = load_text(tmp_path, *_rules(tmp_path))
    detector = Detector(ruleset, logsource="strict", correlate=False, value_cache=4096,
                        routing=(lambda event: (Logsource(product=str(event["kind"])),), lambda _rule, _facet: True))
    sizes = []
    for kind in range(engine._MAX_PLANS + 40):
        detector.match_event({"kind": kind, "Image": "x.exe"})
        sizes.append(detector._index_for({"kind": kind}).cache_size)
        assert len(detector._plans) <= engine._MAX_PLANS
    assert sizes[: engine._FULL_CACHE_PLANS] == [4096] * engine._FULL_CACHE_PLANS
    assert set(sizes[engine._FULL_CACHE_PLANS : engine._MAX_PLANS]) == {256}
    assert sizes[engine._MAX_PLANS] == 4096  # the plans started afresh when the cap was reached
