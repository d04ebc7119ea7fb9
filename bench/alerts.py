"""Throughput of the alert stage (grouping, suppression, incidents) on a real SQLite store.

Run: ``.venv/bin/python bench/alerts.py [alerts] [sources]``. Stores SSH-failure events from
``sources`` attacking addresses, builds one alert per event (as the detector does for a
single-event rule), and times AlertService.process over batches of 1000; prints alerts/s and
how many groups and incidents came out.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from siem.alerts.service import AlertService  # noqa: E402
from siem.config import Config  # noqa: E402
from siem.store.base import AlertQuery, IncidentQuery  # noqa: E402
from siem.store.sqlite import SqliteStore  # noqa: E402
from tests.alerts.cases import T0, ssh_alerts, ssh_event  # noqa: E402

BATCH = 1000


def main(total: int = 20000, sources: int = 200) -> None:
    """Print the figures for ``total`` alerts from ``sources`` attacking addresses."""
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "siem.db")
        try:
            events = [ssh_event(i, T0 + i * 0.05, source=f"198.51.{(i % sources) // 250}.{(i % sources) % 250 + 1}")
                      for i in range(total)]
            batches = [ssh_alerts(store, events[i : i + BATCH]) for i in range(0, total, BATCH)]
            service = AlertService(store, Config())
            started = time.perf_counter()
            for alerts in batches:
                service.process(alerts)
            elapsed = time.perf_counter() - started
            groups = len(store.find_alerts(AlertQuery(limit=100000)))
            incidents = len(store.find_incidents(IncidentQuery(limit=100000)))
        finally:
            store.close()
    print(f"{total} alerts from {sources} sources in {elapsed:.2f} s: {total / elapsed:,.0f} alerts/s;"
          f" {groups} groups, {incidents} incidents")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
