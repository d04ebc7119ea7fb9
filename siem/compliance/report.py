"""Render scan results as a table (rich), JSON or Markdown."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from siem.compliance.history import Change
from siem.compliance.model import PASS, CheckResult, Profile
from siem.i18n import gettext as _

FORMATS = ("table", "json", "markdown")


def to_json(results: Sequence[CheckResult], change: Change, profile: Profile | None,
            at: float) -> str:
    """One JSON object: summary, results, change since the previous scan."""
    rows: list[dict[str, Any]] = []
    for result in results:
        row = result.to_dict()
        if profile is not None:
            row["controls"] = profile.controls_of(result.check.id)
        rows.append(row)
    document = {
        "at": at,
        "profile": profile.id if profile else None,
        "passed": sum(result.status == PASS for result in results),
        "failed": sum(result.status != PASS for result in results),
        "results": rows,
        "change": {"previous_at": change.previous_at, "new_failures": list(change.new_failures),
                   "fixed": list(change.fixed)},
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def to_markdown(results: Sequence[CheckResult], change: Change, profile: Profile | None) -> str:
    """A Markdown report: one table, then failing details and remediation."""
    lines = ["# " + _("Compliance scan") + (f": {profile.title}" if profile else ""), "",
             "| Check | Severity | Status | Value | Threshold | Failing sites |",
             "|---|---|---|---|---|---|"]
    for result in results:
        lines.append(f"| {result.check.title.local()} (`{result.check.id}`) | "
                     f"{result.check.severity} | {result.status.upper()} | {_value(result)} | "
                     f"{result.check.threshold()} | {', '.join(result.failing_sites)} |")
    for result in results:
        if result.status == PASS:
            continue
        lines += ["", f"## {result.check.id}", ""]
        lines += [f"- {detail}" for detail in result.details]
        if result.error:
            lines.append(f"- error: {result.error}")
        lines.append(f"- remediation: {result.check.remediation.local()}")
    lines += ["", _change_text(change)]
    return "\n".join(lines) + "\n"


def to_table(results: Sequence[CheckResult], change: Change, profile: Profile | None,
             width: int = 120) -> str:
    """A plain-text table (rich, no colour) with details and remediation of failures."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=_("Compliance scan") + (f": {profile.title}" if profile else ""))
    for column in (_("Check"), _("Severity"), _("Status"), _("Value"), _("Threshold"), _("Sites"),
                   _("Remediation")):
        table.add_column(column)
    for result in results:
        failing = result.status != PASS
        detail = "; ".join(result.details if failing else [])
        if result.error:
            detail = result.error
        table.add_row(
            f"{result.check.id}\n{result.check.title.local()}",
            result.check.severity,
            result.status.upper(),
            _value(result),
            result.check.threshold(),
            ", ".join(result.failing_sites) or "-",
            (result.check.remediation.local() + (f"\n{detail}" if detail else "")) if failing else "",
        )
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, highlight=False).print(table)
    return buffer.getvalue() + _change_text(change) + "\n"


def _value(result: CheckResult) -> str:
    return "-" if result.value is None else f"{result.value:g}"


def _change_text(change: Change) -> str:
    if change.previous_at is None:
        return _("First scan: nothing to compare with.")
    none = _("none")
    return _("Since the previous scan: new failures: {new}; fixed: {fixed}.").format(
        new=", ".join(change.new_failures) or none, fixed=", ".join(change.fixed) or none)
