"""The detection engine: routes events to rules, runs the candidates, feeds correlations.

One engine serves ``siem detect``, ``siem rules test``, ``siem run`` and ``siem ingest``:
``Detector.detect(events)`` takes a batch of flat events and returns the matches and the
correlation matches, in stream order.

Routing (``logsource="strict"``): rules are grouped by logsource; an event's facets
(``siem.detect.logsource.event_logsources``) pick the groups whose logsource fits, and one
rule index per distinct set of groups is built on first use and kept; which index an event
gets is cached by the values of the few fields routing reads (``ROUTE_FIELDS``). ``"any"``
applies every rule to every event (how SigmaHQ checks its regression data).
"""

from __future__ import annotations

import gc
import importlib.util
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from siem import event as ecs
from siem.detect.index import RuleIndex
from siem.detect.loader import LoadedRule, RuleSet
from siem.detect.model import CorrelationMatch, Logsource, Match, RuleInfo
from siem.errors import RuleError

log = logging.getLogger(__name__)

LOGSOURCE_MODES = ("any", "strict")
#: Distinct routing plans kept (one per combination of event facets seen).
_MAX_PLANS = 128
#: Plans that get the full value cache; later ones (rare facet combinations) get a sixteenth of
#: it, so the caches of all plans together stay within about 8 + 120/16 = 15.5 full caches
#: (a full cache holds up to 2 x 4 x ``value_cache`` entries of (field, value): ~25 MB).
_FULL_CACHE_PLANS = 8
#: Distinct routing keys kept (the values of ROUTE_FIELDS -> plan).
_MAX_ROUTES = 4096
#: Every field ``logsource.event_logsources`` reads: equal values give equal facets, so the
#: plan is cached by them (tests/detect/test_route_cache.py checks the list is complete).
ROUTE_FIELDS = ("Channel", "winlog.channel", "event.dataset", "EventID", "winlog.event_id",
                "event.code", "EventType", "process.name", "suricata.eve.event_type",
                "event.category", "observer.type")

FacetsOf = Callable[[Mapping[str, Any]], tuple[Logsource, ...]]
Applies = Callable[[Logsource, Logsource], bool]


@dataclass(slots=True, init=False)
class Detections:
    """What a batch of events produced."""

    matches: list[Match]
    correlations: list[CorrelationMatch]
    #: Correlation matches grown by hits their quiet period absorbed (``update=True``).
    updates: list[CorrelationMatch]

    def __init__(self, matches: list[Match] | None = None, correlations: list[CorrelationMatch] | None = None,
                 updates: list[CorrelationMatch] | None = None) -> None:
        # by hand: the generated __init__ with default factories costs a detect() call per event
        self.matches = [] if matches is None else matches
        self.correlations = [] if correlations is None else correlations
        self.updates = [] if updates is None else updates


def _routing() -> tuple[FacetsOf, Applies]:
    from siem.detect.logsource import event_logsources, rule_applies

    return event_logsources, rule_applies


def event_time(event: Mapping[str, Any], default: float) -> float:
    """The event's time (``@timestamp`` or Windows ``TimeCreated_SystemTime``) in epoch seconds."""
    for key in (ecs.TIMESTAMP, "TimeCreated_SystemTime"):
        value = event.get(key)
        if isinstance(value, str):
            try:
                return ecs.parse_timestamp(value)
            except ValueError:
                continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return default


