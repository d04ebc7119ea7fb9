"""Regression data in SigmaHQ's layout: a folder per rule with ``info.yml`` and event files.

``info.yml`` names the rule (``rule_metadata[0].id``) and lists ``regression_tests_info``
entries, each with a ``path`` (relative to the SigmaHQ repository: resolved by file name
inside the case's folder), a ``type`` (``evtx``, ``ecs``, ``raw``) and a ``match_count``
(default 1; 0 for a negative test). A folder whose info lists no entries is checked with its
event files and a count of 1. Rules run with logsource ``any``. For a correlation rule the
count is its correlation matches over the file (fresh state per file, windows closed at
the end).

Pass criterion: SigmaHQ's own runner (``tests/regression_tests_runner.py``) only checks that
the rule fires on the file, and several SigmaHQ cases hold more matching events than their
``match_count`` (e.g. three dropped procdump variants with ``match_count: 1``). So by default a
positive case passes with at least ``match_count`` matches and a negative case (0) with none;
``exact=True`` demands exactly ``match_count`` (our own rules' tests use it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from siem.detect.engine import Detector
from siem.errors import RuleError

EVENT_SUFFIXES = {".json": "evtx", ".jsonl": "ecs", ".raw": "raw"}

#: Reads one event file of a type (evtx, ecs, raw) into flat events.
EventLoader = Callable[[Path, str], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class CaseFile:
    """One event file of a case and the number of matches it must give."""

    path: Path
    kind: str
    match_count: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class RegressionCase:
    """The regression data of one rule."""

    rule_id: str
    title: str
    folder: Path
    files: tuple[CaseFile, ...]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case file."""

    case: RegressionCase
    file: CaseFile | None
    expected: int
    got: int
    reason: str = ""
    exact: bool = False

    @property
    def passed(self) -> bool:
        """Whether the rule matched as many events as expected (see the module notes)."""
        if self.reason:
            return False
        if self.exact or self.expected == 0:
            return self.got == self.expected
        return self.got >= self.expected


def _case_from_info(info_path: Path) -> RegressionCase:
    try:
        info = yaml.safe_load(info_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError(f"cannot read regression info: {exc}", path=info_path) from exc
    if not isinstance(info, dict):
        raise RuleError("regression info is not a mapping", path=info_path)
    metadata = info.get("rule_metadata") or []
    if not metadata or not isinstance(metadata[0], dict) or "id" not in metadata[0]:
        raise RuleError("regression info names no rule (rule_metadata[0].id)", path=info_path)
    folder = info_path.parent
    files: list[CaseFile] = []
    for entry in info.get("regression_tests_info") or []:
        if not isinstance(entry, dict) or "path" not in entry:
            raise RuleError("regression test entry without a path", path=info_path)
        path = _resolve(folder, Path(str(entry["path"])).name)
        kind = str(entry.get("type") or EVENT_SUFFIXES.get(path.suffix, "ecs"))
        count = entry.get("match_count", 1)
        files.append(CaseFile(path, kind, int(count), str(entry.get("name") or "")))
    if not files:
        for candidate in sorted(folder.iterdir()):
            if candidate.suffix in EVENT_SUFFIXES:
                files.append(CaseFile(candidate, EVENT_SUFFIXES[candidate.suffix], 1))
    return RegressionCase(str(metadata[0]["id"]), str(metadata[0].get("title") or ""),
                          folder, tuple(files))


def _resolve(folder: Path, name: str) -> Path:
    """The event file named in info.yml: SigmaHQ names the ``.evtx`` it was exported from,
    the folder holds its JSON export under the same stem."""
    path = folder / name
    if path.is_file():
        return path
    for suffix in EVENT_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return path


def find_cases(root: Path) -> list[RegressionCase]:
    """Every case (folder with ``info.yml``) under ``root``, in path order."""
    if not root.is_dir():
        raise RuleError(f"regression data folder not found: {root}", path=root)
    return [_case_from_info(info) for info in sorted(root.rglob("info.yml"))]


def run_cases(
    detector: Detector, cases: Sequence[RegressionCase], load_events: EventLoader,
    *, exact: bool = False,
) -> list[CaseResult]:
    """Check every case file against its rule's match_count."""
    numbers: dict[str, int] = {}
    for number, loaded in enumerate(detector.rules):
        numbers.setdefault(loaded.info.id, number)
        if loaded.rule.name:
            numbers.setdefault(loaded.rule.name, number)
    correlations = {info_key for rule in detector.ruleset.correlations
                    for info_key in (str(rule.id) if rule.id else None, rule.name) if info_key}
    results: list[CaseResult] = []
    for case in cases:
        found = numbers.get(case.rule_id)
        correlation = case.rule_id in correlations
        if found is None and not correlation:
            results.append(CaseResult(case, None, 1, 0, "rule not loaded", exact))
            continue
        if not case.files:
            results.append(CaseResult(case, None, 1, 0, "no event file", exact))
            continue
        for case_file in case.files:
            if not case_file.path.is_file():
                results.append(CaseResult(case, case_file, case_file.match_count, 0,
                                          f"event file missing: {case_file.path.name}", exact))
                continue
            try:
                events = load_events(case_file.path, case_file.kind)
            except RuleError as exc:
                results.append(CaseResult(case, case_file, case_file.match_count, 0, str(exc),
                                          exact))
                continue
            if correlation:
                got = _count_correlations(detector, case.rule_id, events)
            else:
                got = sum(1 for event in events if found in detector.match_event(event))
            results.append(CaseResult(case, case_file, case_file.match_count, got, "", exact))
    return results


def _count_correlations(detector: Detector, rule_id: str, events: list[dict[str, Any]]) -> int:
    """Correlation matches of one correlation rule over a file, on fresh correlation state."""
    fresh = Detector(detector.ruleset, logsource="any", correlate=True)
    found = fresh.detect(events)
    matches = [*found.correlations, *fresh.finish()]
    info = detector.ruleset.infos.get(rule_id)
    wanted = {rule_id, info.id} if info is not None else {rule_id}
    return sum(1 for match in matches if match.rule.id in wanted)
