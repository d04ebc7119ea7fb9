"""Gather what a report shows from the store, the inventory and the compliance history.

Counting is done by the store (``Store.aggregate_events`` / ``aggregate_alerts``: GROUP BY on
SQLite, aggregations on Elasticsearch), so a month of events never passes through Python.
A ward is an event's site label (``labels.site``, set by the inventory enricher); events
without one are counted under None ("no site"). Days are local days of the report's time
zone, whose UTC offset at the start of the period is used for the whole period.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from siem import event as ecs
from siem.alert import LEVELS
from siem.compliance.history import HISTORY_FILE
from siem.enrich.inventory import Asset, Inventory
from siem.errors import StoreError
from siem.incidents.model import CLOSED_STATUSES, OPEN_STATUSES, RESOLVED
from siem.store.base import AlertAggregation, EventAggregation, EventQuery, IncidentQuery, Store

#: Days each ``--period`` covers.
PERIOD_DAYS = {"week": 7, "month": 30}
#: Fields that name the device an event came from (as the silent-sources check matches them).
_DEVICE_FIELDS = ("labels.asset_name", ecs.HOST_NAME, ecs.OBSERVER_HOSTNAME, ecs.OBSERVER_IP)
#: Most incidents read for the incident section.
_INCIDENT_LIMIT = 100000


@dataclass(frozen=True, slots=True)
class Ward:
    """A site shown in the report: its id and its name in the report's language."""

    id: str | None
    name: str


@dataclass(frozen=True, slots=True)
class DayCount:
    """Events of one ward on one local day (``day`` is the ISO date)."""

    day: str
    site: str | None
    events: int


@dataclass(frozen=True, slots=True)
class SeverityCount:
    """Alerts of one severity in one ward, and the matches folded into them."""

    site: str | None
    level: str
    alerts: int
    matches: int


@dataclass(frozen=True, slots=True)
class RuleCount:
    """A rule that raised alerts in the period."""

    rule_id: str
    title: str
    alerts: int
    matches: int


@dataclass(frozen=True, slots=True)
class Talker:
    """A source address with many events."""

    address: str
    events: int


@dataclass(frozen=True, slots=True)
class SilentSource:
    """A device expected to log that sent nothing for ``silent_hours`` before the end."""

    site: str
    name: str
    ip: str
    type: str | None
    last_seen: float | None


@dataclass(frozen=True, slots=True)
class ComplianceScan:
    """Passed and failed checks of one ward (or the whole city: site None) in one scan."""

    at: float
    site: str | None
    passed: int
    failed: int


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An incident still open at the end of the period."""

    id: str
    title: str
    severity: str
    status: str
    site: str | None
    opened_at: float
    age_hours: float


@dataclass(frozen=True, slots=True)
class ResolveTimes:
    """Incidents of one severity resolved in the period and how long they took (hours)."""

    severity: str
    resolved: int
    median_hours: float
    mean_hours: float
    max_hours: float


@dataclass(frozen=True, slots=True)
class SealHead:
    """The store's newest integrity seal when the report was made (``siem verify --anchor`` format)."""

    seal: int
    #: The SHA-256 chain value at that seal, in hex.
    chain: str
    sealed_at: float | None

    def anchor_json(self) -> str:
        """The head as the one-line JSON that ``siem verify --anchor FILE`` reads."""
        return json.dumps({"seal": self.seal, "chain": self.chain, "sealed_at": self.sealed_at})


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything one report shows; every renderer (HTML, Markdown, JSON) reads only this."""

    period: str
    start: float
    end: float
    generated_at: float
    timezone: str
    language: str
    wards: tuple[Ward, ...]
    #: ISO dates of the period's local days, oldest first.
    days: tuple[str, ...]
    #: Start (epoch seconds) of each day in ``days``.
    day_starts: tuple[float, ...]
    events_total: int
    events_per_day: tuple[DayCount, ...]
    alerts_total: int
    alerts_by_severity: tuple[SeverityCount, ...]
    top_rules: tuple[RuleCount, ...]
    top_talkers: tuple[Talker, ...]
    silent_hours: float
    silent_sources: tuple[SilentSource, ...]
    #: Expected devices in the inventory (0 without an inventory).
    expected_sources: int
    #: The compliance profile whose scans are shown (None: scans without a profile).
    compliance_profile: str | None
    compliance: tuple[ComplianceScan, ...]
    open_incidents: tuple[OpenIncident, ...]
    resolve_times: tuple[ResolveTimes, ...]
    #: The integrity seal head when the report was made (None: the store seals nothing yet).
    seal_head: SealHead | None = None

    def ward_name(self, site: str | None) -> str:
        """The display name of a site id."""
        for ward in self.wards:
            if ward.id == site:
                return ward.name
        return site or "-"


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What to report on."""

    period: str = "week"
    #: End of the period (epoch seconds); the period is the ``PERIOD_DAYS`` local days up to it.
    end: float = 0.0
    timezone: str = "UTC"
    language: str = "en"
    top: int = 10
    silent_hours: float = 24.0
    #: Name shown for events without a site.
    no_site: str = "-"
    #: Compliance scans of this profile; None: the profile of the newest scan.
    profile: str | None = None


