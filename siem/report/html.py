"""The self-contained HTML report: one file, inline CSS, inline SVG charts, no script, no URL.

Rendered from ``templates/report.html`` with jinja2 (autoescaped: rule titles and device
names come from the network); only the charts, built by :mod:`siem.report.charts` with their
text escaped, are inserted as markup.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup

from siem.alert import LEVELS
from siem.i18n import gettext as _
from siem.report import charts, tables
from siem.report.charts import Series
from siem.report.collect import ReportData
from siem.report.formatting import Formatter

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
PASS_COLOUR = "#2E7D32"
FAIL_COLOUR = "#C62828"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(data: ReportData) -> str:
    """The whole HTML document for ``data`` in the current language."""
    fmt = Formatter(data.language, data.timezone)
    sections = tables.tables(data, fmt)
    chart_of = _charts(data, fmt)
    seal_head, seal_advice = tables.seal_head(data, fmt)
    context = {
        "lang": data.language,
        "title": tables.title(data, fmt),
        "subtitle": _("Generated {when} ({zone}) by siem").format(
            when=fmt.datetime(data.generated_at), zone=data.timezone),
        "summary": tables.summary(data, fmt),
        "sections": [(table, [Markup(svg) for svg in chart_of.get(table.key, [])]) for table in sections],
        "footer": _("Figures come from the siem store; each chart shows the numbers of the table below it."),
        "seal_head": seal_head,
        "seal_advice": seal_advice,
    }
    return _environment().get_template("report.html").render(context)


def _charts(data: ReportData, fmt: Formatter) -> dict[str, list[str]]:
    def whole(value: float) -> str:
        return fmt.number(value)

    found: dict[str, list[str]] = {}
    per_ward = tables.events_by_ward(data)
    wards = [ward for ward in data.wards if per_ward.get(ward.id)]
    if wards:
        series = [Series(ward.name, tuple(float(per_ward[ward.id].get(day, 0)) for day in data.days),
                         charts.colour(index)) for index, ward in enumerate(wards)]
        found["events"] = [charts.stacked_columns(
            "chart-events", _("Events per day per ward"),
            _("Stacked columns: events per day, split by ward; the table below gives the totals."),
            [fmt.day(moment) for moment in data.day_starts], series, value_text=whole)]
    alerts = tables.alerts_by_ward(data)
    alert_wards = [ward for ward in data.wards if alerts.get(ward.id)]
    if alert_wards:
        series = [Series(tables.severity_label(level),
                         tuple(float(alerts[ward.id].get(level, 0)) for ward in alert_wards),
                         charts.SEVERITY_COLOURS[level]) for level in reversed(LEVELS)]
        found["alerts"] = [charts.stacked_bars(
            "chart-alerts", _("Alerts by severity per ward"),
            _("Stacked bars: alerts per ward, split by severity."),
            [ward.name for ward in alert_wards], series, value_text=whole)]
    if data.top_rules:
        found["rules"] = [charts.bar_chart(
            "chart-rules", _("Top rules"), _("Bars: alerts raised by each rule."),
            [item.title for item in data.top_rules], [float(item.alerts) for item in data.top_rules],
            colour_of=charts.PALETTE[7], value_text=whole)]
    if data.top_talkers:
        found["talkers"] = [charts.bar_chart(
            "chart-talkers", _("Top talkers (source addresses)"), _("Bars: events sent from each address."),
            [item.address for item in data.top_talkers], [float(item.events) for item in data.top_talkers],
            colour_of=charts.PALETTE[10], value_text=whole)]
    if data.silent_sources:
        counts: dict[str, int] = {}
        for item in data.silent_sources:
            counts[item.site] = counts.get(item.site, 0) + 1
        names = [ward for ward in data.wards if ward.id in counts]
        found["silent"] = [charts.bar_chart(
            "chart-silent", _("Silent sources per ward"), _("Bars: devices expected to log that sent nothing."),
            [ward.name for ward in names], [float(counts[str(ward.id)]) for ward in names],
            colour_of=charts.PALETTE[6], value_text=whole)]
    found["compliance"] = _compliance_charts(data, fmt)
    if data.resolve_times:
        found["resolve"] = [charts.bar_chart(
            "chart-resolve", _("Median time to resolve"),
            _("Bars: median hours from opening to resolving, by severity."),
            [tables.severity_label(item.severity) for item in data.resolve_times],
            [item.median_hours for item in data.resolve_times], colour_of=charts.PALETTE[2],
            value_text=fmt.in_hours, whole=False)]
    return found


def _compliance_charts(data: ReportData, fmt: Formatter) -> list[str]:
    latest = tables.latest_compliance(data)
    rows = [(None, _("Whole city")), *((ward.id, ward.name) for ward in data.wards if ward.id)]
    rows = [(site, name) for site, name in rows if site in latest]
    if not rows:
        return []
    found = [charts.stacked_bars(
        "chart-compliance", _("Compliance checks per ward (latest scan)"),
        _("Stacked bars: checks passed and failed in each ward's latest scan."),
        [name for _site, name in rows],
        [Series(_("Passed"), tuple(float(latest[site].passed) for site, _name in rows), PASS_COLOUR),
         Series(_("Failed"), tuple(float(latest[site].failed) for site, _name in rows), FAIL_COLOUR)],
        value_text=fmt.number)]
    moments = sorted({scan.at for scan in data.compliance})
    if len(moments) > 1:
        ratio = {(scan.site, scan.at): tables.pass_ratio(scan) * 100 for scan in data.compliance}
        series = [Series(name, tuple(ratio.get((site, at), math.nan) for at in moments), charts.colour(index))
                  for index, (site, name) in enumerate(rows)]
        found.append(charts.line_chart(
            "chart-compliance-trend", _("Compliance trend (share of checks passed)"),
            _("Lines: percentage of checks passed in each scan, per ward."),
            [fmt.day(at) for at in moments], series, axis_max=100.0,
            value_text=lambda value: f"{fmt.number(value)}%"))
    return found