class Detector:
    """Compiled rules plus their index; stateful only through correlations."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        logsource: str = "strict",
        routing: tuple[FacetsOf, Applies] | None = None,
        correlate: bool = True,
        value_cache: int = 16384,
    ) -> None:
        if logsource not in LOGSOURCE_MODES:
            raise RuleError(f"unknown logsource mode {logsource!r} (use any or strict)")
        self.ruleset = ruleset
        self.rules: list[LoadedRule] = list(ruleset.rules)
        self.logsource = logsource
        self._matchers = [loaded.compiled.matcher for loaded in self.rules]
        self._infos = [loaded.info for loaded in self.rules]
        self._value_cache = value_cache
        self._all = self._index(range(len(self.rules)), value_cache)
        self._groups: dict[Logsource, list[int]] = {}
        for number, loaded in enumerate(self.rules):
            self._groups.setdefault(loaded.info.logsource, []).append(number)
        self._plans: dict[tuple[Logsource, ...], RuleIndex] = {}
        self._routes: dict[tuple[Any, ...], RuleIndex] = {}
        self._routing = routing
        #: only the built-in routing is known to read ROUTE_FIELDS alone
        self._cache_routes = False
        if logsource == "strict" and routing is None:
            self._routing = _routing()
            self._cache_routes = True
        self._last_time = 0.0
        self._expired_at = 0.0
        self._saved_header: str | None = None
        # The parsed rules are hundreds of thousands of long-lived objects: move them out of
        # the collector's sight, or every full collection (frequent while events stream)
        # walks them all.
        gc.collect()
        gc.freeze()
        self.correlation: Any = None
        if correlate and ruleset.correlations:
            if importlib.util.find_spec("siem.detect.correlation") is None:
                log.warning("correlation rules loaded but the correlation engine is missing")
            else:
                from siem.detect.correlation import CorrelationEngine

                self.correlation = CorrelationEngine(ruleset.correlations, ruleset.infos)

    @property
    def rule_count(self) -> int:
        """Base rules loaded."""
        return len(self.rules)

    def _index_for(self, event: Mapping[str, Any]) -> RuleIndex:
        if self.logsource == "any" or self._routing is None:
            return self._all
        if not self._cache_routes:
            return self._plan_for(event, self._routing)
        values = tuple(map(event.get, ROUTE_FIELDS))
        # the event id's type matters too: True == 1 == 1.0 but only 1 is an event id
        key = (values, values[3].__class__, values[4].__class__, values[5].__class__)
        try:
            index = self._routes.get(key)
        except TypeError:  # a list (or dict) among the values: not hashable, route directly
            return self._plan_for(event, self._routing)
        if index is None:
            index = self._plan_for(event, self._routing)
            if len(self._routes) >= _MAX_ROUTES:
                self._routes.clear()
            self._routes[key] = index
        return index

    def _index(self, numbers: Iterable[int], cache_size: int) -> RuleIndex:
        rules = [(n, self.rules[n].compiled) for n in numbers]
        return RuleIndex([(n, compiled.groups) for n, compiled in rules], cache_size=cache_size,
                         vetoes={n: compiled.vetoes for n, compiled in rules if compiled.vetoes})

    def _plan_for(self, event: Mapping[str, Any], routing: tuple[FacetsOf, Applies]) -> RuleIndex:
        facets_of, applies = routing
        facets = facets_of(event)
        index = self._plans.get(facets)
        if index is None:
            numbers = sorted(
                number
                for rule_source, members in self._groups.items()
                if any(applies(rule_source, facet) for facet in facets)
                for number in members
            )
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
                self._routes.clear()
            full = len(self._plans) < _FULL_CACHE_PLANS
            index = self._plans[facets] = self._index(numbers, self._value_cache if full else self._value_cache // 16)
        return index

    def match_event(self, event: Mapping[str, Any]) -> list[int]:
        """Numbers of the rules (in ``self.rules``) that match one event."""
        matchers = self._matchers
        return [n for n in self._index_for(event).ordered(event) if matchers[n](event)]

    def match_rule(self, rule: LoadedRule, event: Mapping[str, Any]) -> bool:
        """Whether one rule matches one event, through the index as the engine runs it."""
        number = self.rules.index(rule)
        return number in self.match_event(event)

    def detect(self, events: Iterable[dict[str, Any]], start_index: int = 0) -> Detections:
        """Run a batch of flat events through the rules; ``event_index`` counts from start."""
        batch = events if isinstance(events, list | tuple) else list(events)
        return self.detect_matched(batch, self.match_batch(batch), start_index)

    def match_batch(self, events: Sequence[Mapping[str, Any]]) -> list[tuple[int, list[int]]]:
        """The single-event rule matches of a batch: ``(offset, rule numbers)`` of each event some
        rule matched. Stateless (correlation is not fed), so worker processes can run it."""
        index_for = self._index_for
        matchers = self._matchers
        hits = []
        for offset, event in enumerate(events):
            # match_event inline: one call less per event
            numbers = [n for n in index_for(event).ordered(event) if matchers[n](event)]
            if numbers:
                hits.append((offset, numbers))
        return hits

    def rule_ids(self) -> tuple[str, ...]:
        """Ids of the loaded rules in their numbering (``match_batch``): equal on both sides of a
        process boundary when both loaded the same rules."""
        return tuple(loaded.info.id for loaded in self.rules)

    def detect_matched(
        self, events: Sequence[dict[str, Any]], hits: Iterable[tuple[int, list[int]]], start_index: int = 0
    ) -> Detections:
        """``detect`` for a batch whose rule matches are known (``match_batch``, perhaps run in
        another process): the matches, and the correlations fed in batch order."""
        result = Detections()
        infos = self._infos
        correlation = self.correlation
        for offset, numbers in hits:
            event = events[offset]
            if correlation is None:  # event time only matters to correlation windows
                for number in numbers:
                    info = infos[number]
                    if info.generate:
                        result.matches.append(Match(info, event, start_index + offset,
                                                    _matched_fields(info, event)))
                continue
            when = event_time(event, self._last_time)
            self._last_time = when
            for number in numbers:
                info = infos[number]
                match = Match(info, event, start_index + offset, _matched_fields(info, event))
                if info.generate:
                    result.matches.append(match)
                result.correlations.extend(correlation.feed(match, when))
        # Closing windows walks every group: do it when event time moved on by a second.
        if self.correlation is not None and self._last_time - self._expired_at >= 1.0:
            result.correlations.extend(self.correlation.expire(self._last_time))
            self._expired_at = self._last_time
        if correlation is not None:
            result.updates = correlation.take_updates()
        return result

    def state_changes(self) -> dict[str, str]:
        """Checkpoints (name -> value) of the correlation state changed since the last call,
        to commit with the batch just detected (``siem.detect.correlation_state``)."""
        if self.correlation is None:
            return {}
        from siem.detect import correlation_state

        changes = correlation_state.changed_shards(self.correlation)
        header = correlation_state.header(self.correlation, (self._last_time, self._expired_at))
        if changes or header != self._saved_header:
            changes[correlation_state.HEADER] = header
            self._saved_header = header
        return changes

    def restore_state(self, read: Callable[[str], str | None]) -> bool:
        """Load the correlation state saved by ``state_changes`` (``read``: checkpoint name ->
        value); False when there was none or it could not be read (logged)."""
        if self.correlation is None:
            return False
        from siem.detect import correlation_state

        clock = correlation_state.restore(self.correlation, read)
        if clock is None:
            return False
        self._last_time, self._expired_at = clock
        self._saved_header = correlation_state.header(self.correlation, clock)
        return True

    def finish(self) -> list[CorrelationMatch]:
        """End of stream: close every correlation window (emits lt/lte results)."""
        if self.correlation is None:
            return []
        found: list[CorrelationMatch] = self.correlation.expire(float("inf"))
        return found

    def rules_by_id(self) -> dict[str, RuleInfo]:
        """RuleInfo of every loaded rule by id."""
        return dict(self.ruleset.infos)


def _matched_fields(info: RuleInfo, event: Mapping[str, Any]) -> dict[str, Any]:
    found = {}
    get = event.get
    for name in info.fields:  # a loop, not a comprehension: no function call (Python 3.11)
        value = get(name)
        if value is not None:
            found[name] = value
    return found


def detector_for(
    ruleset: RuleSet, *, logsource: str = "strict", correlate: bool = True
) -> Detector:
    """A Detector for a loaded rule set (the one entry point the pipeline uses)."""
    return Detector(ruleset, logsource=logsource, correlate=correlate)


def matching_rules(detector: Detector, events: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Ids of the rules matching each event (handy for tests and the regression runner)."""
    return [[detector.rules[n].info.id for n in detector.match_event(e)] for e in events]
