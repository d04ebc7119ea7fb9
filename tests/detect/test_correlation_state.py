"""Durable correlation state: a detector restarted from its saved state (at any batch
boundary) gives the matches of one uninterrupted run; slim hits; updates of a match.

The rules are real Sigma YAML through the real loader; the "store" is the mapping of
checkpoints the pipeline commits (name -> value), applied batch after batch as the store does.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siem import event as ecs
from siem.detect import correlation_state
from siem.detect.correlation import ALERT_FIELDS, SHARDS
from siem.detect.engine import Detector
from siem.detect.loader import RuleSet
from siem.detect.model import CorrelationMatch
from tests.detect.helpers import load_text
from tests.detect.test_correlation import (
    BASE_RULES,
    BRUTE_FORCE,
    CHAIN,
    LOGIN_AFTER_FAILURES,
    PORT_SCAN,
    QUIET,
    VOLUME,
)

T0 = 1_795_000_000.0
SUM = VOLUME.format(kind="value_sum", n=1, op="gte", count=5000, extra="")
CORRELATIONS = [BRUTE_FORCE, PORT_SCAN, LOGIN_AFTER_FAILURES, QUIET, CHAIN, SUM]


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    loaded = load_text(tmp_path_factory.mktemp("rules"), BASE_RULES, *CORRELATIONS)
    assert not loaded.problems, [str(p) for p in loaded.problems]
    assert len(loaded.correlations) == 7
    return loaded


def event(kind: int, n: int, time: float, pick: int) -> dict[str, Any]:
    """One event of four kinds: failed login, successful login, firewall deny, allow."""
    out: dict[str, Any] = {
        ecs.ID: f"ev-{n}",
        ecs.TIMESTAMP: ecs.format_timestamp(time),
        "message": "x" * 200,  # a field no correlation or alert reads: not kept in hits
        ecs.LABEL_SITE: f"ward-{pick % 2}",
    }
    ip = f"10.0.0.{pick % 3}"
    if kind == 0:
        out.update({"event.outcome": "failure", ecs.SOURCE_IP: ip, ecs.USER_NAME: f"u{pick % 2}"})
    elif kind == 1:
        out.update({"event.outcome": "success", "user.target.name": f"u{pick % 2}", ecs.USER_NAME: f"u{pick % 2}"})
    elif kind == 2:
        out.update({"event.action": "deny", ecs.SOURCE_IP: ip, "destination.port": 20 + pick % 5})
    else:
        out.update({"event.action": "allow", ecs.SOURCE_IP: ip, "network.bytes": 1000 * (pick % 4)})
    return out


def stream(specs: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
    """Events from (kind, seconds forward (may go back a little), pick) specs."""
    time, events = T0, []
    for n, (kind, step, pick) in enumerate(specs):
        time += step
        events.append(event(kind, n, time, pick))
    return events


Key = tuple[Any, ...]


def key(match: CorrelationMatch) -> Key:
    return (match.rule.id, sorted(match.group.items(), key=str), match.first_time, match.last_time,
            match.value, match.update,
            tuple((m.rule.id, m.event_index, sorted(m.event.items())) for m in match.matches))


def run(ruleset: RuleSet, events: list[dict[str, Any]], size: int, restarts: frozenset[int] | set[int] = frozenset(),
        store: dict[str, str] | None = None) -> list[Key]:
    """Detect ``events`` in batches of ``size``, restarting a fresh detector from the saved
    state before each batch number in ``restarts`` (None store: never save, one detector)."""
    detector = Detector(ruleset, logsource="any")
    found: list[Key] = []
    for number, start in enumerate(range(0, len(events), size)):
        if store is not None and number in restarts:
            detector = Detector(ruleset, logsource="any")
            assert detector.restore_state(store.get) == (correlation_state.HEADER in store)
        result = detector.detect(events[start : start + size], start)
        found += [key(m) for m in (*result.correlations, *result.updates)]
        if store is not None:
            store.update(detector.state_changes())
    found += [key(m) for m in detector.finish()]
    return found


specs = st.lists(st.tuples(st.integers(0, 3), st.integers(-5, 40), st.integers(0, 11)), min_size=1, max_size=80)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=specs, size=st.integers(1, 9), restarts=st.sets(st.integers(0, 80), max_size=6))
def test_restarts_from_saved_state_give_the_uninterrupted_matches(
    ruleset: RuleSet, specs: list[tuple[int, int, int]], size: int, restarts: set[int]
) -> None:
    events = stream(specs)
    assert run(ruleset, events, size, restarts, {}) == run(ruleset, events, size)


def test_a_restart_in_the_middle_of_a_brute_force_window(ruleset: RuleSet) -> None:
    # 3 failures, restart, 2 more: the window straddles the restart and still fires at the 5th
    events = stream([(0, 10, 0)] * 12)
    store: dict[str, str] = {}
    found = run(ruleset, events, 3, {1, 2, 3}, store)
    assert found == run(ruleset, events, 3)
    brute = [k for k in found if k[0].endswith("000000000001")]
    assert [k[5] for k in brute][:2] == [False, True] and brute[0][4] == 5.0
    # the updates of that match count on: 6, 7, ... failures in the quiet period
    assert [k[4] for k in brute[1:]] == [6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]


def test_hits_keep_only_what_correlation_and_alerts_read(ruleset: RuleSet) -> None:
    detector = Detector(ruleset, logsource="any")
    found = detector.detect(stream([(0, 1, 0)] * 5))
    (brute,) = [m for m in found.correlations if m.rule.id.endswith("000000000001")]
    kept = brute.matches[0].event
    assert "message" not in kept and ecs.TIMESTAMP not in kept
    assert kept == {ecs.ID: "ev-0", ecs.SOURCE_IP: "10.0.0.0", ecs.USER_NAME: "u0", ecs.LABEL_SITE: "ward-0"}
    assert set(kept) <= set(ALERT_FIELDS)


def test_state_is_written_only_when_it_changed(ruleset: RuleSet) -> None:
    detector = Detector(ruleset, logsource="any")
    detector.detect(stream([(0, 1, 0)]))
    first = detector.state_changes()
    # the header and the shard of each group the failure joined (brute force, chain, temporal)
    assert correlation_state.HEADER in first and len(first) == 4
    assert detector.state_changes() == {}
    # an event no rule matches changes nothing
    detector.detect([{ecs.ID: "other", "event.action": "noop", ecs.TIMESTAMP: ecs.format_timestamp(T0 + 5)}])
    assert detector.state_changes() == {}
    # a hit for other groups rewrites their shards only
    detector.detect([event(0, 99, T0 + 6, 1)])
    changed = detector.state_changes()
    assert correlation_state.HEADER in changed and len(changed) == 4 and changed.keys() != first.keys()
    header = orjson.loads(changed[correlation_state.HEADER])
    assert header["v"] == correlation_state.VERSION and header["shards"] == SHARDS
    used = {correlation_state.shard_name(n) for n in header["used"]}
    assert used == (set(first) | set(changed)) - {correlation_state.HEADER}


@pytest.mark.parametrize("header", ["{not json", '{"v": 99, "shards": 1}', '{"v": 1}', "[1, 2]"])
def test_an_unreadable_state_is_logged_and_ignored(
    ruleset: RuleSet, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    saved = {correlation_state.HEADER: header, correlation_state.shard_name(0): "[[1]]"}
    detector = Detector(ruleset, logsource="any")
    with caplog.at_level(logging.WARNING, logger="siem.detect.correlation_state"):
        assert detector.restore_state(saved.get) is False
    assert "cannot be read" in caplog.text and "start empty" in caplog.text
    assert detector.correlation.group_count == 0
    found = detector.detect(stream([(0, 1, 0)] * 5))
    assert any(m.rule.id.endswith("000000000001") for m in found.correlations)
    # the next save lists only shards it writes: nothing of the unreadable state is read later
    saved.update(detector.state_changes())
    again = Detector(ruleset, logsource="any")
    assert again.restore_state(saved.get) is True
    assert again.correlation.group_count == detector.correlation.group_count > 0


def test_a_damaged_shard_is_ignored_as_a_whole(ruleset: RuleSet) -> None:
    detector = Detector(ruleset, logsource="any")
    detector.detect(stream([(0, 1, 0)] * 3))
    saved = detector.state_changes()
    shard = next(name for name in saved if name != correlation_state.HEADER)
    saved[shard] = '[["7c1d2e3f-1111-4a4a-8b8b-000000000001", {"source.ip": "x"}, null]]'
    fresh = Detector(ruleset, logsource="any")
    assert fresh.restore_state(saved.get) is False and fresh.correlation.group_count == 0


def test_state_of_removed_rules_is_dropped(ruleset: RuleSet, tmp_path: Path) -> None:
    detector = Detector(ruleset, logsource="any")
    detector.detect(stream([(0, 1, 0), (2, 1, 0)] * 3))
    saved = detector.state_changes()
    fewer = load_text(tmp_path, BASE_RULES, PORT_SCAN)
    fresh = Detector(fewer, logsource="any")
    assert fresh.restore_state(saved.get) is True
    assert fresh.correlation.group_count == 1  # the port scan group; the brute force rule is gone
    assert fresh.correlation.hit_count == 3


def test_the_state_stays_bounded_by_the_hit_cap(ruleset: RuleSet) -> None:
    detector = Detector(ruleset, logsource="any")
    detector.correlation.max_total_hits = 2000
    rng = random.Random(3)
    events = [event(0, n, T0 + n * 0.01, rng.randrange(10**6)) for n in range(3000)]
    for n, one in enumerate(events):
        one[ecs.SOURCE_IP] = f"10.{n // 256 % 256}.{n % 256}.1"  # every failure its own groups
        one[ecs.USER_NAME] = f"user{n}"
    detector.detect(events)
    saved = detector.state_changes()
    assert detector.correlation.hit_count <= 2000 and detector.correlation.evicted > 1000
    assert sum(len(value) for value in saved.values()) < 2000 * 400
    # many groups: the header lists the used shards as a bitmap, read back the same
    assert isinstance(orjson.loads(saved[correlation_state.HEADER])["used"], str)
    fresh = Detector(ruleset, logsource="any")
    assert fresh.restore_state(saved.get)
    assert (fresh.correlation.group_count, fresh.correlation.hit_count) == (
        detector.correlation.group_count, detector.correlation.hit_count)


def test_hits_are_encoded_once_and_restore_with_values_orjson_cannot_write(ruleset: RuleSet) -> None:
    """An integer beyond 64 bits in a slim event takes the json fallback of the hit's encoding
    (kept on the hit: its group is written again with each batch that touches it) and the
    state still restores."""
    events = stream([(0, 1, 0)] * 3)
    events[0][ecs.USER_NAME] = 2**70
    detector = Detector(ruleset, logsource="any")
    detector.detect(events[:2])
    first = detector.state_changes()
    assert any(str(2**70) in text for text in first.values())
    detector.detect(events[2:])
    second = {**first, **detector.state_changes()}
    restored = Detector(ruleset, logsource="any")
    assert restored.restore_state(second.get)
