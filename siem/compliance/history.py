"""Scan history: one JSON line per scan in ``<data_dir>/compliance/history.jsonl``.

Comparing with the previous scan of the same profile and site shows new failures and fixes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siem.compliance.model import PASS, CheckResult
from siem.errors import StoreError

HISTORY_FILE = Path("compliance") / "history.jsonl"


@dataclass(frozen=True, slots=True)
class Change:
    """What changed since the previous comparable scan (None when there was none)."""

    previous_at: float | None
    new_failures: tuple[str, ...]
    fixed: tuple[str, ...]


def record(data_path: Path, *, at: float, profile: str | None, site: str | None,
           results: Sequence[CheckResult]) -> Change:
    """Append this scan to the history and return the change since the previous one."""
    path = data_path / HISTORY_FILE
    previous = _previous(path, profile, site)
    statuses = {result.check.id: result.status for result in results}
    entry = {
        "at": at, "profile": profile, "site": site,
        "results": {result.check.id: {"status": result.status, "value": result.value,
                                      "failing_sites": list(result.failing_sites)}
                    for result in results},
    }
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise StoreError(f"cannot write scan history: {exc.strerror}", path=path) from exc
    if previous is None:
        return Change(None, (), ())
    before = {ident: str(item["status"]) for ident, item in previous["results"].items()}
    new_failures = tuple(sorted(ident for ident, status in statuses.items()
                                if status != PASS and before.get(ident) == PASS))
    fixed = tuple(sorted(ident for ident, status in statuses.items()
                         if status == PASS and ident in before and before[ident] != PASS))
    return Change(float(previous["at"]), new_failures, fixed)


def _previous(path: Path, profile: str | None, site: str | None) -> dict[str, Any] | None:
    """The last readable scan of the same profile and site (a damaged line is skipped)."""
    if not path.exists():
        return None
    found = None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read scan history: {exc}", path=path) from exc
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (isinstance(entry, dict) and isinstance(entry.get("results"), dict)
                and entry.get("profile") == profile and entry.get("site") == site):
            found = entry
    return found
