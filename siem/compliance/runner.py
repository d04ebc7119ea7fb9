"""Run compliance checks over a store: query counts per site, or a built-in measurement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from siem import event as ecs
from siem.compliance import builtin
from siem.compliance.model import ERROR, FAIL, PASS, QUERY, Check, CheckResult
from siem.detect.model import Logsource
from siem.enrich.inventory import Inventory
from siem.errors import SiemError
from siem.incidents.config import SlaTable
from siem.store.base import EventQuery, Store


@dataclass(frozen=True, slots=True)
class ScanContext:
    """What checks may look at: the store, the inventory, SLAs, and the scan's window."""

    store: Store
    inventory: Inventory | None
    sla: SlaTable
    data_path: Path
    now: float
    since: float
    site: str | None = None
    #: Logsources of the loaded Sigma rules (None: not loaded), for the rule_coverage check.
    rule_logsources: tuple[Logsource, ...] | None = None
    #: The detector's logsource mode (``strict`` routing or ``any``).
    logsource_mode: str = "strict"

    def window_start(self, check: Check) -> float:
        """Start of the events a check looks at (its own window or the scan's)."""
        if check.window_hours is not None:
            return self.now - check.window_hours * 3600
        return self.since

    def sites(self) -> list[str]:
        """The sites to report on: the one asked for, else the inventory's."""
        if self.site is not None:
            return [self.site]
        return sorted(self.inventory.sites) if self.inventory is not None else []


def run_checks(checks: Sequence[Check], context: ScanContext) -> list[CheckResult]:
    """Run every check; one that cannot run gets status ``error`` and the others still run."""
    results = []
    for check in checks:
        try:
            result = run_check(check, context)
        except SiemError as exc:
            result = CheckResult(check, ERROR, error=str(exc))
        results.append(result)
    return results


def run_check(check: Check, context: ScanContext) -> CheckResult:
    """One check's result."""
    if check.kind == QUERY:
        return _query_check(check, context)
    measure = builtin.KINDS[check.kind]
    return measure(check, context)


def _query_check(check: Check, context: ScanContext) -> CheckResult:
    since = context.window_start(check)

    def count(site: str | None) -> int:
        fields = {ecs.LABEL_SITE: site} if site is not None else {}
        query = EventQuery(since=since, until=context.now, fields=fields,
                           expression=check.expression)
        return context.store.count(query)

    total = count(context.site)
    result = CheckResult(check, PASS if check.passes(total) else FAIL, value=float(total))
    if total:
        for site in context.sites():
            value = total if site == context.site else count(site)
            if value:
                result.per_site[site] = float(value)
                if not check.passes(value):
                    result.failing_sites.append(site)
    return result
