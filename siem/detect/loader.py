"""Load Sigma rules, filters and correlations with pySigma; compile the rules; report problems.

Each file is parsed on its own (``SigmaCollection.from_yaml(..., collect_errors=True)``) so a
broken file is reported with its path and line while the others load. Sigma filters
(``filter:`` documents) are applied by pySigma to the rules they name; correlation rules are
resolved against the loaded rules. Rules are selected by status and minimum level, optionally
run through a processing pipeline (field mapping), then compiled (``compiler.compile_rule``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from siem.config import DetectionConfig
from siem.detect.compiler import CompiledRule, UnsupportedRule, compile_rule
from siem.detect.model import Logsource, RuleInfo, RuleProblem
from siem.errors import RuleError

if TYPE_CHECKING:
    from sigma.processing.pipeline import ProcessingPipeline

LEVELS = ("informational", "low", "medium", "high", "critical")
#: Folders under a rule path that hold no rules (test data, field-mapping pipelines, compliance checks).
SKIP_DIRS = frozenset({"regression_data", "pipelines", "compliance"})
RULE_SUFFIXES = (".yml", ".yaml")


@dataclass(slots=True)
class LoadedRule:
    """A base rule ready to run."""

    rule: SigmaRule
    info: RuleInfo
    compiled: CompiledRule


@dataclass(slots=True)
class RuleSet:
    """Everything loaded from the rule paths, plus what could not be loaded and why."""

    rules: list[LoadedRule] = field(default_factory=list)
    correlations: list[SigmaCorrelationRule] = field(default_factory=list)
    #: RuleInfo of every base and correlation rule, by id and by name.
    infos: dict[str, RuleInfo] = field(default_factory=dict)
    problems: list[RuleProblem] = field(default_factory=list)
    filters: list[SigmaFilter] = field(default_factory=list)
    #: Rules left out by the status/level selection.
    skipped: int = 0
    files: int = 0

    def by_id(self, rule_id: str) -> LoadedRule | None:
        """The base rule with this id (or name)."""
        for loaded in self.rules:
            if loaded.info.id == rule_id or loaded.rule.name == rule_id:
                return loaded
        return None


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """YAML files under the paths (a file stands for itself), sorted, skipping test data."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                relative = candidate.relative_to(path).parts
                if (candidate.suffix in RULE_SUFFIXES and candidate.is_file()
                        and not SKIP_DIRS.intersection(relative[:-1])):
                    found.append(candidate)
        elif path.is_file():
            found.append(path)
        else:
            raise RuleError(f"rule path not found: {path}", path=path)
    return found


def _problem(error: BaseException, path: Path | None, rule_id: str | None = None) -> RuleProblem:
    line: int | None = None
    source = getattr(error, "source", None)
    if isinstance(source, SigmaRuleLocation):
        line = source.line
        if source.path is not None:
            path = Path(source.path)
    mark = getattr(error, "problem_mark", None)
    if mark is not None:
        line = int(mark.line) + 1
    reason = str(error.args[0]) if error.args else str(error)
    return RuleProblem(str(path) if path else None, line, rule_id, reason)


def _rule_line(text: str, key: str = "detection") -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(f"{key}:"):
            return number
    return None


