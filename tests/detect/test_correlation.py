"""Correlation rules (Sigma correlations v2) on streams of base-rule matches, in event time.

Rules are real Sigma YAML parsed by pySigma (examples shaped after the specification,
https://sigmahq.io/docs/meta/correlations.html); matches are fed as the engine feeds them.
"""

from __future__ import annotations

from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from siem.detect.correlation import CorrelationEngine, rule_key
from siem.detect.model import CorrelationMatch, Logsource, Match, RuleInfo

BASE_RULES = """
title: Failed login
id: 2f4a6c1e-0b7d-4c33-9a51-6f0e8d2b1a01
name: failed_login
status: test
logsource: {category: authentication}
detection:
  selection: {event.outcome: failure}
  condition: selection
level: low
---
title: Successful login
id: 2f4a6c1e-0b7d-4c33-9a51-6f0e8d2b1a02
name: successful_login
status: test
logsource: {category: authentication}
detection:
  selection: {event.outcome: success}
  condition: selection
level: low
---
title: Firewall deny
id: 2f4a6c1e-0b7d-4c33-9a51-6f0e8d2b1a03
name: firewall_deny
status: test
logsource: {category: firewall}
detection:
  selection: {event.action: deny}
  condition: selection
level: low
---
title: Big transfer
id: 2f4a6c1e-0b7d-4c33-9a51-6f0e8d2b1a04
name: transfer
status: test
logsource: {category: firewall}
detection:
  selection: {event.action: allow}
  condition: selection
level: low
"""

BRUTE_FORCE = """
title: Brute force
id: 7c1d2e3f-1111-4a4a-8b8b-000000000001
name: brute_force
status: test
correlation:
  type: event_count
  rules: [failed_login]
  group-by: [source.ip]
  timespan: 5m
  condition: {gte: 5}
level: high
"""

PORT_SCAN = """
title: Port scan
id: 7c1d2e3f-1111-4a4a-8b8b-000000000002
status: test
correlation:
  type: value_count
  rules: [firewall_deny]
  group-by: [source.ip]
  timespan: 1m
  condition: {gte: 3, field: destination.port}
level: medium
"""

LOGIN_AFTER_FAILURES = """
title: Failures then success
id: 7c1d2e3f-1111-4a4a-8b8b-000000000003
status: test
correlation:
  type: temporal_ordered
  rules: [failed_login, successful_login]
  group-by: [user]
  aliases:
    user:
      failed_login: user.name
      successful_login: user.target.name
  timespan: 10m
level: high
"""

BOTH_ANY_ORDER = (
    LOGIN_AFTER_FAILURES.replace("temporal_ordered", "temporal")
    .replace("000000000003", "000000000004")
    .replace("Failures then success", "Failure and success")
)

VOLUME = """
title: Volume {kind}
id: 7c1d2e3f-1111-4a4a-8b8b-00000000001{n}
status: test
correlation:
  type: {kind}
  rules: [transfer]
  group-by: [source.ip]
  timespan: 1h
  condition: {{{op}: {count}, field: network.bytes{extra}}}
level: medium
"""

QUIET = """
title: Too few logins
id: 7c1d2e3f-1111-4a4a-8b8b-000000000005
status: test
correlation:
  type: event_count
  rules: [successful_login]
  group-by: [user.name]
  timespan: 1h
  condition: {lt: 3}
level: low
"""

CHAIN = """
title: Brute force (inner, silent)
id: 7c1d2e3f-1111-4a4a-8b8b-000000000006
name: inner_brute
status: test
correlation:
  type: event_count
  rules: [failed_login]
  group-by: [source.ip]
  timespan: 1m
  condition: {gte: 2}
level: medium
---
title: Repeated brute force
id: 7c1d2e3f-1111-4a4a-8b8b-000000000007
status: test
correlation:
  type: event_count
  rules: [inner_brute]
  generate: false
  group-by: [source.ip]
  timespan: 1h
  condition: {gte: 2}
level: critical
"""

EXTENDED = """
title: Failure without success
id: 7c1d2e3f-1111-4a4a-8b8b-000000000008
status: test
correlation:
  type: temporal
  condition: failed_login and not successful_login
  group-by: [user.name]
  timespan: 10m
level: low
"""


