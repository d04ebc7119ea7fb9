"""Each job's last run, in ``<data_dir>/schedule/state.json``, written atomically.

Per job: ``anchor`` (the time up to which its schedule has been dealt with: runs due at or
before it were started, skipped or counted as missed), the last run's due time, start, end,
exit status and result, and counters of runs skipped because the previous one was still
going (``overlaps``) or because the service was down (``missed``). A damaged file is kept
aside (``state.json.bad``) and the schedule starts afresh rather than stopping ``siem run``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from siem.errors import StoreError

STATE_FILE = Path("schedule") / "state.json"
LOG_DIR = Path("schedule") / "logs"

log = logging.getLogger(__name__)


@dataclass(slots=True)
class JobState:
    """What the scheduler remembers about one job."""

    anchor: float
    last_due: float | None = None
    started: float | None = None
    finished: float | None = None
    exit_code: int | None = None
    #: ok, failed (non-zero exit), timeout, interrupted, error (could not start), running
    result: str | None = None
    overlaps: int = 0
    missed: int = 0


def load_state(data_path: Path) -> dict[str, JobState]:
    """The saved state by job name (empty when there is none yet)."""
    path = data_path / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StoreError(f"cannot read the schedule state: {exc.strerror}", path=path) from exc
    try:
        raw = json.loads(text)
        known = {item.name for item in fields(JobState)}
        return {str(name): JobState(**{key: value for key, value in entry.items() if key in known})
                for name, entry in raw["jobs"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("schedule state %s is damaged (%s); kept as %s.bad, starting afresh", path, exc, path.name)
        os.replace(path, path.with_name(path.name + ".bad"))
        return {}


def save_state(data_path: Path, jobs: dict[str, JobState]) -> None:
    """Write the state atomically: a temporary file, fsync, then rename over the old one."""
    path = data_path / STATE_FILE
    document: dict[str, Any] = {"jobs": {name: asdict(state) for name, state in sorted(jobs.items())}}
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        raise StoreError(f"cannot write the schedule state: {exc.strerror}", path=path) from exc
