"""Suricata EVE JSON (``eve.json``) records to ECS.

Reference: Suricata User Guide, "Eve JSON Format" (output/eve/eve-json-format): one JSON
object per line with ``timestamp``, ``event_type`` (alert, dns, http, tls, flow, fileinfo,
ssh, anomaly, ...), ``src_ip``, ``src_port``, ``dest_ip``, ``dest_port``, ``proto``,
``app_proto`` and an object named after the event type.
Tolerated deviations: DNS v1 (one record per answer, Suricata 4.x) and v2 layouts, a syslog
envelope before the JSON (``suricata[123]: {...}``), escaped slashes.
"""

from __future__ import annotations

import json
from datetime import UTC, tzinfo
from typing import Any

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

DATASET = "suricata.eve"

COMMON: dict[str, str] = {
    "src_ip": ecs.SOURCE_IP,
    "dest_ip": ecs.DESTINATION_IP,
    "app_proto": "network.protocol",
    "in_iface": "observer.ingress.interface.name",
    "flow_id": "suricata.eve.flow_id",
    "community_id": "network.community_id",
    "host": "observer.hostname",
}
#: event_type -> (key inside the typed object -> ECS field).
TYPED: dict[str, dict[str, str]] = {
    "alert": {
        "signature": "rule.name",
        "signature_id": "rule.id",
        "category": "rule.category",
        "severity": ecs.SEVERITY,
        "action": ecs.ACTION,
        "gid": "suricata.eve.alert.gid",
        "rev": "suricata.eve.alert.rev",
    },
    "dns": {
        "rrname": "dns.question.name",
        "rrtype": "dns.question.type",
        "rcode": "dns.response_code",
        "type": "dns.type",
        "id": "dns.id",
        "rdata": "dns.answers.data",
    },
    "http": {
        "hostname": "url.domain",
        "url": "url.original",
        "http_method": "http.request.method",
        "status": "http.response.status_code",
        "http_user_agent": "user_agent.original",
        "http_refer": "http.request.referrer",
        "length": "http.response.body.bytes",
        "http_content_type": "http.response.mime_type",
        "protocol": "http.version",
    },
    "tls": {
        "sni": "tls.server.name",
        "version": "tls.version",
        "subject": "tls.server.subject",
        "issuerdn": "tls.server.issuer",
        "fingerprint": "tls.server.hash.sha1",
        "serial": "tls.server.x509.serial_number",
    },
    "flow": {
        "bytes_toserver": "source.bytes",
        "bytes_toclient": "destination.bytes",
        "pkts_toserver": "source.packets",
        "pkts_toclient": "destination.packets",
        "state": "suricata.eve.flow.state",
        "reason": "event.reason",
    },
    "fileinfo": {
        "filename": "file.name",
        "size": "file.size",
        "sha256": "file.hash.sha256",
        "md5": "file.hash.md5",
        "state": "suricata.eve.fileinfo.state",
    },
    "ssh": {},
    "anomaly": {"type": "suricata.eve.anomaly.type", "event": "rule.name"},
}
CATEGORIES: dict[str, list[str]] = {
    "alert": ["network", "intrusion_detection"],
    "http": ["network", "web"],
    "fileinfo": ["network", "file"],
}


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of one EVE record to ``event``; ParseError when it is not EVE JSON."""
    start = message.find("{")
    try:
        doc = json.loads(message[start:]) if start >= 0 else None
    except json.JSONDecodeError as exc:
        raise ParseError(f"EVE record is not valid JSON: {exc.msg} at column {exc.colno}") from exc
    except (RecursionError, ValueError) as exc:  # hostile nesting; an integer of 4,300 digits
        raise ParseError(f"JSON not readable: {exc}") from exc
    if not isinstance(doc, dict) or "event_type" not in doc:
        raise ParseError("not a Suricata EVE record (no event_type)")
    apply(doc, event, tz)


def apply(doc: dict[str, Any], event: Event, tz: tzinfo = UTC) -> None:
    """Map a decoded EVE record onto ``event``."""
    kind = str(doc["event_type"])
    event[ecs.DATASET] = DATASET
    event[ecs.MODULE] = "suricata"
    event["suricata.eve.event_type"] = kind
    event[ecs.CATEGORY] = CATEGORIES.get(kind, ["network"])
    event[ecs.TYPE] = ["protocol"] if kind in ("dns", "http", "tls", "ssh") else ["connection"]
    stamp = doc.get("timestamp")
    if isinstance(stamp, str):
        moment = envelope.parse_iso(stamp, tz)
        if moment is not None:
            event[ecs.TIMESTAMP] = ecs.format_timestamp(moment)
    for key, name in COMMON.items():
        if doc.get(key) not in (None, ""):
            event[name] = doc[key]
    for key, name in (("src_port", ecs.SOURCE_PORT), ("dest_port", ecs.DESTINATION_PORT)):
        if isinstance(doc.get(key), int):
            event[name] = doc[key]
    if isinstance(doc.get("proto"), str):
        event[ecs.TRANSPORT] = firewall.transport(doc["proto"])
    if kind in ("dns", "http", "tls", "ssh") and "network.protocol" not in event:
        event["network.protocol"] = kind
    body = doc.get(kind)
    if isinstance(body, dict):
        for key, name in TYPED.get(kind, {}).items():
            value = body.get(key)
            if value not in (None, ""):
                event[name] = value
        if kind == "dns":
            _dns(body, event)
    if kind == "alert":
        event[ecs.KIND] = "alert"
        action = event.get(ecs.ACTION)
        if action in ("allowed", "blocked"):
            event[ecs.TYPE] = ["allowed" if action == "allowed" else "denied"]
    if kind == "http" and isinstance(doc.get("http"), dict):
        status = doc["http"].get("status")
        if isinstance(status, int):
            event[ecs.OUTCOME] = "success" if status < 400 else "failure"
    if kind == "fileinfo" and isinstance(doc.get("http"), dict):
        for key, name in TYPED["http"].items():
            value = doc["http"].get(key)
            if value not in (None, ""):
                event[name] = value


def _dns(body: dict[str, Any], event: Event) -> None:
    queries = body.get("queries")
    if isinstance(queries, list) and queries and isinstance(queries[0], dict):
        event["dns.question.name"] = queries[0].get("rrname")
        event["dns.question.type"] = queries[0].get("rrtype")
    answers = body.get("answers")
    if isinstance(answers, list):
        data = [
            answer.get("rdata")
            for answer in answers
            if isinstance(answer, dict) and "rdata" in answer
        ]
        if data:
            event["dns.answers.data"] = data
    if body.get("type") == "answer" and "dns.answers.data" in event:
        data_value = event["dns.answers.data"]
        event["dns.resolved_ip"] = data_value if isinstance(data_value, list) else [data_value]


class SuricataEveParser:
    """Suricata ``eve.json`` lines, with or without a syslog envelope."""

    name = "suricata.eve"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, DATASET, parse_message)
