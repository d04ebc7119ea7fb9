"""Example city data for report tests and the screenshot in docs/report.png.

A week of events from the devices of ``examples/inventory.yaml`` (the city centre and nine
wards), alerts, incidents and compliance scans, all made up but shaped like the real thing:
some cameras are silent, ward 5 has a brute-force week, compliance improves after fixes.
Deterministic (a seeded generator), so tests can recount what was written.

Run ``python -m tests.report.city DIR`` to build a data directory (store, scan history,
siem.yaml) there and print the command that renders its report.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from siem import event as ecs
from siem.alert import Alert
from siem.compliance import history
from siem.compliance.model import FAIL, PASS, Check, CheckResult, Text
from siem.enrich.inventory import Inventory
from siem.incidents.model import Incident
from siem.store.base import AuditEntry, Store
from tests.conftest import PROJECT_ROOT

INVENTORY = PROJECT_ROOT / "examples" / "inventory.yaml"
TIMEZONE = "Asia/Ho_Chi_Minh"
#: End of the example week: Monday 2026-11-23 00:00 in Hanoi (UTC+7), as epoch seconds.
END = 1795366800.0
DAY = 86400.0
START = END - 7 * DAY
#: Devices that send nothing all week, and one that stops two days before the end.
SILENT = ("ward3-cam-002", "ward7-nvr-01", "ward9-cam-003")
STOPPED = "ward6-cam-001"
RULES = (
    ("ssh-brute-force", "SSH brute force against a ward server", "high"),
    ("camera-default-login", "Camera login with a vendor default account", "critical"),
    ("telnet-to-camera", "Telnet (clear-text management) to a camera", "medium"),
    ("wifi-to-camera-zone", "Public Wi-Fi client reaching the camera zone", "high"),
    ("camera-to-internet", "Camera talking to an internet address", "medium"),
    ("port-scan", "Port scan from one address", "low"),
    ("dns-tunnel", "Long DNS names (possible tunnel)", "low"),
)
CHECKS = ("silent-sources", "retention", "clock-skew", "clear-text-management", "default-accounts",
          "camera-internet", "wifi-isolation", "failed-login-ratio", "open-critical-incidents", "rule-coverage")


@dataclass
class City:
    """What was written, for tests to recount."""

    events: list[ecs.Event] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    scans: list[tuple[float, list[CheckResult]]] = field(default_factory=list)

    def events_per_site(self) -> Counter[str | None]:
        return Counter(event.get(ecs.LABEL_SITE) for event in self.events)


def build(store: Store, data_path: Path, *, per_device: int = 6, seed: int = 7) -> City:
    """Fill ``store`` (and the scan history in ``data_path``) with the example week."""
    rng = random.Random(seed)
    inventory = Inventory.load(INVENTORY)
    city = City()
    for day in range(7):
        for asset in inventory.assets:
            if asset.name in SILENT or (asset.name == STOPPED and day >= 5):
                continue
            busy = 3 if asset.type == "firewall" else 1
            if asset.site == "ward-5" and asset.type == "firewall" and day in (3, 4):
                busy = 12  # the brute-force days
            for number in range(rng.randint(per_device, per_device * 2) * busy):
                at = START + day * DAY + rng.uniform(0, DAY - 1)
                talker = _talker(rng, asset.site, attack=busy == 12 and number % 4 != 0)
                city.events.append({
                    ecs.ID: f"{asset.name}-{day}-{number}",
                    ecs.TIMESTAMP: ecs.format_timestamp(at),
                    ecs.DATASET: {"firewall": "fortinet.firewall", "camera": "camera.syslog",
                                  "nvr": "camera.syslog"}.get(asset.type or "", "linux.auth"),
                    ecs.OBSERVER_HOSTNAME: asset.name,
                    ecs.SOURCE_IP: talker,
                    ecs.DESTINATION_IP: asset.ip,
                    ecs.LABEL_SITE: asset.site,
                    ecs.ORIGINAL: f"example event {number} from {asset.name}",
                })
    # A few events no inventory entry matched (no site label).
    for number in range(5):
        city.events.append({ecs.ID: f"unlabelled-{number}",
                            ecs.TIMESTAMP: ecs.format_timestamp(START + number * DAY + 60),
                            ecs.DATASET: "unknown", ecs.SOURCE_IP: "192.0.2.77"})
    for start in range(0, len(city.events), 2000):
        store.write(city.events[start : start + 2000])
    _alerts(store, city, inventory, rng)
    _incidents(store, city, rng)
    _scans(data_path, city, inventory)
    return city


def _talker(rng: random.Random, site: str, *, attack: bool) -> str:
    """A source address: mostly the ward's own office hosts, a few outside ones, the attacker."""
    if attack:
        return "203.0.113.9"
    ward = site[-1] if site[-1].isdigit() else "0"
    pool = [f"10.{ward}.16.{host}" for host in range(10, 30)] + ["198.51.100.23", "192.0.2.45", "203.0.113.77"]
    return rng.choices(pool, weights=[1 / (rank + 1) for rank in range(len(pool))])[0]


