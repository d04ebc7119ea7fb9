"""Figure: seconds the clock-skew, default-accounts and rule-coverage checks take on a SQLite
store of N events (syslog from 500 devices in 10 wards over the last hour, 1% logins, 12
datasets), and how that compares with one plain count over the same window.

Usage::

    .venv/bin/python bench/compliance.py [--events 200000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from siem import event as ecs
from siem.app import PROJECT_ROOT
from siem.compliance.loader import load_checks
from siem.compliance.runner import ScanContext, run_check
from siem.detect.loader import load_rules
from siem.incidents.config import SlaTable
from siem.store.base import EventQuery
from siem.store.sqlite import SqliteStore

DATASETS = ("syslog", "linux.auth", "fortinet.fortigate", "cisco.asa", "hikvision", "dahua", "suricata.eve",
            "zeek.conn", "zeek.dns", "network.flow", "web.access", "json")
USERS = ("operator", "nguyenvana", "admin", "root", "tranthib")


def make_events(count: int, now: float) -> list[ecs.Event]:
    """``count`` events over the hour before ``now``; device d's clock is d % 90 seconds off."""
    events = []
    for index in range(count):
        device = index % 500
        received = now - 3600 + 3600 * index / count
        event: ecs.Event = {
            ecs.TIMESTAMP: ecs.format_timestamp(received + device % 90),
            ecs.CREATED: ecs.format_timestamp(received),
            ecs.ID: ecs.make_event_id("bench", str(index)),
            ecs.DATASET: DATASETS[index % len(DATASETS)],
            ecs.INPUT: f"udp://10.{device // 50}.0.{device % 50}",
            ecs.HOST_NAME: f"dev-{device:03d}",
            ecs.LABEL_SITE: f"ward-{device // 50}",
            ecs.LABEL_ZONE: "camera" if device % 3 == 0 else "office",
            ecs.ORIGINAL: f"<38>message {index} from dev-{device:03d}",
        }
        if index % 100 == 0:
            event.update({ecs.CATEGORY: ["authentication"], ecs.OUTCOME: "success",
                          ecs.USER_NAME: USERS[(index // 100) % len(USERS)]})
        events.append(event)
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    now = time.time()
    checks = {check.id: check for check in load_checks(PROJECT_ROOT / "rules" / "compliance" / "checks").checks}
    rules = load_rules([PROJECT_ROOT / "rules" / "authentication", PROJECT_ROOT / "rules" / "network"])
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        store = SqliteStore(data / "siem.db")
        events = make_events(args.events, now)
        started = time.perf_counter()
        for offset in range(0, len(events), 1000):
            store.write(events[offset:offset + 1000])
        print(f"{args.events:,} events written in {time.perf_counter() - started:.1f} s")
        context = ScanContext(store=store, inventory=None, sla=SlaTable(), data_path=data, now=now,
                              since=now - 7 * 86400,
                              rule_logsources=tuple(loaded.info.logsource for loaded in rules.rules))
        started = time.perf_counter()
        store.count(EventQuery(since=now - 3600, until=now))
        baseline = time.perf_counter() - started
        print(f"one count over the hour: {baseline:.3f} s")
        for ident in ("clock-skew", "default-accounts", "rule-coverage"):
            started = time.perf_counter()
            result = run_check(checks[ident], context)
            seconds = time.perf_counter() - started
            print(f"{ident}: {seconds:.2f} s ({seconds / baseline:.0f}x the count), {result.status}, "
                  f"value {result.value:g}; {result.details[0]}")
        store.close()


if __name__ == "__main__":
    main()