def period_bounds(period: str, end: float, timezone: str) -> tuple[float, list[float]]:
    """Start of the period and the start of each of its local days (the last holds ``end``)."""
    if period not in PERIOD_DAYS:
        raise ValueError(f"period must be one of {', '.join(PERIOD_DAYS)}, not {period!r}")
    zone = ZoneInfo(timezone)
    last = datetime.fromtimestamp(end, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    if last.timestamp() == end:  # ``end`` at midnight: the period is the whole days before it
        last -= timedelta(days=1)
    days = [(last - timedelta(days=back)) for back in range(PERIOD_DAYS[period] - 1, -1, -1)]
    starts = [day.timestamp() for day in days]
    return starts[0], starts


def collect(store: Store, request: ReportRequest, *, inventory: Inventory | None = None,
            data_path: Path | None = None, now: float | None = None) -> ReportData:
    """Read the report's data for the period ending at ``request.end``."""
    start, day_starts = period_bounds(request.period, request.end, request.timezone)
    end = request.end
    zone = ZoneInfo(request.timezone)
    offset = -(datetime.fromtimestamp(start, zone).utcoffset() or timedelta()).total_seconds()
    window = EventQuery(since=start, until=end)
    per_day = store.aggregate_events(EventAggregation(
        query=window, group_by=(ecs.LABEL_SITE,), interval=86400.0, offset=offset))
    days = [datetime.fromtimestamp(moment, zone).date().isoformat() for moment in day_starts]
    events_per_day = tuple(sorted(
        (DayCount(datetime.fromtimestamp(bucket.start or start, zone).date().isoformat(),
                  bucket.keys[0], bucket.count) for bucket in per_day),
        key=lambda item: (item.day, item.site or ""),
    ))
    severity = store.aggregate_alerts(AlertAggregation(since=start, until=end, group_by=("site", "level")))
    alerts_by_severity = tuple(
        SeverityCount(bucket.keys[0], bucket.keys[1] or "informational", bucket.count, bucket.matches)
        for bucket in severity
    )
    rules = store.aggregate_alerts(AlertAggregation(
        since=start, until=end, group_by=("rule_id", "rule_title"), top=request.top))
    talkers = store.aggregate_events(EventAggregation(query=window, group_by=(ecs.SOURCE_IP,), top=request.top))
    moment = end if now is None else now
    sites_seen = {item.site for item in events_per_day} | {item.site for item in alerts_by_severity}
    incidents = _incidents(store, start, end, moment)
    profile, compliance = (_compliance(data_path, start, end, inventory, request.profile)
                           if data_path is not None else (request.profile, ()))
    return ReportData(
        period=request.period,
        start=start,
        end=end,
        generated_at=moment,
        timezone=request.timezone,
        language=request.language,
        wards=_wards(inventory, sites_seen | {scan.site for scan in compliance if scan.site},
                     request.language, request.no_site),
        days=tuple(days),
        day_starts=tuple(day_starts),
        events_total=sum(item.events for item in events_per_day),
        events_per_day=events_per_day,
        alerts_total=sum(item.alerts for item in alerts_by_severity),
        alerts_by_severity=alerts_by_severity,
        top_rules=tuple(RuleCount(b.keys[0] or "-", b.keys[1] or "-", b.count, b.matches) for b in rules),
        top_talkers=tuple(Talker(b.keys[0] or "-", b.count) for b in talkers),
        silent_hours=request.silent_hours,
        silent_sources=_silent(store, inventory, start, end, request.silent_hours),
        expected_sources=sum(asset.expected_to_log for asset in inventory.assets) if inventory else 0,
        compliance_profile=profile,
        compliance=compliance,
        open_incidents=incidents[0],
        resolve_times=incidents[1],
        seal_head=seal_head(store),
    )


def seal_head(store: Store) -> SealHead | None:
    """The store's newest seal (cheap: nothing is verified); None when the store seals nothing."""
    from siem.integrity.verify import current_head

    head = current_head(store)
    return None if head is None else SealHead(head.seal, head.chain.hex(), head.sealed_at)


def _wards(inventory: Inventory | None, seen: set[str | None], language: str, no_site: str) -> tuple[Ward, ...]:
    """Inventory sites in file order, then other sites seen (sorted), then "no site" if seen."""
    wards: list[Ward] = []
    known: set[str] = set()
    if inventory is not None:
        for site in inventory.sites.values():
            wards.append(Ward(site.id, site.name_vi if language == "vi" else site.name_en))
            known.add(site.id)
    wards += [Ward(site, site) for site in sorted(site for site in seen if site and site not in known)]
    if None in seen:
        wards.append(Ward(None, no_site))
    return tuple(wards)


def _silent(store: Store, inventory: Inventory | None, start: float, end: float,
            silent_hours: float) -> tuple[SilentSource, ...]:
    """Expected devices whose newest event in the period is older than ``silent_hours``."""
    if inventory is None:
        return ()
    expected = [asset for asset in inventory.assets if asset.expected_to_log]
    if not expected:
        return ()
    latest: dict[tuple[str, str], float] = {}
    # One pass over the period: the groups are the few combinations the devices send.
    aggregation = EventAggregation(query=EventQuery(since=start, until=end), group_by=_DEVICE_FIELDS, latest=True)
    for bucket in store.aggregate_events(aggregation):
        if bucket.latest is None:
            continue
        for name, value in zip(_DEVICE_FIELDS, bucket.keys, strict=True):
            if value is not None:
                latest[(name, value)] = max(latest.get((name, value), 0.0), bucket.latest)
    found: list[SilentSource] = []
    for asset in expected:
        seen = _last_seen(asset, latest)
        if seen is None or end - seen > silent_hours * 3600:
            found.append(SilentSource(asset.site, asset.name, asset.ip, asset.type, seen))
    return tuple(sorted(found, key=lambda item: (item.site, item.name)))


def _last_seen(asset: Asset, latest: dict[tuple[str, str], float]) -> float | None:
    times = [latest.get((name, asset.ip if name == ecs.OBSERVER_IP else asset.name)) for name in _DEVICE_FIELDS]
    present = [moment for moment in times if moment is not None]
    return max(present) if present else None


def _incidents(store: Store, start: float, end: float,
               now: float) -> tuple[tuple[OpenIncident, ...], tuple[ResolveTimes, ...]]:
    """Incidents open now (most severe, then oldest first) and resolve times in the period."""
    opened = store.find_incidents(IncidentQuery(statuses=OPEN_STATUSES, limit=_INCIDENT_LIMIT))
    still_open = tuple(
        OpenIncident(item.id, item.title, item.severity, item.status, item.site, item.opened_at,
                     max(0.0, (now - item.opened_at) / 3600))
        for item in opened
    )
    closed = store.find_incidents(IncidentQuery(statuses=CLOSED_STATUSES, since=start, limit=_INCIDENT_LIMIT))
    hours: dict[str, list[float]] = {}
    for item in closed:
        if item.status != RESOLVED or item.resolved_at is None or not start <= item.resolved_at <= end:
            continue
        hours.setdefault(item.severity, []).append(max(0.0, (item.resolved_at - item.opened_at) / 3600))
    times = tuple(
        ResolveTimes(level, len(hours[level]), statistics.median(hours[level]), statistics.fmean(hours[level]),
                     max(hours[level]))
        for level in reversed(LEVELS)
        if level in hours
    )
    return still_open, times


def _compliance(data_path: Path, start: float, end: float, inventory: Inventory | None,
                profile: str | None) -> tuple[str | None, tuple[ComplianceScan, ...]]:
    """The profile shown and the passed/failed checks per ward for each of its scans in the
    period (and the last one before it, as the starting point of the trend). Scans of other
    profiles are left out: their check sets differ, so their pass rates do not compare.

    A scan of one site (``siem scan --site``) counts for that site. A city-wide scan counts
    for the city (site None) and, where its history lists failing sites per check, for each
    inventory ward: a check fails for a ward when the ward is among its failing sites.
    """
    path = data_path / HISTORY_FILE
    if not path.exists():
        return profile, ()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read scan history: {exc}", path=path) from exc
    entries: list[dict[str, Any]] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("results"), dict) and isinstance(
                entry.get("at"), int | float) and entry["at"] <= end:
            entries.append(entry)
    entries.sort(key=lambda entry: float(entry["at"]))
    if profile is None and entries:
        newest = entries[-1].get("profile")
        profile = newest if isinstance(newest, str) else None
    entries = [entry for entry in entries if entry.get("profile") == profile]
    before = [entry for entry in entries if entry["at"] < start]
    chosen = ([before[-1]] if before else []) + [entry for entry in entries if entry["at"] >= start]
    wards = [site.id for site in inventory.sites.values()] if inventory is not None else []
    scans: list[ComplianceScan] = []
    for entry in chosen:
        scans.extend(_scan_points(entry, wards))
    return profile, tuple(scans)


def _scan_points(entry: dict[str, Any], wards: Sequence[str]) -> list[ComplianceScan]:
    results = [item for item in entry["results"].values() if isinstance(item, dict)]
    at = float(entry["at"])
    failed = sum(item.get("status") != "pass" for item in results)
    site = entry.get("site")
    points = [ComplianceScan(at, site if isinstance(site, str) else None, len(results) - failed, failed)]
    if site is None and any("failing_sites" in item for item in results):
        for ward in wards:
            ward_failed = sum(ward in (item.get("failing_sites") or []) for item in results)
            points.append(ComplianceScan(at, ward, len(results) - ward_failed, ward_failed))
    return points
