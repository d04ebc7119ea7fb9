"""Sigma correlation rules (meta rules) over a stream of base-rule matches, in event time.

Specification: Sigma Correlation Rules v2 (https://sigmahq.io/docs/meta/correlations.html);
parsed objects from pySigma ``sigma/correlations.py``. Supported types: ``event_count``,
``value_count``, ``temporal``, ``temporal_ordered`` (plain list of rules or an extended
``and``/``or``/``not`` condition), ``value_sum``, ``value_avg``, ``value_percentile`` and
``value_median``; ``group-by`` with ``aliases``; ``timespan``; conditions ``gt``, ``gte``, ``lt``,
``lte``, ``eq``, ``neq`` (pySigma 1.5.1 accepts exactly one operator, so no ranges). A
correlation may refer to another correlation (chaining): the inner one's matches feed the outer.

Choices the specification leaves open (documented here, tested in tests/detect/test_correlation.py):
- Windows are sliding, on event time (``@timestamp``): a group holds the hits of the last
  ``timespan`` seconds before its newest hit. Replaying old logs gives the old correlations.
- Each window crossing fires once: when the condition holds, the match is emitted and the
  group's window restarts empty (as ElastAlert's frequency rule clears its occurrences,
  ``ruletypes.py`` ``FrequencyRule``); hits of the group during the next ``timespan`` after the
  match are absorbed by it (counted in ``suppressed``), so a 1,000-port scan in five seconds is
  one match, and a continuing attack gives about one match per ``timespan``.
- ``lt``/``lte`` cannot be decided while a window is still filling (the first hit would already
  be "fewer than"): they are checked when the window closes, i.e. in ``expire(now)`` or when a hit
  arrives after the group's window has ended (the window then starts at its first hit).
- Out-of-order hits are inserted at their event time; a hit older than the group's newest hit
  minus ``timespan`` can no longer share a window with it and is dropped (counted in ``late``).
- State is bounded: at most ``max_groups`` groups over all correlations and ``max_total_hits``
  hits over all groups (least recently used groups evicted, counted in ``evicted``), at most
  ``max_hits`` hits per group (oldest dropped, counted in ``dropped_hits``); a match keeps at
  most ``max_matches`` contributing matches.
- Events missing a group-by field are grouped under ``None`` for that field; ``value_*``
  types ignore hits without the condition field.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionItem,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)
from sigma.rule import SigmaRule

from siem.detect.model import CorrelationMatch, Logsource, Match, RuleInfo
from siem.errors import RuleError

_OPS = SigmaCorrelationConditionOperator
_CLOSE_CHECKED = frozenset({_OPS.LT, _OPS.LTE})
_VALUE_TYPES = frozenset(
    {
        SigmaCorrelationType.VALUE_SUM,
        SigmaCorrelationType.VALUE_AVG,
        SigmaCorrelationType.VALUE_PERCENTILE,
        SigmaCorrelationType.VALUE_MEDIAN,
    }
)
_TEMPORAL_TYPES = frozenset({SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED})


def rule_key(rule: SigmaRule | SigmaCorrelationRule) -> str:
    """The id a rule is known by in matches: its UUID, else its name, else its title."""
    if rule.id is not None:
        return str(rule.id)
    return rule.name or rule.title


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    return value


@dataclass(slots=True)
class _Hit:
    time: float
    #: The reference name the correlation uses for the rule that produced this hit.
    ref: str
    value: Any
    matches: list[Match]
    #: What value_count/temporal count distinct (the value, or the rule); None: not counted.
    distinct: Any = None


@dataclass(slots=True)
class _Group:
    """The hits of one group in its current window, sorted by event time."""

    key: tuple[Any, ...]
    values: dict[str, Any]
    hits: list[_Hit] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    #: Occurrences of each distinct key in the window (kept incrementally: O(1) per hit).
    counts: dict[Any, int] = field(default_factory=dict)
    #: Event time until which hits are absorbed by the last match.
    quiet_until: float = -math.inf

    def newest(self) -> float:
        return self.times[-1]

    def start(self) -> float:
        return self.times[0]

    def insert(self, hit: _Hit) -> None:
        at = bisect.bisect_right(self.times, hit.time)
        self.times.insert(at, hit.time)
        self.hits.insert(at, hit)
        if hit.distinct is not None:
            self.counts[hit.distinct] = self.counts.get(hit.distinct, 0) + 1

    def drop_first(self, count: int) -> None:
        for hit in self.hits[:count]:
            if hit.distinct is not None:
                left = self.counts[hit.distinct] - 1
                if left:
                    self.counts[hit.distinct] = left
                else:
                    del self.counts[hit.distinct]
        del self.times[:count]
        del self.hits[:count]

    def clear(self) -> None:
        self.hits.clear()
        self.times.clear()
        self.counts.clear()


class _Correlation:
    """One correlation rule, prepared for streaming evaluation."""

    def __init__(self, index: int, rule: SigmaCorrelationRule, info: RuleInfo) -> None:
        self.index = index
        self.rule = rule
        self.info = info
        self.type = rule.type
        self.timespan = float(rule.timespan.seconds)
        self.group_by: tuple[str, ...] = tuple(rule.group_by or ())
        #: referenced rule key -> reference name (as written in the correlation)
        self.refs: dict[str, str] = {}
        self.order: list[str] = []
        references: list[SigmaRuleReference] = list(rule.referenced_rules or rule.rules or [])
        for reference in references:
            target = getattr(reference, "rule", None)
            if target is None:
                raise RuleError(
                    f"correlation {info.id}: rule reference '{reference.reference}' is not"
                    " resolved (load it together with the rules it refers to)",
                    path=info.path,
                )
            self.refs[rule_key(target)] = reference.reference
            self.order.append(reference.reference)
        #: reference name -> {group-by name -> event field}
        self.aliases: dict[str, dict[str, str]] = {}
        for alias in rule.aliases:
            for reference, field_name in alias.mapping.items():
                self.aliases.setdefault(reference.reference, {})[alias.alias] = field_name
        self.condition = rule.condition
        self.value_fields: tuple[str, ...] = ()
        if isinstance(self.condition, SigmaCorrelationCondition) and self.condition.fieldref:
            fieldref = self.condition.fieldref
            self.value_fields = (fieldref,) if isinstance(fieldref, str) else tuple(fieldref)

    def close_checked(self) -> bool:
        """True for conditions decided when the window closes (lt, lte)."""
        return isinstance(self.condition, SigmaCorrelationCondition) and (self.condition.op in _CLOSE_CHECKED)

    def group_of(self, ref: str, event: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        aliases = self.aliases.get(ref, {})
        values = {name: event.get(aliases.get(name, name)) for name in self.group_by}
        return tuple(_hashable(values[name]) for name in self.group_by), values

    def value_of(self, ref: str, event: Mapping[str, Any]) -> Any:
        if not self.value_fields:
            return None
        aliases = self.aliases.get(ref, {})
        values = tuple(_hashable(event.get(aliases.get(f, f))) for f in self.value_fields)
        if any(v is None for v in values):
            return None
        return values[0] if len(values) == 1 else values

    def distinct_of(self, ref: str, value: Any) -> Any:
        """The key this correlation counts distinct for a hit (see ``_Group.counts``)."""
        if self.type is SigmaCorrelationType.VALUE_COUNT:
            return value
        if self.type in _TEMPORAL_TYPES:
            return ref
        return None

    def aggregate(self, group: _Group) -> float | None:
        """The number compared with the condition, or None when nothing can be computed."""
        hits = group.hits
        if self.type is SigmaCorrelationType.EVENT_COUNT:
            return float(len(hits))
        if self.type is SigmaCorrelationType.VALUE_COUNT or self.type in _TEMPORAL_TYPES:
            return float(len(group.counts))
        numbers = sorted(n for n in (_number(hit.value) for hit in hits) if n is not None)
        if not numbers:
            return None
        if self.type is SigmaCorrelationType.VALUE_SUM:
            return math.fsum(numbers)
        if self.type is SigmaCorrelationType.VALUE_AVG:
            return math.fsum(numbers) / len(numbers)
        if self.type is SigmaCorrelationType.VALUE_MEDIAN:
            return _percentile(numbers, 50)
        percentile = 50
        if isinstance(self.condition, SigmaCorrelationCondition):
            percentile = self.condition.percentile or 50
        return _percentile(numbers, percentile)

    def holds(self, group: _Group) -> tuple[bool, float | None]:
        """Whether the condition holds on the group's window, and the aggregate."""
        if isinstance(self.condition, SigmaExtendedCorrelationCondition):
            seen = set(group.counts)
            ok = _evaluate(self.condition.parsed, seen)
            if ok and self.type is SigmaCorrelationType.TEMPORAL_ORDERED:
                ok = _in_order(group.hits, [r for r in self.order if r in seen])
            return ok, float(len(seen))
        value = self.aggregate(group)
        if value is None:
            return False, None
        ok = _compare(self.condition.op, value, self.condition.count)
        if ok and self.type is SigmaCorrelationType.TEMPORAL_ORDERED:
            ok = _in_order(group.hits, self.order)
        return ok, value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _percentile(numbers: Sequence[float], percentile: int) -> float:
    """Nearest-rank percentile of sorted ``numbers``."""
    rank = max(1, math.ceil(percentile / 100 * len(numbers)))
    return numbers[min(rank, len(numbers)) - 1]


