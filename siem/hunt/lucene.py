"""Hunting on Elasticsearch with the rules converted to Lucene ``query_string`` queries.

Conversion: pysigma-backend-elasticsearch's Lucene backend
(https://github.com/SigmaHQ/pySigma-backend-elasticsearch), with the same field-mapping
pipeline the streaming engine loads (``rules/pipelines``: Sigma taxonomy to our ECS names;
Windows rules keep their Sysmon/Security names, which is how our Windows parser stores
events). The backend's own ``ecs_windows`` pipeline (used by ``siem rules convert`` for
Winlogbeat indices) is not used here: its names are not the ones our events carry.

A rule's logsource is not part of its query (as the engine's ``logsource any`` mode); in
``strict`` mode the hits are routed afterwards as the engine routes events.
Sigma compares strings in any letter case, but ``keyword`` fields compare exactly: string
values with letters are therefore written as Lucene regexps spelling out both cases
(``[cC][mM][dD]\\.[eE][xX][eE]``), which is slower than a wildcard on a real cluster but
hunting is a one-off query. Rules the backend cannot express, or whose meaning would differ,
are listed with the reason: correlations, keyword (field-less) searches, regular expressions
Lucene cannot say the same way, time parts (``|hour``), field references, placeholders,
queries the cluster refuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from siem import event as ecs
from siem.detect.loader import RuleSet, read_collection
from siem.detect.model import Match, RuleInfo
from siem.errors import QueryError
from siem.hunt.regex import Untranslatable, to_lucene

if TYPE_CHECKING:
    from sigma.processing.pipeline import ProcessingPipeline

    from siem.store.elasticsearch.store import ElasticsearchStore


@dataclass
class LuceneHunt:
    """What a hunt with Lucene queries found."""

    matches: list[Match] = field(default_factory=list)
    #: Rule id -> the Lucene query run.
    queries: dict[str, str] = field(default_factory=dict)
    #: Rule id -> why the backend cannot express it.
    not_expressible: dict[str, str] = field(default_factory=dict)


def _items(detection: SigmaDetection | SigmaDetectionItem) -> Iterator[SigmaDetectionItem]:
    if isinstance(detection, SigmaDetectionItem):
        yield detection
        return
    for item in detection.detection_items:
        yield from _items(item)


def unexpressible(rule: SigmaRule) -> str | None:
    """Why the rule's Lucene query would mean something else than the rule, if it would."""
    items = [item for d in rule.detection.detections.values() for item in _items(d)]
    if any(item.field is None for item in items):
        return ("keyword search (no field): query_string would search every field, the"
                " engine searches the message")
    if any(isinstance(value, SigmaTimestampPart) for item in items for value in item.value):
        return ("time part (|hour, |minute, ...): the Lucene backend compares the whole"
                " timestamp with the number")
    return None


def case_regexp(value: SigmaString) -> str:
    """A Lucene regexp (``/.../``) matching ``value`` in any letter case, as Sigma matches
    strings; Sigma wildcards become ``.*`` and ``.``. Every character that is not a letter or
    digit is escaped (Lucene reads ``\\x`` as a literal x, but ``\\d``, ``\\s``, ``\\w``
    as classes, so letters and digits never are)."""
    parts: list[str] = []
    for piece in value.s:
        if piece is SpecialChars.WILDCARD_MULTI:
            parts.append(".*")
        elif piece is SpecialChars.WILDCARD_SINGLE:
            parts.append(".")
        elif isinstance(piece, str):
            for char in piece:
                lower, upper = char.lower(), char.upper()
                if lower != upper and len(lower) == 1 and len(upper) == 1:
                    parts.append(f"[{lower}{upper}]")
                elif char.isalnum():
                    parts.append(char)
                else:
                    parts.append("\\" + char)
        else:
            raise SigmaFeatureNotSupportedByBackendError("placeholder left unexpanded")
    if parts and parts[-1] == "\\\\":
        # query_string reads ``\\/`` as an escaped slash, not the end of the regexp.
        parts[-1] = "[\\\\]"
    return "/" + "".join(parts) + "/"


def _has_case(value: SigmaString) -> bool:
    return any(isinstance(piece, str) and piece.lower() != piece.upper() for piece in value.s)