class Stream:
    """A correlation engine over real pySigma rules, fed like the detection engine feeds it."""

    def __init__(self, correlations: str, **limits: int) -> None:
        collection = SigmaCollection.from_yaml(BASE_RULES + "---\n" + correlations)
        collection.resolve_rule_references()
        self.base = {r.name: r for r in collection.rules if isinstance(r, SigmaRule)}
        rules = [r for r in collection.rules if isinstance(r, SigmaCorrelationRule)]
        self.infos = {rule_key(r): _info(r) for r in collection.rules}
        self.engine = CorrelationEngine(rules, self.infos, **limits)
        self.index = 0

    def feed(self, rule_name: str, time: float, **fields: Any) -> list[CorrelationMatch]:
        event = {key.replace("__", "."): value for key, value in fields.items()}
        match = Match(self.infos[rule_key(self.base[rule_name])], event, self.index)
        self.index += 1
        return self.engine.feed(match, time)


def _info(rule: SigmaRule | SigmaCorrelationRule) -> RuleInfo:
    return RuleInfo(rule_key(rule), rule.title, str(rule.level), None, (), Logsource(), None, generate=rule._output)


def _fail(stream: Stream, time: float, ip: str = "10.0.0.1") -> list[CorrelationMatch]:
    return stream.feed("failed_login", time, source__ip=ip, user__name="admin")


def test_event_count_fires_at_threshold_once_per_window() -> None:
    stream = Stream(BRUTE_FORCE)
    assert [len(_fail(stream, 1000.0 + i)) for i in range(4)] == [0, 0, 0, 0]
    fired = _fail(stream, 1004.0)
    assert len(fired) == 1
    match = fired[0]
    assert match.rule.title == "Brute force"
    assert match.group == {"source.ip": "10.0.0.1"}
    assert match.value == 5
    assert [m.event_index for m in match.matches] == [0, 1, 2, 3, 4]
    assert (match.first_time, match.last_time) == (1000.0, 1004.0)
    # further failures within the next 5 minutes belong to this match: no new match
    assert sum(len(_fail(stream, 1005.0 + i)) for i in range(20)) == 0
    assert stream.engine.suppressed == 20
    # afterwards the window starts afresh and needs five new failures
    assert sum(len(_fail(stream, 1400.0 + i)) for i in range(4)) == 0
    assert len(_fail(stream, 1404.0)) == 1


def test_group_by_keeps_sources_apart() -> None:
    stream = Stream(BRUTE_FORCE)
    fired: list[CorrelationMatch] = []
    for i in range(8):  # interleaved: 4 each, never 5 from one source
        fired += _fail(stream, 1000.0 + i, ip="10.0.0.1" if i % 2 else "10.0.0.2")
    assert fired == []
    fired = _fail(stream, 1010.0, ip="10.0.0.2")
    assert [m.group["source.ip"] for m in fired] == ["10.0.0.2"]


def test_window_is_on_event_time_and_expires() -> None:
    stream = Stream(BRUTE_FORCE)
    # five failures, but 2 minutes apart: never five within 5 minutes
    assert sum(len(_fail(stream, 1000.0 + 120 * i)) for i in range(5)) == 0
    assert stream.engine.group_count == 1
    stream.engine.expire(1000.0 + 120 * 4 + 301)
    assert stream.engine.group_count == 0
    # replaying old logs (event time in 2020) correlates just the same
    old = 1_577_836_800.0
    assert sum(len(_fail(stream, old + i)) for i in range(5)) == 1


def test_out_of_order_hits_within_window_count_late_ones_are_dropped() -> None:
    stream = Stream(BRUTE_FORCE)
    for time in (1100.0, 1050.0, 1090.0, 1010.0):
        assert _fail(stream, time) == []
    assert _fail(stream, 700.0) == []  # older than newest - 5m: cannot share a window
    assert stream.engine.late == 1
    fired = _fail(stream, 1060.0)
    assert len(fired) == 1
    assert fired[0].first_time == 1010.0 and fired[0].last_time == 1100.0


def test_value_count_port_scan() -> None:
    stream = Stream(PORT_SCAN)
    for port in (22, 22, 22, 23):
        assert stream.feed("firewall_deny", 1000.0, source__ip="10.9.9.9", destination__port=port) == []
    # another source's ports do not count for this one
    assert stream.feed("firewall_deny", 1001.0, source__ip="10.9.9.8", destination__port=80) == []
    fired = stream.feed("firewall_deny", 1002.0, source__ip="10.9.9.9", destination__port=80)
    assert len(fired) == 1 and fired[0].value == 3
    # ports spread beyond the 1-minute window do not add up
    stream2 = Stream(PORT_SCAN)
    assert all(
        stream2.feed("firewall_deny", 1000.0 + 61 * i, source__ip="10.9.9.9", destination__port=i) == []
        for i in range(5)
    )


