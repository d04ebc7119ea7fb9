"""Alerts waiting per route, on disk so a restart loses none: the digest and the storm bucket.

Layout under ``<outbox>/routes/<route>/``: ``digest/*.json`` (one file per submitted batch,
full alerts), ``storm/*.json`` (one file per batch of alerts held back by the rate limit) and
``window.json`` (start of the rate-limit window and how many mails went out in it).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siem.alert import Alert
from siem.notify.outbox import atomic_write, fsync_dir


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """An alert with the incident it belongs to (if known) and when it was submitted."""

    alert: Alert
    incident_id: str | None
    received: float


def alert_to_json(alert: Alert) -> dict[str, Any]:
    """A JSON-safe dict of ``alert`` (values JSON cannot hold become text)."""
    raw = dataclasses.asdict(alert)
    result: dict[str, Any] = json.loads(json.dumps(raw, default=str))
    return result


def alert_from_json(raw: dict[str, Any]) -> Alert:
    """The Alert that :func:`alert_to_json` wrote."""
    names = {f.name for f in dataclasses.fields(Alert)}
    values = {key: value for key, value in raw.items() if key in names}
    for key in ("event_ids", "tags"):
        values[key] = tuple(values.get(key) or ())
    return Alert(**values)


class Bucket:
    """A directory of JSON batch files, each a list of pending alerts."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._counter = len(self.files())

    def add(self, items: list[PendingAlert]) -> None:
        """Store one batch durably."""
        if not items:
            return
        self._counter += 1
        first = min(item.received for item in items)
        name = f"{int(first * 1000):015d}-{os.getpid()}-{self._counter:06d}.json"
        records = [
            {"alert": alert_to_json(item.alert), "incident": item.incident_id, "received": item.received}
            for item in items
        ]
        atomic_write(self.directory / name, json.dumps(records, ensure_ascii=False).encode("utf-8"))

    def files(self) -> list[Path]:
        """Batch files, oldest first."""
        return sorted(self.directory.glob("[0-9]*.json"))

    def load(self, files: list[Path]) -> list[PendingAlert]:
        """The alerts in ``files``, in submission order."""
        items: list[PendingAlert] = []
        for path in files:
            for record in json.loads(path.read_text(encoding="utf-8")):
                items.append(PendingAlert(alert_from_json(record["alert"]), record["incident"], record["received"]))
        return items

    def oldest(self) -> float | None:
        """When the oldest waiting alert arrived, or None when the bucket is empty."""
        files = self.files()
        return int(files[0].name.partition("-")[0]) / 1000 if files else None

    def remove(self, files: list[Path]) -> None:
        """Forget batches that are now in the outbox."""
        for path in files:
            path.unlink(missing_ok=True)
        fsync_dir(self.directory)


@dataclass(slots=True)
class Window:
    """The rate-limit window of one route."""

    start: float | None = None
    sent: int = 0


def load_window(path: Path) -> Window:
    """The stored window, or a closed one."""
    if not path.exists():
        return Window()
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Window(start=raw["start"], sent=raw["sent"])


def save_window(path: Path, window: Window) -> None:
    """Store the window durably."""
    atomic_write(path, json.dumps({"start": window.start, "sent": window.sent}).encode("utf-8"))
