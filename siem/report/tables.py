"""The report's sections as tables of text, shared by the HTML and Markdown renderers.

Labels go through ``_()`` in the current language (``siem.i18n.set_language``); numbers and
dates through :class:`~siem.report.formatting.Formatter`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from siem.alert import LEVELS
from siem.i18n import gettext as _
from siem.report.collect import ComplianceScan, ReportData
from siem.report.formatting import Formatter


@dataclass(frozen=True, slots=True)
class Table:
    """One table: a caption, column headings, rows of text; ``numeric`` columns align right."""

    key: str
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    #: Shown instead of the table when it has no row.
    empty: str = ""


def severity_label(level: str) -> str:
    """The translated name of an alert level."""
    names = {"informational": _("informational"), "low": _("low"), "medium": _("medium"),
             "high": _("high"), "critical": _("critical")}
    return names.get(level, level)


def status_label(status: str) -> str:
    """The translated name of an incident status."""
    names = {"new": _("new"), "acknowledged": _("acknowledged"), "investigating": _("investigating"),
             "resolved": _("resolved"), "false_positive": _("false positive")}
    return names.get(status, status)


def title(data: ReportData, fmt: Formatter) -> str:
    """The report's heading: kind and period."""
    kind = _("Weekly security report") if data.period == "week" else _("Monthly security report")
    return f"{kind}: {fmt.date(data.start)} – {fmt.date(data.day_starts[-1])}"


def seal_head(data: ReportData, fmt: Formatter) -> tuple[str, str]:
    """The integrity seal head line and the sentence saying to record it off this machine."""
    head = data.seal_head
    if head is None:
        return (_("Seal head: none (the store has sealed nothing yet, or keeps no seals)"),
                _("Without seals, 'siem verify' cannot prove that stored events were not altered."))
    line = _("Seal head: #{seal} sha256:{chain} (sealed {when})").format(
        seal=head.seal, chain=head.chain, when=fmt.datetime(head.sealed_at))
    advice = _("Record this seal head somewhere other than this machine (keep this e-mail or print it): "
               "'siem verify --anchor FILE', with FILE holding {anchor}, then proves that no event stored "
               "up to it was altered or removed.").format(anchor=head.anchor_json())
    return line, advice


def events_by_ward(data: ReportData) -> dict[str | None, dict[str, int]]:
    """Events per ward per ISO day."""
    found: dict[str | None, dict[str, int]] = defaultdict(dict)
    for item in data.events_per_day:
        found[item.site][item.day] = found[item.site].get(item.day, 0) + item.events
    return found


def alerts_by_ward(data: ReportData) -> dict[str | None, dict[str, int]]:
    """Alerts per ward per level."""
    found: dict[str | None, dict[str, int]] = defaultdict(dict)
    for item in data.alerts_by_severity:
        found[item.site][item.level] = found[item.site].get(item.level, 0) + item.alerts
    return found


def latest_compliance(data: ReportData) -> dict[str | None, ComplianceScan]:
    """The newest scan point of each ward (and of the city, key None)."""
    latest: dict[str | None, ComplianceScan] = {}
    for scan in sorted(data.compliance, key=lambda item: item.at):
        latest[scan.site] = scan
    return latest


def first_compliance(data: ReportData) -> dict[str | None, ComplianceScan]:
    """The oldest scan point of each ward in the report (the start of its trend)."""
    first: dict[str | None, ComplianceScan] = {}
    for scan in sorted(data.compliance, key=lambda item: item.at, reverse=True):
        first[scan.site] = scan
    return first


def pass_ratio(scan: ComplianceScan) -> float:
    """Share of checks passed in one scan point (0 when it ran none)."""
    total = scan.passed + scan.failed
    return scan.passed / total if total else 0.0


def summary(data: ReportData, fmt: Formatter) -> list[tuple[str, str]]:
    """Headline figures: (label, value)."""
    city = latest_compliance(data).get(None)
    return [
        (_("Events"), fmt.number(data.events_total)),
        (_("Alerts"), fmt.number(data.alerts_total)),
        (_("Open incidents"), fmt.number(len(data.open_incidents))),
        (_("Silent sources"), fmt.number(len(data.silent_sources))),
        (_("Compliance checks passed"), fmt.percent(pass_ratio(city)) if city else "-"),
    ]


def tables(data: ReportData, fmt: Formatter) -> list[Table]:
    """Every table of the report, in the order shown."""
    return [_events(data, fmt), _alerts(data, fmt), _rules(data, fmt), _talkers(data, fmt),
            _silent(data, fmt), _compliance(data, fmt), _open_incidents(data, fmt), _resolve(data, fmt)]


