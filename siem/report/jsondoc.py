"""The report as one JSON document: the collected data, raw numbers and epoch times (UTC)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from siem.report.collect import ReportData

#: Version of the document's layout; raised when a field changes meaning or goes away.
SCHEMA_VERSION = 1


def to_dict(data: ReportData) -> dict[str, Any]:
    """The report's data as plain JSON types, with ``schema_version``."""
    document: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    document.update(dataclasses.asdict(data))
    return document


def render(data: ReportData) -> str:
    """Indented JSON text (non-ASCII kept: Vietnamese ward names stay readable)."""
    return json.dumps(to_dict(data), ensure_ascii=False, indent=2) + "\n"