def _compare(op: SigmaCorrelationConditionOperator, value: float, count: int) -> bool:
    if op is _OPS.GT:
        return value > count
    if op is _OPS.GTE:
        return value >= count
    if op is _OPS.LT:
        return value < count
    if op is _OPS.LTE:
        return value <= count
    if op is _OPS.EQ:
        return value == count
    return value != count


def _evaluate(node: CorrelationConditionItem | SigmaRuleReference, seen: set[str]) -> bool:
    if isinstance(node, SigmaRuleReference):
        return node.reference in seen
    if isinstance(node, CorrelationConditionNOT):
        return not _evaluate(node.args[0], seen)
    if isinstance(node, CorrelationConditionAND):
        return all(_evaluate(arg, seen) for arg in node.args)
    if isinstance(node, CorrelationConditionOR):
        return any(_evaluate(arg, seen) for arg in node.args)
    raise RuleError(f"unsupported correlation condition node: {type(node).__name__}")


def _in_order(hits: Sequence[_Hit], order: Sequence[str]) -> bool:
    """True when the hits (sorted by time) contain the references in ``order`` as a subsequence."""
    position = 0
    for hit in hits:
        if position < len(order) and hit.ref == order[position]:
            position += 1
    return position == len(order)


class CorrelationEngine:
    """Streaming evaluation of correlation rules on base-rule matches (see module doc)."""

    def __init__(
        self,
        rules: Sequence[SigmaCorrelationRule],
        infos: Mapping[str, RuleInfo],
        *,
        max_groups: int = 100_000,
        max_hits: int = 10_000,
        max_total_hits: int = 1_000_000,
        max_matches: int = 100,
    ) -> None:
        self.max_groups = max_groups
        self.max_hits = max_hits
        self.max_total_hits = max_total_hits
        self.max_matches = max_matches
        #: Hits held over all groups.
        self.hit_count = 0
        self.evicted = 0
        self.dropped_hits = 0
        self.late = 0
        self.suppressed = 0
        self._correlations: list[_Correlation] = []
        #: rule key (base or correlation) -> correlations that refer to it
        self._by_rule: dict[str, list[_Correlation]] = {}
        self._groups: OrderedDict[tuple[int, tuple[Any, ...]], _Group] = OrderedDict()
        for index, rule in enumerate(rules):
            key = rule_key(rule)
            info = infos.get(key) or _info_of(rule)
            correlation = _Correlation(index, rule, info)
            self._correlations.append(correlation)
            for referenced in correlation.refs:
                self._by_rule.setdefault(referenced, []).append(correlation)
        #: correlation rules whose own matches only feed other correlations (generate: false)
        self._silent = {
            key for correlation in self._correlations if not correlation.rule.generate for key in correlation.refs
        }

    @property
    def group_count(self) -> int:
        """Groups held in memory now."""
        return len(self._groups)

    def feed(self, match: Match, event_time: float) -> list[CorrelationMatch]:
        """Take one base-rule match (any rule; those no correlation refers to are ignored)."""
        out: list[CorrelationMatch] = []
        self._feed(match.rule.id, match.event, [match], event_time, out)
        return [m for m in out if m.rule.id not in self._silent]

    def expire(self, now: float) -> list[CorrelationMatch]:
        """Close windows that ended before ``now`` (event time), emit lt/lte results, free state."""
        out: list[CorrelationMatch] = []
        for slot in list(self._groups):
            correlation = self._correlations[slot[0]]
            group = self._groups[slot]
            if not group.times:
                if group.quiet_until < now:
                    del self._groups[slot]
                continue
            if group.newest() + correlation.timespan < now or (
                correlation.close_checked() and group.start() + correlation.timespan < now
            ):
                del self._groups[slot]
                self.hit_count -= len(group.times)
                self._close(correlation, group, out)
        return [m for m in out if m.rule.id not in self._silent]

    def _feed(
        self,
        key: str,
        event: Mapping[str, Any],
        matches: list[Match],
        time: float,
        out: list[CorrelationMatch],
    ) -> None:
        for correlation in self._by_rule.get(key, ()):
            ref = correlation.refs[key]
            fired = self._add(correlation, ref, event, matches, time, out)
            if fired is not None:
                out.append(fired)
                # chaining: a correlation's match is a hit for correlations referring to it
                self._feed(fired.rule.id, fired.group, fired.matches, fired.last_time, out)

    def _add(
        self,
        correlation: _Correlation,
        ref: str,
        event: Mapping[str, Any],
        matches: list[Match],
        time: float,
        out: list[CorrelationMatch],
    ) -> CorrelationMatch | None:
        group_key, group_values = correlation.group_of(ref, event)
        slot = (correlation.index, group_key)
        group = self._groups.get(slot)
        if group is None:
            group = _Group(group_key, group_values)
            self._groups[slot] = group
        else:
            self._groups.move_to_end(slot)
        self._evict()
        value = correlation.value_of(ref, event)
        hit = _Hit(time, ref, value, matches, correlation.distinct_of(ref, value))
        if correlation.close_checked():
            if group.times and time > group.start() + correlation.timespan:
                # the window that began at the first hit is over: decide it, start a new one
                self._close(correlation, group, out)
                self._clear(group)
            self._insert(group, hit)
            return None
        if time <= group.quiet_until:
            self.suppressed += 1
            return None
        if group.times and time < group.newest() - correlation.timespan:
            self.late += 1
            return None
        self._insert(group, hit)
        drop = bisect.bisect_left(group.times, group.newest() - correlation.timespan)
        if drop:
            group.drop_first(drop)
            self.hit_count -= drop
        ok, aggregate = correlation.holds(group)
        if not ok:
            return None
        fired = self._match(correlation, group, aggregate)
        self._clear(group)
        group.quiet_until = fired.last_time + correlation.timespan
        return fired

    def _insert(self, group: _Group, hit: _Hit) -> None:
        group.insert(hit)
        self.hit_count += 1
        if len(group.times) > self.max_hits:
            group.drop_first(1)
            self.hit_count -= 1
            self.dropped_hits += 1

    def _clear(self, group: _Group) -> None:
        self.hit_count -= len(group.times)
        group.clear()

    def _evict(self) -> None:
        """Drop least recently used groups beyond ``max_groups`` or ``max_total_hits``."""
        groups = self._groups
        while len(groups) > 1 and (len(groups) > self.max_groups or self.hit_count >= self.max_total_hits):
            _, oldest = groups.popitem(last=False)
            self.hit_count -= len(oldest.times)
            self.evicted += 1

    def _close(self, correlation: _Correlation, group: _Group, out: list[CorrelationMatch]) -> None:
        if not correlation.close_checked() or not group.hits:
            return
        ok, value = correlation.holds(group)
        if ok:
            fired = self._match(correlation, group, value)
            out.append(fired)
            self._feed(fired.rule.id, fired.group, fired.matches, fired.last_time, out)

    def _match(self, correlation: _Correlation, group: _Group, value: float | None) -> CorrelationMatch:
        matches: list[Match] = []
        for hit in group.hits:
            for match in hit.matches:
                if len(matches) < self.max_matches:
                    matches.append(match)
        return CorrelationMatch(
            rule=correlation.info,
            group=dict(group.values),
            matches=matches,
            first_time=group.times[0],
            last_time=group.times[-1],
            value=value,
        )


def _info_of(rule: SigmaCorrelationRule) -> RuleInfo:
    """RuleInfo for a correlation rule the caller did not describe."""
    return RuleInfo(
        id=rule_key(rule),
        title=rule.title,
        level=rule.level.name.lower() if rule.level is not None else "medium",
        status=rule.status.name.lower() if rule.status is not None else None,
        tags=tuple(str(tag) for tag in rule.tags),
        logsource=Logsource(),
        path=str(rule.source.path) if rule.source is not None and rule.source.path else None,
        generate=rule._output,
    )
