"""Built-in compliance measurements that need code rather than one query.

- ``silent_sources``: inventory devices with ``expected_to_log`` and no event in the window
  (matched by ``labels.asset_name``, ``host.name``, ``observer.hostname`` or ``observer.ip``).
- ``retention``: days of events the store holds (oldest event), with disk headroom
  (``params.min_free_percent``) on the data directory's file system.
- ``failed_login_ratio``: failed / all authentication events, per site (worst site reported);
  sites with fewer than ``params.min_attempts`` attempts are not judged.
- ``open_critical_incidents``: open incidents at ``params.min_severity_rank`` (index in
  ``siem.alert.LEVELS``, default critical) or higher that are past their resolve SLA.
- ``clock_skew``, ``default_accounts``, ``rule_coverage``: see ``clocks.py``, ``accounts.py``
  and ``coverage.py``.
- ``log_integrity``: the store's integrity seals verify; see ``integrity.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from siem import event as ecs
from siem.alert import LEVELS
from siem.compliance.accounts import default_accounts
from siem.compliance.clocks import clock_skew
from siem.compliance.coverage import rule_coverage
from siem.compliance.integrity import log_integrity
from siem.compliance.model import FAIL, PASS, Check, CheckResult
from siem.errors import ConfigError
from siem.incidents.model import OPEN_STATUSES
from siem.query import parse_query
from siem.store.base import EventQuery, IncidentQuery

if TYPE_CHECKING:
    from siem.compliance.runner import ScanContext

Measure = Callable[[Check, "ScanContext"], CheckResult]


def silent_sources(check: Check, context: ScanContext) -> CheckResult:
    """Count expected devices without events in the window, listed by site (ward)."""
    if context.inventory is None:
        raise ConfigError("no asset inventory configured: set 'inventory:' in siem.yaml")
    since = context.window_start(check)
    silent: dict[str, list[str]] = {}
    for asset in context.inventory.assets:
        if not asset.expected_to_log or (context.site is not None and asset.site != context.site):
            continue
        name = _quote(asset.name)
        expression = parse_query(
            f"labels.asset_name:{name} OR host.name:{name} OR observer.hostname:{name}"
            f" OR observer.ip:{asset.ip}"
        )
        query = EventQuery(since=since, until=context.now, expression=expression)
        if context.store.count(query) == 0:
            silent.setdefault(asset.site, []).append(asset.name)
    total = sum(len(names) for names in silent.values())
    result = CheckResult(check, PASS if check.passes(total) else FAIL, value=float(total))
    for site, names in sorted(silent.items()):
        result.per_site[site] = float(len(names))
        if not check.passes(len(names)):
            result.failing_sites.append(site)
        result.details.append(f"{site}: {', '.join(sorted(names))}")
    return result


def retention(check: Check, context: ScanContext) -> CheckResult:
    """Days between the oldest stored event and now; fails too when the disk is nearly full."""
    stats = context.store.stats()
    days = 0.0 if stats.oldest_event_at is None else (context.now - stats.oldest_event_at) / 86400
    passed = check.passes(days)
    result = CheckResult(check, PASS, value=round(days, 1))
    result.details.append(f"oldest event: {days:.1f} days ago; store size {stats.size_bytes} bytes")
    min_free = check.param("min_free_percent", 0.0)
    if min_free:
        usage = shutil.disk_usage(context.data_path)
        free = 100.0 * usage.free / usage.total if usage.total else 0.0
        result.details.append(f"free disk at {context.data_path}: {free:.1f}%")
        if free < min_free:
            passed = False
            result.details.append(f"less than {min_free:g}% free")
    result.status = PASS if passed else FAIL
    return result


def failed_login_ratio(check: Check, context: ScanContext) -> CheckResult:
    """The worst site's share of failed authentication events."""
    since = context.window_start(check)
    attempts_query = parse_query("event.category:authentication")
    failures_query = parse_query("event.category:authentication AND event.outcome:failure")
    min_attempts = check.param("min_attempts", 1.0)
    sites: list[str | None] = [*context.sites()] or [None]
    result = CheckResult(check, PASS, value=0.0)
    for site in sites:
        fields = {ecs.LABEL_SITE: site} if site is not None else {}
        attempts = context.store.count(
            EventQuery(since=since, until=context.now, fields=fields, expression=attempts_query))
        if attempts < min_attempts:
            continue
        failures = context.store.count(
            EventQuery(since=since, until=context.now, fields=fields, expression=failures_query))
        ratio = round(failures / attempts, 4)
        label = site or "all"
        result.per_site[label] = ratio
        result.value = max(result.value or 0.0, ratio)
        result.details.append(f"{label}: {failures}/{attempts} failed")
        if not check.passes(ratio):
            result.failing_sites.append(label)
    result.status = FAIL if result.failing_sites else PASS
    return result


def open_critical_incidents(check: Check, context: ScanContext) -> CheckResult:
    """Open incidents at or above the severity that are past their resolve SLA."""
    rank = int(check.param("min_severity_rank", 4))
    severity = LEVELS[max(0, min(rank, len(LEVELS) - 1))]
    incidents = context.store.find_incidents(IncidentQuery(
        statuses=OPEN_STATUSES, severity=severity, site=context.site, limit=100000))
    overdue = []
    for incident in incidents:
        allowed = context.sla.for_severity(incident.severity).resolve_minutes * 60
        if context.now - incident.opened_at > allowed:
            overdue.append(incident)
    result = CheckResult(check, PASS if check.passes(len(overdue)) else FAIL,
                         value=float(len(overdue)))
    for incident in overdue:
        site = incident.site or "-"
        result.per_site[site] = result.per_site.get(site, 0.0) + 1
        hours = (context.now - incident.opened_at) / 3600
        result.details.append(f"{incident.id} ({incident.severity}, {site}): open {hours:.1f} h")
    result.failing_sites = sorted(site for site, count in result.per_site.items()
                                  if not check.passes(count))
    return result


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


KINDS: dict[str, Measure] = {
    "silent_sources": silent_sources,
    "retention": retention,
    "failed_login_ratio": failed_login_ratio,
    "open_critical_incidents": open_critical_incidents,
    "clock_skew": clock_skew,
    "default_accounts": default_accounts,
    "rule_coverage": rule_coverage,
    "log_integrity": log_integrity,
}