def _events(data: ReportData, fmt: Formatter) -> Table:
    per_ward = events_by_ward(data)
    rows = []
    for ward in data.wards:
        days = per_ward.get(ward.id, {})
        total = sum(days.values())
        if not total:
            continue
        busiest = max(days, key=lambda day: (days[day], day))
        share = total / data.events_total if data.events_total else 0.0
        rows.append((ward.name, fmt.number(total), fmt.percent(share), fmt.number(total / len(data.days), 1),
                     f"{fmt.day(data.day_starts[data.days.index(busiest)])} ({fmt.number(days[busiest])})"
                     if busiest in data.days else busiest))
    return Table("events", _("Events per ward"),
                 (_("Ward"), _("Events"), _("Share"), _("Per day"), _("Busiest day")),
                 tuple(rows), (False, True, True, True, False), _("No events in this period."))


def _alerts(data: ReportData, fmt: Formatter) -> Table:
    per_ward = alerts_by_ward(data)
    levels = list(reversed(LEVELS))
    rows = []
    for ward in data.wards:
        counts = per_ward.get(ward.id, {})
        if not counts:
            continue
        rows.append((ward.name, *(fmt.number(counts.get(level, 0)) for level in levels),
                     fmt.number(sum(counts.values()))))
    return Table("alerts", _("Alerts by severity per ward"),
                 (_("Ward"), *(severity_label(level) for level in levels), _("Total")),
                 tuple(rows), (False, *([True] * (len(levels) + 1))), _("No alerts in this period."))


def _rules(data: ReportData, fmt: Formatter) -> Table:
    rows = tuple((item.title, item.rule_id, fmt.number(item.alerts), fmt.number(item.matches))
                 for item in data.top_rules)
    return Table("rules", _("Top rules"), (_("Rule"), _("Rule id"), _("Alerts"), _("Matches")), rows,
                 (False, False, True, True), _("No alerts in this period."))


def _talkers(data: ReportData, fmt: Formatter) -> Table:
    share = data.events_total or 1
    rows = tuple((item.address, fmt.number(item.events), fmt.percent(item.events / share))
                 for item in data.top_talkers)
    return Table("talkers", _("Top talkers (source addresses)"), (_("Address"), _("Events"), _("Share")), rows,
                 (False, True, True), _("No events with a source address in this period."))


def _silent(data: ReportData, fmt: Formatter) -> Table:
    rows = tuple((data.ward_name(item.site), item.name, item.ip, item.type or "-",
                  fmt.datetime(item.last_seen) if item.last_seen is not None else _("not in this period"))
                 for item in data.silent_sources)
    empty = (_("Every expected source sent logs.") if data.expected_sources
             else _("No asset inventory: silent sources are not known."))
    return Table("silent", _("Silent sources"), (_("Ward"), _("Device"), _("Address"), _("Type"), _("Last event")),
                 rows, (False, False, False, False, False), empty)


def _compliance(data: ReportData, fmt: Formatter) -> Table:
    latest = latest_compliance(data)
    first = first_compliance(data)
    rows = []
    for site, name in [(None, _("Whole city")), *((ward.id, ward.name) for ward in data.wards if ward.id)]:
        scan = latest.get(site)
        if scan is None:
            continue
        change = (pass_ratio(scan) - pass_ratio(first[site])) * 100
        trend = "=" if abs(change) < 0.5 else f"{'+' if change > 0 else '−'}{fmt.number(abs(change))}%"
        rows.append((name, fmt.number(scan.passed), fmt.number(scan.failed), fmt.percent(pass_ratio(scan)),
                     trend, fmt.datetime(scan.at)))
    caption = _("Compliance per ward")
    if data.compliance_profile:
        caption = f"{caption} ({data.compliance_profile})"
    return Table("compliance", caption,
                 (_("Ward"), _("Passed"), _("Failed"), _("Pass rate"), _("Change in period"), _("Last scan")),
                 tuple(rows), (False, True, True, True, True, False), _("No compliance scan yet: run 'siem scan'."))


def _open_incidents(data: ReportData, fmt: Formatter) -> Table:
    rows = tuple((item.id, item.title, severity_label(item.severity), data.ward_name(item.site),
                  status_label(item.status), fmt.hours(item.age_hours))
                 for item in data.open_incidents)
    return Table("incidents", _("Open incidents"),
                 (_("Incident"), _("Title"), _("Severity"), _("Ward"), _("Status"), _("Open for")),
                 rows, (False, False, False, False, False, True), _("No open incidents."))


def _resolve(data: ReportData, fmt: Formatter) -> Table:
    rows = tuple((severity_label(item.severity), fmt.number(item.resolved), fmt.hours(item.median_hours),
                  fmt.hours(item.mean_hours), fmt.hours(item.max_hours))
                 for item in data.resolve_times)
    return Table("resolve", _("Time to resolve"),
                 (_("Severity"), _("Resolved"), _("Median"), _("Mean"), _("Longest")),
                 rows, (False, True, True, True, True), _("No incident resolved in this period."))
