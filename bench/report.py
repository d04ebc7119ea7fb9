"""Time to gather a monthly report from a SQLite store: aggregations in the store vs. Python.

Run: ``.venv/bin/python bench/report.py [events]``. Writes ``events`` events (default 200,000)
spread over 30 days, the ten sites of examples/inventory.yaml and their devices, then times
``siem.report.collect.collect`` (GROUP BY queries in SQLite) and, for comparison, counting the
same events per day and ward by reading every event through ``Store.scan`` into Python. Prints
the times and ratios (same run, same machine), and the HTML rendering time.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from siem import event as ecs  # noqa: E402
from siem.enrich.inventory import Inventory  # noqa: E402
from siem.report import html  # noqa: E402
from siem.report.collect import ReportRequest, collect  # noqa: E402
from siem.store.base import EventAggregation, EventQuery  # noqa: E402
from siem.store.sqlite import SqliteStore  # noqa: E402

INVENTORY = ROOT / "examples" / "inventory.yaml"
ZONE = "Asia/Ho_Chi_Minh"
END = 1795366800.0  # 2026-11-23 00:00 in Hanoi
DAYS = 30
BATCH = 5000


def main(total: int = 200_000) -> None:
    """Print the figures for a store of ``total`` events."""
    inventory = Inventory.load(INVENTORY)
    assets = inventory.assets
    rng = random.Random(1)
    start = END - DAYS * 86400
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "siem.db")
        try:
            began = time.perf_counter()
            for first in range(0, total, BATCH):
                batch = []
                for number in range(first, min(first + BATCH, total)):
                    asset = assets[number % len(assets)]
                    batch.append({
                        ecs.ID: f"e{number}",
                        ecs.TIMESTAMP: ecs.format_timestamp(start + rng.uniform(0, DAYS * 86400 - 1)),
                        ecs.DATASET: "fortinet.firewall",
                        ecs.OBSERVER_HOSTNAME: asset.name,
                        ecs.SOURCE_IP: f"10.{number % 10}.16.{number % 200}",
                        ecs.LABEL_SITE: asset.site,
                        ecs.ORIGINAL: f"bench event {number}",
                    })
                store.write(batch)
            print(f"store: {total:,} events written in {time.perf_counter() - began:.1f} s")
            request = ReportRequest(period="month", end=END, timezone=ZONE)
            began = time.perf_counter()
            data = collect(store, request, inventory=inventory, now=END)
            in_store = time.perf_counter() - began
            began = time.perf_counter()
            page = html.render(data)
            rendering = time.perf_counter() - began
            zone = ZoneInfo(ZONE)
            offset = -(datetime.fromtimestamp(data.start, zone).utcoffset() or timedelta()).total_seconds()
            began = time.perf_counter()
            store.aggregate_events(EventAggregation(query=EventQuery(since=data.start, until=END),
                                                    group_by=(ecs.LABEL_SITE,), interval=86400.0, offset=offset))
            per_day = time.perf_counter() - began
            began = time.perf_counter()
            counts: Counter[tuple[str, object]] = Counter()
            for event in store.scan(EventQuery(since=data.start, until=END), page=5000):
                day = datetime.fromtimestamp(ecs.timestamp_ms(event, 0) / 1000, zone).date().isoformat()
                counts[(day, event.get(ecs.LABEL_SITE))] += 1
            in_python = time.perf_counter() - began
            assert sum(counts.values()) == data.events_total, "the two ways disagree"
            print(f"whole report (collect, every section, in SQLite):  {in_store:.2f} s")
            print(f"events per day per ward, in SQLite (index only):   {per_day:.3f} s")
            print(f"events per day per ward, every event into Python:  {in_python:.2f} s")
            print(f"ratio per day per ward: {in_python / per_day:.0f}x; whole report vs that one section"
                  f" in Python: {in_python / in_store:.1f}x")
            print(f"HTML rendering: {rendering * 1000:.0f} ms, {len(page.encode()):,} bytes")
        finally:
            store.close()


if __name__ == "__main__":
    main(*(int(argument) for argument in sys.argv[1:2]))