def _value_line(path: str, value: str) -> int | None:
    """The first line of the file holding ``value`` (as written, or with YAML's doubled quotes)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    spellings = (value, value.replace("'", "''"), value.replace("\\", "\\\\"))
    for number, line in enumerate(lines, start=1):
        if any(spelling in line for spelling in spellings):
            return number
    return None


def _file_line(path: str, key: str) -> int | None:
    try:
        return _rule_line(Path(path).read_text(encoding="utf-8"), key)
    except (OSError, UnicodeDecodeError):
        return None


def _parse_files(files: Sequence[Path], result: RuleSet) -> list[SigmaRule | SigmaCorrelationRule
                                                                | SigmaFilter]:
    items: list[SigmaRule | SigmaCorrelationRule | SigmaFilter] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            result.problems.append(RuleProblem(str(path), None, None, f"cannot read: {exc}"))
            continue
        result.files += 1
        try:
            collection = SigmaCollection.from_yaml(
                text, collect_errors=True, source=SigmaRuleLocation(path),
                collect_filters=True, resolve_references=False,
            )
        except yaml.YAMLError as exc:
            result.problems.append(_problem(exc, path))
            continue
        except (SigmaError, TypeError, ValueError, AttributeError, KeyError) as exc:
            result.problems.append(_problem(exc, path))
            continue
        except Exception as exc:  # pySigma failing on a hostile file must not stop the others
            result.problems.append(RuleProblem(str(path), None, None, f"cannot read the rule: {exc!r}"))
            continue
        item_errors = {str(error) for item in [*collection.rules, *collection.filters]
                       for error in item.errors}
        for error in collection.errors:
            if str(error) not in item_errors:
                result.problems.append(_problem(error, path))
        detection_line: list[int | None] = []  # found once per file (a file may hold thousands)
        for item in [*collection.rules, *collection.filters]:
            if item.errors:
                rule_id = str(item.id) if item.id else None
                for error in item.errors:
                    problem = _problem(error, path, rule_id)
                    if problem.line is None:
                        if not detection_line:
                            detection_line.append(_rule_line(text))
                        problem = RuleProblem(problem.path, detection_line[0], rule_id,
                                              problem.reason)
                    result.problems.append(problem)
                continue
            items.append(item)
    return items


def read_collection(paths: Iterable[str | Path], result: RuleSet) -> SigmaCollection:
    """Parse the rule files into one collection (filters applied, references unresolved);
    files that fail go to ``result.problems``."""
    items = _parse_files(rule_files(paths), result)
    # pySigma applies the filters to the rules they name when the collection is built.
    return SigmaCollection(items, resolve_references=False)


def _info(rule: SigmaRule | SigmaCorrelationRule, fields: tuple[str, ...] = ()) -> RuleInfo:
    logsource = Logsource()
    if isinstance(rule, SigmaRule):
        logsource = Logsource(rule.logsource.product, rule.logsource.category,
                              rule.logsource.service)
    return RuleInfo(
        id=str(rule.id) if rule.id else (rule.name or rule.title),
        title=rule.title,
        level=str(rule.level) if rule.level else "informational",
        status=str(rule.status) if rule.status else None,
        tags=tuple(str(tag) for tag in rule.tags),
        logsource=logsource,
        path=str(rule.source.path) if rule.source is not None else None,
        fields=fields or tuple(rule.fields or ()),
        generate=bool(getattr(rule, "_output", True)),
    )


def _unresolved(rule: SigmaCorrelationRule, error: Exception) -> RuleProblem:
    """A correlation whose rule references pySigma failed to follow: a name that is no rule, or a
    correlation that refers to itself through others (a cycle)."""
    location = rule.source
    path = str(location.path) if location is not None and location.path else None
    reason = ("its rules refer to themselves in a cycle" if isinstance(error, RecursionError)
              else "one of its rules names no loaded rule")
    return RuleProblem(path, None, str(rule.id) if rule.id else None,
                       f"correlation rule references cannot be resolved: {reason}")


def _selected(rule: SigmaRule | SigmaCorrelationRule, statuses: Sequence[str],
              min_level: str) -> bool:
    if statuses and (rule.status is None or str(rule.status) not in statuses):
        return False
    level = str(rule.level) if rule.level else "informational"
    return LEVELS.index(level) >= LEVELS.index(min_level)


def load_rules(
    paths: Iterable[str | Path],
    *,
    pipeline: ProcessingPipeline | None = None,
    statuses: Sequence[str] = (),
    min_level: str = "informational",
    placeholders: Mapping[str, Sequence[str]] | None = None,
) -> RuleSet:
    """Load, select, map and compile every rule under ``paths``; problems are collected."""
    if min_level not in LEVELS:
        raise RuleError(f"unknown level {min_level!r} (use one of {', '.join(LEVELS)})")
    result = RuleSet()
    collection = read_collection(paths, result)
    result.filters = list(collection.filters)
    referenced: set[int] = set()
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule):
            try:
                rule.resolve_rule_references(collection)
                flattened = rule.flatten_rules()
            except SigmaError as exc:
                result.problems.append(_problem(exc, None, str(rule.id) if rule.id else None))
                continue
            except (AttributeError, RecursionError) as exc:  # pySigma 1.5 on references it cannot follow
                result.problems.append(_unresolved(rule, exc))
                continue
            if _selected(rule, statuses, min_level):
                result.correlations.append(rule)
                referenced.update(id(ref) for ref in flattened if isinstance(ref, SigmaRule))
            else:
                result.skipped += 1
    for rule in collection.rules:
        if not isinstance(rule, SigmaRule):
            continue
        selected = _selected(rule, statuses, min_level)
        if not selected and id(rule) not in referenced:
            result.skipped += 1
            continue
        rule_id = str(rule.id) if rule.id else rule.title
        try:
            if pipeline is not None:
                pipeline.apply(rule)
            compiled = compile_rule(rule, placeholders)
        except Exception as exc:  # UnsupportedRule, SigmaError, or pySigma failing on a broken rule
            if not isinstance(exc, UnsupportedRule | SigmaError):
                exc = UnsupportedRule(f"cannot compile the rule: {exc!r}")
            problem = _problem(exc, rule.source.path if rule.source else None, rule_id)
            if problem.line is None and problem.path is not None:
                value = getattr(exc, "value", None)
                line = _value_line(problem.path, value) if value else None
                problem = RuleProblem(problem.path, line or _file_line(problem.path, "detection"),
                                      rule_id, problem.reason)
            result.problems.append(problem)
            continue
        info = _info(rule, compiled.fields)
        if not selected and info.generate:  # kept only for the correlations that use it
            info = RuleInfo(info.id, info.title, info.level, info.status, info.tags,
                            info.logsource, info.path, info.fields, generate=False)
        result.rules.append(LoadedRule(rule, info, compiled))
        result.infos[info.id] = info
        if rule.name:
            result.infos[rule.name] = info
    for correlation in result.correlations:
        if pipeline is not None:
            try:
                pipeline.apply(correlation)
            except SigmaError as exc:
                result.problems.append(_problem(exc, None, str(correlation.id)))
        info = _info(correlation)
        result.infos[info.id] = info
        if correlation.name:
            result.infos[correlation.name] = info
    return result


def describe(rule: Any) -> str:
    """``file: title`` of a pySigma rule, for messages."""
    path = rule.source.path if getattr(rule, "source", None) is not None else "<input>"
    return f"{path}: {rule.title}"


def load_configured_rules(
    detection: DetectionConfig, rule_paths: Sequence[str] = (), *, field_mapping: bool = True
) -> RuleSet:
    """Load the rules the configuration selects (``rule_paths`` overrides its ``rules``).

    ``field_mapping`` applies our ECS pipeline (``rules/pipelines``) when it is present.
    """
    mapping = None
    if field_mapping:
        from siem.detect.pipelines import PIPELINES_DIR, default_pipeline

        if PIPELINES_DIR.is_dir():
            mapping = default_pipeline()
    return load_rules(
        rule_paths or detection.rules,
        pipeline=mapping,
        statuses=detection.statuses,
        min_level=detection.min_level,
        placeholders=detection.placeholders,
    )
