"""Windows event log records as JSON: evtx_dump output and Winlogbeat documents.

References: the Windows event schema (https://learn.microsoft.com/windows/win32/wes/eventschema-schema),
evtx_dump's JSON form of it (``{"Event": {"System": ..., "EventData": ...}}``, XML attributes
under ``#attributes``, element text under ``#text``; https://github.com/omerbenamram/evtx) and
Winlogbeat's fields (https://www.elastic.co/guide/en/beats/winlogbeat/current/exported-fields-winlog.html).

Records are flattened to the field names Sigma rules use: the leaves of ``EventData`` and of
``UserData.<element>`` under their own names, ``System`` leaves (``EventID``, ``Channel``,
``Computer`` ...), and XML attributes as ``<Element>_<Attribute>`` (``Provider_Name``,
``TimeCreated_SystemTime``). ECS fields are added: ``@timestamp``, ``event.dataset``,
``event.code``, ``host.name``, ``event.original``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from collectors.base import RawRecord
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

#: Channels with a dataset name of their own; others become ``windows.<channel lowercase>``.
_CHANNEL_DATASETS = {
    "microsoft-windows-sysmon/operational": "windows.sysmon",
    "security": "windows.security",
    "system": "windows.system",
    "application": "windows.application",
    "microsoft-windows-powershell/operational": "windows.powershell",
    "windows powershell": "windows.powershell",
}

_ATTRIBUTES = "#attributes"
_TEXT = "#text"


def dataset_of(channel: str | None) -> str:
    """The ``event.dataset`` for a Windows event channel."""
    if not channel:
        return "windows"
    lowered = channel.lower()
    return _CHANNEL_DATASETS.get(lowered, f"windows.{lowered}")


def _leaves(node: Any, name: str, out: dict[str, Any]) -> None:
    """Flatten one XML-as-JSON element: attributes as ``name_attr``, text as ``name``."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == _ATTRIBUTES and isinstance(value, Mapping):
                for attribute, attr_value in value.items():
                    if attribute != "xmlns":
                        out[f"{name}_{attribute}"] = attr_value
            elif key == _TEXT:
                out[name] = value
            else:
                _leaves(value, key, out)
    else:
        out[name] = node


def _event_data(node: Any, out: dict[str, Any]) -> None:
    """``EventData``: named leaves, or ``Data`` items carrying a ``Name`` attribute."""
    if not isinstance(node, Mapping):
        if node is not None:
            out["EventData"] = node
        return
    for key, value in node.items():
        if key == "Data" and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping) and isinstance(item.get(_ATTRIBUTES), Mapping):
                    data_name = item[_ATTRIBUTES].get("Name")
                    out[str(data_name) if data_name else f"Data_{index}"] = item.get(_TEXT)
                else:
                    out[f"Data_{index}"] = item
        elif key == _ATTRIBUTES:
            continue
        else:
            _leaves(value, key, out)


def _despace(out: dict[str, Any]) -> None:
    """Also give data names with spaces (Defender: ``Threat Name``) their Sigma form (``ThreatName``)."""
    for key in [k for k in out if " " in k]:
        out.setdefault(key.replace(" ", ""), out[key])


def flatten_evtx(document: Mapping[str, Any], original: str | None = None) -> Event:
    """Flat event from evtx_dump JSON (``{"Event": {...}}``)."""
    root = document.get("Event")
    if not isinstance(root, Mapping):
        raise ParseError("not an evtx JSON record: no 'Event' object")
    out: dict[str, Any] = {}
    system = root.get("System")
    if isinstance(system, Mapping):
        for key, value in system.items():
            _leaves(value, key, out)
    _event_data(root.get("EventData"), out)
    user_data = root.get("UserData")
    if isinstance(user_data, Mapping):
        for element in user_data.values():
            if isinstance(element, Mapping):
                for key, value in element.items():
                    if key != _ATTRIBUTES:
                        _leaves(value, key, out)
    _despace(out)
    for key, value in root.items():  # RenderingInfo and other extras, by their own names
        if key not in ("System", "EventData", "UserData", _ATTRIBUTES):
            _leaves(value, key, out)
    return _with_ecs(out, original if original is not None else json.dumps(document))


