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
  most ``max_matches`` contributing matches. At the default 100,000 hits, one per group (the
  worst case), the state is about 145 MB in memory and 35 MB saved (``bench/correlation.py``).
- Events missing a group-by field are grouped under ``None`` for that field; ``value_*``
  types ignore hits without the condition field.
- Hits are slim: a hit keeps its rule, event index and the values of the event id, the
  group-by and value fields and the few fields an alert shows (``ALERT_FIELDS``), not the
  whole event; a match's ``matches`` carry events cut down to those fields.
- Each hit absorbed by a match yields an *update* (``take_updates``): a ``CorrelationMatch``
  with ``update=True`` holding that one hit, ``first_time`` the match's first time and, for
  ``event_count``, ``value`` the hits so far (the match's plus those absorbed), so the alert
  of the match can grow ("57 in 120s") instead of the burst looking like its first five.
- The state (groups, hits, quiet periods, counters) can be exported and imported by shard
  (``SHARDS`` of them, by a stable hash of rule and group), with the shards changed since the
  last export tracked, so it is saved with each batch at a cost that follows what changed
  (``siem.detect.correlation_state`` does the format).
"""

from __future__ import annotations

import bisect
import json
import math
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
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

from siem import event as ecs
from siem.detect.model import CorrelationMatch, Logsource, Match, RuleInfo
from siem.errors import RuleError

#: Fields of a hit's event an alert reads besides the group-by and value fields (the event id,
#: and the summary's target, site, zone and actor: see ``siem.alerts.builder``).
ALERT_FIELDS = (
    ecs.ID,
    ecs.SOURCE_IP,
    ecs.USER_NAME,
    "labels.asset_name",
    ecs.DESTINATION_IP,
    ecs.HOST_NAME,
    "Computer",
    ecs.OBSERVER_HOSTNAME,
    ecs.LABEL_SITE,
    ecs.LABEL_ZONE,
)
#: Shards of the exportable state (a group's shard is a stable hash of its rule and values).
SHARDS = 16384

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


#: What a hit is made of: the matches of a correlation (chaining), or one base match kept slim
#: as (rule, event index, field names, their values in the event, None where absent).
Source = list[Match] | tuple[RuleInfo, int | None, tuple[str, ...], tuple[Any, ...]]


@dataclass(slots=True)
class _Hit:
    time: float
    #: The reference name the correlation uses for the rule that produced this hit.
    ref: str
    value: Any
    source: Source
    #: What value_count/temporal count distinct (the value, or the rule); None: not counted.
    distinct: Any = None
    #: The exported form as JSON, made at the first export: a hit never changes, while its
    #: group is exported again with every batch that touches it.
    exported: EncodedJson | None = field(default=None, compare=False, repr=False)

    def matches(self) -> list[Match]:
        """The matches this hit stands for (a slim base match as a Match with a slim event)."""
        source = self.source
        if isinstance(source, list):
            return source
        rule, index, names, values = source
        return [Match(rule, {n: v for n, v in zip(names, values, strict=True) if v is not None}, index)]


class EncodedJson:
    """A value already encoded as JSON, to be written as it is (``correlation_state``). Not a
    dataclass: orjson would write a dataclass as an object instead of asking its ``default``."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _export_hit(hit: _Hit) -> EncodedJson:
    """A hit as exported (``[time, ref, value, [[rule id, event index, slim event], ...]]``),
    encoded once and kept on the hit."""
    plain = [hit.time, hit.ref, hit.value, [[m.rule.id, m.event_index, m.event] for m in hit.matches()]]
    try:
        # kept as str: the bytes orjson returns keep its 4 KiB output buffer (~14 times a hit's text)
        text = orjson.dumps(plain, default=str).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits in an event field
        text = json.dumps(plain, default=str, ensure_ascii=False, separators=(",", ":"))
    hit.exported = EncodedJson(text)
    return hit.exported


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
    #: The state shard this group is saved in.
    shard: int = 0
    #: Use order over all groups (least recently used groups are evicted first).
    touched: int = 0
    #: The last match: its first time, hits (grown by absorbed ones) and value.
    fired: tuple[float, int, float | None] | None = None

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

    def keep_fields(self, ref: str) -> tuple[str, ...]:
        """Event fields this correlation reads from hits of ``ref`` (group-by, value)."""
        aliases = self.aliases.get(ref, {})
        return tuple(aliases.get(name, name) for name in (*self.group_by, *self.value_fields))

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
        max_total_hits: int = 100_000,
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
        #: correlation rule id -> its correlation
        self._by_id: dict[str, _Correlation] = {}
        self._groups: OrderedDict[tuple[int, tuple[Any, ...]], _Group] = OrderedDict()
        #: the RuleInfo of every rule a hit can come from, by id (to import hits)
        self._infos: dict[str, RuleInfo] = {info.id: info for info in infos.values()}
        for index, rule in enumerate(rules):
            key = rule_key(rule)
            info = infos.get(key) or _info_of(rule)
            correlation = _Correlation(index, rule, info)
            self._correlations.append(correlation)
            self._by_id[info.id] = correlation
            self._infos[info.id] = info
            for referenced in correlation.refs:
                self._by_rule.setdefault(referenced, []).append(correlation)
        #: correlation rules whose own matches only feed other correlations (generate: false)
        self._silent = {
            key for correlation in self._correlations if not correlation.rule.generate for key in correlation.refs
        }
        #: rule key -> the event fields its hits keep (see ALERT_FIELDS)
        self._keep: dict[str, tuple[str, ...]] = {}
        for key, correlations in self._by_rule.items():
            wanted = [field for c in correlations for field in c.keep_fields(c.refs[key])]
            self._keep[key] = tuple(dict.fromkeys((*ALERT_FIELDS, *wanted)))
        self._updates: list[CorrelationMatch] = []
        self._dirty: set[int] = set()
        #: shard -> the slots of its groups
        self._shards: dict[int, dict[tuple[int, tuple[Any, ...]], None]] = {}
        self._tick = 0

    @property
    def group_count(self) -> int:
        """Groups held in memory now."""
        return len(self._groups)

    def feed(self, match: Match, event_time: float) -> list[CorrelationMatch]:
        """Take one base-rule match (any rule; those no correlation refers to are ignored)."""
        keep = self._keep.get(match.rule.id)
        if keep is None:
            return []
        event = match.event
        source = (match.rule, match.event_index, keep, tuple(map(event.get, keep)))
        out: list[CorrelationMatch] = []
        self._feed(match.rule.id, event, source, event_time, out)
        return [m for m in out if m.rule.id not in self._silent]

    def take_updates(self) -> list[CorrelationMatch]:
        """The updates (hits absorbed by a match, see module doc) since the last call."""
        updates, self._updates = self._updates, []
        return [m for m in updates if m.rule.id not in self._silent]

    def expire(self, now: float) -> list[CorrelationMatch]:
        """Close windows that ended before ``now`` (event time), emit lt/lte results, free state."""
        out: list[CorrelationMatch] = []
        for slot in list(self._groups):
            correlation = self._correlations[slot[0]]
            group = self._groups[slot]
            if not group.times:
                if group.quiet_until < now:
                    self._forget(slot)
                continue
            if group.newest() + correlation.timespan < now or (
                correlation.close_checked() and group.start() + correlation.timespan < now
            ):
                self._forget(slot)
                self.hit_count -= len(group.times)
                self._close(correlation, group, out)
        return [m for m in out if m.rule.id not in self._silent]

    def _feed(
        self,
        key: str,
        event: Mapping[str, Any],
        source: Source,
        time: float,
        out: list[CorrelationMatch],
    ) -> None:
        for correlation in self._by_rule.get(key, ()):
            ref = correlation.refs[key]
            fired = self._add(correlation, ref, event, source, time, out)
            if fired is not None:
                out.append(fired)
                # chaining: a correlation's match is a hit for correlations referring to it
                self._feed(fired.rule.id, fired.group, fired.matches, fired.last_time, out)

    def _group(self, correlation: _Correlation, ref: str, event: Mapping[str, Any]) -> _Group:
        """The group of ``event`` (created when new), marked as just used."""
        group_key, group_values = correlation.group_of(ref, event)
        slot = (correlation.index, group_key)
        group = self._groups.get(slot)
        if group is None:
            group = _Group(group_key, group_values, shard=shard_of(correlation.info.id, group_key))
            self._groups[slot] = group
            self._shards.setdefault(group.shard, {})[slot] = None
        else:
            self._groups.move_to_end(slot)
        self._tick += 1
        group.touched = self._tick
        self._dirty.add(group.shard)
        return group

    def _add(
        self,
        correlation: _Correlation,
        ref: str,
        event: Mapping[str, Any],
        source: Source,
        time: float,
        out: list[CorrelationMatch],
    ) -> CorrelationMatch | None:
        group = self._group(correlation, ref, event)
        self._evict()
        value = correlation.value_of(ref, event)
        hit = _Hit(time, ref, value, source, correlation.distinct_of(ref, value))
        if correlation.close_checked():
            if group.times and time > group.start() + correlation.timespan:
                # the window that began at the first hit is over: decide it, start a new one
                self._close(correlation, group, out)
                self._clear(group)
            self._insert(group, hit)
            return None
        if time <= group.quiet_until:
            self.suppressed += 1
            self._absorb(correlation, group, hit)
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
        group.fired = (fired.first_time, len(group.times), fired.value)
        self._clear(group)
        group.quiet_until = fired.last_time + correlation.timespan
        return fired

    def _absorb(self, correlation: _Correlation, group: _Group, hit: _Hit) -> None:
        """Record an update of the group's last match for a hit it absorbed."""
        if group.fired is None:
            return
        first, hits, value = group.fired
        hits += 1
        group.fired = (first, hits, value)
        if correlation.type is SigmaCorrelationType.EVENT_COUNT:
            value = float(hits)
        self._updates.append(
            CorrelationMatch(
                rule=correlation.info,
                group=dict(group.values),
                matches=hit.matches()[: self.max_matches],
                first_time=first,
                last_time=hit.time,
                value=value,
                update=True,
            )
        )

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
            oldest = self._forget(next(iter(groups)))
            self.hit_count -= len(oldest.times)
            self.evicted += 1

    def _forget(self, slot: tuple[int, tuple[Any, ...]]) -> _Group:
        """Remove a group (its shard is then saved without it)."""
        group = self._groups.pop(slot)
        self._dirty.add(group.shard)
        slots = self._shards[group.shard]
        del slots[slot]
        if not slots:
            del self._shards[group.shard]
        return group

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
            if len(matches) >= self.max_matches:
                break
            matches.extend(hit.matches()[: self.max_matches - len(matches)])
        return CorrelationMatch(
            rule=correlation.info,
            group=dict(group.values),
            matches=matches,
            first_time=group.times[0],
            last_time=group.times[-1],
            value=value,
        )

    # -- state export and import (siem.detect.correlation_state gives it a format) ------------

    def take_dirty(self) -> set[int]:
        """Shards changed since the last call."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def used_shards(self) -> list[int]:
        """The shards that hold groups now."""
        return sorted(self._shards)

    def counters(self) -> dict[str, int]:
        """The counters and the use clock, as exported."""
        return {"evicted": self.evicted, "dropped_hits": self.dropped_hits, "late": self.late,
                "suppressed": self.suppressed, "tick": self._tick}

    def export_shards(self, shards: set[int]) -> dict[int, list[list[Any]]]:
        """The groups of ``shards`` as plain lists (JSON-ready; every shard named is present)."""
        out: dict[int, list[list[Any]]] = {shard: [] for shard in shards}
        for shard in shards:
            for slot in self._shards.get(shard, ()):
                group = self._groups[slot]
                correlation = self._correlations[slot[0]]
                out[shard].append([
                    correlation.info.id,
                    group.values,
                    None if group.quiet_until == -math.inf else group.quiet_until,
                    list(group.fired) if group.fired is not None else None,
                    group.touched,
                    [hit.exported or _export_hit(hit) for hit in group.hits],
                ])
        return out

    def import_state(self, counters: Mapping[str, int], groups: Sequence[tuple[int, list[Any]]]) -> None:
        """Replace the state with exported counters and ``(shard read from, group)`` items.

        Groups of correlations no longer loaded, or whose group-by changed, are left out.
        Raises ValueError, TypeError, KeyError or IndexError on a malformed item.
        """
        self._groups.clear()
        self._shards.clear()
        self.hit_count = 0
        self.evicted = int(counters["evicted"])
        self.dropped_hits = int(counters["dropped_hits"])
        self.late = int(counters["late"])
        self.suppressed = int(counters["suppressed"])
        self._tick = int(counters["tick"])
        loaded: dict[tuple[int, tuple[Any, ...]], _Group] = {}
        for read_from, item in groups:
            rule_id, values, quiet_until, fired, touched, hits = item
            correlation = self._by_id.get(str(rule_id))
            if correlation is None or not isinstance(values, dict) or set(values) != set(correlation.group_by):
                self._dirty.add(read_from)
                continue
            key = tuple(_hashable(values[name]) for name in correlation.group_by)
            group = _Group(key, dict(values), shard=shard_of(correlation.info.id, key), touched=int(touched))
            if group.shard != read_from:
                self._dirty.update((group.shard, read_from))
            group.quiet_until = -math.inf if quiet_until is None else float(quiet_until)
            if fired is not None:
                first, count, value = fired
                group.fired = (float(first), int(count), None if value is None else float(value))
            for time, ref, value, matches in hits:
                value = _hashable(value)
                source = self._import_source(matches)
                group.insert(_Hit(float(time), str(ref), value, source, correlation.distinct_of(str(ref), value)))
            loaded[(correlation.index, key)] = group
        for slot, group in sorted(loaded.items(), key=lambda item: item[1].touched):
            self._groups[slot] = group
            self._shards.setdefault(group.shard, {})[slot] = None
            self.hit_count += len(group.times)

    def _import_source(self, matches: Sequence[Sequence[Any]]) -> Source:
        """A hit's source from exported matches (a single base match is kept slim again)."""
        kept: list[Match] = []
        for rule, index, event in matches:
            info = self._infos.get(str(rule))
            if info is None or not isinstance(event, dict):
                continue
            position = None if index is None else int(index)
            names = self._keep.get(info.id)
            if len(matches) == 1 and names is not None:
                return info, position, names, tuple(map(event.get, names))
            kept.append(Match(info, event, position))
        return kept


def shard_of(rule_id: str, key: tuple[Any, ...]) -> int:
    """The state shard of a group: a hash of its rule and group values, stable across runs."""
    return zlib.crc32(repr((rule_id, key)).encode("utf-8", "surrogatepass")) % SHARDS


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
