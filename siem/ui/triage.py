"""``siem triage``: a full-screen Textual app to work the queue of open incidents.

Left: open incidents, highest severity first, then oldest. Right: the selected incident (facts
and SLA, asset owner, alerts with their matched fields, related events, timeline). Keys act on
the selected incident as the officer; each change goes through IncidentService, so it is
audited and guarded by the incident's version (a lost race says so and reloads). The queue
refreshes every ``refresh_seconds`` so new alerts appear while the officer works.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from siem import event as ecs
from siem.errors import ConflictError, SiemError
from siem.i18n import _
from siem.incidents.config import SlaTable
from siem.incidents.model import OPEN_STATUSES, Incident
from siem.incidents.service import IncidentService
from siem.incidents.sla import sla_state
from siem.store.base import EventQuery, IncidentQuery, Store
from siem.ui import render
from siem.ui.format import duration, severity_style, status_style

#: Events shown under "related events" for the selected incident.
RELATED_EVENTS = 15
QUEUE_LIMIT = 500


class Prompt(ModalScreen[str | None]):
    """Ask for one line of text; Enter returns it, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", _("Cancel"))]
    DEFAULT_CSS = """
    Prompt { align: center middle; }
    Prompt > Vertical { width: 70; height: auto; border: thick $accent; padding: 1 2; background: $surface; }
    """

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            yield Input(value=self.value, id="answer")

    def on_input_submitted(self, message: Input.Submitted) -> None:
        self.dismiss(message.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def search_query(text: str) -> EventQuery:
    """``key=value`` words become field matches, the rest full text (``siem search`` style)."""
    fields: dict[str, Any] = {}
    words: list[str] = []
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep and key and value:
            fields[key] = value
        else:
            words.append(word)
    return EventQuery(fields=fields, text=" ".join(words) or None, limit=RELATED_EVENTS)


class TriageApp(App[None]):
    """The triage screen over one store, acting as ``actor``."""

    TITLE = "siem triage"
    CSS = """
    #queue { width: 45%; }
    #detail { width: 55%; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "acknowledge", _("Acknowledge")),
        Binding("i", "investigate", _("Investigate"), show=False),
        Binding("s", "assign", _("Assign")),
        Binding("n", "note", _("Note")),
        Binding("e", "escalate", _("Escalate")),
        Binding("r", "resolve", _("Resolve")),
        Binding("f", "false_positive", _("False positive")),
        Binding("slash", "search", _("Search events")),
        Binding("ctrl+r", "reload", _("Refresh"), show=False),
        Binding("q", "quit", _("Quit")),
    ]

    def __init__(
        self, store: Store, actor: str, sla: SlaTable, *, clock: Callable[[], float] = time.time,
        refresh_seconds: float = 2.0,
    ) -> None:
        super().__init__()
        self.store = store
        self.actor = actor
        self.sla = sla
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.service = IncidentService(store, actor, clock)
        self.incidents: dict[str, Incident] = {}
        self.search_result: RenderableType | None = None

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield DataTable(id="queue", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="detail"):
                yield Static(id="facts")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#queue", DataTable)
        table.add_columns(_("id"), _("sev"), _("status"), _("age"), _("SLA"), _("who"), _("title"))
        self.reload()
        if self.refresh_seconds > 0:
            self.set_interval(self.refresh_seconds, self.reload)
        table.focus()

    # -- data -----------------------------------------------------------------------------------

    @property
    def selected(self) -> Incident | None:
        """The incident under the cursor."""
        table = self.query_one("#queue", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.incidents.get(str(key)) if key is not None else None

    def reload(self) -> None:
        """Read the open incidents again, keeping the cursor on the same incident."""
        now = self.clock()
        table = self.query_one("#queue", DataTable)
        current = self.selected
        found = self.store.find_incidents(IncidentQuery(statuses=OPEN_STATUSES, limit=QUEUE_LIMIT))
        self.incidents = {incident.id: incident for incident in found}
        table.clear()
        for incident in found:
            state = sla_state(incident, self.sla, now)
            table.add_row(
                incident.id,
                Text(incident.severity, style=severity_style(incident.severity)),
                Text(incident.status, style=status_style(incident.status)),
                duration(now - incident.opened_at),
                render.sla_text(state),
                incident.assignee or "-",
                Text(incident.title),
                key=incident.id,
            )
        if current is not None and current.id in self.incidents:
            table.move_cursor(row=table.get_row_index(current.id))
        self.sub_title = _("{count} open incidents").format(count=len(found))
        self.show_detail()

    def on_data_table_row_highlighted(self, _message: DataTable.RowHighlighted) -> None:
        self.search_result = None
        self.show_detail()

    def show_detail(self) -> None:
        """Fill the detail pane for the selected incident."""
        try:
            pane = self.query_one("#facts", Static)
        except NoMatches:  # a highlight handled while the app closes, after its widgets are gone
            return
        incident = self.selected
        if incident is None:
            pane.update(Text(_("No open incidents. New ones appear here as alerts arrive."), style="dim"))
            return
        pane.update(self.detail(incident))

    def detail(self, incident: Incident) -> RenderableType:
        """Facts, asset owner, alerts with matched fields, related events, timeline."""
        now = self.clock()
        parts: list[RenderableType] = [render.incident_facts(incident, sla_state(incident, self.sla, now), now)]
        alerts = [a for ident in self.store.incident_links(incident.id, "alert")
                  if (a := self.store.get_alert(ident)) is not None]
        event_ids = [*self.store.incident_links(incident.id, "event"),
                     *(event_id for alert in alerts for event_id in alert.event_ids[:RELATED_EVENTS])]
        events = sorted(self.store.get_events(list(dict.fromkeys(event_ids))[:RELATED_EVENTS * 4]),
                        key=lambda e: str(e.get(ecs.TIMESTAMP, "")), reverse=True)
        owners = sorted({str(e["labels.asset_owner"]) for e in events if e.get("labels.asset_owner")})
        assets = sorted({str(e["labels.asset_name"]) for e in events if e.get("labels.asset_name")})
        parts.append(Text.assemble((_("asset") + ": ", "bold"), ", ".join(assets) or "-", "   ",
                                   (_("owner") + ": ", "bold"), ", ".join(owners) or "-"))
        for alert in alerts:
            parts.append(Text.assemble("\n", (f"{alert.level:<9}", severity_style(alert.level)),
                                       f" x{alert.count}  {alert.summary}"))
            matched = "  ".join(f"{k}={v}" for k, v in sorted(alert.matched_fields.items()))
            parts.append(Text("  " + _("matched") + ": " + (matched or "-"), style="dim"))
        if self.search_result is not None:
            parts += [Text("\n" + _("search results"), style="bold underline"), self.search_result]
        parts += [Text("\n" + _("related events"), style="bold underline"), events_table(events[:RELATED_EVENTS])]
        parts += [Text(), render.timeline_table(self.store.audit_log(f"incident:{incident.id}", limit=200))]
        return Group(*parts)

    # -- actions --------------------------------------------------------------------------------

    def act(self, change: Callable[[IncidentService, Incident], Incident], done: str) -> None:
        """Apply ``change`` to the selected incident at its displayed version; report and reload."""
        incident = self.selected
        if incident is None:
            self.notify(_("No incident selected."), severity="warning")
            return
        try:
            changed = change(self.service, incident)
        except ConflictError:
            self.notify(_("{id} was changed by someone else; reloaded, look again and retry.").format(
                id=incident.id), severity="warning")
        except SiemError as exc:
            self.notify(str(exc), severity="error")
        else:
            self.notify(done.format(id=changed.id))
        self.reload()

    def ask(self, question: str, then: Callable[[str], None], value: str = "") -> None:
        """Prompt for text, then run ``then`` with it (nothing on cancel or empty input)."""
        def answered(text: str | None) -> None:
            if text is not None and text.strip():
                then(text.strip())

        self.push_screen(Prompt(question, value), answered)

    def action_reload(self) -> None:
        self.reload()

    def action_acknowledge(self) -> None:
        self.act(lambda s, i: s.acknowledge(i.id, version=i.version), _("{id} acknowledged."))

    def action_investigate(self) -> None:
        self.act(lambda s, i: s.investigate(i.id, version=i.version), _("{id} under investigation."))

    def action_assign(self) -> None:
        self.ask(_("Assign to (officer name):"), lambda who: self.act(
            lambda s, i: s.assign(i.id, who, version=i.version), _("{id} assigned.")), value=self.actor)

    def action_note(self) -> None:
        self.ask(_("Note:"), lambda text: self.act(
            lambda s, i: s.note(i.id, text, version=i.version), _("Note added to {id}.")))

    def action_escalate(self) -> None:
        self.ask(_("Escalate one level; why?"), lambda why: self.act(
            lambda s, i: s.escalate(i.id, reason=why, version=i.version), _("{id} escalated.")))

    def action_resolve(self) -> None:
        self.ask(_("Resolve; what was done?"), lambda why: self.act(
            lambda s, i: s.resolve(i.id, reason=why, version=i.version), _("{id} resolved.")))

    def action_false_positive(self) -> None:
        self.ask(_("False positive; why?"), lambda why: self.act(
            lambda s, i: s.resolve(i.id, false_positive=True, reason=why, version=i.version),
            _("{id} closed as a false positive.")))

    def action_search(self) -> None:
        incident = self.selected
        start = incident.entity.replace(",", " ") if incident is not None else ""
        self.ask(_("Search events (field=value words, the rest full text):"), self.run_search, value=start)

    def run_search(self, text: str) -> None:
        """Show the events matching ``text`` in the detail pane."""
        try:
            found = list(self.store.search(search_query(text)))
        except SiemError as exc:
            self.notify(str(exc), severity="error")
            return
        self.search_result = events_table(found)
        self.notify(_("{count} events found.").format(count=len(found)))
        self.show_detail()


def events_table(events: list[ecs.Event]) -> RenderableType:
    """Events one per line: time, source -> destination, raw text."""
    if not events:
        return Text(_("none"), style="dim")
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for event in events:
        moment = event.get(ecs.TIMESTAMP)
        stamp = str(moment)[:19].replace("T", " ") if moment else "-"
        route = f"{event.get(ecs.SOURCE_IP, '-')} -> {event.get(ecs.DESTINATION_IP, '-')}"
        raw = event.get(ecs.ORIGINAL) or event.get(ecs.MESSAGE) or event.get(ecs.ACTION, "")
        table.add_row(stamp, route, Text(str(raw)))
    return table