def test_temporal_ordered_requires_order_and_uses_aliases() -> None:
    stream = Stream(LOGIN_AFTER_FAILURES)
    assert stream.feed("successful_login", 1000.0, user__target__name="bob") == []
    assert stream.feed("failed_login", 1001.0, user__name="bob") == []  # wrong order so far
    fired = stream.feed("successful_login", 1002.0, user__target__name="bob")
    assert len(fired) == 1
    assert fired[0].group == {"user": "bob"}
    assert [m.event_index for m in fired[0].matches] == [0, 1, 2]
    # another user's success does not complete bob's sequence
    assert stream.feed("failed_login", 2000.0, user__name="bob") == []
    assert stream.feed("successful_login", 2001.0, user__target__name="eve") == []


def test_temporal_any_order_within_timespan() -> None:
    stream = Stream(BOTH_ANY_ORDER)
    assert stream.feed("successful_login", 1000.0, user__target__name="bob") == []
    assert len(stream.feed("failed_login", 1001.0, user__name="bob")) == 1
    # too far apart
    assert stream.feed("successful_login", 5000.0, user__target__name="ann") == []
    assert stream.feed("failed_login", 5000.0 + 601, user__name="ann") == []


def test_extended_temporal_condition() -> None:
    stream = Stream(EXTENDED)
    assert len(stream.feed("failed_login", 1000.0, user__name="carl")) == 1
    stream2 = Stream(EXTENDED)
    assert stream2.feed("successful_login", 1000.0, user__name="dora") == []


@pytest.mark.parametrize(
    ("kind", "op", "count", "extra", "values", "fires_at"),
    [
        ("value_sum", "gt", 1000, "", [400, 400, 300], 2),
        ("value_avg", "gte", 500, "", [100, 800, 900], 2),
        ("value_percentile", "gte", 900, ", percentile: 50", [10, 20, 950, 30], None),
        ("value_percentile", "gte", 900, ", percentile: 90", [10, 20, 950], 2),
        ("value_median", "gte", 500, "", [100, 600, 700], 2),
    ],
)
def test_value_aggregations(
    kind: str, op: str, count: int, extra: str, values: list[int], fires_at: int | None
) -> None:
    stream = Stream(VOLUME.format(kind=kind, n=len(kind) % 10, op=op, count=count, extra=extra))
    results = [
        len(stream.feed("transfer", 1000.0 + i, source__ip="10.1.1.1", network__bytes=value))
        for i, value in enumerate(values)
    ]
    expected = [0] * len(values)
    if fires_at is not None:
        expected[fires_at] = 1
    assert results == expected


def test_lt_condition_is_decided_when_the_window_closes() -> None:
    stream = Stream(QUIET)
    assert stream.feed("successful_login", 1000.0, user__name="a") == []
    for i in range(3):
        assert stream.feed("successful_login", 1000.0 + i, user__name="b") == []
    closed = stream.engine.expire(1000.0 + 3601 + 10)
    assert [m.group["user.name"] for m in closed] == ["a"]
    assert stream.engine.group_count == 0


def test_chained_correlation_and_generate_false() -> None:
    stream = Stream(CHAIN)
    out: list[CorrelationMatch] = []
    for time in (1000.0, 1001.0, 1200.0, 1201.0):
        out += _fail(stream, time)
    # the inner correlation fired twice but is silent (generate: false on the outer);
    # the outer fired once, carrying the four contributing matches
    assert [m.rule.title for m in out] == ["Repeated brute force"]
    assert [m.event_index for m in out[0].matches] == [0, 1, 2, 3]


def test_state_is_bounded() -> None:
    stream = Stream(BRUTE_FORCE, max_groups=10, max_hits=3)
    for i in range(50):
        _fail(stream, 1000.0 + i, ip=f"10.0.1.{i}")
    assert stream.engine.group_count == 10
    assert stream.engine.evicted == 40
    # a group keeps at most max_hits hits (5 needed to fire: never reached)
    assert sum(len(_fail(stream, 2000.0 + i, ip="10.0.2.1")) for i in range(6)) == 0
    assert stream.engine.dropped_hits == 3


def test_total_hits_are_bounded_across_groups() -> None:
    stream = Stream(BRUTE_FORCE, max_total_hits=20)
    for i in range(40):  # 4 failures each from 10 sources: 40 hits, never 5 from one source
        _fail(stream, 1000.0 + i, ip=f"10.0.3.{i % 10}")
    assert stream.engine.hit_count <= 20
    assert stream.engine.evicted > 0
    stream.engine.expire(1_000_000.0)
    assert stream.engine.hit_count == 0 and stream.engine.group_count == 0


def test_matches_of_unrelated_rules_are_ignored() -> None:
    stream = Stream(BRUTE_FORCE)
    assert all(stream.feed("firewall_deny", 1000.0 + i, source__ip="10.0.0.1") == [] for i in range(10))
    assert stream.engine.group_count == 0
