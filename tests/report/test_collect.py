"""The report's numbers, recounted from what tests/report/city.py wrote into a real store."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from siem import event as ecs
from siem.compliance import history
from siem.enrich.inventory import Inventory
from siem.incidents.model import OPEN_STATUSES
from siem.report import jsondoc
from siem.report.collect import ReportData, ReportRequest, collect, period_bounds
from siem.store.base import Store
from tests.report import city

ZONE = ZoneInfo(city.TIMEZONE)


def _report(store: Store, data_dir: Path, **overrides: object) -> tuple[city.City, ReportData]:
    written = city.build(store, data_dir, per_device=2)
    request = ReportRequest(period="week", end=city.END, timezone=city.TIMEZONE, language="en", top=5,
                            **overrides)  # type: ignore[arg-type]
    data = collect(store, request, inventory=Inventory.load(city.INVENTORY), data_path=data_dir, now=city.END)
    return written, data


def test_period_is_whole_local_days_up_to_the_end() -> None:
    start, days = period_bounds("week", city.END, city.TIMEZONE)
    assert start == city.START and len(days) == 7
    labels = [datetime.fromtimestamp(day, ZONE).strftime("%a %d") for day in days]
    assert labels[0] == "Mon 16" and labels[-1] == "Sun 22"
    # An end in the middle of a day: that day is the last one, partly.
    _, days = period_bounds("month", city.END + 3600, city.TIMEZONE)
    assert len(days) == 30 and days[-1] == city.END
    with pytest.raises(ValueError, match="period"):
        period_bounds("year", city.END, city.TIMEZONE)


def test_json_numbers_match_what_was_written(store: Store, data_dir: Path) -> None:
    written, data = _report(store, data_dir)
    document = json.loads(jsondoc.render(data))
    assert document["schema_version"] == 1
    assert document["events_total"] == len(written.events)
    expected_days: Counter[tuple[str, str | None]] = Counter(
        (datetime.fromtimestamp(ecs.timestamp_ms(event, 0) / 1000, ZONE).date().isoformat(),
         event.get(ecs.LABEL_SITE))
        for event in written.events
    )
    assert {(row["day"], row["site"]): row["events"] for row in document["events_per_day"]} == expected_days
    assert document["days"][0] == "2026-11-16" and document["days"][-1] == "2026-11-22"

    in_week = [alert for alert in written.alerts if alert.last_seen >= city.START]
    expected_alerts = Counter((alert.site, alert.level) for alert in in_week)
    assert {(row["site"], row["level"]): row["alerts"] for row in document["alerts_by_severity"]} == expected_alerts
    assert document["alerts_total"] == len(in_week) == 60
    by_rule = Counter(alert.rule_id for alert in in_week)
    matches = Counter[str]()
    for alert in in_week:
        matches[alert.rule_id] += alert.count
    top = document["top_rules"]
    assert [row["alerts"] for row in top] == sorted(by_rule.values(), reverse=True)[:5]
    assert all(row["matches"] == matches[row["rule_id"]] for row in top)

    talkers = Counter(event.get(ecs.SOURCE_IP) for event in written.events)
    assert [row["events"] for row in document["top_talkers"]] == [count for _, count in talkers.most_common(5)]
    assert document["top_talkers"][0]["address"] == "203.0.113.9"


def test_silent_sources_incidents_and_compliance(store: Store, data_dir: Path) -> None:
    written, data = _report(store, data_dir)
    assert data.expected_sources == 47
    silent = {item.name: item for item in data.silent_sources}
    assert set(silent) == {*city.SILENT, city.STOPPED}
    assert silent["ward3-cam-002"].last_seen is None
    stopped = silent[city.STOPPED].last_seen
    assert stopped is not None and city.START + 4 * city.DAY < stopped < city.START + 5 * city.DAY

    open_ids = [incident.id for incident in written.incidents if incident.status in OPEN_STATUSES]
    assert sorted(item.id for item in data.open_incidents) == sorted(open_ids)
    assert data.open_incidents[0].severity == "critical"
    hours: dict[str, list[float]] = {}
    for incident in written.incidents:
        if incident.resolved_at is not None:
            hours.setdefault(incident.severity, []).append((incident.resolved_at - incident.opened_at) / 3600)
    found = {item.severity: item for item in data.resolve_times}
    assert set(found) == set(hours)
    for level, values in hours.items():
        assert found[level].resolved == len(values)
        assert found[level].median_hours == pytest.approx(statistics.median(values))
        assert found[level].max_hours == pytest.approx(max(values))

    city_points = [scan for scan in data.compliance if scan.site is None]
    assert [(scan.passed, scan.failed) for scan in city_points] == [
        (sum(r.status == "pass" for r in results), sum(r.status != "pass" for r in results))
        for _, results in written.scans
    ]
    ward3 = [scan.failed for scan in data.compliance if scan.site == "ward-3"]
    assert ward3 == [1] * 7  # its silent camera fails every day
    ward2 = [scan.failed for scan in data.compliance if scan.site == "ward-2"]
    assert ward2[0] == 1 and ward2[-1] == 0  # clear-text management fixed during the week


def test_no_inventory_no_history(store: Store, data_dir: Path) -> None:
    city.build(store, data_dir, per_device=1)
    request = ReportRequest(period="week", end=city.END, timezone="UTC", no_site="(none)")
    data = collect(store, request, inventory=None, data_path=data_dir / "elsewhere", now=city.END)
    assert data.silent_sources == () and data.expected_sources == 0 and data.compliance == ()
    # Wards come from the data: the sites seen, then events without a site.
    assert data.wards[-1].id is None and data.wards[-1].name == "(none)"
    assert {ward.id for ward in data.wards[:-1]} >= {"ward-1", "ward-9", "city-centre"}


def test_compliance_shows_one_profile(store: Store, data_dir: Path) -> None:
    written = city.build(store, data_dir, per_device=1)
    _, results = written.scans[0]
    failing = [replace(result, status="fail") for result in results]
    history.record(data_dir, at=city.START + 3.5 * city.DAY, profile="vn-tcvn11930", site=None, results=failing)
    request = ReportRequest(period="week", end=city.END, timezone=city.TIMEZONE)
    newest = collect(store, request, data_path=data_dir, now=city.END)
    assert newest.compliance_profile == "cis-v8"
    assert len(newest.compliance) == 7 and all(scan.passed > 0 for scan in newest.compliance)
    other = collect(store, replace(request, profile="vn-tcvn11930"), data_path=data_dir, now=city.END)
    assert [(scan.passed, scan.failed) for scan in other.compliance] == [(0, len(results))]
