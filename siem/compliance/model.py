"""What a compliance check is, what a profile is, and what running a check gives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from siem.i18n import get_language
from siem.query.ast import Node

#: Built-in check kinds (the ones that need code); ``query`` is the declarative kind.
QUERY = "query"
BUILTIN_KINDS = ("silent_sources", "retention", "failed_login_ratio", "open_critical_incidents", "clock_skew",
                 "default_accounts", "rule_coverage", "log_integrity")

PASS = "pass"
FAIL = "fail"
ERROR = "error"


@dataclass(frozen=True, slots=True)
class Text:
    """A user-facing text in English and Vietnamese."""

    en: str
    vi: str

    def local(self) -> str:
        """The text in the current language."""
        return self.vi if get_language() == "vi" else self.en


@dataclass(frozen=True, slots=True)
class Check:
    """One compliance check, as loaded from its YAML file."""

    id: str
    title: Text
    description: str
    severity: str
    kind: str
    remediation: Text
    path: str
    query: str | None = None
    expression: Node | None = None
    #: Hours of events the check looks at; None means the scan's ``--since``.
    window_hours: float | None = None
    #: Passes when the measured value is at most ``max`` / at least ``min``.
    max: float | None = None
    min: float | None = None
    #: Extra parameters of built-in kinds (e.g. ``min_free_percent`` for retention).
    params: Mapping[str, float] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    #: Lists of text of built-in kinds (e.g. ``accounts`` for default_accounts).
    lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def param(self, name: str, default: float) -> float:
        """A built-in kind's parameter, or ``default`` when the check file leaves it out."""
        try:
            return self.params[name]
        except KeyError:
            return default

    def texts(self, name: str) -> tuple[str, ...]:
        """A built-in kind's list of texts (empty when the check file leaves it out)."""
        return self.lists.get(name, ())

    def threshold(self) -> str:
        """The pass condition as text, e.g. ``<= 0``."""
        parts = []
        if self.max is not None:
            parts.append(f"<= {_number(self.max)}")
        if self.min is not None:
            parts.append(f">= {_number(self.min)}")
        return " and ".join(parts)

    def passes(self, value: float) -> bool:
        """Whether ``value`` meets the threshold."""
        if self.max is not None and value > self.max:
            return False
        return not (self.min is not None and value < self.min)


@dataclass(frozen=True, slots=True)
class Control:
    """A requirement of a framework (a CIS safeguard) and the checks that serve it."""

    id: str
    title: str
    checks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Profile:
    """A framework's controls mapped to check ids."""

    id: str
    title: str
    path: str
    controls: tuple[Control, ...]

    def check_ids(self) -> list[str]:
        """Every check the profile names, once, in order."""
        seen: dict[str, None] = {}
        for control in self.controls:
            for check_id in control.checks:
                seen.setdefault(check_id, None)
        return list(seen)

    def controls_of(self, check_id: str) -> list[str]:
        """Ids of the controls a check serves."""
        return [control.id for control in self.controls if check_id in control.checks]


@dataclass(slots=True)
class CheckResult:
    """The outcome of one check: status, measured value, per-site values and details."""

    check: Check
    status: str
    value: float | None = None
    per_site: dict[str, float] = field(default_factory=dict)
    #: Sites (or other groups) that fail on their own.
    failing_sites: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "id": self.check.id,
            "title": self.check.title.local(),
            "severity": self.check.severity,
            "status": self.status,
            "value": self.value,
            "threshold": self.check.threshold(),
            "per_site": self.per_site,
            "failing_sites": self.failing_sites,
            "details": self.details,
            "error": self.error,
            "remediation": self.check.remediation.local(),
            "references": list(self.check.references),
        }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
