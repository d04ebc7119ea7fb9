"""Build a demo store in a temporary directory and save the triage screen as docs/triage.svg.

Run from the project root: ``.venv/bin/python docs/screenshot_triage.py``. The demo replays the
camera brute-force regression events through the real Sigma rules and the alert stage, adds a
second incident from SSH failures, and acknowledges, assigns and notes the top one through
the app's keys, so the screen shows
what an officer sees during an attack.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from siem.alerts.service import AlertService  # noqa: E402
from siem.config import Config  # noqa: E402
from siem.store.sqlite import SqliteStore  # noqa: E402
from siem.ui.triage import TriageApp  # noqa: E402
from tests.alerts.cases import brute_force_events, replay, ssh_alerts, ssh_event  # noqa: E402


def main() -> None:
    """Make the demo store, open the triage app headless, and save the screenshot."""
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "siem.db")
        try:
            now = time.time()
            service = AlertService(store, Config(), clock=lambda: now)
            list(replay(service, store, brute_force_events()))
            service.process(ssh_alerts(store, [ssh_event(i, now - 900 + 7 * i) for i in range(12)]))
            asyncio.run(shoot(store))
        finally:
            store.close()


async def shoot(store: SqliteStore) -> None:
    """Acknowledge and assign the top incident through the keys, then save the SVG."""
    app = TriageApp(store, "lan", Config().incidents.sla, refresh_seconds=0)
    async with app.run_test(size=(170, 48)) as pilot:
        await pilot.press("a", "s", "ctrl+a", "ctrl+k", *"minh", "enter")
        await pilot.press("n", *"Camera ward3-cam-002: admin password changed, source blocked", "enter")
        await pilot.pause()
        path = app.save_screenshot(filename="triage.svg", path=str(ROOT / "docs"))
    print(path)


if __name__ == "__main__":
    main()
