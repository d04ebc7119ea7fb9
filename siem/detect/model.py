"""Small data types of the detection engine: rule facts, logsources and matches (no logic)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Logsource:
    """A rule's logsource or an event's facets; ``None`` means unspecified."""

    product: str | None = None
    category: str | None = None
    service: str | None = None


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What the engine and the alerting need to know about a loaded rule."""

    id: str
    title: str
    level: str
    status: str | None
    tags: tuple[str, ...]
    logsource: Logsource
    path: str | None
    #: the rule's `fields`/referenced detection fields (after mapping), for "matched fields"
    fields: tuple[str, ...] = ()
    #: False for base rules referenced by a correlation with generate: false
    generate: bool = True


@dataclass(slots=True)
class Match:
    """One event matched by one rule."""

    rule: RuleInfo
    event: dict[str, Any]
    event_index: int | None = None
    matched_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CorrelationMatch:
    """A correlation rule whose condition was met by a group of base matches."""

    rule: RuleInfo
    group: dict[str, Any]
    matches: list[Match]
    first_time: float
    last_time: float
    value: float | None = None
    #: An update of an earlier match: ``matches`` holds one hit its quiet period absorbed.
    update: bool = False


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """A rule that could not be loaded or compiled, and why."""

    path: str | None
    line: int | None
    rule_id: str | None
    reason: str

    def __str__(self) -> str:
        where = self.path or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        ident = f" [{self.rule_id}]" if self.rule_id else ""
        return f"{where}{ident}: {self.reason}"
