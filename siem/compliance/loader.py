"""Load compliance checks and profiles from YAML; a bad file is a RuleError, the rest still load.

Check file (one per file in ``rules/compliance/checks/``)::

    id: cleartext-management-cameras
    title: {en: ..., vi: ...}
    description: ...
    severity: high                      # informational | low | medium | high | critical
    query: 'labels.destination_zone:camera AND destination.port:(21 OR 23)'   # or kind: ...
    window_hours: 168                   # optional; default the scan's --since
    max: 0                              # and/or min: 90
    params: {min_free_percent: 10}      # built-in kinds only
    lists: {accounts: [admin, ubnt]}    # built-in kinds only: names to lists of text
    remediation: {en: ..., vi: ...}
    references: [cis-v8:4.6]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siem.alert import LEVELS
from siem.compliance.model import BUILTIN_KINDS, QUERY, Check, Control, Profile, Text
from siem.errors import ConfigError, QueryError, RuleError
from siem.query import parse_query
from siem.yamlfile import LocatedDict, load_yaml_file

_CHECK_KEYS = (
    "id", "title", "description", "severity", "query", "kind", "window_hours", "max", "min",
    "params", "remediation", "references", "lists",
)


@dataclass
class CheckSet:
    """The checks that loaded, and one RuleError per file that did not."""

    checks: list[Check] = field(default_factory=list)
    problems: list[RuleError] = field(default_factory=list)


def load_checks(directory: Path) -> CheckSet:
    """Every ``*.yml``/``*.yaml`` check under ``directory``, sorted by file name."""
    result = CheckSet()
    seen: dict[str, str] = {}
    files = sorted([*directory.rglob("*.yml"), *directory.rglob("*.yaml")])
    for path in files:
        try:
            check = load_check(path)
            if check.id in seen:
                raise RuleError(f"duplicate check id {check.id!r} (also in {seen[check.id]})",
                                path=path)
        except RuleError as exc:
            result.problems.append(exc)
            continue
        seen[check.id] = str(path)
        result.checks.append(check)
    return result


def load_check(path: Path) -> Check:
    """One check file; RuleError naming the file and line of what is wrong."""
    try:
        raw = load_yaml_file(path)
    except ConfigError as exc:
        raise RuleError(exc.message, path=exc.path, line=exc.line) from exc
    where = str(path)
    if not isinstance(raw, LocatedDict):
        raise RuleError("a check must be a mapping (id, title, query or kind, ...)", path=where)
    for key in raw:
        if key not in _CHECK_KEYS:
            raise RuleError(f"unknown key {key!r} (known: {', '.join(_CHECK_KEYS)})",
                            path=where, line=raw.line_of(key))
    severity = _text(raw, "severity", where)
    if severity not in LEVELS:
        raise RuleError(f"severity must be one of {', '.join(LEVELS)}", path=where,
                        line=raw.line_of("severity"))
    query, kind = raw.get("query"), raw.get("kind")
    if (query is None) == (kind is None):
        raise RuleError("a check needs exactly one of 'query' or 'kind'", path=where, line=raw.line)
    expression = None
    if query is not None:
        if not isinstance(query, str):
            raise RuleError("query must be text", path=where, line=raw.line_of("query"))
        try:
            expression = parse_query(query)
        except QueryError as exc:
            raise RuleError(f"bad query: {exc.message} (column {exc.column})", path=where,
                            line=raw.line_of("query")) from exc
        kind = QUERY
    elif kind not in BUILTIN_KINDS:
        raise RuleError(f"unknown kind {kind!r} (known: {', '.join(BUILTIN_KINDS)})", path=where,
                        line=raw.line_of("kind"))
    maximum, minimum = _number(raw, "max", where), _number(raw, "min", where)
    if maximum is None and minimum is None:
        raise RuleError("a check needs a threshold: 'max' or 'min'", path=where, line=raw.line)
    params = raw.get("params") or {}
    if not isinstance(params, dict) or not all(
        isinstance(value, int | float) and not isinstance(value, bool) for value in params.values()
    ):
        raise RuleError("params must map names to numbers", path=where, line=raw.line_of("params"))
    references = raw.get("references") or []
    if not isinstance(references, list):
        raise RuleError("references must be a list", path=where, line=raw.line_of("references"))
    lists = raw.get("lists") or {}
    if not isinstance(lists, dict) or not all(
        isinstance(items, list) and all(isinstance(item, str | int) and not isinstance(item, bool) for item in items)
        for items in lists.values()
    ):
        raise RuleError("lists must map names to lists of text", path=where, line=raw.line_of("lists"))
    return Check(
        id=_text(raw, "id", where),
        title=_bilingual(raw, "title", where),
        description=str(raw.get("description") or ""),
        severity=severity,
        kind=str(kind),
        remediation=_bilingual(raw, "remediation", where),
        path=where,
        query=query,
        expression=expression,
        window_hours=_number(raw, "window_hours", where),
        max=maximum,
        min=minimum,
        params={str(name): float(value) for name, value in params.items()},
        references=tuple(str(item) for item in references),
        lists={str(name): tuple(str(item) for item in items) for name, items in lists.items()},
    )


def load_profile(path: Path, known: set[str]) -> Profile:
    """A profile file; every check id it names must be in ``known``."""
    try:
        raw = load_yaml_file(path)
    except ConfigError as exc:
        raise RuleError(exc.message, path=exc.path, line=exc.line) from exc
    where = str(path)
    if not isinstance(raw, LocatedDict):
        raise RuleError("a profile must be a mapping (id, title, controls)", path=where)
    controls = []
    items = raw.get("controls")
    if not isinstance(items, list) or not items:
        raise RuleError("controls must be a non-empty list", path=where, line=raw.line_of("controls"))
    for item in items:
        if not isinstance(item, LocatedDict):
            raise RuleError("each control must be a mapping (id, title, checks)", path=where,
                            line=raw.line_of("controls"))
        checks = item.get("checks")
        if not isinstance(checks, list) or not checks:
            raise RuleError("checks must be a non-empty list", path=where, line=item.line)
        for check_id in checks:
            if str(check_id) not in known:
                raise RuleError(f"unknown check {check_id!r}", path=where, line=item.line_of("checks"))
        controls.append(Control(_text(item, "id", where), _text(item, "title", where),
                                tuple(str(check_id) for check_id in checks)))
    return Profile(_text(raw, "id", where), _text(raw, "title", where), where, tuple(controls))


def _text(raw: LocatedDict, key: str, where: str) -> str:
    value = raw.get(key)
    if value is None or isinstance(value, dict | list) or str(value) == "":
        raise RuleError(f"{key} is required and must be text", path=where, line=raw.line_of(key))
    return str(value)


def _bilingual(raw: LocatedDict, key: str, where: str) -> Text:
    value: Any = raw.get(key)
    if not isinstance(value, dict) or not isinstance(value.get("en"), str):
        raise RuleError(f"{key} needs 'en' and 'vi' texts", path=where, line=raw.line_of(key))
    english = value["en"]
    vietnamese = value.get("vi")
    return Text(english, vietnamese if isinstance(vietnamese, str) else english)


def _number(raw: LocatedDict, key: str, where: str) -> float | None:
    if key not in raw or raw[key] is None:
        return None
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"{key} must be a number", path=where, line=raw.line_of(key))
    return float(value)
