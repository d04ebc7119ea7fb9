"""Convert Sigma rules to Elasticsearch queries with pysigma-backend-elasticsearch (as sigma-cli).

Windows rules go through the backend's ``ecs_windows`` pipeline (Sysmon/Security names to
ECS/Winlogbeat fields); other rules through our field-mapping pipeline (``rules/pipelines``,
Sigma taxonomy to our ECS names) when it exists. Rules the backend cannot express are listed
with the reason instead of stopping the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from siem.detect.loader import RuleSet, read_collection
from siem.errors import RuleError

Converted = tuple[str, str, list[str]]


def _backend_class(target: str) -> Any:
    from sigma.backends.elasticsearch.elasticsearch_eql import EqlBackend
    from sigma.backends.elasticsearch.elasticsearch_esql import ESQLBackend
    from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend

    classes: dict[str, Any] = {"lucene": LuceneBackend, "esql": ESQLBackend, "eql": EqlBackend}
    if target not in classes:
        raise RuleError(f"unknown target {target!r} (use {', '.join(classes)})")
    return classes[target]


def _windows_pipeline() -> Any:
    from sigma.pipelines.elasticsearch.windows import ecs_windows

    return ecs_windows()


def _our_pipeline() -> Any:
    from siem.detect.pipelines import PIPELINES_DIR, default_pipeline

    return default_pipeline() if PIPELINES_DIR.is_dir() else None


def convert_rules(paths: Iterable[str | Path], target: str) -> tuple[list[Converted], list[str]]:
    """Queries per rule (id, title, queries), and a reason for each rule not converted."""
    backend_class = _backend_class(target)
    result = RuleSet()
    collection = read_collection(paths, result)
    failures = [str(problem) for problem in result.problems]
    windows = backend_class(processing_pipeline=_windows_pipeline())
    other = backend_class(processing_pipeline=_our_pipeline())
    converted: list[Converted] = []
    # Base rules first: a backend converts a correlation from its rules' conversion results.
    for rule in sorted(collection.rules, key=lambda item: isinstance(item, SigmaCorrelationRule)):
        if isinstance(rule, SigmaCorrelationRule):
            try:
                rule.resolve_rule_references(collection)
            except SigmaError as exc:
                failures.append(f"{rule.title}: {exc}")
                continue
        rule_id = str(rule.id) if rule.id else (rule.name or rule.title)
        is_windows = isinstance(rule, SigmaRule) and rule.logsource.product == "windows"
        backend = windows if is_windows else other
        try:
            if isinstance(rule, SigmaCorrelationRule):
                queries = backend.convert_correlation_rule(rule)
            else:
                queries = backend.convert_rule(rule)
        except (SigmaError, NotImplementedError, ValueError, TypeError, AttributeError) as exc:
            where = rule.source.path if rule.source is not None else "<input>"
            reason = (str(exc).splitlines() or [""])[0][:300]
            failures.append(f"{where} [{rule_id}] {rule.title}: {type(exc).__name__}: {reason}")
            continue
        converted.append((rule_id, rule.title, [str(query) for query in queries]))
    return converted, failures