def flatten_winlogbeat(document: Mapping[str, Any], original: str | None = None) -> Event:
    """Flat event from a Winlogbeat document (``winlog.*`` plus ECS fields)."""
    winlog = document.get("winlog")
    if not isinstance(winlog, Mapping):
        raise ParseError("not a Winlogbeat document: no 'winlog' object")
    out: dict[str, Any] = ecs.from_nested({k: v for k, v in document.items() if k != "winlog"})
    for key, value in winlog.items():
        if key not in ("event_data", "user_data") and not isinstance(value, Mapping):
            out[f"winlog.{key}"] = value
    for section in ("event_data", "user_data"):
        data = winlog.get(section)
        if isinstance(data, Mapping):
            for key, value in data.items():
                _leaves(value, key, out)
    _despace(out)
    renames = {"event_id": "EventID", "channel": "Channel", "computer_name": "Computer",
               "provider_name": "Provider_Name", "provider_guid": "Provider_Guid",
               "record_id": "EventRecordID", "task": "Task", "keywords": "Keywords",
               "opcode": "Opcode", "version": "Version"}
    for source, target in renames.items():
        if source in winlog and target not in out:
            value = winlog[source]
            if target == "EventID" and isinstance(value, str) and value.isascii() and value.isdigit():
                value = int(value) if len(value) <= 18 else value
            out[target] = value
    if "Level" not in out and "log.level" in out:
        out["Level"] = out["log.level"]
    process = winlog.get("process")
    if isinstance(process, Mapping):
        pid = process.get("pid")
        if pid is not None:
            out.setdefault("Execution_ProcessID", pid)
    return _with_ecs(out, original if original is not None else json.dumps(document))


def flatten_windows(document: Mapping[str, Any], original: str | None = None) -> Event:
    """Flat event from either form (evtx_dump or Winlogbeat)."""
    if "Event" in document:
        return flatten_evtx(document, original)
    if "winlog" in document:
        return flatten_winlogbeat(document, original)
    raise ParseError("not a Windows event: neither 'Event' (evtx) nor 'winlog' (Winlogbeat)")


def _with_ecs(out: dict[str, Any], original: str) -> Event:
    created = out.get("TimeCreated_SystemTime")
    if ecs.TIMESTAMP not in out and isinstance(created, str):
        with contextlib.suppress(ValueError):  # an odd time stays only in its own field
            out[ecs.TIMESTAMP] = ecs.format_timestamp(ecs.parse_timestamp(created))
    channel = out.get("Channel")
    out[ecs.DATASET] = dataset_of(channel if isinstance(channel, str) else None)
    out.setdefault(ecs.MODULE, "windows")
    out.setdefault(ecs.KIND, "event")
    if out.get("EventID") is not None:
        out["event.code"] = str(out["EventID"])
    if out.get("Computer") is not None:
        out.setdefault(ecs.HOST_NAME, out["Computer"])
    out[ecs.ORIGINAL] = original
    out.setdefault(ecs.ID, ecs.make_event_id("windows", original))
    return out


def iter_json_documents(text: str) -> Iterator[tuple[Any, str]]:
    """JSON documents written one after another (``{...}{...}`` or one per line), with text.

    Raises ParseError (with the line) at the first text that is not JSON.
    """
    decoder = json.JSONDecoder()
    position = 0
    length = len(text)
    while True:
        while position < length and text[position] in " \t\r\n\ufeff":
            position += 1
        if position >= length:
            return
        try:
            document, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            line = text.count("\n", 0, exc.pos) + 1
            raise ParseError(f"invalid JSON: {exc.msg}", line=line) from exc
        except (RecursionError, ValueError) as exc:  # hostile nesting; an integer of 4,300 digits
            raise ParseError(f"JSON not readable: {exc}", line=text.count("\n", 0, position) + 1) from exc
        yield document, text[position:end]
        position = end


class WindowsParser:
    """Parser ``windows``: a record holding one or more evtx/Winlogbeat JSON documents."""

    name = "windows"

    def parse(self, record: RawRecord) -> list[Event]:
        """Flattened events of the record (ParseError when it is not Windows JSON)."""
        events: list[Event] = []
        for document, text in iter_json_documents(record.text):
            if not isinstance(document, Mapping):
                raise ParseError("a Windows event must be a JSON object")
            event = flatten_windows(document, text)
            event.setdefault(ecs.INPUT, record.origin)
            events.append(event)
        if not events:
            raise ParseError("empty record")
        return events
