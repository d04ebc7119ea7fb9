"""Zeek (Bro) logs, TSV with ``#fields`` headers or JSON lines, to ECS.

Reference: Zeek documentation, "Zeek Logs" (logs/index.html, conn.log, dns.log, http.log,
ssl.log, ssh.log, notice.log) and the ASCII writer (``#separator``, ``#fields``, ``#types``,
``#unset_field -``, ``#empty_field (empty)``, ``#set_separator ,``). Dataset ``zeek.<path>``.
TSV is stateful: header lines (starting with ``#``) produce no event and set the columns for
the following lines of the same origin. The log type comes from ``_path`` (JSON), ``#path``
(TSV), or the file name of the origin (``.../conn.log``). Fields without an ECS name are kept
as ``zeek.<path>.<field>``.
Tolerated deviations: zeek-cut output with a bare line of column names, masked time stamps
in test baselines (``XXXXXXXXXX.XXXXXX``; the receive
time is used), ISO 8601 ``ts`` strings (Zeek's JSON ISO8601 option).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

COMMON: dict[str, str] = {
    "uid": "zeek.session_id",
    "id.orig_h": ecs.SOURCE_IP,
    "id.resp_h": ecs.DESTINATION_IP,
    "service": "network.protocol",
}
PORTS: dict[str, str] = {"id.orig_p": ecs.SOURCE_PORT, "id.resp_p": ecs.DESTINATION_PORT}
#: log path -> Zeek field -> ECS field.
BY_PATH: dict[str, dict[str, str]] = {
    "conn": {
        "orig_bytes": "source.bytes",
        "resp_bytes": "destination.bytes",
        "orig_pkts": "source.packets",
        "resp_pkts": "destination.packets",
        "duration": "zeek.connection.duration",
        "conn_state": "zeek.connection.state",
        "history": "zeek.connection.history",
    },
    "dns": {
        "query": "dns.question.name",
        "qtype_name": "dns.question.type",
        "rcode_name": "dns.response_code",
        "trans_id": "dns.id",
        "answers": "dns.answers.data",
    },
    "http": {
        "method": "http.request.method",
        "host": "url.domain",
        "uri": "url.original",
        "status_code": "http.response.status_code",
        "user_agent": "user_agent.original",
        "referrer": "http.request.referrer",
        "username": ecs.USER_NAME,
        "version": "http.version",
        "request_body_len": "http.request.body.bytes",
        "response_body_len": "http.response.body.bytes",
    },
    "ssl": {
        "server_name": "tls.server.name",
        "version": "tls.version",
        "cipher": "tls.cipher",
        "subject": "tls.server.subject",
        "issuer": "tls.server.issuer",
        "ja3": "tls.client.ja3",
        "ja3s": "tls.server.ja3s",
        "established": "tls.established",
    },
    "ssh": {
        "client": "ssh.client",
        "server": "ssh.server",
        "auth_success": "zeek.ssh.auth_success",
    },
    "notice": {
        "note": "rule.name",
        "msg": ecs.MESSAGE,
        "src": ecs.SOURCE_IP,
        "dst": ecs.DESTINATION_IP,
    },
    "dhcp": {
        "client_addr": "client.ip",
        "assigned_addr": "dhcp.assigned_ip",
        "mac": "source.mac",
        "host_name": "host.hostname",
    },
    "ftp": {"user": ecs.USER_NAME, "command": ecs.ACTION},
    "kerberos": {"client": ecs.USER_NAME, "service": "zeek.kerberos.service"},
}
CATEGORIES: dict[str, list[str]] = {
    "http": ["network", "web"],
    "notice": ["network", "intrusion_detection"],
}
#: (local_orig, local_resp) -> ``network.direction``.
LOCALITY_DIRECTIONS: dict[tuple[bool | None, bool | None], str] = {
    (True, True): "internal",
    (True, False): "outbound",
    (False, True): "inbound",
    (False, False): "external",
}
UNSET = frozenset({"-", "(empty)", ""})
#: Logs whose protocol always runs over TCP (their records carry no ``proto``).
TCP_PATHS = frozenset(
    {"http", "ssl", "ssh", "ftp", "smtp", "smb_files", "smb_mapping", "rdp", "irc", "ldap"}
)
#: A field only one log has -> that log (for JSON lines without ``_path``).
TELLTALE_FIELDS: tuple[tuple[str, str], ...] = (
    ("conn_state", "conn"),
    ("qtype_name", "dns"),
    ("query", "dns"),
    ("status_code", "http"),
    ("method", "http"),
    ("server_name", "ssl"),
    ("cipher", "ssl"),
    ("auth_success", "ssh"),
    ("note", "notice"),
    ("assigned_addr", "dhcp"),
    ("request_type", "kerberos"),
)
KNOWN_PATHS = (
    frozenset(BY_PATH)
    | TCP_PATHS
    | {
        "weird",
        "files",
        "x509",
        "known_services",
        "dce_rpc",
        "ntlm",
        "ntp",
        "redis",
        "analyzer",
        "ldap_search",
        "dpd",
    }
)
_COLUMN_NAMES = re.compile(r"(?:ts|uid|id\.\w+|[a-z_][a-z0-9_.]*)(?:\t[a-z_][a-z0-9_.]*)*")
_NAME_PARTS = re.compile(r"[.\-]")


class ZeekParser:
    """Zeek log lines, TSV (stateful per origin) or JSON."""

    name = "zeek"

    def __init__(self) -> None:
        # origin -> (path, column names, set separator) from the last TSV header seen.
        self._headers: dict[str, tuple[str, list[str], str]] = {}

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per data line; none for a TSV header line."""
        text = record.text.rstrip("\r\n")
        if text.startswith("#"):
            self._header(record.origin, text)
            return []
        if text.lstrip().startswith("{"):
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ParseError(
                    f"Zeek JSON line is not valid JSON: {exc.msg} at column {exc.colno}"
                ) from exc
            except (RecursionError, ValueError) as exc:  # hostile nesting; an integer of 4,300 digits
                raise ParseError(f"JSON not readable: {exc}") from exc
            if not isinstance(doc, dict):
                raise ParseError("Zeek JSON line is not an object")
            path = str(doc.pop("_path", "")) or _path_of_fields(doc) or _path_of(record.origin)
        else:
            header = self._headers.get(record.origin)
            if (header is None or not header[1]) and _COLUMN_NAMES.fullmatch(text):
                # zeek-cut output: a bare line of column names instead of '#fields'.
                self._header(record.origin, "#fields\t" + text)
                return []
            if header is None or not header[1]:
                raise ParseError("Zeek TSV line before any '#fields' header")
            path, columns, set_separator = header
            values = text.split("\t")
            if len(values) != len(columns):
                raise ParseError(
                    f"Zeek TSV line has {len(values)} fields, the header names {len(columns)}"
                )
            doc = {
                name: _tsv_value(value, set_separator)
                for name, value in zip(columns, values, strict=True)
            }
        return [build_event(record, doc, path)]

    def _header(self, origin: str, text: str) -> None:
        directive, _, value = text.partition("\t") if "\t" in text else text.partition(" ")
        path, columns, set_separator = self._headers.get(origin, (_path_of(origin), [], ","))
        if directive == "#fields":
            columns = value.split("\t")
        elif directive == "#path":
            path = value.strip()
        elif directive == "#set_separator":
            set_separator = value.strip()
        self._headers[origin] = (path, columns, set_separator)


