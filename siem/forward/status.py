"""The forwarder part of ``siem status``: the link and the buffer, from the state file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siem.event import format_timestamp

if TYPE_CHECKING:
    from rich.console import Console

DIRECTORY = "forward-buffer"
STATE_FILE = "state.json"


def state_path(data_dir: Path) -> Path:
    """Where a forwarder keeps its state file."""
    return data_dir / DIRECTORY / STATE_FILE


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The last state a forwarder wrote in ``data_dir``, if one ever ran there."""
    try:
        document = json.loads(state_path(data_dir).read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _when(moment: Any) -> str:
    return format_timestamp(moment) if isinstance(moment, int | float) else "-"


def render_forwarder(console: Console, state: dict[str, Any]) -> None:
    """Print the forwarder's link and buffer (the alarm in red)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_header=False, pad_edge=False, title="Forwarder", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    link = "connected" if state.get("connected") else f"down since {_when(state.get('down_since'))}"
    percent = state.get("buffer_percent", 0)
    buffer = f"{int(state.get('buffer_bytes', 0)) // 1024:,} KB of {int(state.get('buffer_max_bytes', 0)) // 1024:,} KB"
    alarm = "ON" if state.get("alarm") else "off"
    alarm += f" (at {state.get('alarm_percent')}%, raised {state.get('alarms', 0)} times)"
    rows: list[tuple[str, Text]] = [
        ("centre", Text(str(state.get("central", "-")))),
        ("link", Text(link, style="" if state.get("connected") else "red")),
        ("last error", Text(str(state.get("last_error") or "-"))),
        ("buffer", Text(f"{buffer} ({percent}%)", style="red" if state.get("full") else "")),
        ("buffer alarm", Text(alarm, style="red" if state.get("alarm") else "")),
        ("times the buffer filled", Text(f"{state.get('full_waits', 0):,}")),
        ("events acknowledged", Text(f"{state.get('acked_events', 0):,}")),
        ("last acknowledgement", Text(_when(state.get("last_ack_at")))),
        ("updated", Text(_when(state.get("updated_at")))),
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