def _alerts(store: Store, city: City, inventory: Inventory, rng: random.Random) -> None:
    sites = list(inventory.sites)
    for number in range(60):
        rule_id, title, level = RULES[min(int(rng.expovariate(0.6)), len(RULES) - 1)]
        site = "ward-5" if rule_id == "ssh-brute-force" and number % 2 else rng.choice(sites)
        first = START + rng.uniform(0, 7 * DAY - 3600)
        city.alerts.append(Alert(
            id=f"alert-{number:03d}", rule_id=rule_id, rule_title=title, level=level, first_seen=first,
            last_seen=first + rng.uniform(0, 3000), event_ids=(f"ev-{number}",), matched_fields={},
            site=site, count=rng.randint(1, 40), group_key=f"g{number}"))
    # Outside the week: not counted.
    city.alerts.append(Alert(id="alert-old", rule_id="port-scan", rule_title="Port scan from one address",
                             level="low", first_seen=START - 9 * DAY, last_seen=START - 8 * DAY,
                             event_ids=("ev-old",), matched_fields={}, site="ward-1", count=5, group_key="old"))
    store.write_alerts(city.alerts)


def _incidents(store: Store, city: City, rng: random.Random) -> None:
    audit = AuditEntry("report-test", "create", "-", None, None)
    plan = [("critical", "ward-5", 2.5), ("high", "ward-5", 9.0), ("high", "ward-2", 30.0), ("medium", "ward-8", 50.0),
            ("high", "city-centre", 4.0), ("critical", "ward-3", None), ("high", "ward-7", None),
            ("medium", "ward-1", None), ("low", "ward-9", None)]
    for number, (severity, site, hours) in enumerate(plan):
        opened = START + DAY * (1 + number * 0.6)
        resolved = opened + hours * 3600 if hours is not None else None
        matching = [rule for rule in RULES if rule[2] == severity]
        rule_id, rule_title, _level = matching[number % len(matching)]
        incident = Incident(
            id=f"INC-{number + 1:08X}", title=f"{rule_title} ({site})",
            status="resolved" if resolved else ("new" if number % 2 else "investigating"), severity=severity,
            created_at=opened, updated_at=resolved or opened, opened_at=opened, site=site,
            rule_id=rule_id, entity=f"source.ip=203.0.113.{number}", resolved_at=resolved)
        store.insert_incident(incident, alert_ids=(), audit=audit)
        city.incidents.append(incident)


def _scans(data_path: Path, city: City, inventory: Inventory) -> None:
    """A scan each day; failures shrink as wards fix things (ward 3's camera stays silent)."""
    for day in range(7):
        at = START + day * DAY + 6 * 3600
        results = []
        for number, ident in enumerate(CHECKS):
            failing = _failing(ident, day, list(inventory.sites))
            check = Check(id=ident, title=Text(ident, ident), description="", severity="high", kind="query",
                          remediation=Text("-", "-"), path=f"{ident}.yml")
            status = FAIL if failing or (ident == "retention" and day < 2) else PASS
            results.append(CheckResult(check, status, value=float(len(failing) + number), failing_sites=failing))
        history.record(data_path, at=at, profile="cis-v8", site=None, results=results)
        city.scans.append((at, results))


def _failing(check: str, day: int, sites: list[str]) -> list[str]:
    table = {
        "silent-sources": ["ward-3", "ward-7", "ward-9"] if day < 4 else ["ward-3", "ward-7"],
        "clear-text-management": ["ward-2", "ward-4", "ward-6"][: max(0, 3 - day // 2)],
        "default-accounts": ["ward-5", "ward-8"] if day < 5 else ["ward-5"],
        "failed-login-ratio": ["ward-5"] if 2 <= day <= 4 else [],
        "wifi-isolation": ["ward-1"] if day < 3 else [],
    }
    return [site for site in table.get(check, []) if site in sites]


def main(argv: list[str]) -> int:
    """Build the example data directory named on the command line."""
    from siem.config import Config
    from siem.store.factory import open_store

    if len(argv) != 1:
        print("usage: python -m tests.report.city DATA_DIR", file=sys.stderr)
        return 2
    data_path = Path(argv[0]).resolve()
    data_path.mkdir(parents=True, exist_ok=True)
    store = open_store(Config(), data_path)
    try:
        city = build(store, data_path, per_device=40)
    finally:
        store.close()
    config = data_path / "siem.yaml"
    config.write_text(f"inventory: {INVENTORY}\nemail:\n  timezone: {TIMEZONE}\n", encoding="utf-8")
    print(f"{len(city.events)} events, {len(city.alerts)} alerts, {len(city.incidents)} incidents")
    print(f"siem --config {config} --data-dir {data_path} report --end 2026-11-23T00:00+07:00 --output report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