def _backend(pipeline: ProcessingPipeline | None) -> Any:
    from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend

    class CaseInsensitiveLucene(LuceneBackend):
        """Lucene queries that match strings the way Sigma (and our engine) does: in any
        letter case. ``keyword`` fields compare exactly, so a value with letters becomes a
        regexp spelling out both cases. Sigma regular expressions go through
        ``siem.hunt.regex`` (Lucene's are anchored and have another syntax); those it cannot
        translate are refused with the reason."""

        def convert_value_str(self, s: SigmaString, state: Any) -> str:
            if _has_case(s):
                return case_regexp(s)
            return str(super().convert_value_str(s, state))

        def convert_condition_field_eq_val_re(self, cond: Any, state: Any) -> Any:
            value: SigmaRegularExpression = cond.value
            if set(value.flags) - {SigmaRegularExpressionFlag.IGNORECASE}:
                raise SigmaFeatureNotSupportedByBackendError(
                    "regular expression flags other than i (|re|m, |re|s)")
            fold = SigmaRegularExpressionFlag.IGNORECASE in value.flags
            pattern: Any = value.regexp
            if isinstance(pattern, SigmaString):
                if pattern.contains_placeholder():
                    raise SigmaFeatureNotSupportedByBackendError("placeholder in a regexp")
                pattern = pattern.original
            try:
                translated = to_lucene(str(pattern), ignore_case=fold)
            except Untranslatable as exc:
                raise SigmaFeatureNotSupportedByBackendError(
                    f"regular expression (|re) not expressible in Lucene: {exc}") from exc
            return f"{self.escape_and_quote_field(cond.field)}:/{translated}/"

    return CaseInsensitiveLucene(processing_pipeline=pipeline)


def default_pipeline() -> ProcessingPipeline | None:
    """The project's field-mapping pipeline (the one ``load_configured_rules`` applies)."""
    from siem.detect.pipelines import PIPELINES_DIR
    from siem.detect.pipelines import default_pipeline as project_pipeline

    return project_pipeline() if PIPELINES_DIR.is_dir() else None


def convert(
    ruleset: RuleSet, pipeline: ProcessingPipeline | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(rule id -> Lucene query, rule id -> reason not expressible) for the rules of
    ``ruleset`` that generate alerts, read again from their files (the loaded rules already
    carry the pipeline's changes)."""
    wanted = {loaded.info.id: loaded.info for loaded in ruleset.rules if loaded.info.generate}
    reasons: dict[str, str] = {}
    for correlation in ruleset.correlations:
        ident = str(correlation.id) if correlation.id else (correlation.name or correlation.title)
        reasons[ident] = "correlation rule: needs state across events (hunt with the stream engine)"
    paths = {info.path for info in wanted.values() if info.path is not None}
    # Filters (Sigma filter files) apply when the collection is built: read theirs too.
    paths.update(str(item.source.path) for item in ruleset.filters if item.source is not None)
    collection = read_collection(sorted(paths), RuleSet())
    backend = _backend(pipeline)
    queries: dict[str, str] = {}
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule) or not isinstance(rule, SigmaRule):
            continue
        ident = str(rule.id) if rule.id else rule.title
        if ident not in wanted or ident in queries:
            continue
        reason = unexpressible(rule)
        if reason is not None:
            reasons[ident] = reason
            continue
        try:
            converted = [str(query) for query in backend.convert_rule(rule)]
        except (SigmaError, NotImplementedError, ValueError, TypeError, AttributeError) as exc:
            text = (str(exc).splitlines() or [""])[0][:200]
            reasons[ident] = f"{type(exc).__name__}: {text}"
            continue
        if not converted:
            reasons[ident] = "the backend produced no query"
            continue
        queries[ident] = " OR ".join(f"({query})" for query in converted)
    for ident in wanted:
        if ident not in queries and ident not in reasons:
            reasons[ident] = "rule file could not be read again for conversion"
    return queries, reasons


def hunt_lucene(
    store: ElasticsearchStore,
    ruleset: RuleSet,
    *,
    since: float | None = None,
    until: float | None = None,
    site: str | None = None,
    pipeline: ProcessingPipeline | None = None,
    logsource: str = "any",
) -> LuceneHunt:
    """Run every expressible rule of ``ruleset`` as one Lucene query on the store;
    ``logsource="strict"`` keeps only hits on events the rule's logsource fits, as the
    engine routes them."""
    queries, reasons = convert(ruleset, pipeline)
    result = LuceneHunt(not_expressible=dict(reasons))
    infos: dict[str, RuleInfo] = ruleset.infos
    for ident, query in queries.items():
        try:
            events = list(store.search_lucene(query, since=since, until=until, site=site))
        except QueryError as exc:
            result.not_expressible[ident] = f"the cluster refused the query: {exc.message}"
            continue
        result.queries[ident] = query
        info = infos[ident]
        result.matches.extend(Match(info, event, None, _fields(info, event)) for event in events)
    if logsource == "strict":
        result.matches = routed(result.matches)
    return result


def routed(matches: Iterable[Match]) -> list[Match]:
    """The matches whose rule's logsource fits one of the event's facets (the engine's
    ``strict`` routing, applied after the query since the query has no logsource)."""
    from siem.detect.logsource import event_logsources, rule_applies

    return [match for match in matches
            if any(rule_applies(match.rule.logsource, facet)
                   for facet in event_logsources(match.event))]


def _fields(info: RuleInfo, event: dict[str, Any]) -> dict[str, Any]:
    return {name: event[name] for name in info.fields if event.get(name) is not None}


def hit_sets(matches: Iterable[Match]) -> dict[str, set[str]]:
    """Rule id -> ids of the events it matched."""
    found: dict[str, set[str]] = {}
    for match in matches:
        found.setdefault(match.rule.id, set()).add(str(match.event.get(ecs.ID, "")))
    return found