def _path_of(origin: str) -> str:
    name = origin.rstrip("/").rsplit("/", 1)[-1].removesuffix(".log")
    if name in KNOWN_PATHS:
        return name
    for part in _NAME_PARTS.split(name):
        if part in KNOWN_PATHS:
            return part
    return "unknown"


def _path_of_fields(doc: dict[str, Any]) -> str | None:
    for field, path in TELLTALE_FIELDS:
        if field in doc:
            return path
    return None


def _tsv_value(value: str, set_separator: str) -> Any:
    if value in UNSET:
        return None
    return value


def build_event(record: RawRecord, doc: dict[str, Any], path: str) -> Event:
    """The ECS event of one decoded Zeek record of log ``path``."""
    dataset = f"zeek.{path}" if path != "connection" else "zeek.conn"
    event: Event = {
        ecs.TIMESTAMP: _timestamp(doc.get("ts"), record.received),
        ecs.ID: record.record_id(),
        ecs.KIND: "event",
        ecs.DATASET: dataset,
        ecs.MODULE: "zeek",
        ecs.ORIGINAL: record.text,
        ecs.CATEGORY: CATEGORIES.get(path, ["network"]),
        ecs.TYPE: ["connection", "start", "end"] if path == "conn" else ["protocol", "info"],
    }
    if record.origin:
        event[ecs.INPUT] = record.origin
    table = BY_PATH.get(path, {})
    for key, value in doc.items():
        if value is None or key == "ts":
            continue
        name = COMMON.get(key) or table.get(key)
        if name is not None:
            event[name] = value
        elif key in PORTS:
            try:
                event[PORTS[key]] = int(value)
            except (TypeError, ValueError, OverflowError):  # not a port: kept under Zeek's name
                event[f"zeek.{path}.{key}"] = value
        elif key == "proto":
            event[ecs.TRANSPORT] = firewall.transport(str(value))
        else:
            event[f"zeek.{path}.{key}"] = value
    for name in (
        "http.response.status_code",
        "source.bytes",
        "destination.bytes",
        "source.packets",
        "destination.packets",
        "http.request.body.bytes",
        "http.response.body.bytes",
    ):
        value = event.get(name)
        if isinstance(value, str) and value.isascii() and value.isdigit():  # not "²"
            event[name] = int(value)
    if path in TCP_PATHS and ecs.TRANSPORT not in event:
        event[ecs.TRANSPORT] = "tcp"
    _derive(event, doc, path)
    return event


def _derive(event: Event, doc: dict[str, Any], path: str) -> None:
    if path == "conn":
        local = (_truth(doc.get("local_orig")), _truth(doc.get("local_resp")))
        direction = LOCALITY_DIRECTIONS.get(local)
        if direction:
            event["network.direction"] = direction
    elif path == "http":
        method = event.get("http.request.method")
        if method:
            event[ecs.ACTION] = method
        status = event.get("http.response.status_code")
        if isinstance(status, int):
            event[ecs.OUTCOME] = "success" if status < 400 else "failure"
    elif path == "ssh":
        success = _truth(doc.get("auth_success"))
        if success is not None:
            event[ecs.CATEGORY] = ["network", "authentication"]
            event[ecs.OUTCOME] = "success" if success else "failure"
    elif path == "dns" and isinstance(event.get("dns.answers.data"), str):
        event["dns.answers.data"] = event["dns.answers.data"].split(",")


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value == "T":
        return True
    if value == "F":
        return False
    return None


def _timestamp(value: Any, received: float) -> str:
    if isinstance(value, int | float):
        try:
            return ecs.format_timestamp(float(value))
        except (ValueError, OverflowError, OSError):  # 1e400, nan: not a time
            return ecs.format_timestamp(datetime.fromtimestamp(received, UTC))
    if isinstance(value, str):
        try:
            return ecs.format_timestamp(float(value))
        except (ValueError, OverflowError, OSError):
            moment = envelope.parse_iso(value, UTC)
            if moment is not None:
                return ecs.format_timestamp(moment)
    return ecs.format_timestamp(datetime.fromtimestamp(received, UTC))
