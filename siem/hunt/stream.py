"""Hunting with the streaming engine: stored events read oldest first through ``Store.scan``
and fed to the same ``Detector`` as live events, so every rule the engine runs (correlations
included) can hunt, on any store."""

from __future__ import annotations

from dataclasses import dataclass, field

from siem import event as ecs
from siem.detect.engine import Detector
from siem.detect.loader import RuleSet
from siem.detect.model import CorrelationMatch, Match
from siem.event import Event
from siem.store.base import EventQuery, Store

#: Events run through the engine per batch.
BATCH = 1000


@dataclass
class StreamHunt:
    """What a hunt with the streaming engine found."""

    matches: list[Match] = field(default_factory=list)
    correlations: list[CorrelationMatch] = field(default_factory=list)
    events: int = 0
    rules: int = 0


def time_query(since: float | None, until: float | None, site: str | None) -> EventQuery:
    """The stored events a hunt reads."""
    fields = {} if site is None else {ecs.LABEL_SITE: site}
    return EventQuery(since=since, until=until, fields=fields, newest_first=False)


def hunt_stream(
    store: Store,
    ruleset: RuleSet,
    *,
    since: float | None = None,
    until: float | None = None,
    site: str | None = None,
    logsource: str = "strict",
) -> StreamHunt:
    """Run ``ruleset`` over the stored events of the range and site, oldest first."""
    detector = Detector(ruleset, logsource=logsource)
    result = StreamHunt(rules=detector.rule_count + len(ruleset.correlations))
    batch: list[Event] = []
    for event in store.scan(time_query(since, until, site)):
        batch.append(event)
        if len(batch) >= BATCH:
            _run(detector, batch, result)
            batch = []
    if batch:
        _run(detector, batch, result)
    result.correlations.extend(detector.finish())
    return result


def _run(detector: Detector, batch: list[Event], result: StreamHunt) -> None:
    found = detector.detect(batch, start_index=result.events)
    result.matches.extend(found.matches)
    result.correlations.extend(found.correlations)
    result.events += len(batch)
