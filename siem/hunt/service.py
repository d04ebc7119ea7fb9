"""``siem hunt`` without the printing: pick the engine, run the rules over the stored events
of a time range, and turn the hits into alerts through the same stage as live detection.

Engines: ``stream`` (the streaming engine over ``Store.scan``, any store, every rule the
engine runs) and ``backend`` (Lucene queries on Elasticsearch; the rules it cannot express
run with the stream engine). ``auto``: backend on Elasticsearch, stream elsewhere.
Alert ids depend only on rule and event (``siem.alerts.builder``), so hunting twice over the
same events adds nothing: the alert stage counts them as already folded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sigma.rule import SigmaRule

from siem.alerts.builder import alerts_from
from siem.alerts.service import AlertService, ProcessResult
from siem.config import Config
from siem.detect.loader import LoadedRule, RuleSet
from siem.detect.model import CorrelationMatch, Match
from siem.errors import QueryError
from siem.hunt.stream import hunt_stream
from siem.store.base import Store

if TYPE_CHECKING:
    from sigma.correlations import SigmaCorrelationRule

ENGINES = ("auto", "stream", "backend")


@dataclass
class HuntResult:
    """Hits of a hunt, by which engine found them, and what the alert stage made of them."""

    engine: str
    matches: list[Match] = field(default_factory=list)
    correlations: list[CorrelationMatch] = field(default_factory=list)
    #: Rule id -> "backend" or "stream".
    ran_on: dict[str, str] = field(default_factory=dict)
    #: Rule id -> why the backend cannot express it (those ran with the stream engine).
    not_expressible: dict[str, str] = field(default_factory=dict)
    #: Events the stream engine read (0 when only the backend ran).
    events_scanned: int = 0
    alerts: int = 0
    processed: ProcessResult | None = None

    def hits(self) -> dict[str, int]:
        """Rule id -> matched events (a correlation: its matches)."""
        counts = dict.fromkeys(self.ran_on, 0)
        for match in self.matches:
            counts[match.rule.id] = counts.get(match.rule.id, 0) + 1
        for correlation in self.correlations:
            counts[correlation.rule.id] = counts.get(correlation.rule.id, 0) + 1
        return counts


def correlation_id(rule: SigmaCorrelationRule) -> str:
    """The id the loader gives a correlation rule."""
    return str(rule.id) if rule.id else (rule.name or rule.title)


def subset(ruleset: RuleSet, ids: Collection[str]) -> RuleSet:
    """The rules of ``ids`` (base and correlation), plus the base rules their correlations
    need, which raise no alerts of their own here unless they are among ``ids``."""
    correlations = [rule for rule in ruleset.correlations if correlation_id(rule) in ids]
    needed = {id(rule) for correlation in correlations for rule in correlation.flatten_rules()
              if isinstance(rule, SigmaRule)}
    rules: list[LoadedRule] = []
    for loaded in ruleset.rules:
        if loaded.info.id in ids:
            rules.append(loaded)
        elif id(loaded.rule) in needed:
            quiet = dataclasses.replace(loaded.info, generate=False)
            rules.append(LoadedRule(loaded.rule, quiet, loaded.compiled))
    return RuleSet(rules=rules, correlations=correlations, infos=ruleset.infos,
                   filters=ruleset.filters)


def rule_ids(ruleset: RuleSet) -> list[str]:
    """Ids of the rules that raise alerts (base rules and correlations)."""
    ids = [loaded.info.id for loaded in ruleset.rules if loaded.info.generate]
    ids.extend(correlation_id(rule) for rule in ruleset.correlations)
    return ids


def hunt(
    store: Store,
    ruleset: RuleSet,
    *,
    engine: str = "auto",
    since: float | None = None,
    until: float | None = None,
    site: str | None = None,
    logsource: str = "strict",
) -> HuntResult:
    """Run ``ruleset`` over the stored events with the chosen engine."""
    if engine not in ENGINES:
        raise QueryError(f"unknown engine {engine!r} (use {', '.join(ENGINES)})")
    on_es = getattr(store, "backend", None) == "elasticsearch"
    if engine == "backend" and not on_es:
        raise QueryError("the backend engine needs the Elasticsearch store; use --engine stream")
    chosen = "backend" if engine == "backend" or (engine == "auto" and on_es) else "stream"
    result = HuntResult(engine=chosen)
    remaining = rule_ids(ruleset)
    if chosen == "backend":
        from siem.hunt.lucene import default_pipeline, hunt_lucene
        from siem.store.elasticsearch.store import ElasticsearchStore

        if not isinstance(store, ElasticsearchStore):
            raise QueryError("the backend engine needs the Elasticsearch store")
        found = hunt_lucene(store, ruleset, since=since, until=until, site=site,
                            pipeline=default_pipeline(), logsource=logsource)
        result.matches.extend(found.matches)
        result.not_expressible = dict(found.not_expressible)
        result.ran_on.update(dict.fromkeys(found.queries, "backend"))
        remaining = [ident for ident in remaining if ident not in found.queries]
    if remaining:
        streamed = hunt_stream(store, subset(ruleset, set(remaining)), since=since, until=until,
                               site=site, logsource=logsource)
        result.matches.extend(streamed.matches)
        result.correlations.extend(streamed.correlations)
        result.events_scanned = streamed.events
        result.ran_on.update(dict.fromkeys(remaining, "stream"))
    return result


def raise_alerts(store: Store, config: Config, result: HuntResult) -> ProcessResult:
    """Alerts for the hunt's hits, through grouping, suppression and incidents."""
    alerts = alerts_from(result.matches, result.correlations)
    result.alerts = len(alerts)
    result.processed = AlertService(store, config).process(alerts)
    return result.processed
